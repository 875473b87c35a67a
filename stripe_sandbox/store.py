"""SQLite persistence: one JSON blob per object, WAL, one connection per thread."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    created INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_type ON objects(type, seq);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS queue (
    qid INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    target TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    replay INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_due ON queue(state, next_at);
CREATE TABLE IF NOT EXISTS deliveries (
    did INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    target TEXT NOT NULL,
    url TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    http_status INTEGER,
    error TEXT,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Store:
    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            d = os.path.dirname(os.path.abspath(path))
            os.makedirs(d, exist_ok=True)
        else:  # a shared in-memory db would need a URI; use a temp file instead
            import tempfile

            fd, self.path = tempfile.mkstemp(suffix=".sqlite3", prefix="stripe-sandbox-")
            os.close(fd)
        self._local = threading.local()
        self.lock = threading.RLock()
        with self.lock:
            self.conn.executescript(SCHEMA)
            # Stripe keeps idempotency keys for 24 hours
            self.conn.execute("DELETE FROM idempotency WHERE created < ?", (time.time() - 86400,))

    @property
    def conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
            c.execute("PRAGMA busy_timeout=30000")
            self._local.conn = c
        return c

    # -- transactions -------------------------------------------------------------
    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        with contextlib.suppress(sqlite3.OperationalError):
            self.conn.execute("ROLLBACK")

    # -- objects ------------------------------------------------------------------
    def get(self, id_: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT data FROM objects WHERE id=?", (id_,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(obj, separators=(",", ":"))
        cur = self.conn.execute("UPDATE objects SET data=? WHERE id=?", (data, obj["id"]))
        if cur.rowcount == 0:
            self.conn.execute(
                "INSERT INTO objects(id, type, created, data) VALUES (?,?,?,?)",
                (obj["id"], obj["object"], int(obj.get("created") or time.time()), data),
            )
        return obj

    def delete(self, id_: str) -> None:
        self.conn.execute("DELETE FROM objects WHERE id=?", (id_,))

    def seq_of(self, id_: str) -> int | None:
        row = self.conn.execute("SELECT seq FROM objects WHERE id=?", (id_,)).fetchone()
        return row[0] if row else None

    def iter_type(self, type_: str, newest_first: bool = True) -> Iterable[tuple[int, dict]]:
        order = "DESC" if newest_first else "ASC"
        for seq, data in self.conn.execute(
            f"SELECT seq, data FROM objects WHERE type=? ORDER BY seq {order}", (type_,)
        ):
            yield seq, json.loads(data)

    def all_of(self, type_: str) -> list[dict[str, Any]]:
        return [o for _, o in self.iter_type(type_)]

    # -- idempotency --------------------------------------------------------------
    def idem_get(self, key: str) -> tuple[str, int, str] | None:
        row = self.conn.execute(
            "SELECT fingerprint, status, body FROM idempotency WHERE key=?", (key,)
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def idem_put(self, key: str, fingerprint: str, status: int, body: str) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO idempotency(key, fingerprint, status, body, created) "
            "VALUES (?,?,?,?,?)",
            (key, fingerprint, status, body, time.time()),
        )

    # -- key/value ----------------------------------------------------------------
    def kv_get(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def kv_put(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO kv(key, value) VALUES (?,?)", (key, value))

    def wipe(self) -> None:
        for t in ("objects", "idempotency", "queue", "deliveries", "kv"):
            self.conn.execute(f"DELETE FROM {t}")

    def close(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None
