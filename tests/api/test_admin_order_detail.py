"""GET /api/admin/orders/{reference}: the order's money as stored, each tax line with its
jurisdiction and the promo code behind the discount."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from shop.models import utcnow
from tests.factories import make_order, make_product, make_user, sign_in_as


def test_the_detail_gives_each_tax_line_with_its_jurisdiction_and_the_promo_code(
    api_client: TestClient, session: Session
):
    # given a British Columbia order with a $2.00 code, and a support agent
    sketchbook = make_product(session, name="Harbour Sketchbook")
    order = make_order(
        session,
        paid_at=utcnow(),
        items=[(sketchbook, 2, 1200)],
        discount=200,
        promo_code="SAVE2",
        taxes=(("GST", "CA", "0.05", 110), ("PST", "CA-BC", "0.07", 154)),
    )
    support = sign_in_as(session, make_user(session, roles=("support",), password=None))
    session.commit()

    # when support asks for it by number
    answer = api_client.get(
        f"/api/admin/orders/{order.number}",
        headers={"Authorization": f"Bearer {support.tokens.access_token}"},
    )

    # then the tax lines carry name, jurisdiction, rate and amount, and the figures add up
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["tax_lines"] == [
        {"name": "GST", "jurisdiction": "CA", "rate": 0.05, "amount": 110},
        {"name": "PST", "jurisdiction": "CA-BC", "rate": 0.07, "amount": 154},
    ]
    money = {key: body[key] for key in ("subtotal", "discount", "promo_code", "tax", "total")}
    assert money == {
        "subtotal": 2400,
        "discount": 200,
        "promo_code": "SAVE2",
        "tax": 264,
        "total": 2464,
    }
    taxes = sum(line["amount"] for line in body["tax_lines"])
    assert body["subtotal"] - body["discount"] + taxes == body["total"]
