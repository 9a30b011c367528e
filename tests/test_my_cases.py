"""「我的申报」 read by engine.reading.my_cases: who holds each case now, those waiting for the
applicant first, keyset pages, one statement a page."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from engine.base.errors import ValidationFailed
from engine.operations.holding import claim_task
from engine.operations.transitions import create_draft, perform_action
from engine.reading.my_cases import my_case_rows, waiting_for_me_count
from tests.conftest import NOW

FORM = {"award_type": "labour_medal", "nominee_name": "孙八", "employer": "A1a公司", "ownership": "public",
        "merits_summary": "节能降耗显著"}


@pytest.fixture
def cases(session, world):
    """``cases(nominee, *moves)``: a basic nomination of applicant_A1a, moved by (person, trigger) steps."""
    def make(nominee, *moves, applicant="applicant_A1a"):
        case = create_draft(session, world.actor(applicant), "basic_nomination", form=FORM | {"nominee_name": nominee},
                            now=NOW)
        for person, trigger in moves:
            perform_action(session, world.actor(person), case, trigger, expected_version=case.version,
                           comment="请补充" if trigger in ("return", "reject") else None, now=NOW)
        return case
    return make


SUBMIT = ("applicant_A1a", "submit")


def holders(rows) -> list[tuple[str, bool, str | None, str | None, str | None]]:
    return [(row.case.title, row.waits_for_me, row.holder_name, row.waiting_unit, row.waiting_role) for row in rows]


def test_each_case_says_who_holds_it_and_those_waiting_for_me_come_first(session, world, cases):
    at_township = cases("在街道", SUBMIT)
    claimed = cases("已认领", SUBMIT)
    claim_task(session, world.actor("reviewer_A1"), claimed, expected_version=claimed.version, now=NOW)
    returned = cases("被退回", SUBMIT, ("reviewer_A1", "return"))
    closed = cases("已办结", SUBMIT, ("reviewer_A1", "reject"))
    a_draft = cases("草稿")
    cases("别人的", applicant="applicant_A1b")
    rows = my_case_rows(session, world.actor("applicant_A1a"), now=NOW)
    assert [row.case.id for row in rows] == [a_draft.id, returned.id, closed.id, claimed.id, at_township.id]
    assert holders(rows) == [
        (a_draft.title, True, None, "A1a公司工会", "申报人"),
        (returned.title, True, None, "A1a公司工会", "申报人"),
        (closed.title, False, None, None, None),
        (claimed.title, False, "reviewer_A1", "A1街道总工会", "审核人"),
        (at_township.title, False, None, "A1街道总工会", "审核人"),
    ]
    assert rows[-1].due_dt is not None and rows[0].due_dt is None  # the reviewer's deadline; none on a draft
    assert waiting_for_me_count(session, world.actor("applicant_A1a")) == 2
    mine_only = my_case_rows(session, world.actor("applicant_A1a"), waiting_for_me=True, now=NOW)
    assert [row.case.id for row in mine_only] == [a_draft.id, returned.id]


def test_pages_follow_the_key_across_the_two_groups(session, world, cases):
    reviewed = [cases(f"审核中{n}", SUBMIT) for n in range(3)]
    drafts = [cases(f"草稿{n}") for n in range(2)]
    applicant = world.actor("applicant_A1a")
    seen, after = [], None
    while True:
        page = my_case_rows(session, applicant, after=after, limit=2, now=NOW)
        seen += [row.case.id for row in page]
        if len(page) < 2:
            break
        after = page[-1].sort_key
    assert seen == [case.id for case in reversed(drafts)] + [case.id for case in reversed(reviewed)]


@pytest.mark.parametrize("after", [(2, 1), (1, 0), (1, 2**31), (True, 1), (1, "1")])
def test_a_key_not_made_by_a_page_is_refused(session, world, after):
    with pytest.raises(ValidationFailed):
        my_case_rows(session, world.actor("applicant_A1a"), after=after, now=NOW)


def test_a_page_is_one_statement_however_many_rows(session, world, cases, database):
    cases("一", SUBMIT)
    applicant = world.actor("applicant_A1a")
    statements = []

    def count(*_args):
        statements.append(1)

    def rows_read() -> int:
        statements.clear()
        event.listen(database, "before_cursor_execute", count)
        try:
            rows = my_case_rows(session, applicant, now=NOW + timedelta(days=1))
            [(row.case.title, row.case.definition.label) for row in rows]
        finally:
            event.remove(database, "before_cursor_execute", count)
        return len(rows), len(statements)

    assert rows_read() == (1, 1)
    for n in range(6):
        cases(f"又一件{n}", SUBMIT)
    claim_task(session, world.actor("reviewer_A1"), cases("再一件", SUBMIT), expected_version=3, now=NOW)
    assert rows_read() == (8, 1)
