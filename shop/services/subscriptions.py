"""Subscriptions: plans bought through Stripe Billing, mirrored here from what Stripe says.

Starting one (`start`):

* the plan must be a synced, active subscription product, and the buyer must not already
  hold it or another plan of its family (`plan_family`: the same category, else the slug
  without its `-monthly`/`-yearly` ending) while it is active, trialing or past due;
* the buyer gets one Stripe Customer, made once (`users.stripe_customer_id`);
* the tax comes from our own engine (`tax.calculate_tax`, the buyer's province and the
  merchant's registrations) and goes to Stripe as exclusive TaxRates in `default_tax_rates`,
  one per tax line, created once per (tax, jurisdiction, rate) and found again by that key;
* with a `payment_method` (API clients) the card is attached and the Subscription created
  with it at once; a first payment that needs 3-D Secure answers the PaymentIntent's
  `client_secret`, a declined card is a 402 and the incomplete subscription is canceled;
  without one, a Checkout Session (mode `subscription`) is created and its URL answered.

Every Stripe write carries our idempotency key, built from the customer, the plan, the
buyer's attempt number (how many subscriptions they have here) and the card named, so a
retried request never makes a second subscription while a new attempt after a refusal can.

Stripe is the truth (`sync`): every webhook about a subscription, and every change made
here, takes the customer's lock (an UPDATE of the user's row: a row lock on PostgreSQL, the
write lock on SQLite), re-reads the subscription from Stripe and writes what it says. Two
events therefore cannot write an older state over a newer one, whatever order they come in.
The price: Stripe is read while the lock is held, so those reads are made `locked` (one try,
a few seconds at most; a failure answers the webhook 5xx and Stripe delivers it again).

Each paid invoice becomes one order (`record_paid_invoice`, unique `orders.stripe_invoice_id`)
fulfilled by the same `fulfil_order` as a one-time purchase: download grants for the plan's
files, the receipt. A subscription that ends (canceled, unpaid, incomplete_expired) has the
grants of its orders revoked: members download while they are members.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import text, update
from sqlmodel import Session, col, func, select

from shop.db import get_engine, session_scope
from shop.models import (
    DownloadGrant,
    Order,
    OrderItem,
    OrderStatus,
    OrderTaxLine,
    Product,
    ProductKind,
    Subscription,
    User,
    utcnow,
)
from shop.models.catalog import SyncStatus
from shop.services import orders, stripe_api
from shop.services.errors import Conflict, InvalidInput, NotFound, ShopError
from shop.services.fulfilment import fulfil_order, insert_ignoring_conflicts
from shop.services.payments import (
    REFUSED_MESSAGE,
    UNREACHABLE_MESSAGE,
    PaymentServiceRefused,
    PaymentServiceUnavailable,
    customer_error_message,
)
from shop.services.stripe_api import InvoiceInfo, SubscriptionInfo, TaxRateInfo
from shop.services.tax import TaxableLine, TaxLine, calculate_tax
from shop.settings import get_settings

log = logging.getLogger("shop.subscriptions")

_T = TypeVar("_T")
SessionFactory = Callable[[], AbstractContextManager[Session]]

# A customer holds the plan (and may not start it again) in these states.
CURRENT = ("active", "trialing", "past_due")
# Over: the plan's downloads are revoked.
ENDED = ("canceled", "unpaid", "incomplete_expired")
RETURN_PATH = "/account/subscriptions"
_FAMILY_SUFFIX = re.compile(r"-(monthly|yearly|annual|annually|month|year)$")


class PlanUnavailable(Conflict):
    code = "plan_unavailable"


class NotAPlan(InvalidInput):
    code = "not_a_plan"


class AlreadySubscribed(Conflict):
    code = "already_subscribed"


class SubscriptionEnded(Conflict):
    code = "subscription_ended"


class NoBillingAccount(NotFound):
    code = "no_billing_account"


class PaymentDeclined(ShopError):
    """The card was declined or could not be used; nothing was charged."""

    status_code = 402
    code = "card_declined"


@dataclass(frozen=True, slots=True)
class SubscriptionDetail:
    """A subscription row with what the API shows about it."""

    subscription: Subscription
    product_name: str
    client_secret: str | None = None


@dataclass(frozen=True, slots=True)
class CheckoutStarted:
    checkout_url: str
    checkout_session_id: str


@dataclass(frozen=True, slots=True)
class _Choice:
    """A plan checked for a buyer: everything Stripe needs, read in one transaction."""

    product_id: int
    product_name: str
    price_id: str
    tax_lines: list[TaxLine]
    attempt: int
    metadata: dict[str, str]
    family_ids: frozenset[int]  # every plan of the same membership


# --- plans and tax --------------------------------------------------------------------------


def plan_family(product: Product) -> str:
    """Plans that are one membership billed differently: the same category, else the same
    slug without its interval ending (`maple-club-monthly` and `maple-club-yearly`)."""
    if product.category_id is not None:
        return f"category:{product.category_id}"
    return f"slug:{_FAMILY_SUFFIX.sub('', product.slug)}"


def _plan(session: Session, product_id: int) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"No product {product_id}.")
    if product.kind != ProductKind.SUBSCRIPTION.value:
        raise NotAPlan(
            f"{product.name} is not a subscription plan; buy it through the cart.",
            field="product_id",
        )
    if not product.is_active:
        raise PlanUnavailable(f"{product.name} is no longer offered.", field="product_id")
    if (
        not product.stripe_price_id
        or product.sync_status != SyncStatus.SYNCED.value
        or not product.interval
    ):
        raise PlanUnavailable(
            f"{product.name} cannot be subscribed to yet: it is not set up with the payment "
            "service. Try again later.",
            field="product_id",
        )
    return product


def plan_tax(*, product: Product, billing: orders.Billing, on: date) -> list[TaxLine]:
    """The taxes on one period of the plan for this buyer (422 for a bad billing address)."""
    result = calculate_tax(
        lines=[TaxableLine(product.price_amount, product.is_tax_exempt)],
        discount=0,
        currency=product.currency,
        country=billing.country,
        region=billing.region,
        registrations=orders.merchant_tax_registrations(),
        on=on,
    )
    return result.lines


def _tax_key(line: TaxLine) -> str:
    return f"{line.name}:{line.jurisdiction}:{format(line.rate.normalize(), 'f')}"


_tax_rate_ids: dict[str, str] = {}
_tax_rate_lock = threading.Lock()


def stripe_tax_rates(lines: list[TaxLine]) -> list[str]:
    """One exclusive Stripe TaxRate per tax line, created once per key and reused (found by
    the key in its metadata, or remembered by this process)."""
    settings = get_settings()
    # Remembered per Stripe account (key) and API address: the sandbox is another account.
    account = f"{settings.effective_stripe_secret_key}@{settings.stripe_api_base}"
    wanted = [(f"{account}|{_tax_key(line)}", line) for line in lines]
    with _tax_rate_lock:
        missing = [pair for pair in wanted if pair[0] not in _tax_rate_ids]
        if missing:
            for rate in stripe_api.list_tax_rates():
                if rate.key and not rate.inclusive:
                    _tax_rate_ids.setdefault(f"{account}|{rate.key}", rate.id)
        for remembered, line in missing:
            if remembered in _tax_rate_ids:
                continue
            key = _tax_key(line)
            country, _, state = line.jurisdiction.partition("-")
            created = stripe_api.create_tax_rate(
                display_name=line.name,
                percentage=format((line.rate * 100).normalize(), "f"),
                jurisdiction=line.jurisdiction,
                country=country,
                state=state or None,
                key=key,
                idempotency_key=f"shop-tax-rate:{key}",
            )
            _tax_rate_ids[remembered] = created.id
        return [_tax_rate_ids[remembered] for remembered, _ in wanted]


_tax_rate_info: dict[str, TaxRateInfo] = {}


def _tax_rate(tax_rate_id: str) -> TaxRateInfo:
    """A Stripe TaxRate (its percentage never changes, so it is read once per process)."""
    found = _tax_rate_info.get(tax_rate_id)
    if found is None:
        found = _tax_rate_info[tax_rate_id] = stripe_api.retrieve_tax_rate(tax_rate_id=tax_rate_id)
    return found


# --- customers ------------------------------------------------------------------------------


def ensure_customer(*, user_id: int, sessions: SessionFactory = session_scope) -> str:
    """The user's Stripe Customer, created the first time (one per user: our key, and a
    conditional UPDATE that keeps the first id stored should two requests race)."""
    with sessions() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(f"No user {user_id}.")
        if user.stripe_customer_id:
            return user.stripe_customer_id
        email, name, created = user.email, user.name, user.created_at
    stamp = int(created.timestamp() * 1_000_000)
    customer = _stripe(
        lambda: stripe_api.create_customer(
            email=email,
            name=name,
            metadata={"shop_user_id": str(user_id)},
            idempotency_key=f"shop-user:{user_id}:{stamp}:customer",
        )
    )
    with sessions() as session:
        session.execute(
            update(User)
            .where(col(User.id) == user_id, col(User.stripe_customer_id).is_(None))
            .values(stripe_customer_id=customer.id)
            .execution_options(synchronize_session=False)
        )
        stored = session.exec(select(User.stripe_customer_id).where(User.id == user_id)).one()
    return stored or customer.id


def _stripe(call: Callable[[], _T]) -> _T:
    """A Stripe call made for a customer's request: Stripe's trouble as the shop's 503/502."""
    try:
        return call()
    except stripe_api.StripeUnavailable as exc:
        raise PaymentServiceUnavailable(UNREACHABLE_MESSAGE) from exc
    except stripe_api.StripeRefused as exc:
        log.error("Stripe refused a subscription request", extra={"stripe_code": exc.code})
        raise PaymentServiceRefused(REFUSED_MESSAGE) from exc


