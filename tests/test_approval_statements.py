"""What one approval costs the database, statement by statement.

bench/approvals.py measures approvals per second; this pins the statements of one approval,
so that no feature adds one without the change showing here (and in the bench's figures).
"""
from __future__ import annotations

import re

from sqlalchemy import event

from engine.cases.case import Case
from engine.operations.transitions import approve_case, create_draft, submit_case
from tests.conftest import NOW
from tests.test_smoke_basic_nomination import FORM

# One approval on the plain chain, as a request or the bench makes it: the case read, then
# approve_case and the commit. Issue 18 (tasks) is to bring this back to four.
ONE_APPROVAL = [
    "SELECT cases",
    "UPDATE cases",
    "INSERT audit_events",
    "SELECT deadlines",
    "UPDATE deadlines",
    "INSERT deadlines",
    "UPDATE inbox_items",
]


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


def test_one_approval_issues_the_statements_it_did(session, world, database):
    """Does an approval still read and write what it did, and nothing more?"""
    applicant, reviewer = world.actor("applicant_A1a"), world.actor("reviewer_A1")
    case = create_draft(session, applicant, "basic_nomination", form=FORM, now=NOW)
    submit_case(session, applicant, case, expected_version=case.version, now=NOW)
    session.commit()
    case_id = case.id
    session.expunge_all()  # the approval starts from nothing, as a request does

    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(database, "before_cursor_execute", record)
    try:
        case = session.get(Case, case_id)
        approve_case(session, reviewer, case, expected_version=case.version, now=NOW)
        session.commit()
    finally:
        event.remove(database, "before_cursor_execute", record)

    # The test's savepoints stand where a request's BEGIN and COMMIT would.
    work = [_summary(statement) for statement in statements if "SAVEPOINT" not in statement.upper()]
    assert work == ONE_APPROVAL
