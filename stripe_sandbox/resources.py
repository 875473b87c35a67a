"""Stripe resources: customers, products, prices, payment methods, payment intents,
charges, refunds, balance transactions, events, webhook endpoints, coupons, promotion codes."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .cards import DECLINES, TEST_PAYMENT_METHODS, TEST_TOKENS, Card, card_for_number
from .core import (
    Ctx,
    as_bool,
    as_dict,
    as_float,
    as_int,
    as_list,
    as_str,
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
from .errors import StripeError, invalid_request, missing

CURRENCIES = {
    "usd",
    "aed",
    "afn",
    "all",
    "amd",
    "ang",
    "aoa",
    "ars",
    "aud",
    "awg",
    "azn",
    "bam",
    "bbd",
    "bdt",
    "bgn",
    "bhd",
    "bif",
    "bmd",
    "bnd",
    "bob",
    "brl",
    "bsd",
    "bwp",
    "byn",
    "bzd",
    "cad",
    "cdf",
    "chf",
    "clp",
    "cny",
    "cop",
    "crc",
    "cve",
    "czk",
    "djf",
    "dkk",
    "dop",
    "dzd",
    "egp",
    "etb",
    "eur",
    "fjd",
    "fkp",
    "gbp",
    "gel",
    "gip",
    "gmd",
    "gnf",
    "gtq",
    "gyd",
    "hkd",
    "hnl",
    "htg",
    "huf",
    "idr",
    "ils",
    "inr",
    "isk",
    "jmd",
    "jod",
    "jpy",
    "kes",
    "kgs",
    "khr",
    "kmf",
    "krw",
    "kwd",
    "kyd",
    "kzt",
    "lak",
    "lbp",
    "lkr",
    "lrd",
    "lsl",
    "mad",
    "mdl",
    "mga",
    "mkd",
    "mmk",
    "mnt",
    "mop",
    "mur",
    "mvr",
    "mwk",
    "mxn",
    "myr",
    "mzn",
    "nad",
    "ngn",
    "nio",
    "nok",
    "npr",
    "nzd",
    "omr",
    "pab",
    "pen",
    "pgk",
    "php",
    "pkr",
    "pln",
    "pyg",
    "qar",
    "ron",
    "rsd",
    "rub",
    "rwf",
    "sar",
    "sbd",
    "scr",
    "sek",
    "sgd",
    "shp",
    "sle",
    "sos",
    "srd",
    "std",
    "szl",
    "thb",
    "tjs",
    "tnd",
    "top",
    "try",
    "ttd",
    "twd",
    "tzs",
    "uah",
    "ugx",
    "uyu",
    "uzs",
    "vnd",
    "vuv",
    "wst",
    "xaf",
    "xcd",
    "xof",
    "xpf",
    "yer",
    "zar",
    "zmw",
}
ZERO_DECIMAL = {
    "bif",
    "clp",
    "djf",
    "gnf",
    "jpy",
    "kmf",
    "krw",
    "mga",
    "pyg",
    "rwf",
    "ugx",
    "vnd",
    "vuv",
    "xaf",
    "xof",
    "xpf",
}
MINIMUM_AMOUNT = {
    "usd": 50,
    "cad": 50,
    "eur": 50,
    "aud": 50,
    "nzd": 50,
    "chf": 50,
    "sgd": 50,
    "gbp": 30,
    "jpy": 50,
    "dkk": 250,
    "nok": 300,
    "sek": 300,
    "mxn": 1000,
    "hkd": 400,
    "brl": 50,
}


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., dict[str, Any]]
    params: str | None
    publishable: bool = False


ROUTES: list[Route] = []


def route(method: str, path: str, params: str | None, publishable: bool = False):
    rx = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")

    def deco(fn):
        entry = Route(method, rx, fn, params, publishable)
        if "{" in path:
            ROUTES.append(entry)
        else:  # fixed paths (`/v1/customers/search`) win over `/v1/customers/{id}`
            ROUTES.insert(0, entry)
        return fn

    return deco


# -- shared helpers ---------------------------------------------------------------------------
def currency_param(ctx: Ctx, value: Any, param: str = "currency") -> str:
    cur = as_str(value, param)
    if not cur:
        raise invalid_request(
            f"Missing required param: {param}.", param=param, code="parameter_missing"
        )
    cur = cur.lower()
    if cur not in CURRENCIES:
        raise invalid_request(
            f"Invalid currency: {cur[:20]}. Stripe currently supports these currencies: "
            + ", ".join(sorted(CURRENCIES)),
            param=param,
            code="parameter_invalid",
        )
    return cur


def amount_param(value: Any, param: str, currency: str | None, *, charge: bool = True) -> int:
    amount = as_int(value, param)
    if amount is None:
        raise invalid_request(
            f"Missing required param: {param}.", param=param, code="parameter_missing"
        )
    if amount <= 0 if charge else amount < 0:
        raise invalid_request(
            "This value must be greater than or equal to 1."
            if charge
            else "This value must be greater than or equal to 0.",
            param=param,
            code="parameter_invalid_integer",
        )
    if amount > 99999999:
        raise invalid_request(
            "Amount must be no more than $999,999.99", param=param, code="amount_too_large"
        )
    if charge and currency and amount < MINIMUM_AMOUNT.get(currency, 1):
        minimum = MINIMUM_AMOUNT[currency]
        shown = minimum if currency in ZERO_DECIMAL else f"{minimum / 100:.2f}"
        raise invalid_request(
            f"Amount must be at least {shown} {currency}", param=param, code="amount_too_small"
        )
    return amount


def expandable_id(v: Any) -> Any:
    return v["id"] if isinstance(v, dict) and "id" in v else v


def set_simple(ctx: Ctx, obj: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Copy plain string params; returns previous values of changed fields."""
    prev: dict[str, Any] = {}
    for n in names:
        if n in ctx.params:
            v = ctx.params[n]
            v = None if v == "" else v
            if obj.get(n) != v:
                prev[n] = obj.get(n)
            obj[n] = v
    return prev


