"""Orders: price a cart from the catalog, apply a promo code, add tax, store a pending order.

No amount ever comes from the client: prices are read from the catalog when the order is
placed, the discount from the promo code's rules, the tax from `calculate_tax`. The stored
order (items at their price then, tax lines, totals) is what the PaymentIntent charges, what
the webhook checks and what the receipt prints.

Tax registrations (`merchant_tax_registrations`): the GST_HST_NUMBER, QST_NUMBER, BC_PST_NUMBER,
SK_PST_NUMBER and MB_RST_NUMBER settings. When none is set, a development or test shop uses
the made-up demo numbers so checkout shows real Canadian taxes out of the box; a production
shop with none set collects no tax (it must not charge a tax it cannot remit) and says so in
its log.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from shop.models import (
    Order,
    OrderItem,
    OrderStatus,
    OrderTaxLine,
    Product,
    ProductKind,
    PromoCode,
    utcnow,
)
from shop.services import holds, ids, promo_codes
from shop.services.errors import Conflict, InvalidInput, NotFound
from shop.services.money import format_money
from shop.services.tax import (
    TaxableLine,
    TaxLine,
    TaxRegistrations,
    calculate_tax,
    demo_registrations,
)
from shop.settings import Settings, get_settings

log = logging.getLogger("shop.orders")

MAX_LINES = 50
MAX_QUANTITY = 99
# Stripe refuses card charges below about 0.50 in most currencies, and above 99,999,999 minor
# units (eight digits) in all.
MIN_CHARGE = 50
MAX_CHARGE = 99_999_999
NUMBER_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"


@dataclass(frozen=True, slots=True)
class LineRequest:
    """What the customer asks for: a product and how many. Never a price."""

    product_id: int
    quantity: int = 1


@dataclass(frozen=True, slots=True)
class Billing:
    country: str
    region: str | None = None
    postal_code: str | None = None


@dataclass(frozen=True, slots=True)
class QuotedLine:
    product_id: int
    name: str
    unit_amount: int
    quantity: int
    amount: int
    tax_exempt: bool


@dataclass(frozen=True, slots=True)
class Quote:
    """An order's figures before it is stored; all amounts in minor units of `currency`."""

    currency: str
    lines: list[QuotedLine]
    subtotal: int
    discount: int
    tax_lines: list[TaxLine]
    tax: int
    total: int
    billing: Billing
    promo: promo_codes.AppliedPromo | None = None
    problems: list[str] = field(default_factory=list)


class TotalChanged(Conflict):
    """The buyer was shown another total than the catalog gives now: nothing is placed, and
    `quote` holds the new figures for the buyer to check before paying."""

    code = "total_changed"

    def __init__(self, message: str, *, quote: Quote):
        super().__init__(message, field="expected_total")
        self.quote = quote


def merchant_tax_registrations(settings: Settings | None = None) -> TaxRegistrations:
    settings = settings or get_settings()
    numbers = TaxRegistrations(
        gst_hst_number=settings.gst_hst_number,
        qst_number=settings.qst_number,
        bc_pst_number=settings.bc_pst_number,
        sk_pst_number=settings.sk_pst_number,
        mb_rst_number=settings.mb_rst_number,
    )
    if any((number or "").strip() for number in vars_of(numbers)):
        return numbers
    if settings.shop_env != "production":
        return demo_registrations()
    log.warning("no sales-tax registration numbers are set: no tax is collected")
    return numbers


def vars_of(registrations: TaxRegistrations) -> list[str | None]:
    return [
        registrations.gst_hst_number,
        registrations.qst_number,
        registrations.bc_pst_number,
        registrations.sk_pst_number,
        registrations.mb_rst_number,
    ]


def _merge(items: list[LineRequest]) -> list[LineRequest]:
    if not items:
        raise InvalidInput("The order has no items.", field="items")
    if len(items) > MAX_LINES:
        raise InvalidInput(f"An order holds at most {MAX_LINES} products.", field="items")
    merged: dict[int, int] = {}
    for item in items:
        if isinstance(item.quantity, bool) or item.quantity < 1:
            raise InvalidInput("Each quantity must be at least 1.", field="items")
        merged[item.product_id] = merged.get(item.product_id, 0) + item.quantity
    for quantity in merged.values():
        if quantity > MAX_QUANTITY:
            raise InvalidInput(f"At most {MAX_QUANTITY} of one product.", field="items")
    return [LineRequest(product_id=pid, quantity=q) for pid, q in merged.items()]


