"""Refunds through the shop and straight in Stripe: full, partial, policy, webhooks, once."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from shop.models import AuditLog, DownloadGrant, Order, OrderItem, Refund, utcnow
from shop.models.refunds import RefundReservation
from shop.services import stripe_api
from shop.settings import get_settings
from tests.payments.conftest import Customer, Shop, sign, wait_until


def _paid_order(shop: Shop, buyer: Customer, product_id: int, quantity: int = 1) -> dict[str, Any]:
    started = shop.start_checkout(buyer, [(product_id, quantity)])
    assert started.status_code == 201, started.text
    body = started.json()
    confirmed = shop.confirm(buyer, body["payment_intent_id"], "pm_card_visa")
    assert confirmed.json()["status"] == "paid", confirmed.text
    shop.flush_webhooks()
    return body


def _refund(shop: Shop, staff: Customer, order_id: int, **fields: Any) -> Any:
    return shop.http.post(
        "/api/payments/refund", json={"order_id": order_id, **fields}, headers=staff.headers
    )


def _refund_rows(shop: Shop, order_id: int) -> list[Refund]:
    with shop.session() as session:
        return list(session.exec(select(Refund).where(Refund.order_id == order_id)).all())


def _charge_refunded(payment_intent_id: str) -> int:
    """What Stripe says was refunded of the PaymentIntent's charge."""
    intent = stripe_api.client().v1.payment_intents.retrieve(
        payment_intent_id, params={"expand": ["latest_charge"]}
    )
    return int(intent["latest_charge"]["amount_refunded"])


def _grants_revoked(shop: Shop, order_id: int) -> list[bool]:
    with shop.session() as session:
        grants = session.exec(
            select(DownloadGrant)
            .join(OrderItem, col(OrderItem.id) == col(DownloadGrant.order_item_id))
            .where(OrderItem.order_id == order_id)
        ).all()
        return [grant.revoked_at is not None for grant in grants]


