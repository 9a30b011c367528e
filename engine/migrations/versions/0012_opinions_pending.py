"""cases.opinions_pending: how many opinions asked (加签) are still to come

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 23:00:00

The asked people's tasks are tasks of purpose 'opinion'; the count on the case lets a decision,
which reads the case anyway, wait for them without another statement.
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('cases', sa.Column('opinions_pending', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    op.drop_column('cases', 'opinions_pending')
