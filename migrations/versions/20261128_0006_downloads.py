"""downloads: one row per completed download of a grant through one signed link

The unique (grant_id, link_id) is what keeps a resumed or repeated download through the same
signed link from being counted twice.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 10:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shop.models.base


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('download_completions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('link_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('ip', sqlmodel.sql.sqltypes.AutoString(length=45), nullable=True),
    sa.Column('via', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('completed_at', shop.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['grant_id'], ['download_grants.id'], name=op.f('fk_download_completions_grant_id_download_grants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_download_completions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_download_completions')),
    sa.UniqueConstraint('grant_id', 'link_id', name=op.f('uq_download_completions_grant_id'))
    )
    with op.batch_alter_table('download_completions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_download_completions_grant_id'), ['grant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_download_completions_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('download_completions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_download_completions_user_id'))
        batch_op.drop_index(batch_op.f('ix_download_completions_grant_id'))

    op.drop_table('download_completions')
