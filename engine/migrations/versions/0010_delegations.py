"""delegations: out-of-office deputies (委托/代理) for a range of days

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 23:00:00
"""
import sqlalchemy as sa
from alembic import op

import engine.base.db

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'delegations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('principal_id', sa.Integer(), nullable=False),
        sa.Column('deputy_id', sa.Integer(), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=False),
        sa.Column('created_dt', engine.base.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('cancelled_dt', engine.base.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_delegations_created_by_id_users')),
        sa.ForeignKeyConstraint(['deputy_id'], ['users.id'], name=op.f('fk_delegations_deputy_id_users')),
        sa.ForeignKeyConstraint(['principal_id'], ['users.id'], name=op.f('fk_delegations_principal_id_users')),
        sa.ForeignKeyConstraint(['unit_id'], ['org_units.id'], name=op.f('fk_delegations_unit_id_org_units')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_delegations')),
    )
    op.create_index('ix_delegations_deputy_id_ends_on', 'delegations', ['deputy_id', 'ends_on'])
    op.create_index('ix_delegations_principal_id_ends_on', 'delegations', ['principal_id', 'ends_on'])


def downgrade() -> None:
    op.drop_table('delegations')