# --- starting a subscription ----------------------------------------------------------------


def held_plan(*, session: Session, user_id: int, product: Product) -> Product | None:
    """The plan of this membership the user holds now (this one or another of its family,
    active, trialing or past due), else None."""
    family = plan_family(product)
    rows = session.exec(
        select(Subscription, Product)
        .join(Product, col(Subscription.product_id) == col(Product.id))
        .where(Subscription.user_id == user_id, col(Subscription.status).in_(CURRENT))
    ).all()
    held = [plan for _subscription, plan in rows]
    for plan in held:
        if plan.id == product.id:
            return plan
    return next((plan for plan in held if plan_family(plan) == family), None)


def _check_not_subscribed(session: Session, *, user_id: int, product: Product) -> None:
    held = held_plan(session=session, user_id=user_id, product=product)
    if held is None:
        return
    if held.id == product.id:
        raise AlreadySubscribed(f"You already subscribe to {product.name}.", field="product_id")
    raise AlreadySubscribed(
        f"You already subscribe to {held.name}; switch plans instead "
        "(PUT /api/subscriptions/{id} with product_id).",
        field="product_id",
    )


def _waiting_starts(session: Session, *, user_id: int, product_id: int) -> list[str]:
    """The user's subscriptions of this membership still waiting for their first payment
    (`incomplete`: a 3-D Secure challenge left open): Stripe ids."""
    product = _plan(session, product_id)
    family = plan_family(product)
    rows = session.exec(
        select(Subscription, Product)
        .join(Product, col(Product.id) == col(Subscription.product_id))
        .where(Subscription.user_id == user_id, Subscription.status == "incomplete")
    ).all()
    return [row.stripe_subscription_id for row, plan in rows if plan_family(plan) == family]