def quote(
    *,
    session: Session,
    items: list[LineRequest],
    billing: Billing,
    promo_code: str | None = None,
    user_id: int | None = None,
    now: datetime | None = None,
    firm_ids: frozenset[int] = frozenset(),
) -> Quote:
    """Price these items for this buyer now, from the catalog; raises when they cannot be sold,
    counting what other buyers' unpaid orders hold (`holds`; `firm_ids` are orders that could
    not give way)."""
    now = now or utcnow()
    wanted = _merge(items)
    ids = [item.product_id for item in wanted]
    products = {
        p.id: p for p in session.exec(select(Product).where(col(Product.id).in_(ids))).all()
    }
    held = holds.stock_holds(
        session=session,
        product_ids=[p.id for p in products.values() if p.id and p.inventory_count is not None],
        buyer_id=user_id,
        now=now,
        firm_ids=firm_ids,
    )
    lines: list[QuotedLine] = []
    for item in wanted:
        product = _available(
            products.get(item.product_id),
            item.product_id,
            item.quantity,
            held=held.get(item.product_id),
            now=now,
        )
        if product.kind != ProductKind.ONE_TIME.value:
            raise InvalidInput(
                f"{product.name} is a subscription: subscribe with POST /api/subscriptions, "
                "it cannot be bought at checkout.",
                field="items",
            )
        lines.append(
            QuotedLine(
                product_id=item.product_id,
                name=product.name,
                unit_amount=product.price_amount,
                quantity=item.quantity,
                amount=product.price_amount * item.quantity,
                tax_exempt=product.is_tax_exempt,
            )
        )
    currencies = {products[line.product_id].currency.lower() for line in lines}
    if len(currencies) != 1:
        raise InvalidInput("All products of one order must share a currency.", field="items")
    currency = currencies.pop()
    subtotal = sum(line.amount for line in lines)

    applied = None
    if promo_code and promo_code.strip():
        applied = promo_codes.apply_promo_code(
            session=session,
            code=promo_code,
            user_id=user_id,
            lines=[promo_codes.PromoLine(line.product_id, line.amount) for line in lines],
            currency=currency,
            now=now,
            firm_ids=firm_ids,
        )
    discount = applied.discount if applied else 0
    if applied is None or applied.order_level:
        taxable = [TaxableLine(line.amount, line.tax_exempt) for line in lines]
        order_discount = discount
    else:
        taxable = [
            TaxableLine(line.amount - share, line.tax_exempt)
            for line, share in zip(lines, applied.line_discounts, strict=True)
        ]
        order_discount = 0
    tax = calculate_tax(
        lines=taxable,
        discount=order_discount,
        currency=currency,
        country=billing.country,
        region=billing.region,
        registrations=merchant_tax_registrations(),
        on=now.date(),
    )
    total = subtotal - discount + tax.total_tax
    return Quote(
        currency=currency,
        lines=lines,
        subtotal=subtotal,
        discount=discount,
        tax_lines=tax.lines,
        tax=tax.total_tax,
        total=total,
        billing=billing,
        promo=applied,
    )


def _available(
    product: Product | None,
    product_id: int,
    quantity: int,
    *,
    held: holds.Holds | None = None,
    now: datetime | None = None,
) -> Product:
    """The product, when it is on sale with `quantity` in stock that other buyers' unpaid
    orders do not hold (`held`); else `Conflict` saying why."""
    if product is None or not product.is_active:
        name = product.name if product else f"Product {product_id}"
        raise Conflict(f"{name} is no longer available.", code="product_unavailable", field="items")
    if product.inventory_count is None:
        return product
    held_by_others = held.firm_quantity if held else 0
    free = product.inventory_count - held_by_others
    if free >= quantity:
        return product
    if product.inventory_count == 0:
        message = f"{product.name} is sold out."
    elif free <= 0:
        assert held is not None
        minutes = held.minutes_until_one_yields(now=now or utcnow())
        wait = f"try again in {minutes} minute{'s' if minutes != 1 else ''}."
        message = (
            f"The last copy of {product.name} is in another customer's checkout; {wait}"
            if product.inventory_count == 1
            else f"The last copies of {product.name} are in other customers' checkouts; {wait}"
        )
    else:
        message = f"Only {free} of {product.name} left."
    raise Conflict(message, code="sold_out", field="items")


