"""Checkout by API through the Stripe sandbox: paid, declined, 3-D Secure, amounts, access."""

from __future__ import annotations

import httpx
from sqlalchemy import delete, text
from sqlmodel import col

from shop.models import Order, OrderItem, Product
from shop.services.tax import demo_registrations
from tests.payments.conftest import Shop, wait_until


def test_a_paid_order_end_to_end_with_pm_card_visa(shop: Shop):
    # given a customer and a product with two files and limited stock
    customer = shop.customer()
    product_id = shop.product(price=1000, files=2, inventory_count=5)

    # when they start checkout for two of it in Ontario and pay with pm_card_visa
    started = shop.start_checkout(customer, [(product_id, 2)], region="ON")
    assert started.status_code == 201, started.text
    body = started.json()
    confirmed = shop.confirm(customer, body["payment_intent_id"], "pm_card_visa")

    # then the server priced it (2 × $10.00 + 13 % HST) and the order is paid
    assert body["amount"]["subtotal"] == 2000
    assert body["amount"]["tax"] == [
        {
            "name": "HST",
            "jurisdiction": "CA-ON",
            "rate": 0.13,
            "rate_display": "13%",
            "amount": 260,
            "registration_number": demo_registrations().gst_hst_number,
        }
    ]
    assert body["amount"]["total"] == 2260
    assert body["client_secret"].startswith(body["payment_intent_id"])
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "paid"
    # and the webhook that follows changes nothing more
    shop.flush_webhooks()
    wait_until(lambda: len(shop.deliveries("payment_intent.succeeded")) >= 1)
    order = shop.order(body["order_id"])
    assert order.status == "paid"
    assert order.fulfilled_at is not None
    assert shop.grant_count(body["order_id"]) == 2
    assert shop.inventory(product_id) == 3
    wait_until(lambda: len(shop.receipts_sent(body["order_id"])) > 0)
    assert len(shop.receipts_sent(body["order_id"])) == 1
    assert shop.status(customer, body["order_id"]).json() == {
        "order_id": body["order_id"],
        "status": "paid",
    }


def test_the_receipt_lists_items_tax_lines_with_registration_numbers_and_downloads(shop: Shop):
    # given a paid order in Quebec (GST + QST)
    customer = shop.customer()
    product_id = shop.product(price=1000, name="Field Guide")
    body = shop.start_checkout(customer, [(product_id, 1)], region="QC").json()
    shop.confirm(customer, body["payment_intent_id"], "pm_card_visa")

    # when the receipt has gone out (after the commit of whichever path fulfilled the order)
    wait_until(lambda: len(shop.receipts_sent(body["order_id"])) > 0)
    [receipt] = shop.receipts_sent(body["order_id"])

    # then it names the order, the item, each tax with the merchant's number, total, downloads
    order = shop.order(body["order_id"])
    registrations = demo_registrations()
    assert order.number in receipt
    assert "Field Guide" in receipt
    assert f"GST 5% (reg. {registrations.gst_hst_number})" in receipt
    assert f"QST 9.975% (reg. {registrations.qst_number})" in receipt
    assert "$11.50 CAD" in receipt  # 1000 + 50 GST + 99.75→100 QST
    assert "http://shop.test/account/downloads" in receipt


def test_a_declined_card_leaves_the_order_payable_and_grants_nothing(shop: Shop):
    # given an order awaiting payment
    customer = shop.customer()
    product_id = shop.product(inventory_count=3)
    body = shop.start_checkout(customer, [(product_id, 1)]).json()

    # when the card is declined
    declined = shop.confirm(customer, body["payment_intent_id"], "pm_card_visa_chargeDeclined")
    shop.flush_webhooks()

    # then the customer is told, nothing is delivered, the stock is untouched
    assert declined.status_code == 402, declined.text
    error = declined.json()["error"]
    assert error["code"] == "card_declined"
    assert "declined" in error["message"].lower()
    assert shop.order(body["order_id"]).status == "failed"
    assert shop.grant_count(body["order_id"]) == 0
    assert shop.inventory(product_id) == 3
    assert shop.receipts_sent(body["order_id"]) == []
    # and the same order can still be paid with another card
    retried = shop.confirm(customer, body["payment_intent_id"], "pm_card_visa")
    assert retried.json()["status"] == "paid"
    assert shop.grant_count(body["order_id"]) == 1


