"""Stripe's wire protocol: auth, params, errors, idempotency, expand, pagination."""

from __future__ import annotations

import uuid

import httpx
import pytest
import stripe

from .conftest import PK, RETURN_URL, SK, Server, make_client


def test_missing_and_bad_api_keys_get_401(shared: Server) -> None:
    with pytest.raises(stripe.AuthenticationError) as exc:
        make_client(shared.url, key="sk_live_nope").v1.customers.list()
    assert exc.value.http_status == 401
    assert "Invalid API Key" in str(exc.value.user_message)
    r = httpx.get(f"{shared.url}/v1/customers")
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert "did not provide an API key" in err["message"]


def test_publishable_key_cannot_call_secret_endpoints(shared: Server) -> None:
    with pytest.raises(stripe.AuthenticationError) as exc:
        make_client(shared.url, key=PK).v1.customers.list()
    assert "publishable API key" in str(exc.value.user_message)


def test_publishable_key_with_client_secret_sees_only_that_intent(shared: Server) -> None:
    pi = shared.client.v1.payment_intents.create(params={"amount": 1200, "currency": "usd"})
    pk = make_client(shared.url, key=PK)
    got = pk.v1.payment_intents.retrieve(pi.id, params={"client_secret": pi.client_secret})
    assert got.id == pi.id
    assert got.status == "requires_payment_method"
    other = shared.client.v1.payment_intents.create(params={"amount": 1300, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as exc:
        pk.v1.payment_intents.retrieve(other.id, params={"client_secret": pi.client_secret})
    assert exc.value.http_status == 404
    assert exc.value.param == "client_secret"


def test_request_id_and_version_headers(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create()
    headers = cus.last_response.headers
    assert headers["Request-Id"].startswith("req_")
    assert headers["Stripe-Version"] == stripe.api_version


def test_unknown_parameters_are_rejected(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.payment_intents.create(
            params={"amount": 1000, "currency": "usd", "colour": "red"}  # type: ignore[typeddict-unknown-key]
        )
    assert exc.value.code == "parameter_unknown"
    assert exc.value.param == "colour"
    assert str(exc.value.user_message) == "Received unknown parameter: colour"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.customers.create(params={"address": {"line1": "x", "planet": "Mars"}})  # type: ignore[typeddict-unknown-key]
    assert exc.value.param == "address[planet]"
    assert "Received unknown parameter: address[planet]" in str(exc.value.user_message)


def test_wrong_types_amounts_and_currencies(client: stripe.StripeClient) -> None:
    cases = [
        ({"amount": "ten", "currency": "usd"}, "amount", "parameter_invalid_integer"),
        ({"amount": 0, "currency": "usd"}, "amount", "parameter_invalid_integer"),
        ({"amount": -5, "currency": "usd"}, "amount", "parameter_invalid_integer"),
        ({"amount": 10, "currency": "usd"}, "amount", "amount_too_small"),
        ({"amount": 1000, "currency": "zzz"}, "currency", "parameter_invalid"),
        ({"amount": 1000}, "currency", "parameter_missing"),
        (
            {"amount": 1000, "currency": "usd", "confirm": "maybe"},
            "confirm",
            "parameter_invalid_boolean",
        ),
        ({"amount": {"x": "1"}, "currency": "usd"}, "amount", "parameter_invalid_integer"),
    ]
    for params, param, code in cases:
        with pytest.raises(stripe.InvalidRequestError) as exc:
            client.v1.payment_intents.create(params=params)  # type: ignore[arg-type]
        assert exc.value.http_status == 400, params
        assert exc.value.param == param, params
        assert exc.value.code == code, params


def test_missing_object_is_resource_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.customers.retrieve("cus_doesnotexist")
    assert exc.value.http_status == 404
    assert exc.value.code == "resource_missing"
    assert exc.value.param == "id"
    body = exc.value.json_body["error"]
    assert body["doc_url"].startswith("https://docs.stripe.com/error-codes/")
    assert body["request_log_url"]


@pytest.mark.parametrize(
    ("call", "param", "message"),
    [
        (
            lambda c: c.v1.payment_intents.create(
                params={"amount": 1000, "currency": "usd", "customer": "cus_nope"}
            ),
            "customer",
            "No such customer: 'cus_nope'",
        ),
        (
            lambda c: c.v1.payment_intents.create(
                params={"amount": 1000, "currency": "usd", "payment_method": "pm_card_bogus"}
            ),
            "payment_method",
            "No such PaymentMethod: 'pm_card_bogus'",
        ),
        (
            lambda c: c.v1.subscriptions.create(
                params={
                    "customer": c.v1.customers.create().id,
                    "items": [{"price": "price_nope"}],
                }
            ),
            "items[0][price]",
            "No such price: 'price_nope'",
        ),
        (
            lambda c: c.v1.refunds.create(params={"charge": "ch_nope"}),
            "charge",
            "No such charge: 'ch_nope'",
        ),
        (
            lambda c: c.v1.customers.list(params={"starting_after": "cus_nope"}),
            "starting_after",
            "No such customer: 'cus_nope'",
        ),
    ],
)
def test_a_missing_object_named_by_a_parameter_is_a_400(
    client: stripe.StripeClient, call: object, param: str, message: str
) -> None:
    # when a request parameter names an object that does not exist
    with pytest.raises(stripe.InvalidRequestError) as exc:
        call(client)  # type: ignore[operator]
    # then Stripe answers 400 (404 is for the object in the URL path)
    assert exc.value.http_status == 400
    assert exc.value.code == "resource_missing"
    assert exc.value.param == param  # type: ignore[union-attr]
    assert str(exc.value.user_message) == message


def test_malformed_and_oversized_bodies_get_stripe_errors(shared: Server) -> None:
    auth = {"Authorization": f"Bearer {SK}", "Content-Type": "application/x-www-form-urlencoded"}
    bad = [
        b"amount=100&currency=usd&metadata[a]=1&metadata[a][b]=2",
        b"\xff\xfe\x00garbage",
        b"amount[=1",
        b"=1&currency=usd",
    ]
    for body in bad:
        r = httpx.post(f"{shared.url}/v1/payment_intents", content=body, headers=auth)
        assert 400 <= r.status_code < 500, (body, r.text)
        assert r.json()["error"]["type"] == "invalid_request_error"
    big = b"description=" + b"x" * (1024 * 1024 + 10)
    r = httpx.post(f"{shared.url}/v1/customers", content=big, headers=auth)
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.post(
        f"{shared.url}/v1/customers",
        json={"email": "a@b.c"},
        headers={"Authorization": f"Bearer {SK}"},
    )
    assert r.status_code == 400
    r = httpx.get(f"{shared.url}/v1/no_such_thing", headers=auth)
    assert r.status_code == 404
    assert "Unrecognized request URL" in r.json()["error"]["message"]


def test_idempotency_replay_and_conflict(client: stripe.StripeClient) -> None:
    key = str(uuid.uuid4())
    a = client.v1.customers.create(
        params={"email": "idem@example.com"}, options={"idempotency_key": key}
    )
    b = client.v1.customers.create(
        params={"email": "idem@example.com"}, options={"idempotency_key": key}
    )
    assert a.id == b.id
    assert b.last_response.headers.get("Idempotent-Replayed") == "true"
    assert a.last_response.headers.get("Idempotent-Replayed") is None
    with pytest.raises(stripe.IdempotencyError) as exc:
        client.v1.customers.create(
            params={"email": "other@example.com"}, options={"idempotency_key": key}
        )
    assert exc.value.http_status == 400


def test_idempotency_replays_card_errors_without_charging_twice(
    client: stripe.StripeClient,
) -> None:
    key = str(uuid.uuid4())
    params = {
        "amount": 2000,
        "currency": "usd",
        "confirm": True,
        "return_url": RETURN_URL,
        "payment_method": "pm_card_visa_chargeDeclined",
    }
    with pytest.raises(stripe.CardError) as first:
        client.v1.payment_intents.create(params=params, options={"idempotency_key": key})  # type: ignore[arg-type]
    with pytest.raises(stripe.CardError) as second:
        client.v1.payment_intents.create(params=params, options={"idempotency_key": key})  # type: ignore[arg-type]
    pi1 = first.value.json_body["error"]["payment_intent"]["id"]
    pi2 = second.value.json_body["error"]["payment_intent"]["id"]
    assert pi1 == pi2
    assert second.value.headers.get("Idempotent-Replayed") == "true"


def test_metadata_merges_and_empty_string_deletes(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create(params={"metadata": {"a": "1", "b": "2"}})
    cus = client.v1.customers.update(cus.id, params={"metadata": {"b": "", "c": "3"}})
    assert cus.metadata.to_dict() == {"a": "1", "c": "3"}
    cus = client.v1.customers.update(cus.id, params={"metadata": ""})  # type: ignore[typeddict-item]
    assert cus.metadata.to_dict() == {}


def test_expand_nested_paths(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create(params={"email": "exp@example.com"})
    pi = client.v1.payment_intents.create(
        params={
            "amount": 1500,
            "currency": "usd",
            "customer": cus.id,
            "confirm": True,
            "return_url": RETURN_URL,
            "payment_method": "pm_card_visa",
            "expand": ["latest_charge", "customer"],
        }
    )
    assert pi.latest_charge.object == "charge"  # type: ignore[union-attr]
    assert pi.customer.email == "exp@example.com"  # type: ignore[union-attr]
    refund = client.v1.refunds.create(
        params={
            "payment_intent": pi.id,
            "amount": 100,
            "expand": ["payment_intent.latest_charge", "charge.customer"],
        }
    )
    assert refund.payment_intent.latest_charge.amount_refunded == 100  # type: ignore[union-attr]
    assert refund.charge.customer.id == cus.id  # type: ignore[union-attr]
    listed = client.v1.payment_intents.list(
        params={"customer": cus.id, "expand": ["data.customer"]}
    )
    assert listed.data[0].customer.id == cus.id  # type: ignore[union-attr]
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.payment_intents.retrieve(pi.id, params={"expand": ["amount"]})
    assert "cannot be expanded" in str(exc.value.user_message)


def test_pagination_with_cursors(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create()
    ids = [
        client.v1.payment_intents.create(
            params={"amount": 1000 + i, "currency": "usd", "customer": cus.id}
        ).id
        for i in range(5)
    ]
    newest_first = list(reversed(ids))
    page1 = client.v1.payment_intents.list(params={"customer": cus.id, "limit": 2})
    assert [p.id for p in page1.data] == newest_first[:2]
    assert page1.has_more is True
    assert page1.url == "/v1/payment_intents"
    page2 = client.v1.payment_intents.list(
        params={"customer": cus.id, "limit": 2, "starting_after": page1.data[-1].id}
    )
    assert [p.id for p in page2.data] == newest_first[2:4]
    page3 = client.v1.payment_intents.list(
        params={"customer": cus.id, "limit": 2, "starting_after": page2.data[-1].id}
    )
    assert [p.id for p in page3.data] == newest_first[4:]
    assert page3.has_more is False
    back = client.v1.payment_intents.list(
        params={"customer": cus.id, "limit": 2, "ending_before": newest_first[4]}
    )
    assert [p.id for p in back.data] == newest_first[2:4]
    assert back.has_more is True
    every = [
        p.id
        for p in client.v1.payment_intents.list(
            params={"customer": cus.id, "limit": 2}
        ).auto_paging_iter()
    ]
    assert every == newest_first
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.payment_intents.list(params={"limit": 101})
    assert exc.value.param == "limit"