def check_still_payable(*, session: Session, order: Order, now: datetime | None = None) -> None:
    """Just before a pending order is charged by a server-side confirmation: its products are
    still on sale with the stock it needs, and its promo code may still be used by its buyer.
    The order keeps the prices it was placed at; a refusal charges nothing and leaves it
    pending, so the customer starts checkout again and sees what changed."""
    items = session.exec(select(OrderItem).where(OrderItem.order_id == order.id)).all()
    ids = [item.product_id for item in items]
    products = {
        p.id: p for p in session.exec(select(Product).where(col(Product.id).in_(ids))).all()
    }
    for item in items:
        _available(products.get(item.product_id), item.product_id, item.quantity)
    if order.promo_code_id is not None:
        promo_codes.check_still_usable(
            session=session, promo_code_id=order.promo_code_id, user_id=order.user_id, now=now
        )


def is_free(figures: Quote) -> bool:
    """A promo code pays the whole order: there is nothing for a card to pay."""
    return figures.total == 0 and figures.discount > 0


def card_limit_problem(figures: Quote) -> InvalidInput | None:
    """Why a card cannot pay this total (below `MIN_CHARGE` or above `MAX_CHARGE`), or None.
    A free order (`is_free`) needs no card: None."""
    if is_free(figures):
        return None
    if figures.total < MIN_CHARGE:
        minimum = format_money(MIN_CHARGE, figures.currency)
        if figures.promo is not None and figures.total + figures.discount >= MIN_CHARGE:
            return InvalidInput(
                f"With the promo code {figures.promo.code} the total would be "
                f"{format_money(figures.total, figures.currency)}, below the {minimum} a card "
                "payment needs; add to your order or use it on a larger one.",
                field="promo_code",
            )
        return InvalidInput(f"The total must be at least {minimum} to pay by card.", field="items")
    if figures.total > MAX_CHARGE:
        return InvalidInput(
            "The total is more than one card payment can be "
            f"({format_money(MAX_CHARGE, figures.currency)}); split the order.",
            field="items",
        )
    return None


def _holds_in_the_way(
    session: Session, figures: Quote, *, buyer_id: int, now: datetime, firm_ids: frozenset[int]
) -> list[holds.HeldOrder]:
    products = {line.product_id: session.get(Product, line.product_id) for line in figures.lines}
    stock = {
        product_id: product.inventory_count
        for product_id, product in products.items()
        if product is not None and product.inventory_count is not None
    }
    promo = (
        session.get(PromoCode, figures.promo.promo_code_id) if figures.promo is not None else None
    )
    return holds.in_the_way(
        session=session,
        wanted={
            line.product_id: line.quantity for line in figures.lines if line.product_id in stock
        },
        stock=stock,
        promo=promo,
        buyer_id=buyer_id,
        now=now,
        firm_ids=firm_ids,
    )


def new_order_number() -> str:
    chars = "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(8))
    return f"ORD-{chars[:4]}-{chars[4:]}"