def update_metadata(ctx: Ctx, obj: dict[str, Any], prev: dict[str, Any]) -> None:
    if "metadata" in ctx.params:
        new = merge_metadata(obj.get("metadata"), ctx.params["metadata"])
        if new != obj.get("metadata"):
            prev["metadata"] = obj.get("metadata")
        obj["metadata"] = new


def deleted(obj: dict[str, Any]) -> dict[str, Any]:
    return {"id": obj["id"], "object": obj["object"], "deleted": True}


def list_filter(ctx: Ctx, **fields: str) -> Callable[[dict[str, Any]], bool]:
    want = {k: ctx.params[p] for k, p in fields.items() if ctx.params.get(p) not in (None, "")}

    def ok(o: dict[str, Any]) -> bool:
        for k, v in want.items():
            ov = o.get(k)
            if isinstance(ov, bool):
                ov = "true" if ov else "false"
            if str(expandable_id(ov)) != str(v):
                return False
        return True

    return ok


# ============================================================================================
# Customers
# ============================================================================================
def _address(v: Any, param: str) -> dict[str, Any] | None:
    if v in (None, ""):
        return None
    d = as_dict(v, param)
    return {k: d.get(k) for k in ("city", "country", "line1", "line2", "postal_code", "state")}


def _invoice_settings(ctx: Ctx, current: dict[str, Any] | None, cus_id: str) -> dict[str, Any]:
    cur = current or {
        "custom_fields": None,
        "default_payment_method": None,
        "footer": None,
        "rendering_options": None,
    }
    upd = ctx.params.get("invoice_settings")
    if upd in (None, ""):
        return cur
    upd = as_dict(upd, "invoice_settings")
    if "default_payment_method" in upd:
        pm_id = upd["default_payment_method"]
        if pm_id:
            pm = attached_test_pm(ctx, pm_id, cus_id) or resolve_payment_method(
                ctx, pm_id, "invoice_settings[default_payment_method]"
            )
            if pm.get("customer") != cus_id:
                raise invalid_request(
                    f"No such PaymentMethod: '{pm_id}'; It's possible this PaymentMethod "
                    "exists on one of your connected accounts, in which case you should retry "
                    "this request on that connected account. The payment method must be "
                    "attached to the customer.",
                    param="invoice_settings[default_payment_method]",
                    code="resource_missing",
                )
            cur["default_payment_method"] = pm["id"]
        else:
            cur["default_payment_method"] = None
    if "footer" in upd:
        cur["footer"] = upd["footer"] or None
    return cur


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def _check_email(ctx: Ctx, param: str = "email") -> None:
    value = ctx.p(param)
    if value not in (None, "") and not _EMAIL.match(str(value)):
        raise invalid_request(
            f"Invalid email address: {str(value)[:80]}", param=param, code="email_invalid"
        )


