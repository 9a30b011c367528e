"""tasks: one table for the stays of cases with a party, replacing inbox_items and deadlines

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 20:00:00

Every deadline row, open or closed, becomes a task with the same id, so the keys of the
reminders and escalations already sent (``deadline:<id>:…``) stay the keys of its task, and its
reminders done, next check and overdue mark carry over: nothing is sent twice, nothing
escalated again. A waiting case without an open deadline row (a state without a time limit)
gets an open task from its inbox row. Every other stay that ended (before deadline rows were
kept, or in a state without a time limit) becomes a closed task from the audit events that
entered and left it, so the stages' durations read from tasks keep their history. How a stay
ended was not recorded before: those tasks leave it empty (and deadline rows, who ended it).
"""
import sqlalchemy as sa
import yaml
from alembic import op

import engine.base.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

OPEN = sa.text("closed_dt IS NULL")
CHECKED = sa.text("next_check_dt IS NOT NULL")
OPEN_STAGE = sa.text("closed_dt IS NULL AND purpose = 'stage'")


def upgrade() -> None:
    _create_tasks()
    # Deadline rows first, keeping their ids (and so their notification keys).
    op.execute(
        "INSERT INTO tasks (id, case_id, purpose, case_kind, state, role, unit_id, entered_dt, has_deadline, due_dt, "
        "next_check_dt, reminders_done, overdue_dt, closed_dt) "
        "SELECT d.id, d.case_id, 'stage', c.kind, d.state, d.role, d.unit_id, d.entered_dt, true, d.due_dt, "
        "d.next_check_dt, d.reminders_done, d.overdue_dt, d.closed_dt "
        "FROM deadlines d JOIN cases c ON c.id = d.case_id"
    )
    if op.get_bind().dialect.name == "postgresql":  # new tasks are numbered after the copied ones
        op.execute("SELECT setval(pg_get_serial_sequence('tasks', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM tasks")
    # Then the waiting cases whose state has no time limit kept (no open deadline row).
    op.execute(
        "INSERT INTO tasks (case_id, purpose, case_kind, state, role, unit_id, entered_dt, has_deadline, due_dt, "
        "reminders_done) "
        "SELECT i.case_id, 'stage', i.kind, i.state, i.role, i.unit_id, i.entered_dt, false, i.due_dt, 0 "
        "FROM inbox_items i WHERE NOT EXISTS "
        "(SELECT 1 FROM deadlines d WHERE d.case_id = i.case_id AND d.closed_dt IS NULL)"
    )
    _backfill_past_stays()
    _create_task_indexes()
    _link_urges_to_tasks()
    op.drop_table('inbox_items')
    op.drop_table('deadlines')


