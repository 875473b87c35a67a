"""The one module that talks to Stripe (or the bundled sandbox); everything else calls these.

Each function takes our own idempotency key (e.g. `product:12:price:1999-cad-month`), so a
retried call can never create a second object, and returns a small dataclass, so the rest
of the shop never handles SDK objects. A network failure becomes `StripeUnavailable`
(try again later); a refusal by Stripe becomes `StripeRefused` with Stripe's message.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import stripe

from shop.settings import get_settings

NETWORK_RETRIES = 2
REQUEST_TIMEOUT_SECONDS = 20


class StripeUnavailable(Exception):
    """Stripe could not be reached; nothing is known to have changed there."""


class StripeRefused(Exception):
    """Stripe answered and said no (invalid request, card error, …)."""

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.code = code
        self.param = param


@dataclass(frozen=True, slots=True)
class StripeProduct:
    id: str
    active: bool


@dataclass(frozen=True, slots=True)
class StripePrice:
    id: str
    product_id: str
    unit_amount: int
    currency: str
    interval: str | None
    active: bool


@lru_cache(maxsize=4)
def _client_for(api_key: str, api_base: str | None) -> stripe.StripeClient:
    base_addresses: Any = (
        {"api": api_base, "files": api_base, "connect": api_base} if api_base else None
    )
    return stripe.StripeClient(
        api_key,
        base_addresses=base_addresses,
        max_network_retries=NETWORK_RETRIES,
        http_client=stripe.HTTPXClient(timeout=REQUEST_TIMEOUT_SECONDS, allow_sync_methods=True),
    )


def client() -> stripe.StripeClient:
    """A client for Stripe with the merchant's key, or for the sandbox when no key is set."""
    settings = get_settings()
    api_base = settings.stripe_api_base if settings.sandbox_mode else None
    return _client_for(settings.effective_stripe_secret_key, api_base)


def _call(
    method: Any, *ids: str, params: dict[str, Any], idempotency_key: str | None = None
) -> dict[str, Any]:
    """Call one SDK service method, turning the SDK's errors into ours.

    Answers are plain dicts: SDK objects are not dicts (no `.get`) in recent SDK versions."""
    options: Any = {"idempotency_key": idempotency_key} if idempotency_key else {}
    try:
        answer = method(*ids, params=params, options=options)
        return answer.to_dict() if hasattr(answer, "to_dict") else dict(answer)
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise StripeUnavailable(str(exc.user_message or exc)) from exc
    except stripe.APIError as exc:
        # 5xx from Stripe: nothing we sent was wrong, try again later.
        raise StripeUnavailable(str(exc.user_message or exc)) from exc
    except stripe.StripeError as exc:
        error = exc.error
        raise StripeRefused(
            str(exc.user_message or exc),
            code=getattr(error, "code", None) if error else None,
            param=getattr(error, "param", None) if error else None,
        ) from exc


def _price(obj: Any) -> StripePrice:
    recurring = obj.get("recurring")
    product = obj["product"]
    return StripePrice(
        id=obj["id"],
        product_id=product if isinstance(product, str) else product["id"],
        unit_amount=int(obj["unit_amount"]),
        currency=obj["currency"],
        interval=recurring["interval"] if recurring else None,
        active=bool(obj["active"]),
    )


def create_product(
    *, name: str, description: str, active: bool, metadata: dict[str, str], idempotency_key: str
) -> StripeProduct:
    params: dict[str, Any] = {"name": name, "active": active, "metadata": metadata}
    if description:
        params["description"] = description[:5000]
    obj = _call(client().v1.products.create, params=params, idempotency_key=idempotency_key)
    return StripeProduct(id=obj["id"], active=bool(obj["active"]))


