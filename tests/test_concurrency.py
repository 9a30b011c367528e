"""Optimistic locking and concurrent writers.

Races need real commits from several connections, so most tests here run on PostgreSQL
only (``committed_db``). Where a test must be sure that one transaction really waits for
another, it watches pg_locks instead of sleeping and hoping.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select, text

from engine.audit.chain import LEDGER_SHARDS, AuditEvent, CaseLedgerEntry, case_events
from engine.base.errors import Conflict
from engine.cases.case import Case
from engine.cases.integrity import verify_audit_chain
from engine.cases.tasks import Task
from engine.operations.transitions import (
    approve_case, create_draft, return_case, submit_case, update_draft, withdraw_case,
)
from tests.conftest import NOW, build_world

FORM = {"award_type": "labour_medal", "nominee_name": "张三", "employer": "某公司", "ownership": "public",
        "merits_summary": "十年扎根一线"}
WAIT_SECONDS = 15


# --- Fixtures for committed, multi-connection tests -----------------------------------------------

@pytest.fixture
def committed_world(committed_db):
    with committed_db() as session:
        world = build_world(session)
        session.commit()
    return world


@pytest.fixture
def one_ledger_shard(committed_db):
    """Make every new case id land in the same ledger shard, so creations contend on it."""
    engine = committed_db.kw["bind"]
    with engine.begin() as conn:
        sequence = conn.scalar(text("SELECT pg_get_serial_sequence('cases', 'id')"))
        conn.execute(text(f"ALTER SEQUENCE {sequence} INCREMENT BY {LEDGER_SHARDS}"))
    yield
    with engine.begin() as conn:
        conn.execute(text(f"ALTER SEQUENCE {sequence} INCREMENT BY 1"))


def _submitted_case_id(committed_db, world) -> int:
    applicant = world.actor("applicant_A1a")
    with committed_db() as session:
        case = create_draft(session, applicant, "basic_nomination", form=FORM, now=NOW)
        submit_case(session, applicant, case, expected_version=case.version, now=NOW)
        session.commit()
        return case.id


def _wait_until_blocked(committed_db, pid: int, thread: threading.Thread) -> None:
    """Return once backend ``pid`` waits for a lock; fail if it never does."""
    deadline = time.monotonic() + WAIT_SECONDS
    with committed_db.kw["bind"].connect() as conn:
        while time.monotonic() < deadline and thread.is_alive():
            waiting = conn.scalar(text("SELECT count(*) FROM pg_locks WHERE pid = :pid AND NOT granted"), {"pid": pid})
            if waiting:
                return
            time.sleep(0.01)
    pytest.fail("the second transaction never waited for the first one's lock")


def _in_thread(session, work) -> tuple[threading.Thread, dict]:
    """Run ``work()`` then commit in a thread; the outcome is "committed" or the exception."""
    outcome = {}

    def run():
        try:
            work()
            session.commit()
            outcome["result"] = "committed"
        except Exception as err:  # noqa: BLE001 - the test inspects whatever was raised
            session.rollback()
            outcome["result"] = err

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _approvals(session, case_id) -> list[AuditEvent]:
    return [e for e in case_events(session, case_id) if e.action == "approve"]


# --- Two reviewers approve the same case ----------------------------------------------------------

def test_approval_waiting_on_anothers_lock_gets_conflict_and_writes_nothing(committed_db, committed_world):
    """Reviewer 1 has approved (row locked, not yet committed) when reviewer 2 approves the
    same version: reviewer 2 waits, then gets Conflict, and only reviewer 1's event exists."""
    world = committed_world
    case_id = _submitted_case_id(committed_db, world)
    winner, loser = world.actor("reviewer_A1"), world.actor("reviewer_A1_and_A")
    with committed_db() as first, committed_db() as second:
        first_case, second_case = first.get(Case, case_id), second.get(Case, case_id)
        version = first_case.version
        assert second_case.version == version
        approve_case(first, winner, first_case, expected_version=version, now=NOW)
        second_pid = second.scalar(text("SELECT pg_backend_pid()"))
        thread, outcome = _in_thread(
            second, lambda: approve_case(second, loser, second_case, expected_version=version, now=NOW))
        _wait_until_blocked(committed_db, second_pid, thread)
        first.commit()
        thread.join(WAIT_SECONDS)
    assert isinstance(outcome["result"], Conflict), outcome["result"]
    assert "刷新" in outcome["result"].message
    with committed_db() as session:
        case = session.get(Case, case_id)
        assert (case.state, case.version) == ("county_review", version + 1)
        assert [e.actor_id for e in _approvals(session, case_id)] == [winner.user_id]
        assert session.scalar(select(Task.unit_id).where(Task.closed_dt.is_(None), Task.case_id == case_id)) == world.unit("A").id
        assert verify_audit_chain(session).ok