def _give_up_waiting_starts(
    stripe_ids: list[str], *, customer_id: str, sessions: SessionFactory
) -> None:
    """A new start replaces the ones still waiting for their first payment: each is canceled at
    Stripe first, so finishing its old challenge later cannot make a second membership (and a
    second charge). One that Stripe says was paid meanwhile is a membership already."""
    for stripe_id in stripe_ids:
        info = _stripe(partial(stripe_api.retrieve_subscription, subscription_id=stripe_id))
        if info.status == "incomplete":
            info = _stripe(
                partial(
                    stripe_api.cancel_subscription,
                    subscription_id=stripe_id,
                    idempotency_key=f"{stripe_id}:replaced",
                )
            )
        row = _synced(stripe_id, customer_id, None, sessions)
        if info.status in CURRENT:
            raise AlreadySubscribed(
                f"You already subscribe to {row.product_name}.", field="product_id"
            )


def _close_other_checkouts(customer_id: str, *, family: frozenset[int], keep: str | None) -> None:
    """The customer's other Checkout pages for this membership can no longer be paid: two of
    them paid would make two memberships. Best effort: one Stripe cannot close now stays
    open (its completion is still recorded as any membership is)."""
    try:
        for checkout in stripe_api.list_open_checkouts(customer_id=customer_id):
            product_id = checkout.metadata.get("shop_product_id", "")
            if checkout.id == keep or not product_id.isdigit() or int(product_id) not in family:
                continue
            try:
                stripe_api.expire_checkout(session_id=checkout.id)
            except stripe_api.StripeRefused:
                continue  # completed or expired meanwhile
    except (stripe_api.StripeUnavailable, stripe_api.StripeRefused) as exc:
        log.warning("could not close older Checkout pages: %s", type(exc).__name__)


def _choose(
    session: Session, *, user_id: int, product_id: int, billing: orders.Billing, now: datetime
) -> _Choice:
    product = _plan(session, product_id)
    tax_lines = plan_tax(product=product, billing=billing, on=now.date())
    _check_not_subscribed(session, user_id=user_id, product=product)
    attempt = session.exec(
        select(func.count()).select_from(Subscription).where(Subscription.user_id == user_id)
    ).one()
    country = billing.country.strip().upper()
    region = (billing.region or "").strip().upper().removeprefix("CA-")
    metadata = {
        "shop_user_id": str(user_id),
        "shop_product_id": str(product_id),
        "billing_country": country,
        "billing_region": region[:3],
        "billing_postal_code": (billing.postal_code or "").strip().upper()[:16],
    }
    assert product.stripe_price_id is not None
    return _Choice(
        product_id=product_id,
        product_name=product.name,
        price_id=product.stripe_price_id,
        tax_lines=tax_lines,
        attempt=int(attempt),
        metadata={k: v for k, v in metadata.items() if v},
        family_ids=_family_ids(session, product),
    )


def _family_ids(session: Session, product: Product) -> frozenset[int]:
    family = plan_family(product)
    plans = session.exec(select(Product).where(Product.kind == "subscription")).all()
    return frozenset(p.id for p in plans if p.id is not None and plan_family(p) == family)


