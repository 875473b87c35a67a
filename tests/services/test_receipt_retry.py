"""A receipt that could not be emailed when its order was paid goes out later, once."""

from __future__ import annotations

import email
import email.policy
import secrets
import socket
from datetime import timedelta
from pathlib import Path

import pytest

from shop import db, jobs
from shop.models import Order, utcnow
from shop.services import orders, receipts
from shop.services.fulfilment import fulfil_order, receipt_row
from shop.services.stripe_api import PaymentIntentInfo
from shop.settings import get_settings
from tests.factories import make_product, make_user


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _receipts_to(outbox: Path, address: str) -> list[email.message.EmailMessage]:
    found = []
    for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address and "receipt" in str(message["Subject"]):
            found.append(message)
    return found  # type: ignore[return-value]


def _paid_while_mail_is_down(database_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{_closed_port()}")
    get_settings.cache_clear()
    address = f"late-{secrets.token_hex(4)}@example.com"
    with db.session_scope(database_url) as session:
        user = make_user(session, email=address)
        product = make_product(session, price_amount=1500)
        order = orders.place_order(
            session=session,
            buyer_id=user.id,  # type: ignore[arg-type]
            items=[orders.LineRequest(product.id, 1)],  # type: ignore[arg-type]
            billing=orders.Billing(country="CA", region="AB"),
        )
        order_id = order.id
        intent = PaymentIntentInfo(
            id=f"pi_late_{order_id}",
            status="succeeded",
            amount=order.total_amount,
            currency=order.currency,
            metadata={"order_id": str(order_id)},
        )
    with db.session_scope(database_url) as session:
        assert fulfil_order(session=session, order_id=order_id, payment_intent=intent).fulfilled_now  # type: ignore[arg-type]
    # the mail server comes back (the outbox stands in for it)
    monkeypatch.delenv("SMTP_URL")
    get_settings.cache_clear()
    return order_id, address  # type: ignore[return-value]


def test_an_unsent_receipt_goes_out_once_after_the_retry_delay(
    shop_env: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
):
    # given a paid order whose receipt could not be sent: the mail server was down
    order_id, address = _paid_while_mail_is_down(database_url, monkeypatch)
    with db.session_scope(database_url) as session:
        owed = receipt_row(session=session, order_id=order_id)
        assert owed is not None
        assert owed.sent_at is None
    # when the retry runs right away, then it leaves the receipt to the first attempt
    with db.session_scope(database_url) as session:
        receipts.send_unsent_receipts(session=session)
    assert _receipts_to(shop_env / "outbox", address) == []
    # when it runs once the retry delay has passed
    later = utcnow() + receipts.RETRY_AFTER + timedelta(seconds=1)
    with db.session_scope(database_url) as session:
        receipts.send_unsent_receipts(session=session, now=later)
    # then the receipt has gone, is stamped sent, and names the order
    sent = _receipts_to(shop_env / "outbox", address)
    assert len(sent) == 1
    with db.session_scope(database_url) as session:
        row = receipt_row(session=session, order_id=order_id)
        assert row is not None
        assert row.sent_at is not None
        number = session.get(Order, order_id).number  # type: ignore[union-attr]
    assert f"order {number}" in str(sent[0]["Subject"])
    # and later runs send nothing more
    with db.session_scope(database_url) as session:
        receipts.send_unsent_receipts(session=session, now=later + timedelta(minutes=10))
    assert len(_receipts_to(shop_env / "outbox", address)) == 1


def test_the_receipts_job_is_scheduled(shop_env: Path):
    # the job that does it runs every few minutes with the others
    job = jobs.JOBS["receipts"]
    assert job.every <= timedelta(minutes=10)
    assert job.run is jobs.send_unsent_receipts
