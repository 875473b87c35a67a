"""The one module that talks to Stripe (or the bundled sandbox); everything else calls these.

Each function takes our own idempotency key (e.g. `product:12:price:1999-cad-month`), so a
retried call can never create a second object, and returns a small dataclass, so the rest
of the shop never handles SDK objects. A network failure becomes `StripeUnavailable`
(try again later); a refusal by Stripe becomes `StripeRefused` with Stripe's message.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

import stripe

from shop.services.ids import MAX_INT
from shop.settings import get_settings

NETWORK_RETRIES = 2
REQUEST_TIMEOUT_SECONDS = 20
# A readiness probe must answer within its orchestrator's deadline, whatever Stripe does.
PROBE_TIMEOUT_SECONDS = 2.0
# A read made while a database write is open (a webhook re-reading a subscription under the
# customer's lock, which on SQLite is the write lock): one try and a short wait, so a slow
# Stripe holds up the shop's other writes for seconds, not for the full retry schedule. A
# failure answers the webhook 5xx and Stripe delivers it again later.
LOCKED_READ_TIMEOUT_SECONDS = 5.0
# Calls made while a person waits for the page (an admin saving a product): one try and a
# short wait, so a Stripe that hangs costs seconds, not the full retry schedule (3 × 20 s).
# What did not reach Stripe is left to a patient retry (the catalog-sync job).
SOMEONE_WAITS_TIMEOUT_SECONDS = 8.0
_someone_waits: ContextVar[bool] = ContextVar("stripe_someone_waits", default=False)


class StripeUnavailable(Exception):
    """Stripe could not be reached; nothing is known to have changed there."""


class StripeRefused(Exception):
    """Stripe answered and said no (invalid request, card error, …)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.param = param
        self.decline_code = decline_code  # the bank's reason for a declined card


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


@lru_cache(maxsize=8)
def _client_for(
    api_key: str,
    api_base: str | None,
    retries: int = NETWORK_RETRIES,
    timeout: float = REQUEST_TIMEOUT_SECONDS,
) -> stripe.StripeClient:
    base_addresses: Any = (
        {"api": api_base, "files": api_base, "connect": api_base} if api_base else None
    )
    return stripe.StripeClient(
        api_key,
        base_addresses=base_addresses,
        max_network_retries=retries,
        http_client=stripe.HTTPXClient(timeout=timeout, allow_sync_methods=True),
    )


def _reader(locked: bool) -> stripe.StripeClient:
    """The client for a read: `locked` when a database write is open (see above)."""
    if not locked:
        return client()
    settings = get_settings()
    api_base = settings.stripe_api_base if settings.sandbox_mode else None
    return _client_for(
        settings.effective_stripe_secret_key, api_base, 0, LOCKED_READ_TIMEOUT_SECONDS
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
    probe = _client_for(settings.effective_stripe_secret_key, None, 0, timeout)
    _call(probe.v1.balance.retrieve, params={})


def client() -> stripe.StripeClient:
    """A client for Stripe with the merchant's key, or for the sandbox when no key is set."""
    settings = get_settings()
    api_base = settings.stripe_api_base if settings.sandbox_mode else None
    if _someone_waits.get():
        return _client_for(
            settings.effective_stripe_secret_key, api_base, 0, SOMEONE_WAITS_TIMEOUT_SECONDS
        )
    return _client_for(settings.effective_stripe_secret_key, api_base)


@contextmanager
def someone_waits() -> Iterator[None]:
    """The Stripe calls made in this block are made while a person waits for the answer."""
    token = _someone_waits.set(True)
    try:
        yield
    finally:
        _someone_waits.reset(token)


def _network_reason(exc: stripe.APIConnectionError) -> str:
    """What the SDK's message says went wrong on the network, else the error's class."""
    found = re.search(r"\(Network error: ([^)]*)\)", str(exc.user_message or exc))
    return found.group(1).strip() if found else type(exc).__name__


def _call(
    method: Any, *ids: str, params: dict[str, Any], idempotency_key: str | None = None
) -> dict[str, Any]:
    """Call one SDK service method, turning the SDK's errors into ours.

    Answers are plain dicts: SDK objects are not dicts (no `.get`) in recent SDK versions."""
    options: Any = {"idempotency_key": idempotency_key} if idempotency_key else {}
    try:
        answer = method(*ids, params=params, options=options)
        return answer.to_dict() if hasattr(answer, "to_dict") else dict(answer)
    except stripe.APIConnectionError as exc:
        # The SDK's text asks to write to Stripe's support over three lines; what a merchant
        # (and the log) needs is that Stripe was not reached, and why. Callers put it after
        # "Stripe: " or "Stripe unreachable: ".
        raise StripeUnavailable(f"no connection ({_network_reason(exc)})") from exc
    except stripe.RateLimitError as exc:
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
            decline_code=getattr(error, "decline_code", None) if error else None,
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
    default_price: str | None = None,  # None: left as it is; "": none
) -> StripeProduct:
    params: dict[str, Any] = {
        "name": name,
        "active": active,
        "metadata": metadata,
        # Stripe refuses an empty description; "" is its way to clear one.
        "description": description[:5000] if description else "",
    }
    if default_price is not None:  # "" takes the default price away
        params["default_price"] = default_price
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