def update_product(
    *,
    stripe_product_id: str,
    name: str,
    description: str,
    active: bool,
    metadata: dict[str, str],
    idempotency_key: str,
) -> StripeProduct:
    params: dict[str, Any] = {
        "name": name,
        "active": active,
        "metadata": metadata,
        # Stripe refuses an empty description; "" is its way to clear one.
        "description": description[:5000] if description else "",
    }
    obj = _call(
        client().v1.products.update,
        stripe_product_id,
        params=params,
        idempotency_key=idempotency_key,
    )
    return StripeProduct(id=obj["id"], active=bool(obj["active"]))


def create_price(
    *,
    stripe_product_id: str,
    unit_amount: int,
    currency: str,
    interval: str | None,
    metadata: dict[str, str],
    idempotency_key: str,
) -> StripePrice:
    params: dict[str, Any] = {
        "product": stripe_product_id,
        "unit_amount": unit_amount,
        "currency": currency.lower(),
        "metadata": metadata,
    }
    if interval:
        params["recurring"] = {"interval": interval}
    return _price(_call(client().v1.prices.create, params=params, idempotency_key=idempotency_key))


def archive_price(*, price_id: str, idempotency_key: str) -> StripePrice:
    """Prices are immutable in Stripe: a changed price is a new Price and the old one archived."""
    obj = _call(
        client().v1.prices.update,
        price_id,
        params={"active": False},
        idempotency_key=idempotency_key,
    )
    return _price(obj)


def retrieve_price(*, price_id: str) -> StripePrice:
    obj = _call(client().v1.prices.retrieve, price_id, params={})
    return _price(obj)


# --- payments --------------------------------------------------------------------------------

WEBHOOK_TOLERANCE_SECONDS = 300


class WebhookRejected(Exception):
    """A webhook whose signature or timestamp does not check out; answer 400, store nothing."""


@dataclass(frozen=True, slots=True)
class PaymentIntentInfo:
    """What the shop needs to know about a PaymentIntent (from the API or a webhook)."""

    id: str
    status: str
    amount: int
    currency: str
    metadata: dict[str, str]
    client_secret: str | None = None
    last_error_code: str | None = None
    last_error_message: str | None = None
    # Where the customer completes 3-D Secure when `status == "requires_action"`.
    next_action_url: str | None = None

    @classmethod
    def from_stripe(cls, obj: Any) -> PaymentIntentInfo:
        """From an SDK object or the plain dict inside a webhook event."""
        if not isinstance(obj, dict):
            obj = obj.to_dict()
        error = obj.get("last_payment_error") or None
        next_action = obj.get("next_action") or None
        url = None
        if next_action:
            redirect = next_action.get("redirect_to_url") or None
            sdk = next_action.get("use_stripe_sdk") or None
            if redirect:
                url = redirect.get("url")
            elif sdk:
                url = sdk.get("stripe_js")
        metadata = obj.get("metadata") or {}
        return cls(
            id=str(obj["id"]),
            status=str(obj["status"]),
            amount=int(obj["amount"]),
            currency=str(obj["currency"]).lower(),
            metadata={str(k): str(v) for k, v in dict(metadata).items()},
            client_secret=obj.get("client_secret"),
            last_error_code=(error.get("decline_code") or error.get("code")) if error else None,
            last_error_message=error.get("message") if error else None,
            next_action_url=url,
        )


@dataclass(frozen=True, slots=True)
class StripeCoupon:
    id: str


@dataclass(frozen=True, slots=True)
class StripePromotionCode:
    id: str
    code: str


@dataclass(frozen=True, slots=True)
class StripeEvent:
    """A verified webhook event: its id, type and the object it is about (a plain dict)."""

    id: str
    type: str
    created: int
    data_object: dict[str, Any]
    payload: dict[str, Any]


def create_payment_intent(
    *, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str, description: str
) -> PaymentIntentInfo:
    """One PaymentIntent for one order; amount and currency come from the stored order only."""
    params: dict[str, Any] = {
        "amount": amount,
        "currency": currency.lower(),
        "metadata": metadata,
        "description": description,
        "allowed_payment_method_types": ["card"],
    }
    obj = _call(client().v1.payment_intents.create, params=params, idempotency_key=idempotency_key)
    return PaymentIntentInfo.from_stripe(obj)