def test_a_payment_method_that_does_not_exist_is_a_422_and_leaves_the_order_alone(shop: Shop):
    # given an order awaiting payment
    customer = shop.customer()
    body = shop.start_checkout(customer, [(shop.product(), 1)]).json()

    # when an API client confirms it with a payment method Stripe does not know
    answer = shop.confirm(customer, body["payment_intent_id"], "pm_does_not_exist")

    # then the client's mistake is named, and the order is not marked as a failed payment
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["field"], error["message"]) == (
        "payment_method",
        "No such payment method: pm_does_not_exist.",
    )
    assert shop.order(body["order_id"]).status == "pending"
    assert shop.confirm(customer, body["payment_intent_id"], "pm_card_visa").json()["status"] == (
        "paid"
    )


def test_a_declined_card_is_told_in_the_customers_words(shop: Shop):
    # given an order awaiting payment
    customer = shop.customer()
    body = shop.start_checkout(customer, [(shop.product(), 1)]).json()

    # when the card has insufficient funds
    answer = shop.confirm(
        customer, body["payment_intent_id"], "pm_card_chargeDeclinedInsufficientFunds"
    )

    # then the 402 says so in words for the cardholder, with Stripe's code and the bank's reason
    assert answer.status_code == 402, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["decline_code"], error["message"]) == (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    )

    # and the status call tells the same
    status = shop.status(customer, body["order_id"]).json()
    assert status["status"] == "failed"
    assert status["payment_error"] == {
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
    }


def test_3d_secure_completed_pays_the_order(shop: Shop):
    # given an order paid with a card that asks for authentication
    customer = shop.customer()
    product_id = shop.product()
    body = shop.start_checkout(customer, [(product_id, 1)]).json()
    pending = shop.confirm(customer, body["payment_intent_id"], "pm_card_authenticationRequired")
    assert pending.status_code == 200, pending.text
    assert pending.json()["next_action"]["type"] == "redirect_to_url"
    assert shop.order(body["order_id"]).status == "pending"

    # when the customer completes the challenge and comes back to the success page
    shop.control(
        f"payment_intents/{body['payment_intent_id']}/authenticate", {"outcome": "complete"}
    )
    status = shop.status(customer, body["order_id"])

    # then the order is paid and delivered once
    assert status.json()["status"] == "paid"
    shop.flush_webhooks()
    assert shop.grant_count(body["order_id"]) == 1
    wait_until(lambda: len(shop.receipts_sent(body["order_id"])) > 0)
    assert len(shop.receipts_sent(body["order_id"])) == 1


def test_after_a_decline_a_card_needing_3d_secure_asks_for_authentication(shop: Shop):
    # given an order whose first card was declined
    customer = shop.customer()
    body = shop.start_checkout(customer, [(shop.product(), 1)]).json()
    shop.confirm(customer, body["payment_intent_id"], "pm_card_visa_chargeDeclined")

    # when the customer tries a card that needs 3-D Secure
    response = shop.confirm(customer, body["payment_intent_id"], "pm_card_authenticationRequired")

    # then they are sent to authenticate, not shown the old decline
    assert response.status_code == 200, response.text
    assert response.json()["payment_intent_status"] == "requires_action"
    assert response.json()["next_action"]["url"].startswith(shop.sandbox_url)


def test_3d_secure_failed_leaves_the_order_payable(shop: Shop):
    # given an order waiting for authentication
    customer = shop.customer()
    product_id = shop.product()
    body = shop.start_checkout(customer, [(product_id, 1)]).json()
    shop.confirm(customer, body["payment_intent_id"], "pm_card_authenticationRequired")

    # when the customer fails the challenge
    shop.control(f"payment_intents/{body['payment_intent_id']}/authenticate", {"outcome": "fail"})
    shop.flush_webhooks()

    # then the order shows the failure, delivers nothing, and can still be paid
    wait_until(lambda: shop.order(body["order_id"]).status == "failed")
    assert shop.status(customer, body["order_id"]).json()["status"] == "failed"
    # in words for the customer wherever they read it, not Stripe's words for developers
    status_error = shop.status(customer, body["order_id"]).json()["payment_error"]["message"]
    order_error = shop.http.get(f"/api/orders/{body['order_id']}", headers=customer.headers).json()[
        "payment_error"
    ]
    for said in (status_error, order_error):
        assert "PaymentMethod" not in said
        assert "payment_method_data" not in said
        assert said.strip()
    assert shop.grant_count(body["order_id"]) == 0
    assert (
        shop.confirm(customer, body["payment_intent_id"], "pm_card_visa").json()["status"] == "paid"
    )


