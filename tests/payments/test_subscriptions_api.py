"""Subscriptions end to end: the shop's API on uvicorn, the Stripe sandbox, real webhooks.

Each paid invoice must become exactly one paid order (tax from our engine, the plan's grant,
one receipt), whatever the webhooks do; cancellation, resumption, plan switches, renewals on
a test clock, Checkout and the Billing Portal go through Stripe and come back by webhook.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from shop.models import (
    Category,
    DownloadGrant,
    Order,
    OrderItem,
    OrderTaxLine,
    Product,
    Subscription,
)
from shop.models.accounts import User
from shop.services import catalog_sync
from tests.concurrency import at_once
from tests.payments.conftest import Customer, Shop, wait_until

ON = {"country": "CA", "region": "ON"}


def make_plan(
    shop: Shop,
    *,
    price: int = 900,
    interval: str = "month",
    category_id: int | None = None,
    sync: bool = True,
    **fields: Any,
) -> int:
    product_id = shop.product(price=price, kind="subscription", interval=interval, **fields)
    if category_id is not None:
        with shop.session() as session:
            product = session.get(Product, product_id)
            assert product is not None
            product.category_id = category_id
            session.add(product)
    if sync:
        with shop.session() as session:
            outcome = catalog_sync.sync_product(session=session, product_id=product_id)
            assert outcome.status == "synced", outcome
    return product_id


def membership(shop: Shop) -> tuple[int, int]:
    """A monthly and a yearly plan of one membership (one category)."""
    with shop.session() as session:
        category = Category(slug=f"club-{time.monotonic_ns()}", name="Club")
        session.add(category)
        session.flush()
        category_id = category.id
    monthly = make_plan(shop, price=900, interval="month", category_id=category_id)
    yearly = make_plan(shop, price=9000, interval="year", category_id=category_id)
    return monthly, yearly


def subscribe(
    shop: Shop,
    customer: Customer,
    product_id: int,
    *,
    billing: dict[str, Any] | None = None,
    payment_method: str | None = "pm_card_visa",
) -> httpx.Response:
    body: dict[str, Any] = {"product_id": product_id, "billing": billing or ON}
    if payment_method is not None:
        body["payment_method"] = payment_method
    return shop.http.post("/api/subscriptions", json=body, headers=customer.headers)


def switch_plan(
    shop: Shop, customer: Customer, subscription_id: int, product_id: int
) -> httpx.Response:
    return shop.http.put(
        f"/api/subscriptions/{subscription_id}",
        json={"product_id": product_id},
        headers=customer.headers,
    )


def orders_of(shop: Shop, subscription_id: int) -> list[Order]:
    with shop.session() as session:
        return list(
            session.exec(
                select(Order)
                .where(Order.subscription_id == subscription_id)
                .order_by(col(Order.id))
            ).all()
        )


def tax_lines(shop: Shop, order_id: int) -> list[tuple[str, str, int]]:
    with shop.session() as session:
        rows = session.exec(
            select(OrderTaxLine)
            .where(OrderTaxLine.order_id == order_id)
            .order_by(col(OrderTaxLine.position))
        ).all()
        return [(row.name, row.rate, row.amount) for row in rows]


def grants_of(shop: Shop, subscription_id: int) -> list[DownloadGrant]:
    with shop.session() as session:
        return list(
            session.exec(
                select(DownloadGrant)
                .join(OrderItem, col(DownloadGrant.order_item_id) == col(OrderItem.id))
                .join(Order, col(OrderItem.order_id) == col(Order.id))
                .where(Order.subscription_id == subscription_id)
            ).all()
        )


def local(shop: Shop, subscription_id: int) -> Subscription:
    with shop.session() as session:
        row = session.get(Subscription, subscription_id)
        assert row is not None
        return row


def on_a_test_clock(shop: Shop, customer: Customer) -> str:
    """Give the customer a Stripe Customer on a test clock; the clock's id."""
    client = shop.stripe()
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": int(time.time())})
    stripe_customer = client.v1.customers.create(
        params={"email": customer.email, "test_clock": clock.id}
    )
    with shop.session() as session:
        user = session.get(User, customer.id)
        assert user is not None
        user.stripe_customer_id = stripe_customer.id
        session.add(user)
    return clock.id


