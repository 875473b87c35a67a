"""subscription orders: each paid invoice of a subscription is one order

orders.stripe_invoice_id (unique) makes an invoice an order exactly once, however often and
in whatever order Stripe's events arrive; orders.subscription_id says which subscription it
paid for (indexed, no foreign key, so the column is added and dropped in place on SQLite).
subscriptions keep the Price Stripe charges (id, amount, currency, interval).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stripe_invoice_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        batch_op.add_column(sa.Column('subscription_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_orders_stripe_invoice_id'), ['stripe_invoice_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_orders_subscription_id'), ['subscription_id'], unique=False)

    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stripe_price_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        batch_op.add_column(sa.Column('price_amount', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True))
        batch_op.add_column(sa.Column('interval', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True))


def downgrade() -> None:
    # Indexes first, then ALTER TABLE … DROP COLUMN in place (SQLite >= 3.35): rebuilding
    # `orders` would empty order_items, tax lines and grants through their foreign keys.
    with op.batch_alter_table('subscriptions', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('interval')
        batch_op.drop_column('currency')
        batch_op.drop_column('price_amount')
        batch_op.drop_column('stripe_price_id')

    with op.batch_alter_table('orders', schema=None, recreate='never') as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_subscription_id'))
        batch_op.drop_index(batch_op.f('ix_orders_stripe_invoice_id'))
        batch_op.drop_column('subscription_id')
        batch_op.drop_column('stripe_invoice_id')