# pg_advisory_lock's first key: the space of "one customer's subscription start" locks.
_START_LOCK_SPACE = 0x5355_4253  # "SUBS"
_start_locks: dict[int, threading.Lock] = {}
_start_locks_guard = threading.Lock()


@contextmanager
def _one_start_at_a_time(user_id: int) -> Iterator[None]:
    """One customer's subscription starts take turns, so each sees what the one before it
    made (`_check_not_subscribed`, `_waiting_starts`): a double click or two tabs with two
    cards never make two memberships. The turn is held across the Stripe calls, so it is not
    the database's write lock: on PostgreSQL an advisory lock (shared by every process), on
    SQLite, where the shop runs one process, a lock in the process."""
    engine = get_engine()
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            keys = {"space": _START_LOCK_SPACE, "user_id": user_id}
            connection.execute(text("SELECT pg_advisory_lock(:space, :user_id)"), keys)
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:space, :user_id)"), keys)
                connection.commit()
        return
    with _start_locks_guard:
        lock = _start_locks.setdefault(user_id, threading.Lock())
    with lock:
        yield


def start(
    *,
    user_id: int,
    product_id: int,
    billing: orders.Billing,
    payment_method: str | None,
    now: datetime | None = None,
    sessions: SessionFactory = session_scope,
) -> SubscriptionDetail | CheckoutStarted:
    """Subscribe the user to the plan (see the module doc), one start of theirs at a time."""
    with _one_start_at_a_time(user_id):
        return _start(
            user_id=user_id,
            product_id=product_id,
            billing=billing,
            payment_method=payment_method,
            now=now,
            sessions=sessions,
        )


def _start(
    *,
    user_id: int,
    product_id: int,
    billing: orders.Billing,
    payment_method: str | None,
    now: datetime | None,
    sessions: SessionFactory,
) -> SubscriptionDetail | CheckoutStarted:
    now = now or utcnow()
    with sessions() as session:
        choice = _choose(session, user_id=user_id, product_id=product_id, billing=billing, now=now)
        waiting = _waiting_starts(session, user_id=user_id, product_id=choice.product_id)
    customer_id = ensure_customer(user_id=user_id, sessions=sessions)
    _give_up_waiting_starts(waiting, customer_id=customer_id, sessions=sessions)
    tax_rate_ids = _stripe(lambda: stripe_tax_rates(choice.tax_lines))
    # What Stripe is asked for goes into its idempotency keys: a customer who goes back and
    # corrects their province must get a new request, not Stripe's idempotency_error.
    asked = hashlib.sha256(
        json.dumps([choice.price_id, tax_rate_ids, sorted(choice.metadata.items())]).encode()
    ).hexdigest()[:16]
    base = f"{customer_id}:subscribe:{choice.product_id}:{choice.attempt}:{asked}"
    if payment_method is None:
        bucket = int(now.timestamp()) // 600  # an abandoned page gets a fresh one later
        public_url = get_settings().public_url
        checkout = _stripe(
            lambda: stripe_api.create_subscription_checkout(
                customer_id=customer_id,
                price_id=choice.price_id,
                tax_rate_ids=tax_rate_ids,
                metadata=choice.metadata,
                client_reference_id=str(user_id),
                success_url=f"{public_url}{RETURN_PATH}?checkout={{CHECKOUT_SESSION_ID}}",
                cancel_url=f"{public_url}{RETURN_PATH}?checkout=canceled",
                idempotency_key=f"{base}:checkout:{bucket}",
            )
        )
        _close_other_checkouts(customer_id, family=choice.family_ids, keep=checkout.id)
        return CheckoutStarted(checkout_url=checkout.url or "", checkout_session_id=checkout.id)
    card = hashlib.sha256(payment_method.encode()).hexdigest()[:16]
    try:
        attached = stripe_api.attach_payment_method(
            payment_method=payment_method,
            customer_id=customer_id,
            idempotency_key=f"{base}:{card}:attach",
        )
    except stripe_api.StripeRefused as exc:
        if exc.code == "resource_missing":
            raise InvalidInput(
                f"No such payment method: {payment_method}.", field="payment_method"
            ) from exc
        raise _declined_or_refused(exc) from exc
    except stripe_api.StripeUnavailable as exc:
        raise PaymentServiceUnavailable(UNREACHABLE_MESSAGE) from exc
    try:
        info = stripe_api.create_subscription(
            customer_id=customer_id,
            price_id=choice.price_id,
            default_payment_method=attached,
            tax_rate_ids=tax_rate_ids,
            metadata=choice.metadata,
            idempotency_key=f"{base}:{card}:create",
        )
    except stripe_api.StripeUnavailable as exc:
        raise PaymentServiceUnavailable(UNREACHABLE_MESSAGE) from exc
    except stripe_api.StripeRefused as exc:
        raise _declined_or_refused(exc) from exc
    client_secret = None
    if info.status == "incomplete" and info.latest_invoice is not None:
        invoice = info.latest_invoice
        intent = (
            _stripe(
                lambda: stripe_api.retrieve_payment_intent(
                    payment_intent_id=invoice.payment_intent_id or ""
                )
            )
            if invoice.payment_intent_id
            else None
        )
        if intent is not None and intent.status == "requires_action":
            client_secret = intent.client_secret or invoice.client_secret
        else:
            # Declined: nothing was charged; the incomplete subscription goes away now rather
            # than lingering for a day, and the customer may try another card.
            _stripe(
                lambda: stripe_api.cancel_subscription(
                    subscription_id=info.id, idempotency_key=f"{base}:{card}:declined"
                )
            )
            with sessions() as session:
                _stripe(
                    lambda: sync(
                        session=session, stripe_subscription_id=info.id, customer_id=customer_id
                    )
                )
            code = (intent.last_error_code if intent else None) or "card_declined"
            raise PaymentDeclined(
                customer_error_message(
                    code=code,
                    error_type=intent.last_error_type if intent else None,
                    message=intent.last_error_message if intent else None,
                ),
                code="card_declined",
            )
    with sessions() as session:
        row = _stripe(
            lambda: sync(
                session=session,
                stripe_subscription_id=info.id,
                customer_id=customer_id,
                invoice_id=info.latest_invoice_id,
            )
        )
        if row is None:  # pragma: no cover - the customer was made above
            raise PaymentServiceRefused(REFUSED_MESSAGE)
        detail = SubscriptionDetail(row, choice.product_name, client_secret)
    _close_other_checkouts(customer_id, family=choice.family_ids, keep=None)
    return detail


