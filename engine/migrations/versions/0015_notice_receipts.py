"""Public notice: receipt numbers (受理编号) on objections, and each unit's contact point for its notices

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 12:00:00
"""
import secrets

import sqlalchemy as sa
from alembic import op

import engine.base.db

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

# As engine.procedures.notices.RECEIPT_ALPHABET at the time of writing (a migration keeps its own copy).
RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def upgrade() -> None:
    op.create_table(
        'notice_contacts',
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('person', sa.String(length=50), nullable=True),
        sa.Column('phone', sa.String(length=30), nullable=True),
        sa.Column('address', sa.String(length=200), nullable=True),
        sa.Column('updated_dt', engine.base.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['unit_id'], ['org_units.id'], name=op.f('fk_notice_contacts_unit_id_org_units'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_notice_contacts_updated_by_id_users')),
        sa.PrimaryKeyConstraint('unit_id', name=op.f('pk_notice_contacts')),
    )
    with op.batch_alter_table('objections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('receipt', sa.String(length=20), nullable=True))
    # Objections lodged before receipts existed get one now, random as every later one.
    objections = sa.table('objections', sa.column('id', sa.Integer), sa.column('receipt', sa.String),
                          sa.column('lodged_dt', engine.base.db.UTCDateTime(timezone=True)))
    connection = op.get_bind()
    given = set()
    for objection_id, lodged_dt in connection.execute(sa.select(objections.c.id, objections.c.lodged_dt)).all():
        receipt = None
        while receipt is None or receipt in given:
            draw = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(8))
            receipt = f"YY{lodged_dt.year}-{draw[:4]}-{draw[4:]}"
        given.add(receipt)
        connection.execute(sa.update(objections).where(objections.c.id == objection_id).values(receipt=receipt))
    with op.batch_alter_table('objections', schema=None) as batch_op:
        batch_op.alter_column('receipt', existing_type=sa.String(length=20), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_objections_receipt'), ['receipt'])


def downgrade() -> None:
    with op.batch_alter_table('objections', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_objections_receipt'), type_='unique')
        batch_op.drop_column('receipt')
    op.drop_table('notice_contacts')
