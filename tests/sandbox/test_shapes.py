"""Every object the sandbox returns carries the fields of Stripe's published fixture."""

from __future__ import annotations

from typing import Any

import stripe

from .conftest import FIXTURES, RETURN_URL, Server

# fields Stripe only returns in some responses
CREATE_ONLY = {"webhook_endpoint": {"secret"}}


def check(obj: Any, type_: str | None = None) -> None:
    data = obj.to_dict() if hasattr(obj, "to_dict") else obj
    type_ = type_ or data["object"]
    if data.get("deleted"):
        type_ = "deleted_" + type_
    expected = set(FIXTURES[type_])
    got = set(data) - CREATE_ONLY.get(type_, set())
    assert got == expected, (type_, sorted(got - expected), sorted(expected - got))


def test_shapes_match_fixtures(shared: Server) -> None:
    c = shared.client
    cus = c.v1.customers.create(params={"email": "shape@example.com"})
    prod = c.v1.products.create(params={"name": "Shape"})
    price = c.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "usd",
            "unit_amount": 700,
            "recurring": {"interval": "year"},
        }
    )
    pm = c.v1.payment_methods.attach("pm_card_visa", params={"customer": cus.id})
    pi = c.v1.payment_intents.create(
        params={
            "amount": 700,
            "currency": "usd",
            "customer": cus.id,
            "payment_method": pm.id,
            "confirm": True,
            "return_url": RETURN_URL,
        }
    )
    ch = c.v1.charges.retrieve(pi.latest_charge)  # type: ignore[arg-type]
    txn = c.v1.balance_transactions.retrieve(ch.balance_transaction)  # type: ignore[arg-type]
    refund = c.v1.refunds.create(params={"payment_intent": pi.id, "amount": 100})
    we = c.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/x", "enabled_events": ["charge.succeeded"]}
    )
    assert we.secret.startswith("whsec_")  # type: ignore[union-attr]
    coupon = c.v1.coupons.create(params={"percent_off": 5})
    promo = c.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}}
    )
    evt = c.v1.events.list(params={"limit": 1}).data[0]
    objs = [
        cus,
        prod,
        price,
        pm,
        pi,
        ch,
        txn,
        refund,
        we,
        coupon,
        promo,
        evt,
        c.v1.webhook_endpoints.retrieve(we.id),
        c.v1.customers.delete(cus.id),
        c.v1.webhook_endpoints.delete(we.id),
        c.v1.coupons.delete(coupon.id),
    ]
    for obj in objs:
        check(obj)
    check(evt.data.object)
    assert isinstance(pi, stripe.PaymentIntent)


def test_billing_shapes_match_fixtures(shared: Server) -> None:
    c = shared.client
    cus = c.v1.customers.create()
    pm = c.v1.payment_methods.attach("pm_card_visa", params={"customer": cus.id})
    prod = c.v1.products.create(params={"name": "Plan"})
    price = c.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "usd",
            "unit_amount": 700,
            "recurring": {"interval": "month"},
        }
    )
    tax = c.v1.tax_rates.create(params={"display_name": "GST", "percentage": 5, "inclusive": False})
    sub = c.v1.subscriptions.create(
        params={
            "customer": cus.id,
            "default_payment_method": pm.id,
            "items": [{"price": price.id}],
            "default_tax_rates": [tax.id],
        }
    )
    inv = c.v1.invoices.retrieve(sub.latest_invoice)  # type: ignore[arg-type]
    cs = c.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "success_url": "https://x.example/ok",
            "line_items": [{"price": price.id, "quantity": 1}],
        }
    )
    portal = c.v1.billing_portal.sessions.create(params={"customer": cus.id})
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": 1_800_000_000})
    for obj in [sub, inv, cs, portal, clock, tax, sub["items"].data[0], inv.lines.data[0]]:
        check(obj)
    check(c.v1.test_helpers.test_clocks.delete(clock.id))
    assert isinstance(sub, stripe.Subscription)


def test_balance_and_account_answer_as_key_checks(shared: Server) -> None:
    # given one payment made through the sandbox
    c = shared.client
    c.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "return_url": RETURN_URL,
        }
    )
    # when code checks its key by asking for the balance and the account
    balance = c.v1.balance.retrieve()
    account = c.v1.accounts.retrieve_current()
    # then both answer with Stripe's shapes; the payment's net is pending
    check(balance)
    check(account)
    eur = [b for b in balance.pending if b.currency == "eur"]
    assert len(eur) == 1
    assert 0 < eur[0].amount < 1000
    assert account.id.startswith("acct_")
    assert account.charges_enabled is True
