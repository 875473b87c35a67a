"""Signed webhook delivery with retries, a delivery log and chaos controls."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import threading
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .core import render

if TYPE_CHECKING:  # pragma: no cover
    from .sandbox import Sandbox

log = logging.getLogger("stripe_sandbox.webhooks")
CLI_TARGET = "__cli__"


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


@dataclass
class Controls:
    paused: bool = False
    duplicate: int = 1  # copies sent of each delivery
    shuffle: bool = False
    seed: int | None = None
    delay: float = 0.0  # seconds added before a new delivery becomes due
    drop_next: int = 0  # deliveries to lose
    drop_retry: bool = True  # a lost delivery is retried later like a failure

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Deliverer:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.controls = Controls()
        self._rng = random.Random()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="stripe-sandbox-webhooks")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._task = None

    def wake(self) -> None:
        loop, ev = self._loop, self._wake
        if loop is None or ev is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            ev.set()
        else:
            loop.call_soon_threadsafe(ev.set)

    def reset_controls(self) -> None:
        self.controls = Controls()
        self._rng = random.Random()
        self.wake()

    def set_seed(self, seed: int | None) -> None:
        self.controls.seed = seed
        self._rng = random.Random(seed)

    # -- queue ----------------------------------------------------------------------------------
    def enqueue(self, event_id: str, targets: list[str], *, replay: bool = False) -> None:
        at = time.time() + max(0.0, self.controls.delay)
        conn = self.sb.store.conn
        for t in targets:
            conn.execute(
                "INSERT INTO queue(event_id, target, next_at, replay) VALUES (?,?,?,?)",
                (event_id, t, at, 1 if replay else 0),
            )

    def pending_count(self) -> int:
        return self.sb.store.conn.execute(
            "SELECT COUNT(*) FROM queue WHERE state='pending'"
        ).fetchone()[0]

    def due_count(self) -> int:
        return self.sb.store.conn.execute(
            "SELECT COUNT(*) FROM queue WHERE state='pending' AND next_at<=?", (time.time(),)
        ).fetchone()[0]

    @property
    def busy(self) -> bool:
        return self._busy

    async def _run(self) -> None:
        assert self._wake is not None
        async with _client() as client:
            while True:
                self._wake.clear()
                delivered = False
                if not self.controls.paused:
                    rows = self.sb.store.conn.execute(
                        "SELECT qid, event_id, target, attempts, replay FROM queue "
                        "WHERE state='pending' AND next_at<=? ORDER BY next_at, qid LIMIT 200",
                        (time.time(),),
                    ).fetchall()
                    if rows:
                        if self.controls.shuffle:
                            self._rng.shuffle(rows)
                        self._busy = True
                        try:
                            for row in rows:
                                if self.controls.paused:
                                    break
                                try:
                                    await self._deliver(client, *row)
                                except Exception:  # never let the loop die
                                    log.exception("webhook delivery crashed")
                                delivered = True
                        finally:
                            self._busy = False
                if delivered:
                    await asyncio.sleep(0)
                    continue
                timeout: float | None = None
                if not self.controls.paused:
                    row = self.sb.store.conn.execute(
                        "SELECT MIN(next_at) FROM queue WHERE state='pending'"
                    ).fetchone()
                    if row and row[0] is not None:
                        timeout = max(0.0, row[0] - time.time())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)

    def _target(self, target: str) -> tuple[str, str] | None:
        if target == CLI_TARGET:
            if not self.sb.webhook_url:
                return None
            return self.sb.webhook_url, self.sb.webhook_secret
        we = self.sb.store.get(target)
        if we is None or we.get("status") != "enabled":
            return None
        return we["url"], we["_secret"]

    async def _deliver(
        self, client: Any, qid: int, event_id: str, target: str, attempts: int, replay: int
    ) -> None:
        store = self.sb.store
        evt = store.get(event_id)
        tgt = self._target(target)
        if evt is None or tgt is None:
            store.conn.execute("UPDATE queue SET state='skipped' WHERE qid=?", (qid,))
            if evt is not None and not replay:
                self._settle(event_id)
            return
        url, secret = tgt
        attempt = attempts + 1
        payload = json.dumps(render(evt), indent=2)
        if self.controls.drop_next > 0:
            self.controls.drop_next -= 1
            self._log(evt, target, url, attempt, "dropped", None, "dropped by /_sandbox control")
            if self.controls.drop_retry:
                self._failed(qid, attempt)
            else:
                store.conn.execute("UPDATE queue SET state='dropped' WHERE qid=?", (qid,))
            return
        copies = max(1, self.controls.duplicate)
        ok = False
        for _ in range(copies):
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": sign(payload, secret),
            }
            status: int | None = None
            error: str | None = None
            try:
                resp = await client.post(url, content=payload.encode(), headers=headers)
                status = resp.status_code
            except Exception as exc:  # connection refused, timeout, ...
                error = f"{type(exc).__name__}: {exc}"[:500]
            good = status is not None and 200 <= status < 300
            ok = ok or good
            self._log(evt, target, url, attempt, "succeeded" if good else "failed", status, error)
        if ok:
            store.conn.execute(
                "UPDATE queue SET state='delivered', attempts=? WHERE qid=?", (attempt, qid)
            )
            if not replay:
                self._settle(event_id)
        else:
            self._failed(qid, attempt)

    def _failed(self, qid: int, attempt: int) -> None:
        sb = self.sb
        if attempt >= sb.max_attempts:
            sb.store.conn.execute(
                "UPDATE queue SET state='failed', attempts=? WHERE qid=?", (attempt, qid)
            )
            return
        backoff = sb.retry_base * (2 ** (attempt - 1))
        sb.store.conn.execute(
            "UPDATE queue SET attempts=?, next_at=? WHERE qid=?",
            (attempt, time.time() + backoff, qid),
        )

    def _settle(self, event_id: str) -> None:
        store = self.sb.store
        with store.lock:
            evt = store.get(event_id)
            if evt is not None and evt.get("pending_webhooks", 0) > 0:
                evt["pending_webhooks"] -= 1
                store.put(evt)

    def _log(
        self,
        evt: dict[str, Any],
        target: str,
        url: str,
        attempt: int,
        status: str,
        http_status: int | None,
        error: str | None,
    ) -> None:
        self.sb.store.conn.execute(
            "INSERT INTO deliveries(event_id, event_type, target, url, attempt, status, "
            "http_status, error, at) VALUES (?,?,?,?,?,?,?,?,?)",
            (evt["id"], evt["type"], target, url, attempt, status, http_status, error, time.time()),
        )

    def deliveries(
        self, event_id: str | None = None, target: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        q = (
            "SELECT did, event_id, event_type, target, url, attempt, status, http_status, "
            "error, at FROM deliveries"
        )
        cond: list[str] = []
        args: list[Any] = []
        if event_id:
            cond.append("event_id=?")
            args.append(event_id)
        if target:
            cond.append("target=?")
            args.append(target)
        if cond:
            q += " WHERE " + " AND ".join(cond)
        q += " ORDER BY did LIMIT ?"
        args.append(limit)
        keys = [
            "id",
            "event",
            "type",
            "target",
            "url",
            "attempt",
            "status",
            "http_status",
            "error",
            "at",
        ]
        return [dict(zip(keys, r, strict=True)) for r in self.sb.store.conn.execute(q, args)]


def _client():
    import httpx

    return httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0), follow_redirects=False)
