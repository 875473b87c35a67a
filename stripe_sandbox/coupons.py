"""Coupons and promotion codes."""

from __future__ import annotations

import re
from typing import Any

from .core import (
    Ctx,
    as_bool,
    as_dict,
    as_float,
    as_int,
    as_list,
    blank,
    emit,
    load,
    merge_metadata,
    new_id,
    now,
    paginate,
    rand,
    render,
)
from .errors import invalid_request, missing
from .resources import (
    amount_param,
    currency_param,
    deleted,
    list_filter,
    route,
    set_simple,
    update_metadata,
)


def coupon_valid(c: dict[str, Any]) -> bool:
    if c.get("_deleted"):
        return False
    if c.get("redeem_by") and c["redeem_by"] < now():
        return False
    return not (c.get("max_redemptions") and c["times_redeemed"] >= c["max_redemptions"])


def _refresh(c: dict[str, Any]) -> dict[str, Any]:
    c["valid"] = coupon_valid(c)
    return c


@route("POST", "/v1/coupons", "CouponCreateParams")
def coupon_create(ctx: Ctx) -> dict[str, Any]:
    cid = ctx.p("id") or rand(8).upper()
    if not re.match(r"^[A-Za-z0-9_-]{1,200}$", str(cid)):
        raise invalid_request("Invalid coupon id.", param="id")
    existing = ctx.store.get(cid)
    if existing and not existing.get("_deleted"):
        raise invalid_request("Coupon already exists.", param="id", code="resource_already_exists")
    pct = as_float(ctx.p("percent_off"), "percent_off")
    amt_off = ctx.p("amount_off")
    currency = None
    if (pct is None) == (amt_off in (None, "")):
        raise invalid_request(
            "You must pass either `percent_off` or `amount_off`, but not both.", param="percent_off"
        )
    if pct is not None and not 0 < pct <= 100:
        raise invalid_request(
            "Invalid percent_off: must be greater than 0 and at most 100.", param="percent_off"
        )
    amount_off = None
    if amt_off not in (None, ""):
        currency = currency_param(ctx, ctx.p("currency"))
        amount_off = amount_param(amt_off, "amount_off", None)
    duration = ctx.p("duration") or "once"
    dim = as_int(ctx.p("duration_in_months"), "duration_in_months")
    if duration == "repeating" and not dim:
        raise invalid_request(
            "Missing required param: duration_in_months.",
            param="duration_in_months",
            code="parameter_missing",
        )
    if duration != "repeating" and dim:
        raise invalid_request(
            "duration_in_months can only be set when duration is repeating.",
            param="duration_in_months",
        )
    redeem_by = as_int(ctx.p("redeem_by"), "redeem_by")
    if redeem_by is not None and redeem_by <= now():
        raise invalid_request("Invalid redeem_by: must be in the future.", param="redeem_by")
    c = blank("coupon")
    c.update(
        id=cid,
        object="coupon",
        amount_off=amount_off,
        created=now(),
        currency=currency,
        duration=duration,
        duration_in_months=dim,
        livemode=False,
        max_redemptions=as_int(ctx.p("max_redemptions"), "max_redemptions", minimum=1),
        metadata=merge_metadata({}, ctx.p("metadata")),
        name=ctx.p("name") or None,
        percent_off=pct,
        redeem_by=redeem_by,
        times_redeemed=0,
        valid=True,
    )
    if ctx.p("applies_to"):
        c["applies_to"] = {
            "products": as_dict(ctx.p("applies_to"), "applies_to").get("products") or []
        }
    if existing:
        ctx.store.delete(cid)
    ctx.store.put(c)
    emit(ctx, "coupon.created", c)
    return render(c)


def load_coupon(ctx: Ctx, cid: Any, param: str = "id") -> dict[str, Any]:
    c = ctx.store.get(str(cid)) if cid else None
    if c is None or c.get("object") != "coupon" or c.get("_deleted"):
        raise missing("coupon", str(cid), param)
    return _refresh(c)