def advance(shop: Shop, clock_id: str, days: int) -> None:
    client = shop.stripe()
    clock = client.v1.test_helpers.test_clocks.retrieve(clock_id)
    client.v1.test_helpers.test_clocks.advance(
        clock_id, params={"frozen_time": clock.frozen_time + days * 86400}
    )
    shop.flush_webhooks()


@pytest.mark.parametrize(
    ("billing", "expected_taxes", "total"),
    [
        (ON, [("HST", "0.13", 117)], 1017),
        ({"country": "CA", "region": "QC"}, [("GST", "0.05", 45), ("QST", "0.09975", 90)], 1035),
        ({"country": "US", "region": "NY", "postal_code": "10001"}, [], 900),
    ],
)
def test_subscribing_with_a_card_makes_an_active_subscription_and_one_paid_order(
    shop: Shop, billing: dict[str, Any], expected_taxes: list[tuple[str, str, int]], total: int
):
    # given a monthly plan with one file and a signed-in customer
    plan = make_plan(shop, price=900)
    customer = shop.customer()
    # when they subscribe with a card
    response = subscribe(shop, customer, plan, billing=billing)
    shop.flush_webhooks()
    # then the subscription is active here as at Stripe
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "active"
    assert body["product_id"] == plan
    assert body["interval"] == "month"
    assert body["price"] == {"amount": 900, "currency": "cad"}
    assert body["cancel_at_period_end"] is False
    assert body["stripe_subscription_id"].startswith("sub_")
    assert body["current_period_end"]
    assert "client_secret" not in body
    stripe_sub = shop.stripe().v1.subscriptions.retrieve(body["stripe_subscription_id"])
    assert stripe_sub.status == "active"
    # and its one invoice is one paid order with our tax, one grant and one receipt
    (order,) = orders_of(shop, body["id"])
    invoice = shop.stripe().v1.invoices.retrieve(str(stripe_sub.latest_invoice))
    assert order.status == "paid"
    assert order.stripe_invoice_id == invoice.id
    assert order.total_amount == invoice.amount_paid == total
    assert order.subtotal_amount == 900
    assert order.tax_amount == total - 900
    assert order.billing_country == billing["country"]
    assert tax_lines(shop, order.id) == expected_taxes  # type: ignore[arg-type]
    assert shop.grant_count(order.id) == 1  # type: ignore[arg-type]
    assert shop.receipt_rows(order.id) == 1  # type: ignore[arg-type]
    assert len(shop.receipts_sent(order.id)) == 1  # type: ignore[arg-type]
    # and the customer sees both the subscription and the order
    listed = shop.http.get("/api/subscriptions", headers=customer.headers).json()["items"]
    assert [item["id"] for item in listed] == [body["id"]]
    mine = shop.http.get("/api/orders", headers=customer.headers).json()["items"]
    assert [item["id"] for item in mine] == [order.id]


def test_a_yearly_member_downloads_the_plans_files_for_the_whole_year(shop: Shop):
    # given a yearly plan with one file (no download period of its own: the default is 7 days)
    plan = make_plan(shop, price=9000, interval="year")
    customer = shop.customer()
    # when a customer subscribes
    body = subscribe(shop, customer, plan).json()
    shop.flush_webhooks()
    # then the plan's file may be downloaded until the paid year ends, not for a week
    (download,) = shop.http.get("/api/downloads", headers=customer.headers).json()
    period_end = datetime.fromisoformat(body["current_period_end"])
    expires = datetime.fromisoformat(download["expires_at"])
    assert expires >= period_end
    assert expires - datetime.now(UTC) > timedelta(days=360)


