"""The append-only audit log: who did what, when, from where, chained by SHA-256.

Each row's `hash` is SHA-256 over the previous row's hash and the row's canonical JSON content
(id, time, actor, action, target, ip, details), so editing, deleting or re-ordering any row
breaks the chain from there on; `verify_chain` finds the first such row. Appends are
serialized through the one-row `audit_chain_head` table: `record` first updates that row,
which takes PostgreSQL's row lock (the same as SELECT … FOR UPDATE) or SQLite's write lock,
then reads the head, so two writers can never link to the same predecessor.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from shop.models import AuditChainHead, AuditLog, utcnow

GENESIS_HASH = "0" * 64


class Actor(Protocol):
    """Anything with an id and an email: a User row or the request's CurrentUser."""

    @property
    def id(self) -> int | None: ...

    @property
    def email(self) -> str: ...


def canonical_content(
    *,
    id: int,
    at: datetime,
    actor_user_id: int | None,
    actor_email: str | None,
    action: str,
    target: str | None,
    ip: str | None,
    details: dict[str, Any],
) -> str:
    return json.dumps(
        {
            "id": id,
            "at": at.isoformat(timespec="microseconds"),
            "actor_user_id": actor_user_id,
            "actor_email": actor_email,
            "action": action,
            "target": target,
            "ip": ip,
            "details": details,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )


def chain_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


def row_hash(row: AuditLog) -> str:
    return chain_hash(
        row.prev_hash,
        canonical_content(
            id=row.id,
            at=row.at,
            actor_user_id=row.actor_user_id,
            actor_email=row.actor_email,
            action=row.action,
            target=row.target,
            ip=row.ip,
            details=row.details,
        ),
    )


def _lock_head(session: Session) -> AuditChainHead:
    """Take the append lock and return the chain head (creating it on first use)."""
    for _ in range(3):
        result = session.execute(
            update(AuditChainHead)
            .where(col(AuditChainHead.id) == 1)
            .values(last_id=AuditChainHead.last_id)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            return session.exec(
                select(AuditChainHead)
                .where(AuditChainHead.id == 1)
                .execution_options(populate_existing=True)
            ).one()
        last = session.exec(select(AuditLog).order_by(col(AuditLog.id).desc()).limit(1)).first()
        try:
            with session.begin_nested():
                session.add(
                    AuditChainHead(
                        id=1,
                        last_id=last.id if last else 0,
                        last_hash=last.hash if last else GENESIS_HASH,
                    )
                )
        except IntegrityError:
            continue  # another writer created it first; lock it on the next pass
    raise RuntimeError("could not lock the audit chain head")


def record(
    *,
    session: Session,
    action: str,
    actor: Actor | None = None,
    target: str | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
    actor_email: str | None = None,
) -> AuditLog:
    """Append one entry in the caller's transaction (it commits or rolls back with it)."""
    head = _lock_head(session)
    details = json.loads(json.dumps(details or {}, default=str))
    row = AuditLog(
        id=head.last_id + 1,
        at=utcnow(),
        actor_user_id=actor.id if actor else None,
        actor_email=actor.email if actor else actor_email,
        action=action,
        target=target,
        ip=ip,
        details=details,
        prev_hash=head.last_hash,
        hash="",
    )
    row.hash = row_hash(row)
    session.add(row)
    head.last_id = row.id
    head.last_hash = row.hash
    session.add(head)
    session.flush()
    return row


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows_checked: int
    first_bad_id: int | None = None
    problem: str | None = None


def verify_chain(*, session: Session, batch: int = 1000) -> ChainReport:
    """Walk the chain from the first row; report the first row that does not fit."""
    prev_hash = GENESIS_HASH
    expected_id = 1
    checked = 0
    last_id = 0
    while True:
        rows = session.exec(
            select(AuditLog)
            .where(col(AuditLog.id) > last_id)
            .order_by(col(AuditLog.id))
            .limit(batch)
        ).all()
        if not rows:
            break
        for row in rows:
            if row.id != expected_id:
                return ChainReport(False, checked, expected_id, f"row {expected_id} is missing")
            if row.prev_hash != prev_hash:
                return ChainReport(
                    False, checked, row.id, "prev_hash does not match the row before"
                )
            if row_hash(row) != row.hash:
                return ChainReport(False, checked, row.id, "content does not match its hash")
            prev_hash = row.hash
            expected_id += 1
            checked += 1
            last_id = row.id
    head = session.get(AuditChainHead, 1)
    if head is not None and (head.last_id != last_id or head.last_hash != prev_hash):
        return ChainReport(
            False,
            checked,
            last_id + 1,
            f"rows after {last_id} were removed (head is at {head.last_id})",
        )
    return ChainReport(True, checked)


def _filtered(
    query: Any,
    *,
    action: str | None,
    actor_email: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Any:
    if action:
        query = query.where(AuditLog.action == action)
    if actor_email:
        query = query.where(AuditLog.actor_email == actor_email.strip().lower())
    if since is not None:
        query = query.where(col(AuditLog.at) >= since)
    if until is not None:
        query = query.where(col(AuditLog.at) < until)
    return query


def list_entries(
    *,
    session: Session,
    action: str | None = None,
    actor_email: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditLog]:
    """Newest first, filtered (`until` exclusive); `before_id` pages backwards."""
    query = _filtered(
        select(AuditLog), action=action, actor_email=actor_email, since=since, until=until
    )
    if before_id:
        query = query.where(col(AuditLog.id) < before_id)
    return list(session.exec(query.order_by(col(AuditLog.id).desc()).limit(limit)).all())


@dataclass(frozen=True)
class AuditPage:
    """One page of the log, newest first, and whether older or newer matching rows exist."""

    items: list[AuditLog]
    has_older: bool
    has_newer: bool


def page_entries(
    *,
    session: Session,
    action: str | None = None,
    actor_email: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> AuditPage:
    """A page for the admin's log viewer: `before_id` pages to older rows, `after_id` to newer
    ones (keyset paging, so a growing log does not shift the pages)."""
    filters: dict[str, Any] = {
        "action": action,
        "actor_email": actor_email,
        "since": since,
        "until": until,
    }
    query = _filtered(select(AuditLog), **filters)
    if after_id:
        rows = session.exec(
            query.where(col(AuditLog.id) > after_id).order_by(col(AuditLog.id)).limit(limit)
        ).all()
        items = list(reversed(rows))
    else:
        if before_id:
            query = query.where(col(AuditLog.id) < before_id)
        items = list(session.exec(query.order_by(col(AuditLog.id).desc()).limit(limit)).all())
    if not items:
        return AuditPage(items=[], has_older=False, has_newer=bool(before_id))

    def exists(condition: Any) -> bool:
        probe = _filtered(select(AuditLog.id), **filters).where(condition).limit(1)
        return session.exec(probe).first() is not None

    return AuditPage(
        items=items,
        has_older=exists(col(AuditLog.id) < items[-1].id),
        has_newer=exists(col(AuditLog.id) > items[0].id),
    )


def list_actions(*, session: Session) -> list[str]:
    """Every action name that occurs in the log, for the viewer's filter."""
    return sorted(session.exec(select(AuditLog.action).distinct()).all())
