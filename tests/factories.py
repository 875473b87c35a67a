"""Small builders for test data; each returns the saved row."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from sqlmodel import Session

from shop.models import (
    Category,
    Order,
    OrderItem,
    OrderTaxLine,
    Product,
    PromoCode,
    Refund,
    User,
    UserRole,
    utcnow,
)

_counter = itertools.count(1)


def make_category(
    session: Session, *, slug: str | None = None, name: str | None = None
) -> Category:
    n = next(_counter)
    category = Category(slug=slug or f"category-{n}", name=name or f"Category {n}", position=n)
    session.add(category)
    session.flush()
    return category


def make_product(
    session: Session,
    *,
    name: str | None = None,
    slug: str | None = None,
    price_amount: int = 1000,
    category: Category | None = None,
    is_active: bool = True,
    description: str = "A useful digital product.",
    **fields: object,
) -> Product:
    n = next(_counter)
    product = Product(
        name=name or f"Product {n}",
        slug=slug or f"product-{n}",
        price_amount=price_amount,
        currency="cad",
        description=description,
        category_id=category.id if category else None,
        is_active=is_active,
        **fields,
    )
    session.add(product)
    session.flush()
    return product


# --- accounts -----------------------------------------------------------------------------

DEFAULT_PASSWORD = "correct horse battery staple"
_hash_cache: dict[tuple[str, int, int], str] = {}


def _hashed(password: str) -> str:
    # One real argon2id hash per password and parameter set, shared by the users of a run.
    from shop.services import passwords
    from shop.settings import get_settings

    settings = get_settings()
    key = (password, settings.argon2_time_cost, settings.argon2_memory_kib)
    if key not in _hash_cache:
        _hash_cache[key] = passwords.hash_password(password)
    return _hash_cache[key]


def make_user(
    session: Session,
    *,
    email: str | None = None,
    password: str | None = DEFAULT_PASSWORD,
    roles: tuple[str, ...] = ("customer",),
    name: str | None = None,
    is_active: bool = True,
    email_verified: bool = True,
) -> User:
    from shop.services.permissions import ensure_roles

    n = next(_counter)
    user = User(
        email=(email or f"user{n}@example.com").lower(),
        name=name or f"User {n}",
        hashed_password=_hashed(password) if password is not None else None,
        is_active=is_active,
        email_verified=email_verified,
    )
    session.add(user)
    session.flush()
    known = ensure_roles(session=session)
    for role in roles:
        session.add(UserRole(user_id=user.id, role_id=known[role].id))
    session.flush()
    return user


def sign_in_as(session: Session, user: User, *, ip: str = "127.0.0.1"):
    """Open a session for `user` without a password check; returns auth.SignedIn."""
    from shop.services import auth

    return auth.start_session(session=session, user=user, ip=ip, user_agent="tests")


# --- orders -------------------------------------------------------------------------------


def make_order(
    session: Session,
    *,
    paid_at: datetime | None,
    items: list[tuple[Product, int, int]],
    currency: str = "cad",
    discount: int = 0,
    taxes: tuple[tuple[str, str, str, int], ...] = (),
    status: str = "paid",
    created_at: datetime | None = None,
    promo_code: str | None = None,
    user: User | None = None,
) -> Order:
    """An order paid and fulfilled at `paid_at` (None: never paid, pass a `status` and
    `created_at`): `items` are (product, quantity, unit price), `taxes` (name, jurisdiction,
    rate, amount); the totals follow from them as checkout computes them. `promo_code` names
    the (new) code that gave the `discount`."""
    subtotal = sum(quantity * price for _, quantity, price in items)
    tax = sum(amount for *_, amount in taxes)
    promo = None
    if promo_code is not None:
        promo = PromoCode(code=promo_code, amount_off=discount, currency=currency)
        session.add(promo)
        session.flush()
    order = Order(
        user_id=user.id if user else None,
        promo_code_id=promo.id if promo else None,
        status=status,
        currency=currency,
        subtotal_amount=subtotal,
        discount_amount=discount,
        tax_amount=tax,
        total_amount=subtotal - discount + tax,
        number=f"ORD-TEST-{next(_counter):04d}",
        paid_at=paid_at,
        fulfilled_at=paid_at,
        created_at=created_at or (paid_at - timedelta(minutes=5) if paid_at else utcnow()),
    )
    session.add(order)
    session.flush()
    for product, quantity, price in items:
        session.add(
            OrderItem(
                order_id=order.id,  # type: ignore[arg-type]
                product_id=product.id,  # type: ignore[arg-type]
                product_name=product.name,
                quantity=quantity,
                price_at_time=price,
            )
        )
    for position, (name, jurisdiction, rate, amount) in enumerate(taxes):
        session.add(
            OrderTaxLine(
                order_id=order.id,  # type: ignore[arg-type]
                position=position,
                name=name,
                jurisdiction=jurisdiction,
                rate=rate,
                amount=amount,
            )
        )
    session.flush()
    return order


def make_refund(
    session: Session, order: Order, *, amount: int, at: datetime, status: str = "succeeded"
) -> Refund:
    refund = Refund(
        order_id=order.id,  # type: ignore[arg-type]
        stripe_refund_id=f"re_test_{next(_counter)}",
        amount=amount,
        currency=order.currency,
        status=status,
        created_at=at,
    )
    session.add(refund)
    session.flush()
    return refund