def test_duplicated_and_shuffled_webhooks_still_make_one_order_per_invoice(shop: Shop):
    # given a sandbox that delivers every event three times, in shuffled batches
    plan = make_plan(shop)
    customer = shop.customer()
    shop.control("webhooks/pause")
    shop.control("webhooks/duplicate", {"copies": 3})
    shop.control("webhooks/shuffle", {"enabled": True, "seed": 11})
    # when the customer subscribes and the events arrive
    response = subscribe(shop, customer, plan)
    assert response.status_code == 201, response.text
    shop.control("webhooks/resume")
    shop.flush_webhooks()
    # and every subscription event is sent once more, by Stripe's replay
    for event_type in ("invoice.paid", "customer.subscription.created"):
        for event in shop.stripe().v1.events.list(params={"type": event_type}).data:
            shop.control(f"events/{event.id}/replay")
    shop.flush_webhooks()
    # then there is still one subscription, one order, one grant and one receipt
    sub_id = response.json()["id"]
    (order,) = orders_of(shop, sub_id)
    assert order.status == "paid"
    assert shop.grant_count(order.id) == 1  # type: ignore[arg-type]
    assert shop.receipt_rows(order.id) == 1  # type: ignore[arg-type]
    assert local(shop, sub_id).status == "active"
    with shop.session() as session:
        assert len(session.exec(select(Subscription)).all()) == 1
    assert shop.event_rows("invoice.paid") == 1


def test_a_declined_card_is_402_and_makes_no_order(shop: Shop):
    # given a plan
    plan = make_plan(shop)
    customer = shop.customer()
    # when the customer subscribes with a card that is declined
    response = subscribe(shop, customer, plan, payment_method="pm_card_visa_chargeDeclined")
    shop.flush_webhooks()
    # then the answer says so in the customer's words, and nothing is paid or held
    assert response.status_code == 402, response.text
    assert response.json()["error"]["code"] == "card_declined"
    assert "declined" in response.json()["error"]["message"]
    with shop.session() as session:
        assert session.exec(select(Order)).all() == []
        held = session.exec(
            select(Subscription).where(col(Subscription.status).in_(["active", "past_due"]))
        ).all()
        assert held == []
    # and a good card works next
    assert subscribe(shop, customer, plan).status_code == 201


def test_a_card_declined_on_charge_cancels_the_incomplete_subscription(shop: Shop):
    # given a card that attaches but whose charges fail
    plan = make_plan(shop)
    customer = shop.customer()
    # when the customer subscribes with it
    response = subscribe(shop, customer, plan, payment_method="pm_card_chargeCustomerFail")
    shop.flush_webhooks()
    # then it is a 402, the Stripe subscription is canceled, and there is no order
    assert response.status_code == 402, response.text
    with shop.session() as session:
        (row,) = session.exec(select(Subscription)).all()
        assert row.status == "canceled"
        assert session.exec(select(Order)).all() == []


def test_three_d_secure_answers_a_client_secret_and_the_payment_completes_it(shop: Shop):
    # given a card that needs 3-D Secure
    plan = make_plan(shop)
    customer = shop.customer()
    response = subscribe(shop, customer, plan, payment_method="pm_card_authenticationRequired")
    # then the subscription waits for the customer, with the PaymentIntent's secret
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "incomplete"
    assert body["client_secret"].startswith("pi_")
    # when the customer completes the challenge
    intent_id = body["client_secret"].split("_secret_")[0]
    shop.control(f"payment_intents/{intent_id}/authenticate", {"outcome": "complete"})
    shop.flush_webhooks()
    # then it is active, with its order
    assert local(shop, body["id"]).status == "active"
    (order,) = orders_of(shop, body["id"])
    assert order.status == "paid"
    assert order.stripe_payment_intent_id == intent_id


