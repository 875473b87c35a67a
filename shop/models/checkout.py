"""Checkout: carts, promo codes, tax lines, Stripe webhook events, download grants, receipts.

Everything that must happen once per order is guarded by a unique constraint here, so that
duplicate or racing webhooks cannot double it: one grant per (order item, file), one
redemption per (promo, order) and per (promo, customer) when once-per-customer, one receipt
per order, one row per Stripe event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from shop.models.base import UTCDateTime, created_at_field, updated_at_field


class Cart(SQLModel, table=True):
    """A visitor's cart: anonymous (found by the hash of its opaque token) or a user's."""

    __tablename__ = "carts"

    id: int | None = Field(default=None, primary_key=True)
    # sha256 of the cart cookie's token; the token itself is never stored.
    token_hash: str | None = Field(default=None, max_length=64, unique=True, index=True)
    user_id: int | None = Field(
        default=None, foreign_key="users.id", unique=True, index=True, ondelete="CASCADE"
    )
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class CartItem(SQLModel, table=True):
    """One product in a cart; the price is read from the catalog, never stored here."""

    __tablename__ = "cart_items"
    __table_args__ = (UniqueConstraint("cart_id", "product_id"),)

    id: int | None = Field(default=None, primary_key=True)
    cart_id: int = Field(foreign_key="carts.id", index=True, ondelete="CASCADE")
    product_id: int = Field(foreign_key="products.id", index=True, ondelete="CASCADE")
    quantity: int = Field(default=1, ge=1)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class PromoCode(SQLModel, table=True):
    """A discount code: `percent_off` (decimal text, e.g. "12.5") or `amount_off` + currency."""

    __tablename__ = "promo_codes"

    id: int | None = Field(default=None, primary_key=True)
    # Stored upper-cased; customers may type it in any case.
    code: str = Field(max_length=64, unique=True, index=True)
    percent_off: str | None = Field(default=None, max_length=8)
    amount_off: int | None = Field(default=None, ge=1)
    currency: str | None = Field(default=None, max_length=3)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    max_redemptions: int | None = Field(default=None, ge=1)
    times_redeemed: int = Field(default=0, ge=0)
    min_subtotal: int | None = Field(default=None, ge=0)
    once_per_customer: bool = True
    # Empty: the whole order; else only these products' lines are discounted.
    product_ids: list[int] = Field(default_factory=list, sa_type=JSON)
    is_active: bool = True
    stripe_coupon_id: str | None = Field(default=None, max_length=255)
    stripe_promotion_code_id: str | None = Field(default=None, max_length=255)
    sync_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class PromoRedemption(SQLModel, table=True):
    """A promo code used by a paid order; `customer_key` is set only for once-per-customer codes,
    so the unique (promo, customer_key) refuses a second use while NULLs never collide."""

    __tablename__ = "promo_redemptions"
    __table_args__ = (
        UniqueConstraint("promo_code_id", "order_id", name="uq_promo_redemptions_promo_order"),
        UniqueConstraint(
            "promo_code_id", "customer_key", name="uq_promo_redemptions_promo_customer"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    promo_code_id: int = Field(foreign_key="promo_codes.id", index=True)
    order_id: int = Field(foreign_key="orders.id", index=True, ondelete="CASCADE")
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    customer_key: str | None = Field(default=None, max_length=64)
    discount_amount: int = Field(default=0, ge=0)
    created_at: datetime = created_at_field()


class OrderTaxLine(SQLModel, table=True):
    """One tax charged on an order, as computed at checkout and printed on the receipt."""

    __tablename__ = "order_tax_lines"
    __table_args__ = (UniqueConstraint("order_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True, ondelete="CASCADE")
    position: int = 0
    name: str = Field(max_length=10)
    jurisdiction: str = Field(max_length=10)
    # A fraction as exact decimal text: "0.13" is 13 %.
    rate: str = Field(max_length=16)
    amount: int = Field(ge=0)
    registration_number: str | None = Field(default=None, max_length=64)
    created_at: datetime = created_at_field()


class WebhookEvent(SQLModel, table=True):
    """A Stripe event as received: stored first (unique id), processed after, once."""

    __tablename__ = "webhook_events"

    id: int | None = Field(default=None, primary_key=True)
    stripe_event_id: str = Field(max_length=255, unique=True, index=True)
    type: str = Field(max_length=100, index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    received_at: datetime = created_at_field()
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=1000)
    # The order it is about, once processed: the order's payment timeline for staff.
    order_id: int | None = Field(default=None, index=True)


class DownloadGrant(SQLModel, table=True):
    """The right to download one purchased file; made once per (order item, file) at fulfilment."""

    __tablename__ = "download_grants"
    __table_args__ = (UniqueConstraint("order_item_id", "product_file_id"),)

    id: int | None = Field(default=None, primary_key=True)
    order_item_id: int = Field(foreign_key="order_items.id", index=True, ondelete="CASCADE")
    product_file_id: int = Field(foreign_key="product_files.id", index=True, ondelete="CASCADE")
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    download_limit: int = Field(ge=1)
    download_count: int = Field(default=0, ge=0)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field()


class OrderEmail(SQLModel, table=True):
    """An email the shop owes about an order; unique (order, kind) so a receipt goes out once."""

    __tablename__ = "order_emails"
    __table_args__ = (UniqueConstraint("order_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=30)
    to_address: str = Field(max_length=320)
    created_at: datetime = created_at_field()
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
