"""Errors that services raise and every entry point turns into a clear 4xx."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One input at fault and what is wrong with it."""

    field: str
    message: str


class ShopError(Exception):
    """A refusal the caller can act on; `code` is stable, `message` is for people.

    `problems` lists every input at fault when a service checked them all before refusing
    (then `field` and `message` are the first one's, for callers that show only one)."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        problems: Sequence[Problem] = (),
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.problems = tuple(problems)
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


def refusal(found: Sequence[ShopError]) -> ShopError:
    """One error for several refusals of the same request: a lone refusal as it is (a 409
    stays a 409), more than one as an InvalidInput listing them all."""
    problems = [Problem(e.field or "", e.message) for e in found]
    if len(found) == 1:
        only = found[0]
        only.problems = tuple(problems)
        return only
    return InvalidInput(
        " ".join(p.message for p in problems), field=found[0].field, problems=problems
    )


def one_line(exc: BaseException, *, limit: int = 500) -> str:
    """An error in one line for a person (a CLI message, a status file): the shop's own
    message for a ShopError (or any error with one), else the exception's text or name."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(message).split())[:limit]