def test_subscribing_again_replaces_a_start_left_waiting_for_3d_secure(shop: Shop):
    # given a customer who left a 3-D Secure challenge open, then subscribes with another card
    plan = make_plan(shop)
    customer = shop.customer()
    waiting = subscribe(shop, customer, plan, payment_method="pm_card_authenticationRequired")
    assert waiting.json()["status"] == "incomplete"
    first_stripe_id = waiting.json()["stripe_subscription_id"]
    intent_id = waiting.json()["client_secret"].split("_secret_")[0]
    second = subscribe(shop, customer, plan, payment_method="pm_card_visa")
    # then the new one is the membership, and the one left waiting is canceled at Stripe
    assert second.status_code == 201, second.text
    assert second.json()["status"] == "active"
    assert shop.stripe().v1.subscriptions.retrieve(first_stripe_id).status in (
        "canceled",
        "incomplete_expired",
    )
    # and its PaymentIntent went with it: finishing the old challenge afterwards is refused,
    # so there is no second membership nor charge
    assert shop.stripe().v1.payment_intents.retrieve(intent_id).status == "canceled"
    late = httpx.post(
        f"{shop.sandbox_url}/_sandbox/payment_intents/{intent_id}/authenticate",
        json={"outcome": "complete"},
    )
    assert late.status_code == 400, late.text
    shop.flush_webhooks()
    assert [s["id"] for s in _listed(shop, customer) if s["status"] == "active"] == [
        second.json()["id"]
    ]
    assert shop.stripe().v1.payment_intents.retrieve(intent_id).status != "succeeded"


def test_three_subscribes_at_once_with_three_cards_make_one_membership(shop: Shop):
    # given a customer who presses "Subscribe" in three tabs, each with a card of its own
    plan = make_plan(shop)
    customer = shop.customer()
    answers: list[httpx.Response] = []

    def subscribe_with(card: str):
        return lambda: answers.append(subscribe(shop, customer, plan, payment_method=card))

    # when the three requests arrive together
    at_once([subscribe_with(c) for c in ("pm_card_visa", "pm_card_mastercard", "pm_card_amex")])

    # then one membership is made; the others are told it exists, and nothing else is charged
    assert sorted(a.status_code for a in answers) == [201, 409, 409], [a.text for a in answers]
    refused = [a.json()["error"]["code"] for a in answers if a.status_code == 409]
    assert refused == ["already_subscribed", "already_subscribed"]
    with shop.session() as session:
        stripe_customer = session.exec(
            select(User.stripe_customer_id).where(User.id == customer.id)
        ).one()
    at_stripe = shop.stripe().v1.subscriptions.list(
        params={"customer": str(stripe_customer), "status": "all"}
    )
    assert [sub.status for sub in at_stripe.data] == ["active"]


def test_a_renewal_on_a_test_clock_makes_a_second_order(shop: Shop):
    # given a customer whose Stripe Customer runs on a test clock, subscribed monthly
    plan = make_plan(shop)
    customer = shop.customer()
    clock = on_a_test_clock(shop, customer)
    body = subscribe(shop, customer, plan).json()
    shop.flush_webhooks()
    first_end = local(shop, body["id"]).current_period_end
    # when a month and a bit goes by
    advance(shop, clock, 32)
    # then the renewal invoice is a second paid order with its own grant and receipt
    first, second = orders_of(shop, body["id"])
    assert second.status == "paid"
    assert second.total_amount == 1017
    assert second.stripe_invoice_id != first.stripe_invoice_id
    assert shop.grant_count(second.id) == 1  # type: ignore[arg-type]
    assert shop.receipt_rows(second.id) == 1  # type: ignore[arg-type]
    renewed = local(shop, body["id"])
    assert renewed.status == "active"
    assert first_end is not None
    assert renewed.current_period_end is not None
    assert renewed.current_period_end > first_end


