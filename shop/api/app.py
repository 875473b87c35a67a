"""The REST API (and the few public files beside it), mounted above Reflex's own routes."""

from __future__ import annotations

from fastapi import FastAPI, Request

from shop.api.errors import install_error_handlers
from shop.api.middleware import RequestIdMiddleware
from shop.api.response_cache import CatalogResponseCache
from shop.api.routes import health, products, public_files
from shop.logs import configure_logging
from shop.services.errors import NotFound
from shop.settings import get_settings


def create_api_app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_level)
    app = FastAPI(
        title=f"{settings.shop_name} API",
        version="1",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(products.router)
    app.include_router(public_files.router)

    @app.api_route(
        "/api/{path:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    def unknown_endpoint(request: Request, path: str) -> None:
        # Without this, unknown API paths would fall through to the storefront's HTML 404.
        raise NotFound(f"No endpoint {request.method} /api/{path}.")

    app.add_middleware(CatalogResponseCache)
    app.add_middleware(RequestIdMiddleware)
    return app
