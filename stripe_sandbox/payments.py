"""PaymentIntents, Charges, Refunds, balance transactions."""

from __future__ import annotations

from typing import Any

from .cards import DECLINES, Card
from .core import (
    Ctx,
    as_bool,
    as_dict,
    as_int,
    as_list,
    as_str,
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
from .errors import StripeError, invalid_request, unexpected_state
from .resources import (
    _attach,
    amount_param,
    card_of,
    create_card_pm,
    currency_param,
    list_filter,
    resolve_payment_method,
    route,
    set_simple,
    update_metadata,
)

# billing registers callbacks here: invoice payments follow their PaymentIntent
PI_HOOKS: dict[str, list[Any]] = {"succeeded": [], "failed": []}


def run_hooks(ctx: Ctx, kind: str, pi: dict[str, Any]) -> None:
    if pi.get("_invoice"):
        for hook in PI_HOOKS[kind]:
            hook(ctx, pi)


CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)
CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")


def _pi_types(ctx: Ctx) -> tuple[list[str], dict[str, Any] | None]:
    types = as_list(ctx.p("allowed_payment_method_types"), "allowed_payment_method_types")
    apm = ctx.p("automatic_payment_methods")
    if types:
        for other in (
            "automatic_payment_methods",
            "excluded_payment_method_types",
            "payment_method_configuration",
        ):
            if ctx.p(other) not in (None, ""):
                raise invalid_request(
                    "You may only specify one of these parameters: "
                    f"allowed_payment_method_types, {other}.",
                    param=other,
                )
        # Stripe silently drops the types that cannot be used; the sandbox only has cards.
        if "card" not in types:
            raise invalid_request(
                "None of the payment method types in `allowed_payment_method_types` can be used: "
                "the sandbox only supports `card`.",
                param="allowed_payment_method_types",
                code="payment_method_invalid_parameter",
            )
        return ["card"], None
    if apm not in (None, ""):
        apm = as_dict(apm, "automatic_payment_methods")
        enabled = as_bool(apm.get("enabled"), "automatic_payment_methods[enabled]")
        if enabled is None:
            raise invalid_request(
                "Missing required param: automatic_payment_methods[enabled].",
                param="automatic_payment_methods[enabled]",
                code="parameter_missing",
            )
        if enabled:
            return ["card"], {
                "allow_redirects": apm.get("allow_redirects") or "always",
                "enabled": True,
            }
        return ["card"], None
    return ["card"], {"allow_redirects": "always", "enabled": True}


def client_secret_ok(pi: dict[str, Any], secret: Any) -> bool:
    return isinstance(secret, str) and secret == pi.get("client_secret")


