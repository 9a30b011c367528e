"""case_copies: cases copied (抄送) to people, by hand or by the definition (copy_to)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 10:00:00
"""
import sqlalchemy as sa
from alembic import op

import engine.base.db

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'case_copies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('copied_by_id', sa.Integer(), nullable=True),
        sa.Column('event_id', sa.BigInteger(), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('reason', sa.String(length=200), nullable=True),
        sa.Column('copied_dt', engine.base.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('read_dt', engine.base.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_copies_case_id_cases'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['copied_by_id'], ['users.id'], name=op.f('fk_case_copies_copied_by_id_users')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_case_copies_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_case_copies')),
        sa.UniqueConstraint('case_id', 'user_id', name=op.f('uq_case_copies_case_id_user_id')),
    )
    op.create_index('ix_case_copies_user_id_copied_dt', 'case_copies', ['user_id', 'copied_dt'])


def downgrade() -> None:
    op.drop_table('case_copies')
