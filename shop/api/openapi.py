"""The OpenAPI document tells what the API really does: its error shape and how to sign in.

FastAPI documents 422 with its own `HTTPValidationError` (`{"detail": [...]}`), while every
error leaves this API as `ErrorOut` (`{"error": {code, message, field?, details?}}`); and it
knows nothing of the bearer token and session cookie that `shop/api/deps.py` reads. Both are
put right here, after FastAPI has built the document, from the routes' dependencies, so a new
route is documented correctly without anyone writing it by hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from shop.api import deps
from shop.api.errors import ErrorOut
from shop.services.auth import SESSION_COOKIE

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The `access_token` from `POST /api/auth/login` (short-lived).",
    },
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The HttpOnly session cookie that sign-in sets (browsers). Requests "
        "that change something with it need a same-origin `Origin` header.",
    },
}
# Either one will do: OpenAPI lists alternatives as separate requirement objects.
SIGNED_IN: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"sessionCookie": []}]
_ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def _api_routes(app: FastAPI) -> Iterator[Any]:
    """Every API route with its effective path and dependencies, inside included routers too."""
    for route in app.routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "effective_route_contexts"):
            yield from route.effective_route_contexts()


def requirements(route: Any) -> tuple[bool, frozenset[str], list[frozenset[str]]]:
    """(needs a signed-in user, the permissions it requires all of, sets it requires one of),
    read from the dependency tree."""
    needs_user = False
    permissions: set[str] = set()
    one_of: list[frozenset[str]] = []
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if dependant is None:
            continue
        if dependant.call is deps.get_current_user:
            needs_user = True
        permissions |= getattr(dependant.call, "required_permissions", frozenset())
        if getattr(dependant.call, "any_of_permissions", None):
            one_of.append(frozenset(dependant.call.any_of_permissions))
        stack.extend(dependant.dependencies)
    return needs_user, frozenset(permissions), one_of


def _names(permissions: frozenset[str]) -> str:
    return ", ".join(f"`{p}`" for p in sorted(permissions))


def _error_schemas() -> dict[str, Any]:
    schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    found = schema.pop("$defs", {})
    found["ErrorOut"] = schema
    return found


def describe(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    """Put the error shape and the sign-in requirements into FastAPI's document."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(_error_schemas())
    components["securitySchemes"] = SECURITY_SCHEMES
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"] = _error(
                    "`invalid_input`: a field is missing or wrong; `field` names the first, "
                    "`details` lists every problem."
                )
            # A route that lists an error by its description alone answers it as ErrorOut too.
            for status, response in responses.items():
                if status[:1] in ("4", "5") and "content" not in response:
                    response.update(_error(response.get("description", "")))
    for route in _api_routes(app):
        if not route.include_in_schema:
            continue
        needs_user, permissions, one_of = requirements(route)
        if not needs_user:
            continue
        for method in route.methods:
            operation = document["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            operation["security"] = SIGNED_IN
            responses = operation.setdefault("responses", {})
            responses.setdefault(
                "401", _error("`unauthorized`: not signed in, or the session or token has ended.")
            )
            plural = "s" if len(permissions) > 1 else ""
            lacks = [f"the permission{plural} {_names(permissions)}"] if permissions else []
            lacks += [f"any of the permissions {_names(group)}" for group in one_of]
            if lacks:
                lacking = f"`forbidden`: signed in without {' or '.join(lacks)}."
                if "403" in responses:  # the route's own reasons come first
                    own = responses["403"].get("description", "").rstrip(".")
                    responses["403"]["description"] = f"{own}; or {lacking}"
                else:
                    responses["403"] = _error(lacking)
    # FastAPI's validation schemas go once nothing points at them (HTTPValidationError first:
    # it is what points at ValidationError).
    for name in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{name}"' not in json.dumps(document):
            schemas.pop(name, None)
    return document


def install(app: FastAPI) -> None:
    """Make `app.openapi()` return the described document (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(app, FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
