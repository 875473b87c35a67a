"""The public catalog: what a visitor may see and how it is listed."""

from __future__ import annotations

import base64
import binascii
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from shop.models import Category, Product
from shop.models.catalog import fold_for_search
from shop.services import ids
from shop.services.errors import InvalidInput
from shop.services.markdown import plain_text
from shop.services.money import format_money

DEFAULT_PAGE_SIZE = 12
MAX_QUERY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class CategoryView:
    id: int
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class ProductView:
    id: int
    slug: str
    name: str
    description: str
    price_amount: int
    currency: str
    price_display: str
    kind: str
    interval: str | None
    category_slug: str | None
    category_name: str | None
    image_url: str | None
    seo_title: str
    seo_description: str
    updated_at: datetime
    # None = unlimited; 0 = sold out (shown, not buyable).
    inventory_count: int | None = None
    # The small image (IMAGE_THUMBNAIL_PX) made with `image_url`, for cards; None when absent.
    thumbnail_url: str | None = None

    @property
    def path(self) -> str:
        return f"/products/{self.slug}"

    @property
    def sold_out(self) -> bool:
        return self.inventory_count is not None and self.inventory_count <= 0


@dataclass(frozen=True, slots=True)
class ProductPage:
    items: list[ProductView]
    next_cursor: str | None


def _to_view(product: Product, category: Category | None) -> ProductView:
    assert product.id is not None
    summary = plain_text(product.description)
    return ProductView(
        id=product.id,
        slug=product.slug,
        name=product.name,
        description=product.description,
        price_amount=product.price_amount,
        currency=product.currency,
        price_display=format_money(product.price_amount, product.currency),
        kind=product.kind,
        interval=product.interval,
        category_slug=category.slug if category else None,
        category_name=category.name if category else None,
        image_url=f"/media/{product.image_path}" if product.image_path else None,
        seo_title=product.seo_title or product.name,
        seo_description=product.seo_description or summary[:300],
        updated_at=product.updated_at,
        inventory_count=product.inventory_count,
        thumbnail_url=(
            f"/media/{product.image_thumbnail_path}" if product.image_thumbnail_path else None
        ),
    )


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"p:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        last_id = ids.parse_id(value)
        if prefix != "p" or last_id is None:
            raise ValueError(raw)
        return last_id
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("The cursor is not one this API gave out.", field="cursor") from exc


def clean_query(q: str | None) -> str:
    """A search query as typed, without control characters (a NUL would end SQLite's LIKE
    pattern early and match everything) and with whitespace runs made one space; "" = no search.
    """
    text = "".join(c for c in q or "" if c.isspace() or unicodedata.category(c) != "Cc")
    return " ".join(text.split())[:MAX_QUERY_LENGTH].strip()


def search_condition(q: str | None) -> ColumnElement[bool] | None:
    """The WHERE clause matching products whose name, slug or description contains `q`,
    ignoring case and accents alike on SQLite and PostgreSQL; None when `q` is no search.
    Storefront, API and admin lists all search through this."""
    query = fold_for_search(clean_query(q))
    if not query:
        return None
    pattern = "%" + query.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
    return col(Product.search_text).like(pattern, escape="\\")


def _active_listing(statement, *, category: str | None, q: str | None):  # type: ignore[no-untyped-def]
    statement = statement.join(
        Category, col(Product.category_id) == col(Category.id), isouter=True
    ).where(col(Product.is_active).is_(True))
    if category:
        statement = statement.where(col(Category.slug) == category)
    condition = search_condition(q)
    if condition is not None:
        statement = statement.where(condition)
    return statement


def list_products(
    *,
    session: Session,
    category: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
) -> ProductPage:
    """Active products in a stable order, one page at a time."""
    if limit < 1:
        raise InvalidInput("limit must be at least 1.", field="limit")
    statement = _active_listing(select(Product, Category), category=category, q=q)
    if cursor:
        statement = statement.where(col(Product.id) > decode_cursor(cursor))
    rows = session.exec(statement.order_by(col(Product.id)).limit(limit + 1)).all()
    items = [_to_view(product, cat) for product, cat in rows[:limit]]
    next_cursor = encode_cursor(items[-1].id) if len(rows) > limit and items else None
    return ProductPage(items=items, next_cursor=next_cursor)


def count_products(*, session: Session, category: str | None = None, q: str | None = None) -> int:
    """How many active products a listing with these filters holds (for page counts)."""
    statement = _active_listing(
        select(func.count(col(Product.id))).select_from(Product), category=category, q=q
    )
    return int(session.exec(statement).one())


def get_product(*, session: Session, id_or_slug: str) -> ProductView | None:
    """One active product by numeric id or slug; archived products are not public."""
    statement = select(Product, Category).join(
        Category, col(Product.category_id) == col(Category.id), isouter=True
    )
    if id_or_slug.isdigit():  # numbers alone are ids, never slugs (see slugs.slug_problem)
        product_id = ids.parse_id(id_or_slug)
        if product_id is None:
            return None
        statement = statement.where(col(Product.id) == product_id)
    else:
        statement = statement.where(col(Product.slug) == id_or_slug)
    row = session.exec(statement.where(col(Product.is_active).is_(True))).first()
    return _to_view(*row) if row else None


def featured_products(*, session: Session, limit: int = 4) -> list[ProductView]:
    """Products the merchant marked featured, topped up with others, each group in the order
    the products were added (the catalogue's first products lead when none is featured)."""
    statement = (
        select(Product, Category)
        .join(Category, col(Product.category_id) == col(Category.id), isouter=True)
        .where(col(Product.is_active).is_(True))
        .order_by(col(Product.is_featured).desc(), col(Product.id))
        .limit(limit)
    )
    return [_to_view(product, cat) for product, cat in session.exec(statement).all()]


def list_categories(*, session: Session) -> list[CategoryView]:
    rows = session.exec(select(Category).order_by(col(Category.position), col(Category.name)))
    return [CategoryView(id=c.id or 0, slug=c.slug, name=c.name) for c in rows.all()]


def sitemap_entries(*, session: Session) -> list[tuple[str, datetime]]:
    """(slug, last change) of every active product, for /sitemap.xml."""
    rows = session.exec(
        select(Product.slug, Product.updated_at)
        .where(col(Product.is_active).is_(True))
        .order_by(col(Product.id))
    )
    return [(slug, updated_at) for slug, updated_at in rows.all()]
