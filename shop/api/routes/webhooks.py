"""`POST /api/webhooks/stripe`: verify, store and process; 2xx only once the event is safe."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from shop.api.errors import error_response
from shop.db import write_scope
from shop.services import webhooks

router = APIRouter(tags=["webhooks"])
log = logging.getLogger("shop.api.webhooks")


@router.post("/api/webhooks/stripe", include_in_schema=False)
async def stripe_webhook(request: Request) -> JSONResponse:
    payload = await request.body()
    return await run_in_threadpool(
        receive, payload=payload, sig_header=request.headers.get("stripe-signature")
    )


def receive(*, payload: bytes, sig_header: str | None) -> JSONResponse:
    try:
        event = webhooks.verify_event(payload=payload, sig_header=sig_header)
    except webhooks.WebhookRejected as exc:
        return error_response(400, "invalid_webhook", str(exc))
    try:
        with write_scope() as session:
            outcome = webhooks.receive_event(session=session, event=event)
    except Exception as exc:
        log.exception("receiving a webhook event failed", extra={"event_id": event.id})
        try:
            with write_scope() as session:
                webhooks.record_failure(
                    session=session, event=event, error=f"{type(exc).__name__}: {exc}"
                )
        except Exception:
            log.exception("could not store a webhook event", extra={"event_id": event.id})
            return error_response(503, "unavailable", "The event could not be stored; retry later.")
        return error_response(500, "processing_failed", "The event will be processed on retry.")
    return _answer(outcome.event_id, handled=outcome.handled, duplicate=outcome.already_processed)


def _answer(event_id: str, *, handled: bool, duplicate: bool) -> JSONResponse:
    return JSONResponse(
        {"received": True, "event_id": event_id, "handled": handled, "duplicate": duplicate}
    )
