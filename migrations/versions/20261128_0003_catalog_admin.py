"""catalog admin: product image thumbnail, Stripe sync state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 04:48:25.574543
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shop.models.base


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('image_thumbnail_path', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.add_column(sa.Column('stripe_price_terms', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True))
        batch_op.add_column(sa.Column('sync_status', sqlmodel.sql.sqltypes.AutoString(length=20), server_default='pending', nullable=False))
        batch_op.add_column(sa.Column('sync_error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.add_column(sa.Column('sync_revision', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('synced_at', shop.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_products_sync_status'), ['sync_status'], unique=False)


def downgrade() -> None:
    # In place (SQLite >= 3.35): a rebuilt `products` would take product_files with it.
    with op.batch_alter_table('products', schema=None, recreate='never') as batch_op:
        batch_op.drop_index(batch_op.f('ix_products_sync_status'))
        batch_op.drop_column('synced_at')
        batch_op.drop_column('sync_revision')
        batch_op.drop_column('sync_error')
        batch_op.drop_column('sync_status')
        batch_op.drop_column('stripe_price_terms')
        batch_op.drop_column('image_thumbnail_path')
