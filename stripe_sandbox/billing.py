"""Tax rates, subscriptions, invoices, test clocks, Checkout Sessions, billing portal."""

from __future__ import annotations

import calendar
import datetime as dt
import html
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
    includable,
    load,
    merge_metadata,
    new_id,
    now,
    paginate,
    rand,
    render,
)
from .errors import StripeError, invalid_request
from .payments import PI_HOOKS, pi_create
from .resources import (
    _attach,
    list_filter,
    price_amount,
    resolve_payment_method,
    route,
    set_simple,
    update_metadata,
)

INCOMPLETE_EXPIRY = 23 * 3600
# Stand-in for Smart Retries: after the n-th failed attempt of automatic collection, the next
# one comes RETRY_DAYS[n-1] days later; after the last, no more (the subscription stays as is).
RETRY_DAYS = (3, 5, 7)
# Statuses after which a subscription never bills again.
ENDED = ("canceled", "incomplete_expired")


# ============================================================================================
# time
# ============================================================================================
def clock_now(ctx: Ctx, customer_id: str | None) -> int:
    if customer_id:
        cus = ctx.store.get(customer_id)
        if cus and cus.get("test_clock"):
            clock = ctx.store.get(cus["test_clock"])
            if clock:
                return int(clock["frozen_time"])
    return now()


def add_interval(ts: int, interval: str, count: int) -> int:
    d = dt.datetime.fromtimestamp(ts, dt.UTC)
    if interval == "day":
        return int((d + dt.timedelta(days=count)).timestamp())
    if interval == "week":
        return int((d + dt.timedelta(weeks=count)).timestamp())
    months = count * (12 if interval == "year" else 1)
    m = d.month - 1 + months
    year, month = d.year + m // 12, m % 12 + 1
    day = min(d.day, calendar.monthrange(year, month)[1])
    return int(d.replace(year=year, month=month, day=day).timestamp())


# ============================================================================================
# Tax rates
# ============================================================================================
@route("POST", "/v1/tax_rates", "TaxRateCreateParams")
def tax_rate_create(ctx: Ctx) -> dict[str, Any]:
    name = ctx.require("display_name")
    pct = as_float(ctx.require("percentage"), "percentage")
    if pct is None or not 0 <= pct <= 100:
        raise invalid_request("Invalid percentage: must be between 0 and 100.", param="percentage")
    inclusive = as_bool(ctx.require("inclusive"), "inclusive")
    t = blank("tax_rate")
    t.update(
        id=new_id("txr"),
        object="tax_rate",
        active=as_bool(ctx.p("active"), "active") is not False,
        country=ctx.p("country") or None,
        created=now(),
        description=ctx.p("description") or None,
        display_name=name,
        effective_percentage=pct,
        inclusive=bool(inclusive),
        jurisdiction=ctx.p("jurisdiction") or None,
        jurisdiction_level=None,
        livemode=False,
        metadata=merge_metadata({}, ctx.p("metadata")),
        percentage=pct,
        state=ctx.p("state") or None,
        tax_type=ctx.p("tax_type") or None,
        flat_amount=None,
        rate_type="percentage",
    )
    ctx.store.put(t)
    emit(ctx, "tax_rate.created", t)
    return render(t)


