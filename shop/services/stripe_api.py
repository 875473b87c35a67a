"""The one module that talks to Stripe (or the bundled sandbox); everything else calls these.

Each function takes our own idempotency key (e.g. `product:12:price:1999-cad-month`), so a
retried call can never create a second object, and returns a small dataclass, so the rest
of the shop never handles SDK objects. A network failure becomes `StripeUnavailable`
(try again later); a refusal by Stripe becomes `StripeRefused` with Stripe's message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

import stripe

from shop.services.ids import MAX_INT
from shop.settings import get_settings

NETWORK_RETRIES = 2
REQUEST_TIMEOUT_SECONDS = 20
# A readiness probe must answer within its orchestrator's deadline, whatever Stripe does.
PROBE_TIMEOUT_SECONDS = 2.0


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


@lru_cache(maxsize=4)
def _probe_client_for(api_key: str, timeout: float) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        max_network_retries=0,
        http_client=stripe.HTTPXClient(timeout=timeout, allow_sync_methods=True),
    )


def check_reachable(*, timeout: float = PROBE_TIMEOUT_SECONDS) -> None:
    """One cheap request proving Stripe answers: the sandbox's health page in sandbox mode,
    the account balance with a real key (a restricted key needs "Balance: read"). No retries.
    Raises StripeUnavailable, or StripeRefused when Stripe answers but refuses the key."""
    settings = get_settings()
    if settings.sandbox_mode:
        import httpx

        base = settings.stripe_api_base.rstrip("/")
        try:
            answer = httpx.get(f"{base}/_sandbox/health", timeout=timeout)
        except httpx.HTTPError as exc:
            raise StripeUnavailable(f"the Stripe sandbox at {base} does not answer") from exc
        if answer.status_code != 200:
            raise StripeUnavailable(f"the Stripe sandbox answered {answer.status_code}")
        return
    probe = _probe_client_for(settings.effective_stripe_secret_key, timeout)
    _call(probe.v1.balance.retrieve, params={})


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
    """A webhook that cannot be accepted: its signature or timestamp does not check out, or
    it is not shaped like a Stripe event; answer 400, store nothing."""


class MalformedObject(ValueError):
    """A Stripe object (in an API answer or a webhook event) without the shape Stripe gives it:
    a field missing or of the wrong type, an amount no column can hold."""


def _as_mapping(obj: Any, what: str) -> Mapping[str, Any]:
    """The plain dict of a webhook's object, or an SDK object's own."""
    if isinstance(obj, Mapping):
        return obj
    to_dict = getattr(obj, "to_dict", None)
    if to_dict is None:
        raise MalformedObject(f"{what} is not an object")
    return cast(Mapping[str, Any], to_dict())


def _text(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedObject(f"{key} must be a non-empty string")
    return value


def _optional_text(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise MalformedObject(f"{key} must be a string")
    return value


def _amount(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        raise MalformedObject(f"{key} must be a whole number of minor units")
    return value


def happened_at(unix_time: int | None, *, now: datetime) -> datetime:
    """When Stripe says something happened (a Unix time; 0 or None: unknown, so now), never
    later than `now`, should Stripe's clock run ahead of ours."""
    if not unix_time or unix_time <= 0:
        return now
    return min(datetime.fromtimestamp(unix_time, UTC), now)


