"""Every error leaves the API as `{"error": {"code", "message"}}` with the right status."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from shop.services.errors import ShopError

log = logging.getLogger("shop.api")


class FieldProblem(BaseModel):
    field: str  # dotted path into the request ("items.0.quantity"), empty for the whole body
    message: str


class ErrorDetail(BaseModel):
    code: str  # stable, for programs: "not_found", "invalid_input", "invalid_webhook" …
    message: str  # for people
    field: str | None = None  # the input at fault, when there is one
    details: list[FieldProblem] | None = None  # 422 invalid_input: every problem found


class ErrorOut(BaseModel):
    """The body of every error answer (shop/api/openapi.py documents it for every error)."""

    error: ErrorDetail


def error_response(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _code_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def _invalid_json(where: str) -> JSONResponse:
    return error_response(400, "invalid_json", f"The request body is not valid JSON ({where}).")


class BodyTooLarge(StarletteHTTPException):
    """A request body over its endpoint's limit (413). An HTTPException rather than a ShopError
    because it is raised while FastAPI reads the body, which turns anything else into a 400."""

    code = "payload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than the limit of {limit:,} bytes.")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ShopError)
    async def shop_error(_request: Request, exc: ShopError) -> JSONResponse:
        details = (
            [{"field": p.field, "message": p.message} for p in exc.problems]
            if exc.problems and exc.status_code == 422
            else None
        )
        return error_response(
            exc.status_code, exc.code, exc.message, field=exc.field, details=details
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            return _invalid_json("it is not UTF-8 text")  # FastAPI reading a JSON body
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        code = getattr(exc, "code", None) or _code_for(exc.status_code)
        return error_response(exc.status_code, code, detail, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if errors and errors[0]["type"] == "json_invalid" and errors[0]["loc"][:1] == ("body",):
            # FastAPI puts the position of the JSON syntax error where a field name would be.
            return _invalid_json(f"at character {errors[0]['loc'][-1]}")
        problems = [
            {
                "field": ".".join(
                    str(part) for part in err["loc"] if part not in ("body", "query", "path")
                ),
                "message": err["msg"],
            }
            for err in errors
        ]
        field = str(problems[0]["field"]) if problems else ""
        detail = str(problems[0]["message"]) if problems else "invalid request"
        message = f"{field}: {detail}" if field else detail
        return error_response(422, "invalid_input", message, field=field or None, details=problems)

    @app.exception_handler(Exception)
    async def unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "Something went wrong on our side.")