CARD_ERRORS = (
    "card_declined",
    "expired_card",
    "incorrect_cvc",
    "incorrect_number",
    "processing_error",
    "authentication_required",
)


def _declined_or_refused(exc: stripe_api.StripeRefused) -> ShopError:
    """A card Stripe declined (402, in the cardholder's words), or a refusal of the shop's
    own request (502, no Stripe wording for the customer)."""
    if exc.code in CARD_ERRORS:
        return PaymentDeclined(
            customer_error_message(code=exc.code, error_type="card_error", message=str(exc)),
            code=exc.code,
        )
    log.error("Stripe refused a subscription", extra={"stripe_code": exc.code})
    return PaymentServiceRefused(REFUSED_MESSAGE)


# --- following Stripe -----------------------------------------------------------------------


def _lock_customer(session: Session, customer_id: str) -> User | None:
    """The customer's user, locked for this transaction (None: not one of ours)."""
    locked: Any = session.execute(
        update(User)
        .where(col(User.stripe_customer_id) == customer_id)
        # Writes nothing new (updated_at too is kept): the UPDATE is only for its lock.
        .values(stripe_customer_id=customer_id, updated_at=col(User.updated_at))
        .execution_options(synchronize_session=False)
    )
    if locked.rowcount != 1:
        return None
    return session.exec(select(User).where(User.stripe_customer_id == customer_id)).one()


def _product_of_stripe(session: Session, stripe_product_id: str | None) -> Product | None:
    if not stripe_product_id:
        return None
    return session.exec(
        select(Product).where(Product.stripe_product_id == stripe_product_id)
    ).first()


def _product_for(session: Session, info: SubscriptionInfo) -> Product | None:
    found = _product_of_stripe(session, info.stripe_product_id)
    if found is not None:
        return found
    if info.price_id:
        found = session.exec(
            select(Product).where(Product.stripe_price_id == info.price_id)
        ).first()
        if found is not None:
            return found
    raw = info.metadata.get("shop_product_id", "")
    return session.get(Product, int(raw)) if raw.isdigit() else None


def sync(
    *,
    session: Session,
    stripe_subscription_id: str,
    customer_id: str,
    invoice_id: str | None = None,
    record_latest: bool = True,
    now: datetime | None = None,
) -> Subscription | None:
    """Write what Stripe says of the subscription now (under the customer's lock), and make
    `invoice_id`, if paid, its order; without one, the latest invoice of an active subscription
    (unless `record_latest` is False: reconciliation records every paid invoice itself). None
    when the customer is not one of the shop's."""
    now = now or utcnow()
    user = _lock_customer(session, customer_id)
    if user is None or user.id is None:
        log.info("subscription of an unknown customer", extra={"customer": customer_id})
        return None
    # Read under the customer's lock (see the module doc): `locked` keeps it short.
    info = stripe_api.retrieve_subscription(subscription_id=stripe_subscription_id, locked=True)
    if info.customer_id != customer_id:
        log.warning("subscription event names another customer", extra={"sub": info.id})
        return None
    row = _upsert(session, info, user_id=user.id, now=now)
    if invoice_id is None and record_latest and info.status == "active":
        # Whichever event comes first makes the order of the invoice that made it active, so
        # the buyer never sees an active membership without its order and receipt.
        invoice_id = info.latest_invoice_id
    if invoice_id:
        record_paid_invoice(
            session=session,
            subscription=row,
            invoice_id=invoice_id,
            billing=info.metadata,
            now=now,
        )
    if row.status in ENDED:
        revoke_grants(session=session, subscription_id=row.id or 0, now=now)
    return row


