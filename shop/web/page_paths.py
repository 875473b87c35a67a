"""Pages answer at the address they were asked for: `/checkout`, not a 307 to `/checkout/`.

The build writes a page that has pages below it (`/checkout` and `/checkout/success`) as a
folder with an `index.html`, and the static files server redirects `/checkout` to
`/checkout/` to reach it. The redirect changed the address the customer (and a test waiting
for `…/checkout/success?…`) sees, and cost a round trip on every direct visit. Here such a
request is served that `index.html` in place; the client-side router takes either address.
"""

from __future__ import annotations

from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from shop.web.build import client_dir

# Served by the app itself, never pages of the build.
_NOT_PAGES = ("/api/", "/_event", "/_upload", "/_health", "/ping", "/media/")


class PageIndexMiddleware:
    """`GET /a/b` of a page built as `a/b/index.html` is served as `/a/b/`, without a
    redirect. Everything else passes through unchanged."""

    def __init__(self, app: ASGIApp, *, build_dir: Path | None = None) -> None:
        self.app = app
        self._build_dir = build_dir

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path: str = scope["path"]
            if self._is_folder_page(path):
                raw = scope.get("raw_path") or path.encode()
                scope = {**scope, "path": path + "/", "raw_path": raw + b"/"}
        await self.app(scope, receive, send)

    def _is_folder_page(self, path: str) -> bool:
        if path.endswith("/") or path.startswith(_NOT_PAGES) or ".." in path:
            return False
        name = path.rsplit("/", 1)[-1]
        if not name or "." in name:  # a file (script, image, …), not a page
            return False
        build = self._build_dir or client_dir()
        try:
            return (build / path.lstrip("/") / "index.html").is_file()
        except (OSError, ValueError):
            # A name too long for the file system, a NUL: no page of the build; the app
            # behind answers (its 404 page, or a dynamic page's own "not found").
            return False