@route("GET", "/v1/tax_rates/{id}", "TaxRateRetrieveParams")
def tax_rate_retrieve(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(load(ctx, id, "tax_rate", "tax rate"))


@route("POST", "/v1/tax_rates/{id}", "TaxRateUpdateParams")
def tax_rate_update(ctx: Ctx, id: str) -> dict[str, Any]:
    t = load(ctx, id, "tax_rate", "tax rate")
    prev = set_simple(
        ctx, t, ["display_name", "description", "jurisdiction", "state", "country", "tax_type"]
    )
    update_metadata(ctx, t, prev)
    if "active" in ctx.params:
        prev["active"] = t["active"]
        t["active"] = bool(as_bool(ctx.p("active"), "active"))
    ctx.store.put(t)
    if prev:
        emit(ctx, "tax_rate.updated", t, prev)
    return render(t)


@route("GET", "/v1/tax_rates", "TaxRateListParams")
def tax_rate_list(ctx: Ctx) -> dict[str, Any]:
    return paginate(
        ctx, "tax_rate", "/v1/tax_rates", list_filter(ctx, active="active", inclusive="inclusive")
    )


def _tax_rates(ctx: Ctx, ids: Any, param: str) -> list[str]:
    out = []
    for tid in as_list(ids, param):
        t = load(ctx, str(tid), "tax_rate", "tax rate", param)
        if not t["active"]:
            raise invalid_request(f"Tax rate {t['id']} is not active.", param=param)
        out.append(t["id"])
    return out


def _spread(total: int, weights: list[int]) -> list[int]:
    """`total` shared out in proportion to `weights`; the last one takes the rounding."""
    out = [0] * len(weights)
    whole = sum(weights)
    if not weights or not total:
        return out
    if not whole:
        out[-1] = total
        return out
    for i, w in enumerate(weights[:-1]):
        out[i] = round(total * w / whole)
    out[-1] = total - sum(out[:-1])
    return out


def tax_for(ctx: Ctx, rate_ids: list[str], amount: int) -> list[dict[str, Any]]:
    """Stripe's tax on `amount` for these tax rates, one entry per rate (`rate`, `amount`,
    `taxable_amount`, `inclusive`). Inclusive rates are inside `amount` (5 % of 1000 is 48, on
    a taxable 952); exclusive ones are added on top of the amount net of inclusive tax."""
    rates = [r for r in (ctx.store.get(str(t)) for t in rate_ids) if r]
    inclusive = [r for r in rates if r["inclusive"]]
    pct = sum(r["percentage"] for r in inclusive)
    net = round(amount / (1 + pct / 100)) if pct else amount
    inclusive_shares = iter(_spread(amount - net, [r["percentage"] for r in inclusive]))
    return [
        {
            "rate": r,
            "amount": next(inclusive_shares)
            if r["inclusive"]
            else round(net * r["percentage"] / 100),
            "taxable_amount": net,
            "inclusive": bool(r["inclusive"]),
        }
        for r in rates
    ]


def line_taxes(
    ctx: Ctx, lines: list[tuple[int, list[str]]], discount: int
) -> tuple[list[int], list[list[dict[str, Any]]]]:
    """Discount and taxes of each line of a Checkout Session or an invoice, given each line's
    (amount, tax rate ids). The discount is shared out over the positive lines by amount; lines
    with the same rates are taxed together (rounding once per rate, as when a whole invoice
    carries default tax rates) and each gets its share of that tax."""
    amounts = [a for a, _ in lines]
    positive = [max(a, 0) for a in amounts]
    discounts = _spread(discount, positive) if any(positive) else [0] * len(lines)
    taxes: list[list[dict[str, Any]]] = [[] for _ in lines]
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, (_, ids) in enumerate(lines):
        if ids:
            groups.setdefault(tuple(ids), []).append(i)
    for key, members in groups.items():
        nets = [amounts[i] - discounts[i] for i in members]
        for entry in tax_for(ctx, list(key), sum(nets)):
            for i, amt, taxable in zip(
                members,
                _spread(entry["amount"], nets),
                _spread(entry["taxable_amount"], nets),
                strict=True,
            ):
                taxes[i].append({**entry, "amount": amt, "taxable_amount": taxable})
    return discounts, taxes


def _exclusive(entries: list[dict[str, Any]]) -> int:
    return sum(e["amount"] for e in entries if not e["inclusive"])


def _inclusive(entries: list[dict[str, Any]]) -> int:
    return sum(e["amount"] for e in entries if e["inclusive"])


def _invoice_tax(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry of `tax_for` as an invoice (or invoice line) shows it."""
    return {
        "amount": entry["amount"],
        "tax_behavior": "inclusive" if entry["inclusive"] else "exclusive",
        "tax_rate_details": {"tax_rate": entry["rate"]["id"]},
        "taxability_reason": "standard_rated",
        "taxable_amount": entry["taxable_amount"],
        "type": "tax_rate_details",
    }


# ============================================================================================
# Invoices
# ============================================================================================
def _line(
    ctx: Ctx,
    inv_id: str,
    sub: dict[str, Any] | None,
    amount: int,
    currency: str,
    description: str,
    start: int,
    end: int,
    quantity: int = 1,
    price: dict | None = None,
    item_id: str | None = None,
    proration: bool = False,
) -> dict[str, Any]:
    li = blank("line_item")
    li.update(
        id=new_id("il"),
        object="line_item",
        amount=amount,
        currency=currency,
        description=description,
        discount_amounts=[],
        discountable=not proration,
        discounts=[],
        invoice=inv_id,
        livemode=False,
        metadata={},
        period={"start": start, "end": end},
        quantity=quantity,
        subscription=sub["id"] if sub else None,
        pretax_credit_amounts=[],
        taxes=[],
        parent={
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": proration,
                "proration_details": None,
                "subscription": sub["id"] if sub else None,
                "subscription_item": item_id,
            },
        },
        pricing={
            "type": "price_details",
            "unit_amount_decimal": price["unit_amount_decimal"] if price else None,
            "price_details": {"price": price["id"], "product": price["product"]} if price else None,
        },
        subtotal=amount,
        quantity_decimal=str(quantity),
    )
    return li


def make_invoice(
    ctx: Ctx, sub: dict[str, Any], reason: str, lines: list[dict[str, Any]], period: tuple[int, int]
) -> dict[str, Any]:
    cus = load(ctx, sub["customer"], "customer")
    inv_id = new_id("in")
    t = clock_now(ctx, sub["customer"])
    for li in lines:
        li["invoice"] = inv_id
    subtotal = sum(li["amount"] for li in lines)
    discount = 0
    discounts: list[str] = []
    coupon_id = sub.get("_coupon")
    if coupon_id and sub.get("_coupon_left", 1) != 0 and subtotal > 0:
        coupon = ctx.store.get(coupon_id)
        if coupon:
            from .coupons import discount_amount

            discount = discount_amount(coupon, subtotal, sub["currency"])
            if sub.get("_coupon_left") is not None:
                sub["_coupon_left"] -= 1
    rates_of = {
        it["id"]: [r["id"] for r in it.get("tax_rates") or []] for it in sub["items"]["data"]
    }
    default_rates = list(sub.get("default_tax_rates") or [])
    line_rates = sub.get("_line_rates") or {}

    def rates(li: dict[str, Any]) -> list[str]:
        if li["id"] in line_rates:
            return line_rates.pop(li["id"]) or default_rates
        item = ((li.get("parent") or {}).get("subscription_item_details") or {}).get(
            "subscription_item"
        )
        return rates_of.get(item or "") or default_rates

    _, per_line = line_taxes(ctx, [(li["amount"], rates(li)) for li in lines], discount)
    by_rate: dict[tuple[str, bool], dict[str, Any]] = {}
    for li, entries in zip(lines, per_line, strict=True):
        li["taxes"] = [_invoice_tax(e) for e in entries]
        for e in entries:
            key = (e["rate"]["id"], e["inclusive"])
            if key in by_rate:
                by_rate[key]["amount"] += e["amount"]
                by_rate[key]["taxable_amount"] += e["taxable_amount"]
            else:
                by_rate[key] = _invoice_tax(e)
    all_entries = [e for entries in per_line for e in entries]
    tax_total = _exclusive(all_entries)
    inclusive_tax = _inclusive(all_entries)
    total_taxes = list(by_rate.values())
    taxable = subtotal - discount
    total = max(0, taxable + tax_total)
    inv = blank("invoice")
    seq = cus.get("next_invoice_sequence", 1)
    cus["next_invoice_sequence"] = seq + 1
    ctx.store.put(cus)
    inv.update(
        id=inv_id,
        object="invoice",
        account_country="CA",
        account_name="Sandbox",
        account_tax_ids=None,
        amount_due=total,
        amount_paid=0,
        amount_remaining=total,
        amount_shipping=0,
        application=None,
        attempt_count=0,
        attempted=False,
        auto_advance=True,
        automatic_tax={
            "enabled": False,
            "liability": None,
            "status": None,
            "disabled_reason": None,
            "provider": None,
        },
        billing_reason=reason,
        collection_method="charge_automatically",
        created=t,
        currency=sub["currency"],
        custom_fields=None,
        customer=cus["id"],
        customer_address=cus.get("address"),
        customer_email=cus.get("email"),
        customer_name=cus.get("name"),
        customer_phone=cus.get("phone"),
        customer_shipping=cus.get("shipping"),
        customer_tax_exempt=cus.get("tax_exempt"),
        customer_tax_ids=[],
        default_payment_method=None,
        default_source=None,
        default_tax_rates=list(sub.get("default_tax_rates") or []),
        description=None,
        discounts=discounts,
        due_date=None,
        effective_at=t,
        ending_balance=0,
        footer=None,
        from_invoice=None,
        hosted_invoice_url=f"{ctx.base_url}/_sandbox/invoices/{inv_id}",
        invoice_pdf=None,
        issuer={"type": "self"},
        last_finalization_error=None,
        latest_revision=None,
        lines={
            "object": "list",
            "data": lines,
            "has_more": False,
            "total_count": len(lines),
            "url": f"/v1/invoices/{inv_id}/lines",
        },
        livemode=False,
        metadata={},
        next_payment_attempt=None,
        number=f"{cus['invoice_prefix']}-{seq:04d}",
        on_behalf_of=None,
        payment_settings={
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        period_end=period[1],
        period_start=period[0],
        post_payment_credit_notes_amount=0,
        pre_payment_credit_notes_amount=0,
        receipt_number=None,
        rendering=None,
        shipping_cost=None,
        shipping_details=None,
        starting_balance=0,
        statement_descriptor=None,
        status="open",
        status_transitions={
            "finalized_at": t,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        subscription=sub["id"],
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal - inclusive_tax,
        test_clock=cus.get("test_clock"),
        total=total,
        total_discount_amounts=[{"amount": discount, "discount": coupon_id}] if discount else [],
        total_excluding_tax=taxable - inclusive_tax,
        webhooks_delivered_at=t,
        automatically_finalizes_at=None,
        total_pretax_credit_amounts=[],
        total_taxes=total_taxes,
        amount_overpaid=0,
        parent={
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(sub.get("metadata") or {}),
                "subscription": sub["id"],
            },
        },
        customer_account=None,
        _subscription=sub["id"],
        _payment_intent=None,
    )
    ctx.store.put(inv)
    emit(ctx, "invoice.created", inv)
    emit(ctx, "invoice.finalized", inv)
    return inv


def _action_url(pi: dict[str, Any]) -> str:
    """Where the customer authenticates a PaymentIntent in `requires_action`."""
    action = pi.get("next_action") or {}
    url = (action.get("redirect_to_url") or {}).get("url") or (
        action.get("use_stripe_sdk") or {}
    ).get("stripe_js")
    return str(url)


def _invoice_pi(ctx: Ctx, inv: dict[str, Any]) -> dict[str, Any]:
    """The PaymentIntent that collects an invoice (created on demand)."""
    if inv.get("_payment_intent"):
        pi = ctx.store.get(inv["_payment_intent"])
        if pi and pi["status"] not in ("canceled", "succeeded"):
            return pi
    saved = ctx.params
    ctx.params = {
        "amount": inv["amount_due"],
        "currency": inv["currency"],
        "customer": inv["customer"],
        "setup_future_usage": "off_session",
        "description": f"Invoice {inv['number']}",
        "allowed_payment_method_types": ["card"],
    }
    try:
        pi = pi_create(ctx)
    finally:
        ctx.params = saved
    pi = ctx.store.get(pi["id"])
    assert pi is not None
    pi["_invoice"] = inv["id"]
    ctx.store.put(pi)
    inv["_payment_intent"] = pi["id"]
    ctx.store.put(inv)
    return pi


def _default_pm(ctx: Ctx, sub: dict[str, Any]) -> str | None:
    if sub.get("default_payment_method"):
        return sub["default_payment_method"]
    cus = ctx.store.get(sub["customer"]) or {}
    return (cus.get("invoice_settings") or {}).get("default_payment_method")


def attempt_invoice(
    ctx: Ctx,
    inv: dict[str, Any],
    pm_id: str | None,
    *,
    off_session: bool,
    raise_errors: bool = False,
) -> bool:
    """Try to collect; True when paid. Declines are recorded (and raised if asked)."""
    if inv["amount_due"] == 0:
        _mark_paid(ctx, inv, None)
        return True
    pi = _invoice_pi(ctx, inv)
    if not pm_id:
        return False
    pm = resolve_payment_method(ctx, pm_id, "payment_method")
    pi["payment_method"] = pm["id"]
    pi["status"] = "requires_confirmation"
    ctx.store.put(pi)
    from .payments import _confirm

    inv["attempted"] = True
    inv["attempt_count"] += 1
    ctx.store.put(inv)
    try:
        _confirm(ctx, pi, {"payment_method": pm["id"], "off_session": off_session or None})
    except StripeError as e:
        if raise_errors or not e.commit:
            raise
        return False
    inv = ctx.store.get(inv["id"]) or inv
    return inv["status"] == "paid"


def _mark_paid(ctx: Ctx, inv: dict[str, Any], pi: dict[str, Any] | None) -> None:
    t = clock_now(ctx, inv["customer"])
    inv["status"] = "paid"
    inv["amount_paid"] = inv["amount_due"]
    inv["amount_remaining"] = 0
    inv["attempted"] = True
    inv["next_payment_attempt"] = None
    inv["status_transitions"]["paid_at"] = t
    ctx.store.put(inv)
    emit(ctx, "invoice.paid", inv)
    emit(ctx, "invoice.payment_succeeded", inv)
    sub = ctx.store.get(inv.get("_subscription") or "")
    if sub and sub["status"] in ("incomplete", "past_due", "unpaid"):
        prev = {"status": sub["status"]}
        sub["status"] = "active"
        save = (sub.get("payment_settings") or {}).get("save_default_payment_method")
        if pi and pi.get("payment_method") and save == "on_subscription":
            sub["default_payment_method"] = pi["payment_method"]
        ctx.store.put(sub)
        emit(ctx, "customer.subscription.updated", sub, prev)


def _on_pi_succeeded(ctx: Ctx, pi: dict[str, Any]) -> None:
    inv = ctx.store.get(pi["_invoice"])
    if inv and inv["status"] == "open":
        _mark_paid(ctx, inv, pi)


def _next_payment_attempt(ctx: Ctx, inv: dict[str, Any]) -> int | None:
    """When a failed invoice is tried again; a subscription's first invoice is not retried
    (the subscription stays incomplete until the customer pays)."""
    n = inv["attempt_count"]
    if inv["billing_reason"] == "subscription_create" or not 1 <= n <= len(RETRY_DAYS):
        return None
    return clock_now(ctx, inv["customer"]) + RETRY_DAYS[n - 1] * 86400


def _retry_payment(ctx: Ctx, sub: dict[str, Any], inv: dict[str, Any]) -> None:
    """The retry that `next_payment_attempt` announced, with the current default card."""
    pm_id = _default_pm(ctx, sub)
    if pm_id:
        attempt_invoice(ctx, inv, pm_id, off_session=True)
        return
    inv["attempt_count"] += 1
    inv["next_payment_attempt"] = _next_payment_attempt(ctx, inv)
    ctx.store.put(inv)
    emit(ctx, "invoice.payment_failed", inv)


def _on_pi_failed(ctx: Ctx, pi: dict[str, Any]) -> None:
    inv = ctx.store.get(pi["_invoice"])
    if not inv or inv["status"] != "open":
        return
    inv["next_payment_attempt"] = _next_payment_attempt(ctx, inv)
    ctx.store.put(inv)
    emit(ctx, "invoice.payment_failed", inv)
    sub = ctx.store.get(inv.get("_subscription") or "")
    if sub and sub["status"] == "active" and inv["billing_reason"] != "subscription_create":
        prev = {"status": sub["status"]}
        sub["status"] = "past_due"
        ctx.store.put(sub)
        emit(ctx, "customer.subscription.updated", sub, prev)


PI_HOOKS["succeeded"].append(_on_pi_succeeded)
PI_HOOKS["failed"].append(_on_pi_failed)


def _expand_extras(ctx: Ctx, inv: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    """Includable fields of the 2026 API: confirmation_secret and payments."""
    wanted = [str(p) for p in as_list(ctx.p("expand"), "expand")]
    if any(p.endswith("confirmation_secret") for p in wanted):
        pi = ctx.store.get(inv.get("_payment_intent") or "")
        out["confirmation_secret"] = (
            {"client_secret": pi["client_secret"], "type": "payment_intent"} if pi else None
        )
    if any(p.endswith("payments") for p in wanted):
        out["payments"] = _payments(ctx, inv)
    return out


def _payments(ctx: Ctx, inv: dict[str, Any]) -> dict[str, Any]:
    data = []
    pi = ctx.store.get(inv.get("_payment_intent") or "")
    if pi:
        data.append(
            {
                "id": "inpay_" + pi["id"][3:],
                "object": "invoice_payment",
                "amount_paid": pi["amount_received"] or None,
                "amount_requested": pi["amount"],
                "created": pi["created"],
                "currency": pi["currency"],
                "invoice": inv["id"],
                "is_default": True,
                "livemode": False,
                "payment": {"type": "payment_intent", "payment_intent": pi["id"]},
                "status": "paid" if pi["status"] == "succeeded" else "open",
                "status_transitions": {
                    "canceled_at": None,
                    "paid_at": inv["status_transitions"]["paid_at"],
                },
            }
        )
    return {
        "object": "list",
        "data": data,
        "has_more": False,
        "url": f"/v1/invoices/{inv['id']}/payments",
    }


@route("GET", "/v1/invoices/{id}", "InvoiceRetrieveParams")
def invoice_retrieve(ctx: Ctx, id: str) -> dict[str, Any]:
    inv = load(ctx, id, "invoice")
    return _expand_extras(ctx, inv, render(inv))


@route("GET", "/v1/invoices", "InvoiceListParams")
def invoice_list(ctx: Ctx) -> dict[str, Any]:
    f = list_filter(ctx, customer="customer", status="status")
    sub = ctx.p("subscription")
    return paginate(
        ctx,
        "invoice",
        "/v1/invoices",
        lambda o: f(o) and (not sub or o.get("_subscription") == sub),
    )


@route("POST", "/v1/invoices/{id}/pay", "InvoicePayParams")
def invoice_pay(ctx: Ctx, id: str) -> dict[str, Any]:
    inv = load(ctx, id, "invoice")
    if inv["status"] != "open":
        raise invalid_request(f"Invoice is already {inv['status']}.", code="invoice_not_open")
    sub = ctx.store.get(inv.get("_subscription") or "") or {"customer": inv["customer"]}
    pm_id = ctx.p("payment_method") or _default_pm(ctx, sub)
    if not pm_id:
        raise invalid_request(
            "This invoice has no payment method to charge.",
            param="payment_method",
            code="invoice_no_payment_method_types",
        )
    attempt_invoice(
        ctx,
        inv,
        pm_id,
        off_session=as_bool(ctx.p("off_session"), "x") is not False,
        raise_errors=True,
    )
    inv = load(ctx, id, "invoice")
    return _expand_extras(ctx, inv, render(inv))


@route("POST", "/v1/invoices/{id}/void", "InvoiceVoidInvoiceParams")
def invoice_void(ctx: Ctx, id: str) -> dict[str, Any]:
    inv = load(ctx, id, "invoice")
    if inv["status"] != "open":
        raise invalid_request("Only open invoices can be voided.")
    _void(ctx, inv)
    return render(inv)


def _void(ctx: Ctx, inv: dict[str, Any]) -> None:
    inv["status"] = "void"
    inv["status_transitions"]["voided_at"] = clock_now(ctx, inv["customer"])
    inv["amount_remaining"] = 0
    pi = ctx.store.get(inv.get("_payment_intent") or "")
    if pi and pi["status"] not in ("succeeded", "canceled"):
        pi["status"] = "canceled"
        pi["canceled_at"] = now()
        pi["cancellation_reason"] = "void_invoice"
        ctx.store.put(pi)
        emit(ctx, "payment_intent.canceled", pi)
    ctx.store.put(inv)
    emit(ctx, "invoice.voided", inv)


# ============================================================================================
# Subscriptions
# ============================================================================================
def _price_for_sub(ctx: Ctx, price_id: Any, param: str) -> dict[str, Any]:
    price = load(ctx, str(price_id), "price", param=param)
    if not price["active"]:
        raise invalid_request(
            f"The price specified ({price['id']}) is inactive. This field "
            "only accepts active prices.",
            param=param,
        )
    if price["type"] != "recurring":
        raise invalid_request(
            f"The price specified ({price['id']}) is a one_time price. "
            "Subscriptions need recurring prices.",
            param=param,
        )
    return price


def _item_tax_rates(ctx: Ctx, ids: Any, param: str) -> list[dict[str, Any]]:
    """`items[].tax_rates`: the subscription item shows the TaxRate objects themselves."""
    return [render(load(ctx, t, "tax_rate")) for t in _tax_rates(ctx, ids, param)]


def _item_price(ctx: Ctx, it: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The price of `items[n]`: an existing one (`price`, or the legacy `plan`), or one made
    inline from `price_data` (currency, product, unit_amount, recurring), as Stripe does."""
    if it.get("price") or it.get("plan") or not it.get("price_data"):
        if not (it.get("price") or it.get("plan")):
            raise invalid_request(
                f"Missing required param: {prefix}[price].",
                param=f"{prefix}[price]",
                code="parameter_missing",
            )
        return _price_for_sub(ctx, it.get("price") or it.get("plan"), f"{prefix}[price]")
    from .resources import _make_price

    pd = as_dict(it["price_data"], f"{prefix}[price_data]")
    for field in ("currency", "product", "recurring"):
        if not pd.get(field):
            raise invalid_request(
                f"Missing required param: {prefix}[price_data][{field}].",
                param=f"{prefix}[price_data][{field}]",
                code="parameter_missing",
            )
    load(ctx, str(pd["product"]), "product", param=f"{prefix}[price_data][product]")
    return _make_price(ctx, pd, str(pd["product"]), f"{prefix}[price_data]")


def _item(
    sub_id: str,
    price: dict[str, Any],
    quantity: int,
    start: int,
    end: int,
    metadata: dict[str, str] | None = None,
    tax_rates: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    it = blank("subscription_item")
    it.update(
        id=new_id("si", 14),
        object="subscription_item",
        created=start,
        discounts=[],
        metadata=metadata or {},
        price=render(price),
        quantity=quantity,
        subscription=sub_id,
        tax_rates=tax_rates or [],
        plan=None,
        current_period_start=start,
        current_period_end=end,
        billing_thresholds=None,
    )
    return it


def _period(sub: dict[str, Any]) -> tuple[int, int]:
    it = sub["items"]["data"][0]
    return it["current_period_start"], it["current_period_end"]


def _set_period(sub: dict[str, Any], start: int, end: int) -> None:
    for it in sub["items"]["data"]:
        it["current_period_start"] = start
        it["current_period_end"] = end


def _cycle_lines(ctx: Ctx, sub: dict[str, Any], inv_placeholder: str = "") -> list[dict]:
    start, end = _period(sub)
    lines = []
    for it in sub["items"]["data"]:
        price = it["price"]
        lines.append(
            _line(
                ctx,
                inv_placeholder,
                sub,
                price_amount(price, it["quantity"]),
                sub["currency"],
                f"{it['quantity']} × {_product_name(ctx, price)}",
                start,
                end,
                it["quantity"],
                price,
                it["id"],
            )
        )
    for pending in sub.pop("_pending_lines", []) or []:
        lines.append(pending)
    return lines


def _product_name(ctx: Ctx, price: dict[str, Any]) -> str:
    prod = ctx.store.get(price["product"]) or {}
    return prod.get("name") or price["id"]


def _apply_discounts(ctx: Ctx, sub: dict[str, Any], discounts: Any, amount: int) -> None:
    from .coupons import redeem, requested_discounts

    for coupon, promo in requested_discounts(
        ctx, discounts, amount, sub["currency"], sub["customer"]
    ):
        redeem(ctx, coupon, promo)
        sub["_coupon"] = coupon["id"]
        sub["_coupon_left"] = {"once": 1, "forever": None}.get(
            coupon["duration"], coupon.get("duration_in_months")
        )
        sub["discounts"] = [new_id("di")]


def create_subscription(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    cus = (
        load(ctx, p.get("customer") or "", "customer", param="customer")
        if p.get("customer")
        else None
    )
    if cus is None:
        raise invalid_request(
            "Missing required param: customer.", param="customer", code="parameter_missing"
        )
    items_in = as_list(p.get("items"), "items")
    if not items_in:
        raise invalid_request(
            "Missing required param: items.", param="items", code="parameter_missing"
        )
    t = clock_now(ctx, cus["id"])
    prices = []
    item_rates = []
    for i, it in enumerate(items_in):
        it = as_dict(it, f"items[{i}]")
        price = _item_price(ctx, it, f"items[{i}]")
        qty = as_int(it.get("quantity"), f"items[{i}][quantity]", minimum=1) or 1
        prices.append((price, qty, merge_metadata({}, it.get("metadata"))))
        item_rates.append(_item_tax_rates(ctx, it.get("tax_rates"), f"items[{i}][tax_rates]"))
    currency = prices[0][0]["currency"]
    interval = prices[0][0]["recurring"]
    for price, _, _ in prices:
        if (
            price["currency"] != currency
            or price["recurring"]["interval"] != interval["interval"]
            or price["recurring"]["interval_count"] != interval["interval_count"]
        ):
            raise invalid_request(
                "All prices on a subscription must have the same currency and billing interval.",
                param="items",
            )
    trial_days = as_int(p.get("trial_period_days"), "trial_period_days")
    trial_end = p.get("trial_end")
    if trial_end not in (None, "", "now"):
        trial_end = as_int(trial_end, "trial_end")
    elif trial_days:
        trial_end = t + trial_days * 86400
    else:
        trial_end = None
    behavior = p.get("payment_behavior") or "allow_incomplete"
    pm_id = p.get("default_payment_method") or None
    if pm_id:
        pm = resolve_payment_method(ctx, pm_id, "default_payment_method")
        if pm.get("customer") != cus["id"]:
            _attach(ctx, pm, cus)
        pm_id = pm["id"]
    sub_id = new_id("sub")
    start = t
    end = (
        trial_end
        if trial_end
        else add_interval(t, interval["interval"], interval["interval_count"])
    )
    sub = blank("subscription")
    sub.update(
        id=sub_id,
        object="subscription",
        application=None,
        application_fee_percent=None,
        automatic_tax={"enabled": False, "liability": None, "disabled_reason": None},
        billing_cycle_anchor=end if trial_end else start,
        billing_cycle_anchor_config=None,
        cancel_at=as_int(p.get("cancel_at"), "cancel_at"),
        canceled_at=None,
        cancellation_details={"comment": None, "feedback": None, "reason": None},
        collection_method="charge_automatically",
        created=t,
        currency=currency,
        customer=cus["id"],
        days_until_due=None,
        default_payment_method=pm_id,
        default_source=None,
        default_tax_rates=_tax_rates(ctx, p.get("default_tax_rates"), "default_tax_rates"),
        description=p.get("description") or None,
        discounts=[],
        ended_at=None,
        invoice_settings={
            "account_tax_ids": None,
            "issuer": {"type": "self"},
            "custom_fields": None,
            "description": None,
            "footer": None,
        },
        items={
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": len(prices),
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        latest_invoice=None,
        livemode=False,
        metadata=merge_metadata({}, p.get("metadata")),
        next_pending_invoice_item_invoice=None,
        on_behalf_of=None,
        pause_collection=None,
        payment_settings={
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": (
                as_dict(p.get("payment_settings"), "payment_settings").get(
                    "save_default_payment_method"
                )
                or "off"
            ),
        },
        pending_invoice_item_interval=None,
        pending_setup_intent=None,
        pending_update=None,
        schedule=None,
        start_date=t,
        status="incomplete",
        test_clock=cus.get("test_clock"),
        transfer_data=None,
        trial_end=trial_end,
        trial_settings={"end_behavior": {"missing_payment_method": "create_invoice"}},
        trial_start=t if trial_end else None,
        cancel_at_period_end=False,
        billing_thresholds=None,
        billing_mode={"type": "flexible", "flexible": None, "updated_at": t},
        customer_account=None,
        managed_payments=None,
        billing_schedules=[],
    )
    sub["items"]["data"] = [
        _item(sub_id, pr, q, start, end, md, tr)
        for (pr, q, md), tr in zip(prices, item_rates, strict=True)
    ]
    if as_bool(p.get("cancel_at_period_end"), "cancel_at_period_end"):
        _set_cancel_at_period_end(sub, True, t)
    gross = sum(price_amount(pr, q) for pr, q, _ in prices)
    if p.get("discounts"):
        _apply_discounts(ctx, sub, p["discounts"], gross)
    ctx.store.put(sub)
    lines = [] if trial_end else _cycle_lines(ctx, sub)
    if trial_end:
        lines = [
            _line(
                ctx,
                "",
                sub,
                0,
                currency,
                f"Trial period for {_product_name(ctx, pr)}",
                start,
                end,
                q,
                pr,
                None,
            )
            for pr, q, _ in prices
        ]
    inv = make_invoice(ctx, sub, "subscription_create", lines, (start, start))
    sub["latest_invoice"] = inv["id"]
    ctx.store.put(sub)
    emit(ctx, "customer.subscription.created", sub)
    if inv["amount_due"] == 0:
        _mark_paid(ctx, inv, None)
        sub = ctx.store.get(sub_id) or sub
        sub["status"] = "trialing" if trial_end else "active"
        ctx.store.put(sub)
        return sub
    if behavior == "default_incomplete":
        pi = _invoice_pi(ctx, inv)
        if p.get("_pm_for_first_invoice"):
            pass
        _ = pi
    else:
        charge_pm = pm_id or _default_pm(ctx, sub)
        if not charge_pm and behavior == "error_if_incomplete":
            raise invalid_request(
                "This customer has no attached payment source or default payment method.",
                code="resource_missing",
            )
        try:
            attempt_invoice(
                ctx,
                inv,
                charge_pm,
                off_session=bool(as_bool(p.get("off_session"), "off_session")),
                raise_errors=behavior == "error_if_incomplete",
            )
        except StripeError as e:
            e.commit = False  # error_if_incomplete: nothing is created
            raise
    sub = ctx.store.get(sub_id) or sub
    return sub


def _sub_out(ctx: Ctx, sub: dict[str, Any]) -> dict[str, Any]:
    out = render(sub)
    wanted = [str(x) for x in as_list(ctx.p("expand"), "expand")]
    if any(w.startswith("latest_invoice.") for w in wanted) and sub.get("latest_invoice"):
        inv = ctx.store.get(sub["latest_invoice"])
        if inv:
            inv_out = _expand_extras(
                Ctx(
                    ctx.sandbox,
                    {
                        "expand": [
                            w.split(".", 1)[1] for w in wanted if w.startswith("latest_invoice.")
                        ]
                    },
                ),
                inv,
                render(inv),
            )
            out["latest_invoice"] = inv_out
            rest = [w.split(".", 1)[1] for w in wanted if w.startswith("latest_invoice.")]
            rest = [r for r in rest if r not in ("confirmation_secret", "payments")]
            from .core import apply_expand

            apply_expand(ctx, inv_out, rest)
        ctx.params = {
            **ctx.params,
            "expand": [w for w in wanted if not w.startswith("latest_invoice")],
        }
    return out


@route("POST", "/v1/subscriptions", "SubscriptionCreateParams")
def subscription_create(ctx: Ctx) -> dict[str, Any]:
    return _sub_out(ctx, create_subscription(ctx, ctx.params))


@route("GET", "/v1/subscriptions/{id}", "SubscriptionRetrieveParams")
def subscription_retrieve(ctx: Ctx, id: str) -> dict[str, Any]:
    return _sub_out(ctx, load(ctx, id, "subscription"))


@route("GET", "/v1/subscriptions", "SubscriptionListParams")
def subscription_list(ctx: Ctx) -> dict[str, Any]:
    status = ctx.p("status")
    f = list_filter(ctx, customer="customer", test_clock="test_clock")
    price = ctx.p("price")

    def ok(o: dict[str, Any]) -> bool:
        if not f(o):
            return False
        if price and not any(i["price"]["id"] == price for i in o["items"]["data"]):
            return False
        if status in (None, ""):
            return o["status"] not in ENDED
        return status == "all" or o["status"] == status

    return paginate(ctx, "subscription", "/v1/subscriptions", ok)


@includable("customer", "subscriptions")
def _customer_subscriptions(ctx: Ctx, cus: dict[str, Any]) -> dict[str, Any]:
    """The customer's current subscriptions (Stripe leaves out ended ones), newest first."""
    subs = [s for s in ctx.store.all_of("subscription") if s["customer"] == cus["id"]]
    current = [render(s) for s in subs if s["status"] not in ENDED]
    return {
        "object": "list",
        "data": current[:10],
        "has_more": len(current) > 10,
        "url": f"/v1/customers/{cus['id']}/subscriptions",
    }


def cancel_customer_subscriptions(ctx: Ctx, customer_id: str) -> None:
    """Deleting a customer ends its subscriptions at once, each as a cancellation does."""
    at = clock_now(ctx, customer_id)
    for sub in ctx.store.all_of("subscription"):
        if sub["customer"] == customer_id and sub["status"] not in ENDED:
            _cancel_now(ctx, sub, at, "cancellation_requested")


def _cancel_now(ctx: Ctx, sub: dict[str, Any], at: int, reason: str) -> None:
    prev = {"status": sub["status"]}
    sub["status"] = "canceled"
    sub["canceled_at"] = sub.get("canceled_at") or at
    sub["ended_at"] = at
    sub["cancellation_details"]["reason"] = reason
    inv = ctx.store.get(sub.get("latest_invoice") or "")
    if inv and inv["status"] == "open":
        _void(ctx, inv)
    ctx.store.put(sub)
    emit(ctx, "customer.subscription.deleted", sub, prev)


@route("DELETE", "/v1/subscriptions/{id}", "SubscriptionCancelParams")
def subscription_cancel(ctx: Ctx, id: str) -> dict[str, Any]:
    sub = load(ctx, id, "subscription")
    if sub["status"] in ENDED:
        raise invalid_request(
            f"A canceled subscription can only update its metadata and "
            f"cancellation_details. ({sub['id']})",
        )
    cd = as_dict(ctx.p("cancellation_details"), "cancellation_details")
    if cd.get("comment"):
        sub["cancellation_details"]["comment"] = cd["comment"]
    if cd.get("feedback"):
        sub["cancellation_details"]["feedback"] = cd["feedback"]
    _cancel_now(ctx, sub, clock_now(ctx, sub["customer"]), "cancellation_requested")
    return _sub_out(ctx, sub)


@route("POST", "/v1/subscriptions/{id}", "SubscriptionUpdateParams")
def subscription_update(ctx: Ctx, id: str) -> dict[str, Any]:
    sub = load(ctx, id, "subscription")
    editable = {"metadata", "cancellation_details", "expand"}
    if sub["status"] in ENDED and set(ctx.params) - editable:
        raise invalid_request(
            "A canceled subscription can only update its metadata and cancellation_details."
        )
    prev = set_simple(ctx, sub, ["description"])
    update_metadata(ctx, sub, prev)
    t = clock_now(ctx, sub["customer"])
    if "cancel_at_period_end" in ctx.params:
        cape = bool(as_bool(ctx.p("cancel_at_period_end"), "cancel_at_period_end"))
        if cape != sub["cancel_at_period_end"]:
            prev["cancel_at_period_end"] = sub["cancel_at_period_end"]
            prev["cancel_at"] = sub["cancel_at"]
            prev["canceled_at"] = sub["canceled_at"]
            _set_cancel_at_period_end(sub, cape, t)
    if "cancel_at" in ctx.params:
        ca = as_int(ctx.p("cancel_at"), "cancel_at")
        prev["cancel_at"] = sub["cancel_at"]
        sub["cancel_at"] = ca
    if "default_payment_method" in ctx.params:
        pm_id = ctx.p("default_payment_method") or None
        if pm_id:
            pm = resolve_payment_method(ctx, pm_id, "default_payment_method")
            if pm.get("customer") != sub["customer"]:
                cus = load(ctx, sub["customer"], "customer")
                _attach(ctx, pm, cus)
            pm_id = pm["id"]
        prev["default_payment_method"] = sub["default_payment_method"]
        sub["default_payment_method"] = pm_id
    if "default_tax_rates" in ctx.params:
        prev["default_tax_rates"] = sub["default_tax_rates"]
        sub["default_tax_rates"] = _tax_rates(ctx, ctx.p("default_tax_rates"), "default_tax_rates")
    if ctx.p("discounts"):
        _apply_discounts(ctx, sub, ctx.p("discounts"), 0)
    if ctx.p("trial_end") == "now" and sub["status"] == "trialing":
        prev["trial_end"] = sub["trial_end"]
        sub["trial_end"] = t
        _set_period(sub, _period(sub)[0], t)
        ctx.store.put(sub)
        _renew(ctx, sub, t)
        sub = load(ctx, id, "subscription")
    new_cycle = bool(ctx.p("items")) and _change_items(ctx, sub, prev, t)
    if new_cycle:
        _restart_cycle(sub, prev, t)
    ctx.store.put(sub)
    if prev:
        emit(ctx, "customer.subscription.updated", sub, prev)
    if new_cycle:
        # the new period is billed at once, with any credit for the old one
        _invoice_now(ctx, sub, _cycle_lines(ctx, sub), t)
    elif (
        ctx.p("items")
        and (ctx.p("proration_behavior") == "always_invoice")
        and sub.get("_pending_lines")
    ):
        _invoice_now(ctx, sub, sub.pop("_pending_lines"), t)
    return _sub_out(ctx, load(ctx, id, "subscription"))


def _invoice_now(ctx: Ctx, sub: dict[str, Any], lines: list[dict[str, Any]], t: int) -> None:
    ctx.store.put(sub)
    inv = make_invoice(ctx, sub, "subscription_update", lines, (t, t))
    sub["latest_invoice"] = inv["id"]
    ctx.store.put(sub)
    if inv["amount_due"] > 0:
        attempt_invoice(ctx, inv, _default_pm(ctx, sub), off_session=True)
    else:
        _mark_paid(ctx, inv, None)


def _restart_cycle(sub: dict[str, Any], prev: dict[str, Any], t: int) -> None:
    """A new billing interval starts its first period now (Stripe resets the anchor)."""
    recurring = sub["items"]["data"][0]["price"]["recurring"]
    prev["billing_cycle_anchor"] = sub["billing_cycle_anchor"]
    sub["billing_cycle_anchor"] = t
    _set_period(sub, t, add_interval(t, recurring["interval"], recurring["interval_count"]))
    if sub["cancel_at_period_end"]:
        sub["cancel_at"] = _period(sub)[1]


def _set_cancel_at_period_end(sub: dict[str, Any], cape: bool, t: int) -> None:
    sub["cancel_at_period_end"] = cape
    sub["cancel_at"] = _period(sub)[1] if cape else None
    sub["canceled_at"] = t if cape else None
    sub["cancellation_details"]["reason"] = "cancellation_requested" if cape else None


def _interval(price: dict[str, Any]) -> tuple[str, int]:
    return price["recurring"]["interval"], price["recurring"]["interval_count"]


def _change_items(ctx: Ctx, sub: dict[str, Any], prev: dict[str, Any], t: int) -> bool:
    """Apply `items`; True when the billing interval changed, which starts a new cycle now."""
    behavior = ctx.p("proration_behavior") or "create_prorations"
    if behavior not in ("create_prorations", "none", "always_invoice"):
        raise invalid_request("Invalid proration_behavior.", param="proration_behavior")
    items = sub["items"]["data"]
    prev["items"] = {"object": "list", "data": [dict(i) for i in items]}
    start, end = _period(sub)
    old_interval = _interval(items[0]["price"])
    updates = [as_dict(u, f"items[{i}]") for i, u in enumerate(as_list(ctx.p("items"), "items"))]
    new_prices = [
        _item_price(ctx, u, f"items[{i}]") if u.get("price") or u.get("price_data") else None
        for i, u in enumerate(updates)
    ]
    new_interval = next((_interval(p) for p in new_prices if p is not None), old_interval)
    new_cycle = new_interval != old_interval and sub["status"] in ("active", "past_due", "unpaid")
    for i, upd in enumerate(updates):
        target = None
        if upd.get("id"):
            target = next((it for it in items if it["id"] == upd["id"]), None)
            if target is None:
                raise invalid_request(
                    f"No such subscription item: '{upd['id']}'",
                    param=f"items[{i}][id]",
                    code="resource_missing",
                )
        if as_bool(upd.get("deleted"), f"items[{i}][deleted]"):
            if target:
                items.remove(target)
            continue
        new_price = new_prices[i]
        qty = as_int(upd.get("quantity"), f"items[{i}][quantity]", minimum=1)
        rates = (
            _item_tax_rates(ctx, upd["tax_rates"], f"items[{i}][tax_rates]")
            if "tax_rates" in upd
            else None
        )
        if target is None:
            if new_price is None:
                raise invalid_request(
                    "Missing required param: items[0][price].",
                    param=f"items[{i}][price]",
                    code="parameter_missing",
                )
            target = _item(sub["id"], new_price, qty or 1, start, end, tax_rates=rates)
            items.append(target)
            old_amount = 0
            old_rates = []
        else:
            old_rates = [r["id"] for r in target.get("tax_rates") or []]
            if rates is not None:
                target["tax_rates"] = rates
            old_amount = price_amount(target["price"], target["quantity"])
            if new_price is not None:
                if new_price["currency"] != sub["currency"]:
                    raise invalid_request(
                        "The price's currency must match the subscription's.",
                        param=f"items[{i}][price]",
                    )
                target["price"] = render(new_price)
            if qty:
                target["quantity"] = qty
        new_amount = price_amount(target["price"], target["quantity"])
        if (
            behavior != "none"
            and sub["status"] in ("active", "past_due")
            and end > start
            and (new_amount != old_amount or new_cycle)
        ):
            frac = max(0.0, min(1.0, (end - t) / (end - start)))
            if old_amount:
                credit = _line(
                    ctx,
                    "",
                    sub,
                    -round(old_amount * frac),
                    sub["currency"],
                    "Unused time (proration)",
                    t,
                    end,
                    1,
                    None,
                    target["id"],
                    proration=True,
                )
                # the credit is taxed as the old item was
                sub.setdefault("_line_rates", {})[credit["id"]] = old_rates
                sub.setdefault("_pending_lines", []).append(credit)
            if new_cycle:
                continue  # the new price is billed for its whole new period instead
            sub.setdefault("_pending_lines", []).append(
                _line(
                    ctx,
                    "",
                    sub,
                    round(new_amount * frac),
                    sub["currency"],
                    f"Remaining time on {_product_name(ctx, target['price'])} (proration)",
                    t,
                    end,
                    target["quantity"],
                    target["price"],
                    target["id"],
                    proration=True,
                )
            )
    if not items:
        raise invalid_request("A subscription needs at least one item.", param="items")
    if len({_interval(it["price"]) for it in items}) > 1:
        raise invalid_request(
            "All prices on a subscription must have the same currency and billing interval.",
            param="items",
        )
    sub["items"]["total_count"] = len(items)
    return new_cycle


def _renew(ctx: Ctx, sub: dict[str, Any], t: int) -> None:
    """Roll the subscription over its period end(s) up to time t."""
    guard = 0
    while guard < 400:
        guard += 1
        start, end = _period(sub)
        if sub["status"] == "incomplete" and t >= sub["created"] + INCOMPLETE_EXPIRY:
            prev = {"status": "incomplete"}
            sub["status"] = "incomplete_expired"
            sub["ended_at"] = sub["created"] + INCOMPLETE_EXPIRY
            inv = ctx.store.get(sub.get("latest_invoice") or "")
            if inv and inv["status"] == "open":
                _void(ctx, inv)
            ctx.store.put(sub)
            emit(ctx, "customer.subscription.updated", sub, prev)
            return
        if sub["status"] not in ("active", "trialing", "past_due", "unpaid"):
            return
        unpaid = ctx.store.get(sub.get("latest_invoice") or "")
        retry_at = unpaid and unpaid["status"] == "open" and unpaid.get("next_payment_attempt")
        if retry_at and retry_at <= min(t, end):
            _retry_payment(ctx, sub, unpaid)
            sub = ctx.store.get(sub["id"]) or sub
            continue
        if end > t:
            return
        if sub["cancel_at_period_end"] or (sub.get("cancel_at") and sub["cancel_at"] <= end):
            _cancel_now(ctx, sub, end, "cancellation_requested")
            return
        price = sub["items"]["data"][0]["price"]["recurring"]
        new_end = add_interval(end, price["interval"], price["interval_count"])
        was = sub["status"]
        _set_period(sub, end, new_end)
        if was == "trialing":
            sub["status"] = "active"
        ctx.store.put(sub)
        previous_open = ctx.store.get(sub.get("latest_invoice") or "")
        inv = make_invoice(ctx, sub, "subscription_cycle", _cycle_lines(ctx, sub), (start, end))
        sub["latest_invoice"] = inv["id"]
        ctx.store.put(sub)
        paid = attempt_invoice(ctx, inv, _default_pm(ctx, sub), off_session=True)
        sub = ctx.store.get(sub["id"]) or sub
        if not paid:
            prev = {"status": sub["status"]}
            if (
                previous_open
                and previous_open["status"] == "open"
                and was in ("past_due", "unpaid")
            ):
                sub["status"] = "unpaid"
            else:
                sub["status"] = "past_due"
            if prev["status"] != sub["status"]:
                ctx.store.put(sub)
                emit(ctx, "customer.subscription.updated", sub, prev)
            if inv["attempt_count"] == 0:
                emit(ctx, "invoice.payment_failed", inv)
        elif was == "trialing":
            emit(ctx, "customer.subscription.updated", sub, {"status": "trialing"})
        sub = ctx.store.get(sub["id"]) or sub


# ============================================================================================
# Test clocks
# ============================================================================================
@route("POST", "/v1/test_helpers/test_clocks", "test_helpers.TestClockCreateParams")
def clock_create(ctx: Ctx) -> dict[str, Any]:
    frozen = as_int(ctx.require("frozen_time"), "frozen_time")
    c = blank("test_helpers.test_clock")
    c.update(
        id=new_id("clock"),
        object="test_helpers.test_clock",
        created=now(),
        deletes_after=now() + 30 * 86400,
        frozen_time=frozen,
        livemode=False,
        name=ctx.p("name") or None,
        status="ready",
        status_details={},
    )
    ctx.store.put(c)
    emit(ctx, "test_helpers.test_clock.created", c)
    return render(c)


@route("GET", "/v1/test_helpers/test_clocks/{id}", "test_helpers.TestClockRetrieveParams")
def clock_retrieve(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(load(ctx, id, "test_helpers.test_clock", "test clock"))


@route("GET", "/v1/test_helpers/test_clocks", "test_helpers.TestClockListParams")
def clock_list(ctx: Ctx) -> dict[str, Any]:
    return paginate(ctx, "test_helpers.test_clock", "/v1/test_helpers/test_clocks")


@route("DELETE", "/v1/test_helpers/test_clocks/{id}", "test_helpers.TestClockDeleteParams")
def clock_delete(ctx: Ctx, id: str) -> dict[str, Any]:
    from .resources import delete_customer

    c = load(ctx, id, "test_helpers.test_clock", "test clock")
    # As at Stripe, the clock takes its customers and their subscriptions with it.
    for cus in ctx.store.all_of("customer"):
        if cus.get("test_clock") == c["id"] and not cus.get("_deleted"):
            delete_customer(ctx, cus)
            for sub in ctx.store.all_of("subscription"):
                if sub["customer"] == cus["id"] and not sub.get("_deleted"):
                    sub["_deleted"] = True
                    ctx.store.put(sub)
    ctx.store.delete(c["id"])
    emit(ctx, "test_helpers.test_clock.deleted", c)
    return {"id": c["id"], "object": c["object"], "deleted": True}


@route("POST", "/v1/test_helpers/test_clocks/{id}/advance", "test_helpers.TestClockAdvanceParams")
def clock_advance(ctx: Ctx, id: str) -> dict[str, Any]:
    c = load(ctx, id, "test_helpers.test_clock", "test clock")
    target = as_int(ctx.require("frozen_time"), "frozen_time")
    assert target is not None
    if target <= c["frozen_time"]:
        raise invalid_request(
            "The test clock can only be advanced forward in time.", param="frozen_time"
        )
    c["status"] = "advancing"
    emit(ctx, "test_helpers.test_clock.advancing", c)
    customers = {o["id"] for o in ctx.store.all_of("customer") if o.get("test_clock") == id}
    subs = [s for s in ctx.store.all_of("subscription") if s["customer"] in customers]
    subs.sort(key=lambda s: s["created"])
    # walk period boundaries in time order so each invoice is dated correctly
    c["frozen_time"] = target
    ctx.store.put(c)
    for s in subs:
        _renew(ctx, s, target)
    c["status"] = "ready"
    ctx.store.put(c)
    emit(ctx, "test_helpers.test_clock.ready", c)
    out = render(c)
    out["status"] = "advancing"  # Stripe answers while it works; retrieve shows "ready"
    return out


# ============================================================================================
# Checkout Sessions
# ============================================================================================
def _session_lines(ctx: Ctx, mode: str) -> list[dict[str, Any]]:
    from .resources import _make_price

    items = as_list(ctx.p("line_items"), "line_items")
    if not items:
        raise invalid_request(
            "Missing required param: line_items.", param="line_items", code="parameter_missing"
        )
    out: list[dict[str, Any]] = []
    for i, li in enumerate(items):
        li = as_dict(li, f"line_items[{i}]")
        qty = as_int(li.get("quantity"), f"line_items[{i}][quantity]", minimum=1) or 1
        if li.get("price"):
            price = load(ctx, li["price"], "price", param=f"line_items[{i}][price]")
            if not price["active"]:
                raise invalid_request(
                    f"The price `{price['id']}` is not active.", param=f"line_items[{i}][price]"
                )
        elif li.get("price_data"):
            pd = as_dict(li["price_data"], f"line_items[{i}][price_data]")
            product = pd.get("product")
            if not product and pd.get("product_data"):
                from .resources import product_create

                saved = ctx.params
                ctx.params = {
                    "name": as_dict(pd["product_data"], "product_data").get("name") or "Item"
                }
                try:
                    product = product_create(ctx)["id"]
                finally:
                    ctx.params = saved
            if not product:
                raise invalid_request(
                    "Missing required param: line_items[0][price_data][product_data].",
                    param=f"line_items[{i}][price_data]",
                    code="parameter_missing",
                )
            load(ctx, product, "product", param=f"line_items[{i}][price_data][product]")
            price = _make_price(ctx, pd, product, f"line_items[{i}][price_data]")
        else:
            raise invalid_request(
                "Missing required param: line_items[0][price].",
                param=f"line_items[{i}][price]",
                code="parameter_missing",
            )
        if mode == "payment" and price["type"] == "recurring":
            raise invalid_request(
                "You must be in `subscription` mode to use recurring prices.",
                param=f"line_items[{i}][price]",
            )
        rates = _tax_rates(ctx, li.get("tax_rates"), f"line_items[{i}][tax_rates]")
        out.append({"price": price, "quantity": qty, "tax_rates": rates})
    if mode == "subscription" and not any(x["price"]["type"] == "recurring" for x in out):
        raise invalid_request(
            "You must provide at least one recurring price in `subscription` "
            "mode when using prices.",
            param="line_items",
        )
    currencies = {x["price"]["currency"] for x in out}
    if len(currencies) > 1:
        raise invalid_request("All line items must use the same currency.", param="line_items")
    return out


def _subtotal(cs: dict[str, Any]) -> int:
    return sum(price_amount(x["price"], x["quantity"]) for x in cs["_lines"])


def _line_rates(cs: dict[str, Any], line: dict[str, Any]) -> list[str]:
    """A line's own tax rates; else, in subscription mode, the subscription's default ones
    (subscription_data.default_tax_rates), as its first invoice will apply them."""
    if line.get("tax_rates"):
        return list(line["tax_rates"])
    if cs.get("mode") == "subscription":
        return [str(t) for t in (cs.get("_sub_data") or {}).get("default_tax_rates") or []]
    return []


def _session_taxes(ctx: Ctx, cs: dict[str, Any]) -> tuple[list[int], list[list[dict[str, Any]]]]:
    """Each line's discount and taxes: what the page shows and the card is charged."""
    from .coupons import discount_amount

    subtotal = _subtotal(cs)
    disc = 0
    if cs.get("_coupon"):
        coupon = ctx.store.get(cs["_coupon"])
        if coupon:
            disc = discount_amount(coupon, subtotal, cs["currency"])
    return line_taxes(
        ctx,
        [(price_amount(x["price"], x["quantity"]), _line_rates(cs, x)) for x in cs["_lines"]],
        disc,
    )


def _totals(ctx: Ctx, cs: dict[str, Any]) -> None:
    discounts, taxes = _session_taxes(ctx, cs)
    entries = [e for line in taxes for e in line]
    subtotal = _subtotal(cs)
    disc = sum(discounts)
    cs["amount_subtotal"] = subtotal
    cs["amount_total"] = subtotal - disc + _exclusive(entries)
    cs["total_details"] = {
        "amount_discount": disc,
        "amount_shipping": 0,
        "amount_tax": _exclusive(entries) + _inclusive(entries),
    }


@route("POST", "/v1/checkout/sessions", "checkout.SessionCreateParams")
def checkout_create(ctx: Ctx) -> dict[str, Any]:
    mode = ctx.require("mode")
    if mode not in ("payment", "subscription"):
        raise invalid_request(
            "The sandbox supports `payment` and `subscription` modes.", param="mode"
        )
    ui_mode = ctx.p("ui_mode") or "hosted_page"
    return_url = ctx.p("return_url") or None
    redirect = ctx.p("redirect_on_completion") or None
    if ui_mode == "hosted_page":
        success_url = ctx.require("success_url")
        for name in ("return_url", "redirect_on_completion"):
            if ctx.p(name):
                raise invalid_request(
                    f"`{name}` can only be used when `ui_mode` is `embedded_page` or `elements`.",
                    param=name,
                )
    else:
        # Embedded and Elements sessions come back to `return_url`; there is no hosted page.
        for name in ("success_url", "cancel_url"):
            if ctx.p(name):
                raise invalid_request(
                    f"You may not specify `{name}` when `ui_mode` is `{ui_mode}`. "
                    "Use `return_url` instead.",
                    param=name,
                )
        if redirect and ui_mode == "elements":
            raise invalid_request(
                "`redirect_on_completion` can only be used when `ui_mode` is `embedded_page`.",
                param="redirect_on_completion",
            )
        redirect = redirect or ("always" if ui_mode != "elements" else None)
        if return_url is None and redirect != "never":
            raise invalid_request(
                "Missing required param: return_url.",
                param="return_url",
                code="parameter_missing",
            )
        if return_url and redirect == "never":
            raise invalid_request(
                "`return_url` cannot be used when `redirect_on_completion` is `never`.",
                param="return_url",
            )
        success_url = None
    customer = ctx.p("customer") or None
    if customer:
        load(ctx, customer, "customer", param="customer")
    lines = _session_lines(ctx, mode)
    t = now()
    cs_id = "cs_test_" + rand(58)
    cs = blank("checkout.session")
    cs.update(
        id=cs_id,
        object="checkout.session",
        after_expiration=None,
        allow_promotion_codes=as_bool(ctx.p("allow_promotion_codes"), "allow_promotion_codes"),
        automatic_tax={"enabled": False, "liability": None, "status": None, "provider": None},
        billing_address_collection=ctx.p("billing_address_collection") or None,
        cancel_url=ctx.p("cancel_url") or None,
        client_reference_id=ctx.p("client_reference_id") or None,
        client_secret=None if ui_mode == "hosted_page" else f"{cs_id}_secret_{rand(24)}",
        consent=None,
        consent_collection=None,
        created=t,
        currency=lines[0]["price"]["currency"],
        custom_fields=[],
        custom_text={
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        customer=customer,
        customer_creation=(ctx.p("customer_creation") or "if_required")
        if mode == "payment" and not customer
        else None,
        customer_details=None,
        customer_email=ctx.p("customer_email") or None,
        expires_at=as_int(ctx.p("expires_at"), "expires_at") or t + 86400,
        invoice=None,
        invoice_creation=None,
        livemode=False,
        locale=ctx.p("locale") or None,
        metadata=merge_metadata({}, ctx.p("metadata")),
        mode=mode,
        payment_intent=None,
        payment_link=None,
        payment_method_collection="always",
        payment_method_configuration_details=None,
        payment_method_options={},
        payment_method_types=["card"],
        payment_status="unpaid",
        phone_number_collection={"enabled": False},
        recovered_from=None,
        saved_payment_method_options=None,
        setup_intent=None,
        shipping_address_collection=None,
        shipping_cost=None,
        shipping_options=[],
        status="open",
        submit_type=ctx.p("submit_type") or None,
        subscription=None,
        success_url=success_url,
        total_details=None,
        ui_mode=ui_mode,
        url=f"{ctx.base_url}/_sandbox/checkout/{cs_id}" if ui_mode == "hosted_page" else None,
        adaptive_pricing={"enabled": False},
        discounts=[],
        collected_information=None,
        permissions=None,
        wallet_options=None,
        origin_context=None,
        currency_conversion=None,
        customer_account=None,
        integration_identifier=None,
        managed_payments=None,
        _lines=[
            {"price": render(x["price"]), "quantity": x["quantity"], "tax_rates": x["tax_rates"]}
            for x in lines
        ],
        _pi_data=as_dict(ctx.p("payment_intent_data"), "payment_intent_data"),
        _sub_data=as_dict(ctx.p("subscription_data"), "subscription_data"),
    )
    from .coupons import requested_discounts

    # Checked now, as Stripe does, against the session's subtotal and customer; redeemed when
    # the session completes.
    for coupon, promo in requested_discounts(
        ctx, ctx.p("discounts"), _subtotal(cs), cs["currency"], customer
    ):
        cs["_coupon"] = coupon["id"]
        cs["_promo"] = promo["id"] if promo else None
        cs["discounts"] = [
            {"coupon": None, "promotion_code": promo["id"]}
            if promo
            else {"coupon": coupon["id"], "promotion_code": None}
        ]
    if cs.get("_coupon") and cs["allow_promotion_codes"]:
        raise invalid_request(
            "You may only specify one of these parameters: allow_promotion_codes, discounts.",
            param="discounts",
        )
    if ui_mode != "hosted_page":
        # fields Stripe returns only for sessions embedded in the merchant's page
        cs["return_url"] = return_url
        cs["redirect_on_completion"] = redirect
    _totals(ctx, cs)
    ctx.store.put(cs)
    return render(cs)


def done_url(cs: dict[str, Any]) -> str | None:
    """Where the customer goes once the session is complete (None: stays on the page)."""
    url = cs.get("success_url") or cs.get("return_url")
    return url.replace("{CHECKOUT_SESSION_ID}", cs["id"]) if url else None


@route("GET", "/v1/checkout/sessions/{id}", "checkout.SessionRetrieveParams")
def checkout_retrieve(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(_load_cs(ctx, id))


def _load_cs(ctx: Ctx, id: str) -> dict[str, Any]:
    cs = load(ctx, id, "checkout.session", "checkout.session")
    if cs["status"] == "open" and cs["expires_at"] <= now():
        _expire(ctx, cs)
    return cs


def _expire(ctx: Ctx, cs: dict[str, Any]) -> None:
    cs["status"] = "expired"
    cs["url"] = None
    ctx.store.put(cs)
    emit(ctx, "checkout.session.expired", cs)


@route("GET", "/v1/checkout/sessions", "checkout.SessionListParams")
def checkout_list(ctx: Ctx) -> dict[str, Any]:
    return paginate(
        ctx,
        "checkout.session",
        "/v1/checkout/sessions",
        list_filter(
            ctx,
            customer="customer",
            payment_intent="payment_intent",
            subscription="subscription",
            status="status",
        ),
    )


@route("POST", "/v1/checkout/sessions/{id}/expire", "checkout.SessionExpireParams")
def checkout_expire(ctx: Ctx, id: str) -> dict[str, Any]:
    cs = _load_cs(ctx, id)
    if cs["status"] != "open":
        raise invalid_request(
            f'Only Checkout Sessions with a status in ["open"] can be '
            f"expired. This Checkout Session has a status of "
            f'"{cs["status"]}".',
        )
    _expire(ctx, cs)
    return render(cs)


@route("GET", "/v1/checkout/sessions/{id}/line_items", "checkout.SessionListLineItemsParams")
def checkout_line_items(ctx: Ctx, id: str) -> dict[str, Any]:
    return _line_items(ctx, _load_cs(ctx, id))


@includable("checkout.session", "line_items")
def _expanded_line_items(ctx: Ctx, cs: dict[str, Any]) -> dict[str, Any]:
    stored = ctx.store.get(cs["id"])
    assert stored is not None
    return _line_items(ctx, stored)


def _line_items(ctx: Ctx, cs: dict[str, Any]) -> dict[str, Any]:
    data = []
    discounts, taxes = _session_taxes(ctx, cs)
    for n, x in enumerate(cs["_lines"]):
        amount = price_amount(x["price"], x["quantity"])
        data.append(
            {
                "id": f"li_{cs['id'][8:20]}{n}",
                "object": "item",
                "amount_discount": discounts[n],
                "amount_subtotal": amount,
                "amount_tax": _exclusive(taxes[n]) + _inclusive(taxes[n]),
                "amount_total": amount - discounts[n] + _exclusive(taxes[n]),
                "currency": cs["currency"],
                "description": _product_name(ctx, x["price"]),
                "price": x["price"],
                "quantity": x["quantity"],
                "metadata": {},
                "adjustable_quantity": None,
            }
        )
    return {
        "object": "list",
        "data": data,
        "has_more": False,
        "url": f"/v1/checkout/sessions/{cs['id']}/line_items",
    }


def _finish_checkout(ctx: Ctx, cs: dict[str, Any], email: str | None, name: str | None) -> str:
    from .coupons import redeem

    cs["status"] = "complete"
    cs["payment_status"] = (
        "paid" if cs["amount_total"] or cs["mode"] == "payment" else "no_payment_required"
    )
    if cs["mode"] == "subscription":
        sub = ctx.store.get(cs["subscription"] or "") or {}
        if sub.get("status") == "trialing":
            cs["payment_status"] = "no_payment_required"
    cs["customer_details"] = {
        "address": None,
        "email": email,
        "name": name,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
        "business_name": None,
        "individual_name": None,
    }
    cs["url"] = None
    if cs.get("_coupon") and cs["mode"] == "payment":
        coupon = ctx.store.get(cs["_coupon"])
        promo = ctx.store.get(cs["_promo"]) if cs.get("_promo") else None
        if coupon:
            redeem(ctx, coupon, promo)
    ctx.store.put(cs)
    emit(ctx, "checkout.session.completed", cs)
    return done_url(cs) or f"{ctx.base_url}/_sandbox/checkout/{cs['id']}"


# ============================================================================================
# Billing portal
# ============================================================================================
@route("POST", "/v1/billing_portal/sessions", "billing_portal.SessionCreateParams")
def portal_create(ctx: Ctx) -> dict[str, Any]:
    cus = load(ctx, ctx.require("customer"), "customer", param="customer")
    ps = blank("billing_portal.session")
    pid = new_id("bps")
    ps.update(
        id=pid,
        object="billing_portal.session",
        configuration="bpc_sandbox_default",
        created=now(),
        customer=cus["id"],
        flow=None,
        livemode=False,
        locale=ctx.p("locale") or None,
        on_behalf_of=None,
        return_url=ctx.p("return_url") or None,
        url=f"{ctx.base_url}/_sandbox/portal/{pid}_{rand(16)}",
        customer_account=None,
    )
    ctx.store.put(ps)
    return render(ps)


# ============================================================================================
# Hosted pages (Checkout, billing portal)
# ============================================================================================
def hosted_routes(sb: Any) -> list[Any]:
    from urllib.parse import parse_qsl

    from starlette.requests import Request
    from starlette.responses import HTMLResponse, RedirectResponse, Response
    from starlette.routing import Route

    def run(request: Request, fn: Any) -> Any:
        ctx = Ctx(
            sb, {}, "req_" + rand(14), None, sb.public_url or str(request.base_url).rstrip("/")
        )
        store = sb.store
        with store.lock:
            store.begin()
            try:
                out = fn(ctx)
                store.commit()
            except StripeError as e:
                if e.commit:
                    store.commit()
                    for h in ctx.after_commit:
                        h()
                else:
                    store.rollback()
                raise
            except BaseException:
                store.rollback()
                raise
        for h in ctx.after_commit:
            h()
        return out

    async def form(request: Request) -> dict[str, str]:
        raw = await request.body()
        if len(raw) > 64 * 1024:
            raise invalid_request("Form too large.")
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))

    def money(amount: int, currency: str) -> str:
        return f"{amount / 100:.2f} {currency.upper()}"

    def page(title: str, body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(
            f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>body{{font-family:system-ui,sans-serif;"
            f"max-width:34rem;margin:2rem auto;padding:1rem}}label{{display:block;margin-top:"
            f".6rem}}input,select{{font:inherit;padding:.4rem;width:100%;box-sizing:border-box}}"
            f"button{{font:inherit;padding:.5rem 1rem;margin:.5rem .3rem 0 0}}"
            f".error{{color:#b00020}}</style></head><body><main>"
            f"<p><em>Sandbox — payments are simulated.</em></p>{body}</main></body></html>",
            status_code=status,
        )

    def card_fields() -> str:
        return (
            "<label for='card-number'>Card number</label><input id='card-number' "
            "name='card_number' autocomplete='cc-number' inputmode='numeric'>"
            "<label for='card-exp'>Expiration date</label><input id='card-exp' "
            "name='card_exp' placeholder='MM / YY' autocomplete='cc-exp'>"
            "<label for='card-cvc'>CVC</label><input id='card-cvc' name='card_cvc' "
            "autocomplete='cc-csc'>"
        )

    def card_from_form(ctx: Ctx, f: dict[str, str]) -> dict[str, Any]:
        from .resources import create_card_pm

        exp = f.get("card_exp", "").replace(" ", "")
        mm, _, yy = exp.partition("/")
        if not (mm.isdigit() and yy.isdigit()):
            raise StripeError(
                402,
                "card_error",
                "Your card's expiration date is incomplete.",
                code="incomplete_expiry",
            )
        year = int(yy) + (2000 if len(yy) == 2 else 0)
        return create_card_pm(
            ctx,
            {
                "type": "card",
                "card": {
                    "number": f.get("card_number", "").replace(" ", ""),
                    "exp_month": mm,
                    "exp_year": str(year),
                    "cvc": f.get("card_cvc") or None,
                },
            },
        )

    # -- checkout ---------------------------------------------------------------------------
    def prefilled_email(cs: dict[str, Any]) -> str:
        """Stripe fills in the email of the session's Customer, as it does `customer_email`."""
        if cs.get("customer_email"):
            return str(cs["customer_email"])
        customer = sb.store.get(cs["customer"]) if cs.get("customer") else None
        return str((customer or {}).get("email") or "")

    def checkout_page(cs: dict[str, Any], error: str = "", status: int = 200) -> HTMLResponse:
        rows = "".join(
            f"<li>{html.escape(str(x['quantity']))} × {html.escape(x['price'].get('nickname') or x['price']['product'])}"
            f" — {money(price_amount(x['price'], x['quantity']), cs['currency'])}"
            + (f" / {x['price']['recurring']['interval']}" if x["price"].get("recurring") else "")
            + "</li>"
            for x in cs["_lines"]
        )
        disc = (cs.get("total_details") or {}).get("amount_discount") or 0
        promo = (
            "<label for='promo'>Promotion code</label><input id='promo' name='promo'>"
            if cs.get("allow_promotion_codes")
            else ""
        )
        cancel = (
            f"<p><a href='{html.escape(cs['cancel_url'])}'>Cancel and return</a></p>"
            if cs.get("cancel_url")
            else ""
        )
        email = html.escape(prefilled_email(cs))
        label = "Subscribe" if cs["mode"] == "subscription" else "Pay"
        err = f"<p class='error' role='alert'>{html.escape(error)}</p>" if error else ""
        body = (
            f"<h1>Checkout</h1><ul>{rows}</ul>"
            + (f"<p>Discount: −{money(disc, cs['currency'])}</p>" if disc else "")
            + f"<p>Total: <strong data-total>{money(cs['amount_total'], cs['currency'])}"
            f"</strong></p>{err}<form method='post'>"
            f"<label for='email'>Email</label><input id='email' name='email' type='email' "
            f"value='{email}' required><label for='name'>Name on card</label>"
            f"<input id='name' name='name'>{card_fields()}{promo}"
            f"<button type='submit'>{label}</button></form>{cancel}"
        )
        return page("Checkout", body, status)

    def _get_cs(ctx: Ctx, cs_id: str) -> dict[str, Any]:
        return _load_cs(ctx, cs_id)

    async def checkout_get(request: Request) -> Response:
        cs_id = request.path_params["id"]
        try:
            cs = run(request, lambda ctx: _get_cs(ctx, cs_id))
        except StripeError:
            return page("Not found", "<h1>This checkout session does not exist.</h1>", 404)
        if cs["status"] == "complete":
            url = done_url(cs)
            if url is None:  # an embedded session with redirect_on_completion=never
                return page("Complete", "<h1>Thank you, your payment is complete.</h1>")
            return RedirectResponse(url, 303)
        if cs["status"] != "open":
            return page("Expired", "<h1>This checkout session has expired.</h1>", 410)
        return checkout_page(cs)

    def _pay(ctx: Ctx, cs_id: str, f: dict[str, str]) -> tuple[str, Any]:
        from .coupons import check_promotion

        cs = _get_cs(ctx, cs_id)
        if cs["status"] != "open":
            return "redirect", done_url(cs) or f"{ctx.base_url}/_sandbox/checkout/{cs['id']}"
        email = (f.get("email") or prefilled_email(cs)).strip() or None
        if f.get("promo"):
            promo = next(
                (
                    p
                    for p in ctx.store.all_of("promotion_code")
                    if p["code"].lower() == f["promo"].strip().lower() and p["active"]
                ),
                None,
            )
            if promo is None:
                raise invalid_request("This promotion code is invalid.", param="promo")
            subtotal = _subtotal(cs)
            coupon = check_promotion(
                ctx, promo, subtotal, cs["currency"], cs.get("customer"), "promo"
            )
            cs["_promo"], cs["_coupon"] = promo["id"], coupon["id"]
            cs["discounts"] = [{"coupon": None, "promotion_code": promo["id"]}]
            _totals(ctx, cs)
        pm = card_from_form(ctx, f)
        cus_id = cs.get("customer")
        if not cus_id and (cs["mode"] == "subscription" or cs.get("customer_creation") == "always"):
            from .resources import customer_create

            saved = ctx.params
            ctx.params = {
                k: v for k, v in {"email": email, "name": f.get("name") or None}.items() if v
            }
            try:
                cus_id = customer_create(ctx)["id"]
            finally:
                ctx.params = saved
            cs["customer"] = cus_id
        complete_url = f"{ctx.base_url}/_sandbox/checkout/{cs['id']}/complete"
        cs["_email"], cs["_name"] = email, f.get("name") or None
        if cs["mode"] == "payment":
            pi = ctx.store.get(cs.get("payment_intent") or "")
            if pi is not None and pi["amount"] != cs["amount_total"]:
                pi["amount"] = cs["amount_total"]  # a promotion code changed the total
                ctx.store.put(pi)
            if pi is None:
                saved = ctx.params
                pid = cs.get("_pi_data") or {}
                ctx.params = {
                    "amount": cs["amount_total"],
                    "currency": cs["currency"],
                    # the session's own metadata stays on the session, as at Stripe
                    "metadata": pid.get("metadata") or {},
                    "description": pid.get("description"),
                }
                if cus_id:
                    ctx.params["customer"] = cus_id
                if pid.get("setup_future_usage"):
                    ctx.params["setup_future_usage"] = pid["setup_future_usage"]
                if email:
                    ctx.params["receipt_email"] = email
                ctx.params = {k: v for k, v in ctx.params.items() if v is not None}
                try:
                    pi = ctx.store.get(pi_create(ctx)["id"])
                finally:
                    ctx.params = saved
                assert pi is not None
                cs["payment_intent"] = pi["id"]
            ctx.store.put(cs)
            from .payments import _confirm

            _confirm(ctx, pi, {"payment_method": pm["id"], "return_url": complete_url})
            pi = ctx.store.get(pi["id"])
            assert pi is not None
            if pi["status"] == "requires_action":
                return "redirect", _action_url(pi)
            return "redirect", _finish_checkout(ctx, cs, email, f.get("name") or None)
        # subscription mode
        sd = cs.get("_sub_data") or {}
        params: dict[str, Any] = {
            "customer": cus_id,
            "default_payment_method": pm["id"],
            "items": [
                {
                    "price": x["price"]["id"],
                    "quantity": x["quantity"],
                    "tax_rates": x.get("tax_rates") or None,
                }
                for x in cs["_lines"]
                if x["price"]["type"] == "recurring"
            ],
            "metadata": sd.get("metadata") or {},
            "payment_behavior": "allow_incomplete",
            "trial_period_days": sd.get("trial_period_days"),
            "default_tax_rates": sd.get("default_tax_rates"),
        }
        if cs.get("_promo"):
            params["discounts"] = [{"promotion_code": cs["_promo"]}]
        elif cs.get("_coupon"):
            params["discounts"] = [{"coupon": cs["_coupon"]}]
        sub = create_subscription(ctx, {k: v for k, v in params.items() if v is not None})
        cs["subscription"] = sub["id"]
        cs["invoice"] = sub["latest_invoice"]
        ctx.store.put(cs)
        if sub["status"] in ("active", "trialing"):
            return "redirect", _finish_checkout(ctx, cs, email, f.get("name") or None)
        inv = ctx.store.get(sub["latest_invoice"]) or {}
        pi = ctx.store.get(inv.get("_payment_intent") or "") or {}
        if pi.get("status") == "requires_action":
            pi["_return_url"] = complete_url
            ctx.store.put(pi)
            return "redirect", _action_url(pi)
        err = (pi.get("last_payment_error") or {}).get("message") or "Your card was declined."
        raise StripeError(402, "card_error", err, code="card_declined")

    async def checkout_post(request: Request) -> Response:
        cs_id = request.path_params["id"]
        try:
            f = await form(request)
            kind, value = run(request, lambda ctx: _pay(ctx, cs_id, f))
        except StripeError as e:
            try:
                cs = run(request, lambda ctx: _get_cs(ctx, cs_id))
            except StripeError:
                return page("Not found", "<h1>This checkout session does not exist.</h1>", 404)
            return checkout_page(cs, e.message, 402 if e.status == 402 else 400)
        return RedirectResponse(value, 303)

    async def checkout_complete(request: Request) -> Response:
        cs_id = request.path_params["id"]

        def fn(ctx: Ctx) -> tuple[str, Any]:
            cs = _get_cs(ctx, cs_id)
            if cs["status"] == "complete":
                return "redirect", done_url(cs) or f"{ctx.base_url}/_sandbox/checkout/{cs['id']}"
            if cs["mode"] == "payment":
                pi = ctx.store.get(cs.get("payment_intent") or "") or {}
                ok = pi.get("status") in ("succeeded", "requires_capture")
            else:
                sub = ctx.store.get(cs.get("subscription") or "") or {}
                ok = sub.get("status") in ("active", "trialing")
                pi = {}
            if ok:
                return "redirect", _finish_checkout(ctx, cs, cs.get("_email"), cs.get("_name"))
            err = (pi.get("last_payment_error") or {}).get(
                "message"
            ) or "We could not authenticate your payment."
            if cs["mode"] == "subscription":
                sub = ctx.store.get(cs.get("subscription") or "")
                if sub and sub["status"] == "incomplete":
                    _cancel_now(ctx, sub, clock_now(ctx, sub["customer"]), "payment_failed")
                cs["subscription"] = None
                cs["invoice"] = None
                ctx.store.put(cs)
            return "error", (cs, err)

        try:
            kind, value = run(request, fn)
        except StripeError:
            return page("Not found", "<h1>This checkout session does not exist.</h1>", 404)
        if kind == "redirect":
            return RedirectResponse(value, 303)
        return checkout_page(value[0], value[1], 402)

    async def checkout_control_complete(request: Request) -> Response:
        """`POST /_sandbox/checkout_sessions/{id}/complete`: pay a session as its page would
        (for embedded and Elements sessions, which have no page at `url`)."""
        import json

        from starlette.responses import JSONResponse

        from .app import _LOOPBACK

        host = request.client.host if request.client else ""
        cs_id = request.path_params["id"]
        try:
            if not sb.control_open and host not in _LOOPBACK:
                raise StripeError(
                    403,
                    "invalid_request_error",
                    "Sandbox control endpoints only answer loopback clients.",
                )
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                raise invalid_request("The body must be a JSON object.") from None
            if not isinstance(body, dict):
                raise invalid_request("The body must be a JSON object.")
            f = {
                "card_number": "4242424242424242",
                "card_exp": "12/34",
                "card_cvc": "123",
                **{k: str(v) for k, v in body.items() if v is not None},
            }
            _, url = run(request, lambda ctx: _pay(ctx, cs_id, f))
            cs = run(request, lambda ctx: render(_get_cs(ctx, cs_id)))
        except StripeError as e:
            return JSONResponse(e.body(), e.status)
        return JSONResponse({"checkout_session": cs, "redirect_url": url})

    # -- billing portal ---------------------------------------------------------------------
    def _portal(ctx: Ctx, token: str) -> dict[str, Any]:
        ps_id = token.rsplit("_", 1)[0]
        ps = ctx.store.get(ps_id)
        if (
            ps is None
            or ps.get("object") != "billing_portal.session"
            or ps["url"].rsplit("/", 1)[-1] != token
        ):
            raise invalid_request("No such portal session", status=404)
        return ps

    def portal_page(ctx: Ctx, ps: dict[str, Any], note: str = "") -> HTMLResponse:
        cus = load(ctx, ps["customer"], "customer")
        subs = [
            s
            for s in ctx.store.all_of("subscription")
            if s["customer"] == cus["id"] and s["status"] not in ENDED
        ]
        blocks = []
        for s in subs:
            it = s["items"]["data"][0]
            price = it["price"]
            ends = dt.datetime.fromtimestamp(it["current_period_end"], dt.UTC).date()
            info = (
                f"<h2>{html.escape(_product_name(ctx, price))}</h2><p>Status: "
                f"<span data-status>{html.escape(s['status'])}</span> — "
                f"{money(price_amount(price, it['quantity']), s['currency'])} / "
                f"{price['recurring']['interval']}</p>"
            )
            if s["cancel_at_period_end"]:
                info += (
                    f"<p>Cancels on {ends.isoformat()}</p><form method='post'>"
                    f"<input type='hidden' name='subscription' value='{s['id']}'>"
                    "<button name='action' value='renew'>Renew plan</button></form>"
                )
            else:
                info += (
                    f"<p>Renews on {ends.isoformat()}</p><form method='post'>"
                    f"<input type='hidden' name='subscription' value='{s['id']}'>"
                    "<button name='action' value='cancel'>Cancel plan</button></form>"
                )
            others = [
                p
                for p in ctx.store.all_of("price")
                if p["active"]
                and p["type"] == "recurring"
                and p["id"] != price["id"]
                and p["currency"] == s["currency"]
                and p["product"] == price["product"]
            ]
            for p in others:
                label = (
                    p.get("nickname")
                    or f"{money(price_amount(p), p['currency'])} / {p['recurring']['interval']}"
                )
                info += (
                    f"<form method='post'><input type='hidden' name='subscription' "
                    f"value='{s['id']}'><input type='hidden' name='price' value='{p['id']}'>"
                    f"<button name='action' value='switch'>Switch to "
                    f"{html.escape(label)}</button></form>"
                )
            blocks.append(f"<section>{info}</section>")
        pm_id = (cus.get("invoice_settings") or {}).get("default_payment_method")
        pm = ctx.store.get(pm_id) if pm_id else None
        card = f"{pm['card']['brand']} •••• {pm['card']['last4']}" if pm else "none"
        back = (
            f"<p><a href='{html.escape(ps['return_url'])}'>Return to the shop</a></p>"
            if ps.get("return_url")
            else ""
        )
        msg = f"<p role='status'>{html.escape(note)}</p>" if note else ""
        body = (
            f"<h1>Your subscriptions</h1>{msg}{''.join(blocks) or '<p>No subscriptions.</p>'}"
            f"<h2>Payment method</h2><p data-card>{html.escape(card)}</p>"
            f"<form method='post'><input type='hidden' name='action' value='card'>"
            f"{card_fields()}<button type='submit'>Update card</button></form>{back}"
        )
        return page("Billing portal", body)

    def _portal_action(ctx: Ctx, token: str, f: dict[str, str]) -> str:
        ps = _portal(ctx, token)
        action = f.get("action")
        if action == "card":
            pm = card_from_form(ctx, f)
            cus = load(ctx, ps["customer"], "customer")
            _attach(ctx, pm, cus)
            prev = {"invoice_settings": dict(cus["invoice_settings"])}
            cus["invoice_settings"]["default_payment_method"] = pm["id"]
            ctx.store.put(cus)
            emit(ctx, "customer.updated", cus, prev)
            for s in ctx.store.all_of("subscription"):
                if s["customer"] == cus["id"] and s["status"] not in (
                    "canceled",
                    "incomplete_expired",
                ):
                    if s.get("default_payment_method"):
                        s["default_payment_method"] = pm["id"]
                        ctx.store.put(s)
                    inv = ctx.store.get(s.get("latest_invoice") or "")
                    if inv and inv["status"] == "open" and s["status"] in ("past_due", "unpaid"):
                        attempt_invoice(ctx, inv, pm["id"], off_session=True)
            return "Card updated."
        sub = load(ctx, f.get("subscription", ""), "subscription", param="subscription")
        if sub["customer"] != ps["customer"]:
            raise invalid_request("Not your subscription.", status=404)
        saved = ctx.params
        try:
            if action == "cancel":
                ctx.params = {"cancel_at_period_end": "true"}
                note = "Your plan will be canceled at the end of the period."
            elif action == "renew":
                ctx.params = {"cancel_at_period_end": "false"}
                note = "Your plan was renewed."
            elif action == "switch":
                ctx.params = {
                    "items": [{"id": sub["items"]["data"][0]["id"], "price": f.get("price", "")}],
                    "proration_behavior": "create_prorations",
                }
                note = "Your plan was switched."
            else:
                raise invalid_request("Unknown action.")
            subscription_update(ctx, sub["id"])
        finally:
            ctx.params = saved
        return note

    async def portal_get(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            return run(request, lambda ctx: portal_page(ctx, _portal(ctx, token)))
        except StripeError:
            return page("Not found", "<h1>This portal session does not exist.</h1>", 404)

    async def portal_post(request: Request) -> Response:
        token = request.path_params["token"]
        f = await form(request)
        try:
            note = run(request, lambda ctx: _portal_action(ctx, token, f))
        except StripeError as e:
            note = e.message
        try:
            return run(request, lambda ctx: portal_page(ctx, _portal(ctx, token), note))
        except StripeError:
            return page("Not found", "<h1>This portal session does not exist.</h1>", 404)

    return [
        Route("/_sandbox/checkout/{id}", checkout_get, methods=["GET"]),
        Route("/_sandbox/checkout/{id}", checkout_post, methods=["POST"]),
        Route("/_sandbox/checkout/{id}/complete", checkout_complete, methods=["GET"]),
        Route(
            "/_sandbox/checkout_sessions/{id}/complete",
            checkout_control_complete,
            methods=["POST"],
        ),
        Route("/_sandbox/portal/{token}", portal_get, methods=["GET"]),
        Route("/_sandbox/portal/{token}", portal_post, methods=["POST"]),
    ]