@route("POST", "/v1/payment_intents", "PaymentIntentCreateParams")
def pi_create(ctx: Ctx) -> dict[str, Any]:
    currency = currency_param(ctx, ctx.p("currency"))
    amount = amount_param(ctx.p("amount"), "amount", currency)
    types, apm = _pi_types(ctx)
    customer = ctx.p("customer") or None
    if customer:
        load(ctx, customer, "customer", param="customer")
    # Stripe's default since 2024-04-10; `automatic` and `automatic_async` both capture at once
    capture = ctx.p("capture_method") or "automatic_async"
    pi = blank("payment_intent")
    pid = new_id("pi")
    pi.update(
        id=pid,
        object="payment_intent",
        amount=amount,
        amount_capturable=0,
        amount_details={"tip": {}},
        amount_received=0,
        application=None,
        application_fee_amount=None,
        automatic_payment_methods=apm,
        canceled_at=None,
        cancellation_reason=None,
        capture_method=capture,
        client_secret=f"{pid}_secret_{rand(25)}",
        confirmation_method=ctx.p("confirmation_method") or "automatic",
        created=now(),
        currency=currency,
        customer=customer,
        description=ctx.p("description") or None,
        last_payment_error=None,
        latest_charge=None,
        livemode=False,
        metadata=merge_metadata({}, ctx.p("metadata")),
        next_action=None,
        on_behalf_of=None,
        payment_method=None,
        payment_method_configuration_details=None,
        payment_method_options={
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        payment_method_types=types,
        processing=None,
        receipt_email=ctx.p("receipt_email") or None,
        review=None,
        setup_future_usage=ctx.p("setup_future_usage") or None,
        shipping=ctx.p("shipping") or None,
        statement_descriptor=ctx.p("statement_descriptor") or None,
        statement_descriptor_suffix=ctx.p("statement_descriptor_suffix") or None,
        status="requires_payment_method",
        transfer_data=None,
        transfer_group=ctx.p("transfer_group") or None,
        source=None,
        excluded_payment_method_types=None,
        customer_account=None,
        managed_payments=None,
    )
    for k in ("customer_account", "managed_payments", "source", "excluded_payment_method_types"):
        if k not in pi:
            pass
    if ctx.p("payment_method"):
        pm = resolve_payment_method(ctx, ctx.p("payment_method"), "payment_method")
        pi["payment_method"] = pm["id"]
        pi["status"] = "requires_confirmation"
    elif ctx.p("payment_method_data"):
        pm = create_card_pm(
            ctx, as_dict(ctx.p("payment_method_data"), "payment_method_data"), "payment_method_data"
        )
        pi["payment_method"] = pm["id"]
        pi["status"] = "requires_confirmation"
    ctx.store.put(pi)
    emit(ctx, "payment_intent.created", pi)
    if as_bool(ctx.p("confirm"), "confirm"):
        _confirm(ctx, pi, ctx.params)
    elif ctx.p("off_session") not in (None, ""):
        raise invalid_request(
            "You may only specify `off_session` when `confirm=true`.", param="off_session"
        )
    return render(pi)


@route("GET", "/v1/payment_intents/{id}", "PaymentIntentRetrieveParams", publishable=True)
def pi_retrieve(ctx: Ctx, id: str) -> dict[str, Any]:
    pi = load(ctx, id, "payment_intent")
    return _public(ctx, pi)


def _public(ctx: Ctx, pi: dict[str, Any]) -> dict[str, Any]:
    out = render(pi)
    if ctx.publishable:  # what a publishable key may see
        keep = {
            "id",
            "object",
            "amount",
            "amount_details",
            "automatic_payment_methods",
            "canceled_at",
            "cancellation_reason",
            "capture_method",
            "client_secret",
            "confirmation_method",
            "created",
            "currency",
            "description",
            "last_payment_error",
            "livemode",
            "next_action",
            "payment_method",
            "payment_method_types",
            "processing",
            "receipt_email",
            "setup_future_usage",
            "shipping",
            "status",
            "excluded_payment_method_types",
            "payment_method_configuration_details",
        }
        out = {k: (v if k in keep else None) for k, v in out.items() if k in keep}
    return out


@route("POST", "/v1/payment_intents/{id}", "PaymentIntentUpdateParams")
def pi_update(ctx: Ctx, id: str) -> dict[str, Any]:
    pi = load(ctx, id, "payment_intent")
    if pi["status"] in ("succeeded", "canceled", "processing") and set(ctx.params) - {
        "metadata",
        "description",
        "receipt_email",
        "expand",
        "shipping",
    }:
        raise unexpected_state(
            f"This PaymentIntent's amount could not be updated because it has a status of "
            f"{pi['status']}. You may only update the amount of a PaymentIntent with one of "
            "the following statuses: requires_payment_method, requires_confirmation, "
            "requires_action."
        )
    prev = set_simple(
        ctx,
        pi,
        [
            "description",
            "receipt_email",
            "statement_descriptor",
            "statement_descriptor_suffix",
            "setup_future_usage",
            "transfer_group",
        ],
    )
    update_metadata(ctx, pi, prev)
    if "currency" in ctx.params:
        cur = currency_param(ctx, ctx.p("currency"))
        if cur != pi["currency"]:
            prev["currency"] = pi["currency"]
            pi["currency"] = cur
    if "amount" in ctx.params:
        amt = amount_param(ctx.p("amount"), "amount", pi["currency"])
        if amt != pi["amount"]:
            prev["amount"] = pi["amount"]
            pi["amount"] = amt
    if "customer" in ctx.params:
        cus = ctx.p("customer") or None
        if cus:
            load(ctx, cus, "customer", param="customer")
        prev["customer"] = pi["customer"]
        pi["customer"] = cus
    if "shipping" in ctx.params:
        pi["shipping"] = ctx.p("shipping") or None
    if ctx.p("capture_method") and ctx.p("capture_method") != pi["capture_method"]:
        prev["capture_method"] = pi["capture_method"]
        pi["capture_method"] = ctx.p("capture_method")
    if ctx.p("payment_method"):
        pm = resolve_payment_method(ctx, ctx.p("payment_method"), "payment_method")
        prev["payment_method"] = pi["payment_method"]
        pi["payment_method"] = pm["id"]
        if pi["status"] in ("requires_payment_method", "requires_action"):
            pi["status"] = "requires_confirmation"
            pi["next_action"] = None
    ctx.store.put(pi)
    return render(pi)


@route("POST", "/v1/payment_intents/{id}/confirm", "PaymentIntentConfirmParams", publishable=True)
def pi_confirm(ctx: Ctx, id: str) -> dict[str, Any]:
    pi = load(ctx, id, "payment_intent")
    _confirm(ctx, pi, ctx.params)
    return _public(ctx, pi)


def _confirm(ctx: Ctx, pi: dict[str, Any], params: dict[str, Any]) -> None:
    if pi["status"] not in CONFIRMABLE:
        raise unexpected_state(
            f"You cannot confirm this PaymentIntent because it has a status of {pi['status']}. "
            "Only a PaymentIntent with one of the following statuses may be confirmed: "
            "requires_confirmation, requires_payment_method, requires_action.",
            extra={"payment_intent": render(pi)},
        )
    if params.get("payment_method"):
        pm = resolve_payment_method(ctx, params["payment_method"], "payment_method")
        pi["payment_method"] = pm["id"]
    elif params.get("payment_method_data"):
        pm = create_card_pm(
            ctx,
            as_dict(params["payment_method_data"], "payment_method_data"),
            "payment_method_data",
        )
        pi["payment_method"] = pm["id"]
    elif pi.get("payment_method"):
        pm = load(ctx, pi["payment_method"], "payment_method", "PaymentMethod", "payment_method")
    else:
        raise unexpected_state(
            "You cannot confirm this PaymentIntent because it's missing a payment method. "
            "You can either update the PaymentIntent with a payment method and then confirm it "
            "again, or confirm it again directly with a payment method.",
            extra={"payment_intent": render(pi)},
        )
    if pm.get("customer") and pm["customer"] != pi.get("customer"):
        raise invalid_request(
            "The provided PaymentMethod was previously attached to a Customer or was detached "
            "from a Customer. To use a PaymentMethod that is attached to a Customer, you must "
            "provide the customer's ID on the PaymentIntent.",
            param="payment_method",
        )
    if pm.get("_used") and not pm.get("customer"):
        raise invalid_request(
            "This PaymentMethod was previously used without being attached to a Customer or "
            "was detached from a Customer, and may not be used again.",
            param="payment_method",
        )
    for k in ("receipt_email", "setup_future_usage", "shipping"):
        if k in params:
            pi[k] = params[k] or None
    off_session = params.get("off_session") not in (None, "", "false", False)
    use_sdk = bool(as_bool(params.get("use_stripe_sdk"), "use_stripe_sdk"))
    return_url = as_str(params.get("return_url"), "return_url") or None
    # Stripe refuses a server-side confirmation without `return_url` of an intent that may use
    # redirect-based methods; the sandbox confirms it, as only cards exist here (README).
    pi["_return_url"] = return_url
    pi["_off_session"] = off_session
    pi["last_payment_error"] = None
    pi["next_action"] = None
    card = card_of(pm)
    needs_auth = _needs_authentication(card, pm, off_session)
    if needs_auth and off_session:
        decline(ctx, pi, pm, "authentication_required", with_charge=False)
        return
    if needs_auth:
        if as_bool(params.get("error_on_requires_action"), "error_on_requires_action"):
            decline(ctx, pi, pm, "authentication_required", with_charge=False)
            return
        pi["status"] = "requires_action"
        url = f"{ctx.base_url}/_sandbox/3ds/{pi['id']}?client_secret={pi['client_secret']}"
        # Without a return_url there is nowhere to redirect back to: Stripe hands the
        # challenge to Stripe.js (`use_stripe_sdk`), as it does when Stripe.js confirms.
        if use_sdk or not return_url:
            pi["next_action"] = {
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {
                    "type": "three_d_secure_redirect",
                    "stripe_js": url,
                    "source": pm["id"],
                },
            }
        else:
            pi["next_action"] = {
                "type": "redirect_to_url",
                "redirect_to_url": {"url": url, "return_url": pi.get("_return_url")},
            }
        ctx.store.put(pi)
        emit(ctx, "payment_intent.requires_action", pi)
        return
    charge_pi(ctx, pi, pm)


def _needs_authentication(card: Card, pm: dict[str, Any], off_session: bool) -> bool:
    if card.behavior == "3ds_always":
        return True
    if card.behavior == "3ds":
        return not off_session
    if card.behavior == "3ds_unless_setup":
        # Stripe exempts off-session payments only on a card saved through an authenticated
        # setup (SetupIntent, or a payment with setup_future_usage); attaching is not enough.
        return not (off_session and pm.get("_set_up"))
    return False


def charge_pi(ctx: Ctx, pi: dict[str, Any], pm: dict[str, Any], *, three_ds: bool = False) -> None:
    """Attempt the charge; on a decline, raise the card error after persisting the state."""
    card = card_of(pm)
    if card.decline_code:
        decline(ctx, pi, pm, card.decline_code)
        return
    manual = pi["capture_method"] == "manual"  # `automatic` and `automatic_async` capture now
    ch = _make_charge(ctx, pi, pm, "succeeded", three_ds=three_ds, captured=not manual)
    pi["latest_charge"] = ch["id"]
    pi["next_action"] = None
    pi["last_payment_error"] = None
    if manual:
        pi["status"] = "requires_capture"
        pi["amount_capturable"] = pi["amount"]
    else:
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
    pm["_used"] = True
    if pi.get("setup_future_usage"):
        pm["_set_up"] = True
    ctx.store.put(pm)
    if pi.get("customer") and pi.get("setup_future_usage") and not pm.get("customer"):
        cus = ctx.store.get(pi["customer"])
        if cus:
            pm["_reusable"] = True
            _attach(ctx, pm, cus)
    ctx.store.put(pi)
    emit(ctx, "charge.succeeded", ch)
    if manual:
        emit(ctx, "payment_intent.amount_capturable_updated", pi)
    else:
        emit(ctx, "payment_intent.succeeded", pi)
        run_hooks(ctx, "succeeded", pi)


def decline(
    ctx: Ctx, pi: dict[str, Any], pm: dict[str, Any], decline_code: str, *, with_charge: bool = True
) -> None:
    code, message = DECLINES.get(decline_code, DECLINES["generic_decline"])
    ch = None
    if with_charge:
        ch = _make_charge(
            ctx,
            pi,
            pm,
            "failed",
            failure=(code, message, decline_code),
            blocked=card_of(pm).risk_level == "highest",
        )
        pi["latest_charge"] = ch["id"]
    err: dict[str, Any] = {
        "type": "card_error",
        "code": code,
        "decline_code": decline_code,
        "message": message,
        "doc_url": f"https://docs.stripe.com/error-codes/{code.replace('_', '-')}",
        "payment_method": render(pm),
        "charge": ch["id"] if ch else None,
        "advice_code": None,
        "network_decline_code": None,
        "param": None,
        "payment_method_type": "card",
    }
    pi["last_payment_error"] = err
    pi["status"] = "requires_payment_method"
    pi["payment_method"] = None
    pi["next_action"] = None
    ctx.store.put(pi)
    if ch:
        emit(ctx, "charge.failed", ch)
    emit(ctx, "payment_intent.payment_failed", pi)
    run_hooks(ctx, "failed", pi)
    e = StripeError(
        402,
        "card_error",
        message,
        code=code,
        decline_code=decline_code,
        extra={
            "payment_intent": render(pi),
            "payment_method": render(pm),
            **({"charge": ch["id"]} if ch else {}),
        },
    )
    e.commit = True
    raise e


def authenticate(ctx: Ctx, pi: dict[str, Any], success: bool) -> dict[str, Any]:
    """The 3-D Secure challenge outcome (hosted page, stripe.js, or /_sandbox control)."""
    if pi["status"] != "requires_action":
        raise unexpected_state(
            f"This PaymentIntent is not awaiting authentication (status {pi['status']})."
        )
    pm = load(ctx, pi["payment_method"], "payment_method", "PaymentMethod", "payment_method")
    if success:
        try:
            charge_pi(ctx, pi, pm, three_ds=True)
        except StripeError as e:
            if not e.commit:
                raise
        return pi
    pi["last_payment_error"] = {
        "type": "invalid_request_error",
        "code": "payment_intent_authentication_failure",
        "message": "The provided PaymentMethod has failed authentication. You can provide "
        "payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent "
        "again.",
        "doc_url": "https://docs.stripe.com/error-codes/payment-intent-authentication-failure",
        "payment_method": render(pm),
    }
    pi["status"] = "requires_payment_method"
    pi["payment_method"] = None
    pi["next_action"] = None
    ctx.store.put(pi)
    emit(ctx, "payment_intent.payment_failed", pi)
    run_hooks(ctx, "failed", pi)
    return pi


@route("POST", "/v1/payment_intents/{id}/cancel", "PaymentIntentCancelParams")
def pi_cancel(ctx: Ctx, id: str) -> dict[str, Any]:
    pi = load(ctx, id, "payment_intent")
    if pi["status"] not in CANCELABLE:
        raise unexpected_state(
            f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}. "
            "Only a PaymentIntent with one of the following statuses may be canceled: "
            + ", ".join(CANCELABLE)
            + ".",
            extra={"payment_intent": render(pi)},
        )
    if pi["status"] == "requires_capture" and pi.get("latest_charge"):
        ch = ctx.store.get(pi["latest_charge"])
        if ch:
            ch["refunded"] = True
            ch["amount_refunded"] = ch["amount"]
            ctx.store.put(ch)
            emit(ctx, "charge.refunded", ch)
    pi["status"] = "canceled"
    pi["canceled_at"] = now()
    pi["cancellation_reason"] = ctx.p("cancellation_reason") or None
    pi["amount_capturable"] = 0
    pi["next_action"] = None
    ctx.store.put(pi)
    emit(ctx, "payment_intent.canceled", pi)
    return render(pi)