def test_a_client_sent_amount_is_ignored(shop: Shop):
    # given a $10.00 product
    customer = shop.customer()
    product_id = shop.product(price=1000)

    # when the client sends its own amounts and prices
    response = shop.start_checkout(
        customer,
        [(product_id, 1)],
        region="AB",
        extra={"amount": 1, "total": 1, "currency": "usd", "price": 1},
    )

    # then the order and the PaymentIntent charge the catalog price plus GST
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["amount"]["total"] == 1050
    assert body["amount"]["currency"] == "cad"
    intent = httpx.get(
        f"{shop.sandbox_url}/v1/payment_intents/{body['payment_intent_id']}",
        headers={"Authorization": "Bearer sk_test_sandbox"},
    ).json()
    assert intent["amount"] == 1050
    assert intent["currency"] == "cad"
    assert intent["metadata"]["order_id"] == str(body["order_id"])


def test_checkout_needs_sign_in_and_orders_are_private(shop: Shop):
    # given two customers, one with an order
    alice = shop.customer("alice@example.com")
    bob = shop.customer("bob@example.com")
    product_id = shop.product()
    body = shop.start_checkout(alice, [(product_id, 1)]).json()

    # when an anonymous visitor starts checkout, and Bob looks at Alice's order
    anonymous = shop.http.post(
        "/api/payments/intent",
        json={
            "items": [{"product_id": product_id, "quantity": 1}],
            "billing": {"country": "CA", "region": "ON"},
        },
    )
    bobs_view = shop.http.get(f"/api/orders/{body['order_id']}", headers=bob.headers)
    bobs_status = shop.status(bob, body["payment_intent_id"])
    bobs_confirm = shop.confirm(bob, body["payment_intent_id"], "pm_card_visa")

    # then the visitor must sign in and Bob finds nothing
    assert anonymous.status_code == 401
    assert bobs_view.status_code == 404
    assert bobs_status.status_code == 404
    assert bobs_confirm.status_code == 404
    assert shop.order(body["order_id"]).status == "pending"
    # and Alice sees her order, support staff see it too
    alices = shop.http.get("/api/orders", headers=alice.headers).json()["items"]
    assert [o["id"] for o in alices] == [body["order_id"]]
    support = shop.customer("support@example.com", roles=("support",))
    assert (
        shop.http.get(f"/api/orders/{body['order_id']}", headers=support.headers).status_code == 200
    )


def test_inactive_and_sold_out_products_are_refused_at_checkout(shop: Shop):
    # given a retired product and a sold-out one
    customer = shop.customer()
    retired = shop.product(is_active=False)
    sold_out = shop.product(inventory_count=0)

    # when a customer tries to buy them
    first = shop.start_checkout(customer, [(retired, 1)])
    second = shop.start_checkout(customer, [(sold_out, 1)])

    # then each is refused with a clear message and no order is made
    assert first.status_code == 409
    assert "no longer available" in first.json()["error"]["message"]
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "sold_out"
    assert shop.http.get("/api/orders", headers=customer.headers).json()["items"] == []


