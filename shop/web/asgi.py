"""How the ASGI app is put together.

`wrap_storefront` is given to Reflex as the last `api_transformer` (so `reflex run` in
dev gets it too). `create_app` is the production entry point that scripts/serve.sh hands
to granian: the compiled Reflex app (REST API + event websocket + built frontend on one
port) with the security headers and the request id also wrapped around Reflex's outer CORS
layer, so even CORS preflight answers carry them.
"""

from __future__ import annotations

import os
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from shop.api.middleware import RequestIdMiddleware
from shop.settings import get_settings
from shop.web.page_paths import PageIndexMiddleware
from shop.web.product_pages import ProductPageMiddleware
from shop.web.security import SecurityHeadersMiddleware

PROD_ENVIRONMENT = {
    "REFLEX_ENV_MODE": "prod",
    "REFLEX_TELEMETRY_ENABLED": "false",
    "REFLEX_USE_NPM": "1",
}


def wrap_storefront(app: ASGIApp) -> ASGIApp:
    """Crawlable product pages and pages at their own address inside, security headers and
    the request id outside."""
    return RequestIdMiddleware(
        SecurityHeadersMiddleware(ProductPageMiddleware(PageIndexMiddleware(app)))
    )


def create_app() -> ASGIApp:
    """Granian factory (`shop.web.asgi:create_app`) for production."""
    for name, value in PROD_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    from reflex_base.environment import environment

    # The frontend was built by scripts/build-frontend.sh: never compile (or need Node)
    # at start-up; serve the built files from the same port.
    environment.REFLEX_SKIP_COMPILE.set(True)
    environment.REFLEX_MOUNT_FRONTEND_COMPILED_APP.set(True)
    from shop.shop import app

    return ForwardedClientMiddleware(RequestIdMiddleware(SecurityHeadersMiddleware(app())))


class ForwardedClientMiddleware:
    """Behind a reverse proxy every connection comes from the proxy; the customer's address
    (for rate limits, the sign-in throttle and the audit log) and scheme are in the
    X-Forwarded-For / X-Forwarded-Proto headers it adds. They are believed only from
    FORWARDED_ALLOW_IPS (uvicorn's middleware does the parsing); otherwise left alone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._for_setting: dict[str, ASGIApp] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        trusted = get_settings().forwarded_allow_ips
        if not trusted:
            await self.app(scope, receive, send)
            return
        proxied = self._for_setting.get(trusted)
        if proxied is None:
            # uvicorn types ASGI apps with its own protocol; Starlette's app is one.
            made: Any = ProxyHeadersMiddleware(self.app, trusted_hosts=trusted)  # type: ignore[arg-type]
            proxied = self._for_setting[trusted] = made
        await proxied(scope, receive, send)
