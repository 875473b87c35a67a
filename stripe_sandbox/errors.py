"""Stripe-shaped API errors."""

from __future__ import annotations

from typing import Any

DOC_BASE = "https://docs.stripe.com/error-codes"


class StripeError(Exception):
    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}
        self.headers = headers or {}
        self.commit = False  # keep the request's changes even though it answers an error

    def body(self, request_id: str = "") -> dict[str, Any]:
        err: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = f"{DOC_BASE}/{self.code.replace('_', '-')}"
        if self.param:
            err["param"] = self.param
        if self.decline_code:
            err["decline_code"] = self.decline_code
        if request_id:
            err["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        err.update(self.extra)
        return {"error": err}


def invalid_request(
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    status: int = 400,
    extra: dict[str, Any] | None = None,
) -> StripeError:
    return StripeError(
        status, "invalid_request_error", message, code=code, param=param, extra=extra
    )


def missing(kind: str, id_: str, param: str = "id") -> StripeError:
    """No such object. Stripe answers 404 when the object is the one in the URL path (`id`)
    and 400 when a request parameter names it (`customer`, `items[0][price]`, …)."""
    return StripeError(
        404 if param == "id" else 400,
        "invalid_request_error",
        f"No such {kind}: '{id_}'",
        code="resource_missing",
        param=param,
    )


def missing_param(param: str) -> StripeError:
    return invalid_request(
        f"Missing required param: {param}.", param=param, code="parameter_missing"
    )


def unexpected_state(message: str, extra: dict[str, Any] | None = None) -> StripeError:
    return invalid_request(message, code="payment_intent_unexpected_state", extra=extra)
