"""write_scope: webhooks' unit of work. Writers of one process take turns without the SQLite
busy handler's sleeps, and mail queued in the transaction leaves once the turn is over, so a
slow mail server never holds up the next writer."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlmodel import func, select

from shop import db
from shop.models import WebhookEvent, utcnow
from shop.services import mail


def _store(session: db.Session, event_id: str) -> None:
    session.add(
        WebhookEvent(stripe_event_id=event_id, type="test.event", payload={}, received_at=utcnow())
    )


def test_mail_queued_in_a_write_scope_leaves_after_commit_while_others_can_write(
    shop_env: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
):
    # given a mail port that, while sending, lets another writer try to commit
    sent: list[tuple[str, bool]] = []
    writers: list[threading.Thread] = []

    def send_while_another_writes(message: mail.Mail) -> None:
        def other_writer() -> None:
            with db.write_scope(database_url) as other:
                _store(other, "evt_other_writer")

        writer = threading.Thread(target=other_writer)
        writers.append(writer)
        writer.start()
        writer.join(timeout=5)
        sent.append((message.subject, not writer.is_alive()))

    monkeypatch.setattr(mail, "send_mail", send_while_another_writes)

    # when a write scope stores a row and queues a mail
    with db.write_scope(database_url) as session:
        _store(session, "evt_first_writer")
        mail.send_after_commit(session, mail.Mail(to="a@example.com", subject="Hello", text="x"))
        assert sent == []  # nothing leaves before commit

    # then the mail left once, after commit, and the other writer did not wait for it
    for writer in writers:
        writer.join()
    assert sent == [("Hello", True)]
    with db.session_scope(database_url) as session:
        assert session.exec(select(func.count()).select_from(WebhookEvent)).one() == 2


def test_a_failed_write_scope_sends_nothing_and_keeps_nothing(
    shop_env: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
):
    # given a mail port that records
    sent: list[mail.Mail] = []
    monkeypatch.setattr(mail, "send_mail", sent.append)

    def failing_unit_of_work() -> None:
        with db.write_scope(database_url) as session:
            _store(session, "evt_rolled_back")
            mail.send_after_commit(session, mail.Mail(to="a@example.com", subject="No", text="x"))
            session.flush()
            raise RuntimeError("the handler failed")

    # when the unit of work fails after queueing a mail
    with pytest.raises(RuntimeError):
        failing_unit_of_work()

    # then no mail left and no row stayed; the next writer is not blocked
    assert sent == []
    with db.write_scope(database_url) as session:
        assert session.exec(select(func.count()).select_from(WebhookEvent)).one() == 0


def test_work_after_commit_can_be_left_to_the_caller(
    shop_env: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
):
    # given a mail port that records
    sent: list[mail.Mail] = []
    monkeypatch.setattr(mail, "send_mail", sent.append)
    deferred: list = []
    # when a write scope given a list commits a row and a mail
    with db.write_scope(database_url, deferred=deferred) as session:
        _store(session, "evt_deferred_mail")
        mail.send_after_commit(session, mail.Mail(to="a@example.com", subject="Later", text="x"))
    # then the mail waits in the list until the caller runs it, once
    assert sent == []
    assert len(deferred) == 1
    db.run_deferred(deferred)
    assert [m.subject for m in sent] == ["Later"]


def test_a_write_outside_the_scope_takes_its_turn_on_sqlite_only(shop_env: Path, database_url: str):
    engine = db.get_engine(database_url)
    # given a writer inside a write scope, and a second one asking for its turn meanwhile
    order: list[str] = []
    inside = threading.Event()

    def outside_writer() -> None:
        inside.wait(timeout=5)
        with db.writer_turn(engine):
            order.append("outside")

    other = threading.Thread(target=outside_writer)
    other.start()
    with db.write_scope(database_url) as session:
        _store(session, "evt_turns")
        inside.set()
        other.join(timeout=0.3)  # on SQLite it cannot get in while this scope holds the turn
        order.append("scope")
    other.join(timeout=5)
    if engine.dialect.name == "sqlite":
        # then on SQLite the outside write came after the scope had committed
        assert order == ["scope", "outside"]
    else:
        # then on PostgreSQL, which locks rows and not the database, nobody waited
        assert order == ["outside", "scope"]


def _waits(raw: object, sqlite: bool) -> str:
    """The lock wait a DBAPI connection has now, outside any transaction of the test's."""
    statement = "PRAGMA busy_timeout" if sqlite else "SHOW lock_timeout"
    value = str(raw.execute(statement).fetchone()[0])  # type: ignore[attr-defined]
    if not sqlite:
        raw.rollback()  # type: ignore[attr-defined]
    return value


def test_a_shorter_lock_wait_lasts_for_that_write_scope_only(shop_env: Path, database_url: str):
    sqlite = db.get_engine(database_url).dialect.name == "sqlite"
    # when a write scope asks to wait at most 1.234 s for locks
    with db.write_scope(database_url, lock_timeout_ms=1234) as session:
        raw = session.connection().connection.dbapi_connection
        inside = (
            _waits(raw, sqlite)
            if sqlite
            else session.connection().exec_driver_sql("SHOW lock_timeout").scalar()
        )
        _store(session, "evt_short_wait")
    # then it waited that long inside, and its connection is back in the pool with the app's wait
    assert inside == ("1234" if sqlite else "1234ms")
    assert _waits(raw, sqlite) == (str(db.SQLITE_BUSY_TIMEOUT_MS) if sqlite else "0")
    with db.session_scope(database_url) as session:
        assert session.exec(select(func.count()).select_from(WebhookEvent)).one() == 1
