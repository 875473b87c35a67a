"""How the ASGI app is put together.

`wrap_storefront` is given to Reflex as the last `api_transformer` (so `reflex run` in
dev gets it too). `create_app` is the production entry point that scripts/serve.sh hands
to granian: the compiled Reflex app (REST API + event websocket + built frontend on one
port) with the security headers and the request id also wrapped around Reflex's outer CORS
layer, so even CORS preflight answers carry them.
"""

from __future__ import annotations

import os

from starlette.types import ASGIApp

from shop.api.middleware import RequestIdMiddleware
from shop.web.product_pages import ProductPageMiddleware
from shop.web.security import SecurityHeadersMiddleware

PROD_ENVIRONMENT = {
    "REFLEX_ENV_MODE": "prod",
    "REFLEX_TELEMETRY_ENABLED": "false",
    "REFLEX_USE_NPM": "1",
}


def wrap_storefront(app: ASGIApp) -> ASGIApp:
    """Crawlable product pages inside, security headers and the request id outside."""
    return RequestIdMiddleware(SecurityHeadersMiddleware(ProductPageMiddleware(app)))


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

    return RequestIdMiddleware(SecurityHeadersMiddleware(app()))
