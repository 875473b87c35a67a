"""The REST API (and the few public files beside it), mounted above Reflex's own routes."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shop.api.deps import RateLimited
from shop.api.errors import error_response, install_error_handlers
from shop.api.methods import HeadAsGetMiddleware, allowed_methods
from shop.api.middleware import (
    BodyLimitMiddleware,
    RequestIdMiddleware,
    UnstorableTextMiddleware,
)
from shop.api.openapi import install as install_openapi
from shop.api.response_cache import CatalogResponseCache
from shop.api.routes import admin_analytics as admin_analytics_routes
from shop.api.routes import admin_orders as admin_orders_routes
from shop.api.routes import (
    admin_products,
    admin_users,
    auth,
    docs,
    health,
    products,
    public_files,
)
from shop.api.routes import cart as cart_routes
from shop.api.routes import downloads as downloads_routes
from shop.api.routes import payments as payments_routes
from shop.api.routes import receipts as receipts_routes
from shop.api.routes import subscriptions as subscriptions_routes
from shop.api.routes import webhooks as webhooks_routes
from shop.api.security import ApiGuardMiddleware
from shop.logs import configure_logging
from shop.services.auth import Unauthorized
from shop.services.errors import NotFound, ShopError
from shop.services.ratelimit import RateLimiter
from shop.services.throttle import Throttled
from shop.settings import get_settings


def create_api_app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_level)
    app = FastAPI(
        title=f"{settings.shop_name} API",
        version="1",
        openapi_url="/api/openapi.json",
        # /api/docs is served by routes/docs.py from local files (FastAPI's page uses a CDN).
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        # No OpenTelemetry here: FastAPI would ask for its providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    install_openapi(app)
    _install_auth_error_handlers(app)
    app.state.rate_limiter = RateLimiter(settings)
    # FastAPI tries routes in order: the ones called most often and by machines go first.
    app.include_router(health.router)
    app.include_router(webhooks_routes.router)
    app.include_router(auth.router)
    app.include_router(admin_users.router)
    app.include_router(products.router)
    app.include_router(admin_products.router)
    app.include_router(admin_orders_routes.router)
    app.include_router(admin_analytics_routes.router)
    app.include_router(public_files.router)
    app.include_router(cart_routes.router)
    app.include_router(downloads_routes.router)
    app.include_router(payments_routes.router)
    app.include_router(receipts_routes.router)
    app.include_router(subscriptions_routes.router)
    app.include_router(docs.router)

    @app.api_route(
        "/api/{path:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    def unknown_endpoint(request: Request, path: str) -> None:
        # Without this, unknown API paths would fall through to the storefront's HTML 404.
        allowed = allowed_methods(app.router.routes, request.scope, skip=[unknown_endpoint])
        if allowed:
            raise MethodNotAllowed(request.method, f"/api/{path}", allowed)
        raise NotFound(f"No endpoint {request.method} /api/{path}.")

    # Innermost, so that the middleware outside it (logs, rate limits) sees the real HEAD.
    app.add_middleware(HeadAsGetMiddleware, router=app.router)
    app.add_middleware(UnstorableTextMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(CatalogResponseCache)
    app.add_middleware(ApiGuardMiddleware, limiter=app.state.rate_limiter)
    app.add_middleware(RequestIdMiddleware)
    return app


class MethodNotAllowed(ShopError):
    status_code = 405
    code = "method_not_allowed"

    def __init__(self, method: str, path: str, allowed: list[str]):
        super().__init__(f"{path} does not answer {method}; it answers {', '.join(allowed)}.")
        self.allowed = allowed


def _install_auth_error_handlers(app: FastAPI) -> None:
    """429s say when to come back; 401s say how to authenticate."""

    @app.exception_handler(Throttled)
    @app.exception_handler(RateLimited)
    async def too_many(_request: Request, exc: Throttled | RateLimited) -> JSONResponse:
        return error_response(
            429, exc.code, exc.message, headers={"Retry-After": str(exc.retry_after)}
        )

    @app.exception_handler(MethodNotAllowed)
    async def method_not_allowed(_request: Request, exc: MethodNotAllowed) -> JSONResponse:
        return error_response(405, exc.code, exc.message, headers={"Allow": ", ".join(exc.allowed)})

    @app.exception_handler(Unauthorized)
    async def unauthorized(_request: Request, exc: Unauthorized) -> JSONResponse:
        return error_response(401, exc.code, exc.message, headers={"WWW-Authenticate": "Bearer"})
