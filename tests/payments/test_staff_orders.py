"""Staff order and customer management over the API, and who may do what."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select

from shop.models import AuditLog, DownloadGrant, Order, utcnow
from tests.payments.conftest import Customer, Shop, wait_until


def _paid_order(shop: Shop, buyer: Customer, product_id: int) -> dict[str, Any]:
    body = shop.start_checkout(buyer, [(product_id, 1)]).json()
    confirmed = shop.confirm(buyer, body["payment_intent_id"], "pm_card_visa")
    assert confirmed.json()["status"] == "paid", confirmed.text
    return body


def _mails_to(shop: Shop, address: str, subject_start: str) -> list[str]:
    outbox = shop.data_dir / "outbox"
    found = []
    for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address and str(message["Subject"]).startswith(subject_start):
            found.append(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    return found


def test_staff_find_orders_by_email_number_stripe_id_status_and_date(shop: Shop):
    # given two customers' orders: two paid, one pending
    support = shop.customer("helper@example.com", roles=("support",))
    ann = shop.customer("ann@example.com")
    bob = shop.customer("bob@example.com")
    product_id = shop.product()
    ann_paid = _paid_order(shop, ann, product_id)
    bob_paid = _paid_order(shop, bob, product_id)
    bob_pending = shop.start_checkout(bob, [(product_id, 1)]).json()

    def search(**params: Any) -> list[int]:
        response = shop.http.get("/api/admin/orders", params=params, headers=support.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    # when support searches, then each way finds the right orders, newest first
    number = shop.order(ann_paid["order_id"]).number
    assert search(q="ann@example") == [ann_paid["order_id"]]
    assert search(q=number) == [ann_paid["order_id"]]
    assert search(q=bob_paid["payment_intent_id"]) == [bob_paid["order_id"]]
    assert search(q="bob@example.com", status="pending") == [bob_pending["order_id"]]
    assert search(status="paid") == [bob_paid["order_id"], ann_paid["order_id"]]
    tomorrow = (utcnow() + timedelta(days=1)).isoformat()
    assert search(date_from=tomorrow) == []
    assert search(date_to=tomorrow, limit=2) == [bob_pending["order_id"], bob_paid["order_id"]]
    page = shop.http.get("/api/admin/orders", params={"limit": 2}, headers=support.headers).json()
    assert page["total"] == 3
    assert page["next_offset"] == 2
    bad = shop.http.get("/api/admin/orders", params={"status": "lost"}, headers=support.headers)
    assert bad.status_code == 422


def test_staff_find_an_order_by_the_charge_id_stripe_shows_them(shop: Shop):
    # given two paid orders, and the charge id of one as the Stripe dashboard shows it
    support = shop.customer("helper@example.com", roles=("support",))
    product_id = shop.product()
    _paid_order(shop, shop.customer(), product_id)
    wanted = _paid_order(shop, shop.customer("carol@example.com"), product_id)
    intent = shop.stripe().v1.payment_intents.retrieve(wanted["payment_intent_id"])
    charge_id = str(intent.latest_charge)
    assert charge_id.startswith("ch_")

    def search(path: str, q: str) -> list[int]:
        response = shop.http.get(path, params={"q": q}, headers=support.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    # when support searches orders and customers by it, then they find that order and buyer
    assert search("/api/admin/orders", charge_id) == [wanted["order_id"]]
    buyer_id = shop.order(wanted["order_id"]).user_id
    assert search("/api/admin/customers", charge_id) == [buyer_id]
    # and a charge Stripe does not know finds nothing
    assert search("/api/admin/orders", "ch_doesnotexist") == []


def test_order_detail_shows_the_payment_timeline_and_staff_repair_downloads(shop: Shop):
    # given a paid order whose webhooks have arrived
    support = shop.customer("helper@example.com", roles=("support",))
    buyer = shop.customer("carol@example.com")
    body = _paid_order(shop, buyer, shop.product(files=1, name="Trail Maps"))
    shop.flush_webhooks()
    wait_until(lambda: len(shop.deliveries("payment_intent.succeeded")) == 1)

    # when support opens it by order number
    number = shop.order(body["order_id"]).number
    detail = shop.http.get(f"/api/admin/orders/{number}", headers=support.headers)

    # then it shows the customer, items, grant and the events Stripe sent about it
    assert detail.status_code == 200, detail.text
    view = detail.json()
    assert view["customer_email"] == "carol@example.com"
    assert [i["name"] for i in view["items"]] == ["Trail Maps"]
    assert view["refundable"] == body["amount"]["total"]
    timeline = [event["type"] for event in view["timeline"]]
    assert "payment_intent.succeeded" in timeline
    assert all(event["processed_at"] for event in view["timeline"])
    [grant] = view["grants"]
    assert grant["downloads_left"] == grant["download_limit"]

    # when the customer used up their downloads, and support resets and extends the grant
    with shop.session() as session:
        row = session.get(DownloadGrant, grant["id"])
        assert row is not None
        row.download_count = row.download_limit
        session.add(row)
    reset = shop.http.post(f"/api/admin/grants/{grant['id']}/reset", headers=support.headers)
    extended = shop.http.post(
        f"/api/admin/grants/{grant['id']}/extend", json={"days": 30}, headers=support.headers
    )
    too_long = shop.http.post(
        f"/api/admin/grants/{grant['id']}/extend", json={"days": 9999}, headers=support.headers
    )

    # then the count is zero again, the expiry 30 days later, and both are audited
    assert reset.status_code == 200, reset.text
    assert reset.json()["download_count"] == 0
    assert extended.status_code == 200, extended.text
    before = grant["expires_at"].replace("Z", "+00:00")
    moved = datetime.fromisoformat(extended.json()["expires_at"].replace("Z", "+00:00"))
    assert moved - datetime.fromisoformat(before) == timedelta(days=30)
    assert too_long.status_code == 422
    with shop.session() as session:
        actions = session.exec(
            select(AuditLog.action).where(AuditLog.actor_email == "helper@example.com")
        ).all()
    assert actions == ["grant.download_count_reset", "grant.extended"]

    # when support resends the receipt and the download links
    receipt = shop.http.post(
        f"/api/admin/orders/{body['order_id']}/resend-receipt", headers=support.headers
    )
    links = shop.http.post(
        f"/api/admin/orders/{body['order_id']}/resend-downloads", headers=support.headers
    )

    # then the customer gets both emails
    assert receipt.status_code == 200, receipt.text
    assert links.status_code == 200, links.text
    wait_until(lambda: len(_mails_to(shop, "carol@example.com", "Your Maple")) == 2)
    [download_mail] = _mails_to(shop, "carol@example.com", "Your download links")
    assert "Trail Maps" in download_mail
    assert "http://shop.test/account/downloads" in download_mail


def test_a_pending_order_has_no_receipt_to_resend(shop: Shop):
    support = shop.customer("helper@example.com", roles=("support",))
    buyer = shop.customer()
    pending = shop.start_checkout(buyer, [(shop.product(), 1)]).json()
    response = shop.http.post(
        f"/api/admin/orders/{pending['order_id']}/resend-receipt", headers=support.headers
    )
    assert response.status_code == 409
    missing = shop.http.get("/api/admin/orders/ORD-NONE-XXXX", headers=support.headers)
    assert missing.status_code == 404


def test_customer_detail_lists_orders_grants_and_sessions_and_admin_ends_them(shop: Shop):
    # given a customer with a paid order and a live session
    admin = shop.customer("owner@example.com", roles=("admin",))
    support = shop.customer("helper@example.com", roles=("support",))
    buyer = shop.customer("dave@example.com")
    body = _paid_order(shop, buyer, shop.product(files=2))

    # when staff search for and open the customer
    found = shop.http.get("/api/admin/customers", params={"q": "dave"}, headers=support.headers)
    detail = shop.http.get(f"/api/admin/customers/{buyer.id}", headers=support.headers)

    # then they see the orders, grants and sessions
    assert found.status_code == 200
    [row] = found.json()["items"]
    assert row["email"] == "dave@example.com"
    assert row["orders"] == 1
    assert row["spent"] == body["amount"]["total"]
    view = detail.json()
    assert [o["id"] for o in view["orders"]] == [body["order_id"]]
    assert len(view["grants"]) == 2
    assert len(view["sessions"]) == 1

    # when support tries to end the sessions, then it may not; when the admin does, it works
    refused = shop.http.post(
        f"/api/admin/customers/{buyer.id}/sessions/end", headers=support.headers
    )
    assert refused.status_code == 403
    assert shop.http.get("/api/orders", headers=buyer.headers).status_code == 200
    ended = shop.http.post(f"/api/admin/customers/{buyer.id}/sessions/end", headers=admin.headers)
    assert ended.status_code == 200, ended.text
    assert shop.http.get("/api/orders", headers=buyer.headers).status_code == 401
    after = shop.http.get(f"/api/admin/customers/{buyer.id}", headers=admin.headers).json()
    assert after["sessions"] == []


def test_the_staff_permission_matrix(shop: Shop):
    # given an order, a customer, support staff and an admin
    admin = shop.customer("owner@example.com", roles=("admin",))
    support = shop.customer("helper@example.com", roles=("support",))
    buyer = shop.customer()
    body = _paid_order(shop, buyer, shop.product(files=1))
    with shop.session() as session:
        [grant] = session.exec(select(DownloadGrant)).all()
        order = session.get(Order, body["order_id"])
        assert order is not None
    calls = [
        ("GET", "/api/admin/orders", None),
        ("GET", f"/api/admin/orders/{order.number}", None),
        ("POST", f"/api/admin/orders/{order.id}/resend-receipt", None),
        ("POST", f"/api/admin/orders/{order.id}/resend-downloads", None),
        ("POST", f"/api/admin/grants/{grant.id}/reset", None),
        ("POST", f"/api/admin/grants/{grant.id}/extend", {"days": 1}),
        ("GET", "/api/admin/customers", None),
        ("GET", f"/api/admin/customers/{buyer.id}", None),
        ("POST", f"/api/admin/customers/{buyer.id}/sessions/end", None),
        ("GET", "/api/admin/reconciliation", None),
        ("POST", "/api/admin/reconciliation/run", None),
        ("POST", "/api/payments/refund", {"order_id": order.id, "amount": 100}),
    ]
    support_may_not = {
        f"/api/admin/customers/{buyer.id}/sessions/end",
        "/api/admin/reconciliation",
        "/api/admin/reconciliation/run",
    }

    def status(method: str, path: str, payload: Any, who: Customer | None) -> int:
        headers = who.headers if who else {}
        return shop.http.request(method, path, json=payload, headers=headers).status_code

    # when each is called by nobody, the customer, support and the admin
    results = {
        path: [status(method, path, payload, who) for who in (None, buyer, support, admin)]
        for method, path, payload in calls
        if not path.endswith("/sessions/end")
    }
    sessions_end = f"/api/admin/customers/{buyer.id}/sessions/end"
    results[sessions_end] = [
        status("POST", sessions_end, None, who) for who in (None, buyer, support, admin)
    ]

    # then anonymous → 401, customer → 403, support within its permissions, admin everywhere
    for path, (anonymous, customer, by_support, by_admin) in results.items():
        assert anonymous == 401, path
        assert customer == 403, path
        assert (by_support == 403) == (path in support_may_not), (path, by_support)
        assert by_admin == 200, (path, by_admin)
