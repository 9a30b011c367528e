"""What one approval costs the database, statement by statement.

bench/approvals.py measures approvals per second; this pins the statements of one approval (and
of a new case, a return, a resubmission and a timer), so that no feature adds one without the
change showing here (and in the bench's figures).
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import event

from engine.base import effects
from engine.cases.case import Case
from engine.operations.telling import PUBLISHED_AS, tell_about_events
from engine.operations.timers import fire_timer
from engine.operations.transitions import approve_case, create_draft, resubmit_case, return_case, submit_case
from engine.worker import _tell_after_commit
from tests.conftest import NOW
from tests.test_competition_results import notice_over, on_notice
from tests.test_medical_subsidy import draft, schemes, store, submitted  # noqa: F401 - the fixtures
from tests.test_smoke_basic_nomination import FORM

# One approval on the plain chain, as a request or the bench makes it: the case read, then
# approve_case and the commit: the case moved (its version checked), the event appended, the
# township's task closed and the county's opened. The budget of issue 18 is five.
ONE_APPROVAL = ["SELECT cases", "UPDATE cases", "INSERT audit_events", "UPDATE tasks", "INSERT tasks"]
BUDGET = 5
# A new case: the definition and the units read, the case with its first event registered in
# the case ledger (its shard's head locked, then moved), and its first task: none to close.
CREATE = [
    "SELECT workflow_kinds", "SELECT org_units", "SELECT org_units", "INSERT cases", "UPDATE cases",
    "INSERT audit_events", "UPDATE case_ledger_heads", "UPDATE case_ledger_heads", "INSERT case_ledger_entries",
    "INSERT tasks",
]
# Back to the applicant, and out of the draft into review again: one task closed, one opened.
RETURN = ["SELECT cases", "UPDATE cases", "INSERT audit_events", "UPDATE tasks", "INSERT tasks"]
RESUBMIT = ["SELECT cases", "UPDATE cases", "INSERT audit_events", "UPDATE tasks", "INSERT tasks"]
# A public notice ending by the clock (competition results): the timer checks its deadline has
# passed (its task read) and the rule no_open_objections reads the objections.
TIMER = [
    "SELECT cases", "SELECT tasks", "SELECT objections", "UPDATE cases", "INSERT audit_events", "UPDATE tasks",
    "INSERT tasks",
]

# Telling of one approval, after its commit (engine.operations.telling).
TELL = ["SELECT audit_events", "SELECT cases", "SELECT tasks", "SELECT role_assignments", "SELECT users",
        "INSERT notifications"]


def _summary(statement: str) -> str:
    verb = statement.split(None, 1)[0].upper()
    if verb == "SELECT":
        table = re.search(r"\bFROM\s+([a-z_]+)", statement, re.IGNORECASE).group(1)
    elif verb == "INSERT":
        table = re.search(r"\bINTO\s+([a-z_]+)", statement, re.IGNORECASE).group(1)
    elif verb in ("UPDATE", "DELETE"):
        table = re.search(r"^(?:UPDATE|DELETE\s+FROM)\s+([a-z_]+)", statement, re.IGNORECASE).group(1)
    else:
        return verb
    return f"{verb} {table}"


@pytest.fixture
def told_later():
    """The events the people concerned are told of after the commit, kept aside: a worker tells
    them in the production profile, in a unit of work of its own (its statements are pinned apart)."""
    event_ids: list[int] = []

    def keep(_bind, payloads):
        event_ids.extend(payload["event_id"] for payload in payloads)

    effects.unsubscribe(PUBLISHED_AS, _tell_after_commit)
    effects.subscribe(PUBLISHED_AS, keep, gathered=True)
    yield event_ids
    effects.unsubscribe(PUBLISHED_AS, keep)
    effects.subscribe(PUBLISHED_AS, _tell_after_commit, gathered=True)


def _statements(session, database, work) -> list[str]:
    """What ``work(session)`` and the commit after it issue, from an empty session, as a request
    or a task starts; the test's savepoints stand where their BEGIN and COMMIT would."""
    session.expunge_all()
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(database, "before_cursor_execute", record)
    try:
        work(session)
        session.commit()
    finally:
        event.remove(database, "before_cursor_execute", record)
    return [_summary(statement) for statement in statements if "SAVEPOINT" not in statement.upper()]


def _submitted(session, world) -> int:
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "basic_nomination", form=FORM, now=NOW)
    submit_case(session, applicant, case, expected_version=case.version, now=NOW)
    session.commit()
    return case.id


def _act(case_id: int, operation, actor, **values):
    def work(session):
        case = session.get(Case, case_id)
        operation(session, actor, case, expected_version=case.version, now=NOW, **values)
    return work


def test_one_approval_issues_the_statements_it_did(session, world, database, told_later):
    """Does an approval still read and write what it did, and nothing more?"""
    case_id = _submitted(session, world)
    told_later.clear()
    statements = _statements(session, database, _act(case_id, approve_case, world.actor("reviewer_A1")))
    assert statements == ONE_APPROVAL
    assert len(statements) <= BUDGET
    # Telling the county's reviewers, apart: the event, its case, the task it opened, the people
    # at the county, who of them wants mail, their notifications.
    assert len(told_later) == 1
    assert _statements(session, database, lambda work_session: tell_about_events(
        work_session, told_later, NOW)) == TELL


def test_create_return_resubmit_and_a_timer_issue_the_statements_they_did(session, world, database, told_later):
    applicant, reviewer = world.actor("applicant_A1a"), world.actor("reviewer_A1")
    assert _statements(session, database, lambda work_session: create_draft(
        work_session, applicant, "basic_nomination", form=FORM, now=NOW)) == CREATE
    case_id = _submitted(session, world)
    assert _statements(session, database, _act(case_id, return_case, reviewer, comment="请补充材料")) == RETURN
    assert _statements(session, database, _act(case_id, resubmit_case, applicant)) == RESUBMIT
    notice = on_notice(session, world)
    session.commit()
    notice_id, over = notice.id, notice_over(session, notice)

    def end_of_notice(work_session):
        case = work_session.get(Case, notice_id)
        assert fire_timer(work_session, case, case.definition, over).fired

    assert _statements(session, database, end_of_notice) == TIMER


# A medical claim's approval (workflows/medical_subsidy.py): the scheme's parameters read once,
# the cap's ledger made sure of, locked, checked for an earlier draw and drawn from (the draw's
# flush writes the moved case first; the granted amount lands in its outcome after), then the
# approval's own steps. The preview the reviewer read before runs on the page, not here.
MEDICAL_APPROVAL = [
    "SELECT cases", "UPDATE cases", "SELECT parameter_sets", "INSERT ledgers", "SELECT ledgers",
    "SELECT ledger_entries", "UPDATE ledgers", "INSERT ledger_entries", "UPDATE cases", "INSERT audit_events",
    "UPDATE tasks", "INSERT tasks",
]


def test_a_medical_approval_reads_its_parameters_once_and_draws_once(session, world, database, told_later,
                                                                    submitted):
    case_id = submitted().id
    session.commit()
    statements = _statements(session, database, _act(case_id, approve_case, world.actor("reviewer_A")))
    assert statements == MEDICAL_APPROVAL
