"""product search_text: name, slug and description folded for case- and accent-blind search

SQLite's lower() and LIKE fold ASCII letters only, so "Érable" never matched "érable";
PostgreSQL here has no unaccent extension. The shop folds the text itself on every write
(shop.models.catalog.product_search_text) and search compares with this column. Existing rows
are filled in here.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def backfill(connection: sa.engine.Connection) -> None:
    """Fold every product's name, slug and description into search_text."""
    from shop.models.catalog import product_search_text

    products = sa.table(
        'products',
        sa.column('id', sa.Integer),
        sa.column('name', sa.String),
        sa.column('slug', sa.String),
        sa.column('description', sa.Text),
        sa.column('search_text', sa.Text),
    )
    rows = connection.execute(
        sa.select(products.c.id, products.c.name, products.c.slug, products.c.description)
    ).all()
    for row in rows:
        connection.execute(
            products.update()
            .where(products.c.id == row.id)
            .values(search_text=product_search_text(row.name, row.slug, row.description or ''))
        )


def upgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_text', sa.Text(), server_default='', nullable=False))
    backfill(op.get_bind())


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN in place (SQLite >= 3.35): rebuilding the table would drop
    # `products`, and with foreign keys on SQLite would empty product_files (and the grants
    # hanging off them) or refuse because order_items point at it.
    with op.batch_alter_table('products', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('search_text')