def _refund_mails(shop: Shop, number: str) -> list[str]:
    outbox = shop.data_dir / "outbox"
    found = []
    for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if str(message["Subject"]).startswith("Refund of") and number in str(message["Subject"]):
            found.append(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    return found


def _audit_actions(shop: Shop, order_id: int) -> list[str]:
    with shop.session() as session:
        rows = session.exec(
            select(AuditLog).where(AuditLog.target == f"order:{order_id}").order_by(AuditLog.id)
        ).all()
        return [row.action for row in rows]


def test_a_full_refund_revokes_downloads_restores_stock_emails_and_audits(shop: Shop):
    # given a paid order of two items with files, from limited stock
    admin = shop.customer("owner@example.com", roles=("admin",))
    buyer = shop.customer()
    product_id = shop.product(price=1000, files=2, inventory_count=5)
    body = _paid_order(shop, buyer, product_id, quantity=2)
    assert shop.inventory(product_id) == 3

    # when the admin refunds it without naming an amount
    response = _refund(shop, admin, body["order_id"], reason="Customer bought twice")

    # then Stripe refunded the whole total and the order is refunded at once
    assert response.status_code == 200, response.text
    answer = response.json()
    total = body["amount"]["total"]
    assert answer["status"] == "refunded"
    assert answer["amount"] == answer["refunded_total"] == total
    assert answer["refund_id"].startswith("re_")
    assert _charge_refunded(body["payment_intent_id"]) == total
    assert shop.order(body["order_id"]).status == "refunded"
    # and its downloads are revoked, the stock is back, the customer is told, it is audited
    assert _grants_revoked(shop, body["order_id"]) == [True, True]
    staff_view = shop.http.get(f"/api/admin/orders/{body['order_id']}", headers=admin.headers)
    assert [g["downloads_left"] for g in staff_view.json()["grants"]] == [0, 0]
    assert shop.inventory(product_id) == 5
    number = shop.order(body["order_id"]).number or ""
    wait_until(lambda: len(_refund_mails(shop, number)) == 1)
    assert "$22.60 CAD" in _refund_mails(shop, number)[0]
    assert _audit_actions(shop, body["order_id"]) == ["refund.recorded", "order.refund"]

    # when Stripe's refund.created and charge.refunded webhooks arrive afterwards
    shop.flush_webhooks()
    wait_until(lambda: len(shop.deliveries("charge.refunded")) == 1)

    # then nothing happens twice
    rows = _refund_rows(shop, body["order_id"])
    assert [(r.amount, r.source, r.reason) for r in rows] == [
        (total, "shop", "Customer bought twice")
    ]
    assert shop.inventory(product_id) == 5
    assert len(_refund_mails(shop, number)) == 1
    assert all(d["http_status"] == 200 for d in shop.deliveries())


def test_a_partial_refund_leaves_the_order_partially_refunded_and_downloads_usable(shop: Shop):
    # given a paid order of $11.30
    admin = shop.customer("owner@example.com", roles=("admin",))
    buyer = shop.customer()
    product_id = shop.product(price=1000, inventory_count=5)
    body = _paid_order(shop, buyer, product_id)

    # when $3.00 is refunded
    response = _refund(shop, admin, body["order_id"], amount=300)

    # then the order is partially refunded, in the shop and in Stripe, and still downloadable
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "partially_refunded"
    assert response.json()["refunded_total"] == 300
    assert _charge_refunded(body["payment_intent_id"]) == 300
    shop.flush_webhooks()
    assert shop.order(body["order_id"]).status == "partially_refunded"
    assert _grants_revoked(shop, body["order_id"]) == [False]
    assert shop.inventory(product_id) == 4
    # and no reason is made up for it (staff gave none)
    assert [r.reason for r in _refund_rows(shop, body["order_id"])] == [None]
    # and the buyer's own view of the order says how much came back
    own = shop.http.get(f"/api/orders/{body['order_id']}", headers=buyer.headers).json()
    assert (own["status"], own["refunded_total"]) == ("partially_refunded", 300)


def test_two_partial_refunds_up_to_the_total_make_it_refunded(shop: Shop):
    # given a paid order with $3.00 refunded already
    admin = shop.customer("owner@example.com", roles=("admin",))
    buyer = shop.customer()
    body = _paid_order(shop, buyer, shop.product(price=1000, files=1))
    total = body["amount"]["total"]
    assert _refund(shop, admin, body["order_id"], amount=300).status_code == 200

    # when the rest is refunded as a second partial refund
    second = _refund(shop, admin, body["order_id"], amount=total - 300)

    # then the order is refunded in full, once per Stripe refund, and its downloads revoked
    assert second.status_code == 200, second.text
    assert second.json()["status"] == "refunded"
    assert second.json()["refunded_total"] == total
    shop.flush_webhooks()
    rows = _refund_rows(shop, body["order_id"])
    assert sorted(r.amount for r in rows) == [300, total - 300]
    assert shop.order(body["order_id"]).status == "refunded"
    assert _grants_revoked(shop, body["order_id"]) == [True]
    assert _charge_refunded(body["payment_intent_id"]) == total


def test_refunding_more_than_is_left_is_refused_and_changes_nothing(shop: Shop):
    # given a paid order with $3.00 refunded
    admin = shop.customer("owner@example.com", roles=("admin",))
    buyer = shop.customer()
    body = _paid_order(shop, buyer, shop.product(price=1000))
    total = body["amount"]["total"]
    assert _refund(shop, admin, body["order_id"], amount=300).status_code == 200
    shop.flush_webhooks()

    # when the full total is asked for again, or a zero or negative amount
    over = _refund(shop, admin, body["order_id"], amount=total)
    zero = _refund(shop, admin, body["order_id"], amount=0)
    negative = _refund(shop, admin, body["order_id"], amount=-5)

    # then each is a 422 with a clear error, and nothing changed in the shop or in Stripe
    assert over.status_code == 422, over.text
    assert over.json()["error"]["code"] == "amount_too_large"
    assert "left to refund" in over.json()["error"]["message"]
    assert zero.status_code == 422
    assert negative.status_code == 422
    assert [r.amount for r in _refund_rows(shop, body["order_id"])] == [300]
    assert shop.order(body["order_id"]).status == "partially_refunded"
    assert _charge_refunded(body["payment_intent_id"]) == 300


def test_an_unpaid_or_unknown_order_cannot_be_refunded(shop: Shop):
    # given an order that was never paid
    admin = shop.customer("owner@example.com", roles=("admin",))
    buyer = shop.customer()
    body = shop.start_checkout(buyer, [(shop.product(), 1)]).json()
    # when refunds are asked for it and for an order that does not exist
    unpaid = _refund(shop, admin, body["order_id"])
    missing = _refund(shop, admin, 999999)
    # then 409 and 404
    assert unpaid.status_code == 409
    assert missing.status_code == 404
    assert _refund_rows(shop, body["order_id"]) == []


def test_support_refunds_within_policy_and_is_refused_beyond_it(shop: Shop):
    # given support staff (up to $50.00, within 30 days) and two paid orders: $67.80 and $11.30
    support = shop.customer("helper@example.com", roles=("support",))
    buyer = shop.customer()
    big = _paid_order(shop, buyer, shop.product(price=6000))
    small = _paid_order(shop, buyer, shop.product(price=1000))

    # when support refunds the whole big order, then $50.01 of it, then $50.00 of it
    whole = _refund(shop, support, big["order_id"])
    above = _refund(shop, support, big["order_id"], amount=5001)
    at_limit = _refund(shop, support, big["order_id"], amount=5000)

    # then only the refund within the limit goes through
    assert whole.status_code == 403
    assert whole.json()["error"]["code"] == "refund_over_policy"
    assert above.status_code == 403
    assert at_limit.status_code == 200, at_limit.text
    assert _charge_refunded(big["payment_intent_id"]) == 5000

    # when the small order was paid 31 days ago
    with shop.session() as session:
        order = session.get(Order, small["order_id"])
        assert order is not None
        order.paid_at = utcnow() - timedelta(days=31)
        session.add(order)
    late = _refund(shop, support, small["order_id"], amount=100)

    # then support may not refund it at all, and nothing reached Stripe
    assert late.status_code == 403
    assert "30 days" in late.json()["error"]["message"]
    assert _charge_refunded(small["payment_intent_id"]) == 0
    assert _refund_rows(shop, small["order_id"]) == []


def test_supports_refunds_of_one_order_add_up_against_the_policy(shop: Shop):
    # given support staff (up to $50.00 of an order) who refunded $30.00 of a $67.80 order
    support = shop.customer("helper@example.com", roles=("support",))
    buyer = shop.customer()
    body = _paid_order(shop, buyer, shop.product(price=6000))
    assert _refund(shop, support, body["order_id"], amount=3000).status_code == 200

    # when support refunds $20.01 more of the same order, then $20.00
    above = _refund(shop, support, body["order_id"], amount=2001)
    up_to_the_cap = _refund(shop, support, body["order_id"], amount=2000)

    # then the refund taking the order past $50.00 in all is refused and says why
    assert above.status_code == 403, above.text
    assert above.json()["error"]["code"] == "refund_over_policy"
    assert "$30.00" in above.json()["error"]["message"]
    assert "at most $20.00 CAD more" in above.json()["error"]["message"]
    # and the one reaching it exactly goes through: Stripe refunded $50.00 in all
    assert up_to_the_cap.status_code == 200, up_to_the_cap.text
    assert _charge_refunded(body["payment_intent_id"]) == 5000
    assert sorted(r.amount for r in _refund_rows(shop, body["order_id"])) == [2000, 3000]


def test_an_administrators_refund_counts_against_supports_policy_until_it_fails(shop: Shop):
    # given a $67.80 order of which an administrator refunded $40.00
    admin = shop.customer("owner@example.com", roles=("admin",))
    support = shop.customer("helper@example.com", roles=("support",))
    buyer = shop.customer()
    body = _paid_order(shop, buyer, shop.product(price=6000))
    by_admin = _refund(shop, admin, body["order_id"], amount=4000)
    assert by_admin.status_code == 200, by_admin.text
    shop.flush_webhooks()

    # when support refunds $10.01 more
    above = _refund(shop, support, body["order_id"], amount=1001)

    # then it is refused: the order would have had more than $50.00 back
    assert above.status_code == 403, above.text
    assert above.json()["error"]["code"] == "refund_over_policy"
    assert _charge_refunded(body["payment_intent_id"]) == 4000

    # when Stripe reports that the administrator's refund failed, and support refunds $20.00
    refund = stripe_api.client().v1.refunds.retrieve(by_admin.json()["refund_id"]).to_dict()
    assert _deliver(shop, _refund_event(refund, "refund.failed", "failed")) == 200
    within = _refund(shop, support, body["order_id"], amount=2000)

    # then it goes through: a failed refund gave nothing back, so $20.00 is all the order had
    assert within.status_code == 200, within.text
    assert within.json()["refunded_total"] == 2000


def test_a_customer_cannot_refund_even_their_own_order(shop: Shop):
    buyer = shop.customer()
    body = _paid_order(shop, buyer, shop.product())
    response = _refund(shop, buyer, body["order_id"])
    assert response.status_code == 403
    anonymous = shop.http.post("/api/payments/refund", json={"order_id": body["order_id"]})
    assert anonymous.status_code == 401
    assert _charge_refunded(body["payment_intent_id"]) == 0


def test_a_refund_made_directly_in_stripe_reaches_the_shop_by_webhook(shop: Shop):
    # given a paid order of two items from limited stock
    buyer = shop.customer()
    product_id = shop.product(price=1000, files=1, inventory_count=4)
    body = _paid_order(shop, buyer, product_id, quantity=2)
    total = body["amount"]["total"]

    # when the merchant refunds $5.00 and then the rest in the Stripe dashboard
    stripe_api.client().v1.refunds.create(
        params={"payment_intent": body["payment_intent_id"], "amount": 500}
    )
    shop.flush_webhooks()
    after_first = shop.order(body["order_id"]).status
    stripe_api.client().v1.refunds.create(params={"payment_intent": body["payment_intent_id"]})
    shop.flush_webhooks()

    # then the webhooks moved the order to partially refunded, then refunded, recorded as
    # Stripe's refunds, revoked the downloads and restored the stock once
    assert after_first == "partially_refunded"
    wait_until(lambda: shop.order(body["order_id"]).status == "refunded")
    rows = _refund_rows(shop, body["order_id"])
    assert sorted((r.amount, r.source) for r in rows) == [(500, "stripe"), (total - 500, "stripe")]
    assert _grants_revoked(shop, body["order_id"]) == [True]
    assert shop.inventory(product_id) == 4
    number = shop.order(body["order_id"]).number or ""
    wait_until(lambda: len(_refund_mails(shop, number)) == 2)


def _events(shop: Shop, event_type: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{shop.sandbox_url}/v1/events",
        params={"type": event_type, "limit": 100},
        headers={"Authorization": f"Bearer {get_settings().effective_stripe_secret_key}"},
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def _deliver(shop: Shop, event: dict[str, Any]) -> int:
    payload = json.dumps(event)
    return shop.post_event(payload, sign(payload)).status_code


def test_refund_events_arriving_before_the_payment_event_still_end_refunded(shop: Shop):
    # given an order paid and refunded in full in Stripe while no webhook reached the shop
    shop.control("webhooks/pause")
    buyer = shop.customer()
    product_id = shop.product(price=1000, files=1, inventory_count=2)
    body = shop.start_checkout(buyer, [(product_id, 1)]).json()
    stripe_api.client().v1.payment_intents.confirm(
        body["payment_intent_id"], params={"payment_method": "pm_card_visa"}
    )
    stripe_api.client().v1.refunds.create(params={"payment_intent": body["payment_intent_id"]})

    # when the refund's events arrive first and the payment's event last
    [refund_created] = _events(shop, "refund.created")
    [charge_refunded] = _events(shop, "charge.refunded")
    succeeded = shop.stripe_event("payment_intent.succeeded", body["payment_intent_id"])
    statuses = [_deliver(shop, e) for e in (refund_created, charge_refunded, succeeded)]

    # then the order ends refunded: delivered once, then revoked and restocked
    assert statuses == [200, 200, 200]
    assert shop.order(body["order_id"]).status == "refunded"
    assert _grants_revoked(shop, body["order_id"]) == [True]
    assert shop.inventory(product_id) == 2
    assert len(_refund_rows(shop, body["order_id"])) == 1


def test_duplicate_refund_webhooks_from_many_threads_record_the_refund_once(shop: Shop):
    # given a paid order refunded in full in Stripe, its refund webhooks held back
    buyer = shop.customer()
    product_id = shop.product(price=1000, files=1, inventory_count=5)
    body = _paid_order(shop, buyer, product_id)
    shop.control("webhooks/pause")
    stripe_api.client().v1.refunds.create(params={"payment_intent": body["payment_intent_id"]})
    events = [*_events(shop, "refund.created"), *_events(shop, "charge.refunded")]
    assert len(events) == 2

    # when 10 threads each deliver both events 3 times, all at once
    barrier = threading.Barrier(10)
    results: list[int] = []

    def deliver() -> None:
        barrier.wait()
        with httpx.Client(base_url=shop.url, timeout=60) as client:
            for _ in range(3):
                for event in events:
                    payload = json.dumps(event)
                    response = client.post(
                        "/api/webhooks/stripe",
                        content=payload.encode(),
                        headers={"Stripe-Signature": sign(payload)},
                    )
                    results.append(response.status_code)

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # then every delivery is acknowledged, and the refund is recorded, mailed and restocked once
    assert results == [200] * 60
    assert shop.order(body["order_id"]).status == "refunded"
    assert len(_refund_rows(shop, body["order_id"])) == 1
    assert shop.inventory(product_id) == 5
    number = shop.order(body["order_id"]).number or ""
    wait_until(lambda: len(_refund_mails(shop, number)) == 1)
    time.sleep(0.2)
    assert len(_refund_mails(shop, number)) == 1
    assert _audit_actions(shop, body["order_id"]) == ["refund.recorded"]


def test_racing_refund_requests_never_refund_more_than_was_paid(shop: Shop):
    # given a paid order and two admins
    first_admin = shop.customer("owner@example.com", roles=("admin",))
    second_admin = shop.customer("partner@example.com", roles=("admin",))
    buyer = shop.customer()
    body = _paid_order(shop, buyer, shop.product(price=1000))
    total = body["amount"]["total"]

    # when each admin double-clicks "Refund" for the whole order, all four requests at once
    staff = [first_admin, first_admin, second_admin, second_admin]
    barrier = threading.Barrier(len(staff))
    answers: list[Any] = [None] * len(staff)

    def click(index: int) -> None:
        barrier.wait()
        with httpx.Client(base_url=shop.url, timeout=60) as client:
            answers[index] = client.post(
                "/api/payments/refund",
                json={"order_id": body["order_id"]},
                headers=staff[index].headers,
            )

    threads = [threading.Thread(target=click, args=(i,)) for i in range(len(staff))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # then one refund of the total exists, in Stripe and in the shop; the others were told
    # that refund is under way (same admin, same request) or refused as too large
    statuses = sorted(answer.status_code for answer in answers)
    assert set(statuses) <= {200, 409, 422}
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["error"]["code"] == "refund_in_progress"
    refunded_ids = {a.json()["refund_id"] for a in answers if a.status_code == 200}
    assert len(refunded_ids) == 1
    assert _charge_refunded(body["payment_intent_id"]) == total
    shop.flush_webhooks()
    assert [r.amount for r in _refund_rows(shop, body["order_id"])] == [total]
    assert shop.order(body["order_id"]).status == "refunded"


def _mentions(event: dict[str, Any], refund_id: str) -> bool:
    return refund_id in json.dumps(event)


def _refund_event(refund: dict[str, Any], event_type: str, status: str) -> dict[str, Any]:
    """What Stripe sends when a refund it accepted fails later (e.g. the card was closed)."""
    return {
        "id": f"evt_{event_type.replace('.', '_')}_{refund['id']}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "livemode": False,
        "data": {
            "object": {**refund, "status": status, "failure_reason": "expired_or_canceled_card"}
        },
    }


def test_a_refund_that_fails_later_reopens_the_order_with_its_downloads_and_stock(shop: Shop):
    # given an order of two copies of an item refunded in full: downloads revoked, stock back
    admin = shop.customer("owner@example.com", roles=("admin",))
    buyer = shop.customer()
    product_id = shop.product(price=1000, files=1, inventory_count=5)
    body = _paid_order(shop, buyer, product_id, quantity=2)
    answer = _refund(shop, admin, body["order_id"]).json()
    shop.flush_webhooks()  # Stripe's own refund.created and charge.refunded come first
    assert shop.order(body["order_id"]).status == "refunded"
    assert _grants_revoked(shop, body["order_id"]) == [True]
    assert shop.inventory(product_id) == 5
    refund = stripe_api.client().v1.refunds.retrieve(answer["refund_id"]).to_dict()

    # when Stripe reports that the refund failed, twice
    failed = _refund_event(refund, "refund.failed", "failed")
    statuses = [_deliver(shop, failed), _deliver(shop, failed)]

    # then the order is paid again: downloads usable, items taken from stock once, audited
    assert statuses == [200, 200]
    assert shop.order(body["order_id"]).status == "paid"
    assert _grants_revoked(shop, body["order_id"]) == [False]
    assert shop.inventory(product_id) == 3
    assert [r.status for r in _refund_rows(shop, body["order_id"])] == ["failed"]
    assert _audit_actions(shop, body["order_id"])[-1] == "order.refund_reversed"
    assert _audit_actions(shop, body["order_id"]).count("order.refund_reversed") == 1

    # and when an older charge.refunded (listing the refund as succeeded) arrives late
    [late] = [e for e in _events(shop, "charge.refunded") if _mentions(e, refund["id"])]
    assert _deliver(shop, {**late, "id": late["id"] + "_late"}) == 200

    # then the failure stands
    assert shop.order(body["order_id"]).status == "paid"
    assert [r.status for r in _refund_rows(shop, body["order_id"])] == ["failed"]


def test_one_of_two_partial_refunds_failing_leaves_the_order_partially_refunded(shop: Shop):
    # given an order refunded in full by two partial refunds
    admin = shop.customer("owner@example.com", roles=("admin",))
    buyer = shop.customer()
    product_id = shop.product(price=1000, files=1, inventory_count=5)
    body = _paid_order(shop, buyer, product_id)
    total = body["amount"]["total"]
    first = _refund(shop, admin, body["order_id"], amount=500).json()
    _refund(shop, admin, body["order_id"], amount=total - 500)
    shop.flush_webhooks()
    assert shop.order(body["order_id"]).status == "refunded"

    # when Stripe says the first one was canceled
    refund = stripe_api.client().v1.refunds.retrieve(first["refund_id"]).to_dict()
    status = _deliver(shop, _refund_event(refund, "refund.updated", "canceled"))

    # then the order is partially refunded, with its download back and its item sold again
    assert status == 200
    assert shop.order(body["order_id"]).status == "partially_refunded"
    assert _grants_revoked(shop, body["order_id"]) == [False]
    assert shop.inventory(product_id) == 4


# -- refunds sent at the same instant ---------------------------------------------------------

# The longest Stripe waits for the rest of a race (a shop that wrongly sends them all to Stripe
# makes them all wait: they then go on and the test fails on what was refunded).
RACE_WAIT = 10.0


class StripeGate:
    """Stripe answers a refund only once the shop has answered every other request of the race
    (as over the internet, where Stripe is slower than the shop's own refusals): whatever the
    machine's load, all the requests are in the shop before the first refund is recorded."""

    def __init__(self) -> None:
        self.asked: list[int] = []
        self.others = 0
        self.answered = 0
        self.changed = threading.Condition()

    def wait_for_the_others(self) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.answered >= self.others, timeout=RACE_WAIT)

    def one_answered(self) -> None:
        with self.changed:
            self.answered += 1
            self.changed.notify_all()


@pytest.fixture
def slow_stripe(monkeypatch: pytest.MonkeyPatch) -> StripeGate:
    real = stripe_api.create_refund
    gate = StripeGate()

    def create_refund(**params: Any) -> stripe_api.RefundInfo:
        gate.asked.append(params["amount"])
        gate.wait_for_the_others()
        return real(**params)

    monkeypatch.setattr(stripe_api, "create_refund", create_refund)
    return gate


def _at_once(
    shop: Shop, requests: list[tuple[Customer, dict[str, Any]]], gate: StripeGate
) -> list[Any]:
    """Send these refund requests from as many threads at the same instant; their answers."""
    barrier = threading.Barrier(len(requests))
    answers: list[Any] = [None] * len(requests)
    gate.others = len(requests) - 1

    def send(index: int) -> None:
        staff, body = requests[index]
        barrier.wait()
        with httpx.Client(base_url=shop.url, timeout=60) as client:
            answers[index] = client.post("/api/payments/refund", json=body, headers=staff.headers)
        gate.one_answered()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


@pytest.mark.parametrize("who", ["two support users", "one support user"])
def test_support_refunds_sent_at_once_never_pass_the_cap_together(
    shop: Shop, slow_stripe: StripeGate, who: str
):
    # given a $67.80 order and support staff who may refund $50.00 of an order in all
    first = shop.customer("helper@example.com", roles=("support",))
    second = (
        shop.customer("aide@example.com", roles=("support",)) if who.startswith("two") else first
    )
    buyer = shop.customer()
    body = _paid_order(shop, buyer, shop.product(price=6000))
    order_id = body["order_id"]

    # when $30.00 and $25.00 of it are refunded at the same instant ($55.00 together)
    answers = _at_once(
        shop,
        [
            (first, {"order_id": order_id, "amount": 3000, "reason": "Late delivery"}),
            (second, {"order_id": order_id, "amount": 2500, "reason": "Damaged box"}),
        ],
        slow_stripe,
    )

    # then one goes through and the other is refused as beyond support's policy
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 403], [answer.text for answer in answers]
    [refused] = [answer for answer in answers if answer.status_code == 403]
    assert refused.json()["error"]["code"] == "refund_over_policy"
    [made] = [answer.json() for answer in answers if answer.status_code == 200]
    # and the order had at most $50.00 back, in Stripe and in the shop, the refused one never
    # reaching Stripe
    assert _charge_refunded(body["payment_intent_id"]) == made["amount"] <= 5000
    assert slow_stripe.asked == [made["amount"]]
    shop.flush_webhooks()
    assert [r.amount for r in _refund_rows(shop, order_id)] == [made["amount"]]
    assert shop.order(order_id).status == "partially_refunded"


def test_refunds_sent_at_once_never_refund_more_than_the_order_total(
    shop: Shop, slow_stripe: StripeGate
):
    # given a paid order of $11.30 and two admins
    first_admin = shop.customer("owner@example.com", roles=("admin",))
    second_admin = shop.customer("partner@example.com", roles=("admin",))
    buyer = shop.customer()
    body = _paid_order(shop, buyer, shop.product(price=1000))
    order_id = body["order_id"]
    assert body["amount"]["total"] == 1130

    # when each refunds $7.00 of it at the same instant
    answers = _at_once(
        shop,
        [
            (first_admin, {"order_id": order_id, "amount": 700}),
            (second_admin, {"order_id": order_id, "amount": 700}),
        ],
        slow_stripe,
    )

    # then one goes through, and the shop refuses the other itself: the first's $7.00 counts
    # while Stripe is still being asked for it, so $4.30 is all that is left
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 422], [answer.text for answer in answers]
    [refused] = [answer.json() for answer in answers if answer.status_code == 422]
    assert refused["error"]["code"] == "amount_too_large"
    assert "At most $4.30 CAD" in refused["error"]["message"]
    assert slow_stripe.asked == [700]
    assert _charge_refunded(body["payment_intent_id"]) == 700
    shop.flush_webhooks()
    assert [r.amount for r in _refund_rows(shop, order_id)] == [700]


