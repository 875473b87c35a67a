"""Security headers and the websocket origin check, applied to every response.

The Content-Security-Policy is built in one place (`content_security_policy`) from the
settings and from the hashes of the inline scripts that the production build puts in
its HTML files (React Router's hydration scripts, Reflex's colour-mode script).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shop.settings import Settings, get_settings
from shop.web.build import client_dir
from shop.web.origins import same_address_origin

STRIPE_JS_ORIGIN = "https://js.stripe.com"
# Pages that load Stripe.js (or the sandbox stand-in) get the payment origins in their CSP.
PAYMENT_PATHS: tuple[str, ...] = ("/checkout",)  # and /checkout/success etc.
_INLINE_SCRIPT = re.compile(rb"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.S | re.I)
_NON_JS_TYPE = re.compile(rb"""type\s*=\s*["']?(application/(ld\+)?json|text/template)""", re.I)


def websocket_origin(http_origin: str) -> str:
    """`https://shop.example` → `wss://shop.example` (what connect-src must list)."""
    parsed = urlparse(http_origin)
    scheme = "wss" if parsed.scheme == "https" else "ws"
    return f"{scheme}://{parsed.netloc}"


def payment_origins(settings: Settings) -> list[str]:
    """Where Stripe.js (or the offline sandbox's stand-in) loads from and talks to."""
    if settings.sandbox_mode:
        parsed = urlparse(settings.stripe_api_base)
        return [f"{parsed.scheme}://{parsed.netloc}"]
    return [STRIPE_JS_ORIGIN, "https://api.stripe.com", "https://hooks.stripe.com"]


def content_security_policy(
    settings: Settings, script_hashes: Iterable[str] = (), *, payments: bool = False
) -> str:
    """The one CSP of the shop. `payments=True` opens Stripe.js (checkout pages)."""
    pay = payment_origins(settings) if payments else []
    directives: dict[str, list[str]] = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *sorted(set(script_hashes)), *pay],
        # Emotion and Radix write <style> elements and style attributes at run time.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        # 'self' covers ws(s) of the same origin in CSP3 browsers; the explicit origin
        # is there for older ones.
        "connect-src": ["'self'", websocket_origin(settings.public_origin), *pay],
        "frame-src": [*pay] or ["'none'"],
        "worker-src": ["'self'", "blob:"],
        "manifest-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'", *pay],
        "frame-ancestors": ["'none'"],
    }
    if settings.is_https:
        directives["upgrade-insecure-requests"] = []
    return "; ".join(" ".join([name, *values]) for name, values in directives.items())


def inline_script_hashes(html: bytes) -> set[str]:
    """CSP source expressions ('sha256-…') for every executable inline script."""
    hashes = set()
    for match in _INLINE_SCRIPT.finditer(html):
        attrs, body = match.group("attrs"), match.group("body")
        if b"src=" in attrs.lower() or _NON_JS_TYPE.search(attrs):
            continue
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        hashes.add(f"'sha256-{digest}'")
    return hashes


def build_script_hashes(directory: Path | None = None) -> frozenset[str]:
    """Hashes of the inline scripts in all built HTML files (cached per build)."""
    directory = directory or client_dir()
    stamp = directory / "index.html"
    try:
        mtime = stamp.stat().st_mtime_ns
    except OSError:
        return frozenset()
    return _hashes_for(str(directory), mtime)


@lru_cache(maxsize=4)
def _hashes_for(directory: str, _mtime: int) -> frozenset[str]:
    hashes: set[str] = set()
    for path in Path(directory).rglob("*.html"):
        hashes |= inline_script_hashes(path.read_bytes())
    return frozenset(hashes)


def allowed_origins(settings: Settings) -> set[str]:
    """Browser origins that may use the backend (CORS and the event websocket)."""
    from reflex_base.config import get_config

    origins = {settings.public_origin}
    origins.update(o for o in get_config().cors_allowed_origins if o != "*")
    return origins


def origin_allowed(origin: str, scope: Scope, settings: Settings) -> bool:
    """May a page of this origin open the event websocket? PUBLIC_URL's (and the configured
    ones), or the very address the request was sent to (see `shop.web.origins`)."""
    return origin in allowed_origins(settings) or same_address_origin(origin, scope)


def event_channel_accepts(origin: str | None, environ: dict[str, Any]) -> bool:
    """Engine.IO's own origin check (it runs after ours), made to agree with `origin_allowed`."""
    if origin is None:
        return True
    return origin_allowed(origin, environ.get("asgi.scope", {}), get_settings())


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response and guards websocket origins.

    Headers an inner app already set win (e.g. a page that needs a wider CSP), so the
    middleware may wrap the app twice without duplicating anything.
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: Callable[[], Settings] = get_settings,
        script_hashes: Callable[[], Iterable[str]] = build_script_hashes,
    ) -> None:
        self.app = app
        self._settings = settings
        self._script_hashes = script_hashes
        # Each entry keeps its settings object: an id is only unique while its object lives,
        # and a new Settings (after get_settings.cache_clear) may be given a dead one's id.
        self._memo: dict[
            tuple[int, frozenset[str], bool], tuple[Settings, list[tuple[bytes, bytes]]]
        ] = {}

    def headers(self, path: str = "/") -> list[tuple[bytes, bytes]]:
        settings = self._settings()
        payments = any(path == p or path.startswith(p + "/") for p in PAYMENT_PATHS)
        hashes = frozenset(self._script_hashes())
        key = (id(settings), hashes, payments)
        cached = self._memo.get(key)
        if cached is None or cached[0] is not settings:
            if len(self._memo) > 16:
                self._memo.clear()
            cached = self._memo[key] = (settings, self._build_headers(settings, hashes, payments))
        return cached[1]

    def _build_headers(
        self, settings: Settings, hashes: frozenset[str], payments: bool
    ) -> list[tuple[bytes, bytes]]:
        csp = content_security_policy(settings, hashes, payments=payments)
        headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(self)"),
        ]
        if settings.is_https:
            headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            origin = _header(scope, b"origin")
            if origin is not None and not origin_allowed(origin, scope, self._settings()):
                # Refused before the handshake completes: the client sees HTTP 403.
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        immutable = scope["path"].startswith("/assets/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = {name.lower() for name, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers += [(n, v) for n, v in self.headers(scope["path"]) if n not in existing]
                if immutable and message["status"] == 200 and b"cache-control" not in existing:
                    # Vite puts a content hash in every file name under /assets/.
                    headers.append((b"cache-control", b"public, max-age=31536000, immutable"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None
