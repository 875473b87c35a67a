"""/api/docs: Swagger UI from files served here, so it works offline and under the shop's CSP.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script; the CSP
(`script-src 'self'`) refuses both. The Swagger UI files come from the pinned
`fastapi-offline` package, the start-up script from `shop/api/static/`.
"""

from __future__ import annotations

from html import escape
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from shop.services.errors import NotFound
from shop.settings import get_settings

router = APIRouter(include_in_schema=False)

DOCS_PATH = "/api/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"
_SWAGGER_DIR = Path(str(files("fastapi_offline") / "static"))
_OWN_DIR = Path(__file__).resolve().parent.parent / "static"
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (_SWAGGER_DIR / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (_SWAGGER_DIR / "swagger-ui.css", "text/css"),
    "favicon.png": (_SWAGGER_DIR / "favicon.png", "image/png"),
    "swagger-init.js": (_OWN_DIR / "swagger-init.js", "text/javascript"),
}


@router.get(DOCS_PATH)
def docs_page() -> HTMLResponse:
    title = escape(f"{get_settings().shop_name} API")
    return HTMLResponse(
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title} – docs</title>"
        f'<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon.png">'
        f'<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">'
        "</head><body>"
        '<div id="swagger-ui" data-openapi-url="/api/openapi.json"></div>'
        f'<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>'
        f'<script src="{ASSETS_PATH}/swagger-init.js"></script>'
        "</body></html>\n"
    )


@router.get(f"{ASSETS_PATH}/{{name}}")
def docs_asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise NotFound("No such file.")
    path, media_type = ASSETS[name]
    return FileResponse(
        path, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"}
    )