@route("POST", "/v1/payment_intents/{id}/capture", "PaymentIntentCaptureParams")
def pi_capture(ctx: Ctx, id: str) -> dict[str, Any]:
    pi = load(ctx, id, "payment_intent")
    if pi["status"] != "requires_capture":
        raise unexpected_state(
            f"This PaymentIntent could not be captured because it has a status of "
            f"{pi['status']}. Only a PaymentIntent with one of the following statuses may be "
            "captured: requires_capture.",
            extra={"payment_intent": render(pi)},
        )
    amt = as_int(ctx.p("amount_to_capture"), "amount_to_capture") or pi["amount_capturable"]
    if amt > pi["amount_capturable"] or amt <= 0:
        raise invalid_request(
            "The amount to capture must be positive and no more than the amount capturable.",
            param="amount_to_capture",
        )
    ch = load(ctx, pi["latest_charge"], "charge")
    ch["captured"] = True
    ch["amount_captured"] = amt
    if amt < ch["amount"]:
        ch["amount_refunded"] = ch["amount"] - amt
    ch["balance_transaction"] = _txn(ctx, "charge", amt, ch["currency"], ch["id"])["id"]
    ctx.store.put(ch)
    pi["amount_received"] = amt
    pi["amount_capturable"] = 0
    pi["status"] = "succeeded"
    ctx.store.put(pi)
    emit(ctx, "charge.captured", ch)
    emit(ctx, "payment_intent.succeeded", pi)
    run_hooks(ctx, "succeeded", pi)
    return render(pi)