def downgrade() -> None:
    with op.batch_alter_table('urges', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_urges_task_id_tasks'), type_='foreignkey')
        batch_op.drop_column('task_id')
    _create_inbox_items()
    _create_deadlines()
    op.execute(
        "INSERT INTO inbox_items (case_id, role, unit_id, kind, state, title, origin_unit_id, entered_dt, due_dt) "
        "SELECT t.case_id, t.role, t.unit_id, t.case_kind, t.state, c.title, c.origin_unit_id, t.entered_dt, t.due_dt "
        "FROM tasks t JOIN cases c ON c.id = t.case_id WHERE t.purpose = 'stage' AND t.closed_dt IS NULL"
    )
    op.execute(
        "INSERT INTO deadlines (id, case_id, state, role, unit_id, entered_dt, due_dt, next_check_dt, reminders_done, "
        "overdue_dt, closed_dt) "
        "SELECT id, case_id, state, role, unit_id, entered_dt, due_dt, next_check_dt, reminders_done, overdue_dt, "
        "closed_dt FROM tasks WHERE purpose = 'stage' AND has_deadline"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval(pg_get_serial_sequence('deadlines', 'id'), COALESCE(MAX(id), 0) + 1, false) "
                   "FROM deadlines")
    op.drop_table('tasks')


def _create_tasks() -> None:
    op.create_table('tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('case_kind', sa.String(length=63), nullable=False),
    sa.Column('state', sa.String(length=63), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('delegated_from_id', sa.Integer(), nullable=True),
    sa.Column('entered_dt', engine.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('has_deadline', sa.Boolean(), nullable=False),
    sa.Column('due_dt', engine.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_check_dt', engine.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reminders_done', sa.Integer(), nullable=False),
    sa.Column('overdue_dt', engine.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_dt', engine.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.Column('closed_how', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_tasks_assignee_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_tasks_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'], name=op.f('fk_tasks_closed_by_id_users')),
    sa.ForeignKeyConstraint(['delegated_from_id'], ['users.id'], name=op.f('fk_tasks_delegated_from_id_users')),
    sa.ForeignKeyConstraint(['unit_id'], ['org_units.id'], name=op.f('fk_tasks_unit_id_org_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks'))
    )


def _create_task_indexes() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_open_by_party', ['role', 'unit_id', 'due_dt', 'case_id'], unique=False,
                              postgresql_where=OPEN, sqlite_where=OPEN)
        batch_op.create_index('ix_tasks_next_check', ['next_check_dt'], unique=False,
                              postgresql_where=CHECKED, sqlite_where=CHECKED)
        batch_op.create_index('ix_tasks_case_id_closed_dt', ['case_id', 'closed_dt'], unique=False)
        batch_op.create_index('ix_tasks_closed_by_id_closed_dt', ['closed_by_id', 'closed_dt'], unique=False)
        batch_op.create_index('uq_tasks_open_stage', ['case_id'], unique=True,
                              postgresql_where=OPEN_STAGE, sqlite_where=OPEN_STAGE)


def _backfill_past_stays() -> None:
    """A closed task per stay that ended and has none yet: entered and left by consecutive
    state-changing audit events of the case (an event that re-enters its own state continues the
    stay). Whom it waited for comes from the definition version the case ran under."""
    parties = _parties_of_definitions()
    if not parties:
        return
    table = op.create_table('migration_waits_for',
                            sa.Column('definition_hash', sa.String(64)), sa.Column('state', sa.String(63)),
                            sa.Column('role', sa.String(20)), sa.Column('level', sa.String(20)))
    op.bulk_insert(table, parties)
    postgresql = op.get_bind().dialect.name == "postgresql"
    unit_at_level = "(c.chain ->> p.level)::integer" if postgresql else "json_extract(c.chain, '$.' || p.level)"
    unit = f"CASE WHEN p.level = 'origin' THEN c.origin_unit_id ELSE {unit_at_level} END"
    op.execute(
        "INSERT INTO tasks (case_id, purpose, case_kind, state, role, unit_id, entered_dt, has_deadline, "
        "reminders_done, closed_dt, closed_by_id) "
        f"SELECT s.case_id, 'stage', c.kind, s.state, p.role, {unit}, s.entered_dt, false, 0, s.closed_dt, "
        "s.closed_by_id FROM ("
        "  SELECT e.case_id, e.to_state AS state, e.occurred_dt AS entered_dt,"
        "    LEAD(e.occurred_dt) OVER (PARTITION BY e.case_id ORDER BY e.seq) AS closed_dt,"
        "    LEAD(e.actor_id) OVER (PARTITION BY e.case_id ORDER BY e.seq) AS closed_by_id"
        "  FROM audit_events e"
        "  WHERE e.to_state IS NOT NULL AND (e.from_state IS NULL OR e.from_state <> e.to_state)"
        ") s JOIN cases c ON c.id = s.case_id "
        "JOIN migration_waits_for p ON p.definition_hash = c.definition_hash AND p.state = s.state "
        f"WHERE s.closed_dt IS NOT NULL AND {unit} IS NOT NULL AND NOT EXISTS ("
        "  SELECT 1 FROM tasks t WHERE t.case_id = s.case_id AND t.state = s.state AND t.entered_dt = s.entered_dt)"
    )
    op.drop_table('migration_waits_for')


def _parties_of_definitions() -> list[dict]:
    """(definition version, state, role, level) for each state that waits for someone, read from
    the stored definition texts: "role@level", and a draft waits for the applicant unless it says."""
    parties = []
    for content_hash, source_text in op.get_bind().execute(
            sa.text("SELECT content_hash, source_text FROM definition_versions")):
        for state in (yaml.safe_load(source_text) or {}).get("states") or []:
            waits_for = state.get("waits_for") or ("applicant@origin" if state.get("kind") == "draft" else None)
            if isinstance(waits_for, str) and waits_for.count("@") == 1:
                role, level = waits_for.split("@")
                parties.append({"definition_hash": content_hash, "state": state["id"], "role": role, "level": level})
    return parties


def _link_urges_to_tasks() -> None:
    """An urge belongs to the stay it was made in: the task of its state open when it was made."""
    with op.batch_alter_table('urges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('task_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_urges_task_id_tasks'), 'tasks', ['task_id'], ['id'],
                                    ondelete='CASCADE')
    op.execute(
        "UPDATE urges SET task_id = (SELECT max(t.id) FROM tasks t WHERE t.case_id = urges.case_id "
        "AND t.state = urges.state AND t.entered_dt <= urges.created_dt "
        "AND (t.closed_dt IS NULL OR t.closed_dt > urges.created_dt))"
    )


def _create_inbox_items() -> None:
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


def _create_deadlines() -> None:
    op.create_table('deadlines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=63), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('entered_dt', engine.base.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_dt', engine.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_check_dt', engine.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reminders_done', sa.Integer(), nullable=False),
    sa.Column('overdue_dt', engine.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_dt', engine.base.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_deadlines_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['org_units.id'], name=op.f('fk_deadlines_unit_id_org_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deadlines'))
    )
    with op.batch_alter_table('deadlines', schema=None) as batch_op:
        batch_op.create_index('ix_deadlines_case_closed', ['case_id', 'closed_dt'], unique=False)
        batch_op.create_index('ix_deadlines_next_check', ['next_check_dt'], unique=False)
