"""`POST /api/webhooks/stripe`: verify, store and process; 2xx only once the event is safe."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from shop.api.errors import ErrorOut, error_response
from shop.api.middleware import body_limit
from shop.db import database_unavailable, get_engine, run_deferred, write_scope
from shop.services import webhooks

router = APIRouter(tags=["webhooks"])
log = logging.getLogger("shop.api.webhooks")

# Stripe's events are at most a few hundred KB; this leaves room whatever API_MAX_BODY_BYTES is.
STRIPE_EVENT_MAX_BYTES = 2 * 1024 * 1024
# Stripe counts a delivery as failed when no answer came within about 10 s. Waiting less than
# that for a locked database (the app waits SQLITE_BUSY_TIMEOUT_MS) lets the 503 reach Stripe,
# which retries, and frees the delivery's turn for the next one.
WEBHOOK_LOCK_TIMEOUT_MS = 3_500


class WebhookAck(BaseModel):
    received: bool
    event_id: str
    handled: bool  # False: a type the shop does not act on, stored and acknowledged
    duplicate: bool  # True: this event was received (and processed) before


@router.post(
    "/api/webhooks/stripe",
    response_model=WebhookAck,
    summary="Receive a Stripe event",
    description=(
        "Stripe calls this with each event of the endpoint's subscription, a JSON Event object "
        "signed in the `Stripe-Signature` header with the endpoint's secret "
        "(STRIPE_WEBHOOK_SECRET). The event is stored once (by its id) and processed once; "
        "a delivery of an event already processed is acknowledged again. Bodies up to "
        f"{STRIPE_EVENT_MAX_BYTES // (1024 * 1024)} MiB."
    ),
    responses={
        200: {"description": "Stored and processed (or a duplicate, or a type not acted on)."},
        400: {
            "model": ErrorOut,
            "description": "`invalid_webhook`: bad or missing signature, a timestamp more than "
            "300 s away, or a body that is not a Stripe event; nothing is stored.",
        },
        413: {"model": ErrorOut, "description": "`payload_too_large`: the body is too large."},
        500: {
            "model": ErrorOut,
            "description": "`processing_failed`: stored, but processing failed; Stripe retries.",
        },
        503: {
            "model": ErrorOut,
            "description": "`unavailable`: the event could not be stored; Stripe retries.",
        },
    },
    openapi_extra={
        "parameters": [
            {
                "name": "Stripe-Signature",
                "in": "header",
                "required": True,
                "description": "Stripe's signature of the raw body: "
                "`t=<unix time>,v1=<HMAC-SHA256 hex>` (more `v1=` while a secret is rolled).",
                "schema": {"type": "string"},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "description": "A Stripe Event object.",
                        "required": ["id", "type", "data"],
                        "properties": {
                            "id": {"type": "string", "example": "evt_1PqR..."},
                            "type": {"type": "string", "example": "payment_intent.succeeded"},
                            "created": {"type": "integer"},
                            "data": {
                                "type": "object",
                                "properties": {"object": {"type": "object"}},
                            },
                        },
                    }
                }
            },
        },
    },
)
@body_limit(STRIPE_EVENT_MAX_BYTES)
async def stripe_webhook(request: Request) -> JSONResponse:
    payload = await request.body()
    deferred: list[Callable[[], None]] = []
    answer = await anyio.to_thread.run_sync(
        partial(
            receive,
            payload=payload,
            sig_header=request.headers.get("stripe-signature"),
            deferred=deferred,
        ),
        limiter=_deliveries_limiter(),
    )
    if deferred:  # the receipt email and the like, after the delivery has let go of its turn
        await run_in_threadpool(run_deferred, deferred)
    return answer


_limiters: dict[str, anyio.CapacityLimiter] = {}


def _deliveries_limiter() -> anyio.CapacityLimiter:
    """How many deliveries this process works on at once, in the order they came. On SQLite,
    one: writers take turns anyway, and more threads would only take the GIL from the one
    that holds the write lock at each statement (p99 ~200 ms → ~55 ms in `bench.webhooks`).
    On PostgreSQL, a few, so that one delivery's waits on the database overlap another's work."""
    dialect = get_engine().dialect.name
    limiter = _limiters.get(dialect)
    if limiter is None:
        limiter = _limiters[dialect] = anyio.CapacityLimiter(1 if dialect == "sqlite" else 4)
    return limiter


def receive(
    *,
    payload: bytes,
    sig_header: str | None,
    deferred: list[Callable[[], None]] | None = None,
) -> JSONResponse:
    """Verify, store and process one delivery. With `deferred`, the work that follows commit
    is left there for the caller (see `db.write_scope`)."""
    try:
        event = webhooks.verify_event(payload=payload, sig_header=sig_header)
    except webhooks.WebhookRejected as exc:
        return error_response(400, "invalid_webhook", str(exc))
    try:
        with write_scope(deferred=deferred, lock_timeout_ms=WEBHOOK_LOCK_TIMEOUT_MS) as session:
            outcome = webhooks.receive_event(session=session, event=event)
    except webhooks.WebhookRejected as exc:  # an object no retry can make processable
        log.warning("refused a malformed webhook event", extra={"event_id": event.id})
        return error_response(400, "invalid_webhook", str(exc))
    except Exception as exc:
        if database_unavailable(exc):
            # Writing the failure down would wait for the same lock or connection again.
            log.warning(
                "database unavailable for a webhook event: %s",
                exc.__class__.__name__,
                extra={"event_id": event.id},
            )
            return _unavailable()
        log.exception("receiving a webhook event failed", extra={"event_id": event.id})
        try:
            with write_scope(deferred=deferred, lock_timeout_ms=WEBHOOK_LOCK_TIMEOUT_MS) as session:
                webhooks.record_failure(
                    session=session, event=event, error=f"{type(exc).__name__}: {exc}"
                )
        except Exception:
            log.exception("could not store a webhook event", extra={"event_id": event.id})
            return _unavailable()
        return error_response(500, "processing_failed", "The event will be processed on retry.")
    return _answer(outcome.event_id, handled=outcome.handled, duplicate=outcome.already_processed)


def _unavailable() -> JSONResponse:
    return error_response(503, "unavailable", "The event could not be stored; retry later.")


def _answer(event_id: str, *, handled: bool, duplicate: bool) -> JSONResponse:
    return JSONResponse(
        {"received": True, "event_id": event_id, "handled": handled, "duplicate": duplicate}
    )