@route("GET", "/v1/payment_intents", "PaymentIntentListParams")
def pi_list(ctx: Ctx) -> dict[str, Any]:
    return paginate(
        ctx, "payment_intent", "/v1/payment_intents", list_filter(ctx, customer="customer")
    )


# -- charges -----------------------------------------------------------------------------------
def _fee(amount: int, currency: str) -> int:
    return round(amount * 0.029) + (30 if currency not in ("jpy", "krw") else 0)


def _txn(ctx: Ctx, kind: str, amount: int, currency: str, source: str) -> dict[str, Any]:
    t = blank("balance_transaction")
    fee = _fee(amount, currency) if kind == "charge" else 0
    t.update(
        id=new_id("txn"),
        object="balance_transaction",
        amount=amount,
        available_on=now() + 2 * 86400,
        created=now(),
        currency=currency,
        description=None,
        exchange_rate=None,
        fee=fee,
        fee_details=[
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ]
        if fee
        else [],
        net=amount - fee,
        reporting_category=kind,
        source=source,
        status="pending",
        type=kind,
        balance_type="payments",
    )
    ctx.store.put(t)
    return t


def _radar_block_outcome() -> dict[str, Any]:
    """A charge Radar stopped before it reached the card network (its highest-risk rule)."""
    return {
        "advice_code": None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "not_sent_to_network",
        "reason": "highest_risk_level",
        "risk_level": "highest",
        "risk_score": 95,
        "rule": "rule_block_if_highest_risk_level",
        "seller_message": "Stripe blocked this payment as too risky.",
        "type": "blocked",
    }


