"""Migration 0008: inbox rows and deadline rows become tasks, from a database at 0007 holding
cases in every state of two definitions, without losing a reminder sent or an escalation made."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import MetaData, Table, func, insert, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from engine.base.db import UTCDateTime, make_engine
from engine.cases.case import Case
from engine.cases.deadlines import keeps_deadline
from engine.cases.tasks import STAGE, Task
from engine.definitions.store import current_definition, sync_definitions
from engine.migrate import alembic_config, upgrade
from engine.notify.notifications import Notification
from engine.operations.deadline_scan import due_task_ids, process_deadlines
from engine.operations.transitions import create_draft
from engine.org.delegations import Delegation
from engine.org.units import User, load_actor, unit_chain
from tests.conftest import (
    NOW, SETTINGS, TEST_DEFINITIONS, _create_worker_database, _unavailable, build_world, postgres_url,
)
from tests.test_smoke_basic_nomination import FORM

KINDS = ("basic_nomination", "honours")
ENTERED = NOW - timedelta(days=10)
DUE = NOW + timedelta(days=2)
SCAN_AT = NOW + timedelta(days=30)
# How far along an open deadline row is, by case: (reminders done, next check, overdue since).
PROGRESS = [(0, DUE - timedelta(days=1), None), (1, DUE, None), (1, None, NOW - timedelta(days=1))]


@pytest.fixture(params=["sqlite", "postgresql"])
def old_database(request, tmp_path):
    """An empty database of its own (never the suite's shared one), migrated to 0007."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'at-0007.db'}")
    else:
        url = postgres_url()
        if not url:
            _unavailable("UNIONFLOW_TEST_DATABASE_URL is not set")
        parsed = make_url(url)
        url = parsed.set(database=f"{parsed.database}_migration").render_as_string(hide_password=False)
        _create_worker_database(url)
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    with engine.begin() as conn:
        upgrade(conn, "0007")
    yield engine
    engine.dispose()


def _table(conn, name: str) -> Table:
    """A table of the old schema as the database has it, its times read as the engine writes them."""
    table = Table(name, MetaData(), autoload_with=conn)
    for column in table.c:
        if column.name.endswith("_dt"):
            column.type = UTCDateTime()
    return table


def _seed_cases_in_every_state(engine) -> dict:
    with _todays_case_columns(engine):
        return _seed_rows(engine)


@contextmanager
def _todays_case_columns(engine):
    """The seed writes today's Case through the ORM, with the columns added to cases after 0007
    (0011's sent_back_from), and loads actors with their stand-ins (0010's delegations): they are
    there while it does, and gone again before the upgrade."""
    with engine.begin() as conn:
        present = {column["name"] for column in inspect(conn).get_columns("cases")}
        later = [column for column in Case.__table__.c if column.name not in present]
        for column in later:
            conn.execute(text(f"ALTER TABLE cases ADD COLUMN {column.name} {column.type.compile(conn.dialect)}"))
        Delegation.__table__.create(conn)
    yield
    with engine.begin() as conn:
        Delegation.__table__.drop(conn)
        for column in later:
            conn.execute(text(f"ALTER TABLE cases DROP COLUMN {column.name}"))


def _seed_rows(engine) -> dict:
    """Per state of each kind one case, with the rows 0007 kept for it: an inbox row where the
    state waits for someone, an open deadline row (at one of three stages of progress) where it
    keeps a deadline, and a closed deadline row of an earlier stay."""
    with Session(engine) as session:
        sync_definitions(session, SETTINGS.workflows_dir)
        sync_definitions(session, TEST_DEFINITIONS)
        world = build_world(session)
        origin = world.unit("A1a")
        chain = unit_chain(session, origin)
        cases = []
        for kind in KINDS:
            definition = current_definition(session, kind)
            for state in definition.states:
                case = Case(kind=kind, definition_hash=definition.content_hash, state=state.id,
                            origin_unit_id=origin.id, origin_path=origin.path, chain=chain,
                            applicant_id=world.actor("applicant_A1a").user_id, title=f"{kind}:{state.id}",
                            form_data={}, created_dt=ENTERED, updated_dt=ENTERED, outcome={})
                session.add(case)
                cases.append((case, definition, state))
        session.flush()
        rows = {"inbox": [], "open": [], "closed": []}
        conn = session.connection()
        inbox, deadlines = _table(conn, "inbox_items"), _table(conn, "deadlines")
        for number, (case, definition, state) in enumerate(cases):
            if state.waits_for is None:
                continue
            role, unit_id = state.waits_for.role, case.unit_at(state.waits_for.level)
            keeps = keeps_deadline(state)
            rows["inbox"].append(dict(
                case_id=case.id, role=role, unit_id=unit_id, kind=case.kind, state=state.id, title=case.title,
                origin_unit_id=origin.id, entered_dt=ENTERED, due_dt=DUE if keeps else None))
            rows["closed"].append(dict(
                case_id=case.id, state="earlier_stay", role="reviewer", unit_id=world.unit("A1").id,
                entered_dt=ENTERED - timedelta(days=5), due_dt=ENTERED, next_check_dt=None, reminders_done=2,
                overdue_dt=None, closed_dt=ENTERED))
            if keeps:
                done, next_check, overdue = PROGRESS[number % len(PROGRESS)]
                rows["open"].append(dict(
                    case_id=case.id, state=state.id, role=role, unit_id=unit_id, entered_dt=ENTERED, due_dt=DUE,
                    next_check_dt=next_check, reminders_done=done, overdue_dt=overdue, closed_dt=None))
        at_county = next(case for case, _, state in cases
                         if case.kind == "basic_nomination" and state.id == "county_review")
        rows["history"] = _history_of(conn, world, at_county)
        rows["closed"].append(rows["history"]["township_stay"])
        conn.execute(insert(inbox), rows["inbox"])
        conn.execute(insert(deadlines), rows["closed"] + rows["open"])
        rows["deadlines"] = [dict(row._mapping) for row in conn.execute(select(deadlines).order_by(deadlines.c.id))]
        session.commit()
        return rows


def _history_of(conn, world, case) -> dict:
    """The audit events of a case created, submitted and approved at its township before 0007
    kept its stays: the draft's stay has no row; the township's has a closed deadline row."""
    created, submitted = ENTERED - timedelta(days=3), ENTERED - timedelta(days=2)
    applicant, reviewer = world.actor("applicant_A1a"), world.actor("reviewer_A1")
    moves = [(created, None, "draft", applicant), (submitted, "draft", "township_review", applicant),
             (ENTERED, "township_review", "county_review", reviewer)]
    conn.execute(insert(_table(conn, "audit_events")), [
        dict(case_id=case.id, seq=seq, action="move", from_state=source, to_state=dest, actor_id=actor.user_id,
             actor_name=actor.name, occurred_dt=when, prev_hash="0" * 64, hash=f"{seq:064d}")
        for seq, (when, source, dest, actor) in enumerate(moves, start=1)])
    return {
        "case_id": case.id, "origin_unit_id": case.origin_unit_id,
        "draft_stay": (created, submitted, applicant.user_id),
        "township_stay": dict(case_id=case.id, state="township_review", role="reviewer",
                              unit_id=world.unit("A1").id, entered_dt=submitted, due_dt=ENTERED, next_check_dt=None,
                              reminders_done=2, overdue_dt=None, closed_dt=ENTERED),
    }


def _tasks(engine) -> dict[int, Task]:
    with Session(engine) as session:
        return {task.id: task for task in session.scalars(select(Task))}


def test_every_row_becomes_a_task_and_the_scan_repeats_nothing(old_database):
    seeded = _seed_cases_in_every_state(old_database)
    with old_database.begin() as conn:
        upgrade(conn)
    tasks = _tasks(old_database)
    # Each deadline row is the task of the same id, with its progress.
    for row in seeded["deadlines"]:
        task = tasks[row["id"]]
        assert {name: getattr(task, name) for name in row} == row
        assert (task.purpose, task.has_deadline, task.closed_how) == (STAGE, True, None)
    # A waiting case without an open deadline row waits on a task from its inbox row.
    with_deadline = {row["case_id"] for row in seeded["open"]}
    from_inbox = [task for task in tasks.values() if task.case_id not in with_deadline and task.closed_dt is None]
    assert sorted((t.case_id, t.state, t.role, t.unit_id, t.entered_dt, t.due_dt, t.has_deadline) for t in from_inbox) \
        == sorted((r["case_id"], r["state"], r["role"], r["unit_id"], r["entered_dt"], r["due_dt"], False)
                  for r in seeded["inbox"] if r["case_id"] not in with_deadline)
    # A stay that ended without a row of its own is a closed task from the audit events; one with
    # a deadline row is that row's task alone.
    history = seeded["history"]
    stays = sorted((t.state, t.role, t.unit_id, t.entered_dt, t.closed_dt, t.closed_by_id)
                   for t in tasks.values() if t.case_id == history["case_id"] and t.closed_dt is not None)
    entered, left, by = history["draft_stay"]
    township = history["township_stay"]
    assert stays == sorted([
        ("draft", "applicant", history["origin_unit_id"], entered, left, by),
        ("earlier_stay", "reviewer", township["unit_id"], ENTERED - timedelta(days=5), ENTERED, None),
        ("township_review", "reviewer", township["unit_id"], township["entered_dt"], township["closed_dt"], None),
    ])
    open_by_case = {}
    for task in tasks.values():
        if task.closed_dt is None:
            assert task.case_id not in open_by_case, "two open tasks for one case"
            open_by_case[task.case_id] = task
    assert set(open_by_case) == {row["case_id"] for row in seeded["inbox"]}

    with Session(old_database, expire_on_commit=False) as session:
        # The scan looks at the tasks it looked at before, and not at those escalated already.
        due = due_task_ids(session, SCAN_AT)
        assert sorted(due) == sorted(row["id"] for row in seeded["deadlines"] if row["next_check_dt"] is not None)
        escalated_before = {row["id"] for row in seeded["deadlines"] if row["overdue_dt"] is not None}
        without_timer = [task_id for task_id in due
                         if not any(t.timer and tasks[task_id].state in t.sources
                                    for t in session.get(Case, tasks[task_id].case_id).definition.transitions)]
        assert without_timer, "the seed must hold a stage that escalates"
        report = process_deadlines(session, without_timer, SCAN_AT)
        session.commit()
        assert report.escalations == len(without_timer)
        keys = set(session.scalars(select(Notification.key)))
        # Escalated under the keys the deadline rows had; never a second time, never a reminder.
        escalated_now = {key.split(":")[1] for key in keys if key.startswith("deadline:")}
        assert escalated_now == {str(task_id) for task_id in without_timer}
        assert not any(key.startswith(f"deadline:{task_id}:") for task_id in escalated_before for key in keys)
        assert not any(":reminder:" in key for key in keys)
        # A new case's first task is numbered after the copied ones.
        applicant = load_actor(session, session.scalar(select(User.id).where(User.username == "applicant_A1a")))
        case = create_draft(session, applicant, "basic_nomination", form=FORM, now=NOW)
        session.commit()
        assert session.scalar(select(Task.id).where(Task.case_id == case.id)) > max(tasks)


def test_downgrade_gives_back_the_rows_it_took(old_database):
    seeded = _seed_cases_in_every_state(old_database)
    with old_database.begin() as conn:
        upgrade(conn)
    with old_database.begin() as conn:
        command.downgrade(alembic_config(connection=conn), "0007")
    with old_database.connect() as conn:
        inbox, deadlines = _table(conn, "inbox_items"), _table(conn, "deadlines")
        back = [dict(row._mapping) for row in conn.execute(select(deadlines).order_by(deadlines.c.id))]
        assert back == seeded["deadlines"]
        columns = [column for column in inbox.c if column.name != "id"]
        restored = sorted(tuple(row) for row in conn.execute(select(*columns)))
        assert restored == sorted(tuple(row[column.name] for column in columns) for row in seeded["inbox"])
        assert conn.scalar(select(func.count()).select_from(_table(conn, "alembic_version"))) == 1
