"""Staff order and customer management: search, detail with payment timeline, and the small
repairs support makes (resend receipt and download links, reset a download count, extend an
expiry, end a customer's sessions). Every change is audited; the API and the admin pages both
call these, and check the permission first (`orders:read_all`, `orders:write`,
`customers:read`, `customers:write`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import false, func, or_, update
from sqlmodel import Session, col, select

from shop.models import (
    DownloadGrant,
    Order,
    OrderEmail,
    OrderItem,
    OrderStatus,
    OrderTaxLine,
    ProductFile,
    PromoCode,
    Refund,
    RefundStatus,
    Subscription,
    User,
    UserSession,
    WebhookEvent,
    utcnow,
)
from shop.services import audit, auth, clock, ids, mail, orders, receipts, refunds, stripe_api
from shop.services.audit import Actor
from shop.services.errors import Conflict, InvalidInput, NotFound
from shop.services.money import format_money
from shop.settings import get_settings

log = logging.getLogger("shop.backoffice")

STATUSES = tuple(status.value for status in OrderStatus)
DEFAULT_CURRENCY = "cad"  # the main currency of a shop that has not sold yet
MAX_EXTEND_DAYS = 365


@dataclass(frozen=True, slots=True)
class OrderRow:
    id: int
    number: str | None
    status: str
    total: int
    currency: str
    customer_id: int | None
    customer_email: str | None
    payment_intent_id: str | None
    created_at: datetime
    paid_at: datetime | None


@dataclass(frozen=True, slots=True)
class GrantRow:
    id: int
    order_id: int
    order_number: str | None
    product_name: str
    file_name: str
    expires_at: datetime
    download_limit: int
    download_count: int
    revoked_at: datetime | None

    @property
    def downloads_left(self) -> int:
        """As the customer's downloads list counts them: none left once revoked (refunded) or
        expired, whatever the count says."""
        if self.revoked_at is not None or self.expires_at <= utcnow():
            return 0
        return max(self.download_limit - self.download_count, 0)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    type: str
    stripe_event_id: str
    processed_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class OrderOverview:
    order: Order
    customer_email: str | None
    items: list[OrderItem]
    tax_lines: list[OrderTaxLine]
    promo_code: str | None  # the code whose discount the order carries
    refunds: list[Refund]
    refunded_total: int
    refundable: int
    grants: list[GrantRow]
    timeline: list[TimelineEntry]
    emails: list[OrderEmail]


@dataclass(frozen=True, slots=True)
class CurrencyAmount:
    currency: str  # lower case ISO 4217
    amount: int  # in its minor units


@dataclass(frozen=True, slots=True)
class CustomerRow:
    id: int
    email: str
    name: str | None
    is_active: bool
    created_at: datetime
    orders: int  # paid orders, in every currency, refunded ones too
    spent: int  # in `spent_currency`: paid order totals net of succeeded refunds
    spent_currency: str  # the shop's main currency (see `main_currency`)
    # every currency the customer paid in, net of refunds: the main one first, then by code
    spent_by_currency: list[CurrencyAmount] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CustomerOverview:
    user: User
    roles: list[str]
    orders: list[OrderRow]
    grants: list[GrantRow]
    sessions: list[UserSession] = field(default_factory=list)


def _row(order: Order, email: str | None) -> OrderRow:
    assert order.id is not None
    return OrderRow(
        id=order.id,
        number=order.number,
        status=order.status,
        total=order.total_amount,
        currency=order.currency,
        customer_id=order.user_id,
        customer_email=email,
        payment_intent_id=order.stripe_payment_intent_id,
        created_at=order.created_at,
        paid_at=order.paid_at,
    )


def search_orders(
    *,
    session: Session,
    q: str | None = None,
    status: str | None = None,
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
    customer_id: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[OrderRow], int]:
    """Newest first. `q` is an email (or part of one), an order number or a Stripe id
    (`_order_reference_match`). Orders placed (`created_at`) from `date_from` until
    `date_to`, both included: a date without a time is its whole day (the shop's time zone), a datetime (aware)
    that instant."""
    query: Any = select(Order, User.email).join(
        User,
        col(User.id) == col(Order.user_id),
        isouter=True,
    )
    text = (q or "").strip()
    if text:
        match = _order_reference_match(text)
        if not _is_exact_reference(text):
            match = or_(match, func.lower(col(User.email)).contains(text.lower(), autoescape=True))
        query = query.where(match)
    if status:
        if status not in STATUSES:
            raise InvalidInput(f"Unknown status {status!r}.", field="status")
        query = query.where(col(Order.status) == status)
    if date_from is not None:
        query = query.where(col(Order.created_at) >= _bound(date_from, field="date_from"))
    if isinstance(date_to, datetime):
        query = query.where(col(Order.created_at) <= _bound(date_to, field="date_to"))
    elif date_to is not None:
        query = query.where(col(Order.created_at) < _bound(date_to, field="date_to", after=True))
    if customer_id is not None:
        query = query.where(col(Order.user_id) == customer_id)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(Order.id).desc()).offset(offset).limit(limit)).all()
    return [_row(order, email) for order, email in rows], int(total)


STRIPE_ID_PREFIXES = ("pi_", "re_", "ch_", "py_", "in_", "sub_", "cus_")


def _is_exact_reference(text: str) -> bool:
    """A Stripe id or an order id: matched exactly, never as part of an email."""
    return text.startswith(STRIPE_ID_PREFIXES) or text.isdigit()


def _order_reference_match(text: str) -> Any:
    """The orders `text` names: a Stripe id (PaymentIntent `pi_…`, charge `ch_…`/`py_…`,
    refund `re_…`, invoice `in_…`, subscription `sub_…`, customer `cus_…`), an order id, or
    (part of) an order number. LIKE's `%` and `_` in `text` are literal characters. A charge
    is looked up at Stripe (the shop keeps its PaymentIntent); when Stripe cannot be asked
    it matches nothing."""
    if text.startswith(("ch_", "py_")):
        try:
            payment_intent_id = stripe_api.payment_intent_of_charge(charge_id=text)
        except stripe_api.StripeUnavailable:
            log.warning("could not ask Stripe which payment a charge belongs to")
            payment_intent_id = None
        if payment_intent_id is None:
            return false()
        text = payment_intent_id
    if text.startswith("pi_"):
        return col(Order.stripe_payment_intent_id) == text
    if text.startswith("re_"):
        return col(Order.id).in_(
            select(Refund.order_id).where(col(Refund.stripe_refund_id) == text)
        )
    if text.startswith("in_"):
        return col(Order.stripe_invoice_id) == text
    if text.startswith("sub_"):
        return col(Order.subscription_id).in_(
            select(Subscription.id).where(col(Subscription.stripe_subscription_id) == text)
        )
    if text.startswith("cus_"):
        return col(Order.user_id).in_(select(User.id).where(col(User.stripe_customer_id) == text))
    if text.isdigit():  # an order id (one that no row can have matches nothing)
        order_id = ids.parse_id(text)
        return col(Order.id) == order_id if order_id is not None else false()
    return col(Order.number).contains(text.upper(), autoescape=True)


def _bound(day: date | datetime, *, field: str, after: bool = False) -> datetime:
    """The UTC instant a filter's date stands for: a datetime that instant (a naive one as it
    is); a date the first instant of that day in the shop's time zone, or `after` it, of the
    next day. A date so near year 1 or 9999 that the instant falls outside what a datetime
    holds is refused (InvalidInput naming `field`), never an OverflowError."""
    try:
        if isinstance(day, datetime):
            return day.astimezone(UTC) if day.tzinfo is not None else day
        return clock.start_of_day(day + timedelta(days=1) if after else day)
    except (OverflowError, ValueError) as exc:
        raise InvalidInput(
            f"{day.isoformat()} is too far in the past or the future to search by.",
            field=field,
        ) from exc


def find_order(*, session: Session, reference: str | int) -> Order:
    """An order by id, number or PaymentIntent id, whoever it belongs to."""
    return orders.find_order(session=session, reference=reference, user_id=0, see_all=True)


def _grants(session: Session, *conditions: Any) -> list[GrantRow]:
    rows = session.exec(
        select(DownloadGrant, OrderItem, Order, ProductFile)
        .join(OrderItem, col(OrderItem.id) == col(DownloadGrant.order_item_id))
        .join(Order, col(Order.id) == col(OrderItem.order_id))
        .join(ProductFile, col(ProductFile.id) == col(DownloadGrant.product_file_id))
        .where(*conditions)
        .order_by(col(DownloadGrant.id))
    ).all()
    return [
        GrantRow(
            id=grant.id,  # type: ignore[arg-type]
            order_id=order.id,  # type: ignore[arg-type]
            order_number=order.number,
            product_name=item.product_name,
            file_name=product_file.original_name,
            expires_at=grant.expires_at,
            download_limit=grant.download_limit,
            download_count=grant.download_count,
            revoked_at=grant.revoked_at,
        )
        for grant, item, order, product_file in rows
    ]


def order_overview(*, session: Session, reference: str | int) -> OrderOverview:
    order = find_order(session=session, reference=reference)
    assert order.id is not None
    user = session.get(User, order.user_id) if order.user_id else None
    items = session.exec(
        select(OrderItem).where(OrderItem.order_id == order.id).order_by(col(OrderItem.id))
    ).all()
    taxes = session.exec(
        select(OrderTaxLine)
        .where(OrderTaxLine.order_id == order.id)
        .order_by(col(OrderTaxLine.position))
    ).all()
    events = session.exec(
        select(WebhookEvent)
        .where(WebhookEvent.order_id == order.id)
        .order_by(col(WebhookEvent.received_at), col(WebhookEvent.id))
    ).all()
    emails = session.exec(
        select(OrderEmail).where(OrderEmail.order_id == order.id).order_by(col(OrderEmail.id))
    ).all()
    promo = session.get(PromoCode, order.promo_code_id) if order.promo_code_id else None
    refunded = refunds.refunded_amount(session=session, order_id=order.id)
    refundable = (
        order.total_amount - refunded
        if order.status in refunds.REFUNDABLE and order.fulfilled_at is not None
        else 0
    )
    return OrderOverview(
        order=order,
        customer_email=user.email if user else None,
        items=list(items),
        tax_lines=list(taxes),
        promo_code=promo.code if promo else None,
        refunds=refunds.refunds_of(session=session, order_id=order.id),
        refunded_total=refunded,
        refundable=max(refundable, 0),
        grants=_grants(session, col(OrderItem.order_id) == order.id),
        timeline=[
            TimelineEntry(
                at=event.received_at,
                type=event.type,
                stripe_event_id=event.stripe_event_id,
                processed_at=event.processed_at,
                last_error=event.last_error,
            )
            for event in events
        ],
        emails=list(emails),
    )


# --- order actions ----------------------------------------------------------------------------


def _paid_order_with_customer(session: Session, order_id: int) -> tuple[Order, User]:
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound(f"No order {order_id}.")
    if order.fulfilled_at is None:
        raise Conflict(f"Order {order.number} is {order.status}; it has not been paid.")
    user = session.get(User, order.user_id) if order.user_id else None
    if user is None:
        raise Conflict(f"Order {order.number} has no customer to write to.")
    return order, user


def resend_receipt(*, session: Session, order_id: int, actor: Actor, ip: str | None = None) -> str:
    """Email the order's receipt again (after commit); returns the address."""
    order, user = _paid_order_with_customer(session, order_id)
    receipts.send_receipt_again(session=session, order=order, to=user.email)
    audit.record(
        session=session,
        action="order.receipt_resent",
        actor=actor,
        target=f"order:{order_id}",
        ip=ip,
        details={"order_number": order.number, "to": user.email},
    )
    return user.email


