"""Ending one's own sessions, the clean-up of dead sign-in records, and paging the audit log."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from shop import jobs
from shop.models import AccountToken, AuditLog, RefreshToken, TokenPurpose, UserSession, utcnow
from shop.services import audit, auth
from tests.factories import make_user, sign_in_as

DAY = timedelta(days=1)


def _session_ids(session: Session) -> set[int]:
    return {row.id for row in session.exec(select(UserSession)).all()}  # type: ignore[misc]


def _token(session: Session, user_id: int, *, expires_in: timedelta, used: bool = False) -> int:
    now = utcnow()
    row = AccountToken(
        user_id=user_id,
        purpose=TokenPurpose.VERIFY_EMAIL.value,
        token_hash=auth.hash_token(auth.new_token()),
        created_at=now - timedelta(days=90),
        expires_at=now + expires_in,
        used_at=now - timedelta(days=60) if used else None,
    )
    session.add(row)
    session.flush()
    return row.id  # type: ignore[return-value]


def test_a_user_ends_one_of_their_other_sessions(session: Session):
    # given a customer signed in on a laptop and a phone
    user = make_user(session)
    laptop = sign_in_as(session, user)
    phone = sign_in_as(session, user)
    # when they end the phone's session from the laptop
    ended = auth.end_session(
        session=session, current=laptop.user, session_id=phone.user.session_id, ip="10.0.0.5"
    )
    # then the phone is signed out, the laptop is not, and the audit log says who did it
    assert ended is True
    assert auth.resolve_session_token(session=session, token=phone.session_token) is None
    assert auth.resolve_session_token(session=session, token=laptop.session_token) is not None
    entry = session.exec(select(AuditLog).where(AuditLog.action == "auth.session_ended")).one()
    assert (entry.actor_email, entry.target, entry.ip) == (
        user.email,
        f"session:{phone.user.session_id}",
        "10.0.0.5",
    )


def test_nobody_ends_someone_elses_session(session: Session):
    # given two customers, each signed in
    mallory = sign_in_as(session, make_user(session))
    victim = sign_in_as(session, make_user(session))
    # when one asks to end the other's session by its id
    ended = auth.end_session(
        session=session, current=mallory.user, session_id=victim.user.session_id
    )
    # then nothing happens, and the answer is the same as for an unknown id
    assert ended is False
    assert auth.end_session(session=session, current=mallory.user, session_id=999_999) is False
    assert auth.resolve_session_token(session=session, token=victim.session_token) is not None


def test_purge_deletes_dead_records_after_the_retention_only(session: Session):
    # given sessions that ended long ago, lately, and one that is alive
    user = make_user(session)
    now = utcnow()
    long_revoked = sign_in_as(session, user).user.session_id
    lately_revoked = sign_in_as(session, user).user.session_id
    long_expired = sign_in_as(session, user).user.session_id
    long_idle = sign_in_as(session, user).user.session_id
    alive = sign_in_as(session, user)
    for sid, changes in (
        (long_revoked, {"revoked_at": now - 40 * DAY, "revoked_reason": "signed_out"}),
        (lately_revoked, {"revoked_at": now - 2 * DAY, "revoked_reason": "signed_out"}),
        (long_expired, {"expires_at": now - 31 * DAY}),
        (long_idle, {"last_seen_at": now - 60 * DAY}),
    ):
        row = session.get(UserSession, sid)
        assert row is not None
        for name, value in changes.items():
            setattr(row, name, value)
        session.add(row)
    # and a refresh token of the live session that was spent long ago
    spent = RefreshToken(
        session_id=alive.user.session_id,
        token_hash=auth.hash_token("spent"),
        used_at=now - 45 * DAY,
    )
    session.add(spent)
    # and emailed tokens: long expired, used long ago, still valid
    expired_token = _token(session, user.id, expires_in=-40 * DAY)  # type: ignore[arg-type]
    used_token = _token(session, user.id, expires_in=-29 * DAY, used=True)  # type: ignore[arg-type]
    valid_token = _token(session, user.id, expires_in=DAY)  # type: ignore[arg-type]
    session.flush()

    # when the clean-up runs with a 30-day retention
    report = auth.purge_stale_records(session=session, retention=timedelta(days=30))

    # then only what has been dead for longer than 30 days is gone
    assert _session_ids(session) == {lately_revoked, alive.user.session_id}
    assert report.sessions == 3
    remaining_refresh = session.exec(select(RefreshToken)).all()
    assert {r.session_id for r in remaining_refresh} == {lately_revoked, alive.user.session_id}
    assert spent.id not in {r.id for r in remaining_refresh}
    assert report.refresh_tokens == 4  # three dead sessions' tokens and the spent one
    tokens = {row.id for row in session.exec(select(AccountToken)).all()}
    assert valid_token in tokens
    assert expired_token not in tokens
    assert used_token not in tokens
    # and the live session still signs its user in
    assert auth.resolve_session_token(session=session, token=alive.session_token) is not None
    # and a second run has nothing left to do
    again = auth.purge_stale_records(session=session, retention=timedelta(days=30))
    assert (again.sessions, again.refresh_tokens, again.account_tokens) == (0, 0, 0)


def test_the_cleanup_job_is_registered_and_uses_the_retention_setting(
    session: Session, monkeypatch
):
    # given a session revoked 10 days ago and a retention of 7 days
    monkeypatch.setenv("AUTH_RECORD_RETENTION_DAYS", "7")
    from shop.settings import get_settings

    get_settings.cache_clear()
    user = make_user(session)
    old = sign_in_as(session, user).user.session_id
    row = session.get(UserSession, old)
    assert row is not None
    row.revoked_at = utcnow() - 10 * DAY
    session.add(row)
    session.commit()
    # when the periodic job runs (by hand, as `python -m shop jobs run auth-cleanup` does)
    report = jobs.run_job("auth-cleanup", claim=False)
    # then the old session is gone
    assert isinstance(report, auth.PurgeReport)
    assert report.sessions == 1
    session.expire_all()
    assert session.get(UserSession, old) is None


def test_audit_pages_filter_and_page_both_ways(session: Session):
    # given 7 entries by two actors over three days
    now = utcnow()
    for n in range(7):
        row = audit.record(
            session=session,
            action="test.even" if n % 2 == 0 else "test.odd",
            actor_email="ann@example.com" if n < 4 else "bob@example.com",
        )
        row.at = now - timedelta(days=3 - n // 3)  # n 0-2: 3 days ago, 3-5: 2 ago, 6: 1 ago
        session.add(row)
    session.flush()
    # when the newest page of 3 is read
    first = audit.page_entries(session=session, limit=3)
    # then it holds the 3 newest, with older ones to come and none newer
    assert [r.id for r in first.items] == [7, 6, 5]
    assert (first.has_older, first.has_newer) == (True, False)
    # when paging older, then newer again
    second = audit.page_entries(session=session, limit=3, before_id=first.items[-1].id)
    assert [r.id for r in second.items] == [4, 3, 2]
    assert (second.has_older, second.has_newer) == (True, True)
    back = audit.page_entries(session=session, limit=3, after_id=second.items[0].id)
    assert [r.id for r in back.items] == [7, 6, 5]
    # when filtered by action, actor (any case) and a date range
    evens = audit.page_entries(session=session, action="test.even")
    assert [r.id for r in evens.items] == [7, 5, 3, 1]
    bobs = audit.page_entries(session=session, actor_email=" BOB@example.com ")
    assert [r.id for r in bobs.items] == [7, 6, 5]
    middle_day = audit.page_entries(
        session=session,
        since=now - timedelta(days=2, hours=1),
        until=now - timedelta(days=1, hours=1),
    )
    assert [r.id for r in middle_day.items] == [6, 5, 4]
    assert (middle_day.has_older, middle_day.has_newer) == (False, False)
    # and the filter lists every action once
    assert audit.list_actions(session=session) == ["test.even", "test.odd"]


def test_confirmation_mails_are_limited_per_hour(session: Session, shop_env):
    # given a customer who has not confirmed their address
    user = make_user(session, email_verified=False)
    session.commit()
    # when they ask for the link again and again
    answers = [
        auth.resend_verification(session=session, user_id=user.id)  # type: ignore[arg-type]
        for _ in range(auth.VERIFY_MAILS_PER_HOUR + 2)
    ]
    session.commit()
    # then only VERIFY_MAILS_PER_HOUR links are mailed in the hour
    assert answers == [True] * auth.VERIFY_MAILS_PER_HOUR + [False, False]
    assert len(list((shop_env / "outbox").glob("*.eml"))) == auth.VERIFY_MAILS_PER_HOUR
    # and a confirmed address gets none
    user.email_verified = True
    session.add(user)
    session.commit()
    assert auth.resend_verification(session=session, user_id=user.id) is False  # type: ignore[arg-type]
