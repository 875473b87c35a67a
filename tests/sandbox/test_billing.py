"""Tax rates, subscriptions, invoices and test clocks."""

from __future__ import annotations

import time
from typing import Any

import pytest
import stripe

from .conftest import Receiver, Server

DAY = 86400


def monthly_price(c: stripe.StripeClient, amount: int = 1000) -> stripe.Price:
    prod = c.v1.products.create(params={"name": "Club"})
    return c.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "cad",
            "unit_amount": amount,
            "recurring": {"interval": "month"},
        }
    )


def clock_customer(c: stripe.StripeClient, pm: str | None = "pm_card_visa") -> tuple[Any, Any]:
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": int(time.time())})
    cus = c.v1.customers.create(params={"test_clock": clock.id, "email": "sub@example.com"})
    if pm:
        attached = c.v1.payment_methods.attach(pm, params={"customer": cus.id})
        c.v1.customers.update(
            cus.id, params={"invoice_settings": {"default_payment_method": attached.id}}
        )
    return clock, cus


def advance(c: stripe.StripeClient, clock: Any, seconds: int) -> Any:
    clock = c.v1.test_helpers.test_clocks.retrieve(clock.id)
    c.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": clock.frozen_time + seconds}
    )
    clock = c.v1.test_helpers.test_clocks.retrieve(clock.id)
    assert clock.status == "ready"
    return clock


def test_tax_rates(client: stripe.StripeClient) -> None:
    tr = client.v1.tax_rates.create(
        params={
            "display_name": "HST",
            "percentage": 13,
            "inclusive": False,
            "country": "CA",
            "state": "ON",
        }
    )
    assert tr.percentage == 13
    assert tr.active is True
    tr = client.v1.tax_rates.update(tr.id, params={"active": False})
    assert tr.active is False
    assert tr.id not in [t.id for t in client.v1.tax_rates.list(params={"active": True}).data]


def test_default_incomplete_then_paid_with_confirmation_secret(
    fresh: Server, receiver: Receiver
) -> None:
    c = fresh.client
    c.v1.webhook_endpoints.create(
        params={
            "url": receiver.url,
            "enabled_events": [
                "customer.subscription.created",
                "customer.subscription.updated",
                "invoice.created",
                "invoice.finalized",
                "invoice.paid",
                "invoice.payment_succeeded",
            ],
        }
    )
    price = monthly_price(c)
    cus = c.v1.customers.create()
    sub = c.v1.subscriptions.create(
        params={
            "customer": cus.id,
            "items": [{"price": price.id}],
            "payment_behavior": "default_incomplete",
            "payment_settings": {"save_default_payment_method": "on_subscription"},
            "expand": ["latest_invoice.confirmation_secret"],
        }
    )
    assert sub.status == "incomplete"
    inv = sub.latest_invoice
    assert inv.status == "open"
    assert inv.amount_due == 1000
    secret = inv.confirmation_secret.client_secret  # type: ignore[union-attr]
    pi_id = secret.split("_secret_")[0]
    pi = c.v1.payment_intents.confirm(pi_id, params={"payment_method": "pm_card_visa"})
    assert pi.status == "succeeded"
    sub = c.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    assert sub.status == "active"
    assert sub.latest_invoice.status == "paid"  # type: ignore[union-attr]
    assert sub.default_payment_method == pi.payment_method
    assert sub["items"].data[0].current_period_end > sub["items"].data[0].current_period_start
    receiver.wait_for(
        lambda evts: (
            [e["type"] for e in evts]
            == [
                "invoice.created",
                "invoice.finalized",
                "customer.subscription.created",
                "invoice.paid",
                "invoice.payment_succeeded",
                "customer.subscription.updated",
            ]
        )
    )


