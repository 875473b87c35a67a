"""Reflex configuration: everything comes from shop/settings.py (one place for env vars)."""

from __future__ import annotations

import os

import reflex as rx
from reflex_base.plugins.sitemap import SitemapPlugin

from shop.settings import get_settings

# The frontend is built with npm from the registry (no bun download) and sends no telemetry.
os.environ.setdefault("REFLEX_USE_NPM", "1")
os.environ.setdefault("REFLEX_TELEMETRY_ENABLED", "false")

_settings = get_settings()
_origins = [_settings.public_origin]
if os.environ.get("REFLEX_ENV_MODE", "dev") == "dev":
    # `make dev`: the Vite dev server on :3000 talks to the backend on PORT.
    _origins += ["http://localhost:3000", "http://127.0.0.1:3000"]

config = rx.Config(
    app_name="shop",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    # Only our own origin may call the backend or open the event websocket.
    cors_allowed_origins=_origins,
    backend_port=_settings.port,
    # The production bundle finds the backend from the page's own origin at run time
    # (scripts/build-frontend.sh makes it port-independent); this URL matters in dev only.
    api_url=f"http://localhost:{_settings.port}",
    deploy_url=_settings.public_url,
    # With Redis, Reflex keeps per-tab state there, so several workers/containers can serve.
    redis_url=_settings.redis_url,
    frontend_compression_formats=["gzip"],
    # /sitemap.xml is served live from the catalog by the REST API app.
    disable_plugins=[SitemapPlugin],
)
