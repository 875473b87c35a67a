"""Refunds mirrored from Stripe, the refunds the shop is asking Stripe for, and the
reconciliation runs that repair what webhooks missed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from shop.models.base import UTCDateTime, created_at_field, updated_at_field


class RefundStatus:
    """Stripe's refund statuses; `COUNTED` ones take money back from the order."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    REQUIRES_ACTION = "requires_action"
    COUNTED = ("pending", "succeeded", "requires_action")


class Refund(SQLModel, table=True):
    """One Stripe refund of an order; the unique Stripe id makes recording it idempotent."""

    __tablename__ = "refunds"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True, ondelete="CASCADE")
    stripe_refund_id: str = Field(max_length=255, unique=True, index=True)
    amount: int = Field(ge=0)
    currency: str = Field(max_length=3)
    status: str = Field(max_length=30)
    reason: str | None = Field(default=None, max_length=500)
    # "shop" when staff refunded through the shop, "stripe" when made in Stripe directly.
    source: str = Field(default="shop", max_length=20)
    requested_by: str | None = Field(default=None, max_length=320)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class RefundReservation(SQLModel, table=True):
    """A refund the shop is asking Stripe for: it counts against what is left to refund and
    against support's cap from before Stripe is asked until the refund is recorded (the same
    transaction deletes it) or Stripe refuses it. Keyed by the request's idempotency key."""

    __tablename__ = "refund_reservations"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True, ondelete="CASCADE")
    idempotency_key: str = Field(max_length=255, unique=True, index=True)
    amount: int = Field(ge=0)
    requested_by: str = Field(max_length=320)
    # A request is asking Stripe with this key now; False once its ask went unanswered.
    calling: bool = True
    reserved_at: datetime = created_at_field()


class ReconciliationRun(SQLModel, table=True):
    """One pass of reconciliation with Stripe: what it looked at and what it repaired."""

    __tablename__ = "reconciliation_runs"

    id: int | None = Field(default=None, primary_key=True)
    trigger: str = Field(max_length=20)  # schedule | manual | cli
    started_at: datetime = created_at_field(index=True)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    orders_checked: int = 0
    events_checked: int = 0
    refunds_checked: int = 0
    repaired_count: int = 0
    # [{"kind", "order_id", "order_number", "action", "reference"}]
    repaired: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    # Events Stripe still lists as undelivered after this run, and stored ones not processed.
    backlog_undelivered: int = 0
    backlog_unprocessed: int = 0
    error: str | None = Field(default=None, max_length=1000)
