"""Small builders for test data; each returns the saved row."""

from __future__ import annotations

import itertools

from sqlmodel import Session

from shop.models import Category, Product, User, UserRole

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