def test_cancel_at_period_end_resume_and_cancel_now(shop: Shop):
    # given an active subscription with its grant
    plan = make_plan(shop)
    customer = shop.customer()
    sub_id = subscribe(shop, customer, plan).json()["id"]
    shop.flush_webhooks()
    # when the customer cancels (at period end by default)
    canceled = shop.http.delete(f"/api/subscriptions/{sub_id}", headers=customer.headers)
    # then it stays active until the period ends, and the downloads stay
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "active"
    assert canceled.json()["cancel_at_period_end"] is True
    stripe_id = canceled.json()["stripe_subscription_id"]
    assert shop.stripe().v1.subscriptions.retrieve(stripe_id).cancel_at_period_end is True
    assert all(grant.revoked_at is None for grant in grants_of(shop, sub_id))
    # when they resume it
    resumed = shop.http.put(
        f"/api/subscriptions/{sub_id}",
        json={"cancel_at_period_end": False},
        headers=customer.headers,
    )
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["cancel_at_period_end"] is False
    assert shop.stripe().v1.subscriptions.retrieve(stripe_id).cancel_at_period_end is False
    # and cancel it again, then now
    again = shop.http.delete(f"/api/subscriptions/{sub_id}", headers=customer.headers)
    assert again.json()["cancel_at_period_end"] is True
    now = shop.http.delete(
        f"/api/subscriptions/{sub_id}", params={"immediately": "true"}, headers=customer.headers
    )
    shop.flush_webhooks()
    # then it is over, at Stripe and here, and its downloads are revoked
    assert now.status_code == 200, now.text
    assert now.json()["status"] == "canceled"
    assert shop.stripe().v1.subscriptions.retrieve(stripe_id).status == "canceled"
    assert local(shop, sub_id).status == "canceled"
    grants = grants_of(shop, sub_id)
    assert grants
    assert all(grant.revoked_at is not None for grant in grants)
    downloads = shop.http.get("/api/downloads", headers=customer.headers)
    listed = _items(downloads.json())
    assert [(item["status"], item["url"]) for item in listed] == [("revoked", None)]
    # and an ended subscription cannot be changed
    late = shop.http.put(
        f"/api/subscriptions/{sub_id}",
        json={"cancel_at_period_end": False},
        headers=customer.headers,
    )
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "subscription_ended"
    # but asking to end it again, either way, answers it as it is (DELETE is safe to repeat)
    for params in ({}, {"immediately": "true"}):
        repeated = shop.http.delete(
            f"/api/subscriptions/{sub_id}", params=params, headers=customer.headers
        )
        assert repeated.status_code == 200, (params, repeated.text)
        assert repeated.json()["status"] == "canceled"


def _items(body: Any) -> list[dict[str, Any]]:
    return body["items"] if isinstance(body, dict) else body


def test_a_subscription_canceled_at_period_end_ends_when_the_period_does(shop: Shop):
    # given a subscription on a test clock, canceled at period end
    plan = make_plan(shop)
    customer = shop.customer()
    clock = on_a_test_clock(shop, customer)
    sub_id = subscribe(shop, customer, plan).json()["id"]
    shop.http.delete(f"/api/subscriptions/{sub_id}", headers=customer.headers)
    shop.flush_webhooks()
    # when the period ends
    advance(shop, clock, 32)
    # then Stripe ended it, the webhook says so here, no renewal was charged, grants revoked
    assert local(shop, sub_id).status == "canceled"
    assert len(orders_of(shop, sub_id)) == 1
    assert all(grant.revoked_at is not None for grant in grants_of(shop, sub_id))


