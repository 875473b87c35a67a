"""Reconciliation repairs what webhooks missed, through the same idempotent functions, once."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
import stripe
from sqlalchemy import update
from sqlmodel import col, func, select

from shop import jobs
from shop.__main__ import main
from shop.models import AuditLog, Order, ReconciliationRun, Refund, utcnow
from shop.services import checkout, orders, reconciliation, stripe_api
from shop.settings import get_settings
from tests.payments.conftest import Customer, Shop, wait_until


def _order(shop: Shop, buyer: Customer, product_id: int, quantity: int = 1) -> dict[str, Any]:
    response = shop.start_checkout(buyer, [(product_id, quantity)])
    assert response.status_code == 201, response.text
    return response.json()


def _pay_in_browser(payment_intent_id: str, payment_method: str = "pm_card_visa") -> str:
    """Confirm straight with Stripe, as the Payment Element does: the shop hears nothing."""
    try:
        intent = stripe_api.client().v1.payment_intents.confirm(
            payment_intent_id, params={"payment_method": payment_method}
        )
    except stripe.CardError:
        return "declined"
    return str(intent.status)


def _state(shop: Shop, order_ids: list[int], product_id: int) -> dict[str, Any]:
    """Everything a second run could double."""
    return {
        "status": {oid: shop.order(oid).status for oid in order_ids},
        "grants": {oid: shop.grant_count(oid) for oid in order_ids},
        "receipts": {oid: shop.receipt_rows(oid) for oid in order_ids},
        "inventory": shop.inventory(product_id),
    }


def test_orders_paid_while_webhooks_are_paused_are_all_repaired_and_a_second_run_changes_nothing(
    shop: Shop,
):
    # given webhooks paused while three orders are paid, one declined and one canceled
    shop.control("webhooks/pause")
    buyer = shop.customer()
    product_id = shop.product(price=1000, files=2, inventory_count=20)
    paid = [_order(shop, buyer, product_id) for _ in range(3)]
    declined = _order(shop, buyer, product_id)
    canceled = _order(shop, buyer, product_id)
    for body in paid:
        assert _pay_in_browser(body["payment_intent_id"]) == "succeeded"
    assert _pay_in_browser(declined["payment_intent_id"], "pm_card_visa_chargeDeclined") == (
        "declined"
    )
    stripe_api.cancel_payment_intent(
        payment_intent_id=canceled["payment_intent_id"], idempotency_key="test:cancel"
    )
    everything = [b["order_id"] for b in [*paid, declined, canceled]]
    assert {shop.order(oid).status for oid in everything} == {"pending"}

    # when reconciliation runs
    first = reconciliation.run_reconciliation(trigger="manual", min_age=timedelta(0))

    # then every paid order is fulfilled once, the declined one failed, the canceled one canceled
    after_first = _state(shop, everything, product_id)
    assert after_first["status"] == {
        **{b["order_id"]: "paid" for b in paid},
        declined["order_id"]: "failed",
        canceled["order_id"]: "canceled",
    }
    assert after_first["grants"] == {
        **dict.fromkeys(everything, 0),
        **{b["order_id"]: 2 for b in paid},
    }
    assert after_first["inventory"] == 17
    for body in paid:
        wait_until(lambda body=body: len(shop.receipts_sent(body["order_id"])) == 1)
    assert first.error is None
    assert sorted((r["order_id"], r["kind"]) for r in first.repaired) == sorted(
        (oid, "order") for oid in everything
    )
    # and Stripe's undelivered events were taken in, so no backlog is left
    assert first.events_checked > 0
    assert first.backlog_undelivered == 0

    # when it runs again, and then the held-back webhooks arrive after all
    second = reconciliation.run_reconciliation(trigger="manual", min_age=timedelta(0))
    shop.control("webhooks/resume")
    shop.flush_webhooks()

    # then nothing changed: no repair, no second grant, receipt or stock movement
    assert second.repaired == []
    assert second.error is None
    assert _state(shop, everything, product_id) == after_first
    for body in paid:
        assert len(shop.receipts_sent(body["order_id"])) == 1
    assert all(d["http_status"] == 200 for d in shop.deliveries())
    with shop.session() as session:
        runs = session.exec(select(ReconciliationRun).order_by(ReconciliationRun.id)).all()
        assert [(r.trigger, r.repaired_count) for r in runs] == [("manual", 5), ("manual", 0)]


def test_an_undelivered_event_of_a_fresh_order_is_processed_like_its_webhook(shop: Shop):
    # given an order paid a moment ago while webhooks are paused (too young to ask Stripe about)
    shop.control("webhooks/pause")
    buyer = shop.customer()
    product_id = shop.product(files=1)
    body = _order(shop, buyer, product_id)
    assert _pay_in_browser(body["payment_intent_id"]) == "succeeded"

    # when reconciliation runs with its default minimum age
    summary = reconciliation.run_reconciliation(trigger="manual")

    # then the undelivered payment_intent.succeeded event fulfilled it, as the webhook would have
    assert summary.orders_checked == 0
    assert [(r["kind"], r["reference"].startswith("evt_")) for r in summary.repaired] == [
        ("event", True)
    ]
    assert shop.order(body["order_id"]).status == "paid"
    assert shop.grant_count(body["order_id"]) == 1
    assert shop.event_rows("payment_intent.succeeded") == 1


def test_a_refund_made_in_stripe_while_webhooks_are_lost_is_found_by_reconciliation(shop: Shop):
    # given a paid order, then webhooks paused and a full refund made in the Stripe dashboard
    buyer = shop.customer()
    product_id = shop.product(price=1000, files=1, inventory_count=3)
    body = _order(shop, buyer, product_id)
    assert shop.confirm(buyer, body["payment_intent_id"], "pm_card_visa").json()["status"] == "paid"
    shop.flush_webhooks()
    shop.control("webhooks/pause")
    stripe_api.client().v1.refunds.create(params={"payment_intent": body["payment_intent_id"]})
    assert shop.order(body["order_id"]).status == "paid"

    # when reconciliation runs (from the command line)
    assert main(["reconcile"]) == 0

    # then the refund is recorded once and the order refunded, its stock restored
    with shop.session() as session:
        rows = session.exec(select(Refund).where(Refund.order_id == body["order_id"])).all()
        assert [(r.amount, r.source) for r in rows] == [(body["amount"]["total"], "stripe")]
    assert shop.order(body["order_id"]).status == "refunded"
    assert shop.inventory(product_id) == 3

    # and a second run, and the late webhooks, record nothing more
    second = reconciliation.run_reconciliation(trigger="cli")
    shop.control("webhooks/resume")
    shop.flush_webhooks()
    assert second.repaired == []
    with shop.session() as session:
        count = session.exec(select(func.count()).select_from(Refund)).one()
    assert count == 1
    assert shop.inventory(product_id) == 3


def test_reconciliation_is_a_periodic_job_run_once_per_tick(shop: Shop):
    # given the registered job, under a name of its own for this test (tick claims outlive a
    # test in Redis)
    job = jobs.JOBS["reconcile"]
    assert job.every == timedelta(minutes=15)
    name = f"reconcile-test-{secrets.token_hex(4)}"
    jobs.periodic(name, every=job.every)(job.run)
    try:
        # when two schedulers fire in the same tick
        first = jobs.run_job(name)
        second = jobs.run_job(name)
    finally:
        jobs.JOBS.pop(name, None)
    # then one ran it (and stored a run) and the other did not
    assert isinstance(first, str)
    assert first.startswith("repaired=0")
    assert second is None
    with shop.session() as session:
        runs = session.exec(select(ReconciliationRun)).all()
    assert [run.trigger for run in runs] == ["schedule"]


def test_the_admin_runs_reconciliation_by_api_and_reads_the_last_run_and_backlog(shop: Shop):
    # given an order paid while webhooks are paused: Stripe holds undelivered events for it
    shop.control("webhooks/pause")
    admin = shop.customer("owner@example.com", roles=("admin",))
    buyer = shop.customer()
    body = _order(shop, buyer, shop.product(files=1))
    assert _pay_in_browser(body["payment_intent_id"]) == "succeeded"
    before = shop.http.get("/api/admin/reconciliation", headers=admin.headers).json()
    assert before["last_run"] is None
    assert before["backlog"]["undelivered"] >= 1

    # when the admin runs reconciliation through the API
    ran = shop.http.post("/api/admin/reconciliation/run", headers=admin.headers)

    # then the run repaired the order, and the status page shows it with no backlog left
    assert ran.status_code == 200, ran.text
    assert ran.json()["repaired_count"] == 1
    assert ran.json()["repaired"][0]["order_number"] == shop.order(body["order_id"]).number
    after = shop.http.get("/api/admin/reconciliation", headers=admin.headers).json()
    assert after["last_run"]["id"] == ran.json()["id"]
    assert after["last_run"]["trigger"] == "manual"
    assert after["backlog"] == {"unprocessed": 0, "undelivered": 0}
    assert shop.order(body["order_id"]).status == "paid"
    with shop.session() as session:
        actions = session.exec(
            select(AuditLog.action).where(AuditLog.actor_email == "owner@example.com")
        ).all()
    assert actions == ["reconciliation.run"]


def test_an_order_left_without_a_payment_intent_is_closed_once_it_is_old_enough(shop: Shop):
    # given two orders the shop placed but stopped before asking Stripe for a PaymentIntent:
    # one from an hour ago and one from a moment ago
    buyer = shop.customer()
    product_id = shop.product(files=1)
    placed = []
    with shop.session() as session:
        for age in (timedelta(hours=1), timedelta(0)):
            order = orders.place_order(
                session=session,
                buyer_id=buyer.id,
                items=[orders.LineRequest(product_id, 1)],
                billing=orders.Billing(country="CA", region="ON"),
                now=utcnow() - age,
            )
            placed.append(order.id)
    old, young = placed

    # when reconciliation runs with its default minimum age, twice
    first = reconciliation.run_reconciliation(trigger="manual")
    second = reconciliation.run_reconciliation(trigger="manual")

    # then the old one is canceled with the reason (nobody could ever pay it), the young one is
    # left to the checkout still starting it, and the second run changes nothing
    assert shop.order(old).status == "canceled"
    assert "No payment was started" in (shop.order(old).payment_error or "")
    assert shop.order(young).status == "pending"
    assert [(r["action"], r["order_id"]) for r in first.repaired] == [
        ("never started: canceled", old)
    ]
    assert second.repaired == []


def _last_touched(shop: Shop, order_id: int, hours_ago: float) -> None:
    with shop.session() as session:
        session.execute(
            update(Order)
            .where(col(Order.id) == order_id)
            .values(updated_at=utcnow() - timedelta(hours=hours_ago))
        )


def test_orders_left_unpaid_past_the_expiry_are_closed_and_their_payments_canceled(shop: Shop):
    # given, with webhooks paused, four orders last touched by their buyer: one left unpaid
    # (with the last copy of a product) and one declined, 25 hours ago; one paid at Stripe
    # 25 hours ago whose webhook was lost; one left unpaid 23 hours ago
    assert get_settings().unpaid_order_expiry_hours == 24
    shop.control("webhooks/pause")
    buyer, other = shop.customer("a@example.com"), shop.customer("b@example.com")
    product_id = shop.product(price=1000, files=1)
    last_copy = shop.product(price=500, files=1, inventory_count=1)
    abandoned = _order(shop, buyer, last_copy)
    declined = _order(shop, buyer, product_id)
    paid = _order(shop, buyer, product_id)
    recent = _order(shop, buyer, product_id)
    refused = shop.confirm(buyer, declined["payment_intent_id"], "pm_card_visa_chargeDeclined")
    assert refused.status_code == 402, refused.text
    assert _pay_in_browser(paid["payment_intent_id"]) == "succeeded"
    for body, hours in ((abandoned, 25), (declined, 25), (paid, 25), (recent, 23)):
        _last_touched(shop, body["order_id"], hours)

    # when reconciliation runs, twice
    first = reconciliation.run_reconciliation(trigger="manual")
    second = reconciliation.run_reconciliation(trigger="manual")

    # then the abandoned and declined orders are closed, saying why, and their PaymentIntents
    # canceled at Stripe as abandoned; the paid one is fulfilled; the recent one is left alone
    for body in (abandoned, declined):
        status = shop.status(buyer, body["order_id"]).json()
        assert status["status"] == "canceled"
        assert status["payment_error"] == {
            "code": "order_canceled",
            "message": checkout.ABANDONED.message,
        }
        intent = shop.stripe().v1.payment_intents.retrieve(body["payment_intent_id"])
        assert (intent.status, intent.cancellation_reason) == ("canceled", "abandoned")
    assert shop.order(paid["order_id"]).status == "paid"
    assert shop.grant_count(paid["order_id"]) == 1
    assert shop.order(recent["order_id"]).status == "pending"
    hours = "unpaid for 24 h: canceled"
    assert sorted((r["order_id"], r["action"], r["reference"]) for r in first.repaired) == [
        (abandoned["order_id"], hours, abandoned["payment_intent_id"]),
        (declined["order_id"], hours, declined["payment_intent_id"]),
        (paid["order_id"], "paid: fulfilled", paid["payment_intent_id"]),
    ]
    assert first.error is None
    assert second.repaired == []
    # and the last copy the abandoned order held is free for another customer
    assert shop.start_checkout(other, [(last_copy, 1)]).status_code == 201


def test_closing_abandoned_orders_stops_the_run_when_stripe_is_down(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
):
    # given an order left unpaid for two days, and Stripe unreachable
    buyer = shop.customer()
    body = _order(shop, buyer, shop.product(files=1))
    _last_touched(shop, body["order_id"], 48)

    def unreachable(**_kwargs: object) -> None:
        raise stripe_api.StripeUnavailable("connection refused")

    monkeypatch.setattr(stripe_api, "cancel_payment_intent", unreachable)

    # when reconciliation runs
    run = reconciliation.run_reconciliation(trigger="manual")

    # then nothing is closed and the run says Stripe did not answer
    assert shop.order(body["order_id"]).status == "pending"
    assert run.repaired == []
    assert (run.error or "").startswith("Stripe:")


def _point_at(shop: Shop, order_id: int, payment_intent_id: str) -> None:
    with shop.session() as session:
        session.execute(
            update(Order)
            .where(col(Order.id) == order_id)
            .values(stripe_payment_intent_id=payment_intent_id)
        )


def test_payment_intents_stripe_does_not_know_stop_neither_the_run_nor_the_other_repairs(
    shop: Shop,
):
    # given, with webhooks paused, two orders whose PaymentIntents this Stripe account does
    # not know (other keys since, or a restored backup): one left 25 hours ago, one an hour
    # ago; and an order paid at Stripe whose webhook was lost
    shop.control("webhooks/pause")
    buyer = shop.customer()
    product_id = shop.product(files=1)
    old, young, paid = (_order(shop, buyer, product_id) for _ in range(3))
    _point_at(shop, old["order_id"], "pi_unknown_to_stripe_old")
    _point_at(shop, young["order_id"], "pi_unknown_to_stripe_young")
    _last_touched(shop, old["order_id"], 25)
    assert _pay_in_browser(paid["payment_intent_id"]) == "succeeded"

    # when reconciliation runs
    run = reconciliation.run_reconciliation(trigger="manual", min_age=timedelta(0))

    # then the old order is closed (nothing can be paid through it), the young one is left and
    # reported, and the paid one is fulfilled: the run went on past both
    assert shop.order(old["order_id"]).status == "canceled"
    assert shop.order(young["order_id"]).status == "pending"
    assert shop.order(paid["order_id"]).status == "paid"
    assert "pi_unknown_to_stripe_young" in (run.error or "")
    assert "pi_unknown_to_stripe_old" not in (run.error or "")
    assert run.events_checked > 0


def test_undelivered_subscription_events_are_replayed_without_errors(shop: Shop):
    from tests.payments.test_subscriptions_api import make_plan, subscribe

    # given a membership bought while webhooks were paused (its events carry prices, whose
    # `unit_amount_decimal` the SDK reads as a Decimal)
    shop.control("webhooks/pause")
    customer = shop.customer()
    subscribed = subscribe(shop, customer, make_plan(shop))
    assert subscribed.status_code == 201, subscribed.text

    # when reconciliation replays what Stripe could not deliver
    summary = reconciliation.run_reconciliation(trigger="manual")

    # then every event was stored and processed, with nothing failed
    assert summary.failed == []
    assert summary.error is None
    assert summary.events_checked >= 2
    assert shop.event_rows("customer.subscription.created") == 1
    assert shop.event_rows("invoice.paid") == 1


def test_with_stripe_unreachable_the_run_says_so_in_one_line_without_a_traceback(
    shop_env: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    # given a Stripe address where nothing listens (a port bound but never listening)
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    monkeypatch.setenv("STRIPE_API_BASE", f"http://127.0.0.1:{closed.getsockname()[1]}")
    get_settings.cache_clear()
    try:
        # when reconciliation runs
        with caplog.at_level("WARNING", logger="shop.reconciliation"):
            run = reconciliation.run_reconciliation(trigger="manual")
    finally:
        closed.close()
        get_settings.cache_clear()
    # then the run's error says Stripe was not reached, in one line, and the log has no
    # traceback (an expected outage is not a crash)
    assert run.error is not None
    assert run.error.startswith("Stripe: no connection (")
    assert "\n" not in run.error
    assert "support@stripe.com" not in run.error
    stopped = [r for r in caplog.records if "reconciliation stopped" in r.getMessage()]
    assert len(stopped) == 1
    assert stopped[0].exc_info is None