def _upsert(
    session: Session, info: SubscriptionInfo, *, user_id: int, now: datetime
) -> Subscription:
    product = _product_for(session, info)
    period_end = (
        datetime.fromtimestamp(info.current_period_end, UTC) if info.current_period_end else None
    )
    insert_ignoring_conflicts(
        session,
        Subscription,
        {
            "user_id": user_id,
            "product_id": product.id if product else None,
            "stripe_subscription_id": info.id,
            "status": info.status[:30],
            "current_period_end": period_end,
            "cancel_at_period_end": info.cancel_at_period_end,
            "stripe_price_id": info.price_id,
            "price_amount": info.unit_amount,
            "currency": info.currency or None,
            "interval": info.interval,
            "created_at": now,
            "updated_at": now,
        },
    )
    row = session.exec(
        select(Subscription)
        .where(Subscription.stripe_subscription_id == info.id)
        .execution_options(populate_existing=True)
    ).one()
    row.status = info.status[:30]
    row.current_period_end = period_end
    row.cancel_at_period_end = info.cancel_at_period_end
    if product is not None:
        row.product_id = product.id
    row.stripe_price_id = info.price_id
    row.price_amount = info.unit_amount
    row.currency = info.currency or None
    row.interval = info.interval
    row.updated_at = now
    session.add(row)
    session.flush()
    return row


