"""Ids and amounts at the API boundary: nothing the database cannot hold gets past the routes.

    @router.get("/api/admin/products/{product_id}")
    def get_admin_product(product_id: ProductId): ...   # 99999999999999999999999 → 404

    class RefundIn(BaseModel):
        order_id: RowId                                   # 2**70 → 422 invalid_input

A path that names an object by an id no row can have (0, negative, beyond 64 bits) answers 404
like any missing object; text that is not a number at all stays a 422. A body field out of
range is a 422 `invalid_input` naming the field. See `shop.services.ids` for the ranges.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator, Field

from shop.services import ids
from shop.services.errors import NotFound

# --- request bodies and queries: out of range is invalid input (422) -------------------------

RowId = Annotated[int, Field(ge=1, le=ids.MAX_ID)]  # the id of a row
Amount = Annotated[int, Field(ge=0, le=ids.MAX_INT)]  # minor units or a count, stored as INTEGER
Offset = Annotated[int, Query(ge=0, le=ids.MAX_ID)]  # rows to skip in a listing


# --- path segments that name an object: an impossible id is not found (404) ------------------


def _exists_as(noun: str) -> AfterValidator:
    def check(value: int) -> int:
        if ids.parse_id(value) is None:
            raise NotFound(f"No {noun} {value}.")
        return value

    return AfterValidator(check)


def _order_reference(value: str) -> str:
    """An order id, order number or PaymentIntent id: all digits means an id, and one no row can
    have (or digits that are not ASCII, like "²") names no order."""
    text = value.strip()
    if text.isdigit() and ids.parse_id(text) is None:
        raise NotFound(f"No order {text}.")
    return value


ProductId = Annotated[int, _exists_as("product")]
ProductFileId = Annotated[int, _exists_as("file")]
CategoryId = Annotated[int, _exists_as("category")]
OrderId = Annotated[int, _exists_as("order")]
GrantId = Annotated[int, _exists_as("download grant")]
CustomerId = Annotated[int, _exists_as("customer")]
UserId = Annotated[int, _exists_as("user")]
PromoCodeId = Annotated[int, _exists_as("promo code")]
SubscriptionId = Annotated[int, _exists_as("subscription")]
OrderReference = Annotated[str, AfterValidator(_order_reference)]