def test_allow_incomplete_with_tax_and_coupon(client: stripe.StripeClient) -> None:
    price = monthly_price(client)
    _, cus = clock_customer(client)
    tax = client.v1.tax_rates.create(
        params={"display_name": "HST", "percentage": 13, "inclusive": False}
    )
    coupon = client.v1.coupons.create(params={"percent_off": 50, "duration": "once"})
    sub = client.v1.subscriptions.create(
        params={
            "customer": cus.id,
            "items": [{"price": price.id}],
            "default_tax_rates": [tax.id],
            "discounts": [{"coupon": coupon.id}],
            "expand": ["latest_invoice"],
        }
    )
    assert sub.status == "active"
    inv = sub.latest_invoice
    assert inv.subtotal == 1000
    assert inv.total == 565
    assert inv.status == "paid"
    assert client.v1.coupons.retrieve(coupon.id).times_redeemed == 1


def test_decline_on_create_leaves_incomplete(client: stripe.StripeClient) -> None:
    price = monthly_price(client)
    _, cus = clock_customer(client, "pm_card_chargeCustomerFail")
    sub = client.v1.subscriptions.create(
        params={"customer": cus.id, "items": [{"price": price.id}]}
    )
    assert sub.status == "incomplete"
    with pytest.raises(stripe.CardError):
        client.v1.subscriptions.create(
            params={
                "customer": cus.id,
                "items": [{"price": price.id}],
                "payment_behavior": "error_if_incomplete",
            }
        )


def test_renewal_and_failed_renewal_with_test_clock(fresh: Server, receiver: Receiver) -> None:
    c = fresh.client
    c.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["invoice.payment_failed"]}
    )
    price = monthly_price(c, 2000)
    clock, cus = clock_customer(c)
    sub = c.v1.subscriptions.create(params={"customer": cus.id, "items": [{"price": price.id}]})
    assert sub.status == "active"
    first_end = sub["items"].data[0].current_period_end
    clock = advance(c, clock, 32 * DAY)
    sub = c.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    assert sub.status == "active"
    assert sub["items"].data[0].current_period_start == first_end
    assert sub.latest_invoice.billing_reason == "subscription_cycle"  # type: ignore[union-attr]
    assert sub.latest_invoice.status == "paid"  # type: ignore[union-attr]
    invoices = c.v1.invoices.list(params={"subscription": sub.id})
    assert [i.status for i in invoices.data] == ["paid", "paid"]
    # the card starts failing: the next renewal fails and the subscription goes past_due
    bad = c.v1.payment_methods.attach("pm_card_chargeCustomerFail", params={"customer": cus.id})
    c.v1.customers.update(cus.id, params={"invoice_settings": {"default_payment_method": bad.id}})
    advance(c, clock, 31 * DAY)
    sub = c.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    assert sub.status == "past_due"
    failed = sub.latest_invoice
    assert failed.status == "open"
    assert failed.attempt_count == 1
    receiver.wait_for(lambda evts: "invoice.payment_failed" in [e["type"] for e in evts])
    paid = c.v1.invoices.pay(failed.id, params={"payment_method": "pm_card_visa"})  # type: ignore[union-attr]
    assert paid.status == "paid"
    assert c.v1.subscriptions.retrieve(sub.id).status == "active"


def test_trial_then_first_charge(client: stripe.StripeClient) -> None:
    price = monthly_price(client, 1500)
    clock, cus = clock_customer(client)
    sub = client.v1.subscriptions.create(
        params={
            "customer": cus.id,
            "trial_period_days": 7,
            "items": [{"price": price.id}],
            "expand": ["latest_invoice"],
        }
    )
    assert sub.status == "trialing"
    assert sub.latest_invoice.amount_due == 0  # type: ignore[union-attr]
    advance(client, clock, 8 * DAY)
    sub = client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    assert sub.status == "active"
    assert sub.latest_invoice.amount_paid == 1500  # type: ignore[union-attr]


