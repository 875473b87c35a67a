"""Promo codes over the API: created by the admin, mirrored to Stripe, used at checkout."""

from __future__ import annotations

import httpx
from sqlmodel import select

from shop.models import AuditLog
from tests.payments.conftest import Shop


def _stripe_get(shop: Shop, path: str) -> dict:
    response = httpx.get(
        f"{shop.sandbox_url}/v1/{path}", headers={"Authorization": "Bearer sk_test_sandbox"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_admin_creates_a_code_and_it_is_mirrored_to_stripe(shop: Shop):
    # given the owner
    admin = shop.customer("owner@example.com", roles=("admin",))

    # when they create a 25 % code limited to 100 uses from $20.00
    response = shop.http.post(
        "/api/admin/promo-codes",
        json={"code": "launch25", "percent_off": 25, "max_redemptions": 100, "min_subtotal": 2000},
        headers=admin.headers,
    )

    # then the shop keeps it and Stripe has the Coupon and PromotionCode
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["code"] == "LAUNCH25"
    assert body["percent_off"] == 25
    coupon = _stripe_get(shop, f"coupons/{body['stripe_coupon_id']}")
    assert coupon["percent_off"] == 25
    assert coupon["max_redemptions"] == 100
    promotion = _stripe_get(shop, f"promotion_codes/{body['stripe_promotion_code_id']}")
    assert promotion["code"] == "LAUNCH25"
    assert promotion["restrictions"]["minimum_amount"] == 2000
    # and the audit log says who created it
    with shop.session() as session:
        entry = session.exec(select(AuditLog).where(AuditLog.action == "promo_code.created")).one()
        assert (entry.actor_email, entry.target) == (
            "owner@example.com",
            f"promo_code:{body['id']}",
        )


def test_only_admins_create_codes(shop: Shop):
    # given a customer and a support agent
    customer = shop.customer()
    support = shop.customer("agent@example.com", roles=("support",))
    body = {"code": "FREEBIE", "percent_off": 100}

    # when they try to create a code
    as_customer = shop.http.post("/api/admin/promo-codes", json=body, headers=customer.headers)
    as_support = shop.http.post("/api/admin/promo-codes", json=body, headers=support.headers)
    anonymous = shop.http.post("/api/admin/promo-codes", json=body)

    # then they are refused
    assert (as_customer.status_code, as_support.status_code, anonymous.status_code) == (
        403,
        403,
        401,
    )


def test_a_code_at_checkout_discounts_before_tax_and_once_per_customer_holds_after_payment(
    shop: Shop,
):
    # given a once-per-customer $5.00 code and a $20.00 product
    admin = shop.customer("owner@example.com", roles=("admin",))
    created = shop.http.post(
        "/api/admin/promo-codes",
        json={"code": "WELCOME5", "amount_off": 500, "currency": "cad", "once_per_customer": True},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    customer = shop.customer()
    product_id = shop.product(price=2000)

    # when the customer checks out in Ontario with it and pays
    first = shop.start_checkout(customer, [(product_id, 1)], promo_code="welcome5")
    assert first.status_code == 201, first.text
    shop.confirm(customer, first.json()["payment_intent_id"], "pm_card_visa")
    again = shop.start_checkout(customer, [(product_id, 1)], promo_code="WELCOME5")

    # then the first order got $5.00 off before 13 % HST, and the second use is refused clearly
    amount = first.json()["amount"]
    assert (
        amount["subtotal"],
        amount["discount"],
        amount["tax"][0]["amount"],
        amount["total"],
    ) == (
        2000,
        500,
        195,
        1695,
    )
    assert again.status_code == 422
    assert again.json()["error"] == {
        "code": "promo_code_used",
        "message": "You have already used the promo code WELCOME5.",
        "field": "promo_code",
    }


def test_a_refused_code_creates_no_order(shop: Shop):
    # given a code with a $100.00 minimum
    admin = shop.customer("owner@example.com", roles=("admin",))
    shop.http.post(
        "/api/admin/promo-codes",
        json={"code": "BIGSPENDER", "percent_off": 10, "min_subtotal": 10000},
        headers=admin.headers,
    )
    customer = shop.customer()
    product_id = shop.product(price=2000)

    # when a $20.00 cart uses it
    response = shop.start_checkout(customer, [(product_id, 1)], promo_code="BIGSPENDER")

    # then checkout says why and no order is left behind
    assert response.status_code == 422
    assert (
        response.json()["error"]["message"]
        == "The promo code BIGSPENDER needs a subtotal of at least $100.00 CAD."
    )
    assert shop.http.get("/api/orders", headers=customer.headers).json()["items"] == []


def _create_code(shop: Shop, body: dict) -> dict:
    admin = shop.customer("marketing@example.com", roles=("admin",))
    created = shop.http.post("/api/admin/promo-codes", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    return created.json()


def _intent_status(shop: Shop, payment_intent_id: str) -> str:
    return _stripe_get(shop, f"payment_intents/{payment_intent_id}")["status"]


def test_a_code_is_once_per_customer_unless_the_admin_says_otherwise(shop: Shop):
    # given a code created with only a code and a percentage
    created = _create_code(shop, {"code": "PLAIN10", "percent_off": 10})
    customer = shop.customer()
    product_id = shop.product(price=1000)

    # when the customer pays an order with it, then starts another checkout with it
    first = shop.start_checkout(customer, [(product_id, 1)], promo_code="PLAIN10").json()
    paid = shop.confirm(customer, first["payment_intent_id"], "pm_card_visa")
    refused = shop.start_checkout(customer, [(product_id, 1)], promo_code="PLAIN10")

    # then the code was once per customer: the second checkout is refused and places nothing
    assert created["once_per_customer"] is True
    assert paid.json()["status"] == "paid"
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "promo_code_used"
    orders = shop.http.get("/api/orders", headers=customer.headers).json()["items"]
    assert [order["id"] for order in orders] == [first["order_id"]]
    # (two unpaid orders with it at once cannot exist: tests/payments/test_holds.py)


def test_a_code_created_with_a_past_expiry_is_kept_and_refused_as_expired(shop: Shop):
    # given a code whose expiry has already passed (Stripe would refuse to mirror it)
    created = _create_code(
        shop, {"code": "SUMMER24", "percent_off": 20, "expires_at": "2024-09-01T00:00:00Z"}
    )
    customer = shop.customer()
    product_id = shop.product(price=1000)

    # when a customer uses it
    refused = shop.start_checkout(customer, [(product_id, 1)], promo_code="SUMMER24")

    # then it is refused as expired, no order is placed, and Stripe was not asked to offer it
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "promo_code_expired"
    assert refused.json()["error"]["message"] == "The promo code SUMMER24 expired on 2024-09-01."
    assert (created["stripe_promotion_code_id"], created["sync_error"]) == (None, None)
    assert shop.http.get("/api/orders", headers=customer.headers).json()["items"] == []


def test_a_discount_that_leaves_less_than_the_card_minimum_names_the_code(shop: Shop):
    # given a $9.80 code and a $10.00 product (left to pay in Ontario: $0.20 + $0.03 HST)
    _create_code(shop, {"code": "NEARLYALL", "amount_off": 980, "currency": "cad"})
    customer = shop.customer()
    product_id = shop.product(price=1000)

    # when the customer uses it
    response = shop.start_checkout(customer, [(product_id, 1)], promo_code="NEARLYALL")

    # then checkout explains that the code leaves too little to pay by card
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "promo_code"
    assert error["message"] == (
        "With the promo code NEARLYALL the total would be $0.23 CAD, below the $0.50 CAD a "
        "card payment needs; add to your order or use it on a larger one."
    )
    assert shop.http.get("/api/orders", headers=customer.headers).json()["items"] == []


def test_the_admin_lists_codes_and_withdraws_one_everywhere(shop: Shop):
    # given a code in a customer's pending order
    created = _create_code(shop, {"code": "SPRING", "percent_off": 15})
    admin = shop.customer("owner@example.com", roles=("admin",))
    customer = shop.customer()
    product_id = shop.product(price=1000)
    pending = shop.start_checkout(customer, [(product_id, 1)], promo_code="SPRING").json()

    # when the admin lists the codes and withdraws it
    listed = shop.http.get("/api/admin/promo-codes", headers=admin.headers)
    withdrawn = shop.http.put(
        f"/api/admin/promo-codes/{created['id']}", json={"active": False}, headers=admin.headers
    )

    # then the list showed it, and from now on checkout refuses it
    assert listed.status_code == 200
    assert [(c["code"], c["is_active"]) for c in listed.json()] == [("SPRING", True)]
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["is_active"] is False
    refused = shop.start_checkout(customer, [(product_id, 1)], promo_code="SPRING")
    assert refused.json()["error"]["code"] == "promo_code_invalid"
    # and the order placed with it is not charged at its discount
    confirm = shop.confirm(customer, pending["payment_intent_id"], "pm_card_visa")
    assert confirm.status_code == 422
    assert confirm.json()["error"]["code"] == "promo_code_invalid"
    # and Stripe's PromotionCode is inactive too, and the audit log says who did it
    promotion = _stripe_get(shop, f"promotion_codes/{created['stripe_promotion_code_id']}")
    assert promotion["active"] is False
    with shop.session() as session:
        entry = session.exec(
            select(AuditLog).where(AuditLog.action == "promo_code.deactivated")
        ).one()
        assert entry.actor_email == "owner@example.com"

    # when the admin puts it back, it works again
    shop.http.put(
        f"/api/admin/promo-codes/{created['id']}", json={"active": True}, headers=admin.headers
    )
    again = shop.start_checkout(customer, [(product_id, 1)], promo_code="SPRING")
    assert again.status_code == 201, again.text


def test_only_admins_list_and_withdraw_codes(shop: Shop):
    # given a code, a customer and a support agent
    created = _create_code(shop, {"code": "STAFFONLY", "percent_off": 5})
    customer = shop.customer()
    support = shop.customer("agent@example.com", roles=("support",))
    path = f"/api/admin/promo-codes/{created['id']}"

    # when / then: listing and withdrawing are the admin's
    for who in (customer, support):
        assert shop.http.get("/api/admin/promo-codes", headers=who.headers).status_code == 403
        assert shop.http.put(path, json={"active": False}, headers=who.headers).status_code == 403
    assert shop.http.get("/api/admin/promo-codes").status_code == 401
    admin = shop.customer("owner@example.com", roles=("admin",))
    assert (
        shop.http.put(
            "/api/admin/promo-codes/999999", json={"active": False}, headers=admin.headers
        ).status_code
        == 404
    )
