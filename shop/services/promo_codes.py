"""Promo codes: created by the admin, mirrored to Stripe, checked and applied at checkout.

The shop computes every discount itself (amounts come from the server); the Stripe Coupon and
PromotionCode are a mirror so the merchant sees the same codes in the Stripe dashboard.

A code is applied before tax. An unrestricted code is an order discount (`calculate_tax`
spreads it over all lines); a code restricted to products discounts only those lines, split
over them in proportion to their amounts, and the tax engine sees the reduced lines.

A code is for one use per customer unless the admin says otherwise (`once_per_customer`).
Redemptions are counted when an order is paid (`record_redemption`, called by fulfilment),
under unique constraints. Until then an unpaid order placed with a limited or once-per-customer
code holds one use of it (`holds`): other buyers' unpaid orders count against the redemption
limit, and a buyer's new checkout replaces their own unpaid order with the code. Expiry and
withdrawal are checked when the order is placed and again just before a server-side
confirmation charges it (`check_still_usable`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from shop.models import Product, ProductKind, PromoCode, PromoRedemption, utcnow
from shop.services import audit, holds, stripe_api
from shop.services.audit import Actor
from shop.services.errors import Conflict, InvalidInput, NotFound, ShopError
from shop.services.money import format_money, is_currency
from shop.services.tax import allocate_discount

log = logging.getLogger("shop.promo_codes")

CODE_PATTERN = re.compile(r"^[A-Z0-9_-]{3,64}$")


class PromoCodeRefused(ShopError):
    """The customer's code cannot be used on this order; `message` says why."""

    status_code = 422
    code = "promo_code_refused"


@dataclass(frozen=True, slots=True)
class PromoLine:
    """A cart line as a promo code sees it: which product, and its total (price × quantity)."""

    product_id: int
    amount: int


@dataclass(frozen=True, slots=True)
class AppliedPromo:
    promo_code_id: int
    code: str
    discount: int
    # True: an order discount for calculate_tax; False: `line_discounts` already reduce lines.
    order_level: bool
    line_discounts: list[int]


def normalize_code(code: str) -> str:
    return code.strip().upper()


def parse_percent(value: str | int | float | Decimal) -> str:
    """Percent off as exact decimal text ("15", "12.5"): above 0, at most 100, 2 decimals."""
    try:
        percent = Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidInput("percent_off must be a number.", field="percent_off") from exc
    if not percent.is_finite() or percent <= 0 or percent > 100:
        raise InvalidInput("percent_off must be above 0 and at most 100.", field="percent_off")
    if percent != percent.quantize(Decimal("0.01")):
        raise InvalidInput("percent_off takes at most two decimals.", field="percent_off")
    return f"{percent.normalize():f}"


def discount_for(*, percent_off: str | None, amount_off: int | None, eligible_total: int) -> int:
    """The discount in minor units: a percentage rounded half-up, or a fixed amount capped at
    what it applies to — never more than `eligible_total`, never negative."""
    if percent_off is not None:
        exact = Decimal(eligible_total) * Decimal(percent_off) / 100
        return min(int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)), eligible_total)
    return max(0, min(amount_off or 0, eligible_total))