def test_cancel_at_period_end_resume_and_cancel_now(client: stripe.StripeClient) -> None:
    price = monthly_price(client)
    clock, cus = clock_customer(client)
    sub = client.v1.subscriptions.create(
        params={"customer": cus.id, "items": [{"price": price.id}]}
    )
    sub = client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    assert sub.cancel_at_period_end is True
    assert sub.cancel_at == sub["items"].data[0].current_period_end
    sub = client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": False})
    assert sub.cancel_at_period_end is False
    assert sub.cancel_at is None
    client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    advance(client, clock, 40 * DAY)
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "canceled"
    assert sub.ended_at
    other = client.v1.subscriptions.create(
        params={"customer": cus.id, "items": [{"price": price.id}]}
    )
    gone = client.v1.subscriptions.cancel(other.id)
    assert gone.status == "canceled"
    listed = client.v1.subscriptions.list(params={"customer": cus.id, "status": "all"})
    assert {s.id for s in listed.data} == {sub.id, other.id}
    assert client.v1.subscriptions.list(params={"customer": cus.id}).data == []


def test_switch_price_with_prorations(client: stripe.StripeClient) -> None:
    basic = monthly_price(client, 1000)
    pro = client.v1.prices.create(
        params={
            "product": basic.product,
            "currency": "cad",  # type: ignore[typeddict-item]
            "unit_amount": 3000,
            "recurring": {"interval": "month"},
        }
    )
    clock, cus = clock_customer(client)
    sub = client.v1.subscriptions.create(
        params={"customer": cus.id, "items": [{"price": basic.id}]}
    )
    advance(client, clock, 15 * DAY)
    item = sub["items"].data[0]
    sub = client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": item.id, "price": pro.id}],
            "proration_behavior": "always_invoice",
            "expand": ["latest_invoice"],
        },
    )
    assert sub["items"].data[0].price.id == pro.id
    inv = sub.latest_invoice
    assert inv.billing_reason == "subscription_update"  # type: ignore[union-attr]
    amounts = [li.amount for li in inv.lines.data]  # type: ignore[union-attr]
    assert amounts[0] < 0 < amounts[1]
    assert 900 < sum(amounts) < 1100  # about half a month of the 2000 difference
    assert inv.status == "paid"  # type: ignore[union-attr]
    sub = client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": item.id, "price": basic.id}],
            "proration_behavior": "none",
            "expand": ["latest_invoice"],
        },
    )
    assert sub.latest_invoice.id == inv.id  # type: ignore[union-attr]


def test_incomplete_expires(client: stripe.StripeClient) -> None:
    price = monthly_price(client)
    clock, cus = clock_customer(client, None)
    sub = client.v1.subscriptions.create(
        params={
            "customer": cus.id,
            "items": [{"price": price.id}],
            "payment_behavior": "default_incomplete",
        }
    )
    assert sub.status == "incomplete"
    advance(client, clock, DAY)
    sub = client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    assert sub.status == "incomplete_expired"
    assert sub.latest_invoice.status == "void"  # type: ignore[union-attr]


def yearly_price_of(c: stripe.StripeClient, monthly: stripe.Price, amount: int) -> stripe.Price:
    return c.v1.prices.create(
        params={
            "product": str(monthly.product),
            "currency": "cad",
            "unit_amount": amount,
            "recurring": {"interval": "year"},
        }
    )


def subscribed(c: stripe.StripeClient, price: stripe.Price) -> tuple[Any, stripe.Subscription]:
    clock, cus = clock_customer(c)
    sub = c.v1.subscriptions.create(params={"customer": cus.id, "items": [{"price": price.id}]})
    assert sub.status == "active"
    return clock, sub


