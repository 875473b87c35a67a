"""The audit log is a hash chain: appends are serialized and any edit is found."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session, col, select

from shop import db
from shop.__main__ import main as cli
from shop.models import AuditLog
from shop.services import audit, auth
from tests.factories import DEFAULT_PASSWORD, make_user


def _actions(session: Session) -> list[str]:
    return [row.action for row in session.exec(select(AuditLog).order_by(col(AuditLog.id))).all()]


def test_each_row_links_to_the_one_before(session: Session):
    # given three entries
    first = audit.record(session=session, action="test.one", actor_email="a@example.com")
    second = audit.record(session=session, action="test.two", target="x", details={"n": 2})
    third = audit.record(session=session, action="test.three", ip="192.0.2.1")
    # then they are numbered 1, 2, 3 and each carries the previous row's hash
    assert [first.id, second.id, third.id] == [1, 2, 3]
    assert first.prev_hash == audit.GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert audit.verify_chain(session=session).ok


def test_sign_in_success_and_failure_are_recorded(session: Session):
    user = make_user(session)
    auth.sign_in(session=session, email=user.email, password="wrong one", ip="192.0.2.9")
    auth.sign_in(session=session, email=user.email, password=DEFAULT_PASSWORD, ip="192.0.2.9")
    rows = session.exec(select(AuditLog).order_by(col(AuditLog.id))).all()
    assert [row.action for row in rows] == ["auth.sign_in_failed", "auth.sign_in"]
    assert all(row.ip == "192.0.2.9" and row.actor_email == user.email for row in rows)
    assert rows[1].actor_user_id == user.id


def test_verify_finds_an_edited_row(session: Session, database_url: str):
    # given a chain of five entries, committed
    for n in range(5):
        audit.record(session=session, action="test.entry", details={"n": n})
    session.commit()
    # when someone edits row 3 behind the application's back
    with db.get_engine(database_url).begin() as connection:
        connection.execute(text("UPDATE audit_log SET action = 'test.innocent' WHERE id = 3"))
    # then verification reports row 3 as the first bad one
    session.expire_all()
    report = audit.verify_chain(session=session)
    assert not report.ok
    assert report.first_bad_id == 3
    assert report.rows_checked == 2


def test_verify_finds_a_recomputed_row_by_its_successor(session: Session, database_url: str):
    # given a chain where the forger edited row 2 AND recomputed its own hash
    for n in range(4):
        audit.record(session=session, action="test.entry", details={"n": n})
    session.commit()
    row = session.get(AuditLog, 2)
    row.details = {"n": 99}
    row.hash = audit.row_hash(row)
    session.add(row)
    session.commit()
    # then row 3 no longer links to it
    report = audit.verify_chain(session=session)
    assert not report.ok
    assert report.first_bad_id == 3


def test_verify_finds_deleted_rows(session: Session, database_url: str):
    for n in range(4):
        audit.record(session=session, action="test.entry", details={"n": n})
    session.commit()
    with db.get_engine(database_url).begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE id = 2"))
    session.expire_all()
    assert audit.verify_chain(session=session).first_bad_id == 2
    with db.get_engine(database_url).begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE id >= 2"))
    session.expire_all()
    report = audit.verify_chain(session=session)
    assert not report.ok
    assert report.first_bad_id == 2


def test_parallel_writers_keep_one_unbroken_chain(shop_env: Path, database_url: str):
    # given eight threads each appending ten entries in their own transactions
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                with db.session_scope(database_url) as session:
                    audit.record(session=session, action="test.parallel", details={"w": n, "i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then all 80 are there, numbered without gaps, in one valid chain
    assert errors == []
    with db.session_scope(database_url) as session:
        report = audit.verify_chain(session=session)
        assert report.ok
        assert report.rows_checked == 80


def test_cli_audit_verify_reports_ok_and_the_first_bad_row(
    session: Session, database_url: str, capsys
):
    for n in range(3):
        audit.record(session=session, action="test.entry", details={"n": n})
    session.commit()
    assert cli(["audit", "verify"]) == 0
    assert "audit chain ok (3 rows)" in capsys.readouterr().out
    with db.get_engine(database_url).begin() as connection:
        connection.execute(text("UPDATE audit_log SET ip = '6.6.6.6' WHERE id = 2"))
    assert cli(["audit", "verify"]) == 1
    assert "BROKEN at row 2" in capsys.readouterr().out
