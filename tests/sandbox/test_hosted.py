"""Checkout Sessions and the billing portal, through their hosted pages in Chromium."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from .conftest import Receiver, Server

pytestmark = [
    pytest.mark.browser,
]
SHOP = "http://shop.invalid"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context()
    pg = ctx.new_page()
    pg.set_default_timeout(10000)
    # the shop is not running: answer its success page here
    pg.route(
        f"{SHOP}/**", lambda route: route.fulfill(body="<h1>Thanks</h1>", content_type="text/html")
    )
    yield pg
    ctx.close()


def pay(page: Any, number: str, email: str = "buyer@example.com") -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiration date").fill("12 / 34")
    page.get_by_label("CVC").fill("123")


def test_checkout_payment_mode_with_promotion_code_and_decline(
    fresh: Server, receiver: Receiver, page: Any
) -> None:
    c = fresh.client
    secret = c.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["checkout.session.completed"]}
    ).secret
    prod = c.v1.products.create(
        params={"name": "Guide", "default_price_data": {"currency": "cad", "unit_amount": 4000}}
    )
    coupon = c.v1.coupons.create(params={"percent_off": 25})
    code = f"HALF{uuid.uuid4().hex[:6].upper()}"
    c.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": code}
    )
    cs = c.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"price": prod.default_price, "quantity": 1}],  # type: ignore[typeddict-item]
            "success_url": f"{SHOP}/done?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{SHOP}/cart",
            "allow_promotion_codes": True,
            "metadata": {"order": "o-7"},
        }
    )
    assert cs.status == "open"
    assert cs.amount_total == 4000
    assert cs.url
    page.goto(cs.url)
    pay(page, "4000000000000002")
    page.get_by_role("button", name="Pay").click()
    page.get_by_role("alert").get_by_text("Your card was declined.").wait_for()
    pay(page, "4242 4242 4242 4242")
    page.get_by_label("Promotion code").fill(code)
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(f"{SHOP}/done?session_id={cs.id}")
    cs = c.v1.checkout.sessions.retrieve(cs.id, params={"expand": ["payment_intent"]})
    assert cs.status == "complete"
    assert cs.payment_status == "paid"
    assert cs.amount_total == 3000
    assert cs.customer_details.email == "buyer@example.com"  # type: ignore[union-attr]
    assert cs.payment_intent.status == "succeeded"  # type: ignore[union-attr]
    assert cs.payment_intent.amount == 3000  # type: ignore[union-attr]
    evts = receiver.wait_for(lambda evts: len(evts) == 1)
    assert evts[0]["data"]["object"]["id"] == cs.id
    stripe.Webhook.construct_event(
        receiver.requests[0]["body"], receiver.requests[0]["signature"], secret
    )
    items = c.v1.checkout.sessions.line_items.list(cs.id)
    # as at Stripe, a line item's total is net of its share of the discount
    assert (items.data[0].amount_subtotal, items.data[0].amount_discount) == (4000, 1000)
    assert items.data[0].amount_total == 3000


def test_checkout_payment_with_three_d_secure(shared: Server, page: Any) -> None:
    c = shared.client
    cs = c.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": f"{SHOP}/ok/{{CHECKOUT_SESSION_ID}}",
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 1200,
                        "product_data": {"name": "Ad hoc"},
                    },
                    "quantity": 2,
                }
            ],
        }
    )
    page.goto(cs.url)
    pay(page, "4000002760003184")
    page.get_by_role("button", name="Pay").click()
    page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url(f"{SHOP}/ok/{cs.id}")
    assert c.v1.checkout.sessions.retrieve(cs.id).payment_status == "paid"


def test_checkout_subscription_then_portal(shared: Server, page: Any) -> None:
    c = shared.client
    prod = c.v1.products.create(params={"name": "Membership"})
    monthly = c.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "cad",
            "unit_amount": 900,
            "nickname": "Monthly",
            "recurring": {"interval": "month"},
        }
    )
    yearly = c.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "cad",
            "unit_amount": 9000,
            "nickname": "Yearly",
            "recurring": {"interval": "month"},
        }
    )
    cs = c.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": monthly.id, "quantity": 1}],
            "success_url": f"{SHOP}/welcome?s={{CHECKOUT_SESSION_ID}}",
            "subscription_data": {"metadata": {"plan": "monthly"}},
        }
    )
    page.goto(cs.url)
    pay(page, "5555555555554444", "member@example.com")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url(f"{SHOP}/welcome?s={cs.id}")
    cs = c.v1.checkout.sessions.retrieve(cs.id, params={"expand": ["subscription"]})
    sub = cs.subscription
    assert sub.status == "active"
    assert sub.metadata["plan"] == "monthly"
    assert cs.customer
    assert c.v1.customers.retrieve(cs.customer).email == "member@example.com"
    portal = c.v1.billing_portal.sessions.create(
        params={
            "customer": cs.customer,  # type: ignore[typeddict-item]
            "return_url": f"{SHOP}/account",
        }
    )
    page.goto(portal.url)
    page.get_by_role("button", name="Cancel plan").click()
    page.get_by_text("will be canceled at the end of the period").wait_for()
    assert c.v1.subscriptions.retrieve(sub.id).cancel_at_period_end is True  # type: ignore[union-attr]
    page.get_by_role("button", name="Renew plan").click()
    page.get_by_text("Your plan was renewed.").wait_for()
    assert c.v1.subscriptions.retrieve(sub.id).cancel_at_period_end is False  # type: ignore[union-attr]
    page.get_by_role("button", name="Switch to Yearly").click()
    page.get_by_text("Your plan was switched.").wait_for()
    switched = c.v1.subscriptions.retrieve(sub.id)  # type: ignore[union-attr]
    assert switched["items"].data[0].price.id == yearly.id
    page.get_by_label("Card number").fill("4242424242424242")
    page.get_by_label("Expiration date").fill("01 / 33")
    page.get_by_label("CVC").fill("321")
    page.get_by_role("button", name="Update card").click()
    page.get_by_text("visa •••• 4242").wait_for()
    cus = c.v1.customers.retrieve(cs.customer)  # type: ignore[arg-type]
    pm = c.v1.payment_methods.retrieve(cus.invoice_settings.default_payment_method)  # type: ignore[union-attr,arg-type]
    assert pm.card.last4 == "4242"  # type: ignore[union-attr]
    page.get_by_role("link", name="Return to the shop").click()
    page.wait_for_url(f"{SHOP}/account")


def test_checkout_expire_and_validation(client: stripe.StripeClient) -> None:
    prod = client.v1.products.create(params={"name": "Thing"})
    monthly = client.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "cad",
            "unit_amount": 500,
            "recurring": {"interval": "month"},
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "success_url": "https://x.example/ok",
                "line_items": [{"price": monthly.id, "quantity": 1}],
            }
        )
    assert "subscription" in str(exc.value.user_message)
    cs = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "success_url": "https://x.example/ok",
            "line_items": [{"price": monthly.id, "quantity": 1}],
        }
    )
    cs = client.v1.checkout.sessions.expire(cs.id)
    assert cs.status == "expired"
    assert cs.url is None


def test_a_subscription_checkout_totals_its_exclusive_tax_rates(
    client: stripe.StripeClient,
) -> None:
    # given a $9.00 monthly plan and Ontario's HST as an exclusive tax rate
    prod = client.v1.products.create(params={"name": "Club"})
    monthly = client.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "cad",
            "unit_amount": 900,
            "recurring": {"interval": "month"},
        }
    )
    hst = client.v1.tax_rates.create(
        params={"display_name": "HST", "percentage": 13, "inclusive": False}
    )
    # when a subscription Checkout Session carries it as the subscription's default tax rate
    cs = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "success_url": "https://x.example/ok",
            "line_items": [{"price": monthly.id, "quantity": 1}],
            "subscription_data": {"default_tax_rates": [hst.id]},
        }
    )
    # then its total is what the first invoice will charge: $9.00 + $1.17
    assert (cs.amount_subtotal, cs.amount_total) == (900, 1017)
    assert cs.total_details is not None
    assert cs.total_details.amount_tax == 117


def test_the_hosted_checkout_fills_in_the_email_of_the_sessions_customer(
    client: stripe.StripeClient,
) -> None:
    # given a Checkout Session for a Customer who has an email (and no customer_email)
    import httpx

    customer = client.v1.customers.create(params={"email": "member@example.com"})
    prod = client.v1.products.create(params={"name": "Club"})
    price = client.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "cad",
            "unit_amount": 900,
            "recurring": {"interval": "month"},
        }
    )
    cs = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "success_url": "https://x.example/ok",
            "line_items": [{"price": price.id, "quantity": 1}],
        }
    )
    # when the hosted page is opened, then the Email box holds the customer's address
    assert cs.url is not None
    page = httpx.get(cs.url)
    assert "value='member@example.com'" in page.text
    # and the page is paid with only the card filled in
    paid = httpx.post(
        cs.url,
        data={"card_number": "4242424242424242", "card_exp": "12 / 34", "card_cvc": "123"},
    )
    assert paid.status_code == 303, paid.text
    done = client.v1.checkout.sessions.retrieve(cs.id)
    assert done.status == "complete"
    assert done.customer_details is not None
    assert done.customer_details.email == "member@example.com"
