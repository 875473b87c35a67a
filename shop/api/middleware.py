"""ASGI middleware: a request id on every response the shop serves, and for the REST API an
access log line and `Cache-Control: no-store` unless the route chose its own caching; a cap on
the size of the API's request bodies; a refusal of text that no database column can keep."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shop.api.errors import BodyTooLarge, error_response
from shop.logs import request_id_var

log = logging.getLogger("shop.http")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
_SCOPE_KEY = "shop.request_id"
API_PREFIX = "/api/"
# API answers carry tokens, accounts, orders and staff data; a browser or proxy must not keep
# them (RFC 6749 §5.1 for token responses). A route that may be kept says so itself.
API_DEFAULT_CACHE_CONTROL = b"no-store"


class RequestIdMiddleware:
    """Honours a sane incoming X-Request-ID (from a proxy), else makes one.

    It wraps the REST API (its own tests serve that alone) and, again, the whole ASGI app
    (`shop.web.asgi`: product pages, Reflex pages, static files). The outermost one gives the
    id; one further in sees it in the scope and stays out of the way, so a request has one
    id in its header and in every log line.

    The outermost one also gives /api/ answers without a Cache-Control header their default,
    API_DEFAULT_CACHE_CONTROL: there it sees every answer, the API's errors and refusals from
    the middleware inside it included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _SCOPE_KEY in scope:
            await self.app(scope, receive, send)
            return
        incoming = next(
            (value.decode("latin-1") for key, value in scope["headers"] if key == b"x-request-id"),
            "",
        )
        # 32 random hex digits, like uuid4().hex without building a UUID on every request.
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else os.urandom(16).hex()
        scope[_SCOPE_KEY] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        is_api = scope["path"].startswith(API_PREFIX)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                if is_api and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", API_DEFAULT_CACHE_CONTROL))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if is_api:
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            request_id_var.reset(token)


Endpoint = TypeVar("Endpoint", bound=Callable[..., object])
_own_limits: dict[object, int | None] = {}


def body_limit(max_bytes: int | None) -> Callable[[Endpoint], Endpoint]:
    """Give an endpoint its own body limit instead of API_MAX_BODY_BYTES; None for one that
    enforces a limit itself while it streams the body (uploads, see `shop.services.uploads`)."""

    def mark(endpoint: Endpoint) -> Endpoint:
        _own_limits[endpoint] = max_bytes
        return endpoint

    return mark


class BodyLimitMiddleware:
    """Request bodies are at most `max_bytes` (API_MAX_BODY_BYTES) unless the endpoint says
    otherwise (`body_limit`). Beyond it, reading the body raises `BodyTooLarge`: a 413 with the
    JSON error shape before anything is parsed, at once when Content-Length declares too much,
    else as soon as the bytes that arrived pass the limit.

    Not FastAPI's own `max_body_size`: when Content-Length declares too much it answers a
    plain-text 413 that no exception handler can give the JSON error shape."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            # Looked up as the body is read, by then routing has found the endpoint.
            limit = _own_limits.get(scope.get("endpoint"), self.max_bytes)
            if limit is not None and received == 0 and _declared_length(scope) > limit:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if limit is not None and received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, receive_limited, send)


def _declared_length(scope: Scope) -> int:
    value = Headers(scope=scope).get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 20 else 0


UNSTORABLE_TEXT_MESSAGE = (
    "Text may not contain the NUL character (U+0000) or unpaired UTF-16 surrogates."
)
# The Stripe event is stored as Stripe sent it and answered as the webhook route decides.
_UNGUARDED_PATHS = frozenset({"/api/webhooks/stripe"})
_BODILESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class UnstorableTextMiddleware:
    """Refuses, with 422 `invalid_input` and before any handler runs, request text that no
    database column can keep: the NUL character (PostgreSQL's text types refuse it; the answer
    would be a 500) and unpaired surrogates (not encodable as UTF-8; SQLite fails on them) in
    the path, the query, a JSON body or a form body. In a JSON body both can only come as
    `\\u` escapes, so only bodies holding one are parsed here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _UNGUARDED_PATHS:
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            await _refuse(scope, receive, send)
            return
        if scope["method"] in _BODILESS_METHODS:
            await self.app(scope, receive, send)
            return
        content_type = Headers(scope=scope).get("content-type", "").split(";")[0].strip().lower()
        is_json = content_type == "application/json" or content_type.endswith("+json")
        if not is_json and content_type != "application/x-www-form-urlencoded":
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        try:
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
        except BodyTooLarge as exc:  # raised out here, no exception handler would shape it
            await error_response(413, exc.code, exc.detail)(scope, receive, send)
            return
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        if _unstorable(body, is_json=is_json):
            await _refuse(scope, receive, send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def _unstorable(body: bytes, *, is_json: bool) -> bool:
    if not is_json:
        return b"%00" in body
    if b"\\u" not in body:
        return False
    try:
        parsed = json.loads(body)
    except ValueError:  # the route answers 400 invalid_json
        return False
    return _holds_unstorable(parsed)


def _holds_unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value or not value.isascii() and _has_lone_surrogate(value)
    if isinstance(value, dict):
        return any(_holds_unstorable(k) or _holds_unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_unstorable(item) for item in value)
    return False


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(422, "invalid_input", UNSTORABLE_TEXT_MESSAGE)
    await response(scope, receive, send)