def test_switching_monthly_to_yearly_charges_the_difference_as_an_order(shop: Shop):
    # given a monthly member of a membership that also has a yearly plan
    monthly, yearly = membership(shop)
    customer = shop.customer()
    sub_id = subscribe(shop, customer, monthly).json()["id"]
    shop.flush_webhooks()
    # when they switch to yearly
    switched = switch_plan(shop, customer, sub_id, yearly)
    shop.flush_webhooks()
    # then the subscription is the yearly plan, at Stripe and here
    assert switched.status_code == 200, switched.text
    body = switched.json()
    assert body["product_id"] == yearly
    assert body["interval"] == "year"
    assert body["price"] == {"amount": 9000, "currency": "cad"}
    stripe_sub = shop.stripe().v1.subscriptions.retrieve(body["stripe_subscription_id"])
    assert stripe_sub["items"].data[0].price.recurring.interval == "year"
    # and the switch's invoice is a second order for the yearly plan, for what was paid
    first, second = orders_of(shop, sub_id)
    invoice = shop.stripe().v1.invoices.retrieve(str(stripe_sub.latest_invoice))
    assert second.stripe_invoice_id == invoice.id
    assert second.total_amount == invoice.amount_paid
    assert second.subtotal_amount - second.discount_amount + second.tax_amount == (
        second.total_amount
    )
    with shop.session() as session:
        (item,) = session.exec(select(OrderItem).where(OrderItem.order_id == second.id)).all()
        assert item.product_id == yearly
    # and a plan of another membership is refused
    other = make_plan(shop, price=500)
    refused = switch_plan(shop, customer, sub_id, other)
    assert refused.status_code == 422


def test_switching_back_from_yearly_to_monthly_follows_stripe_and_makes_no_order(shop: Shop):
    # given a member who switched monthly → yearly (a taxed membership, so the way back is
    # invoiced with a credit larger than the charge: negative tax amounts)
    monthly, yearly = membership(shop)
    customer = shop.customer()
    sub_id = subscribe(shop, customer, monthly).json()["id"]
    shop.flush_webhooks()
    to_yearly = switch_plan(shop, customer, sub_id, yearly)
    assert to_yearly.status_code == 200, to_yearly.text
    shop.flush_webhooks()
    orders_before = len(orders_of(shop, sub_id))
    # when they switch back to monthly
    back = switch_plan(shop, customer, sub_id, monthly)
    shop.flush_webhooks()
    # then the subscription is monthly again, here and at Stripe, and a credit made no order
    assert back.status_code == 200, back.text
    assert back.json()["product_id"] == monthly
    assert back.json()["interval"] == "month"
    mine = shop.http.get(f"/api/subscriptions/{sub_id}", headers=customer.headers).json()
    assert mine["product_id"] == monthly
    assert len(orders_of(shop, sub_id)) == orders_before
    # and every webhook of it was taken (none refused as malformed, so none is retried forever)
    refused = [d for d in shop.deliveries() if d["http_status"] != 200]
    assert refused == []