@route("POST", "/v1/customers", "CustomerCreateParams")
def customer_create(ctx: Ctx) -> dict[str, Any]:
    _check_email(ctx)
    c = blank("customer")
    c.update(
        id=new_id("cus", 14),
        object="customer",
        address=_address(ctx.p("address"), "address"),
        balance=as_int(ctx.p("balance"), "balance") or 0,
        created=now(),
        currency=None,
        default_source=None,
        delinquent=False,
        description=ctx.p("description") or None,
        discount=None,
        email=ctx.p("email") or None,
        invoice_prefix=rand(8).upper(),
        livemode=False,
        metadata=merge_metadata({}, ctx.p("metadata")),
        name=ctx.p("name") or None,
        next_invoice_sequence=1,
        phone=ctx.p("phone") or None,
        preferred_locales=as_list(ctx.p("preferred_locales"), "preferred_locales"),
        shipping=None,
        tax_exempt=ctx.p("tax_exempt") or "none",
        test_clock=None,
    )
    if "customer_account" in c:
        c["customer_account"] = None
    if ctx.p("test_clock"):
        clock = load(
            ctx, ctx.p("test_clock"), "test_helpers.test_clock", "test clock", "test_clock"
        )
        c["test_clock"] = clock["id"]
        c["created"] = clock["frozen_time"]
    if ctx.p("shipping"):
        c["shipping"] = as_dict(ctx.p("shipping"), "shipping")
    # the default payment method may name the card attached just below
    c["invoice_settings"] = {
        "custom_fields": None,
        "default_payment_method": None,
        "footer": None,
        "rendering_options": None,
    }
    ctx.store.put(c)
    pm_id = ctx.p("payment_method")
    if pm_id:
        pm = resolve_payment_method(ctx, pm_id, "payment_method")
        _attach(ctx, pm, c)
    if ctx.p("invoice_settings"):
        c["invoice_settings"] = _invoice_settings(ctx, None, c["id"])
        ctx.store.put(c)
    emit(ctx, "customer.created", c)
    return render(c)


@route("GET", "/v1/customers/{id}", "CustomerRetrieveParams")
def customer_retrieve(ctx: Ctx, id: str) -> dict[str, Any]:
    obj = ctx.store.get(id)
    if obj and obj.get("object") == "customer" and obj.get("_deleted"):
        return deleted(obj)
    return render(load(ctx, id, "customer"))


@route("POST", "/v1/customers/{id}", "CustomerUpdateParams")
def customer_update(ctx: Ctx, id: str) -> dict[str, Any]:
    c = load(ctx, id, "customer")
    _check_email(ctx)
    prev = set_simple(ctx, c, ["description", "email", "name", "phone", "tax_exempt"])
    update_metadata(ctx, c, prev)
    if "address" in ctx.params:
        prev["address"] = c["address"]
        c["address"] = _address(ctx.p("address"), "address")
    if "shipping" in ctx.params:
        prev["shipping"] = c["shipping"]
        c["shipping"] = as_dict(ctx.p("shipping"), "shipping") or None
    if "invoice_settings" in ctx.params:
        before = dict(c["invoice_settings"])
        c["invoice_settings"] = _invoice_settings(ctx, dict(c["invoice_settings"]), c["id"])
        if before != c["invoice_settings"]:
            prev["invoice_settings"] = before
    if "balance" in ctx.params:
        prev["balance"] = c["balance"]
        c["balance"] = as_int(ctx.p("balance"), "balance") or 0
    ctx.store.put(c)
    if prev:
        emit(ctx, "customer.updated", c, prev)
    return render(c)


@route("DELETE", "/v1/customers/{id}", "CustomerDeleteParams")
def customer_delete(ctx: Ctx, id: str) -> dict[str, Any]:
    c = load(ctx, id, "customer")
    delete_customer(ctx, c)
    return deleted(c)


def delete_customer(ctx: Ctx, c: dict[str, Any]) -> None:
    """Deleting a customer ends its subscriptions at once."""
    from .billing import cancel_customer_subscriptions  # billing builds on this module

    cancel_customer_subscriptions(ctx, c["id"])
    c["_deleted"] = True
    ctx.store.put(c)
    emit(ctx, "customer.deleted", c)


@includable("customer", "tax_ids")
def customer_tax_ids(ctx: Ctx, cus: dict[str, Any]) -> dict[str, Any]:
    """The sandbox keeps no tax ids: the list Stripe gives a customer without any."""
    return {
        "object": "list",
        "data": [],
        "has_more": False,
        "url": f"/v1/customers/{cus['id']}/tax_ids",
    }


@route("GET", "/v1/customers", "CustomerListParams")
def customer_list(ctx: Ctx) -> dict[str, Any]:
    return paginate(
        ctx, "customer", "/v1/customers", list_filter(ctx, email="email", test_clock="test_clock")
    )


