"""The one call every catalog change makes: an audit entry now, a catalog version bump on commit.

The audit row joins the caller's transaction (it commits or rolls back with the change); the
public catalog cache is told only once the change is committed, so no reader can cache the
old answer under the new version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from shop.db import after_unlock
from shop.services import audit
from shop.services.catalog_cache import bump_catalog_version

_AFTER_COMMIT_KEY = "shop.after_commit"
log = logging.getLogger("shop.catalog")


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once, after this session's transaction commits; dropped on rollback
    (a savepoint rolling back inside the transaction does not drop it)."""
    callbacks: list[Callable[[], None]] | None = session.info.get(_AFTER_COMMIT_KEY)
    if callbacks is None:
        callbacks = session.info[_AFTER_COMMIT_KEY] = []
        event.listen(session, "after_commit", _run_callbacks)
        event.listen(session, "after_transaction_end", _forget_callbacks)
    if callback not in callbacks:
        callbacks.append(callback)


def _run_callbacks(session: Any) -> None:
    callbacks = session.info.get(_AFTER_COMMIT_KEY) or []
    pending = list(callbacks)
    callbacks.clear()
    for callback in pending:
        # Inside db.write_scope, after its writers' lock is released, like mail.
        after_unlock(session, partial(_run_logged, callback))


def _run_logged(callback: Callable[[], None]) -> None:
    # The change is committed: a failing follow-up (Redis away) is logged, not raised.
    try:
        callback()
    except Exception:
        log.exception("after-commit callback %r failed", callback)


def _forget_callbacks(session: Any, transaction: Any) -> None:
    # Runs after `after_commit` (which already ran them); for a rollback it drops them.
    if transaction.parent is None and not transaction.nested:
        callbacks = session.info.get(_AFTER_COMMIT_KEY)
        if callbacks:
            callbacks.clear()


def catalog_changed(
    *,
    session: Session,
    action: str,
    target: str,
    actor: audit.Actor | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record `action` (e.g. "catalog.product.create") on `target` (e.g. "product:12")."""
    audit.record(session=session, action=action, actor=actor, target=target, ip=ip, details=details)
    after_commit(session, bump_catalog_version)
