"""Public catalog endpoints."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from shop.api.deps import DbSession
from shop.services import catalog
from shop.services.errors import InvalidInput, NotFound
from shop.settings import get_settings

router = APIRouter(prefix="/api/products", tags=["products"])


# `limit` of the product, user and audit lists: at most API_PAGE_SIZE_MAX (up to 1000).
PAGE_SIZE_HELP = (
    "Items per page: at most the shop's API_PAGE_SIZE_MAX (100 by default); "
    "omitted, the route's default or that maximum if smaller."
)
PAGE_SIZE_CEILING = 1000


def page_size(limit: int | None, *, default: int) -> int:
    """`limit` if the shop's API_PAGE_SIZE_MAX allows it, else a 422 naming the maximum;
    without a `limit`, the route's default (no larger than the maximum)."""
    largest = get_settings().api_page_size_max
    if limit is None:
        return min(default, largest)
    if limit > largest:
        raise InvalidInput(f"limit must be at most {largest}.", field="limit")
    return limit


class Money(BaseModel):
    amount: int
    currency: str


class CategoryOut(BaseModel):
    slug: str
    name: str


class ProductOut(BaseModel):
    id: int
    slug: str
    name: str
    description: str
    price: Money
    kind: Literal["one_time", "subscription"]
    interval: Literal["month", "year"] | None = None
    category: CategoryOut | None
    image_url: str | None
    url: str
    sold_out: bool = False

    @classmethod
    def from_view(cls, view: catalog.ProductView) -> ProductOut:
        return cls(
            id=view.id,
            slug=view.slug,
            name=view.name,
            description=view.description,
            price=Money(amount=view.price_amount, currency=view.currency),
            kind=view.kind,  # type: ignore[arg-type]
            interval=view.interval,  # type: ignore[arg-type]
            category=(
                CategoryOut(slug=view.category_slug, name=view.category_name or "")
                if view.category_slug
                else None
            ),
            image_url=view.image_url,
            url=view.path,
            sold_out=view.sold_out,
        )


class ProductList(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None


@router.get("", response_model=ProductList)
def list_products(
    session: DbSession,
    category: Annotated[str | None, Query(max_length=120)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=PAGE_SIZE_CEILING, description=PAGE_SIZE_HELP)
    ] = None,
) -> ProductList:
    page = catalog.list_products(
        session=session, category=category, q=q, cursor=cursor, limit=page_size(limit, default=20)
    )
    return ProductList(
        items=[ProductOut.from_view(view) for view in page.items], next_cursor=page.next_cursor
    )


@router.get("/{id_or_slug}", response_model=ProductOut)
def get_product(session: DbSession, id_or_slug: str) -> ProductOut:
    view = catalog.get_product(session=session, id_or_slug=id_or_slug)
    if view is None:
        raise NotFound(f"No product {id_or_slug!r}.")
    return ProductOut.from_view(view)