@route("GET", "/v1/customers/{id}/payment_methods", "CustomerListPaymentMethodsParams")
def customer_list_pms(ctx: Ctx, id: str) -> dict[str, Any]:
    load(ctx, id, "customer")
    f = list_filter(ctx, type="type")
    return paginate(
        ctx,
        "payment_method",
        f"/v1/customers/{id}/payment_methods",
        lambda o: o.get("customer") == id and f(o),
    )


# ============================================================================================
# Products and prices
# ============================================================================================
@route("POST", "/v1/products", "ProductCreateParams")
def product_create(ctx: Ctx) -> dict[str, Any]:
    name = ctx.require("name")
    pid = ctx.p("id") or new_id("prod", 14)
    if ctx.store.get(pid):
        raise invalid_request("Product already exists.", param="id", code="resource_already_exists")
    p = blank("product")
    t = now()
    p.update(
        id=pid,
        object="product",
        active=as_bool(ctx.p("active"), "active") is not False,
        created=t,
        updated=t,
        default_price=None,
        description=ctx.p("description") or None,
        images=as_list(ctx.p("images"), "images"),
        livemode=False,
        marketing_features=[
            {"name": f.get("name")}
            for f in as_list(ctx.p("marketing_features"), "marketing_features")
            if isinstance(f, dict)
        ],
        metadata=merge_metadata({}, ctx.p("metadata")),
        name=as_str(name, "name"),
        package_dimensions=None,
        shippable=as_bool(ctx.p("shippable"), "shippable"),
        statement_descriptor=ctx.p("statement_descriptor") or None,
        tax_code=ctx.p("tax_code") or None,
        unit_label=ctx.p("unit_label") or None,
        url=ctx.p("url") or None,
        type="service",
    )
    ctx.store.put(p)
    emit(ctx, "product.created", p)
    dpd = ctx.p("default_price_data")
    if dpd:
        dpd = as_dict(dpd, "default_price_data")
        price = _make_price(ctx, dpd, p["id"], "default_price_data")
        p["default_price"] = price["id"]
        ctx.store.put(p)
    return render(p)


