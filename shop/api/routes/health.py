"""Liveness and readiness for the container orchestrator and load balancer."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from shop.services.health import check_readiness

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
def ready() -> JSONResponse:
    report = check_readiness()
    return JSONResponse(
        {
            "status": "ok" if report.ok else "unavailable",
            "checks": report.checks,
            # Never part of the status: a failed or overdue backup is a warning, not unready.
            "warnings": report.warnings,
            "backup": report.backup,
        },
        status_code=200 if report.ok else 503,
    )
