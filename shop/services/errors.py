"""Errors that services raise and every entry point turns into a clear 4xx."""

from __future__ import annotations


class ShopError(Exception):
    """A refusal the caller can act on; `code` is stable, `message` is for people."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class NotFound(ShopError):
    status_code = 404
    code = "not_found"


class InvalidInput(ShopError):
    status_code = 422
    code = "invalid_input"


class Conflict(ShopError):
    status_code = 409
    code = "conflict"
