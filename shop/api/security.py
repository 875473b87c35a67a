"""ASGI middleware guarding /api/*: per-IP rate limits and the CSRF origin check.

CSRF: a state-changing request (POST, PUT, PATCH, DELETE) that carries the session cookie and
no bearer token must come from our own origin: its `Origin` (or, without one, its `Referer`)
must equal PUBLIC_URL's origin (or one of CSRF_TRUSTED_ORIGINS), else 403. Browsers send `Origin` on every cross-site POST and
cannot add an `Authorization` header cross-site without CORS (which we do not allow), so
bearer-token requests are exempt. A sign-in form posted from another site is refused too
(login CSRF) even without a cookie.

A request with neither `Origin` nor `Referer` (a script, curl, an old client) is refused only
when its cookie still opens a live session: a cookie left over from a session that ended
carries no authority, so the request is handled as the anonymous one it is (a sign-in with
it answers 401 or signs in; anything else that needs an account answers 401). Cross-site
browser requests always carry `Origin`, so this lets no forged request through.
"""

from __future__ import annotations

from urllib.parse import urlparse

import anyio.to_thread
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from shop.api.errors import error_response
from shop.db import session_scope
from shop.services import auth
from shop.services.auth import SESSION_COOKIE
from shop.services.ratelimit import RateLimiter
from shop.settings import get_settings

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Stripe's webhook deliveries come in bursts from few IPs; the signature is their auth.
RATE_LIMIT_EXEMPT = {"/api/health", "/api/ready", "/api/webhooks/stripe"}
NO_ORIGIN = "requests signed in by cookie need a same-origin Origin header"


def _origin_of(url: str) -> str | None:
    parsed = urlparse(url)
    if not parsed.scheme or not parsed.netloc:
        return None
    return f"{parsed.scheme}://{parsed.netloc}".lower()


def csrf_refusal(request: Request) -> str | None:
    """Why this request must be refused as cross-site, or None when it may pass."""
    if request.method not in UNSAFE_METHODS:
        return None
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return None
    trusted = get_settings().trusted_origins
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return None if origin.rstrip("/").lower() in trusted else "cross-site request refused"
    referer = request.headers.get("referer")
    if referer:
        return None if _origin_of(referer) in trusted else "cross-site request refused"
    if origin == "null" or SESSION_COOKIE in request.cookies:
        return NO_ORIGIN
    return None


def _opens_a_session(token: str | None) -> bool:
    with session_scope() as session:
        return auth.resolve_session_token(session=session, token=token) is not None


class ApiGuardMiddleware:
    """Runs before routing for every /api/ request."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if scope["path"] not in RATE_LIMIT_EXEMPT and self.limiter.enabled:
            ip = request.client.host if request.client else "unknown"
            if self.limiter.blocking:
                verdict = await anyio.to_thread.run_sync(self.limiter.check_ip, ip)
            else:
                verdict = self.limiter.check_ip(ip)
            if not verdict.allowed:
                response = error_response(
                    429,
                    "rate_limited",
                    f"Too many requests. Try again in {verdict.retry_after} s.",
                    headers={"Retry-After": str(verdict.retry_after)},
                )
                await response(scope, receive, send)
                return
        refusal = csrf_refusal(request)
        if refusal == NO_ORIGIN and request.headers.get("origin") is None:
            token = request.cookies.get(SESSION_COOKIE)
            if not await anyio.to_thread.run_sync(_opens_a_session, token):
                refusal = None
        if refusal:
            await error_response(403, "csrf_refused", refusal)(scope, receive, send)
            return
        await self.app(scope, receive, send)
