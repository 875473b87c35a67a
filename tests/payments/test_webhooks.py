"""The Stripe webhook endpoint: signatures, duplicates, races, chaos, and a database outage."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import text

from shop import db
from shop.services import reconciliation, stripe_api
from shop.settings import get_settings
from tests.payments.conftest import Customer, Shop, sign, wait_until

DEAD_DATABASE_URL = "postgresql://nobody@127.0.0.1:1/unreachable"


def _order(shop: Shop, customer: Customer, product_id: int, quantity: int = 1) -> dict[str, Any]:
    response = shop.start_checkout(customer, [(product_id, quantity)])
    assert response.status_code == 201, response.text
    return response.json()


def _pay_in_browser(payment_intent_id: str, payment_method: str = "pm_card_visa") -> str:
    """Confirm the PaymentIntent straight with Stripe, as the Payment Element does."""
    try:
        intent = stripe_api.client().v1.payment_intents.confirm(
            payment_intent_id, params={"payment_method": payment_method}
        )
    except stripe.CardError:
        return "declined"
    return str(intent.status)


def _in_parallel(count: int, work: Any) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except Exception as exc:  # reported through the results
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_the_same_succeeded_event_5_times_from_20_threads_fulfils_once(shop: Shop):
    # given a paid order whose webhook the sandbox holds back
    shop.control("webhooks/pause")
    customer = shop.customer()
    product_id = shop.product(files=3, inventory_count=10)
    body = _order(shop, customer, product_id, quantity=2)
    assert _pay_in_browser(body["payment_intent_id"]) == "succeeded"
    event = shop.stripe_event("payment_intent.succeeded", body["payment_intent_id"])
    payload = json.dumps(event)

    # when 20 threads each deliver it 5 times, all at once
    def deliver(_index: int) -> list[int]:
        with httpx.Client(base_url=shop.url, timeout=60) as client:
            return [
                client.post(
                    "/api/webhooks/stripe",
                    content=payload.encode(),
                    headers={"Stripe-Signature": sign(payload)},
                ).status_code
                for _ in range(5)
            ]

    results = _in_parallel(20, deliver)

    # then every delivery is acknowledged and the order is fulfilled exactly once
    statuses = [status for result in results for status in result]
    assert len(statuses) == 100
    assert set(statuses) == {200}
    assert shop.order(body["order_id"]).status == "paid"
    assert shop.grant_count(body["order_id"]) == 3
    assert shop.inventory(product_id) == 8
    assert shop.receipt_rows(body["order_id"]) == 1
    wait_until(lambda: len(shop.receipts_sent(body["order_id"])) > 0)
    time.sleep(0.2)
    assert len(shop.receipts_sent(body["order_id"])) == 1
    assert shop.event_rows("payment_intent.succeeded") == 1


def test_success_page_and_webhook_racing_fulfil_once(shop: Shop):
    # given an order paid in the browser, its webhook held back and then sent 5 times over
    shop.control("webhooks/pause")
    customer = shop.customer()
    product_id = shop.product(files=2, inventory_count=4)
    body = _order(shop, customer, product_id)
    assert _pay_in_browser(body["payment_intent_id"]) == "succeeded"
    shop.control("webhooks/duplicate", {"copies": 5})

    # when ten success-page status checks race the webhook deliveries
    def work(index: int) -> Any:
        if index == 0:
            return shop.control("webhooks/resume")
        return shop.status(customer, body["order_id"]).json()["status"]

    results = _in_parallel(11, work)
    shop.flush_webhooks()

    # then every check says paid and everything happened once
    assert results[1:] == ["paid"] * 10
    assert shop.grant_count(body["order_id"]) == 2
    assert shop.inventory(product_id) == 3
    assert shop.receipt_rows(body["order_id"]) == 1
    wait_until(lambda: len(shop.receipts_sent(body["order_id"])) > 0)
    assert len(shop.receipts_sent(body["order_id"])) == 1
    delivered = shop.deliveries("payment_intent.succeeded")
    assert len(delivered) == 5
    assert {d["http_status"] for d in delivered} == {200}


def test_shuffled_and_duplicated_events_reach_the_right_final_state(shop: Shop):
    # given five orders whose payments go different ways while webhooks are held back
    shop.control("webhooks/pause")
    customer = shop.customer()
    product_id = shop.product(files=1)
    paid, declined_then_paid, declined, canceled, failed_3ds = (
        _order(shop, customer, product_id) for _ in range(5)
    )
    assert _pay_in_browser(paid["payment_intent_id"]) == "succeeded"
    assert (
        _pay_in_browser(declined_then_paid["payment_intent_id"], "pm_card_visa_chargeDeclined")
        == "declined"
    )
    assert _pay_in_browser(declined_then_paid["payment_intent_id"]) == "succeeded"
    assert (
        _pay_in_browser(declined["payment_intent_id"], "pm_card_visa_chargeDeclined") == "declined"
    )
    stripe_api.cancel_payment_intent(
        payment_intent_id=canceled["payment_intent_id"], idempotency_key="test:cancel"
    )
    assert (
        _pay_in_browser(failed_3ds["payment_intent_id"], "pm_card_authenticationRequired")
        == "requires_action"
    )
    shop.control(
        f"payment_intents/{failed_3ds['payment_intent_id']}/authenticate", {"outcome": "fail"}
    )

    # when the sandbox delivers everything shuffled and twice over
    shop.control("webhooks/shuffle", {"enabled": True, "seed": 7})
    shop.control("webhooks/duplicate", {"copies": 2})
    shop.control("webhooks/resume")
    shop.flush_webhooks()

    # then each order ends where its payment ended, delivered once when paid
    expected = {
        paid["order_id"]: ("paid", 1),
        declined_then_paid["order_id"]: ("paid", 1),
        declined["order_id"]: ("failed", 0),
        canceled["order_id"]: ("canceled", 0),
        failed_3ds["order_id"]: ("failed", 0),
    }
    wait_until(
        lambda: (
            {oid: shop.order(oid).status for oid in expected}
            == {oid: status for oid, (status, _) in expected.items()}
        )
    )
    for order_id, (_status, grants) in expected.items():
        assert shop.grant_count(order_id) == grants
        assert shop.receipt_rows(order_id) == grants
    assert all(d["http_status"] == 200 for d in shop.deliveries())


@pytest.mark.parametrize(
    ("case", "make_header"),
    [
        ("wrong secret", lambda payload: sign(payload, secret="whsec_not_ours")),
        ("stale timestamp", lambda payload: sign(payload, timestamp=int(time.time()) - 301)),
        ("future timestamp", lambda payload: sign(payload, timestamp=int(time.time()) + 301)),
        ("no signature", lambda payload: ""),
        ("garbage header", lambda payload: "t=soon,v1=nothing"),
    ],
)
def test_a_bad_signature_or_timestamp_is_refused_and_nothing_is_written(
    shop: Shop, case: str, make_header: Any
):
    # given a real succeeded event for a paid order, webhooks held back
    shop.control("webhooks/pause")
    customer = shop.customer()
    product_id = shop.product()
    body = _order(shop, customer, product_id)
    _pay_in_browser(body["payment_intent_id"])
    payload = json.dumps(shop.stripe_event("payment_intent.succeeded", body["payment_intent_id"]))

    # when it arrives with a bad signature
    response = shop.post_event(payload, make_header(payload))

    # then it is refused with 400 and nothing is stored or fulfilled
    assert response.status_code == 400, case
    assert response.json()["error"]["code"] == "invalid_webhook"
    assert shop.event_rows("payment_intent.succeeded") == 0
    assert shop.order(body["order_id"]).status == "pending"
    assert shop.grant_count(body["order_id"]) == 0


def test_a_body_changed_after_signing_is_refused(shop: Shop):
    # given a signed event whose amount is then edited
    shop.control("webhooks/pause")
    customer = shop.customer()
    body = _order(shop, customer, shop.product())
    _pay_in_browser(body["payment_intent_id"])
    event = shop.stripe_event("payment_intent.succeeded", body["payment_intent_id"])
    header = sign(json.dumps(event))
    event["data"]["object"]["amount"] = 1

    # when it is delivered
    response = shop.post_event(json.dumps(event), header)

    # then the signature no longer matches
    assert response.status_code == 400
    assert shop.event_rows("payment_intent.succeeded") == 0


def test_a_succeeded_payment_that_does_not_match_the_order_is_not_fulfilled(shop: Shop):
    # given an order and a correctly signed event claiming it was paid a different amount
    shop.control("webhooks/pause")
    customer = shop.customer()
    body = _order(shop, customer, shop.product())
    _pay_in_browser(body["payment_intent_id"])
    event = shop.stripe_event("payment_intent.succeeded", body["payment_intent_id"])
    event["id"] = "evt_forged_amount"
    event["data"]["object"]["amount"] = 1
    payload = json.dumps(event)

    # when it is delivered
    response = shop.post_event(payload, sign(payload))

    # then it is acknowledged (retrying cannot fix it) but nothing is delivered
    assert response.status_code == 200
    assert shop.order(body["order_id"]).status == "pending"
    assert shop.grant_count(body["order_id"]) == 0


def test_a_payment_event_delivered_hours_late_pays_the_order_when_it_happened(shop: Shop):
    # given a paid order whose payment_intent.succeeded event Stripe could only deliver hours
    # after it happened (the shop was down; Stripe retries for days)
    shop.control("webhooks/pause")
    customer = shop.customer()
    body = _order(shop, customer, shop.product())
    _pay_in_browser(body["payment_intent_id"])
    event = shop.stripe_event("payment_intent.succeeded", body["payment_intent_id"])
    happened = int(time.time()) - 5 * 3600
    event["created"] = happened
    payload = json.dumps(event)

    # when it finally arrives
    response = shop.post_event(payload, sign(payload))

    # then the order is paid at the event's time, not at the delivery's
    assert response.status_code == 200, response.text
    order = shop.order(body["order_id"])
    assert order.status == "paid"
    assert order.paid_at is not None
    assert int(order.paid_at.timestamp()) == happened


def test_unknown_event_types_are_stored_and_acknowledged(shop: Shop):
    # given an event type the shop has no handler for
    event = {
        "id": "evt_unknown_type_1",
        "object": "event",
        "type": "customer.tax_id.created",
        "created": int(time.time()),
        "data": {"object": {"id": "txi_1", "object": "tax_id"}},
    }
    payload = json.dumps(event)

    # when it is delivered twice
    first = shop.post_event(payload, sign(payload))
    second = shop.post_event(payload, sign(payload))

    # then both get 2xx and it is stored once
    assert first.status_code == 200
    assert first.json()["handled"] is False
    assert second.status_code == 200
    assert second.json()["duplicate"] is True
    assert shop.event_rows("customer.tax_id.created") == 1


def test_database_down_during_a_webhook_answers_5xx_and_the_retry_fulfils(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, database_url: str
):
    # given an order awaiting payment
    customer = shop.customer()
    product_id = shop.product(files=1, inventory_count=2)
    body = _order(shop, customer, product_id)

    # when the database becomes unreachable and the customer pays
    monkeypatch.setenv("DATABASE_URL", DEAD_DATABASE_URL)
    get_settings.cache_clear()
    assert _pay_in_browser(body["payment_intent_id"]) == "succeeded"
    wait_until(
        lambda: any(
            d["status"] == "failed" and d["http_status"] == 503
            for d in shop.deliveries("payment_intent.succeeded")
        )
    )

    # then the webhook was refused with 5xx and nothing was recorded
    assert shop.order(body["order_id"]).status == "pending"
    assert shop.event_rows("payment_intent.succeeded") == 0

    # and when the database is back, the sandbox's retry fulfils the order
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    wait_until(lambda: shop.order(body["order_id"]).status == "paid", timeout=30)
    assert shop.grant_count(body["order_id"]) == 1
    assert shop.inventory(product_id) == 1
    # (the sandbox logs the delivery when the answer reaches it, just after the shop committed)
    wait_until(lambda: shop.deliveries("payment_intent.succeeded")[-1]["http_status"] == 200)


@contextmanager
def _locked_by_another_process(database_url: str) -> Iterator[None]:
    """What a long migration or a backup does: SQLite's write lock taken from a connection of
    its own, or on PostgreSQL the webhook events table locked against everyone."""
    if database_url.startswith("sqlite"):
        holder = sqlite3.connect(database_url.split("///", 1)[-1], isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    with db.get_engine(database_url).connect() as connection:
        connection.execute(text("LOCK TABLE webhook_events IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            connection.rollback()


def test_a_locked_database_answers_503_before_stripe_gives_up_and_a_later_delivery_fulfils_once(
    shop: Shop, database_url: str
):
    # given a paid order whose webhooks the sandbox holds back
    shop.control("webhooks/pause")
    customer = shop.customer()
    product_id = shop.product(files=1, inventory_count=2)
    body = _order(shop, customer, product_id)
    assert _pay_in_browser(body["payment_intent_id"]) == "succeeded"
    payload = json.dumps(shop.stripe_event("payment_intent.succeeded", body["payment_intent_id"]))

    # when its event arrives while another process holds the database locked
    with _locked_by_another_process(database_url):
        started = time.monotonic()
        refused = shop.post_event(payload, sign(payload))
        waited = time.monotonic() - started

    # then the answer is 503 `unavailable`, well within the ~10 s Stripe waits (it took two
    # 10 s busy timeouts, 20 s, before), and nothing was stored or fulfilled
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "unavailable"
    assert waited < 8, f"answered after {waited:.1f} s"
    assert shop.event_rows("payment_intent.succeeded") == 0
    assert shop.order(body["order_id"]).status == "pending"

    # when Stripe delivers it again once the lock is gone, and the sandbox's copy follows
    again = shop.post_event(payload, sign(payload))
    shop.control("webhooks/resume")
    shop.flush_webhooks()

    # then the order is fulfilled, once
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is False
    assert shop.order(body["order_id"]).status == "paid"
    assert shop.grant_count(body["order_id"]) == 1
    assert shop.inventory(product_id) == 1
    assert shop.receipt_rows(body["order_id"]) == 1
    assert shop.event_rows("payment_intent.succeeded") == 1
    # (the sandbox logs the delivery when the answer reaches it, just after the shop committed)
    wait_until(lambda: shop.deliveries("payment_intent.succeeded")[-1]["http_status"] == 200)


def test_reconciliation_fulfils_a_paid_order_whose_webhooks_were_all_lost(shop: Shop):
    # given an order paid in the browser whose webhook deliveries are all dropped
    shop.control("webhooks/drop", {"count": 100, "retry": False})
    customer = shop.customer()
    product_id = shop.product(files=1)
    body = _order(shop, customer, product_id)
    assert _pay_in_browser(body["payment_intent_id"]) == "succeeded"
    shop.flush_webhooks()
    assert shop.order(body["order_id"]).status == "pending"

    # when the reconciliation job runs
    first = reconciliation.run_reconciliation(min_age=timedelta(0))

    # then the order is fulfilled from what Stripe says, once
    assert [(r["order_id"], r["action"]) for r in first.repaired if r["kind"] == "order"] == [
        (body["order_id"], "paid: fulfilled")
    ]
    assert shop.order(body["order_id"]).status == "paid"
    assert shop.grant_count(body["order_id"]) == 1
    second = reconciliation.run_reconciliation(min_age=timedelta(0))
    assert [r for r in second.repaired if r["kind"] == "order"] == []
    assert shop.grant_count(body["order_id"]) == 1
