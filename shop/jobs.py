"""Periodic jobs (APScheduler) that keep the shop consistent without anyone watching.

A job is a thin function of no arguments at the bottom of this file, registered with
`@periodic(name, every=…)`, that opens its own database session and calls one service. The scheduler runs inside each app process; `run_job` takes
a per-tick claim first (Redis `SET NX` when REDIS_URL is set, else a lock file in the data
dir), so with several processes a job still runs once per tick. Jobs must be idempotent:
a second run changes nothing.

Jobs also run by hand: `python -m shop jobs run NAME` (or `python -m shop jobs list`); a job
that fails there is an error (exit code 1), not a log line.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from shop.services.errors import one_line
from shop.settings import get_settings

log = logging.getLogger("shop.jobs")


# When the first run is due after start: a fixed delay, or one worked out at start.
FirstAfter = timedelta | Callable[[], timedelta] | None


class JobFailed(Exception):
    """A job run by hand did not do its work; the message says why, in one line."""


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta
    run: Callable[[], object]
    first_after: FirstAfter = None  # None: the first run is one `every` after start


JOBS: dict[str, Job] = {}


def periodic(
    name: str, *, every: timedelta, first_after: FirstAfter = None
) -> Callable[[Callable[[], object]], Callable[[], object]]:
    """Register `function` as the job `name`, run every `every` (the first time
    `first_after` the start, when given; a function is asked when the scheduler starts)."""

    def register(function: Callable[[], object]) -> Callable[[], object]:
        JOBS[name] = Job(name=name, every=every, run=function, first_after=first_after)
        return function

    return register


def _claim_tick(job: Job) -> bool:
    """True for exactly one process per tick of `job`."""
    # A claim lasts a little less than a tick, so a late tick is not skipped.
    hold_seconds = max(1, int(job.every.total_seconds() * 0.9))
    settings = get_settings()
    if settings.redis_url:
        import redis

        key = f"{settings.rate_limit_namespace}:job:{job.name}"
        try:
            client = redis.Redis.from_url(
                settings.redis_url, socket_timeout=2, socket_connect_timeout=2
            )
            try:
                return bool(client.set(key, str(time.time()), nx=True, ex=hold_seconds))
            finally:
                client.close()
        except redis.RedisError as exc:
            # Redis down: the lock file below still claims the tick among the processes of
            # this machine, so the job is not skipped for the length of the outage.
            log.warning("job %s: Redis unavailable (%s); claiming with a lock file", job.name, exc)
    lock_dir = settings.data_dir / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"job-{job.name}", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        last = float(handle.read().strip() or 0)
        now = time.time()
        if now - last < hold_seconds:
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(str(now))
        return True


def run_job(name: str, *, claim: bool = True) -> object:
    """Run one job now. Scheduled runs claim the tick; a run by hand (claim=False) does not."""
    job = JOBS[name]
    if claim and not _claim_tick(job):
        log.debug("job %s: another process has this tick", name)
        return None
    started = time.monotonic()
    try:
        result = job.run()
    except Exception:
        # A failing job must not stop the scheduler; it is retried at the next tick.
        log.exception("job %s failed", name)
        return None
    log.info("job %s done in %.2f s", name, time.monotonic() - started)
    return result


def run_now(name: str) -> object:
    """Run one job by hand (no tick claim) and return what it returns; raises `JobFailed`
    with a one-line reason when it fails."""
    job = JOBS[name]
    started = time.monotonic()
    try:
        result = job.run()
    except Exception as exc:
        # The caller prints the reason in one line; a traceback is for DEBUG only.
        log.debug("job %s failed", name, exc_info=True)
        raise JobFailed(one_line(exc)) from exc
    log.info("job %s done in %.2f s", name, time.monotonic() - started)
    return result


def describe_result(result: object) -> str:
    """What a job returned, for a person: `synced=1 failed=0 remaining=0`, not a repr."""
    if result is None:
        return "ok"
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return " ".join(
            f"{field.name}={getattr(result, field.name)}" for field in dataclasses.fields(result)
        )
    return str(result)


def start_scheduler() -> BackgroundScheduler | None:
    """Start the periodic jobs in this process (no-op when JOBS_ENABLED is false)."""
    if not get_settings().jobs_enabled:
        return None
    scheduler = BackgroundScheduler(daemon=True)
    for job in JOBS.values():
        first: dict[str, Any] = {}
        if job.first_after is not None:
            delay = job.first_after() if callable(job.first_after) else job.first_after
            first["next_run_time"] = datetime.now(UTC) + delay
        scheduler.add_job(
            run_job,
            "interval",
            args=[job.name],
            seconds=job.every.total_seconds(),
            id=job.name,
            max_instances=1,
            coalesce=True,
            **first,
        )
    scheduler.start()
    return scheduler


# --- the jobs ---------------------------------------------------------------------------------


# Soon after start too: the demo catalog is seeded before the sandbox is up, and products
# saved while the shop was down should not wait a whole tick to be buyable by card.
@periodic("catalog-sync", every=timedelta(minutes=5), first_after=timedelta(seconds=10))
def sync_catalog_with_stripe() -> object:
    """Products saved while Stripe was unreachable reach it once it answers again."""
    from shop.db import session_scope
    from shop.services import catalog_sync

    with session_scope() as session:
        return catalog_sync.sync_pending_products(session=session)


@periodic("reconcile", every=timedelta(minutes=get_settings().reconcile_every_minutes))
def reconcile_with_stripe() -> object:
    """Orders, refunds and events that webhooks missed are repaired from Stripe's records."""
    from shop.services import reconciliation

    summary = reconciliation.run_reconciliation(trigger="schedule")
    if summary.error:
        raise JobFailed(f"repaired={summary.repaired_count}; {summary.error}")
    return f"repaired={summary.repaired_count}"


@periodic("receipts", every=timedelta(minutes=5))
def send_unsent_receipts() -> object:
    """Receipts that could not be emailed when their order was paid (mail server down,
    process stopped) go out once the mail server answers again."""
    from shop.db import session_scope
    from shop.services import receipts

    with session_scope() as session:
        return receipts.send_unsent_receipts(session=session)


@periodic("auth-cleanup", every=timedelta(hours=6))
def purge_stale_auth_records() -> object:
    """Ended sessions, spent refresh tokens, used or expired emailed links and old throttle
    counters are deleted once AUTH_RECORD_RETENTION_DAYS have passed."""
    from shop.db import session_scope
    from shop.services import auth

    with session_scope() as session:
        return auth.purge_stale_records(session=session)


def make_backup() -> object:
    """An archive of the database, local files and generated secrets in BACKUP_DIR; only the
    newest BACKUP_KEEP are kept. Its outcome is recorded for /api/ready either way."""
    from shop.services import backups

    return backups.run_scheduled_backup()


def _first_backup_after() -> timedelta:
    """A few minutes after start (not while `make run` settles in) when no archive is recent
    enough, else when the newest one is a tick old."""
    from shop.services import backups

    return backups.first_backup_delay()


if get_settings().backup_every_hours:
    periodic(
        "backup",
        every=timedelta(hours=get_settings().backup_every_hours),
        first_after=_first_backup_after,
    )(make_backup)