def test_an_order_whose_product_sold_out_since_is_not_charged(shop: Shop):
    # given a customer's pending order for a product
    product_id = shop.product(price=1000, inventory_count=5)
    buyer = shop.customer()
    placed = shop.start_checkout(buyer, [(product_id, 1)]).json()

    # when the merchant marks the product sold out, then the customer confirms
    with shop.session() as session:
        product = session.get(Product, product_id)
        assert product is not None
        product.inventory_count = 0
        session.add(product)
    refused = shop.confirm(buyer, placed["payment_intent_id"], "pm_card_visa")

    # then they are told it sold out, are not charged and get nothing
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "sold_out"
    assert shop.order(placed["order_id"]).status == "pending"
    assert shop.grant_count(placed["order_id"]) == 0
    status = shop.http.get(f"/api/payments/status/{placed['order_id']}", headers=buyer.headers)
    assert status.json()["status"] == "pending"


def test_a_billing_country_must_be_an_iso_code(shop: Shop):
    # given a customer and a product
    customer = shop.customer()
    product_id = shop.product(price=1000)

    # when they give a country code that does not exist
    response = shop.start_checkout(customer, [(product_id, 1)], country="ZZ", region=None)

    # then checkout refuses it by name and makes no order
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "country"
    assert shop.http.get("/api/orders", headers=customer.headers).json()["items"] == []
    # while a real country abroad is served without Canadian tax
    abroad = shop.start_checkout(customer, [(product_id, 1)], country="BR", region=None)
    assert abroad.status_code == 201, abroad.text
    assert abroad.json()["amount"]["tax"] == []


def test_item_fields_of_the_wrong_type_or_out_of_range_are_refused(shop: Shop):
    # given a customer and a product
    customer = shop.customer()
    product_id = shop.product(price=1000)
    billing = {"country": "CA", "region": "ON"}

    # when items carry a quantity as text or true, or an id no row can have
    for item in (
        {"product_id": product_id, "quantity": "2"},
        {"product_id": product_id, "quantity": True},
        {"product_id": str(product_id), "quantity": 1},
        {"product_id": 2**70, "quantity": 1},
    ):
        response = shop.http.post(
            "/api/payments/intent",
            json={"items": [item], "billing": billing},
            headers=customer.headers,
        )
        # then each is a clear 422 and no order is made
        assert response.status_code == 422, (item, response.text)
        assert response.json()["error"]["code"] == "invalid_input"
    assert shop.http.get("/api/orders", headers=customer.headers).json()["items"] == []


def test_a_total_beyond_what_one_card_payment_can_be_is_refused(shop: Shop):
    # given a $99,999.99 product
    customer = shop.customer()
    product_id = shop.product(price=9_999_999)

    # when a customer asks for 99 of it (over $9.9 million with tax)
    response = shop.start_checkout(customer, [(product_id, 99)])

    # then checkout says the total is too large for one card payment, and makes no order
    assert response.status_code == 422, response.text
    assert "more than one card payment can be" in response.json()["error"]["message"]
    assert shop.http.get("/api/orders", headers=customer.headers).json()["items"] == []


def _forget_order(shop: Shop, order_id: int) -> None:
    """As a restore from a backup older than the order does: the order is gone, and the next
    one placed gets its id again (Stripe still remembers the first one's requests)."""
    with shop.session() as session:
        session.execute(delete(OrderItem).where(col(OrderItem.order_id) == order_id))
        session.execute(delete(Order).where(col(Order.id) == order_id))
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text("SELECT setval(pg_get_serial_sequence('orders', 'id'), :next, false)"),
                {"next": order_id},
            )


def test_an_order_id_given_again_after_a_restore_gets_its_own_payment_intent(shop: Shop):
    # given an order that got a PaymentIntent and was then lost to a restore from an older
    # backup, so that the next order gets its id again
    buyer = shop.customer()
    product_id = shop.product(price=1000)
    lost = shop.start_checkout(buyer, [(product_id, 1)]).json()
    _forget_order(shop, lost["order_id"])

    # when the buyer checks out two copies
    answer = shop.start_checkout(buyer, [(product_id, 2)])

    # then the new order, under the same id, gets a PaymentIntent of its own for its amount
    assert answer.status_code == 201, answer.text
    placed = answer.json()
    assert placed["order_id"] == lost["order_id"]
    assert placed["payment_intent_id"] != lost["payment_intent_id"]
    intent = shop.stripe().v1.payment_intents.retrieve(placed["payment_intent_id"])
    assert intent.amount == placed["amount"]["total"] == shop.order(placed["order_id"]).total_amount