def create_promo_code(
    *,
    session: Session,
    code: str,
    percent_off: str | int | float | Decimal | None = None,
    amount_off: int | None = None,
    currency: str | None = None,
    expires_at: datetime | None = None,
    max_redemptions: int | None = None,
    min_subtotal: int | None = None,
    once_per_customer: bool = True,
    product_ids: list[int] | None = None,
    actor: Actor | None = None,
    ip: str | None = None,
) -> PromoCode:
    """Create a code (not yet in Stripe: `sync_to_stripe` mirrors it after commit); the audit
    log records who created it."""
    normalized = normalize_code(code)
    if not CODE_PATTERN.match(normalized):
        raise InvalidInput("A promo code is 3 to 64 letters, digits, '-' or '_'.", field="code")
    if (percent_off is None) == (amount_off is None):
        raise InvalidInput(
            "Give either percent_off or amount_off (with currency).", field="percent_off"
        )
    percent_text = parse_percent(percent_off) if percent_off is not None else None
    if amount_off is not None:
        if isinstance(amount_off, bool) or amount_off < 1:
            raise InvalidInput("amount_off must be at least 1 minor unit.", field="amount_off")
        if not currency or len(currency) != 3 or not currency.isalpha():
            raise InvalidInput("amount_off needs a three-letter currency.", field="currency")
        if not is_currency(currency):
            raise InvalidInput(
                f"{currency} is not a currency code (ISO 4217, such as CAD).", field="currency"
            )
    # An expiry already past is allowed: the code is kept and refused as expired, like any
    # other code once its day has gone (the admin form refuses such a date: see
    # promo_code_form). Stripe refuses a past expiry, so such a code is not mirrored.
    if expires_at is not None and expires_at.tzinfo is None:
        raise InvalidInput("expires_at needs a timezone.", field="expires_at")
    if max_redemptions is not None and max_redemptions < 1:
        raise InvalidInput("max_redemptions must be at least 1.", field="max_redemptions")
    if min_subtotal is not None and min_subtotal < 0:
        raise InvalidInput("min_subtotal cannot be negative.", field="min_subtotal")
    ids = sorted(set(product_ids or []))
    if ids:
        found = set(session.exec(select(Product.id).where(Product.id.in_(ids))).all())  # type: ignore[union-attr]
        missing = [i for i in ids if i not in found]
        if missing:
            raise InvalidInput(f"No product with id {missing[0]}.", field="product_ids")
    promo = PromoCode(
        code=normalized,
        percent_off=percent_text,
        amount_off=amount_off,
        currency=currency.lower() if currency and amount_off is not None else None,
        expires_at=expires_at,
        max_redemptions=max_redemptions,
        min_subtotal=min_subtotal,
        once_per_customer=once_per_customer,
        product_ids=ids,
    )
    taken = session.exec(select(PromoCode.id).where(PromoCode.code == normalized)).first()
    if taken is not None:
        raise Conflict(f"The promo code {normalized} exists already.", field="code")
    try:
        session.add(promo)
        session.flush()
    except IntegrityError as exc:  # created by someone else at the same moment
        raise Conflict(f"The promo code {normalized} exists already.", field="code") from exc
    audit.record(
        session=session,
        action="promo_code.created",
        actor=actor,
        target=f"promo_code:{promo.id}",
        ip=ip,
        details={
            "code": promo.code,
            "percent_off": promo.percent_off,
            "amount_off": promo.amount_off,
            "currency": promo.currency,
            "expires_at": promo.expires_at,
            "max_redemptions": promo.max_redemptions,
            "min_subtotal": promo.min_subtotal,
            "once_per_customer": promo.once_per_customer,
            "product_ids": promo.product_ids,
        },
    )
    return promo


def list_promo_codes(*, session: Session) -> list[PromoCode]:
    """Every code, newest first (a shop has dozens, not thousands)."""
    return list(
        session.exec(
            select(PromoCode).order_by(col(PromoCode.created_at).desc(), col(PromoCode.id).desc())
        ).all()
    )


def product_choices(*, session: Session) -> dict[int, str]:
    """Products a code can be restricted to (one-time purchases), by name."""
    rows = session.exec(
        select(Product.id, Product.name)
        .where(Product.kind == ProductKind.ONE_TIME.value)
        .order_by(col(Product.name))
    ).all()
    return {int(pid): name for pid, name in rows if pid is not None}


def set_active(
    *,
    session: Session,
    promo_code_id: int,
    active: bool,
    actor: Actor | None = None,
    ip: str | None = None,
) -> PromoCode:
    """Withdraw a code (checkout refuses it from now on, and orders placed with it are not
    charged at its discount) or put it back; `mirror_active_to_stripe` follows after commit."""
    promo = session.get(PromoCode, promo_code_id)
    if promo is None:
        raise NotFound(f"No promo code {promo_code_id}.")
    if promo.is_active != active:
        promo.is_active = active
        promo.updated_at = utcnow()
        session.add(promo)
        audit.record(
            session=session,
            action="promo_code.activated" if active else "promo_code.deactivated",
            actor=actor,
            target=f"promo_code:{promo.id}",
            ip=ip,
            details={"code": promo.code},
        )
        session.flush()
    return promo


def mirror_active_to_stripe(*, session: Session, promo_code_id: int) -> PromoCode:
    """Make Stripe's PromotionCode active or not as the shop's code is (creating the mirror
    first when it is missing); a Stripe outage is left in `sync_error` for the admin."""
    promo = sync_to_stripe(session=session, promo_code_id=promo_code_id)
    if promo.stripe_promotion_code_id is None:
        return promo
    try:
        stripe_api.set_promotion_code_active(
            promotion_code_id=promo.stripe_promotion_code_id,
            active=promo.is_active,
            idempotency_key=f"promo:{promo.id}:active:{int(promo.is_active)}:"
            f"{int(promo.updated_at.timestamp())}",
        )
        promo.sync_error = None
    except (stripe_api.StripeUnavailable, stripe_api.StripeRefused) as exc:
        log.warning("promo code state not mirrored to Stripe", extra={"promo_code_id": promo.id})
        promo.sync_error = str(exc)[:500]
    session.add(promo)
    session.flush()
    return promo