def _timestamp(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedObject(f"{key} must be a Unix time")
    return value


def _optional_object(obj: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    return _as_mapping(value, key) or None


def _metadata(obj: Mapping[str, Any]) -> dict[str, str]:
    metadata = _optional_object(obj, "metadata") or {}
    return {str(k): str(v) for k, v in metadata.items()}


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
    last_error_type: str | None = None  # "card_error", "invalid_request_error", …
    # Where the customer completes 3-D Secure when `status == "requires_action"`.
    next_action_url: str | None = None
    # When its latest charge was made (Unix time), when `latest_charge` came expanded.
    charged_at: int | None = None

    @classmethod
    def from_stripe(cls, obj: Any) -> PaymentIntentInfo:
        """From an SDK object or the plain dict inside a webhook event; `MalformedObject` when
        it is not shaped like a PaymentIntent."""
        obj = _as_mapping(obj, "the PaymentIntent")
        error = _optional_object(obj, "last_payment_error")
        next_action = _optional_object(obj, "next_action")
        url = None
        if next_action:
            redirect = _optional_object(next_action, "redirect_to_url")
            sdk = _optional_object(next_action, "use_stripe_sdk")
            if redirect:
                url = redirect.get("url")
            elif sdk:
                url = sdk.get("stripe_js")
        return cls(
            id=_text(obj, "id"),
            status=_text(obj, "status"),
            amount=_amount(obj, "amount"),
            currency=_text(obj, "currency").lower(),
            metadata=_metadata(obj),
            client_secret=_optional_text(obj, "client_secret"),
            last_error_code=(
                _optional_text(error, "decline_code") or _optional_text(error, "code")
                if error
                else None
            ),
            last_error_message=_optional_text(error, "message") if error else None,
            last_error_type=_optional_text(error, "type") if error else None,
            next_action_url=url if isinstance(url, str) else None,
            charged_at=_charged_at(obj),
        )


def _charged_at(obj: Mapping[str, Any]) -> int | None:
    charge = obj.get("latest_charge")
    if isinstance(charge, Mapping):
        created = charge.get("created")
        if isinstance(created, int) and not isinstance(created, bool):
            return created
    return None


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
    # The charge comes along for its time: a payment found late is paid when it was made.
    return PaymentIntentInfo.from_stripe(
        _call(
            client().v1.payment_intents.retrieve,
            payment_intent_id,
            params={"expand": ["latest_charge"]},
        )
    )


def confirm_payment_intent(
    *, payment_intent_id: str, payment_method: str, return_url: str
) -> PaymentIntentInfo:
    """Confirm server-side; a declined card raises `StripeRefused` (its code is the reason)."""
    params: dict[str, Any] = {"payment_method": payment_method, "return_url": return_url}
    obj = _call(client().v1.payment_intents.confirm, payment_intent_id, params=params)
    return PaymentIntentInfo.from_stripe(obj)


def cancel_payment_intent(
    *, payment_intent_id: str, idempotency_key: str, reason: str | None = None
) -> PaymentIntentInfo:
    """Cancel an unpaid PaymentIntent (`reason`: Stripe's `cancellation_reason`); one that
    succeeded or is being processed raises `StripeRefused`."""
    params: dict[str, Any] = {"cancellation_reason": reason} if reason else {}
    obj = _call(
        client().v1.payment_intents.cancel,
        payment_intent_id,
        params=params,
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
        body = json.loads(payload, parse_constant=_no_constants)
    except ValueError as exc:  # also bytes that are not UTF-8
        raise WebhookRejected("The event body is not JSON.") from exc
    problem = _event_shape_problem(body)
    if problem:
        raise WebhookRejected(f"The event body is not a Stripe event: {problem}.")
    return StripeEvent(
        id=body["id"],
        type=body["type"],
        created=body.get("created") or 0,
        data_object=body["data"]["object"],
        payload=body,
    )


MAX_EVENT_ID_LENGTH = 255  # what the webhook_events table keeps


def _no_constants(name: str) -> Any:
    # NaN and Infinity are not JSON, and PostgreSQL would refuse to store them.
    raise ValueError(f"{name} is not JSON")


def _event_shape_problem(body: Any) -> str | None:
    """What keeps a (verified) body from being a Stripe event, or None: an event that can never
    be processed is refused up front, rather than failing on every retry."""
    if not isinstance(body, dict):
        return "not an object"
    event_id, event_type, created = body.get("id"), body.get("type"), body.get("created")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_EVENT_ID_LENGTH:
        return f"id must be a string of 1 to {MAX_EVENT_ID_LENGTH} characters"
    if not isinstance(event_type, str) or not event_type:
        return "type must be a non-empty string"
    if created is not None and (isinstance(created, bool) or not isinstance(created, int)):
        return "created must be a Unix time"
    data = body.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        return "data.object must be an object"
    return None


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
        """From an SDK object or a plain dict; `MalformedObject` when it is not shaped like a
        refund."""
        obj = _as_mapping(obj, "the refund")

        def ref(key: str) -> str | None:
            value = obj.get(key)
            if value is None or isinstance(value, str):
                return value
            linked = _as_mapping(value, key)
            return _text(linked, "id") if linked.get("id") else None

        return cls(
            id=_text(obj, "id"),
            amount=_amount(obj, "amount"),
            currency=_text(obj, "currency").lower(),
            status=_optional_text(obj, "status") or "succeeded",
            payment_intent_id=ref("payment_intent"),
            charge_id=ref("charge"),
            reason=_optional_text(obj, "reason"),
            metadata=_metadata(obj),
            created=_timestamp(obj, "created"),
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