def _make_charge(
    ctx: Ctx,
    pi: dict[str, Any],
    pm: dict[str, Any],
    status: str,
    *,
    failure: tuple[str, str, str] | None = None,
    three_ds: bool = False,
    captured: bool = True,
    blocked: bool = False,
) -> dict[str, Any]:
    card = pm["card"]
    ch = blank("charge")
    cid = new_id("ch")
    ok = status == "succeeded"
    ch.update(
        id=cid,
        object="charge",
        amount=pi["amount"],
        amount_captured=pi["amount"] if ok and captured else 0,
        amount_refunded=0,
        application=None,
        application_fee=None,
        application_fee_amount=None,
        balance_transaction=None,
        billing_details=pm["billing_details"],
        calculated_statement_descriptor="SANDBOX",
        captured=ok and captured,
        created=now(),
        currency=pi["currency"],
        customer=pi.get("customer"),
        description=pi.get("description"),
        disputed=False,
        failure_balance_transaction=None,
        failure_code=failure[0] if failure else None,
        failure_message=failure[1] if failure else None,
        fraud_details={},
        livemode=False,
        metadata=dict(pi.get("metadata") or {}),
        on_behalf_of=None,
        outcome=_radar_block_outcome()
        if blocked
        else {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network" if ok else "declined_by_network",
            "reason": None if ok else failure[2] if failure else None,
            "risk_level": "normal",
            "risk_score": 20,
            "seller_message": "Payment complete."
            if ok
            else "The bank did not return any further details with this decline.",
            "type": "authorized" if ok else "issuer_declined",
        },
        paid=ok,
        payment_intent=pi["id"],
        payment_method=pm["id"],
        payment_method_details={
            "card": {
                "amount_authorized": pi["amount"] if ok else None,
                "authorization_code": "123456" if ok else None,
                "brand": card["brand"],
                "checks": card["checks"],
                "country": card["country"],
                "exp_month": card["exp_month"],
                "exp_year": card["exp_year"],
                "extended_authorization": {"status": "disabled"},
                "fingerprint": card["fingerprint"],
                "funding": card["funding"],
                "incremental_authorization": {"status": "unavailable"},
                "installments": None,
                "last4": card["last4"],
                "mandate": None,
                "multicapture": {"status": "unavailable"},
                "network": card["brand"],
                "network_token": {"used": False},
                "network_transaction_id": rand(15),
                "overcapture": {"maximum_amount_capturable": pi["amount"], "status": "unavailable"},
                "regulated_status": "unregulated",
                "three_d_secure": {
                    "authentication_flow": "challenge",
                    "result": "authenticated",
                    "result_reason": None,
                    "version": "2.2.0",
                    "electronic_commerce_indicator": "05",
                    "exemption_indicator": None,
                    "transaction_id": rand(20),
                }
                if three_ds
                else None,
                "wallet": None,
            },
            "type": "card",
        },
        receipt_email=pi.get("receipt_email"),
        receipt_number=None,
        receipt_url=f"{ctx.base_url}/_sandbox/receipts/{cid}",
        refunded=False,
        refunds={
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/charges/{cid}/refunds",
        },
        review=None,
        shipping=pi.get("shipping"),
        source_transfer=None,
        statement_descriptor=pi.get("statement_descriptor"),
        statement_descriptor_suffix=pi.get("statement_descriptor_suffix"),
        status=status,
        transfer_data=None,
        transfer_group=None,
        source=None,
    )
    if ok and captured:
        ch["balance_transaction"] = _txn(ctx, "charge", pi["amount"], pi["currency"], cid)["id"]
    ctx.store.put(ch)
    return ch