def sync_to_stripe(*, session: Session, promo_code_id: int) -> PromoCode:
    """Mirror a code to Stripe as Coupon + PromotionCode; idempotent, so safe to retry.

    A Stripe outage leaves the code usable in the shop (the shop computes discounts itself)
    with `sync_error` set for the admin.
    """
    promo = session.get(PromoCode, promo_code_id)
    if promo is None:
        raise NotFound(f"No promo code {promo_code_id}.")
    if promo.stripe_promotion_code_id:
        return promo
    if promo.expires_at is not None and promo.expires_at <= utcnow():
        return promo  # expired: nothing to offer at Stripe, which refuses a past expiry
    stripe_products: list[str] = []
    if promo.product_ids:
        rows = session.exec(
            select(Product.stripe_product_id).where(Product.id.in_(promo.product_ids))  # type: ignore[union-attr]
        ).all()
        stripe_products = [r for r in rows if r]
        if len(stripe_products) != len(promo.product_ids):
            stripe_products = []  # not every product is in Stripe yet: the shop enforces it
    metadata = {"promo_code_id": str(promo.id), "code": promo.code}
    try:
        coupon_id = promo.stripe_coupon_id
        if coupon_id is None:
            coupon = stripe_api.create_coupon(
                name=promo.code,
                percent_off=promo.percent_off,
                amount_off=promo.amount_off,
                currency=promo.currency,
                redeem_by=int(promo.expires_at.timestamp()) if promo.expires_at else None,
                max_redemptions=promo.max_redemptions,
                stripe_product_ids=stripe_products or None,
                metadata=metadata,
                idempotency_key=f"promo:{promo.id}:coupon",
            )
            coupon_id = promo.stripe_coupon_id = coupon.id
        code = stripe_api.create_promotion_code(
            coupon_id=coupon_id,
            code=promo.code,
            expires_at=int(promo.expires_at.timestamp()) if promo.expires_at else None,
            max_redemptions=promo.max_redemptions,
            minimum_amount=promo.min_subtotal,
            minimum_amount_currency=promo.currency,
            metadata=metadata,
            idempotency_key=f"promo:{promo.id}:promotion_code",
        )
        promo.stripe_promotion_code_id = code.id
        promo.sync_error = None
    except (stripe_api.StripeUnavailable, stripe_api.StripeRefused) as exc:
        log.warning("promo code not mirrored to Stripe", extra={"promo_code_id": promo.id})
        promo.sync_error = str(exc)[:500]
    session.add(promo)
    session.flush()
    return promo


def apply_promo_code(
    *,
    session: Session,
    code: str,
    user_id: int | None,
    lines: list[PromoLine],
    currency: str,
    now: datetime | None = None,
    firm_ids: frozenset[int] = frozenset(),
) -> AppliedPromo:
    """The discount `code` gives on these lines, or `PromoCodeRefused` saying why not
    (`firm_ids`: unpaid orders holding a use that could not give way, see `holds`)."""
    now = now or utcnow()
    normalized = normalize_code(code)
    shown = normalized or code.strip()
    promo = session.exec(select(PromoCode).where(PromoCode.code == normalized)).first()
    if promo is None or not promo.is_active:
        raise PromoCodeRefused(
            f"The promo code {shown} is not valid.", code="promo_code_invalid", field="promo_code"
        )
    assert promo.id is not None
    _check_usable(session, promo, user_id=user_id, now=now, shown=shown, firm_ids=firm_ids)
    if promo.currency is not None and promo.currency != currency.lower():
        raise PromoCodeRefused(
            f"The promo code {shown} is for {promo.currency.upper()} orders only.",
            code="promo_code_not_applicable",
            field="promo_code",
        )
    subtotal = sum(line.amount for line in lines)
    if promo.min_subtotal is not None and subtotal < promo.min_subtotal:
        raise PromoCodeRefused(
            f"The promo code {shown} needs a subtotal of at least "
            f"{format_money(promo.min_subtotal, currency)}.",
            code="promo_code_minimum",
            field="promo_code",
        )
    restricted = bool(promo.product_ids)
    eligible = [
        i for i, line in enumerate(lines) if not restricted or line.product_id in promo.product_ids
    ]
    eligible_total = sum(lines[i].amount for i in eligible)
    if not eligible or eligible_total == 0:
        raise PromoCodeRefused(
            f"The promo code {shown} does not apply to the products in your cart.",
            code="promo_code_not_applicable",
            field="promo_code",
        )
    discount = discount_for(
        percent_off=promo.percent_off, amount_off=promo.amount_off, eligible_total=eligible_total
    )
    line_discounts = [0] * len(lines)
    if restricted:
        shares = allocate_discount(amounts=[lines[i].amount for i in eligible], discount=discount)
        for i, share in zip(eligible, shares, strict=True):
            line_discounts[i] = share
    return AppliedPromo(
        promo_code_id=promo.id,
        code=promo.code,
        discount=discount,
        order_level=not restricted,
        line_discounts=line_discounts,
    )