def test_simultaneous_approvals_exactly_one_wins(committed_db, committed_world):
    """Both reviewers load the same version and approve at the same moment."""
    world = committed_world
    case_id = _submitted_case_id(committed_db, world)
    reviewers = [world.actor("reviewer_A1"), world.actor("reviewer_A1_and_A")]
    start = threading.Barrier(len(reviewers))

    def approve(actor):
        with committed_db() as session:
            case = session.get(Case, case_id)
            version = case.version
            start.wait(WAIT_SECONDS)
            try:
                approve_case(session, actor, case, expected_version=version, now=NOW)
                session.commit()
                return "committed"
            except Conflict as err:
                session.rollback()
                return err

    with ThreadPoolExecutor(len(reviewers)) as pool:
        results = list(pool.map(approve, reviewers))
    assert results.count("committed") == 1 and sum(isinstance(r, Conflict) for r in results) == 1, results
    winner = reviewers[results.index("committed")]
    with committed_db() as session:
        case = session.get(Case, case_id)
        assert case.state == "county_review"
        assert [e.actor_id for e in _approvals(session, case_id)] == [winner.user_id]
        assert verify_audit_chain(session).ok


# --- Concurrent creation in one ledger shard ------------------------------------------------------

def test_creation_waits_for_the_shard_head_and_chains_after_it(committed_db, committed_world, one_ledger_shard):
    world = committed_world
    with committed_db() as first, committed_db() as second:
        earlier = create_draft(first, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
        second_pid = second.scalar(text("SELECT pg_backend_pid()"))
        created = []
        thread, outcome = _in_thread(second, lambda: created.append(
            create_draft(second, world.actor("applicant_B1a"), "basic_nomination", form=FORM, now=NOW)))
        _wait_until_blocked(committed_db, second_pid, thread)
        first.commit()
        thread.join(WAIT_SECONDS)
    assert outcome["result"] == "committed", outcome["result"]
    later = created[0]
    assert earlier.id % LEDGER_SHARDS == later.id % LEDGER_SHARDS
    with committed_db() as session:
        entries = {e.case_id: e for e in session.scalars(select(CaseLedgerEntry))}
        assert (entries[earlier.id].seq, entries[later.id].seq) == (1, 2)
        assert entries[later.id].prev_hash == entries[earlier.id].hash
        assert verify_audit_chain(session).ok


def test_concurrent_creations_in_one_shard_keep_the_ledger_chain(committed_db, committed_world, one_ledger_shard):
    world = committed_world
    applicants = ["applicant_A1a", "applicant_A1b", "applicant_B1a", "applicant_A1a"]
    per_thread = 5
    start = threading.Barrier(len(applicants))

    def create_several(name):
        ids = []
        with committed_db() as session:
            start.wait(WAIT_SECONDS)
            for _ in range(per_thread):
                ids.append(create_draft(session, world.actor(name), "basic_nomination", form=FORM, now=NOW).id)
                session.commit()
        return ids

    with ThreadPoolExecutor(len(applicants)) as pool:
        case_ids = [case_id for ids in pool.map(create_several, applicants) for case_id in ids]
    assert len(set(case_ids)) == len(applicants) * per_thread
    assert len({case_id % LEDGER_SHARDS for case_id in case_ids}) == 1
    with committed_db() as session:
        report = verify_audit_chain(session)
        assert report.ok, [str(p) for p in report.problems]
        entries = session.scalars(select(CaseLedgerEntry).order_by(CaseLedgerEntry.seq)).all()
        assert sorted(e.case_id for e in entries) == sorted(case_ids)
        assert [e.seq for e in entries] == list(range(1, len(case_ids) + 1))


# --- A stale expected_version (both databases) ----------------------------------------------------

def _stored(session, case_id):
    row = session.execute(select(Case.version, Case.state, Case.audit_seq, Case.form_data)
                          .where(Case.id == case_id)).one()
    events = session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.case_id == case_id))
    return tuple(row), events