@route("GET", "/v1/coupons/{id}", "CouponRetrieveParams")
def coupon_retrieve(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(load_coupon(ctx, id))


@route("POST", "/v1/coupons/{id}", "CouponUpdateParams")
def coupon_update(ctx: Ctx, id: str) -> dict[str, Any]:
    c = load_coupon(ctx, id)
    prev = set_simple(ctx, c, ["name"])
    update_metadata(ctx, c, prev)
    ctx.store.put(c)
    if prev:
        emit(ctx, "coupon.updated", c, prev)
    return render(c)


@route("DELETE", "/v1/coupons/{id}", "CouponDeleteParams")
def coupon_delete(ctx: Ctx, id: str) -> dict[str, Any]:
    c = load_coupon(ctx, id)
    c["_deleted"] = True
    c["valid"] = False
    ctx.store.put(c)
    emit(ctx, "coupon.deleted", c)
    return deleted(c)


@route("GET", "/v1/coupons", "CouponListParams")
def coupon_list(ctx: Ctx) -> dict[str, Any]:
    out = paginate(ctx, "coupon", "/v1/coupons")
    for c in out["data"]:
        _refresh(c)
    return out


# -- promotion codes ----------------------------------------------------------------------------
def promo_active(p: dict[str, Any]) -> bool:
    return (
        bool(p["active"])
        and not (p.get("expires_at") and p["expires_at"] < now())
        and not (p.get("max_redemptions") and p["times_redeemed"] >= p["max_redemptions"])
    )


@route("POST", "/v1/promotion_codes", "PromotionCodeCreateParams")
def promo_create(ctx: Ctx) -> dict[str, Any]:
    promo = as_dict(ctx.p("promotion"), "promotion")
    if not promo:
        raise invalid_request(
            "Missing required param: promotion.", param="promotion", code="parameter_missing"
        )
    if promo.get("type") != "coupon" or not promo.get("coupon"):
        raise invalid_request(
            "Missing required param: promotion[coupon].",
            param="promotion[coupon]",
            code="parameter_missing",
        )
    coupon = load_coupon(ctx, promo["coupon"], "promotion[coupon]")
    code = str(ctx.p("code") or rand(8).upper())
    if not re.match(r"^[A-Za-z0-9_-]{1,500}$", code):
        raise invalid_request(
            "Invalid code: only letters, digits, - and _ are allowed.", param="code"
        )
    for other in ctx.store.all_of("promotion_code"):
        if other["code"].lower() == code.lower() and other["active"]:
            raise invalid_request(
                "An active promotion code with `code: " + code + "` already exists.",
                param="code",
                code="resource_already_exists",
            )
    r = as_dict(ctx.p("restrictions"), "restrictions")
    min_amount = as_int(r.get("minimum_amount"), "restrictions[minimum_amount]")
    min_cur = None
    if min_amount is not None:
        min_cur = currency_param(
            ctx, r.get("minimum_amount_currency"), "restrictions[minimum_amount_currency]"
        )
    expires_at = as_int(ctx.p("expires_at"), "expires_at")
    if expires_at is not None and expires_at <= now():
        raise invalid_request("Invalid expires_at: must be in the future.", param="expires_at")
    if coupon.get("redeem_by") and expires_at and expires_at > coupon["redeem_by"]:
        raise invalid_request(
            "The promotion code's expires_at cannot be after the coupon's redeem_by.",
            param="expires_at",
        )
    customer = ctx.p("customer") or None
    if customer:
        load(ctx, customer, "customer", param="customer")
    p = blank("promotion_code")
    p.update(
        id=new_id("promo"),
        object="promotion_code",
        active=as_bool(ctx.p("active"), "active") is not False,
        code=code,
        created=now(),
        customer=customer,
        expires_at=expires_at,
        livemode=False,
        max_redemptions=as_int(ctx.p("max_redemptions"), "max_redemptions", minimum=1),
        metadata=merge_metadata({}, ctx.p("metadata")),
        restrictions={
            "currency_options": {},
            "first_time_transaction": bool(
                as_bool(r.get("first_time_transaction"), "restrictions[first_time_transaction]")
            ),
            "minimum_amount": min_amount,
            "minimum_amount_currency": min_cur,
        },
        times_redeemed=0,
        promotion={"coupon": coupon["id"], "type": "coupon"},
        customer_account=None,
    )
    ctx.store.put(p)
    emit(ctx, "promotion_code.created", p)
    return render(p)


@route("GET", "/v1/promotion_codes/{id}", "PromotionCodeRetrieveParams")
def promo_retrieve(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(load(ctx, id, "promotion_code", "promotion code"))


@route("POST", "/v1/promotion_codes/{id}", "PromotionCodeUpdateParams")
def promo_update(ctx: Ctx, id: str) -> dict[str, Any]:
    p = load(ctx, id, "promotion_code", "promotion code")
    prev = set_simple(ctx, p, [])
    update_metadata(ctx, p, prev)
    if "active" in ctx.params:
        a = as_bool(ctx.p("active"), "active")
        if a is not None and a != p["active"]:
            if a:
                for other in ctx.store.all_of("promotion_code"):
                    if (
                        other["id"] != p["id"]
                        and other["active"]
                        and other["code"].lower() == p["code"].lower()
                    ):
                        raise invalid_request(
                            "An active promotion code with this code already exists.",
                            param="active",
                        )
            prev["active"] = p["active"]
            p["active"] = a
    ctx.store.put(p)
    if prev:
        emit(ctx, "promotion_code.updated", p, prev)
    return render(p)


@route("GET", "/v1/promotion_codes", "PromotionCodeListParams")
def promo_list(ctx: Ctx) -> dict[str, Any]:
    f = list_filter(ctx, active="active", customer="customer")
    coupon = ctx.p("coupon")
    code = str(ctx.p("code") or "").lower()  # Stripe matches the code case-insensitively

    def ok(o: dict[str, Any]) -> bool:
        if code and o["code"].lower() != code:
            return False
        return f(o) and (not coupon or o["promotion"]["coupon"] == coupon)

    return paginate(ctx, "promotion_code", "/v1/promotion_codes", ok)


def check_promotion(
    ctx: Ctx, promo: dict[str, Any], amount: int, currency: str, customer: str | None, param: str
) -> dict[str, Any]:
    """Validate a promotion code for a purchase; returns its coupon."""
    if not promo_active(promo):
        raise invalid_request(
            "This promotion code cannot be redeemed because it is inactive or expired.",
            param=param,
        )
    if promo.get("customer") and promo["customer"] != customer:
        raise invalid_request(
            "This promotion code cannot be redeemed by this customer.", param=param
        )
    r = promo["restrictions"]
    if r.get("minimum_amount") and (
        currency != r.get("minimum_amount_currency") or amount < r["minimum_amount"]
    ):
        raise invalid_request(
            "This promotion code cannot be applied because the order does not "
            "meet the minimum amount.",
            param=param,
        )
    coupon = load_coupon(ctx, promo["promotion"]["coupon"], param)
    if not coupon["valid"]:
        raise invalid_request("This coupon is no longer valid.", param=param)
    return coupon


def requested_discounts(
    ctx: Ctx, discounts: Any, amount: int, currency: str, customer: str | None
) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """The `discounts[]` of a purchase, each checked: (coupon, promotion code or None)."""
    out: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for i, d in enumerate(as_list(discounts, "discounts")):
        d = as_dict(d, f"discounts[{i}]")
        if d.get("promotion_code"):
            param = f"discounts[{i}][promotion_code]"
            promo = load(ctx, d["promotion_code"], "promotion_code", "promotion code", param)
            out.append((check_promotion(ctx, promo, amount, currency, customer, param), promo))
        elif d.get("coupon"):
            coupon = load_coupon(ctx, d["coupon"], f"discounts[{i}][coupon]")
            if not coupon["valid"]:
                raise invalid_request(
                    "This coupon is no longer valid.", param=f"discounts[{i}][coupon]"
                )
            out.append((coupon, None))
    return out


def discount_amount(coupon: dict[str, Any], amount: int, currency: str) -> int:
    if coupon.get("percent_off") is not None:
        return min(amount, round(amount * coupon["percent_off"] / 100))
    if coupon.get("amount_off") and coupon.get("currency") == currency:
        return min(amount, coupon["amount_off"])
    return 0


def redeem(ctx: Ctx, coupon: dict[str, Any], promo: dict[str, Any] | None) -> None:
    coupon["times_redeemed"] += 1
    _refresh(coupon)
    ctx.store.put(coupon)
    if promo:
        promo["times_redeemed"] += 1
        ctx.store.put(promo)


_ = (render, amount_param)