def test_the_same_refund_sent_again_while_stripe_is_asked_is_made_once(
    shop: Shop, slow_stripe: StripeGate
):
    # given a paid order of $11.30
    admin = shop.customer("owner@example.com", roles=("admin",))
    buyer = shop.customer()
    body = _paid_order(shop, buyer, shop.product(price=1000))
    order_id = body["order_id"]

    # when the admin's client sends the same $3.00 refund four times at the same instant
    # (a double click, a retry after an impatient timeout)
    request = {"order_id": order_id, "amount": 300, "reason": "Scratched disc"}
    answers = _at_once(shop, [(admin, request)] * 4, slow_stripe)

    # then Stripe is asked once and refunds $3.00 once; the repeats are told it is under way
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 409, 409, 409], [answer.text for answer in answers]
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["error"]["code"] == "refund_in_progress"
    assert slow_stripe.asked == [300]
    assert _charge_refunded(body["payment_intent_id"]) == 300
    shop.flush_webhooks()
    assert [r.amount for r in _refund_rows(shop, order_id)] == [300]
    assert shop.order(order_id).status == "partially_refunded"


def test_a_refund_whose_answer_was_lost_still_counts_and_is_made_once_when_asked_again(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
):
    # given a $67.80 order, two support users (up to $50.00 of an order in all), and Stripe
    # webhooks held back
    first = shop.customer("helper@example.com", roles=("support",))
    second = shop.customer("aide@example.com", roles=("support",))
    buyer = shop.customer()
    body = _paid_order(shop, buyer, shop.product(price=6000))
    order_id = body["order_id"]
    shop.control("webhooks/pause")
    # and a connection to Stripe that drops the first refund's answer after Stripe made it
    real = stripe_api.create_refund
    keys: list[str] = []

    def create_refund(**params: Any) -> stripe_api.RefundInfo:
        keys.append(params["idempotency_key"])
        info = real(**params)
        if len(keys) == 1:
            raise stripe_api.StripeUnavailable("the connection was reset")
        return info

    monkeypatch.setattr(stripe_api, "create_refund", create_refund)

    # when the first support user refunds $30.00 and the answer is lost
    request = {"order_id": order_id, "amount": 3000, "reason": "Late delivery"}
    lost = _refund(shop, first, **request)
    # then the shop says it could not reach Stripe, and Stripe did refund $30.00
    assert lost.status_code == 503, lost.text
    assert lost.json()["error"]["code"] == "payment_service_unavailable"
    assert _charge_refunded(body["payment_intent_id"]) == 3000

    # when the other support user refunds $25.00 meanwhile
    meanwhile = _refund(shop, second, order_id=order_id, amount=2500)
    # then it is refused: the $30.00 may have gone out, so it counts against the cap
    assert meanwhile.status_code == 403, meanwhile.text
    assert meanwhile.json()["error"]["code"] == "refund_over_policy"

    # when the first support user sends the same refund again
    again = _refund(shop, first, **request)

    # then Stripe is asked with the same key and answers the refund it made: $30.00 in all
    assert again.status_code == 200, again.text
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert again.json()["refunded_total"] == 3000
    assert _charge_refunded(body["payment_intent_id"]) == 3000
    # and once Stripe's webhooks arrive, the refund is still recorded once
    shop.control("webhooks/resume")
    shop.flush_webhooks()
    assert [r.amount for r in _refund_rows(shop, order_id)] == [3000]
    with shop.session() as session:
        assert session.exec(select(RefundReservation)).all() == []


