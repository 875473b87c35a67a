"""What the shop sells."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Field, SQLModel

from shop.models.base import UTCDateTime, created_at_field, updated_at_field

# Accents of Latin, Greek and Cyrillic letters; Japanese voiced marks (U+3099) are not folded.
_ACCENTS = range(0x0300, 0x0370)
_LOOKALIKES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
# Between the fields of `search_text`: a query never contains it (control characters are
# stripped from queries), so no match spans a product's name and its description.
SEARCH_FIELD_SEPARATOR = "\x1f"


def fold_for_search(text: str) -> str:
    """Text as search compares it: case and accents folded, whitespace runs made one space.

    `fold_for_search("Crème  BRÛLÉE")` → `"creme brulee"`. Done in Python, the same on SQLite
    (whose lower() folds ASCII only) and PostgreSQL (no unaccent extension needed).
    """
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    bare = "".join(c for c in decomposed if ord(c) not in _ACCENTS)
    return " ".join(unicodedata.normalize("NFC", bare).translate(_LOOKALIKES).split())


def product_search_text(name: str, slug: str, description: str) -> str:
    """What catalog search matches a product on: its name, slug and description, folded."""
    return SEARCH_FIELD_SEPARATOR.join(fold_for_search(t or "") for t in (name, slug, description))


class ProductKind(StrEnum):
    ONE_TIME = "one_time"
    SUBSCRIPTION = "subscription"


class BillingInterval(StrEnum):
    MONTH = "month"
    YEAR = "year"


class SyncStatus(StrEnum):
    """Whether Stripe holds the product's current name, price and state."""

    PENDING = "pending"
    SYNCED = "synced"
    NOT_SYNCED = "not_synced"


class Category(SQLModel, table=True):
    """A shelf of the catalog; `position` orders the shelves."""

    __tablename__ = "categories"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=120, unique=True, index=True)
    name: str = Field(max_length=120)
    position: int = 0
    created_at: datetime = created_at_field()


class Product(SQLModel, table=True):
    """A digital product or a subscription plan; price in minor units of `currency`."""

    __tablename__ = "products"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=160, unique=True, index=True)
    name: str = Field(max_length=200)
    description: str = ""
    price_amount: int = Field(ge=0)
    currency: str = Field(default="cad", max_length=3)
    kind: str = Field(default=ProductKind.ONE_TIME.value, max_length=20)
    interval: str | None = Field(default=None, max_length=10)
    category_id: int | None = Field(default=None, foreign_key="categories.id", index=True)
    is_active: bool = Field(default=True, index=True)
    is_featured: bool = False
    is_tax_exempt: bool = False
    seo_title: str | None = Field(default=None, max_length=200)
    seo_description: str | None = Field(default=None, max_length=320)
    image_path: str | None = Field(default=None, max_length=500)
    image_thumbnail_path: str | None = Field(default=None, max_length=500)
    stripe_product_id: str | None = Field(default=None, max_length=255, index=True)
    stripe_price_id: str | None = Field(default=None, max_length=255, index=True)
    # What `stripe_price_id` charges ("amount:currency:kind:interval"); a change needs a new Price.
    stripe_price_terms: str | None = Field(default=None, max_length=80)
    sync_status: str = Field(
        default=SyncStatus.PENDING.value,
        max_length=20,
        index=True,
        sa_column_kwargs={"server_default": SyncStatus.PENDING.value},
    )
    sync_error: str | None = Field(default=None, max_length=500)
    # Bumped by every admin change; Stripe idempotency keys carry it, so a retry reuses them.
    sync_revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    inventory_count: int | None = Field(default=None, ge=0)
    download_limit: int | None = Field(default=None, ge=1)
    download_days: int | None = Field(default=None, ge=1)
    # product_search_text(name, slug, description), kept current on every write (see below).
    search_text: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


@event.listens_for(Product, "before_insert")
@event.listens_for(Product, "before_update")
def _keep_search_text(_mapper: Any, _connection: Any, product: Product) -> None:
    product.search_text = product_search_text(product.name, product.slug, product.description)


class ProductFile(SQLModel, table=True):
    """The file a customer downloads after buying; stored under a generated key."""

    __tablename__ = "product_files"

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="products.id", index=True, ondelete="CASCADE")
    storage_key: str = Field(max_length=500, unique=True)
    original_name: str = Field(max_length=255)
    content_type: str = Field(default="application/octet-stream", max_length=255)
    size_bytes: int = Field(ge=0)
    sha256: str = Field(max_length=64)
    created_at: datetime = created_at_field()
