"""Subscription rules against the real sandbox and database: plan families, tax rates made
once, each paid invoice one order under racing calls, events that arrive late or are not ours."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlmodel import Session, func, select

from shop import db
from shop.models import DownloadGrant, Order, OrderEmail, Product, ProductFile, Subscription
from shop.models.accounts import User
from shop.services import catalog_sync, orders, stripe_api, subscriptions, webhooks
from shop.services.tax import TaxLine
from shop.settings import get_settings
from tests.concurrency import at_once
from tests.factories import make_product, make_user

pytestmark = pytest.mark.usefixtures("shop_stripe")


def _plan(session: Session, **fields: Any) -> Product:
    product = make_product(
        session, price_amount=900, kind="subscription", interval="month", **fields
    )
    session.add(
        ProductFile(
            product_id=product.id,  # type: ignore[arg-type]
            storage_key=f"files/{product.slug}.txt",
            original_name=f"{product.slug}.txt",
            size_bytes=1,
            sha256="0" * 64,
        )
    )
    session.flush()
    assert catalog_sync.sync_product(session=session, product_id=product.id).status == "synced"  # type: ignore[arg-type]
    return product


def _raw(path: str) -> dict[str, Any]:
    """An object as Stripe sends it in an event (plain JSON, not the SDK's object)."""
    settings = get_settings()
    answer = httpx.get(
        f"{settings.stripe_api_base}{path}",
        headers={"Authorization": f"Bearer {settings.effective_stripe_secret_key}"},
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _subscribed_at_stripe(
    session: Session, billing: orders.Billing
) -> tuple[str, stripe_api.SubscriptionInfo]:
    """A new customer subscribed to a new plan at Stripe, by another path than the shop's API
    (so the shop has heard nothing of it): (their Stripe Customer, the subscription)."""
    plan = _plan(session)
    user = make_user(session)
    session.commit()
    customer_id = subscriptions.ensure_customer(user_id=user.id)  # type: ignore[arg-type]
    card = stripe_api.attach_payment_method(
        payment_method="pm_card_visa", customer_id=customer_id, idempotency_key=f"t{time.time()}"
    )
    taxes = subscriptions.plan_tax(product=plan, billing=billing, on=datetime.now(UTC).date())
    return customer_id, stripe_api.create_subscription(
        customer_id=customer_id,
        price_id=plan.stripe_price_id or "",
        default_payment_method=card,
        tax_rate_ids=subscriptions.stripe_tax_rates(taxes),
        metadata={"billing_country": billing.country, "billing_region": billing.region or ""},
        idempotency_key=f"t{time.time()}:sub",
    )


def _record_first_invoice(customer_id: str, info: stripe_api.SubscriptionInfo) -> None:
    """What invoice.paid for the subscription's first invoice does."""
    with db.session_scope() as own:
        subscriptions.sync(
            session=own,
            stripe_subscription_id=info.id,
            customer_id=customer_id,
            invoice_id=info.latest_invoice_id,
        )


def _count(session: Session, model: Any) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())


def test_plans_of_one_membership_share_a_family():
    # given plans in one category, plans without one, and another membership
    monthly = Product(slug="club-monthly", name="m", price_amount=1, category_id=3)
    yearly = Product(slug="club-yearly", name="y", price_amount=1, category_id=3)
    loose_monthly = Product(slug="maple-club-monthly", name="m", price_amount=1)
    loose_yearly = Product(slug="maple-club-yearly", name="y", price_amount=1)
    other = Product(slug="garden-club-yearly", name="g", price_amount=1)
    # then the family is the category, else the slug without its interval
    assert subscriptions.plan_family(monthly) == subscriptions.plan_family(yearly)
    assert subscriptions.plan_family(loose_monthly) == subscriptions.plan_family(loose_yearly)
    assert subscriptions.plan_family(other) != subscriptions.plan_family(loose_yearly)


def test_tax_rates_are_made_once_and_found_again_by_their_key():
    from decimal import Decimal

    hst = TaxLine("HST", "CA-ON", Decimal("0.13"), 117, None)
    gst = TaxLine("GST", "CA", Decimal("0.05"), 45, None)
    qst = TaxLine("QST", "CA-QC", Decimal("0.09975"), 90, None)
    # when the same taxes are asked for twice, and again by a process that remembers nothing
    first = subscriptions.stripe_tax_rates([hst, gst, qst])
    second = subscriptions.stripe_tax_rates([hst, gst, qst])
    subscriptions._tax_rate_ids.clear()
    third = subscriptions.stripe_tax_rates([hst, gst, qst])
    # then each tax is one exclusive Stripe TaxRate with its exact percentage
    assert first == second == third
    assert len(set(first)) == 3
    qst_rate = stripe_api.retrieve_tax_rate(tax_rate_id=first[2])
    assert (qst_rate.percentage, qst_rate.inclusive, qst_rate.jurisdiction) == (
        "9.975",
        False,
        "CA-QC",
    )


def test_a_paid_invoice_is_one_order_however_many_calls_record_it_at_once(
    session: Session, database_url: str
):
    # given a customer subscribed at Stripe (by another path than the shop's API)
    customer_id, info = _subscribed_at_stripe(session, orders.Billing("US"))
    assert info.latest_invoice_id

    # when six webhooks' worth of calls record its invoice at the same instant
    def record() -> None:
        with db.session_scope(database_url) as own:
            subscriptions.sync(
                session=own,
                stripe_subscription_id=info.id,
                customer_id=customer_id,
                invoice_id=info.latest_invoice_id,
            )

    at_once([record] * 6)
    # then there is one subscription, one order, one grant and one receipt
    session.expire_all()
    assert _count(session, Subscription) == 1
    (order,) = session.exec(select(Order)).all()
    assert (order.status, order.total_amount, order.stripe_invoice_id) == (
        "paid",
        900,
        info.latest_invoice_id,
    )
    assert _count(session, DownloadGrant) == 1
    assert _count(session, OrderEmail) == 1


def test_a_subscription_event_before_invoice_paid_makes_the_order_already(session: Session):
    # given a customer subscribed at Stripe, the shop having heard nothing yet
    customer_id, info = _subscribed_at_stripe(session, orders.Billing("CA", "ON"))
    subscription_object = _raw(f"/v1/subscriptions/{info.id}")

    # when customer.subscription.created comes first, and invoice.paid after it
    with db.session_scope() as own:
        webhooks.receive_event(
            session=own, event=_event("customer.subscription.created", subscription_object, 1)
        )
    session.expire_all()
    (order,) = session.exec(select(Order)).all()
    _record_first_invoice(customer_id, info)

    # then the first event made the active membership's order, and the second added nothing
    assert (order.status, order.total_amount, order.stripe_invoice_id) == (
        "paid",
        1017,
        info.latest_invoice_id,
    )
    session.expire_all()
    assert _count(session, Order) == 1
    assert _count(session, DownloadGrant) == 1
    assert _count(session, OrderEmail) == 1


def _event(event_type: str, data_object: dict[str, Any], n: int) -> stripe_api.StripeEvent:
    payload = {
        "id": f"evt_test_{n}_{time.monotonic_ns()}",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": data_object},
    }
    return stripe_api.StripeEvent(
        id=payload["id"],  # type: ignore[arg-type]
        type=event_type,
        created=payload["created"],  # type: ignore[arg-type]
        data_object=data_object,
        payload=payload,
    )


def test_an_event_delivered_late_never_brings_back_an_older_state(session: Session):
    # given a subscription started through the shop, then canceled at Stripe
    plan = _plan(session)
    user = make_user(session)
    session.commit()
    started = subscriptions.start(
        user_id=user.id,  # type: ignore[arg-type]
        product_id=plan.id,  # type: ignore[arg-type]
        billing=orders.Billing(country="CA", region="ON"),
        payment_method="pm_card_visa",
    )
    assert isinstance(started, subscriptions.SubscriptionDetail)
    stripe_id = started.subscription.stripe_subscription_id
    created_object = _raw(f"/v1/subscriptions/{stripe_id}")
    subscriptions.cancel(user_id=user.id, subscription_id=started.subscription.id, immediately=True)  # type: ignore[arg-type]
    # when the old customer.subscription.created (status active) arrives after that
    with db.session_scope() as own:
        outcome = webhooks.receive_event(
            session=own, event=_event("customer.subscription.created", created_object, 1)
        )
    # then the subscription stays canceled, as Stripe has it
    assert outcome.detail == "subscription canceled"
    session.expire_all()
    row = session.get(Subscription, started.subscription.id)
    assert row is not None
    assert row.status == "canceled"


def test_events_about_customers_the_shop_does_not_know_change_nothing(session: Session):
    # given a subscription at Stripe for a customer that is not one of the shop's
    plan = _plan(session)
    session.commit()
    client = stripe_api.client()
    stranger = client.v1.customers.create(params={"email": "stranger@example.com"})
    card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": stranger.id})
    sub = client.v1.subscriptions.create(
        params={
            "customer": stranger.id,
            "items": [{"price": plan.stripe_price_id or ""}],
            "default_payment_method": card.id,
        }
    )
    invoice = _raw(f"/v1/invoices/{sub.latest_invoice}")
    # when its events arrive
    with db.session_scope() as own:
        paid = webhooks.receive_event(session=own, event=_event("invoice.paid", invoice, 2))
        updated = webhooks.receive_event(
            session=own,
            event=_event("customer.subscription.updated", _raw(f"/v1/subscriptions/{sub.id}"), 3),
        )
    # then they are acknowledged and nothing is made
    assert (paid.detail, updated.detail) == ("unknown customer", "unknown customer")
    assert _count(session, Subscription) == 0
    assert _count(session, Order) == 0


def test_a_user_gets_one_stripe_customer(session: Session):
    user = make_user(session)
    session.commit()
    first = subscriptions.ensure_customer(user_id=user.id)  # type: ignore[arg-type]
    second = subscriptions.ensure_customer(user_id=user.id)  # type: ignore[arg-type]
    session.expire_all()
    stored = session.get(User, user.id)
    assert stored is not None
    assert first == second == stored.stripe_customer_id


def test_reconciliation_repairs_a_subscription_whose_events_never_came(session: Session):
    from datetime import timedelta

    from shop.services import reconciliation

    # given a subscription the shop never heard of (its events were lost), for its customer
    _customer_id, info = _subscribed_at_stripe(session, orders.Billing("CA", "ON"))
    user_id = session.exec(select(User.id)).one()
    # when reconciliation runs, twice
    first = reconciliation.run_reconciliation(trigger="test", min_age=timedelta(0))
    second = reconciliation.run_reconciliation(trigger="test", min_age=timedelta(0))
    # then the subscription and its paid order are here, made once
    session.expire_all()
    (row,) = session.exec(select(Subscription)).all()
    assert (row.stripe_subscription_id, row.status, row.user_id) == (info.id, "active", user_id)
    (order,) = session.exec(select(Order)).all()
    assert (order.status, order.total_amount, order.tax_amount) == ("paid", 1017, 117)
    assert order.stripe_invoice_id == info.latest_invoice_id
    kinds = [item["action"] for item in first.repaired if item["kind"] == "subscription"]
    assert kinds == ["subscription missing → active", "paid invoice made its order"]
    assert [item for item in second.repaired if item["kind"] == "subscription"] == []


def test_staff_search_finds_a_membership_order_by_invoice_subscription_or_customer_id(
    session: Session,
):
    from shop.services import backoffice

    # given a membership whose first invoice made an order
    customer_id, info = _subscribed_at_stripe(session, orders.Billing("CA", "ON"))
    _record_first_invoice(customer_id, info)
    session.expire_all()
    (order,) = session.exec(select(Order)).all()
    # when staff search by any of the Stripe ids of it, then that order is found
    for stripe_id in (info.latest_invoice_id, info.id, customer_id):
        rows, total = backoffice.search_orders(session=session, q=stripe_id)
        assert ([row.id for row in rows], total) == ([order.id], 1), stripe_id
    # and ids of the same kinds that Stripe never gave find nothing
    for stranger in ("in_nothing", "sub_nothing", "cus_nothing"):
        assert backoffice.search_orders(session=session, q=stranger) == ([], 0)
