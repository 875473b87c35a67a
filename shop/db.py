"""Database engine, sessions and migrations."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

from shop.services import clock
from shop.settings import get_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQLITE_BUSY_TIMEOUT_MS = 10_000

_engines: dict[str, Engine] = {}
# Re-entrant: work run after a commit may write again from the same thread.
_sqlite_writers = threading.RLock()
_AFTER_UNLOCK_KEY = "shop_after_unlock"
_SHORT_WAIT_KEY = "shop_short_busy_timeout"
# sqlite3 primary result codes: SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CANTOPEN.
_SQLITE_UNAVAILABLE = (5, 6, 14)
# SQLSTATEs: connection exceptions, lock_timeout, statement_timeout, server shutting down.
_POSTGRES_UNAVAILABLE = ("08", "55P03", "57014", "57P01", "57P02", "57P03")
log = logging.getLogger("shop.db")


def normalize_url(url: str) -> str:
    """Plain `postgresql://` URLs use psycopg 3, the driver we ship."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "checkin", _restore_busy_timeout)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # FULL: a commit is on disk before it returns, as with PostgreSQL's default. Under NORMAL
    # a power cut can undo the last commits, e.g. a webhook event already answered 2xx,
    # which Stripe would then never send again.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
    clock.register_sqlite_functions(dbapi_connection)


def _restore_busy_timeout(dbapi_connection: Any, record: Any) -> None:
    """A connection that waited less for one transaction (`write_scope(lock_timeout_ms=…)`)
    goes back to the pool with the app's wait, so the next user of it is not cut short."""
    if record.info.pop(_SHORT_WAIT_KEY, False) and dbapi_connection is not None:
        dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def _wait_at_most(session: Session, milliseconds: int) -> None:
    """Make this transaction give up on a lock after `milliseconds`: SQLite's busy timeout for
    the connection until it is checked in again; PostgreSQL's lock and statement timeouts for
    the transaction only (`set_config(…, true)` is `SET LOCAL`)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.info[_SHORT_WAIT_KEY] = True
        connection.exec_driver_sql(f"PRAGMA busy_timeout={int(milliseconds)}")
    else:
        connection.execute(
            text(
                "SELECT set_config('lock_timeout', :wait, true),"
                " set_config('statement_timeout', :wait, true)"
            ),
            {"wait": f"{int(milliseconds)}ms"},
        )


def database_unavailable(exc: BaseException) -> bool:
    """The database could not be reached, or stayed locked for longer than the transaction was
    willing to wait: trying another write at once would only wait as long again."""
    if not isinstance(exc, OperationalError):
        return False
    if exc.connection_invalidated:
        return True
    cause = exc.orig
    sqlite_code = getattr(cause, "sqlite_errorcode", None)
    if sqlite_code is not None:
        return sqlite_code & 0xFF in _SQLITE_UNAVAILABLE
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is None:  # no server answered (refused, unreachable, dropped): psycopg's own
        return True
    return str(sqlstate).startswith(_POSTGRES_UNAVAILABLE)


def get_engine(url: str | None = None) -> Engine:
    key = normalize_url(url or get_settings().effective_database_url)
    engine = _engines.get(key)
    if engine is None:
        engine = _engines[key] = make_engine(key)
    return engine


def dispose_engines() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def write_scope(
    url: str | None = None,
    *,
    deferred: list[Callable[[], None]] | None = None,
    lock_timeout_ms: int | None = None,
) -> Iterator[Session]:
    """`session_scope` for a short unit of work that writes at once and arrives in bursts
    (webhooks). SQLite admits one writer and makes the others poll with sleeps of up to
    100 ms; here this process's writers queue on a lock instead, in turn and without sleeping.
    PostgreSQL locks rows, not the database: no lock there.

    What the transaction does after commit (`after_unlock`: mail, cache bumps) waits until
    the lock is released, so a slow mail server never holds up the next writer. It runs as
    the block ends, or, given a `deferred` list, is left there for the caller to run with
    `run_deferred` when it has let go of whatever else it holds.

    `lock_timeout_ms` caps how long this transaction waits for a database another process
    holds locked (SQLite) or for a lock (PostgreSQL), instead of SQLITE_BUSY_TIMEOUT_MS; past
    it the block raises an `OperationalError` that `database_unavailable` recognises."""
    later = deferred if deferred is not None else []
    sqlite = get_engine(url).dialect.name == "sqlite"
    with _sqlite_writers if sqlite else nullcontext(), session_scope(url) as session:
        if lock_timeout_ms is not None:
            _wait_at_most(session, lock_timeout_ms)
        session.info[_AFTER_UNLOCK_KEY] = later
        yield session
    if deferred is None:
        run_deferred(later)


def writer_turn(bind: Engine | Connection) -> AbstractContextManager[object]:
    """The turn `write_scope`'s writers take on SQLite (nothing on PostgreSQL), for a write
    made outside it, e.g. stamping a receipt sent, that must queue with them rather than make
    SQLite's busy handler sleep."""
    return _sqlite_writers if bind.dialect.name == "sqlite" else nullcontext()


def run_deferred(callbacks: list[Callable[[], None]]) -> None:
    """Run the after-commit work `write_scope` left in its `deferred` list."""
    for callback in callbacks:
        try:
            callback()
        except Exception:  # committed already: report, never undo
            log.exception("after-commit work failed")


def after_unlock(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` (work that follows a commit) now, or, inside `write_scope`, once its
    writers' lock is released."""
    later: list[Callable[[], None]] | None = session.info.get(_AFTER_UNLOCK_KEY)
    if later is None:
        callback()
    else:
        later.append(callback)


def alembic_config(url: str | None = None) -> Any:
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = normalize_url(url or get_settings().effective_database_url)
    return config


def migrate(url: str | None = None, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)
