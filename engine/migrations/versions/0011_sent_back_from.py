"""cases.sent_back_from: the review level that sent a case back to an earlier one

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09 10:00:00

A review level may send a case back to a level it has passed (退回重审); once that level passes it
again, the case goes straight back to the one that sent it. Cases already running were sent back
by nobody.
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('cases', sa.Column('sent_back_from', sa.String(length=63), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN in place (SQLite 3.35+): a batch copy would drop and rebuild cases,
    # which the tables referring to it forbid.
    op.drop_column('cases', 'sent_back_from')