@pytest.mark.parametrize("proration_behavior", ["create_prorations", "none"])
def test_switching_to_a_yearly_price_restarts_the_cycle_and_invoices_at_once(
    client: stripe.StripeClient, proration_behavior: str
) -> None:
    # given a monthly subscription ten days into its period
    monthly = monthly_price(client, 1000)
    yearly = yearly_price_of(client, monthly, 10000)
    clock, sub = subscribed(client, monthly)
    clock = advance(client, clock, 10 * DAY)
    # when it switches to the yearly price
    sub = client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": sub["items"].data[0].id, "price": yearly.id}],
            "proration_behavior": proration_behavior,  # type: ignore[typeddict-item]
            "expand": ["latest_invoice"],
        },
    )
    # then a one-year period starts now and its first invoice is paid at once
    item = sub["items"].data[0]
    assert sub.billing_cycle_anchor == clock.frozen_time
    assert item.current_period_start == clock.frozen_time
    assert item.current_period_end - item.current_period_start in (365 * DAY, 366 * DAY)
    invoice = sub.latest_invoice
    assert invoice.billing_reason == "subscription_update"  # type: ignore[union-attr]
    assert invoice.status == "paid"  # type: ignore[union-attr]
    amounts = [line.amount for line in invoice.lines.data]  # type: ignore[union-attr]
    assert 10000 in amounts
    credits = [a for a in amounts if a < 0]
    # with prorations the unused month is credited; without, nothing is
    assert bool(credits) == (proration_behavior == "create_prorations")


def test_portal_plan_switch_to_yearly_restarts_the_cycle(shared: Server) -> None:
    c = shared.client
    # given a monthly subscriber in the billing portal
    monthly = monthly_price(c, 1000)
    yearly = yearly_price_of(c, monthly, 10000)
    clock, sub = subscribed(c, monthly)
    portal = c.v1.billing_portal.sessions.create(params={"customer": str(sub.customer)})
    # when they switch to the yearly plan there
    r = shared.http.post(
        portal.url, data={"action": "switch", "subscription": sub.id, "price": yearly.id}
    )
    assert r.status_code == 200
    # then the yearly period starts now and is invoiced at once
    sub = c.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    item = sub["items"].data[0]
    assert item.price.id == yearly.id
    assert item.current_period_end - item.current_period_start in (365 * DAY, 366 * DAY)
    assert sub.latest_invoice.billing_reason == "subscription_update"  # type: ignore[union-attr]
    assert sub.latest_invoice.status == "paid"  # type: ignore[union-attr]


def test_create_with_cancel_at_period_end_sets_cancel_at(client: stripe.StripeClient) -> None:
    # given a customer with a card
    price = monthly_price(client)
    _, cus = clock_customer(client)
    # when they subscribe with cancel_at_period_end
    sub = client.v1.subscriptions.create(
        params={"customer": cus.id, "items": [{"price": price.id}], "cancel_at_period_end": True}
    )
    # then the subscription is set to end with its first period
    assert sub.cancel_at_period_end is True
    assert sub.cancel_at == sub["items"].data[0].current_period_end


def test_failed_renewal_announces_its_retry_and_the_retry_collects(
    fresh: Server, receiver: Receiver
) -> None:
    c = fresh.client
    c.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["invoice.payment_failed"]}
    )
    # given a subscriber whose card fails at renewal
    price = monthly_price(c, 2000)
    clock, cus = clock_customer(c, "pm_card_chargeCustomerFail")
    sub = c.v1.subscriptions.create(
        params={"customer": cus.id, "items": [{"price": price.id}], "trial_period_days": 3}
    )
    # when the renewal fails
    clock = advance(c, clock, 4 * DAY)
    sub = c.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    failed = sub.latest_invoice
    # then the invoice says when it is tried again, and so does the event
    assert sub.status == "past_due"
    assert failed.next_payment_attempt == clock.frozen_time + 3 * DAY  # type: ignore[union-attr]
    evts = receiver.wait_for(lambda e: any(x["type"] == "invoice.payment_failed" for x in e))
    sent = evts[-1]["data"]["object"]
    assert sent["next_payment_attempt"] == clock.frozen_time + 3 * DAY
    # when a good card is in place by then and the retry comes
    good = c.v1.payment_methods.attach("pm_card_visa", params={"customer": cus.id})
    c.v1.customers.update(cus.id, params={"invoice_settings": {"default_payment_method": good.id}})
    advance(c, clock, 3 * DAY + 60)
    # then the retry pays the invoice and the subscription is active again
    invoice = c.v1.invoices.retrieve(failed.id)  # type: ignore[union-attr]
    assert invoice.status == "paid"
    assert invoice.next_payment_attempt is None
    assert invoice.attempt_count == 2
    assert c.v1.subscriptions.retrieve(sub.id).status == "active"


