"""fulfil_order: exactly once, under 20 threads at once, and never for a payment that does not
match the order. The PaymentIntent is given as the adapter's dataclass (a fake at the port)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session, func, select

from shop import db
from shop.models import DownloadGrant, Order, OrderEmail, Product, ProductFile, PromoCode
from shop.services import auth, orders, promo_codes
from shop.services.fulfilment import fulfil_order, grants_for_order
from shop.services.stripe_api import PaymentIntentInfo
from tests.factories import make_product


def _paid_intent(order: Order, **changes: object) -> PaymentIntentInfo:
    fields: dict = {
        "id": "pi_test_1",
        "status": "succeeded",
        "amount": order.total_amount,
        "currency": order.currency,
        "metadata": {"order_id": str(order.id)},
    }
    fields.update(changes)
    return PaymentIntentInfo(**fields)


def _setup(database_url: str) -> tuple[int, int, PaymentIntentInfo]:
    with db.session_scope(database_url) as session:
        user = auth.create_user(session=session, email="race@example.com", password=None)
        product = make_product(session, price_amount=1000, inventory_count=10)
        for n in range(2):
            session.add(
                ProductFile(
                    product_id=product.id,  # type: ignore[arg-type]
                    storage_key=f"files/race-{n}",
                    original_name=f"race-{n}.zip",
                    size_bytes=1,
                    sha256="0" * 64,
                )
            )
        promo_codes.create_promo_code(session=session, code="RACE10", percent_off=10)
        order = orders.place_order(
            session=session,
            buyer_id=user.id,  # type: ignore[arg-type]
            items=[orders.LineRequest(product.id, 3)],  # type: ignore[arg-type]
            billing=orders.Billing(country="CA", region="ON"),
            promo_code="RACE10",
        )
        return order.id, product.id, _paid_intent(order)  # type: ignore[return-value]


def test_twenty_threads_fulfilling_one_order_fulfil_it_once(shop_env: Path, database_url: str):
    # given a pending order with two files, limited stock and a promo code
    order_id, product_id, intent = _setup(database_url)
    barrier = threading.Barrier(20)
    outcomes: list[object] = []

    # when 20 threads fulfil it at the same moment, each in its own transaction
    def work() -> None:
        barrier.wait()
        try:
            with db.session_scope(database_url) as session:
                outcomes.append(
                    fulfil_order(session=session, order_id=order_id, payment_intent=intent)
                )
        except Exception as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=work) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # then exactly one did it, none failed, and everything exists once
    assert [type(o).__name__ for o in outcomes] == ["FulfilmentOutcome"] * 20
    assert sum(o.fulfilled_now for o in outcomes) == 1  # type: ignore[attr-defined]
    with db.session_scope(database_url) as session:
        assert session.get(Order, order_id).status == "paid"  # type: ignore[union-attr]
        assert len(grants_for_order(session=session, order_id=order_id)) == 2
        assert session.get(Product, product_id).inventory_count == 7  # type: ignore[union-attr]
        assert session.exec(select(PromoCode.times_redeemed)).one() == 1
        assert session.exec(select(func.count()).select_from(OrderEmail)).one() == 1
    assert len(list((shop_env / "outbox").glob("*.eml"))) == 1


def test_a_payment_that_does_not_match_the_order_fulfils_nothing(
    session: Session, database_url: str
):
    # given a pending order
    order_id, _product_id, intent = _setup(database_url)
    order = session.get(Order, order_id)
    assert order is not None

    # when payments arrive with the wrong amount, currency, order, or not yet succeeded
    wrong = [
        _paid_intent(order, amount=order.total_amount - 1),
        _paid_intent(order, currency="usd"),
        _paid_intent(order, metadata={"order_id": str(order_id + 1)}),
        _paid_intent(order, status="processing"),
    ]
    outcomes = [fulfil_order(session=session, order_id=order_id, payment_intent=p) for p in wrong]

    # then none fulfils and each says why
    assert [o.fulfilled_now for o in outcomes] == [False] * 4
    assert all(o.problem for o in outcomes)
    session.refresh(order)
    assert order.status == "pending"
    assert session.exec(select(func.count()).select_from(DownloadGrant)).one() == 0
    # and the right payment still fulfils it
    assert fulfil_order(session=session, order_id=order_id, payment_intent=intent).fulfilled_now


def test_a_payment_heard_of_late_is_paid_when_stripe_took_it(shop_env: Path, database_url: str):
    # given a pending order, and a payment Stripe took three hours ago (webhooks held up)
    order_id, _, intent = _setup(database_url)
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    taken = now - timedelta(hours=3)
    # when it is fulfilled now, told when the payment event happened
    with db.session_scope(database_url) as session:
        fulfil_order(
            session=session,
            order_id=order_id,
            payment_intent=intent,
            paid_at=int(taken.timestamp()),
            now=now,
        )
    # then the order is paid when the payment was taken, and delivered now
    with db.session_scope(database_url) as session:
        order = session.get(Order, order_id)
        assert order is not None
        assert (order.paid_at, order.fulfilled_at) == (taken, now)


def test_the_charge_time_dates_a_payment_found_by_asking_stripe(shop_env: Path, database_url: str):
    # given a PaymentIntent read back from Stripe with its charge expanded, made yesterday
    order_id, _, intent = _setup(database_url)
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    charged = now - timedelta(days=1)
    read = PaymentIntentInfo.from_stripe(
        {
            "id": intent.id,
            "object": "payment_intent",
            "status": "succeeded",
            "amount": intent.amount,
            "currency": intent.currency,
            "metadata": intent.metadata,
            "latest_charge": {
                "id": "ch_1",
                "object": "charge",
                "created": int(charged.timestamp()),
            },
        }
    )
    # when reconciliation fulfils it, then it is paid yesterday; a time ahead of ours is now
    with db.session_scope(database_url) as session:
        fulfil_order(session=session, order_id=order_id, payment_intent=read, now=now)
    with db.session_scope(database_url) as session:
        assert session.get(Order, order_id).paid_at == charged  # type: ignore[union-attr]
