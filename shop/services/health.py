"""Is every part the shop depends on reachable? The database, Redis when configured, and
Stripe (DESIGN §5) — the sandbox in sandbox mode.

Backups are reported beside the checks, as a warning that never makes the shop unready: the
last backup failed, or none was made in twice BACKUP_EVERY_HOURS.

Stripe is asked at most once per STRIPE_CHECK_SECONDS, with a short timeout and one probe at
a time, so however often a health probe calls /api/ready it cannot hammer Stripe (or use up
the account's rate limit); the others get the last answer.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from shop.db import get_engine
from shop.services import stripe_api
from shop.settings import get_settings

log = logging.getLogger("shop.health")

STRIPE_CHECK_SECONDS = 5.0

_stripe_lock = threading.Lock()
# (what was checked, when by time.monotonic, the answer)
_stripe_answer: tuple[str, float, str] | None = None


# When this process started: with no backup at all, "overdue" counts from here.
STARTED_AT = datetime.now(UTC)


@dataclass
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)
    # Non-fatal: what the merchant should know, by topic ("backup"); never changes `ok`.
    warnings: dict[str, str] = field(default_factory=dict)
    backup: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(value in ("ok", "not_configured") for value in self.checks.values())


def check_readiness() -> Readiness:
    report = Readiness()
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        report.checks["database"] = "ok"
    except Exception as exc:
        log.warning("database not ready", extra={"error": type(exc).__name__})
        report.checks["database"] = "unavailable"

    redis_url = get_settings().redis_url
    if not redis_url:
        report.checks["redis"] = "not_configured"
    else:
        import redis

        try:
            client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
            client.ping()
            client.close()
            report.checks["redis"] = "ok"
        except Exception as exc:
            log.warning("redis not ready", extra={"error": type(exc).__name__})
            report.checks["redis"] = "unavailable"
    report.checks["stripe"] = stripe_status()
    _report_backups(report)
    return report


def _report_backups(report: Readiness) -> None:
    from shop.services.backups import backup_report

    try:
        backups = backup_report(since=STARTED_AT)
    except Exception as exc:  # a report about backups must not break the readiness probe
        log.warning("backup state unknown", extra={"error": type(exc).__name__})
        report.backup = {"state": "unknown"}
        return
    report.backup = {
        "state": backups.state,
        "last_backup_at": backups.last_backup_at.isoformat() if backups.last_backup_at else None,
        "last_file": backups.last_file,
        "failed_at": backups.failed_at.isoformat() if backups.failed_at else None,
    }
    if backups.warning:
        report.warnings["backup"] = backups.warning


def stripe_status() -> str:
    """Stripe's answer: "ok", "unavailable" (none in time) or "refused" (not to our key)."""
    global _stripe_answer
    settings = get_settings()
    # A changed setting (another sandbox, a live key) is checked afresh, not served the old answer.
    target = f"sandbox:{settings.stripe_api_base}" if settings.sandbox_mode else "stripe"
    with _stripe_lock:
        cached = _stripe_answer
        if cached and cached[0] == target and time.monotonic() - cached[1] < STRIPE_CHECK_SECONDS:
            return cached[2]
        try:
            stripe_api.check_reachable()
            status = "ok"
        except stripe_api.StripeUnavailable as exc:
            log.warning("stripe not ready", extra={"error": str(exc)})
            status = "unavailable"
        except stripe_api.StripeRefused as exc:
            log.warning("stripe refused the readiness check", extra={"error": str(exc)})
            status = "refused"
        _stripe_answer = (target, time.monotonic(), status)
        return status
