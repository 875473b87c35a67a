"""Sign-in throttling: failed attempts slow down exponentially, kept in the database.

Three counters per failed sign-in, each one row of `sign_in_throttles`:
- `ipacct:<ip>:<email>`: after `login_free_failures` failures, wait 1 s, 2 s, 4 s … up to
  `login_delay_max_seconds`; only this IP is slowed down for this account, so a stranger
  elsewhere cannot lock the owner out, and a success from this IP clears it;
- `ip:<ip>`: the same curve after `login_ip_free_failures` failures over any accounts;
- `acct:<email>`: at most `login_account_failures_per_hour` failures per account per hour
  (the hard ceiling on guessing one password from many IPs), then refused until the hour ends,
  except from an IP that has shown it belongs to the owner: one the account signed in from,
  or completed a password reset from, in the last `KNOWN_FOR` (read from the audit log, which
  records both with the IP). Strangers failing from many IPs thus keep guessers out without
  locking the owner out: at home they are let in, and on a new network a password reset
  (which proves they read the account's inbox) lets them in from there.
Counters reset one hour after their first failure. Upserts are single atomic statements
(`INSERT … ON CONFLICT DO UPDATE`), so parallel attempts cannot lose a count.

Attempts from one IP take turns (`check` waits for the turn, the transaction's end gives it
up): checked, verified and counted one at a time, so a burst of parallel guesses meets the
counters the ones before it left, instead of all passing the check before any failure is
counted. On PostgreSQL the turn is the row lock of the IP's counters (several processes share
it); on SQLite, where the shop runs one process, a lock in the process, not the database's
write lock, which would stall every other writer for the ~0.2 s a password check takes.
"""

from __future__ import annotations

import math
import threading
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, event, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, select

from shop.models import AuditLog, SignInThrottle, User, utcnow
from shop.models.base import UTCDateTime
from shop.services import audit
from shop.services.addresses import canonical_email
from shop.services.errors import ShopError
from shop.settings import get_settings

WINDOW = timedelta(hours=1)
KNOWN_FOR = timedelta(days=30)
# Audit actions that only the owner can cause: the right password, or the emailed reset link.
OWNER_ACTIONS = ("auth.sign_in", "user.password_reset")


class Throttled(ShopError):
    status_code = 429
    code = "too_many_attempts"

    def __init__(self, retry_after: int):
        super().__init__(f"Too many failed sign-ins. Try again in {retry_after} s.")
        self.retry_after = retry_after


@dataclass(frozen=True)
class ThrottleKeys:
    ip_account: str
    ip: str
    account: str
    address: str | None = None
    email: str = ""

    @classmethod
    def of(cls, *, ip: str | None, email: str) -> ThrottleKeys:
        address = ip or None
        ip = ip or "unknown"
        email = canonical_email(email)
        return cls(
            ip_account=f"ipacct:{ip}:{email}",
            ip=f"ip:{ip}",
            account=f"acct:{email}",
            address=address,
            email=email,
        )

    def all(self) -> list[str]:
        return [self.ip_account, self.ip, self.account]


def delay_after(failures: int, free: int) -> float:
    """Seconds to wait after `failures` failures: 0 up to `free`, then 1, 2, 4 … capped."""
    settings = get_settings()
    if failures < free:
        return 0.0
    exponent = min(failures - free, 40)
    return min(settings.login_delay_base_seconds * 2**exponent, settings.login_delay_max_seconds)


def known_to_account(*, session: Session, keys: ThrottleKeys, now: datetime | None = None) -> bool:
    """Whether the account signed in, or completed a password reset, from this IP lately."""
    if keys.address is None:
        return False
    now = now or utcnow()
    user_id = session.exec(select(User.id).where(User.email == keys.email)).first()
    if user_id is None:
        return False
    seen = session.exec(
        select(AuditLog.id)
        .where(
            AuditLog.actor_user_id == user_id,
            AuditLog.ip == keys.address,
            col(AuditLog.action).in_(OWNER_ACTIONS),
            col(AuditLog.at) > now - KNOWN_FOR,
        )
        .limit(1)
    ).first()
    return seen is not None


TURN_WAIT_SECONDS = 10
_TURNS = [threading.Lock() for _ in range(64)]  # SQLite: one per stripe of IP keys
_TURN_HELD = "shop.throttle.turn"