def resend_download_links(
    *, session: Session, order_id: int, actor: Actor, ip: str | None = None
) -> int:
    """Email the customer where to download the order's files; returns how many are usable."""
    order, user = _paid_order_with_customer(session, order_id)
    now = utcnow()
    usable = [
        grant
        for grant in _grants(session, col(OrderItem.order_id) == order_id)
        if grant.revoked_at is None and grant.expires_at > now and grant.downloads_left > 0
    ]
    if not usable:
        raise Conflict(f"Order {order.number} has no downloads left to send.")
    settings = get_settings()
    lines = [f"Your downloads from {settings.shop_name}, order {order.number}:", ""]
    for grant in usable:
        lines.append(
            f"- {grant.product_name} ({grant.file_name}): {grant.downloads_left} downloads "
            f"left, until {grant.expires_at:%Y-%m-%d}"
        )
    lines += ["", f"Download them here (sign in first): {receipts.downloads_url()}", ""]
    mail.send_after_commit(
        session,
        mail.Mail(
            to=user.email,
            subject=f"Your download links for order {order.number}",
            text="\n".join(lines),
        ),
    )
    audit.record(
        session=session,
        action="order.download_links_resent",
        actor=actor,
        target=f"order:{order_id}",
        ip=ip,
        details={"order_number": order.number, "to": user.email, "grants": len(usable)},
    )
    return len(usable)


