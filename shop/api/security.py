"""ASGI middleware guarding /api/*: per-IP rate limits and the CSRF origin check.

CSRF: a state-changing request (POST, PUT, PATCH, DELETE) without a bearer token is refused
with 403 when a browser says it comes from another site:
- `Sec-Fetch-Site` (sent by every current browser) other than `same-origin` or `none`, unless
  its `Origin` is PUBLIC_URL's or one of CSRF_TRUSTED_ORIGINS;
- else an `Origin` that is not one of those (an opaque `null` one included);
- else, without `Origin`, a `Referer` from another origin.
A request with none of these headers did not come from a page of another site (browsers send
`Origin` on every cross-site POST, and SameSite=Lax keeps the session cookie off them anyway):
it is a script, curl or an API client, handled like any other, with its cookie or without.
Bearer-token requests are exempt: a page of another site cannot add an `Authorization` header
without CORS, which we do not allow. A sign-in form posted from another site is refused too
(login CSRF) even without a cookie. This is the rule of Go's `http.CrossOriginProtection`.
An `Origin` that is the very address the request was sent to (http://127.0.0.1:8000 when
PUBLIC_URL says localhost) is our own page: see `shop.web.origins`.
"""

from __future__ import annotations

from urllib.parse import urlparse

import anyio.to_thread
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from shop.api.errors import error_response
from shop.services.ratelimit import RateLimiter
from shop.settings import get_settings
from shop.web.origins import same_address_origin

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Stripe's webhook deliveries come in bursts from few IPs; the signature is their auth.
RATE_LIMIT_EXEMPT = {"/api/health", "/api/ready", "/api/webhooks/stripe"}
CROSS_SITE = "cross-site request refused"


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
    trusted_origin = origin is not None and (
        origin.rstrip("/").lower() in trusted or same_address_origin(origin, request.scope)
    )
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site in ("same-origin", "none") or trusted_origin:
            return None
        return CROSS_SITE
    if origin is not None:
        return None if trusted_origin else CROSS_SITE
    referer = request.headers.get("referer")
    if referer and _origin_of(referer) not in trusted:
        return CROSS_SITE
    return None


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
        if refusal:
            await error_response(403, "csrf_refused", refusal)(scope, receive, send)
            return
        await self.app(scope, receive, send)
