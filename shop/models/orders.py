"""Orders, what they contain, and subscriptions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from shop.models.base import UTCDateTime, created_at_field, updated_at_field


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    CANCELED = "canceled"


class Order(SQLModel, table=True):
    """One checkout; amounts in minor units, computed by the server."""

    __tablename__ = "orders"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    status: str = Field(default=OrderStatus.PENDING.value, max_length=30, index=True)
    currency: str = Field(default="cad", max_length=3)
    subtotal_amount: int = 0
    discount_amount: int = 0
    tax_amount: int = 0
    total_amount: int = 0
    stripe_payment_intent_id: str | None = Field(
        default=None, max_length=255, unique=True, index=True
    )
    billing_country: str | None = Field(default=None, max_length=2)
    billing_region: str | None = Field(default=None, max_length=3)
    billing_postal_code: str | None = Field(default=None, max_length=16)
    # What customers and support quote ("ORD-7K3Q-9XJD"); random, so it reveals no volume.
    number: str | None = Field(default=None, max_length=20, unique=True, index=True)
    promo_code_id: int | None = Field(default=None, foreign_key="promo_codes.id", index=True)
    # A subscription's paid invoice becomes one order, once: the unique invoice id refuses a
    # second. `subscription_id` is indexed without a foreign key (like webhook_events.order_id),
    # so migration 0009 adds and drops it in place on SQLite.
    stripe_invoice_id: str | None = Field(default=None, max_length=255, unique=True, index=True)
    subscription_id: int | None = Field(default=None, index=True)
    # Why the last payment attempt failed, shown to the customer; the order stays payable.
    payment_error: str | None = Field(default=None, max_length=500)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set once, by the conditional UPDATE that wins fulfilment (…WHERE fulfilled_at IS NULL).
    fulfilled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field(index=True)
    updated_at: datetime = updated_at_field()


class OrderItem(SQLModel, table=True):
    """A product line of an order, at the price it had when ordered."""

    __tablename__ = "order_items"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True, ondelete="CASCADE")
    product_id: int = Field(foreign_key="products.id", index=True)
    product_name: str = Field(max_length=200)
    quantity: int = Field(default=1, ge=1)
    price_at_time: int = Field(ge=0)
    created_at: datetime = created_at_field()


class Subscription(SQLModel, table=True):
    """A customer's recurring plan, mirrored from Stripe."""

    __tablename__ = "subscriptions"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    product_id: int | None = Field(default=None, foreign_key="products.id", index=True)
    stripe_subscription_id: str = Field(max_length=255, unique=True, index=True)
    status: str = Field(max_length=30, index=True)
    current_period_end: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancel_at_period_end: bool = False
    # What Stripe charges each period (its Price), as Stripe last said.
    stripe_price_id: str | None = Field(default=None, max_length=255)
    price_amount: int | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, max_length=3)
    interval: str | None = Field(default=None, max_length=10)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
