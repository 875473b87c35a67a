"""GET /api/admin/analytics: the owner's figures, for `analytics:read` only, with dates checked."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import make_order, make_product, make_refund, make_user, sign_in_as


def _bearer(session: Session, *roles: str) -> dict[str, str]:
    user = make_user(session, roles=roles, password=None)
    signed = sign_in_as(session, user)
    session.commit()
    return {"Authorization": f"Bearer {signed.tokens.access_token}"}


def test_only_holders_of_analytics_read_get_the_figures(api_client: TestClient, session: Session):
    # given a customer, a support agent and an admin
    customer = _bearer(session, "customer")
    support = _bearer(session, "support")
    admin = _bearer(session, "admin")
    # when each, and an anonymous caller, asks for the figures
    answers = {
        who: api_client.get("/api/admin/analytics", headers=headers)
        for who, headers in {
            "anonymous": {},
            "customer": customer,
            "support": support,
            "admin": admin,
        }.items()
    }
    # then only the admin gets them
    statuses = {who: answer.status_code for who, answer in answers.items()}
    assert statuses == {"anonymous": 401, "customer": 403, "support": 403, "admin": 200}
    assert answers["support"].json()["error"]["code"] == "forbidden"


def test_the_default_range_is_the_last_thirty_days_with_money_in_minor_units(
    api_client: TestClient, session: Session
):
    # given an order paid today in Ontario, half refunded, and one paid 30 days ago
    admin = _bearer(session, "admin")
    product = make_product(session, name="Harbour Sketchbook")
    now = datetime.now(UTC)
    today = now.date()
    order = make_order(
        session,
        paid_at=now,
        items=[(product, 1, 2000)],
        taxes=(("HST", "ON", "0.13", 260),),
    )
    make_refund(session, order, amount=1130, at=now)
    make_order(session, paid_at=now - timedelta(days=30), items=[(product, 1, 9000)])
    session.commit()
    # when the admin asks without dates
    answer = api_client.get("/api/admin/analytics", headers=admin)
    # then the last 30 days including today are reported, the old order left out
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["from"], body["to"]) == (str(today - timedelta(days=29)), str(today))
    [cad] = body["currencies"]
    assert {k: v for k, v in cad.items() if k not in ("days", "top_products")} == {
        "currency": "cad",
        "paid_orders": 1,
        "gross": 2260,
        "discounts": 0,
        "tax": 260,
        # half the order refunded gives back half its tax: 1130 × 260 ÷ 2260
        "tax_refunded": 130,
        "tax_net": 130,
        "taxes": [
            {"name": "HST", "jurisdiction": "ON", "amount": 260, "refunded": 130, "net": 130}
        ],
        "refunds": 1130,
        "net": 1130,
        "average_order": 2260,
    }
    assert len(cad["days"]) == 30
    assert cad["days"][-1] == {"date": str(today), "paid_orders": 1, "gross": 2260, "refunds": 1130}
    assert cad["top_products"] == [
        {"product_id": product.id, "name": "Harbour Sketchbook", "units": 1, "revenue": 2000}
    ]


def test_fully_refunded_orders_leave_top_products_and_give_back_their_tax(
    api_client: TestClient, session: Session
):
    # given two Ontario orders of the same ebook on 2 March, one refunded in full the next day
    admin = _bearer(session, "admin")
    ebook = make_product(session, name="Audit Ebook")
    paid = datetime(2026, 3, 2, 15, tzinfo=UTC)
    make_order(session, paid_at=paid, items=[(ebook, 1, 2000)], taxes=(("HST", "ON", "0.13", 260),))
    refunded = make_order(
        session,
        paid_at=paid,
        items=[(ebook, 1, 2000)],
        taxes=(("HST", "ON", "0.13", 260),),
        status="refunded",
    )
    make_refund(session, refunded, amount=2260, at=paid + timedelta(days=1))
    session.commit()
    # when the admin asks for 2–3 March
    answer = api_client.get("/api/admin/analytics?from=2026-03-02&to=2026-03-03", headers=admin)
    # then both orders were paid, but only one ebook was kept and only its tax is collected
    assert answer.status_code == 200, answer.text
    [cad] = answer.json()["currencies"]
    assert (cad["paid_orders"], cad["gross"], cad["refunds"], cad["net"]) == (2, 4520, 2260, 2260)
    assert (cad["tax"], cad["tax_refunded"], cad["tax_net"]) == (520, 260, 260)
    assert cad["top_products"] == [
        {"product_id": ebook.id, "name": "Audit Ebook", "units": 1, "revenue": 2000}
    ]


def test_an_explicit_range_is_reported_day_by_day(api_client: TestClient, session: Session):
    admin = _bearer(session, "admin")
    answer = api_client.get("/api/admin/analytics?from=2026-02-27&to=2026-03-02", headers=admin)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["from"], body["to"], body["currencies"]) == ("2026-02-27", "2026-03-02", [])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
        ("from=2026-03-02&to=2026-03-01", "from"),
        (f"from=2020-01-01&to={date(2021, 6, 1)}", "to"),
    ],
)
def test_bad_dates_are_a_422_naming_the_field(
    api_client: TestClient, session: Session, query: str, field: str
):
    admin = _bearer(session, "admin")
    answer = api_client.get(f"/api/admin/analytics?{query}", headers=admin)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", field)


def test_the_route_is_documented_with_a_summary_and_sign_in(api_client: TestClient):
    operation = api_client.get("/api/openapi.json").json()["paths"]["/api/admin/analytics"]["get"]
    assert operation["summary"] == "Revenue figures per currency"
    assert "paid" in operation["description"]
    assert operation["security"] == [{"bearerAuth": []}, {"sessionCookie": []}]
    assert {"200", "401", "403", "422"} <= set(operation["responses"])
    parameters = {p["name"] for p in operation["parameters"]}
    assert parameters == {"from", "to"}