def test_a_refund_stripe_refuses_stops_counting(shop: Shop):
    # given an $11.30 order of which $10.00 was refunded in the Stripe dashboard, its webhooks
    # not yet arrived
    admin = shop.customer("owner@example.com", roles=("admin",))
    buyer = shop.customer()
    body = _paid_order(shop, buyer, shop.product(price=1000))
    order_id = body["order_id"]
    shop.control("webhooks/pause")
    stripe_api.client().v1.refunds.create(
        params={"payment_intent": body["payment_intent_id"], "amount": 1000}
    )

    # when an admin refunds $5.00 through the shop
    refused = _refund(shop, admin, order_id=order_id, amount=500)

    # then Stripe refuses it (only $1.30 is left there) and the shop says so
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "amount_too_large"

    # when the dashboard refund's webhooks arrive and the admin refunds the last $1.30
    shop.control("webhooks/resume")
    shop.flush_webhooks()
    rest = _refund(shop, admin, order_id=order_id)

    # then it goes through: the refused $5.00 no longer counts
    assert rest.status_code == 200, rest.text
    assert rest.json()["amount"] == 130
    assert rest.json()["status"] == "refunded"
    assert _charge_refunded(body["payment_intent_id"]) == 1130


def test_a_reservation_left_by_a_request_that_died_lapses(shop: Shop):
    # given a $67.80 order and support staff (up to $50.00 of an order in all)
    support = shop.customer("helper@example.com", roles=("support",))
    buyer = shop.customer()
    body = _paid_order(shop, buyer, shop.product(price=6000))
    order_id = body["order_id"]
    # and $50.00 reserved by a request that died while asking Stripe, two hours ago
    with shop.session() as session:
        session.add(
            RefundReservation(
                order_id=order_id,
                idempotency_key=f"order:{order_id}:ORD-GONE:refund:0:0:5000:1:0",
                amount=5000,
                requested_by="gone@example.com",
                reserved_at=utcnow() - timedelta(hours=2),
            )
        )

    # when support refunds $30.00
    response = _refund(shop, support, order_id=order_id, amount=3000)

    # then it goes through: Stripe never made the dead request's refund, and it stopped counting
    assert response.status_code == 200, response.text
    assert _charge_refunded(body["payment_intent_id"]) == 3000
    with shop.session() as session:
        assert session.exec(select(RefundReservation)).all() == []
