"""Public catalog endpoints."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from shop.api.deps import DbSession
from shop.services import catalog
from shop.services.errors import NotFound

router = APIRouter(prefix="/api/products", tags=["products"])


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
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ProductList:
    page = catalog.list_products(
        session=session, category=category, q=q, cursor=cursor, limit=limit
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
