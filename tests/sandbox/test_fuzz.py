"""Whatever arrives on the wire, the answer is a Stripe-shaped 4xx or a success, never a 500."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import SK, Server

PATHS = [
    ("POST", "/v1/payment_intents"),
    ("POST", "/v1/customers"),
    ("POST", "/v1/prices"),
    ("POST", "/v1/payment_methods"),
    ("POST", "/v1/refunds"),
    ("POST", "/v1/subscriptions"),
    ("POST", "/v1/checkout/sessions"),
    ("POST", "/v1/coupons"),
    ("GET", "/v1/events"),
    ("GET", "/v1/payment_intents"),
]
KEYS = st.sampled_from(
    [
        "amount",
        "currency",
        "customer",
        "metadata[a]",
        "metadata",
        "expand[]",
        "expand[0]",
        "limit",
        "starting_after",
        "card[number]",
        "type",
        "items[0][price]",
        "line_items[0][price]",
        "mode",
        "percent_off",
        "payment_method",
        "confirm",
        "recurring[interval]",
        "unit_amount",
        "product",
        "a[b][c][d]",
        "x[",
        "created[gt]",
        "delivery_success",
        "",
    ]
)
VALUES = st.one_of(
    st.text(max_size=12),
    st.integers(-(10**12), 10**12).map(str),
    st.sampled_from(["usd", "true", "pm_card_visa", "cus_x", "-1", "0", "%ff"]),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(route=st.sampled_from(PATHS), pairs=st.lists(st.tuples(KEYS, VALUES), max_size=6))
def test_random_requests_never_500(
    shared: Server, route: tuple[str, str], pairs: list[tuple[str, str]]
) -> None:
    method, path = route
    body = "&".join(f"{k}={v}" for k, v in pairs)
    headers = {"Authorization": f"Bearer {SK}", "Content-Type": "application/x-www-form-urlencoded"}
    if method == "GET":
        query = "&".join(f"{quote(k, safe='[]')}={quote(v, safe='%')}" for k, v in pairs)
        r = httpx.get(f"{shared.url}{path}?{query}", headers=headers, timeout=10)
    else:
        r = httpx.post(f"{shared.url}{path}", content=body.encode(), headers=headers, timeout=10)
    assert r.status_code < 500, r.text
    data = r.json()
    if r.status_code >= 400:
        assert data["error"]["type"] in ("invalid_request_error", "card_error", "idempotency_error")
        assert data["error"]["message"]
