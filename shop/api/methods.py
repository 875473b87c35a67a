"""HTTP methods the routes do not spell out: HEAD wherever GET answers, OPTIONS on /api, 405
for a wrong one.

FastAPI routes answer only the methods they name, and the storefront is mounted behind them
for every other path and method, so without this a `HEAD /api/health` or a
`POST /api/health` would get the storefront's HTML 404, and an `OPTIONS /api/orders` the
storefront's `text/plain` 405.

OPTIONS under /api (`HeadAsGetMiddleware`): a CORS preflight (`Origin` and
`Access-Control-Request-Method`) is the CORS middleware's to answer (Reflex's, outside this app:
it answers before anything here sees the request), so one that gets here goes on untouched.
Any other OPTIONS is answered here: 204 with `Allow` at a path some route answers, else the
JSON 404.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shop.api.errors import error_response

API_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
API_PREFIX = "/api/"
# The API app's catch-all for unknown /api paths (shop.api.app): it answers every method there,
# so it says nothing about which methods a path has.
_CATCH_ALL_PATH = "/api/{path:path}"


def _probe(scope: Scope, method: str) -> Scope:
    # FastAPI keeps routing state under "fastapi" in the scope: a probe must not share it.
    return {**{k: v for k, v in scope.items() if k != "fastapi"}, "method": method}


def route_answers(
    routes: Iterable[BaseRoute],
    scope: Scope,
    method: str,
    skip: Sequence[Callable[..., Any]] = (),
) -> bool:
    """Whether a route (not the storefront's catch-all mount, nor `skip`) takes this method."""
    for route in routes:
        if isinstance(route, Mount) or getattr(route, "endpoint", None) in skip:
            continue
        match, _ = route.matches(_probe(scope, method))
        if match is Match.FULL:
            return True
    return False


def allowed_methods(
    routes: Sequence[BaseRoute], scope: Scope, skip: Sequence[Callable[..., Any]] = ()
) -> list[str]:
    """The methods some route answers at this path, HEAD included wherever GET is."""
    allowed = [m for m in API_METHODS if route_answers(routes, scope, m, skip)]
    if "GET" in allowed:
        allowed.insert(1, "HEAD")
    return allowed


class HeadAsGetMiddleware:
    """HEAD is GET without the content (RFC 9110 §9.3.2): where no route answers HEAD itself
    (downloads do, so that a HEAD never counts as a download) but one answers GET, the request
    is served as a GET and only the status and headers go out, Content-Length included.
    OPTIONS under /api: see the module docstring."""

    def __init__(self, app: ASGIApp, router: Router) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "OPTIONS"
            and (scope["path"] + "/").startswith(API_PREFIX)
        ):
            await self._options(scope, receive, send)
            return
        if (
            scope["type"] != "http"
            or scope["method"] != "HEAD"
            or route_answers(self.router.routes, scope, "HEAD")
            or not route_answers(self.router.routes, scope, "GET")
        ):
            await self.app(scope, receive, send)
            return
        sent_end = False

        async def headers_only(message: Message) -> None:
            nonlocal sent_end
            if message["type"] in ("http.response.body", "http.response.pathsend"):
                if sent_end or message.get("more_body"):
                    return
                sent_end = True
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)

    async def _options(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        if "origin" in headers and "access-control-request-method" in headers:
            await self.app(scope, receive, send)
            return
        routes = [r for r in self.router.routes if getattr(r, "path", None) != _CATCH_ALL_PATH]
        allowed = allowed_methods(routes, scope)
        answer: Response
        if allowed:
            answer = Response(status_code=204, headers={"Allow": ", ".join([*allowed, "OPTIONS"])})
        else:
            answer = error_response(404, "not_found", f"No endpoint OPTIONS {scope['path']}.")
        await answer(scope, receive, send)