def active_price_ids(
    *, stripe_product_id: str, metadata_key: str, metadata_value: str, max_items: int = 100
) -> list[str]:
    """The active Prices of a Product whose metadata has `metadata_key` = `metadata_value`
    (the ones the shop made), newest first."""
    rows = _list_all(
        client().v1.prices.list,
        {"product": stripe_product_id, "active": True},
        max_items=max_items,
    )
    return [
        str(row["id"])
        for row in rows
        if (row.get("metadata") or {}).get(metadata_key) == metadata_value
    ]


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


def _amount(obj: Mapping[str, Any], key: str, *, signed: bool = False) -> int:
    """A whole number of minor units; `signed` for the amounts Stripe makes negative (the tax
    of an invoice whose credit for unused time is larger than its charge)."""
    value = obj.get(key)
    low = -MAX_INT if signed else 0
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_INT:
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
    last_error_code: str | None = None  # Stripe's error code: "card_declined", …
    last_decline_code: str | None = None  # the bank's reason: "insufficient_funds", …
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
                _optional_text(error, "code") or _optional_text(error, "decline_code")
                if error
                else None
            ),
            last_decline_code=_optional_text(error, "decline_code") if error else None,
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


def retrieve_payment_intent(*, payment_intent_id: str, locked: bool = False) -> PaymentIntentInfo:
    # The charge comes along for its time: a payment found late is paid when it was made.
    return PaymentIntentInfo.from_stripe(
        _call(
            _reader(locked).v1.payment_intents.retrieve,
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
    events = []
    for row in rows:
        # As Stripe sent it: the SDK turns `*_decimal` strings (a price's
        # `unit_amount_decimal`) into Decimals, which the stored JSON payload cannot hold.
        payload = json.loads(json.dumps(row, default=_wire_value))
        events.append(
            StripeEvent(
                id=str(payload["id"]),
                type=str(payload["type"]),
                created=int(payload.get("created") or 0),
                data_object=dict((payload.get("data") or {}).get("object") or {}),
                payload=payload,
            )
        )
    return events


def _wire_value(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


# --- subscriptions (customers, tax rates, subscriptions, invoices, Checkout, portal) --------


def _ref(value: Any) -> str | None:
    """The id of a linked object, whether Stripe sent the id or the expanded object."""
    if value is None or isinstance(value, str):
        return value or None
    linked = _as_mapping(value, "a linked object")
    found = linked.get("id")
    return found if isinstance(found, str) and found else None


def _bool(obj: Mapping[str, Any], key: str) -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise MalformedObject(f"{key} must be true or false")
    return value


def _list_data(obj: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    listing = obj.get(key)
    if listing is None:
        return []
    data = listing.get("data") if isinstance(listing, Mapping) else listing
    if not isinstance(data, list):
        raise MalformedObject(f"{key} must be a list")
    return [_as_mapping(item, key) for item in data]


@dataclass(frozen=True, slots=True)
class StripeCustomer:
    id: str


def create_customer(
    *, email: str, name: str | None, metadata: dict[str, str], idempotency_key: str
) -> StripeCustomer:
    params: dict[str, Any] = {"email": email, "metadata": metadata}
    if name:
        params["name"] = name[:256]
    obj = _call(client().v1.customers.create, params=params, idempotency_key=idempotency_key)
    return StripeCustomer(id=obj["id"])


def attach_payment_method(*, payment_method: str, customer_id: str, idempotency_key: str) -> str:
    """Attach a card to the customer; its id (a test id like `pm_card_visa` mints a new one).
    A card Stripe declines on attaching raises `StripeRefused` with the decline code."""
    obj = _call(
        client().v1.payment_methods.attach,
        payment_method,
        params={"customer": customer_id},
        idempotency_key=idempotency_key,
    )
    return str(obj["id"])


@dataclass(frozen=True, slots=True)
class TaxRateInfo:
    """A Stripe TaxRate: `percentage` exact ("13", "9.975"), `key` our metadata `shop_tax_key`."""

    id: str
    display_name: str
    jurisdiction: str | None
    percentage: str
    inclusive: bool
    active: bool
    key: str | None

    @classmethod
    def from_stripe(cls, obj: Any) -> TaxRateInfo:
        obj = _as_mapping(obj, "the tax rate")
        percentage = obj.get("percentage")
        if isinstance(percentage, bool) or percentage is None:
            raise MalformedObject("percentage must be a number")
        return cls(
            id=_text(obj, "id"),
            display_name=_optional_text(obj, "display_name") or "",
            jurisdiction=_optional_text(obj, "jurisdiction"),
            percentage=format(Decimal(str(percentage)).normalize(), "f"),
            inclusive=_bool(obj, "inclusive"),
            active=_bool(obj, "active"),
            key=_metadata(obj).get("shop_tax_key"),
        )


def list_tax_rates(*, max_items: int = 1000) -> list[TaxRateInfo]:
    """The account's active tax rates."""
    rows = _list_all(client().v1.tax_rates.list, {"active": True}, max_items=max_items)
    return [TaxRateInfo.from_stripe(row) for row in rows]


def create_tax_rate(
    *,
    display_name: str,
    percentage: str,
    jurisdiction: str,
    country: str,
    state: str | None,
    key: str,
    idempotency_key: str,
) -> TaxRateInfo:
    """An exclusive tax rate (added on top of the price), marked with our `key`."""
    params: dict[str, Any] = {
        "display_name": display_name,
        "percentage": float(percentage),
        "inclusive": False,
        "jurisdiction": jurisdiction,
        "country": country,
        "metadata": {"shop_tax_key": key},
    }
    if state:
        params["state"] = state
    obj = _call(client().v1.tax_rates.create, params=params, idempotency_key=idempotency_key)
    return TaxRateInfo.from_stripe(obj)


def retrieve_tax_rate(*, tax_rate_id: str) -> TaxRateInfo:
    return TaxRateInfo.from_stripe(_call(client().v1.tax_rates.retrieve, tax_rate_id, params={}))


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    amount: int  # negative for a proration credit
    price_id: str | None
    stripe_product_id: str | None
    proration: bool


@dataclass(frozen=True, slots=True)
class InvoiceTax:
    tax_rate_id: str | None
    amount: int
    inclusive: bool


@dataclass(frozen=True, slots=True)
class InvoiceInfo:
    """A Stripe invoice: what it charged and which PaymentIntent paid it (when `payments`
    came expanded)."""

    id: str
    status: str
    subscription_id: str | None
    customer_id: str | None
    currency: str
    subtotal: int
    total: int
    amount_due: int
    amount_paid: int
    discount: int
    lines: list[InvoiceLine]
    taxes: list[InvoiceTax]
    payment_intent_id: str | None
    client_secret: str | None
    billing_reason: str | None
    created: int
    paid_at: int

    @classmethod
    def from_stripe(cls, obj: Any) -> InvoiceInfo:
        obj = _as_mapping(obj, "the invoice")
        parent = _optional_object(obj, "parent") or {}
        details = _optional_object(parent, "subscription_details") or {}
        subscription_id = _ref(details.get("subscription")) or _ref(obj.get("subscription"))
        lines = []
        for line in _list_data(obj, "lines"):
            pricing = _optional_object(line, "pricing") or {}
            price = _optional_object(pricing, "price_details") or {}
            item = _optional_object(
                _optional_object(line, "parent") or {}, "subscription_item_details"
            )
            raw_amount = line.get("amount")
            if isinstance(raw_amount, bool) or not isinstance(raw_amount, int):
                raise MalformedObject("a line's amount must be a whole number of minor units")
            lines.append(
                InvoiceLine(
                    amount=raw_amount,
                    price_id=_ref(price.get("price")),
                    stripe_product_id=_ref(price.get("product")),
                    proration=bool(item and item.get("proration")),
                )
            )
        taxes = []
        for tax in obj.get("total_taxes") or []:
            tax = _as_mapping(tax, "total_taxes")
            rate = _optional_object(tax, "tax_rate_details") or {}
            taxes.append(
                InvoiceTax(
                    tax_rate_id=_ref(rate.get("tax_rate")),
                    amount=_amount(tax, "amount", signed=True),
                    inclusive=tax.get("tax_behavior") == "inclusive",
                )
            )
        payment_intent_id = None
        for payment in _list_data(obj, "payments"):
            target = _optional_object(payment, "payment") or {}
            if target.get("type") == "payment_intent" and (
                payment_intent_id is None or payment.get("status") == "paid"
            ):
                payment_intent_id = _ref(target.get("payment_intent"))
        secret = _optional_object(obj, "confirmation_secret") or {}
        transitions = _optional_object(obj, "status_transitions") or {}
        discounts = sum(
            _amount(_as_mapping(d, "total_discount_amounts"), "amount")
            for d in obj.get("total_discount_amounts") or []
        )
        return cls(
            id=_text(obj, "id"),
            status=_optional_text(obj, "status") or "draft",
            subscription_id=subscription_id,
            customer_id=_ref(obj.get("customer")),
            currency=_text(obj, "currency").lower(),
            subtotal=int(obj.get("subtotal") or 0),
            total=int(obj.get("total") or 0),
            amount_due=_amount(obj, "amount_due"),
            amount_paid=_amount(obj, "amount_paid"),
            discount=discounts,
            lines=lines,
            taxes=taxes,
            payment_intent_id=payment_intent_id,
            client_secret=_optional_text(secret, "client_secret"),
            billing_reason=_optional_text(obj, "billing_reason"),
            created=_timestamp(obj, "created"),
            paid_at=_timestamp(transitions, "paid_at"),
        )


@dataclass(frozen=True, slots=True)
class SubscriptionInfo:
    """A Stripe subscription of one plan (its first item): status, period, price."""

    id: str
    customer_id: str
    status: str
    cancel_at_period_end: bool
    current_period_end: int | None
    item_id: str | None
    price_id: str | None
    stripe_product_id: str | None
    unit_amount: int | None
    currency: str
    interval: str | None
    metadata: dict[str, str]
    latest_invoice_id: str | None
    # Only when the answer came with `latest_invoice` expanded.
    latest_invoice: InvoiceInfo | None = None

    @classmethod
    def from_stripe(cls, obj: Any) -> SubscriptionInfo:
        obj = _as_mapping(obj, "the subscription")
        items = _list_data(obj, "items")
        item = items[0] if items else {}
        price = _optional_object(item, "price") or {}
        recurring = _optional_object(price, "recurring") or {}
        period_end = item.get("current_period_end") or obj.get("current_period_end")
        latest = obj.get("latest_invoice")
        unit_amount = price.get("unit_amount")
        return cls(
            id=_text(obj, "id"),
            customer_id=_ref(obj.get("customer")) or "",
            status=_text(obj, "status"),
            cancel_at_period_end=_bool(obj, "cancel_at_period_end") or bool(obj.get("cancel_at")),
            current_period_end=period_end if isinstance(period_end, int) else None,
            item_id=_optional_text(item, "id"),
            price_id=_optional_text(price, "id"),
            stripe_product_id=_ref(price.get("product")),
            unit_amount=unit_amount if isinstance(unit_amount, int) else None,
            currency=(_optional_text(obj, "currency") or "").lower(),
            interval=_optional_text(recurring, "interval"),
            metadata=_metadata(obj),
            latest_invoice_id=_ref(latest),
            latest_invoice=InvoiceInfo.from_stripe(latest)
            if isinstance(latest, Mapping) or hasattr(latest, "to_dict")
            else None,
        )


LATEST_INVOICE = ["latest_invoice.payments", "latest_invoice.confirmation_secret"]


def create_subscription(
    *,
    customer_id: str,
    price_id: str,
    default_payment_method: str,
    tax_rate_ids: list[str],
    metadata: dict[str, str],
    idempotency_key: str,
) -> SubscriptionInfo:
    """Start a subscription charged to `default_payment_method` now. A first payment that
    fails or needs 3-D Secure leaves it `incomplete` (its latest invoice says why)."""
    params: dict[str, Any] = {
        "customer": customer_id,
        "items": [{"price": price_id, "quantity": 1}],
        "default_payment_method": default_payment_method,
        "payment_behavior": "allow_incomplete",
        "metadata": metadata,
        "expand": LATEST_INVOICE,
    }
    if tax_rate_ids:
        params["default_tax_rates"] = tax_rate_ids
    obj = _call(client().v1.subscriptions.create, params=params, idempotency_key=idempotency_key)
    return SubscriptionInfo.from_stripe(obj)


def retrieve_subscription(*, subscription_id: str, locked: bool = False) -> SubscriptionInfo:
    return SubscriptionInfo.from_stripe(
        _call(_reader(locked).v1.subscriptions.retrieve, subscription_id, params={})
    )


def update_subscription(
    *,
    subscription_id: str,
    idempotency_key: str,
    cancel_at_period_end: bool | None = None,
    item_id: str | None = None,
    price_id: str | None = None,
    metadata: dict[str, str] | None = None,
) -> SubscriptionInfo:
    """Schedule or undo the cancellation at period end, and/or switch the plan's price
    (prorated; another interval starts a new period now and is invoiced at once)."""
    params: dict[str, Any] = {}
    if cancel_at_period_end is not None:
        params["cancel_at_period_end"] = cancel_at_period_end
    if price_id is not None:
        params["items"] = [{"id": item_id, "price": price_id, "quantity": 1}]
        params["proration_behavior"] = "create_prorations"
    if metadata:
        params["metadata"] = metadata
    obj = _call(
        client().v1.subscriptions.update,
        subscription_id,
        params=params,
        idempotency_key=idempotency_key,
    )
    return SubscriptionInfo.from_stripe(obj)


def cancel_subscription(*, subscription_id: str, idempotency_key: str) -> SubscriptionInfo:
    """End the subscription now (no refund of the current period)."""
    obj = _call(
        client().v1.subscriptions.cancel,
        subscription_id,
        params={},
        idempotency_key=idempotency_key,
    )
    return SubscriptionInfo.from_stripe(obj)


def list_subscriptions(
    *, customer_id: str | None = None, max_items: int = 1000
) -> list[SubscriptionInfo]:
    """Subscriptions of every status (of one customer, when given), newest first."""
    params: dict[str, Any] = {"status": "all"}
    if customer_id:
        params["customer"] = customer_id
    rows = _list_all(client().v1.subscriptions.list, params, max_items=max_items)
    return [SubscriptionInfo.from_stripe(row) for row in rows]


def payment_intent_of_charge(*, charge_id: str) -> str | None:
    """The PaymentIntent a charge (`ch_…`, `py_…`) belongs to; None when Stripe has no such
    charge. Raises StripeUnavailable."""
    try:
        charge = _call(_reader(False).v1.charges.retrieve, charge_id, params={})
    except StripeRefused:
        return None
    return _ref(charge.get("payment_intent"))


def retrieve_invoice(*, invoice_id: str, locked: bool = False) -> InvoiceInfo:
    return InvoiceInfo.from_stripe(
        _call(_reader(locked).v1.invoices.retrieve, invoice_id, params={"expand": ["payments"]})
    )


def list_paid_invoices(*, subscription_id: str, max_items: int = 100) -> list[InvoiceInfo]:
    """A subscription's paid invoices, newest first (without their payments: retrieve one
    for its PaymentIntent)."""
    rows = _list_all(
        client().v1.invoices.list,
        {"subscription": subscription_id, "status": "paid"},
        max_items=max_items,
    )
    return [InvoiceInfo.from_stripe(row) for row in rows]


@dataclass(frozen=True, slots=True)
class CheckoutSessionInfo:
    id: str
    url: str | None
    mode: str
    status: str
    customer_id: str | None
    subscription_id: str | None
    metadata: dict[str, str]

    @classmethod
    def from_stripe(cls, obj: Any) -> CheckoutSessionInfo:
        obj = _as_mapping(obj, "the Checkout Session")
        return cls(
            id=_text(obj, "id"),
            url=_optional_text(obj, "url"),
            mode=_optional_text(obj, "mode") or "payment",
            status=_optional_text(obj, "status") or "open",
            customer_id=_ref(obj.get("customer")),
            subscription_id=_ref(obj.get("subscription")),
            metadata=_metadata(obj),
        )


def create_subscription_checkout(
    *,
    customer_id: str,
    price_id: str,
    tax_rate_ids: list[str],
    metadata: dict[str, str],
    client_reference_id: str,
    success_url: str,
    cancel_url: str,
    idempotency_key: str,
) -> CheckoutSessionInfo:
    """A hosted Checkout page (mode `subscription`) for one plan, for this customer."""
    subscription_data: dict[str, Any] = {"metadata": metadata}
    if tax_rate_ids:
        subscription_data["default_tax_rates"] = tax_rate_ids
    params: dict[str, Any] = {
        "mode": "subscription",
        "customer": customer_id,
        "line_items": [{"price": price_id, "quantity": 1}],
        "subscription_data": subscription_data,
        "metadata": metadata,
        "client_reference_id": client_reference_id,
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    obj = _call(
        client().v1.checkout.sessions.create, params=params, idempotency_key=idempotency_key
    )
    return CheckoutSessionInfo.from_stripe(obj)


def list_open_checkouts(*, customer_id: str, max_items: int = 100) -> list[CheckoutSessionInfo]:
    """The customer's Checkout Sessions that can still be paid."""
    rows = _list_all(
        client().v1.checkout.sessions.list,
        {"customer": customer_id, "status": "open"},
        max_items=max_items,
    )
    return [CheckoutSessionInfo.from_stripe(row) for row in rows]


def expire_checkout(*, session_id: str) -> None:
    """Close a Checkout Session so that it can no longer be paid."""
    _call(client().v1.checkout.sessions.expire, session_id, params={})


def create_portal_session(*, customer_id: str, return_url: str, idempotency_key: str) -> str:
    """The URL of a Billing Portal session where the customer manages plans and cards."""
    obj = _call(
        client().v1.billing_portal.sessions.create,
        params={"customer": customer_id, "return_url": return_url},
        idempotency_key=idempotency_key,
    )
    return str(obj["url"])