def retrieve_payment_intent(*, payment_intent_id: str) -> PaymentIntentInfo:
    return PaymentIntentInfo.from_stripe(
        _call(client().v1.payment_intents.retrieve, payment_intent_id, params={})
    )


def confirm_payment_intent(
    *, payment_intent_id: str, payment_method: str, return_url: str
) -> PaymentIntentInfo:
    """Confirm server-side; a declined card raises `StripeRefused` (its code is the reason)."""
    params: dict[str, Any] = {"payment_method": payment_method, "return_url": return_url}
    obj = _call(client().v1.payment_intents.confirm, payment_intent_id, params=params)
    return PaymentIntentInfo.from_stripe(obj)


def cancel_payment_intent(*, payment_intent_id: str, idempotency_key: str) -> PaymentIntentInfo:
    obj = _call(
        client().v1.payment_intents.cancel,
        payment_intent_id,
        params={},
        idempotency_key=idempotency_key,
    )
    return PaymentIntentInfo.from_stripe(obj)


def create_coupon(
    *,
    name: str,
    percent_off: str | None,
    amount_off: int | None,
    currency: str | None,
    redeem_by: int | None,
    max_redemptions: int | None,
    stripe_product_ids: list[str] | None,
    metadata: dict[str, str],
    idempotency_key: str,
) -> StripeCoupon:
    params: dict[str, Any] = {"name": name[:40], "duration": "once", "metadata": metadata}
    if percent_off is not None:
        params["percent_off"] = float(percent_off)
    else:
        params["amount_off"] = amount_off
        params["currency"] = (currency or "").lower()
    if redeem_by is not None:
        params["redeem_by"] = redeem_by
    if max_redemptions is not None:
        params["max_redemptions"] = max_redemptions
    if stripe_product_ids:
        params["applies_to"] = {"products": stripe_product_ids}
    obj = _call(client().v1.coupons.create, params=params, idempotency_key=idempotency_key)
    return StripeCoupon(id=obj["id"])


def create_promotion_code(
    *,
    coupon_id: str,
    code: str,
    expires_at: int | None,
    max_redemptions: int | None,
    minimum_amount: int | None,
    minimum_amount_currency: str | None,
    metadata: dict[str, str],
    idempotency_key: str,
) -> StripePromotionCode:
    params: dict[str, Any] = {
        "promotion": {"type": "coupon", "coupon": coupon_id},
        "code": code,
        "metadata": metadata,
    }
    if expires_at is not None:
        params["expires_at"] = expires_at
    if max_redemptions is not None:
        params["max_redemptions"] = max_redemptions
    if minimum_amount:
        params["restrictions"] = {
            "minimum_amount": minimum_amount,
            "minimum_amount_currency": (minimum_amount_currency or "cad").lower(),
        }
    obj = _call(client().v1.promotion_codes.create, params=params, idempotency_key=idempotency_key)
    return StripePromotionCode(id=obj["id"], code=obj["code"])


def set_promotion_code_active(
    *, promotion_code_id: str, active: bool, idempotency_key: str
) -> StripePromotionCode:
    obj = _call(
        client().v1.promotion_codes.update,
        promotion_code_id,
        params={"active": active},
        idempotency_key=idempotency_key,
    )
    return StripePromotionCode(id=obj["id"], code=obj["code"])


