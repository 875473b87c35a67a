"""Is every part the shop depends on reachable?"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import text

from shop.db import get_engine
from shop.settings import get_settings

log = logging.getLogger("shop.health")


@dataclass
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)

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
    return report