def test_refusals_when_subscribing(shop: Shop):
    customer = shop.customer()
    monthly, yearly = membership(shop)
    one_time = shop.product(price=500)
    archived = make_plan(shop, is_active=False)
    unsynced = make_plan(shop, sync=False)
    # a one-time product is not a plan
    response = subscribe(shop, customer, one_time)
    assert (response.status_code, response.json()["error"]["code"]) == (422, "not_a_plan")
    # an archived or not yet synced plan cannot be bought
    for plan in (archived, unsynced):
        response = subscribe(shop, customer, plan)
        assert (response.status_code, response.json()["error"]["code"]) == (
            409,
            "plan_unavailable",
        )
    # a Canadian address needs a province
    response = subscribe(shop, customer, monthly, billing={"country": "CA"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "region"
    # a missing product is a 404
    assert subscribe(shop, customer, 999999).status_code == 404
    # the same plan, or another of the same membership, while subscribed is a 409
    assert subscribe(shop, customer, monthly).status_code == 201
    for plan in (monthly, yearly):
        response = subscribe(shop, customer, plan)
        assert (response.status_code, response.json()["error"]["code"]) == (
            409,
            "already_subscribed",
        )
    # and a subscription is still no cart item
    cart = shop.http.post(
        "/api/payments/intent",
        json={"items": [{"product_id": monthly, "quantity": 1}], "billing": ON},
        headers=customer.headers,
    )
    assert cart.status_code == 422


def test_a_customer_who_corrects_their_province_gets_a_checkout_with_the_new_tax(shop: Shop):
    # given a customer who started Checkout for a plan from Ontario
    plan = make_plan(shop)
    customer = shop.customer()
    first = subscribe(shop, customer, plan, payment_method=None)
    assert first.status_code == 201, first.text
    # when they go back and start again from Quebec, and then from the US (minutes later)
    quebec = subscribe(
        shop, customer, plan, billing={"country": "CA", "region": "QC"}, payment_method=None
    )
    abroad = subscribe(shop, customer, plan, billing={"country": "US"}, payment_method=None)
    # then each is a Checkout of its own, taxed for where they are now
    assert quebec.status_code == 201, quebec.text
    assert abroad.status_code == 201, abroad.text
    ids = {r.json()["checkout_session_id"] for r in (first, quebec, abroad)}
    assert len(ids) == 3
    totals = [
        shop.stripe().v1.checkout.sessions.retrieve(r.json()["checkout_session_id"]).amount_total
        for r in (first, quebec, abroad)
    ]
    assert totals == [1017, 1035, 900]
    # and asking again from the US, unchanged, is the same Checkout (a retry, not a new one)
    again = subscribe(shop, customer, plan, billing={"country": "US"}, payment_method=None)
    assert again.json()["checkout_session_id"] == abroad.json()["checkout_session_id"]


def test_only_the_newest_checkout_page_of_a_membership_can_be_paid(shop: Shop):
    # given a customer who opened a Checkout page for the monthly plan, then one for the yearly
    monthly, yearly = membership(shop)
    other_membership = make_plan(shop, price=500)
    customer = shop.customer()
    first = subscribe(shop, customer, monthly, payment_method=None).json()
    unrelated = subscribe(shop, customer, other_membership, payment_method=None).json()
    second = subscribe(shop, customer, yearly, payment_method=None).json()

    def status(body: dict[str, Any]) -> str:
        cs = shop.stripe().v1.checkout.sessions.retrieve(body["checkout_session_id"])
        return str(cs.status)

    # then the older page of that membership is closed; the newest and another membership's stay
    assert (status(first), status(second), status(unrelated)) == ("expired", "open", "open")
    # and sending the older page's form makes no subscription
    httpx.post(
        first["checkout_url"],
        data={"card_number": "4242424242424242", "card_exp": "12 / 34", "card_cvc": "123"},
    )
    assert status(first) == "expired"
    shop.flush_webhooks()
    assert _listed(shop, customer) == []
    # when they then subscribe to it with a card instead, its open page is closed too
    assert subscribe(shop, customer, yearly).status_code == 201
    assert status(second) == "expired"


def test_checkout_session_path_makes_the_subscription_when_stripe_reports_it(shop: Shop):
    # given a plan and a customer who has no card on file
    plan = make_plan(shop)
    customer = shop.customer()
    # when they subscribe without a payment method
    response = subscribe(shop, customer, plan, payment_method=None)
    # then they get a Stripe Checkout page
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["checkout_session_id"].startswith("cs_")
    assert body["checkout_url"].startswith(shop.sandbox_url)
    session = shop.stripe().v1.checkout.sessions.retrieve(body["checkout_session_id"])
    assert session.mode == "subscription"
    assert session.success_url.startswith("http://shop.test/account/subscriptions")
    # when they pay on it
    paid = httpx.post(
        body["checkout_url"],
        data={
            "email": customer.email,
            "name": "Member",
            "card_number": "4242424242424242",
            "card_exp": "12 / 34",
            "card_cvc": "123",
        },
    )
    assert paid.status_code == 303, paid.text
    shop.flush_webhooks()
    # then the subscription is here, active, with its taxed order
    wait_until(lambda: bool(_listed(shop, customer)))
    (listed,) = _listed(shop, customer)
    assert listed["status"] == "active"
    assert listed["product_id"] == plan
    (order,) = orders_of(shop, listed["id"])
    assert order.total_amount == 1017
    assert tax_lines(shop, order.id) == [("HST", "0.13", 117)]  # type: ignore[arg-type]


def _listed(shop: Shop, customer: Customer) -> list[dict[str, Any]]:
    return shop.http.get("/api/subscriptions", headers=customer.headers).json()["items"]


def test_the_billing_portal(shop: Shop):
    plan = make_plan(shop)
    customer = shop.customer()
    # before any subscription there is no billing account
    none_yet = shop.http.get("/api/subscriptions/portal", headers=customer.headers)
    assert none_yet.status_code == 404
    assert none_yet.json()["error"]["code"] == "no_billing_account"
    # after one, the portal opens for the customer's own Stripe Customer
    subscribe(shop, customer, plan)
    response = shop.http.get("/api/subscriptions/portal", headers=customer.headers)
    assert response.status_code == 200, response.text
    url = response.json()["url"]
    assert url.startswith(f"{shop.sandbox_url}/_sandbox/portal/")
    page = httpx.get(url)
    assert page.status_code == 200
    assert "http://shop.test/account/subscriptions" in page.text


def test_who_may_see_and_change_a_subscription(shop: Shop):
    # given a member, another customer and a support agent
    plan = make_plan(shop)
    member = shop.customer()
    other = shop.customer()
    support = shop.customer(roles=("support",))
    sub_id = subscribe(shop, member, plan).json()["id"]
    path = f"/api/subscriptions/{sub_id}"
    # anonymous callers are 401 everywhere
    for method, url in [
        ("GET", "/api/subscriptions"),
        ("POST", "/api/subscriptions"),
        ("GET", "/api/subscriptions/portal"),
        ("GET", path),
        ("PUT", path),
        ("DELETE", path),
    ]:
        assert shop.http.request(method, url, json={}).status_code == 401, (method, url)
    # someone else's subscription is not found, and not listed
    assert shop.http.get(path, headers=other.headers).status_code == 404
    assert (
        shop.http.put(path, json={"cancel_at_period_end": True}, headers=other.headers).status_code
        == 404
    )
    assert shop.http.delete(path, headers=other.headers).status_code == 404
    assert _listed(shop, other) == []
    # staff read every subscription, one by one too, but change none
    assert [item["id"] for item in _listed(shop, support)] == [sub_id]
    seen = shop.http.get(path, headers=support.headers)
    assert seen.status_code == 200, seen.text
    assert seen.json()["id"] == sub_id
    assert (
        shop.http.get(
            "/api/subscriptions", params={"mine": "true"}, headers=support.headers
        ).json()["items"]
        == []
    )
    assert shop.http.delete(path, headers=support.headers).status_code == 404
    assert local(shop, sub_id).cancel_at_period_end is False


def test_failed_renewals_make_it_past_due_then_unpaid_and_end_the_downloads(shop: Shop):
    # given a member on a test clock whose card starts failing after the first payment
    plan = make_plan(shop)
    customer = shop.customer()
    clock = on_a_test_clock(shop, customer)
    body = subscribe(shop, customer, plan).json()
    client = shop.stripe()
    stripe_sub = client.v1.subscriptions.retrieve(body["stripe_subscription_id"])
    failing = client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", params={"customer": str(stripe_sub.customer)}
    )
    client.v1.subscriptions.update(stripe_sub.id, params={"default_payment_method": failing.id})
    shop.flush_webhooks()
    # when the renewal is declined
    advance(shop, clock, 31)
    # then the member is past due, keeps the downloads, and no order is made for it
    assert local(shop, body["id"]).status == "past_due"
    assert len(orders_of(shop, body["id"])) == 1
    assert all(grant.revoked_at is None for grant in grants_of(shop, body["id"]))
    # when every retry fails and the next period comes unpaid too
    advance(shop, clock, 31)
    # then it is unpaid: the plan's downloads end
    assert local(shop, body["id"]).status == "unpaid"
    assert len(orders_of(shop, body["id"])) == 1
    grants = grants_of(shop, body["id"])
    assert grants
    assert all(grant.revoked_at is not None for grant in grants)
