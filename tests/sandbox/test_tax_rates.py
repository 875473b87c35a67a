"""Tax rates on Checkout line items, on subscription items and as inclusive default rates."""

from __future__ import annotations

import stripe


def hst(c: stripe.StripeClient, inclusive: bool = False, percentage: float = 13) -> stripe.TaxRate:
    return c.v1.tax_rates.create(
        params={"display_name": "HST", "percentage": percentage, "inclusive": inclusive}
    )


def price(c: stripe.StripeClient, amount: int, monthly: bool = False) -> stripe.Price:
    prod = c.v1.products.create(params={"name": "Taxed"})
    params: dict = {"product": prod.id, "currency": "cad", "unit_amount": amount}
    if monthly:
        params["recurring"] = {"interval": "month"}
    return c.v1.prices.create(params=params)


def test_checkout_line_item_tax_rates_are_added_to_the_total(client: stripe.StripeClient) -> None:
    # given a $12.00 item and a 13 % exclusive tax rate
    rate = hst(client)
    item = price(client, 1200)
    untaxed = price(client, 500)
    # when a payment Checkout Session puts the rate on that line only
    cs = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://x.example/ok",
            "line_items": [
                {"price": item.id, "quantity": 1, "tax_rates": [rate.id]},
                {"price": untaxed.id, "quantity": 1},
            ],
        }
    )
    # then the session charges the tax and its line items show where it comes from
    assert (cs.amount_subtotal, cs.amount_total) == (1700, 1856)
    assert cs.total_details is not None
    assert cs.total_details.amount_tax == 156
    lines = client.v1.checkout.sessions.line_items.list(cs.id).data
    assert [(li.amount_subtotal, li.amount_tax, li.amount_total) for li in lines] == [
        (1200, 156, 1356),
        (500, 0, 500),
    ]


def test_checkout_inclusive_line_item_tax_stays_inside_the_total(
    client: stripe.StripeClient,
) -> None:
    rate = hst(client, inclusive=True, percentage=5)
    item = price(client, 1000)
    cs = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://x.example/ok",
            "line_items": [{"price": item.id, "quantity": 1, "tax_rates": [rate.id]}],
        }
    )
    assert cs.amount_total == 1000
    assert cs.total_details is not None
    assert cs.total_details.amount_tax == 48


def test_subscription_item_tax_rates_are_invoiced(client: stripe.StripeClient) -> None:
    # given a $10.00 monthly plan and a 13 % exclusive tax rate
    rate = hst(client)
    plan = price(client, 1000, monthly=True)
    cus = client.v1.customers.create()
    # when the subscription's item carries the rate
    sub = client.v1.subscriptions.create(
        params={
            "customer": cus.id,
            "items": [{"price": plan.id, "tax_rates": [rate.id]}],
            "default_payment_method": "pm_card_visa",
            "expand": ["latest_invoice"],
        }
    )
    # then the first invoice adds the tax and the item shows its rate
    inv = sub.latest_invoice
    assert isinstance(inv, stripe.Invoice)
    assert (inv.subtotal, inv.total, inv.amount_paid) == (1000, 1130, 1130)
    assert inv.total_taxes is not None
    assert [(t.amount, t.taxable_amount) for t in inv.total_taxes] == [(130, 1000)]
    assert inv.total_taxes[0].tax_rate_details.tax_rate == rate.id  # type: ignore[union-attr]
    assert inv.lines.data[0].taxes is not None
    assert [t.amount for t in inv.lines.data[0].taxes] == [130]
    assert [r.id for r in sub["items"].data[0].tax_rates or []] == [rate.id]
    assert sub.status == "active"


def test_subscription_update_sets_an_items_tax_rates(client: stripe.StripeClient) -> None:
    rate = hst(client, percentage=5)
    plan = price(client, 1000, monthly=True)
    bigger = client.v1.prices.create(
        params={
            "product": plan.product,  # type: ignore[typeddict-item]
            "currency": "cad",
            "unit_amount": 2000,
            "recurring": {"interval": "month"},
        }
    )
    cus = client.v1.customers.create()
    sub = client.v1.subscriptions.create(
        params={
            "customer": cus.id,
            "items": [{"price": plan.id}],
            "default_payment_method": "pm_card_visa",
        }
    )
    item = sub["items"].data[0]
    # when the plan changes at once with the new item taxed
    sub = client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": item.id, "price": bigger.id, "tax_rates": [rate.id]}],
            "proration_behavior": "always_invoice",
            "expand": ["latest_invoice"],
        },
    )
    assert [r.id for r in sub["items"].data[0].tax_rates or []] == [rate.id]
    inv = sub.latest_invoice
    assert isinstance(inv, stripe.Invoice)
    # then the credit for the old, untaxed item carries no tax; the new item's time carries 5 %
    credit, charge = inv.lines.data
    assert credit.amount < 0
    assert credit.taxes == []
    assert charge.taxes is not None
    assert [t.amount for t in charge.taxes] == [round(charge.amount * 0.05)]
    assert inv.total_taxes is not None
    assert inv.total == inv.subtotal + inv.total_taxes[0].amount


def test_an_inclusive_default_tax_rate_is_inside_the_invoice_total(
    client: stripe.StripeClient,
) -> None:
    # given a $10.00 plan with a 5 % inclusive default tax rate
    rate = hst(client, inclusive=True, percentage=5)
    plan = price(client, 1000, monthly=True)
    cus = client.v1.customers.create()
    sub = client.v1.subscriptions.create(
        params={
            "customer": cus.id,
            "items": [{"price": plan.id}],
            "default_tax_rates": [rate.id],
            "default_payment_method": "pm_card_visa",
            "expand": ["latest_invoice"],
        }
    )
    inv = sub.latest_invoice
    assert isinstance(inv, stripe.Invoice)
    # then the $0.48 of tax is inside the $10.00 total
    assert (inv.total, inv.total_excluding_tax) == (1000, 952)
    assert inv.total_taxes is not None
    assert [(t.amount, t.taxable_amount, t.tax_behavior) for t in inv.total_taxes] == [
        (48, 952, "inclusive")
    ]
