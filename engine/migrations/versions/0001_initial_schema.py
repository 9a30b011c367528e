"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import engine.base.db

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('calendar_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('is_working', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_calendar_days'))
    )
    op.create_table('calendar_years',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_calendar_years'))
    )
    ledger_heads = op.create_table('case_ledger_heads',
    sa.Column('shard', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('shard', name=op.f('pk_case_ledger_heads'))
    )
    # The 16 shard heads of the case ledger exist from the start (see engine/audit/chain.py).
    op.bulk_insert(ledger_heads, [{"shard": shard, "seq": 0, "hash": "0" * 64} for shard in range(16)])
    op.create_table('definition_versions',
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=63), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('source_name', sa.String(length=255), nullable=False),
    sa.Column('source_text', sa.Text(), nullable=False),
    sa.Column('loaded_dt', engine.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('content_hash', name=op.f('pk_definition_versions'))
    )
    with op.batch_alter_table('definition_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_definition_versions_kind'), ['kind'], unique=False)

    op.create_table('org_units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('level', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('path', sa.String(length=255).with_variant(sa.String(length=255, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created_dt', engine.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('federation', 'union', 'joint_union')", name=op.f('ck_org_units_kind_known')),
    sa.CheckConstraint("level IN ('city', 'county', 'township', 'grassroots')", name=op.f('ck_org_units_level_known')),
    sa.ForeignKeyConstraint(['parent_id'], ['org_units.id'], name=op.f('fk_org_units_parent_id_org_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_org_units'))
    )
    with op.batch_alter_table('org_units', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_org_units_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index('ix_org_units_path', ['path'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_dt', engine.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=63), nullable=False),
    sa.Column('definition_hash', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=63), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('origin_unit_id', sa.Integer(), nullable=False),
    sa.Column('origin_path', sa.String(length=255).with_variant(sa.String(length=255, collation='C'), 'postgresql'), nullable=False),
    sa.Column('chain', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('applicant_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('form_data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('revision_round', sa.Integer(), nullable=False),
    sa.Column('return_state', sa.String(length=63), nullable=True),
    sa.Column('audit_seq', sa.Integer(), nullable=False),
    sa.Column('audit_head', sa.String(length=64), nullable=True),
    sa.Column('created_dt', engine.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_dt', engine.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_dt', engine.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_dt', engine.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('audit_seq >= 0', name=op.f('ck_cases_audit_seq_not_negative')),
    sa.CheckConstraint('revision_round >= 0', name=op.f('ck_cases_revision_round_not_negative')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_cases_version_positive')),
    sa.ForeignKeyConstraint(['applicant_id'], ['users.id'], name=op.f('fk_cases_applicant_id_users')),
    sa.ForeignKeyConstraint(['definition_hash'], ['definition_versions.content_hash'], name=op.f('fk_cases_definition_hash_definition_versions')),
    sa.ForeignKeyConstraint(['origin_unit_id'], ['org_units.id'], name=op.f('fk_cases_origin_unit_id_org_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_applicant_id'), ['applicant_id'], unique=False)
        batch_op.create_index('ix_cases_kind_state', ['kind', 'state'], unique=False)
        batch_op.create_index('ix_cases_origin_path', ['origin_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_origin_unit_id'), ['origin_unit_id'], unique=False)

    op.create_table('role_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.CheckConstraint("role IN ('applicant', 'reviewer', 'auditor', 'admin')", name=op.f('ck_role_assignments_role_known')),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], name=op.f('fk_role_assignments_org_unit_id_org_units')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_role_assignments_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_role_assignments')),
    sa.UniqueConstraint('user_id', 'role', 'org_unit_id', name=op.f('uq_role_assignments_user_id_role_org_unit_id'))
    )
    with op.batch_alter_table('role_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_role_assignments_org_unit_id'), ['org_unit_id'], unique=False)

    op.create_table('workflow_kinds',
    sa.Column('kind', sa.String(length=63), nullable=False),
    sa.Column('current_hash', sa.String(length=64), nullable=False),
    sa.Column('updated_dt', engine.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['current_hash'], ['definition_versions.content_hash'], name=op.f('fk_workflow_kinds_current_hash_definition_versions')),
    sa.PrimaryKeyConstraint('kind', name=op.f('pk_workflow_kinds'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=63), nullable=False),
    sa.Column('from_state', sa.String(length=63), nullable=True),
    sa.Column('to_state', sa.String(length=63), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=64), nullable=False),
    sa.Column('actor_role', sa.String(length=20), nullable=True),
    sa.Column('actor_unit_id', sa.Integer(), nullable=True),
    sa.Column('actor_unit_name', sa.String(length=100), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('changes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('occurred_dt', engine.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint('seq >= 1', name=op.f('ck_audit_events_seq_positive')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_events_actor_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_audit_events_case_id_cases'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    sa.UniqueConstraint('case_id', 'seq', name=op.f('uq_audit_events_case_id_seq'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_occurred_dt'), ['occurred_dt'], unique=False)

    op.create_table('case_ledger_entries',
    sa.Column('shard', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('genesis_hash', sa.String(length=64), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint('seq >= 1', name=op.f('ck_case_ledger_entries_seq_positive')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_ledger_entries_case_id_cases'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('shard', 'seq', name=op.f('pk_case_ledger_entries')),
    sa.UniqueConstraint('case_id', name=op.f('uq_case_ledger_entries_case_id'))
    )
    op.create_table('inbox_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=63), nullable=False),
    sa.Column('state', sa.String(length=63), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('origin_unit_id', sa.Integer(), nullable=False),
    sa.Column('entered_dt', engine.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_dt', engine.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_inbox_items_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['origin_unit_id'], ['org_units.id'], name=op.f('fk_inbox_items_origin_unit_id_org_units')),
    sa.ForeignKeyConstraint(['unit_id'], ['org_units.id'], name=op.f('fk_inbox_items_unit_id_org_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_items')),
    sa.UniqueConstraint('case_id', name=op.f('uq_inbox_items_case_id'))
    )
    with op.batch_alter_table('inbox_items', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_items_role_unit_due', ['role', 'unit_id', 'due_dt', 'case_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('inbox_items', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_items_role_unit_due')

    op.drop_table('inbox_items')
    op.drop_table('case_ledger_entries')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_occurred_dt'))
        batch_op.drop_index(batch_op.f('ix_audit_events_actor_id'))

    op.drop_table('audit_events')
    op.drop_table('workflow_kinds')
    with op.batch_alter_table('role_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_role_assignments_org_unit_id'))

    op.drop_table('role_assignments')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_origin_unit_id'))
        batch_op.drop_index('ix_cases_origin_path')
        batch_op.drop_index('ix_cases_kind_state')
        batch_op.drop_index(batch_op.f('ix_cases_applicant_id'))

    op.drop_table('cases')
    op.drop_table('users')
    with op.batch_alter_table('org_units', schema=None) as batch_op:
        batch_op.drop_index('ix_org_units_path')
        batch_op.drop_index(batch_op.f('ix_org_units_parent_id'))

    op.drop_table('org_units')
    with op.batch_alter_table('definition_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_definition_versions_kind'))

    op.drop_table('definition_versions')
    op.drop_table('case_ledger_heads')
    op.drop_table('calendar_years')
    op.drop_table('calendar_days')