def check_still_usable(
    *, session: Session, promo_code_id: int, user_id: int | None, now: datetime | None = None
) -> None:
    """Before an order placed with a code is charged: the code must still be usable by this
    customer (not withdrawn, expired or used up, and not used by them on an order paid since).
    Without this, pending orders made while the code was good could all be paid later."""
    promo = session.get(PromoCode, promo_code_id)
    if promo is None or not promo.is_active:
        raise PromoCodeRefused(
            "The order's promo code has been withdrawn; start checkout again without it.",
            code="promo_code_invalid",
            field="promo_code",
        )
    _check_usable(session, promo, user_id=user_id, now=now or utcnow(), shown=promo.code)


def _check_usable(
    session: Session,
    promo: PromoCode,
    *,
    user_id: int | None,
    now: datetime,
    shown: str,
    firm_ids: frozenset[int] = frozenset(),
) -> None:
    """The rules that can change after an order is placed: expiry, the redemption limit (uses
    paid for and uses other buyers' unpaid orders hold) and once per customer."""
    if promo.expires_at is not None and promo.expires_at <= now:
        raise PromoCodeRefused(
            f"The promo code {shown} expired on {promo.expires_at:%Y-%m-%d}.",
            code="promo_code_expired",
            field="promo_code",
        )
    if promo.max_redemptions is not None:
        if promo.times_redeemed >= promo.max_redemptions:
            raise PromoCodeRefused(
                f"The promo code {shown} has been used as many times as it allows.",
                code="promo_code_exhausted",
                field="promo_code",
            )
        assert promo.id is not None
        held = holds.code_holds(
            session=session, promo_code_id=promo.id, buyer_id=user_id, now=now, firm_ids=firm_ids
        )
        if promo.times_redeemed + held.firm_quantity >= promo.max_redemptions:
            minutes = held.minutes_until_one_yields(now=now)
            wait = f"try again in {minutes} minute{'s' if minutes != 1 else ''}."
            raise PromoCodeRefused(
                f"The last use of the promo code {shown} is in another customer's checkout; {wait}"
                if promo.max_redemptions - promo.times_redeemed == 1
                else f"The last uses of the promo code {shown} are in other customers' "
                f"checkouts; {wait}",
                code="promo_code_exhausted",
                field="promo_code",
            )
    if promo.once_per_customer:
        if user_id is None:
            raise PromoCodeRefused(
                f"Sign in to use the promo code {shown}.",
                code="promo_code_sign_in",
                field="promo_code",
            )
        used = session.exec(
            select(PromoRedemption.id).where(
                PromoRedemption.promo_code_id == promo.id, PromoRedemption.user_id == user_id
            )
        ).first()
        if used is not None:
            raise PromoCodeRefused(
                f"You have already used the promo code {shown}.",
                code="promo_code_used",
                field="promo_code",
            )


def record_redemption(
    *,
    session: Session,
    promo_code_id: int,
    order_id: int,
    user_id: int | None,
    discount_amount: int,
) -> bool:
    """Count one use of a code by a paid order; False when this order (or this customer, for a
    once-per-customer code) is already counted. Unique constraints decide, not a prior read."""
    from shop.services.fulfilment import insert_ignoring_conflicts

    promo = session.get(PromoCode, promo_code_id)
    if promo is None:
        return False
    inserted = insert_ignoring_conflicts(
        session,
        PromoRedemption,
        {
            "promo_code_id": promo_code_id,
            "order_id": order_id,
            "user_id": user_id,
            "customer_key": str(user_id) if promo.once_per_customer and user_id else None,
            "discount_amount": discount_amount,
            "created_at": utcnow(),
        },
    )
    if not inserted:
        log.warning(
            "promo code redemption not counted (already used)",
            extra={"promo_code_id": promo_code_id, "order_id": order_id},
        )
        return False
    session.execute(
        update(PromoCode)
        .where(PromoCode.id == promo_code_id)  # type: ignore[arg-type]
        .values(times_redeemed=PromoCode.times_redeemed + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return True
