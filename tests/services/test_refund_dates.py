"""A refund counts on the day Stripe made it, even when the shop hears of it days later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from shop.models import Refund
from shop.services import refunds
from shop.services.stripe_api import RefundInfo
from tests.download_factories import make_purchase
from tests.factories import make_user

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _refund(order, created: datetime, refund_id: str) -> RefundInfo:  # type: ignore[no-untyped-def]
    return RefundInfo(
        id=refund_id,
        amount=100,
        currency=order.currency,
        status="succeeded",
        payment_intent_id=order.stripe_payment_intent_id,
        charge_id=None,
        reason=None,
        metadata={},
        created=int(created.timestamp()),
    )


def test_a_refund_heard_of_late_is_dated_when_stripe_made_it(session: Session):
    # given a paid order, and a refund Stripe made two days before the shop heard of it
    order = make_purchase(session, make_user(session)).order
    made = NOW - timedelta(days=2, hours=3)
    # when it is recorded now
    refunds.record_refund(session=session, refund=_refund(order, made, "re_late"), now=NOW)
    # then it is dated when it was made
    row = session.exec(select(Refund).where(Refund.stripe_refund_id == "re_late")).one()
    assert row.created_at == made
    assert row.updated_at == NOW


def test_a_refund_dated_ahead_of_our_clock_is_dated_now(session: Session):
    order = make_purchase(session, make_user(session)).order
    ahead = NOW + timedelta(minutes=5)
    refunds.record_refund(session=session, refund=_refund(order, ahead, "re_ahead"), now=NOW)
    row = session.exec(select(Refund).where(Refund.stripe_refund_id == "re_ahead")).one()
    assert row.created_at == NOW