def test_retries_stop_after_the_schedule(client: stripe.StripeClient) -> None:
    # given a renewal that keeps failing
    price = monthly_price(client, 2000)
    clock, cus = clock_customer(client, "pm_card_chargeCustomerFail")
    sub = client.v1.subscriptions.create(
        params={"customer": cus.id, "items": [{"price": price.id}], "trial_period_days": 1}
    )
    clock = advance(client, clock, 2 * DAY)
    invoice_id = str(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    # when every retry of the schedule (3, 5 and 7 days apart) has failed
    for days in (3, 5, 7):
        clock = advance(client, clock, days * DAY + 60)
    # then four attempts were made and none is announced any more
    invoice = client.v1.invoices.retrieve(invoice_id)
    assert invoice.status == "open"
    assert invoice.attempt_count == 4
    assert invoice.next_payment_attempt is None


def test_subscription_items_price_data_makes_an_inline_price(client: stripe.StripeClient) -> None:
    # given a product and no price for it
    prod = client.v1.products.create(params={"name": "Inline club"})
    cus = client.v1.customers.create()
    # when a subscription names its price inline
    sub = client.v1.subscriptions.create(
        params={
            "customer": cus.id,
            "items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "product": prod.id,
                        "unit_amount": 700,
                        "recurring": {"interval": "month"},
                    }
                }
            ],
            "default_payment_method": "pm_card_visa",
            "expand": ["latest_invoice"],
        }
    )
    # then a recurring price is made for it and the first invoice charges it
    price = sub["items"].data[0].price
    assert price.id.startswith("price_")
    assert (price.product, price.unit_amount, price.type) == (prod.id, 700, "recurring")
    assert price.recurring is not None
    assert price.recurring.interval == "month"
    assert sub.status == "active"
    assert sub.latest_invoice.amount_paid == 700  # type: ignore[union-attr]
    # and an update can switch to another inline price
    sub = client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [
                {
                    "id": sub["items"].data[0].id,
                    "price_data": {
                        "currency": "usd",
                        "product": prod.id,
                        "unit_amount": 900,
                        "recurring": {"interval": "month"},
                    },
                }
            ],
            "proration_behavior": "none",
        },
    )
    assert sub["items"].data[0].price.unit_amount == 900
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.create(
            params={
                "customer": cus.id,
                "items": [
                    {
                        "price_data": {
                            "currency": "usd",
                            "product": "prod_nope",
                            "unit_amount": 700,
                            "recurring": {"interval": "month"},
                        }
                    }
                ],
            }
        )
    assert exc.value.param == "items[0][price_data][product]"  # type: ignore[union-attr]


def test_deleting_a_test_clock_deletes_its_customers_and_subscriptions(
    client: stripe.StripeClient,
) -> None:
    # given a test clock with a subscribed customer, and a customer without a clock
    clock, cus = clock_customer(client)
    sub = client.v1.subscriptions.create(
        params={"customer": cus.id, "items": [{"price": monthly_price(client).id}]}
    )
    assert sub.status == "active"
    other = client.v1.customers.create()
    # when the clock is deleted
    client.v1.test_helpers.test_clocks.delete(clock.id)
    # then its customer is deleted and its subscription is gone, the other customer stays
    assert client.v1.customers.retrieve(cus.id).to_dict().get("deleted") is True
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.retrieve(sub.id)
    assert exc.value.code == "resource_missing"
    assert sub.id not in [
        s.id for s in client.v1.subscriptions.list(params={"status": "all", "limit": 100}).data
    ]
    assert client.v1.customers.retrieve(other.id).to_dict().get("deleted") is None
