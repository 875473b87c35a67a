"""refund_reservations: refunds the shop is asking Stripe for

A staff refund reserves its amount (under the order's row lock) before Stripe is asked, so two
refunds of one order sent at once cannot both pass the check against what is left to refund
or against support's cap. Recording the refund deletes its reservation in the same
transaction; the unique idempotency key finds a request repeated while Stripe is asked.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shop.models.base


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('refund_reservations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('requested_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('calling', sa.Boolean(), nullable=False),
    sa.Column('reserved_at', shop.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_refund_reservations_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refund_reservations'))
    )
    with op.batch_alter_table('refund_reservations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refund_reservations_idempotency_key'), ['idempotency_key'], unique=True)
        batch_op.create_index(batch_op.f('ix_refund_reservations_order_id'), ['order_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('refund_reservations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refund_reservations_order_id'))
        batch_op.drop_index(batch_op.f('ix_refund_reservations_idempotency_key'))

    op.drop_table('refund_reservations')
