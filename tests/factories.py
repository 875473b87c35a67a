"""Small builders for test data; each returns the saved row."""

from __future__ import annotations

import itertools

from sqlmodel import Session

from shop.models import Category, Product

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