def _take_turn(session: Session, keys: ThrottleKeys, now: datetime) -> None:
    """Wait until no other attempt from this IP is between its check and its commit."""
    if session.info.get(_TURN_HELD):
        return
    if session.get_bind().dialect.name == "postgresql":
        table = SignInThrottle.__table__  # type: ignore[attr-defined]
        session.execute(
            postgresql.insert(table)
            .values(key=keys.ip, failures=0, window_started_at=now, blocked_until=None)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        session.execute(
            select(SignInThrottle.key).where(col(SignInThrottle.key) == keys.ip).with_for_update()
        )
        return
    turn = _TURNS[zlib.crc32(keys.ip.encode()) % len(_TURNS)]
    if not turn.acquire(timeout=TURN_WAIT_SECONDS):
        raise Throttled(1)  # attempts from this IP are queued up this long: refuse, do not pile up
    session.info[_TURN_HELD] = True

    held = [turn]

    def give_up(_session: Session, transaction: object) -> None:
        # Stays listening (removing a listener while events are dispatched is not allowed);
        # only the first end of an outer transaction gives the turn up.
        if getattr(transaction, "parent", None) is not None or not held:
            return
        session.info.pop(_TURN_HELD, None)
        held.pop().release()

    event.listen(session, "after_transaction_end", give_up)


def check(*, session: Session, keys: ThrottleKeys, now: datetime | None = None) -> None:
    """Raise Throttled (with seconds to wait) if any counter blocks this attempt now. Takes
    this IP's turn first, held until the transaction ends."""
    now = now or utcnow()
    _take_turn(session, keys, now)
    rows = session.exec(select(SignInThrottle).where(col(SignInThrottle.key).in_(keys.all()))).all()
    blocks = {
        row.key: (row.blocked_until - now).total_seconds()
        for row in rows
        if row.blocked_until is not None and row.blocked_until > now
    }
    # Only looked up while the account is capped, so ordinary sign-ins pay nothing for it.
    if keys.account in blocks and known_to_account(session=session, keys=keys, now=now):
        del blocks[keys.account]
    if blocks:
        raise Throttled(max(1, math.ceil(max(blocks.values()))))


def _bump(session: Session, key: str, now: datetime) -> SignInThrottle:
    table = SignInThrottle.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    expired = table.c.window_started_at < now - WINDOW
    statement = (
        insert(table)
        .values(key=key, failures=1, window_started_at=now, blocked_until=None)
        .on_conflict_do_update(
            index_elements=["key"],
            set_={
                "failures": case((expired, 1), else_=table.c.failures + 1),
                "window_started_at": case(
                    (expired, literal(now, UTCDateTime())), else_=table.c.window_started_at
                ),
            },
        )
        .returning(table.c.failures, table.c.window_started_at)
    )
    failures, started = session.execute(statement).one()
    row = session.get(SignInThrottle, key, populate_existing=True)
    assert row is not None
    row.failures, row.window_started_at = failures, started
    return row


def record_failure(*, session: Session, keys: ThrottleKeys, now: datetime | None = None) -> float:
    """Count one failed sign-in; returns the longest wait it imposes on this IP (0 when free)."""
    settings = get_settings()
    now = now or utcnow()
    longest = 0.0
    for key, free in (
        (keys.ip_account, settings.login_free_failures),
        (keys.ip, settings.login_ip_free_failures),
    ):
        row = _bump(session, key, now)
        wait = delay_after(row.failures, free)
        row.blocked_until = now + timedelta(seconds=wait) if wait else None
        longest = max(longest, wait)
        session.add(row)
    account = _bump(session, keys.account, now)
    if account.failures >= settings.login_account_failures_per_hour:
        account.blocked_until = account.window_started_at + WINDOW
        session.add(account)
        if account.failures == settings.login_account_failures_per_hour:
            # Once per window: the refusals that follow are not audited one by one (a guesser
            # would fill the log at the throttle's answer rate), so the owner reads it here.
            audit.record(
                session=session,
                action="auth.account_capped",
                actor_email=keys.email,
                target=_user_target(session, keys.email),
                ip=keys.address,
                details={"failures": account.failures, "until": account.blocked_until},
            )
        if not known_to_account(session=session, keys=keys, now=now):
            longest = max(longest, (account.blocked_until - now).total_seconds())
    session.flush()
    return longest


def _user_target(session: Session, email: str) -> str | None:
    user_id = session.exec(select(User.id).where(User.email == email)).first()
    return f"user:{user_id}" if user_id is not None else None


def record_success(*, session: Session, keys: ThrottleKeys) -> None:
    """A correct password from this IP clears its IP + account counter."""
    session.execute(delete(SignInThrottle).where(col(SignInThrottle.key) == keys.ip_account))


def forget_old(*, session: Session, now: datetime | None = None) -> int:
    """Housekeeping: drop counters whose window and block are both over."""
    now = now or utcnow()
    result = session.execute(
        delete(SignInThrottle).where(
            col(SignInThrottle.window_started_at) < now - WINDOW,
            (col(SignInThrottle.blocked_until).is_(None))
            | (col(SignInThrottle.blocked_until) < now),
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