@route("GET", "/v1/products/{id}", "ProductRetrieveParams")
def product_retrieve(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(load(ctx, id, "product"))


@route("POST", "/v1/products/{id}", "ProductUpdateParams")
def product_update(ctx: Ctx, id: str) -> dict[str, Any]:
    p = load(ctx, id, "product")
    prev = set_simple(
        ctx, p, ["name", "description", "statement_descriptor", "tax_code", "unit_label", "url"]
    )
    update_metadata(ctx, p, prev)
    if "active" in ctx.params:
        a = as_bool(ctx.p("active"), "active")
        if a is not None and a != p["active"]:
            prev["active"] = p["active"]
            p["active"] = a
    if "images" in ctx.params:
        prev["images"] = p["images"]
        p["images"] = as_list(ctx.p("images"), "images")
    if "default_price" in ctx.params:
        dp = ctx.p("default_price") or None
        if dp:
            price = load(ctx, dp, "price", param="default_price")
            if price["product"] != p["id"]:
                raise invalid_request(
                    "The price must belong to this product.", param="default_price"
                )
        prev["default_price"] = p["default_price"]
        p["default_price"] = dp
    if prev:
        p["updated"] = now()
    ctx.store.put(p)
    if prev:
        emit(ctx, "product.updated", p, prev)
    return render(p)


@route("DELETE", "/v1/products/{id}", "ProductDeleteParams")
def product_delete(ctx: Ctx, id: str) -> dict[str, Any]:
    p = load(ctx, id, "product")
    if any(pr["product"] == id for pr in ctx.store.all_of("price")):
        raise invalid_request(
            "This product cannot be deleted because it has one or more user-created prices.",
        )
    p["_deleted"] = True
    ctx.store.put(p)
    emit(ctx, "product.deleted", p)
    return deleted(p)


@route("GET", "/v1/products", "ProductListParams")
def product_list(ctx: Ctx) -> dict[str, Any]:
    ids = ctx.p("ids")
    f = list_filter(ctx, active="active", shippable="shippable", url="url")
    if ids:
        wanted = set(as_list(ids, "ids"))
        return paginate(ctx, "product", "/v1/products", lambda o: o["id"] in wanted and f(o))
    return paginate(ctx, "product", "/v1/products", f)


def _recurring(v: Any, param: str) -> dict[str, Any] | None:
    if v in (None, ""):
        return None
    d = as_dict(v, param)
    interval = d.get("interval")
    if interval not in ("day", "week", "month", "year"):
        raise invalid_request(
            "Invalid interval: must be one of day, month, week, or year",
            param=f"{param}[interval]",
        )
    count = as_int(d.get("interval_count"), f"{param}[interval_count]") or 1
    limits = {"day": 1095, "week": 156, "month": 36, "year": 3}
    if count < 1 or count > limits[interval]:
        raise invalid_request(
            "Invalid interval_count: the maximum billing frequency is 3 years.",
            param=f"{param}[interval_count]",
        )
    return {
        "interval": interval,
        "interval_count": count,
        "meter": d.get("meter"),
        "usage_type": d.get("usage_type") or "licensed",
        "trial_period_days": as_int(d.get("trial_period_days"), f"{param}[trial_period_days]"),
    }


def _make_price(ctx: Ctx, d: dict[str, Any], product_id: str, prefix: str = "") -> dict[str, Any]:
    def pn(n: str) -> str:
        return f"{prefix}[{n}]" if prefix else n

    currency = currency_param(ctx, d.get("currency"), pn("currency"))
    ua = d.get("unit_amount")
    uad = d.get("unit_amount_decimal")
    if ua in (None, "") and uad in (None, "") and not d.get("custom_unit_amount"):
        raise invalid_request(
            f"Missing required param: {pn('unit_amount')}.",
            param=pn("unit_amount"),
            code="parameter_missing",
        )
    unit_amount: int | None
    if ua not in (None, ""):
        unit_amount = amount_param(ua, pn("unit_amount"), currency, charge=False)
    elif uad not in (None, ""):
        dec = as_float(uad, pn("unit_amount_decimal")) or 0
        # Stripe fills unit_amount only when the decimal is a whole number of cents.
        unit_amount = int(dec) if dec == int(dec) else None
    else:
        unit_amount = None
    recurring = _recurring(d.get("recurring"), pn("recurring"))
    lookup_key = d.get("lookup_key") or None
    if lookup_key:
        _claim_lookup_key(
            ctx, lookup_key, as_bool(d.get("transfer_lookup_key"), "transfer_lookup_key")
        )
    price = blank("price")
    price.update(
        id=new_id("price"),
        object="price",
        active=as_bool(d.get("active"), pn("active")) is not False,
        billing_scheme=d.get("billing_scheme") or "per_unit",
        created=now(),
        currency=currency,
        custom_unit_amount=None,
        livemode=False,
        lookup_key=lookup_key,
        metadata=merge_metadata({}, d.get("metadata")),
        nickname=d.get("nickname") or None,
        product=product_id,
        recurring=recurring,
        tax_behavior=d.get("tax_behavior") or "unspecified",
        tiers_mode=None,
        transform_quantity=None,
        type="recurring" if recurring else "one_time",
        unit_amount=unit_amount,
        unit_amount_decimal=str(uad) if uad not in (None, "") else _decimal_of(unit_amount),
    )
    ctx.store.put(price)
    emit(ctx, "price.created", price)
    return price


def _decimal_of(unit_amount: int | None) -> str | None:
    return None if unit_amount is None else str(unit_amount)


def price_amount(price: dict[str, Any], quantity: int = 1) -> int:
    """What `quantity` units cost, in the currency's smallest unit (sub-cent prices round)."""
    if price.get("unit_amount") is not None:
        return int(price["unit_amount"]) * quantity
    return round(Decimal(str(price.get("unit_amount_decimal") or "0")) * quantity)


def _claim_lookup_key(ctx: Ctx, key: str, transfer: bool | None) -> None:
    for other in ctx.store.all_of("price"):
        if other.get("lookup_key") == key:
            if not transfer:
                raise invalid_request(
                    f"A price (`{other['id']}`) already uses that lookup key.",
                    param="lookup_key",
                )
            other["lookup_key"] = None
            ctx.store.put(other)
            emit(ctx, "price.updated", other, {"lookup_key": key})


@route("POST", "/v1/prices", "PriceCreateParams")
def price_create(ctx: Ctx) -> dict[str, Any]:
    product_id = ctx.p("product")
    if product_id:
        load(ctx, product_id, "product", param="product")
    elif ctx.p("product_data"):
        pd = as_dict(ctx.p("product_data"), "product_data")
        if not pd.get("name"):
            raise invalid_request(
                "Missing required param: product_data[name].",
                param="product_data[name]",
                code="parameter_missing",
            )
        saved = ctx.params
        ctx.params = {
            "name": pd["name"],
            "metadata": pd.get("metadata"),
            "active": pd.get("active"),
            "unit_label": pd.get("unit_label"),
            "statement_descriptor": pd.get("statement_descriptor"),
            "tax_code": pd.get("tax_code"),
        }
        ctx.params = {k: v for k, v in ctx.params.items() if v is not None}
        try:
            product_id = product_create(ctx)["id"]
        finally:
            ctx.params = saved
    else:
        raise invalid_request(
            "Missing required param: product.", param="product", code="parameter_missing"
        )
    return render(_make_price(ctx, ctx.params, product_id))


@route("GET", "/v1/prices/{id}", "PriceRetrieveParams")
def price_retrieve(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(load(ctx, id, "price"))


@route("POST", "/v1/prices/{id}", "PriceUpdateParams")
def price_update(ctx: Ctx, id: str) -> dict[str, Any]:
    p = load(ctx, id, "price")
    prev = set_simple(ctx, p, ["nickname"])
    update_metadata(ctx, p, prev)
    if "active" in ctx.params:
        a = as_bool(ctx.p("active"), "active")
        if a is False and p["active"] and p.get("product"):
            owner = load(ctx, p["product"], "product")
            if owner.get("default_price") == p["id"]:
                # As Stripe: a product's default price stays active until another price
                # (or none) is the default.
                raise invalid_request(
                    "This price cannot be archived because it is the default price of its product.",
                    param="active",
                )
        if a is not None and a != p["active"]:
            prev["active"] = p["active"]
            p["active"] = a
    if "lookup_key" in ctx.params:
        lk = ctx.p("lookup_key") or None
        if lk != p["lookup_key"]:
            if lk:
                _claim_lookup_key(ctx, lk, as_bool(ctx.p("transfer_lookup_key"), "x"))
            prev["lookup_key"] = p["lookup_key"]
            p["lookup_key"] = lk
    if "tax_behavior" in ctx.params:
        prev["tax_behavior"] = p["tax_behavior"]
        p["tax_behavior"] = ctx.p("tax_behavior")
    ctx.store.put(p)
    if prev:
        emit(ctx, "price.updated", p, prev)
    return render(p)


@route("GET", "/v1/prices", "PriceListParams")
def price_list(ctx: Ctx) -> dict[str, Any]:
    f = list_filter(ctx, product="product", active="active", type="type", currency="currency")
    lks = ctx.p("lookup_keys")
    wanted = set(as_list(lks, "lookup_keys")) if lks else None
    rec = as_dict(ctx.p("recurring"), "recurring")

    def ok(o: dict[str, Any]) -> bool:
        if not f(o):
            return False
        if wanted is not None and o.get("lookup_key") not in wanted:
            return False
        return not (
            rec.get("interval") and (o.get("recurring") or {}).get("interval") != rec["interval"]
        )

    return paginate(ctx, "price", "/v1/prices", ok)


# ============================================================================================
# Payment methods
# ============================================================================================
def _pm_from_card(
    ctx: Ctx, card: Card, exp_month: int, exp_year: int, billing: dict[str, Any] | None = None
) -> dict[str, Any]:
    pm = blank("payment_method")
    pm.update(
        id=new_id("pm"),
        object="payment_method",
        allow_redisplay="unspecified",
        billing_details=_billing_details(billing),
        card={
            "brand": card.brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass",
            },
            "country": card.country,
            "display_brand": card.brand,
            "exp_month": exp_month,
            "exp_year": exp_year,
            "fingerprint": card.fingerprint,
            "funding": card.funding,
            "generated_from": None,
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        created=now(),
        customer=None,
        livemode=False,
        metadata={},
        type="card",
        _number=card.number,
    )
    if "customer_account" in pm:
        pm["customer_account"] = None
    return pm


def _billing_details(b: dict[str, Any] | None) -> dict[str, Any]:
    b = b or {}
    return {
        "address": _address(b.get("address"), "billing_details[address]")
        or dict.fromkeys(("city", "country", "line1", "line2", "postal_code", "state")),
        "email": b.get("email") or None,
        "name": b.get("name") or None,
        "phone": b.get("phone") or None,
        "tax_id": b.get("tax_id") or None,
    }


def card_of(pm: dict[str, Any]) -> Card:
    return card_for_number(pm.get("_number", "4242424242424242")) or Card(pm["_number"], "visa")


def create_card_pm(ctx: Ctx, data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    def pn(n: str) -> str:
        return f"{prefix}{n}"

    ptype = data.get("type")
    if ptype in (None, ""):
        raise invalid_request(
            f"Missing required param: {pn('type')}.", param=pn("type"), code="parameter_missing"
        )
    if ptype != "card":
        raise invalid_request(
            f"The payment method type `{ptype}` is not supported by the sandbox; use `card`.",
            param=pn("type"),
            code="payment_method_invalid_parameter",
        )
    card_params = data.get("card")
    if not isinstance(card_params, dict):
        raise invalid_request(
            f"Missing required param: {pn('card')}.", param=pn("card"), code="parameter_missing"
        )
    token = card_params.get("token")
    if token:
        number = TEST_TOKENS.get(token)
        if number is None:
            raise invalid_request(
                f"No such token: '{token}'",
                param=pn("card[token]"),
                code="resource_missing",
            )
        card = card_for_number(number)
        exp_month, exp_year = 12, now() // 31557600 + 1970 + 3
    else:
        number = str(card_params.get("number") or "").replace(" ", "")
        if not number:
            raise invalid_request(
                f"Missing required param: {pn('card[number]')}.",
                param=pn("card[number]"),
                code="parameter_missing",
            )
        card = card_for_number(number)
        if card is None:
            raise StripeError(
                402,
                "card_error",
                "Your card number is incorrect.",
                code="incorrect_number",
                param=pn("card[number]"),
            )
        given_month = as_int(card_params.get("exp_month"), pn("card[exp_month]"))
        given_year = as_int(card_params.get("exp_year"), pn("card[exp_year]"))
        if given_month is None:
            raise invalid_request(
                f"Missing required param: {pn('card[exp_month]')}.",
                param=pn("card[exp_month]"),
                code="parameter_missing",
            )
        if given_year is None:
            raise invalid_request(
                f"Missing required param: {pn('card[exp_year]')}.",
                param=pn("card[exp_year]"),
                code="parameter_missing",
            )
        exp_month, exp_year = given_month, given_year
        if exp_year < 100:
            exp_year += 2000
        if not 1 <= exp_month <= 12:
            raise StripeError(
                402,
                "card_error",
                "Your card's expiration month is invalid.",
                code="invalid_expiry_month",
                param=pn("card[exp_month]"),
            )
        import datetime as _dt

        today = _dt.datetime.now(_dt.UTC)
        if (
            exp_year < today.year
            or (exp_year == today.year and exp_month < today.month)
            or exp_year > today.year + 50
        ):
            raise StripeError(
                402,
                "card_error",
                "Your card's expiration year is invalid.",
                code="invalid_expiry_year",
                param=pn("card[exp_year]"),
            )
        cvc = card_params.get("cvc")
        if cvc not in (None, "") and (not str(cvc).isdigit() or len(str(cvc)) not in (3, 4)):
            raise StripeError(
                402,
                "card_error",
                "Your card's security code is invalid.",
                code="invalid_cvc",
                param=pn("card[cvc]"),
            )
    assert card is not None
    pm = _pm_from_card(
        ctx, card, exp_month, exp_year, as_dict(data.get("billing_details"), pn("billing_details"))
    )
    pm["metadata"] = merge_metadata({}, data.get("metadata"))
    if data.get("allow_redisplay"):
        pm["allow_redisplay"] = data["allow_redisplay"]
    ctx.store.put(pm)
    return pm


def attached_test_pm(ctx: Ctx, pm_id: Any, cus_id: str | None) -> dict[str, Any] | None:
    """The customer's PaymentMethod made from a test id (``pm_card_visa``…), if it has one.

    Stripe's documented ``customers.create(payment_method="pm_card_visa",
    invoice_settings={"default_payment_method": "pm_card_visa"})`` names the card it has just
    attached; the newest attached card made from that test id is the one meant."""
    if not cus_id or pm_id not in TEST_PAYMENT_METHODS:
        return None
    found = [
        pm
        for pm in ctx.store.all_of("payment_method")
        if pm.get("customer") == cus_id and pm.get("_test_id") == pm_id
    ]
    return found[0] if found else None  # newest first


def resolve_payment_method(ctx: Ctx, pm_id: Any, param: str) -> dict[str, Any]:
    """Load a PaymentMethod; Stripe's test ids (pm_card_visa, ...) mint a fresh one."""
    pm_id = as_str(pm_id, param) or ""
    if pm_id in TEST_PAYMENT_METHODS:
        card = card_for_number(TEST_PAYMENT_METHODS[pm_id])
        assert card is not None
        pm = _pm_from_card(ctx, card, 12, now() // 31557600 + 1970 + 3)
        pm["_test_id"] = pm_id
        ctx.store.put(pm)
        return pm
    obj = ctx.store.get(pm_id) if pm_id else None
    if obj is None or obj.get("object") != "payment_method":
        raise missing("PaymentMethod", pm_id, param)
    return obj


@route("POST", "/v1/payment_methods", "PaymentMethodCreateParams", publishable=True)
def payment_method_create(ctx: Ctx) -> dict[str, Any]:
    if ctx.p("payment_method"):  # cloning onto a connected account is not supported
        return render(resolve_payment_method(ctx, ctx.p("payment_method"), "payment_method"))
    pm = create_card_pm(ctx, ctx.params)
    return render(pm)


@route("GET", "/v1/payment_methods/{id}", "PaymentMethodRetrieveParams")
def payment_method_retrieve(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(resolve_payment_method(ctx, id, "id"))


@route("POST", "/v1/payment_methods/{id}", "PaymentMethodUpdateParams")
def payment_method_update(ctx: Ctx, id: str) -> dict[str, Any]:
    pm = resolve_payment_method(ctx, id, "id")
    prev: dict[str, Any] = {}
    update_metadata(ctx, pm, prev)
    if "billing_details" in ctx.params:
        prev["billing_details"] = pm["billing_details"]
        bd = as_dict(ctx.p("billing_details"), "billing_details")
        merged = dict(pm["billing_details"])
        for k, v in bd.items():
            merged[k] = _address(v, "billing_details[address]") if k == "address" else (v or None)
        pm["billing_details"] = merged
    if "card" in ctx.params:
        cd = as_dict(ctx.p("card"), "card")
        for k in ("exp_month", "exp_year"):
            if k in cd:
                pm["card"][k] = as_int(cd[k], f"card[{k}]")
    if "allow_redisplay" in ctx.params:
        pm["allow_redisplay"] = ctx.p("allow_redisplay")
    ctx.store.put(pm)
    if pm.get("customer") and prev:
        emit(ctx, "payment_method.updated", pm, prev)
    return render(pm)


def _attach(ctx: Ctx, pm: dict[str, Any], customer: dict[str, Any]) -> None:
    if pm.get("customer") == customer["id"]:
        return
    if pm.get("customer"):
        raise invalid_request(
            "The payment method you provided has already been attached to a customer.",
            param="payment_method",
        )
    if pm.get("_used") and not pm.get("_reusable"):
        raise invalid_request(
            "This PaymentMethod was previously used without being attached to a Customer or "
            "was detached from a Customer, and may not be used again.",
            param="payment_method",
        )
    card = card_of(pm)
    if card.behavior == "decline" and card.attach_declines:
        code, message = DECLINES[card.decline_code or "generic_decline"]
        raise StripeError(
            402, "card_error", message, code=code, decline_code=card.decline_code, param=""
        )
    pm["customer"] = customer["id"]
    ctx.store.put(pm)
    emit(ctx, "payment_method.attached", pm)


@route("POST", "/v1/payment_methods/{id}/attach", "PaymentMethodAttachParams")
def payment_method_attach(ctx: Ctx, id: str) -> dict[str, Any]:
    pm = resolve_payment_method(ctx, id, "id")
    cus = load(ctx, ctx.require("customer"), "customer", param="customer")
    _attach(ctx, pm, cus)
    return render(pm)


@route("POST", "/v1/payment_methods/{id}/detach", "PaymentMethodDetachParams")
def payment_method_detach(ctx: Ctx, id: str) -> dict[str, Any]:
    pm = resolve_payment_method(ctx, id, "id")
    if not pm.get("customer"):
        raise invalid_request(
            "The payment method you provided is not attached to a customer so detachment "
            "is impossible.",
            param="payment_method",
        )
    cus = ctx.store.get(pm["customer"])
    prev = {"customer": pm["customer"]}
    pm["customer"] = None
    pm["_used"] = True
    ctx.store.put(pm)
    if cus and (cus.get("invoice_settings") or {}).get("default_payment_method") == pm["id"]:
        cus["invoice_settings"]["default_payment_method"] = None
        ctx.store.put(cus)
    emit(ctx, "payment_method.detached", pm, prev)
    return render(pm)


@route("GET", "/v1/payment_methods", "PaymentMethodListParams")
def payment_method_list(ctx: Ctx) -> dict[str, Any]:
    cus = ctx.p("customer")
    if cus:
        load(ctx, cus, "customer", param="customer")
    f = list_filter(ctx, type="type")
    return paginate(
        ctx,
        "payment_method",
        "/v1/payment_methods",
        lambda o: (o.get("customer") == cus if cus else bool(o.get("customer"))) and f(o),
    )