def revoke_grants(*, session: Session, subscription_id: int, now: datetime | None = None) -> int:
    """Revoke the download grants of the subscription's orders; how many were still live."""
    order_items = (
        select(OrderItem.id)
        .join(Order, col(OrderItem.order_id) == col(Order.id))
        .where(Order.subscription_id == subscription_id)
    )
    result: Any = session.execute(
        update(DownloadGrant)
        .where(
            col(DownloadGrant.order_item_id).in_(order_items),
            col(DownloadGrant.revoked_at).is_(None),
        )
        .values(revoked_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


@dataclass(frozen=True, slots=True)
class InvoiceOutcome:
    order_id: int | None
    created: bool
    note: str


def record_paid_invoice(
    *,
    session: Session,
    subscription: Subscription,
    invoice_id: str,
    billing: dict[str, str],
    now: datetime | None = None,
) -> InvoiceOutcome:
    """The paid invoice as one order (made once: unique `stripe_invoice_id`), fulfilled by
    `fulfil_order` like any purchase. An unpaid or zero invoice makes none."""
    now = now or utcnow()
    existing = session.exec(select(Order.id).where(Order.stripe_invoice_id == invoice_id)).first()
    if existing is not None:
        return InvoiceOutcome(existing, False, "order already made")
    invoice = stripe_api.retrieve_invoice(invoice_id=invoice_id, locked=True)
    if invoice.status != "paid" or invoice.amount_paid <= 0 or not invoice.payment_intent_id:
        return InvoiceOutcome(None, False, f"invoice is {invoice.status}, nothing paid")
    if invoice.subscription_id != subscription.stripe_subscription_id:
        return InvoiceOutcome(None, False, "invoice of another subscription")
    intent = stripe_api.retrieve_payment_intent(
        payment_intent_id=invoice.payment_intent_id, locked=True
    )
    order_id, created = _make_order(session, subscription, invoice, billing, now)
    outcome = fulfil_order(
        session=session, order_id=order_id, payment_intent=intent, paid_at=invoice.paid_at, now=now
    )
    if outcome.problem:
        log.error(
            "subscription invoice not fulfilled",
            extra={"order_id": order_id, "invoice": invoice.id, "problem": outcome.problem},
        )
        return InvoiceOutcome(order_id, created, outcome.problem)
    return InvoiceOutcome(order_id, created, "fulfilled" if outcome.fulfilled_now else "paid")


def _make_order(
    session: Session,
    subscription: Subscription,
    invoice: InvoiceInfo,
    metadata: dict[str, str],
    now: datetime,
) -> tuple[int, bool]:
    """The order row, its plan line and tax lines; (order id, whether it was made now)."""
    product = _invoice_product(session, subscription, invoice)
    tax = sum(t.amount for t in invoice.taxes if not t.inclusive)
    subtotal = sum(line.amount for line in invoice.lines if line.amount > 0)
    subtotal = max(subtotal, invoice.amount_paid - tax)
    discount = subtotal + tax - invoice.amount_paid
    inserted = insert_ignoring_conflicts(
        session,
        Order,
        {
            "user_id": subscription.user_id,
            "status": OrderStatus.PENDING.value,
            "currency": invoice.currency,
            "subtotal_amount": subtotal,
            "discount_amount": discount,
            "tax_amount": tax,
            "total_amount": invoice.amount_paid,
            "stripe_payment_intent_id": invoice.payment_intent_id,
            "stripe_invoice_id": invoice.id,
            "subscription_id": subscription.id,
            "billing_country": metadata.get("billing_country") or None,
            "billing_region": metadata.get("billing_region") or None,
            "billing_postal_code": metadata.get("billing_postal_code") or None,
            "number": orders.new_order_number(),
            "created_at": now,
            "updated_at": now,
        },
    )
    order_id = session.exec(select(Order.id).where(Order.stripe_invoice_id == invoice.id)).one()
    assert order_id is not None
    if not inserted:
        return order_id, False
    session.add(
        OrderItem(
            order_id=order_id,
            product_id=product.id,  # type: ignore[arg-type]
            product_name=product.name,
            quantity=1,
            price_at_time=subtotal,
            created_at=now,
        )
    )
    numbers = _registration_numbers(metadata, product, now)
    for position, tax_line in enumerate(t for t in invoice.taxes if not t.inclusive):
        rate = _tax_rate(tax_line.tax_rate_id) if tax_line.tax_rate_id else None
        name = (rate.display_name if rate else "Tax")[:10]
        jurisdiction = ((rate.jurisdiction if rate else None) or "")[:10]
        fraction = Decimal(rate.percentage) / 100 if rate else Decimal(0)
        session.add(
            OrderTaxLine(
                order_id=order_id,
                position=position,
                name=name,
                jurisdiction=jurisdiction,
                rate=format(fraction.normalize(), "f"),
                amount=tax_line.amount,
                registration_number=numbers.get((name, jurisdiction)),
                created_at=now,
            )
        )
    session.flush()
    return order_id, True


def _invoice_product(session: Session, subscription: Subscription, invoice: InvoiceInfo) -> Product:
    """The plan the invoice charges for (after a switch, the new one)."""
    for line in invoice.lines:
        found = _product_of_stripe(session, line.stripe_product_id) if line.amount > 0 else None
        if found is not None:
            return found
    product = session.get(Product, subscription.product_id) if subscription.product_id else None
    if product is None:
        raise LookupError(f"no product for subscription {subscription.stripe_subscription_id}")
    return product


def _registration_numbers(
    metadata: dict[str, str], product: Product, now: datetime
) -> dict[tuple[str, str], str | None]:
    """The merchant's number for each tax the buyer's address bears, for the receipt."""
    try:
        lines = plan_tax(
            product=product,
            billing=orders.Billing(
                country=metadata.get("billing_country") or "CA",
                region=metadata.get("billing_region") or None,
            ),
            on=now.date(),
        )
    except InvalidInput:
        return {}
    return {(line.name, line.jurisdiction): line.registration_number for line in lines}


# --- the customer's own subscriptions -------------------------------------------------------


def _detail(session: Session, row: Subscription) -> SubscriptionDetail:
    product = session.get(Product, row.product_id) if row.product_id else None
    return SubscriptionDetail(row, product.name if product else "")


def list_subscriptions(
    *, session: Session, user_id: int, see_all: bool = False
) -> list[SubscriptionDetail]:
    """Newest first: the user's own, or everyone's for staff (`see_all`)."""
    statement = select(Subscription)
    if not see_all:
        statement = statement.where(Subscription.user_id == user_id)
    rows = session.exec(statement.order_by(col(Subscription.id).desc()).limit(500)).all()
    return [_detail(session, row) for row in rows]


def find_own(*, session: Session, user_id: int, subscription_id: int) -> Subscription:
    """The user's subscription; someone else's is NotFound like a missing one."""
    row = session.get(Subscription, subscription_id)
    if row is None or row.user_id != user_id:
        raise NotFound(f"No subscription {subscription_id}.")
    return row


def get_own(
    *, session: Session, user_id: int, subscription_id: int, see_all: bool = False
) -> SubscriptionDetail:
    """The user's subscription, or anyone's for staff (`see_all`, as `list_subscriptions`)."""
    if see_all:
        row = session.get(Subscription, subscription_id)
        if row is None:
            raise NotFound(f"No subscription {subscription_id}.")
        return _detail(session, row)
    return _detail(
        session, find_own(session=session, user_id=user_id, subscription_id=subscription_id)
    )


def _version(row: Subscription) -> int:
    """Part of an update's idempotency key: a retried request repeats it, while the same
    change asked again after the row changed (cancel, resume, cancel) is a new request."""
    return int(row.updated_at.timestamp() * 1_000_000)


def change(
    *,
    user_id: int,
    subscription_id: int,
    cancel_at_period_end: bool | None = None,
    product_id: int | None = None,
    sessions: SessionFactory = session_scope,
) -> SubscriptionDetail:
    """Schedule or undo the cancellation at period end, and/or switch to another plan of the
    same family (prorated by Stripe; a new interval starts now and is invoiced at once)."""
    with sessions() as session:
        row = find_own(session=session, user_id=user_id, subscription_id=subscription_id)
        if row.status in ENDED or row.status.startswith("incomplete"):
            raise SubscriptionEnded(f"This subscription is {row.status}; it cannot be changed.")
        stripe_id, version = row.stripe_subscription_id, _version(row)
        customer_id = session.exec(select(User.stripe_customer_id).where(User.id == user_id)).one()
        price_id = None
        if product_id is not None and product_id != row.product_id:
            target = _plan(session, product_id)
            current = session.get(Product, row.product_id) if row.product_id else None
            if current is None or plan_family(current) != plan_family(target):
                raise InvalidInput(
                    f"{target.name} is not another plan of this membership.", field="product_id"
                )
            if target.currency != current.currency:
                raise InvalidInput(
                    f"{target.name} is charged in another currency.", field="product_id"
                )
            price_id = target.stripe_price_id
    assert customer_id is not None
    key = f"{stripe_id}:update:{version}:cape={cancel_at_period_end}:price={price_id}"
    if cancel_at_period_end is not None or price_id is not None:
        item_id = None
        if price_id is not None:
            item_id = _stripe(
                lambda: stripe_api.retrieve_subscription(subscription_id=stripe_id)
            ).item_id
        updated = _stripe(
            lambda: stripe_api.update_subscription(
                subscription_id=stripe_id,
                idempotency_key=key,
                cancel_at_period_end=cancel_at_period_end,
                item_id=item_id,
                price_id=price_id,
                metadata={"shop_product_id": str(product_id)} if price_id else None,
            )
        )
        latest = updated.latest_invoice_id
    else:
        latest = None
    return _synced(stripe_id, customer_id, latest, sessions)


def cancel(
    *,
    user_id: int,
    subscription_id: int,
    immediately: bool = False,
    sessions: SessionFactory = session_scope,
) -> SubscriptionDetail:
    """Cancel at the end of the paid period (the member keeps what they paid for), or now. An
    ended subscription is answered as it is, however it is asked to end (DELETE is safe to
    repeat)."""
    if not immediately:
        with sessions() as session:
            row = find_own(session=session, user_id=user_id, subscription_id=subscription_id)
            if row.status in ENDED:
                return _detail(session, row)
        return change(
            user_id=user_id,
            subscription_id=subscription_id,
            cancel_at_period_end=True,
            sessions=sessions,
        )
    with sessions() as session:
        row = find_own(session=session, user_id=user_id, subscription_id=subscription_id)
        stripe_id, status = row.stripe_subscription_id, row.status
        customer_id = session.exec(select(User.stripe_customer_id).where(User.id == user_id)).one()
    assert customer_id is not None
    if status not in ENDED:
        _stripe(
            lambda: stripe_api.cancel_subscription(
                subscription_id=stripe_id, idempotency_key=f"{stripe_id}:cancel-now"
            )
        )
    return _synced(stripe_id, customer_id, None, sessions)


def _synced(
    stripe_id: str, customer_id: str, invoice_id: str | None, sessions: SessionFactory
) -> SubscriptionDetail:
    with sessions() as session:
        row = _stripe(
            lambda: sync(
                session=session,
                stripe_subscription_id=stripe_id,
                customer_id=customer_id,
                invoice_id=invoice_id,
            )
        )
        if row is None:  # pragma: no cover - our own subscription has our customer
            raise NotFound("No such subscription.")
        return _detail(session, row)


def portal_url(*, session: Session, user_id: int) -> str:
    """A Billing Portal session for the user's Stripe Customer."""
    customer_id = session.exec(select(User.stripe_customer_id).where(User.id == user_id)).first()
    if not customer_id:
        raise NoBillingAccount(
            "You have no billing account yet: it is made with your first subscription."
        )
    return_url = f"{get_settings().public_url}{RETURN_PATH}"
    # The same page for repeated clicks within a minute; a fresh one after (they expire).
    minute = int(utcnow().timestamp()) // 60
    return _stripe(
        lambda: stripe_api.create_portal_session(
            customer_id=customer_id,
            return_url=return_url,
            idempotency_key=f"{customer_id}:portal:{minute}",
        )
    )


def sync_from_event(
    *,
    session: Session,
    stripe_subscription_id: str | None,
    customer_id: str | None,
    invoice_id: str | None = None,
) -> str:
    """What a webhook handler does with a subscription event: a note for the log."""
    if not stripe_subscription_id or not customer_id:
        return "not a subscription"
    row = sync(
        session=session,
        stripe_subscription_id=stripe_subscription_id,
        customer_id=customer_id,
        invoice_id=invoice_id,
    )
    if row is None:
        return "unknown customer"
    return f"subscription {row.status}"


__all__ = [
    "AlreadySubscribed",
    "CheckoutStarted",
    "InvoiceOutcome",
    "NoBillingAccount",
    "NotAPlan",
    "PaymentDeclined",
    "PlanUnavailable",
    "SubscriptionDetail",
    "SubscriptionEnded",
    "cancel",
    "change",
    "ensure_customer",
    "list_subscriptions",
    "plan_family",
    "plan_tax",
    "portal_url",
    "record_paid_invoice",
    "revoke_grants",
    "start",
    "stripe_tax_rates",
    "sync",
    "sync_from_event",
]