@route("GET", "/v1/charges/{id}", "ChargeRetrieveParams")
def charge_retrieve(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(load(ctx, id, "charge"))


@route("POST", "/v1/charges/{id}", "ChargeUpdateParams")
def charge_update(ctx: Ctx, id: str) -> dict[str, Any]:
    ch = load(ctx, id, "charge")
    prev = set_simple(ctx, ch, ["description", "receipt_email"])
    update_metadata(ctx, ch, prev)
    ctx.store.put(ch)
    if prev:
        emit(ctx, "charge.updated", ch, prev)
    return render(ch)


@route("GET", "/v1/charges", "ChargeListParams")
def charge_list(ctx: Ctx) -> dict[str, Any]:
    return paginate(
        ctx,
        "charge",
        "/v1/charges",
        list_filter(ctx, customer="customer", payment_intent="payment_intent"),
    )


@route("GET", "/v1/balance_transactions/{id}", "BalanceTransactionRetrieveParams")
def txn_retrieve(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(load(ctx, id, "balance_transaction", "balance transaction"))


@route("GET", "/v1/balance_transactions", "BalanceTransactionListParams")
def txn_list(ctx: Ctx) -> dict[str, Any]:
    return paginate(
        ctx,
        "balance_transaction",
        "/v1/balance_transactions",
        list_filter(ctx, type="type", source="source"),
    )


# -- refunds -----------------------------------------------------------------------------------
@route("GET", "/v1/balance", "BalanceRetrieveParams")
def balance_retrieve(ctx: Ctx) -> dict[str, Any]:
    """The account's balance: the net of its balance transactions, pending until their
    `available_on` date (two days after a charge), per currency."""
    t = now()
    sums: dict[str, dict[str, int]] = {}
    for txn in ctx.store.all_of("balance_transaction"):
        cur = sums.setdefault(txn["currency"], {"available": 0, "pending": 0})
        cur["pending" if txn["available_on"] > t else "available"] += txn["net"]
    if not sums:
        sums["cad"] = {"available": 0, "pending": 0}

    def part(kind: str) -> list[dict[str, Any]]:
        return [
            {"amount": v[kind], "currency": c, "source_types": {"card": v[kind]}}
            for c, v in sorted(sums.items())
        ]

    return {
        "object": "balance",
        "available": part("available"),
        "connect_reserved": [{"amount": 0, "currency": c} for c in sorted(sums)],
        "livemode": False,
        "pending": part("pending"),
    }


ACCOUNT_ID = "acct_1SandboxAccount0"


@route("GET", "/v1/account", "AccountRetrieveCurrentParams")
def account_retrieve(ctx: Ctx) -> dict[str, Any]:
    """The sandbox's own account: a Canadian standard account that can take payments."""
    empty_requirements: dict[str, Any] = {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": [],
        "disabled_reason": None,
        "errors": [],
        "eventually_due": [],
        "past_due": [],
        "pending_verification": [],
    }
    return {
        "id": ACCOUNT_ID,
        "object": "account",
        "business_profile": {
            "annual_revenue": None,
            "estimated_worker_count": None,
            "mcc": None,
            "minority_owned_business_designation": None,
            "name": "Sandbox",
            "product_description": None,
            "support_address": None,
            "support_email": None,
            "support_phone": None,
            "support_url": None,
            "url": None,
        },
        "business_type": None,
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "controller": {"type": "account"},
        "country": "CA",
        "created": 1700000000,
        "default_currency": "cad",
        "details_submitted": True,
        "email": None,
        "external_accounts": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/accounts/{ACCOUNT_ID}/external_accounts",
        },
        "future_requirements": dict(empty_requirements),
        "metadata": {},
        "payouts_enabled": True,
        "requirements": dict(empty_requirements),
        "settings": {
            "bacs_debit_payments": {"display_name": None, "service_user_number": None},
            "branding": {
                "icon": None,
                "logo": None,
                "primary_color": None,
                "secondary_color": None,
            },
            "card_issuing": {"tos_acceptance": {"date": None, "ip": None}},
            "card_payments": {
                "decline_on": {"avs_failure": False, "cvc_failure": True},
                "statement_descriptor_prefix": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "dashboard": {"display_name": "Sandbox", "timezone": "Etc/UTC"},
            "invoices": {"default_account_tax_ids": None, "hosted_payment_method_save": None},
            "payments": {
                "statement_descriptor": "SANDBOX",
                "statement_descriptor_kana": None,
                "statement_descriptor_kanji": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "payouts": {
                "debit_negative_balances": True,
                "schedule": {"delay_days": 2, "interval": "daily"},
                "statement_descriptor": None,
            },
            "sepa_debit_payments": {},
        },
        "tos_acceptance": {"date": 1700000000, "ip": None, "user_agent": None},
        "type": "standard",
    }


def _money(amount: int, currency: str) -> str:
    return f"{amount}" if currency in ("jpy", "krw") else f"${amount / 100:,.2f}"


@route("POST", "/v1/refunds", "RefundCreateParams")
def refund_create(ctx: Ctx) -> dict[str, Any]:
    pi_id, ch_id = ctx.p("payment_intent"), ctx.p("charge")
    if not pi_id and not ch_id:
        raise invalid_request(
            "One of the following params should be provided for this "
            "request: payment_intent or charge.",
            param="charge",
            code="parameter_missing",
        )
    if pi_id:
        pi = load(ctx, pi_id, "payment_intent", param="payment_intent")
        if pi["status"] != "succeeded" or not pi.get("latest_charge"):
            raise invalid_request(
                f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        ch = load(ctx, pi["latest_charge"], "charge", param="payment_intent")
        if ch_id and ch_id != ch["id"]:
            raise invalid_request(
                "The charge does not belong to this PaymentIntent.", param="charge"
            )
    else:
        ch = load(ctx, ch_id, "charge", param="charge")
    if ch["status"] != "succeeded" or not ch["captured"]:
        raise invalid_request(
            f"Charge {ch['id']} has not been captured or did not succeed and cannot be refunded.",
            param="charge",
        )
    # A partial capture releases the rest, which Stripe counts in `amount_refunded`: what can
    # still be refunded is the charge's amount less everything refunded or released.
    remaining = ch["amount"] - ch["amount_refunded"]
    if remaining <= 0:
        raise invalid_request(
            f"Charge {ch['id']} has already been refunded.", code="charge_already_refunded"
        )
    amount = as_int(ctx.p("amount"), "amount")
    if amount is None:
        amount = remaining
    if amount <= 0:
        raise invalid_request(
            "This value must be greater than or equal to 1.",
            param="amount",
            code="parameter_invalid_integer",
        )
    if amount > remaining:
        raise invalid_request(
            f"Refund amount ({_money(amount, ch['currency'])}) is greater than unrefunded "
            f"amount on charge ({_money(remaining, ch['currency'])})",
            param="amount",
            code="amount_too_large",
        )
    reason = ctx.p("reason") or None
    r = blank("refund")
    rid = new_id("re")
    r.update(
        id=rid,
        object="refund",
        amount=amount,
        balance_transaction=_txn(ctx, "refund", -amount, ch["currency"], rid)["id"],
        charge=ch["id"],
        created=now(),
        currency=ch["currency"],
        destination_details={
            "card": {
                "reference": rand(12),
                "reference_status": "available",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        metadata=merge_metadata({}, ctx.p("metadata")),
        payment_intent=ch["payment_intent"],
        reason=reason,
        receipt_number=None,
        source_transfer_reversal=None,
        status="succeeded",
        transfer_reversal=None,
        customer=ch.get("customer"),
        customer_account=None,
        payment_method=ch.get("payment_method"),
    )
    ctx.store.put(r)
    prev = {"amount_refunded": ch["amount_refunded"], "refunded": ch["refunded"]}
    ch["amount_refunded"] += amount
    ch["refunded"] = ch["amount_refunded"] >= ch["amount"]
    ch["refunds"]["data"].insert(0, render(r))
    ch["refunds"]["total_count"] = len(ch["refunds"]["data"])
    ctx.store.put(ch)
    emit(ctx, "refund.created", r)
    emit(ctx, "charge.refunded", ch, prev)
    return render(r)


@route("GET", "/v1/refunds/{id}", "RefundRetrieveParams")
def refund_retrieve(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(load(ctx, id, "refund"))


@route("POST", "/v1/refunds/{id}", "RefundUpdateParams")
def refund_update(ctx: Ctx, id: str) -> dict[str, Any]:
    r = load(ctx, id, "refund")
    prev: dict[str, Any] = {}
    update_metadata(ctx, r, prev)
    ctx.store.put(r)
    if prev:
        emit(ctx, "refund.updated", r, prev)
    return render(r)


@route("GET", "/v1/refunds", "RefundListParams")
def refund_list(ctx: Ctx) -> dict[str, Any]:
    return paginate(
        ctx,
        "refund",
        "/v1/refunds",
        list_filter(ctx, charge="charge", payment_intent="payment_intent"),
    )


@route("GET", "/v1/charges/{id}/refunds", "ChargeListRefundsParams")
def charge_refunds(ctx: Ctx, id: str) -> dict[str, Any]:
    load(ctx, id, "charge")
    return paginate(ctx, "refund", f"/v1/charges/{id}/refunds", lambda o: o["charge"] == id)


@route("POST", "/v1/refunds/{id}/cancel", "RefundCancelParams")
def refund_cancel(ctx: Ctx, id: str) -> dict[str, Any]:
    r = load(ctx, id, "refund")
    # card refunds succeed at once; only a refund waiting for customer action can be canceled
    if r["status"] != "requires_action":
        raise invalid_request(
            f"This refund cannot be canceled because it has a status of {r['status']}. Only "
            "refunds with a status of `requires_action` can be canceled.",
            param="refund",
        )
    return render(r)  # pragma: no cover - card refunds never wait for an action
