"""telling_marks: how far the catch-up of notifications from audit events has looked

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 22:00:00

People are told of what concerns them from the audit events, after each commit
(engine.operations.telling); the deadline scan's catch-up covers a kick that was lost. It starts
after the last event already there: what happened before this revision is not told again.
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    marks = op.create_table(
        'telling_marks',
        sa.Column('name', sa.String(length=30), nullable=False),
        sa.Column('event_id', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_telling_marks')),
    )
    last = op.get_bind().scalar(sa.text("SELECT COALESCE(MAX(id), 0) FROM audit_events"))
    op.bulk_insert(marks, [{"name": "people_concerned", "event_id": last}])


def downgrade() -> None:
    op.drop_table('telling_marks')