def _grant(session: Session, grant_id: int) -> DownloadGrant:
    grant = session.get(DownloadGrant, grant_id)
    if grant is None:
        raise NotFound(f"No download grant {grant_id}.")
    if grant.revoked_at is not None:
        raise Conflict("This download was revoked (the order was refunded).")
    return grant


def grant_row(*, session: Session, grant_id: int) -> GrantRow:
    rows = _grants(session, col(DownloadGrant.id) == grant_id)
    if not rows:
        raise NotFound(f"No download grant {grant_id}.")
    return rows[0]


def reset_download_count(
    *, session: Session, grant_id: int, actor: Actor, ip: str | None = None
) -> DownloadGrant:
    grant = _grant(session, grant_id)
    before = grant.download_count
    session.execute(
        update(DownloadGrant)
        .where(col(DownloadGrant.id) == grant_id)
        .values(download_count=0)
        .execution_options(synchronize_session=False)
    )
    session.refresh(grant)
    audit.record(
        session=session,
        action="grant.download_count_reset",
        actor=actor,
        target=f"grant:{grant_id}",
        ip=ip,
        details={"before": before},
    )
    return grant


def extend_grant(
    *, session: Session, grant_id: int, days: int, actor: Actor, ip: str | None = None
) -> DownloadGrant:
    """Push the expiry `days` later (from now when it has passed already)."""
    if isinstance(days, bool) or not 1 <= days <= MAX_EXTEND_DAYS:
        raise InvalidInput(f"Extend by 1 to {MAX_EXTEND_DAYS} days.", field="days")
    grant = _grant(session, grant_id)
    before = grant.expires_at
    grant.expires_at = max(before, utcnow()) + timedelta(days=days)
    session.add(grant)
    session.flush()
    audit.record(
        session=session,
        action="grant.extended",
        actor=actor,
        target=f"grant:{grant_id}",
        ip=ip,
        details={"before": before.isoformat(), "after": grant.expires_at.isoformat()},
    )
    return grant