STALE = {
    "approve": lambda s, w, c, v: approve_case(s, w.actor("reviewer_A1"), c, expected_version=v, now=NOW),
    "return": lambda s, w, c, v: return_case(s, w.actor("reviewer_A1"), c, expected_version=v, comment="补材料",
                                             now=NOW),
    "withdraw": lambda s, w, c, v: withdraw_case(s, w.actor("applicant_A1a"), c, expected_version=v, now=NOW),
    "update_draft": lambda s, w, c, v: update_draft(s, w.actor("applicant_A1a"), c, {"employer": "新公司"},
                                                    expected_version=v, now=NOW),
}


@pytest.mark.parametrize("operation", list(STALE))
def test_stale_expected_version_is_refused_before_anything_is_written(session, world, operation):
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "basic_nomination", form=FORM, now=NOW)
    update_draft(session, applicant, case, {"post": "车工"}, expected_version=case.version, now=NOW)
    if operation in ("approve", "return"):
        submit_case(session, applicant, case, expected_version=case.version, now=NOW)
    session.commit()
    before = _stored(session, case.id)
    seen = case.version - 1  # what a form opened before the last change still carries
    with pytest.raises(Conflict) as refused:
        STALE[operation](session, world, case, seen)
    assert refused.value.current_version == case.version
    assert "刷新" in refused.value.message
    assert not session.new and not session.dirty
    session.rollback()
    assert _stored(session, case.id) == before
    assert verify_audit_chain(session, case_ids=[case.id]).ok


def test_verifying_a_live_database_ignores_commits_made_while_it_reads(committed_db):
    """An approval committed between verify's reads of the case heads and of the events is not
    tampering: verify_database reads one snapshot."""
    from sqlalchemy import event as sa_event

    from engine.cases.integrity import verify_database

    with committed_db() as s:
        world = build_world(s)
        s.commit()
    applicant = world.actor("applicant_A1a")
    with committed_db() as s:
        case = create_draft(s, applicant, "basic_nomination", form=FORM, now=NOW)
        submit_case(s, applicant, case, expected_version=case.version, now=NOW)
        s.commit()
        case_id = case.id
    engine = committed_db.kw["bind"]
    approved = []

    def approve_meanwhile(conn, cursor, statement, params, context, executemany):
        if not approved and "FROM cases" in statement and "audit_head" in statement:
            approved.append(True)
            with committed_db() as other:
                live = other.get(Case, case_id)
                approve_case(other, world.actor("reviewer_A1"), live, expected_version=live.version, now=NOW)
                other.commit()

    sa_event.listen(engine, "after_cursor_execute", approve_meanwhile)
    try:
        report = verify_database(engine)
    finally:
        sa_event.remove(engine, "after_cursor_execute", approve_meanwhile)
    assert approved, "the approval did not run during verification"
    assert report.ok, [str(p) for p in report.problems]
    assert verify_database(engine).ok