def construct_webhook_event(
    payload: bytes,
    sig_header: str | None,
    secret: str,
    *,
    now: float | None = None,
    tolerance: int = WEBHOOK_TOLERANCE_SECONDS,
) -> StripeEvent:
    """Verify a webhook's signature on the raw body and its timestamp both ways.

    The SDK refuses timestamps older than `tolerance` only; a signed timestamp far in the
    future (a replay prepared in advance, or a badly wrong clock) is refused here too.
    """
    try:
        stripe.WebhookSignature.verify_header(payload, sig_header, secret, tolerance)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected(str(exc)) from exc
    current = time.time() if now is None else now
    timestamps = _signature_timestamps(sig_header or "")
    if not timestamps or any(t - current > tolerance for t in timestamps):
        raise WebhookRejected("Timestamp outside the tolerance zone (in the future).")
    try:
        body = json.loads(payload)
        data_object = body["data"]["object"]
        return StripeEvent(
            id=str(body["id"]),
            type=str(body["type"]),
            created=int(body.get("created") or 0),
            data_object=dict(data_object),
            payload=body,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise WebhookRejected("The event body is not a Stripe event.") from exc


def _signature_timestamps(header: str) -> list[int]:
    values = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                values.append(int(value))
            except ValueError:
                return []
    return values


# --- refunds and events (reconciliation) -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefundInfo:
    """A Stripe refund: how much of which PaymentIntent, and whether it went through."""

    id: str
    amount: int
    currency: str
    status: str
    payment_intent_id: str | None
    charge_id: str | None
    reason: str | None
    metadata: dict[str, str]
    created: int

    @classmethod
    def from_stripe(cls, obj: Any) -> RefundInfo:
        if not isinstance(obj, dict):
            obj = obj.to_dict()

        def ref(value: Any) -> str | None:
            if value is None or isinstance(value, str):
                return value
            return str(value.get("id")) if value.get("id") else None

        metadata = obj.get("metadata") or {}
        return cls(
            id=str(obj["id"]),
            amount=int(obj["amount"]),
            currency=str(obj["currency"]).lower(),
            status=str(obj.get("status") or "succeeded"),
            payment_intent_id=ref(obj.get("payment_intent")),
            charge_id=ref(obj.get("charge")),
            reason=obj.get("reason"),
            metadata={str(k): str(v) for k, v in dict(metadata).items()},
            created=int(obj.get("created") or 0),
        )


def create_refund(
    *,
    payment_intent_id: str,
    amount: int,
    metadata: dict[str, str],
    idempotency_key: str,
) -> RefundInfo:
    """Refund `amount` of a PaymentIntent; Stripe refuses more than is left to refund."""
    params: dict[str, Any] = {
        "payment_intent": payment_intent_id,
        "amount": amount,
        "reason": "requested_by_customer",
        "metadata": metadata,
    }
    obj = _call(client().v1.refunds.create, params=params, idempotency_key=idempotency_key)
    return RefundInfo.from_stripe(obj)


def _list_all(method: Any, params: dict[str, Any], max_items: int) -> list[dict[str, Any]]:
    """Walk a Stripe list (newest first) page by page, up to `max_items` objects."""
    found: list[dict[str, Any]] = []
    page_params = {**params, "limit": 100}
    while len(found) < max_items:
        page = _call(method, params=page_params)
        data = list(page.get("data") or [])
        found.extend(data)
        if not page.get("has_more") or not data:
            break
        page_params = {**page_params, "starting_after": data[-1]["id"]}
    return found[:max_items]


def list_refunds(*, created_since: int, max_items: int = 1000) -> list[RefundInfo]:
    """Refunds made since `created_since` (Unix time), through the shop or not."""
    rows = _list_all(
        client().v1.refunds.list, {"created": {"gte": created_since}}, max_items=max_items
    )
    return [RefundInfo.from_stripe(row) for row in rows]


def list_undelivered_events(
    *, types: list[str], created_since: int, max_items: int = 1000
) -> list[StripeEvent]:
    """Events of these types that Stripe has not yet delivered to every endpoint."""
    rows = _list_all(
        client().v1.events.list,
        {"delivery_success": False, "types": types[:20], "created": {"gte": created_since}},
        max_items=max_items,
    )
    return [
        StripeEvent(
            id=str(row["id"]),
            type=str(row["type"]),
            created=int(row.get("created") or 0),
            data_object=dict((row.get("data") or {}).get("object") or {}),
            payload=row,
        )
        for row in rows
    ]