# --- customers --------------------------------------------------------------------------------


def main_currency(*, session: Session) -> str:
    """The shop's main currency: the one its paid orders brought most in, CAD before any sale."""
    currency = func.lower(Order.currency)
    total = func.sum(Order.total_amount)
    top = session.exec(
        select(currency, total)  # type: ignore[call-overload]
        .where(col(Order.fulfilled_at).is_not(None))
        .group_by(currency)
        .order_by(total.desc(), currency)
        .limit(1)
    ).first()
    return str(top[0]) if top else DEFAULT_CURRENCY


def search_customers(
    *, session: Session, q: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[CustomerRow], int]:
    """Accounts by email or name (part of either), or by one of their orders: its number, or
    a Stripe id, as `search_orders` matches them (`_order_reference_match`); newest
    first, with their paid orders and what they spent: per currency (never added together),
    net of succeeded refunds."""
    query: Any = select(User)
    text = (q or "").strip()
    if text:
        needle = text.lower()
        query = query.where(
            or_(
                func.lower(col(User.email)).contains(needle, autoescape=True),
                func.lower(func.coalesce(col(User.name), "")).contains(needle, autoescape=True),
                col(User.id).in_(
                    select(Order.user_id).where(
                        col(Order.user_id).is_not(None), _order_reference_match(text)
                    )
                ),
            )
        )
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    users = session.exec(query.order_by(col(User.id).desc()).offset(offset).limit(limit)).all()
    user_ids = [user.id for user in users]
    main = main_currency(session=session)
    counts: dict[int, int] = {}
    # {user id: {currency: net spent}}
    spent: dict[int, dict[str, int]] = {}
    if user_ids:
        currency = func.lower(Order.currency)
        paid = (col(Order.user_id).in_(user_ids), col(Order.fulfilled_at).is_not(None))
        paid_rows: Sequence[Any] = session.exec(
            select(  # type: ignore[call-overload]
                Order.user_id, currency, func.count(), func.sum(Order.total_amount)
            )
            .where(*paid)
            .group_by(col(Order.user_id), currency)
        ).all()
        refund_rows: Sequence[Any] = session.exec(
            select(Order.user_id, currency, func.sum(Refund.amount))  # type: ignore[call-overload]
            .join(Order, col(Order.id) == col(Refund.order_id))
            .where(*paid, col(Refund.status) == RefundStatus.SUCCEEDED)
            .group_by(col(Order.user_id), currency)
        ).all()
        for user_id, code, count, amount in paid_rows:
            counts[int(user_id)] = counts.get(int(user_id), 0) + int(count)
            spent.setdefault(int(user_id), {})[str(code)] = int(amount or 0)
        for user_id, code, amount in refund_rows:
            by_currency = spent.setdefault(int(user_id), {})
            by_currency[str(code)] = by_currency.get(str(code), 0) - int(amount or 0)

    def row(user: User) -> CustomerRow:
        assert user.id is not None
        by_currency = spent.get(user.id, {})
        return CustomerRow(
            id=user.id,
            email=user.email,
            name=user.name,
            is_active=user.is_active,
            created_at=user.created_at,
            orders=counts.get(user.id, 0),
            spent=by_currency.get(main, 0),
            spent_currency=main,
            spent_by_currency=[
                CurrencyAmount(currency=code, amount=amount)
                for code, amount in sorted(by_currency.items(), key=lambda c: (c[0] != main, c[0]))
            ],
        )

    return [row(user) for user in users], int(total)


def customer_overview(*, session: Session, user_id: int) -> CustomerOverview:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No customer {user_id}.")
    orders, _total = search_orders(session=session, customer_id=user_id, limit=200)
    now = utcnow()
    live = [s for s in auth.list_sessions(session=session, user_id=user_id) if s.expires_at > now]
    return CustomerOverview(
        user=user,
        roles=[role.name for role in auth.roles_of(session=session, user_id=user_id)],
        orders=orders,
        grants=_grants(session, col(Order.user_id) == user_id),
        sessions=live,
    )


def end_customer_sessions(
    *, session: Session, user_id: int, actor: Actor, ip: str | None = None
) -> int:
    """Sign the customer out everywhere; returns how many sessions ended."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No customer {user_id}.")
    ended = auth.revoke_user_sessions(session=session, user_id=user_id, reason="ended_by_staff")
    audit.record(
        session=session,
        action="user.sessions_ended",
        actor=actor,
        target=f"user:{user_id}",
        ip=ip,
        details={"email": user.email, "ended": ended},
    )
    return ended


def money(amount: int, currency: str) -> str:
    return format_money(amount, currency)