def place_order(
    *,
    session: Session,
    buyer_id: int,
    items: list[LineRequest],
    billing: Billing,
    promo_code: str | None = None,
    now: datetime | None = None,
    expected_total: int | None = None,
    firm_ids: frozenset[int] = frozenset(),
) -> Order:
    """Store a pending order at today's catalog prices, discount and tax; nothing is charged yet.
    The order holds its limited stock and its promo code's use until it is paid or canceled
    (`holds`). With `expected_total` (the total the buyer was shown), a different total today
    raises `TotalChanged` before anything is stored; when unpaid orders must give way first,
    `holds.HoldsInTheWay` names them (`checkout.start_checkout` releases them and comes back).
    """
    now = now or utcnow()
    holds.lock_scarce(
        session=session,
        product_ids=[item.product_id for item in items],
        promo_code=promo_codes.normalize_code(promo_code) if promo_code else None,
    )
    figures = quote(
        session=session,
        items=items,
        billing=billing,
        promo_code=promo_code,
        user_id=buyer_id,
        now=now,
        firm_ids=firm_ids,
    )
    if expected_total is not None and expected_total != figures.total:
        # The page re-prices on this answer and shows the lines as they are now.
        raise TotalChanged(
            f"The total is now {format_money(figures.total, figures.currency)}, not the "
            f"{format_money(expected_total, figures.currency)} shown; "
            "check the new total and pay again.",
            quote=figures,
        )
    refusal = card_limit_problem(figures)
    if refusal is not None:
        raise refusal
    in_the_way = _holds_in_the_way(session, figures, buyer_id=buyer_id, now=now, firm_ids=firm_ids)
    if in_the_way:
        raise holds.HoldsInTheWay(in_the_way)
    country = billing.country.strip().upper()
    order = Order(
        user_id=buyer_id,
        status=OrderStatus.PENDING.value,
        currency=figures.currency,
        subtotal_amount=figures.subtotal,
        discount_amount=figures.discount,
        tax_amount=figures.tax,
        total_amount=figures.total,
        billing_country=country,
        billing_region=(billing.region or "").strip().upper().removeprefix("CA-") or None
        if country == "CA"
        else (billing.region or "").strip().upper()[:3] or None,
        billing_postal_code=(billing.postal_code or "").strip().upper()[:16] or None,
        promo_code_id=figures.promo.promo_code_id if figures.promo else None,
        created_at=now,
        updated_at=now,
    )
    # 29^8 random numbers: a clash is so unlikely that the unique index refusing it is enough.
    order.number = new_order_number()
    session.add(order)
    session.flush()
    assert order.id is not None
    for line in figures.lines:
        session.add(
            OrderItem(
                order_id=order.id,
                product_id=line.product_id,
                product_name=line.name,
                quantity=line.quantity,
                price_at_time=line.unit_amount,
                created_at=now,
            )
        )
    for position, tax_line in enumerate(figures.tax_lines):
        session.add(
            OrderTaxLine(
                order_id=order.id,
                position=position,
                name=tax_line.name,
                jurisdiction=tax_line.jurisdiction,
                rate=str(tax_line.rate),
                amount=tax_line.amount,
                registration_number=tax_line.registration_number,
                created_at=now,
            )
        )
    session.flush()
    return order


# --- reading orders ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderDetail:
    order: Order
    items: list[OrderItem]
    tax_lines: list[OrderTaxLine]


def find_order(
    *, session: Session, reference: str | int, user_id: int, see_all: bool = False
) -> Order:
    """An order by id or PaymentIntent id; someone else's order is NotFound, like a missing one."""
    text = str(reference).strip()
    order: Order | None
    if text.isdigit():  # an id; one that no row can have (or digits like "²") finds none
        order = ids.get_row(session, Order, text)
    elif text.startswith("pi_"):
        order = session.exec(select(Order).where(Order.stripe_payment_intent_id == text)).first()
    else:
        order = session.exec(select(Order).where(Order.number == text.upper())).first()
    if order is None or (not see_all and order.user_id != user_id):
        raise NotFound(f"No order {text}.")
    return order


def order_detail(*, session: Session, order: Order) -> OrderDetail:
    items = session.exec(
        select(OrderItem).where(OrderItem.order_id == order.id).order_by(col(OrderItem.id))
    ).all()
    taxes = session.exec(
        select(OrderTaxLine)
        .where(OrderTaxLine.order_id == order.id)
        .order_by(col(OrderTaxLine.position))
    ).all()
    return OrderDetail(order=order, items=list(items), tax_lines=list(taxes))


def list_orders(
    *,
    session: Session,
    user_id: int,
    see_all: bool = False,
    before_id: int | None = None,
    limit: int = 20,
) -> list[Order]:
    """Newest first; `before_id` pages on."""
    statement = select(Order)
    if not see_all:
        statement = statement.where(Order.user_id == user_id)
    if before_id is not None:
        statement = statement.where(col(Order.id) < before_id)
    return list(session.exec(statement.order_by(col(Order.id).desc()).limit(limit)).all())
