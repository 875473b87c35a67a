"""Sitemap, robots.txt and product images: public files a crawler or browser asks for."""

from __future__ import annotations

from xml.sax.saxutils import escape

from fastapi import APIRouter
from fastapi.responses import FileResponse, PlainTextResponse, Response

from shop.api.deps import DbSession
from shop.services import catalog
from shop.services.errors import NotFound
from shop.settings import get_settings

router = APIRouter(include_in_schema=False)

MEDIA_TYPES = {
    ".webp": "image/webp",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}


@router.get("/sitemap.xml")
def sitemap(session: DbSession) -> Response:
    base = get_settings().public_url
    urls = [
        f"<url><loc>{escape(base)}/</loc></url>",
        # The catalogue's build is products/index.html: served at "/products" and "/products/".
        f"<url><loc>{escape(base)}/products/</loc></url>",
    ]
    for slug, updated_at in catalog.sitemap_entries(session=session):
        urls.append(
            f"<url><loc>{escape(base)}/products/{escape(slug)}</loc>"
            f"<lastmod>{updated_at.date().isoformat()}</lastmod></url>"
        )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        + "\n".join(urls)
        + "\n</urlset>\n"
    )
    return Response(body, media_type="application/xml")


@router.get("/robots.txt")
def robots() -> PlainTextResponse:
    base = get_settings().public_url
    return PlainTextResponse(
        "User-agent: *\n"
        "Disallow: /api/\n"
        "Disallow: /admin\n"
        "Disallow: /account\n"
        "Disallow: /checkout\n"
        "Disallow: /subscribe\n"
        f"Sitemap: {base}/sitemap.xml\n"
    )


@router.get("/media/{path:path}")
def media(path: str) -> FileResponse:
    """Public product images; downloadable files live elsewhere and are never served here."""
    root = get_settings().media_dir().resolve()
    target = (root / path).resolve()
    suffix = target.suffix.lower()
    if root not in target.parents or suffix not in MEDIA_TYPES or not target.is_file():
        raise NotFound("No such image.")
    return FileResponse(
        target,
        media_type=MEDIA_TYPES[suffix],
        headers={"Cache-Control": "public, max-age=3600"},
    )
