"""Defects seen walking the pages as their users (issue 16): one deadline read the same way
everywhere, and the small things each page got wrong."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from engine.calendar import LOCAL_TZ
from engine.deadlines import open_deadline
from engine.operations import perform_action
from tests.api_v1.test_cases import nominate, submitted
from tests.pages.conftest import text_of

# Submitted on 29 December 2026: five working days reach into 2027, a year no calendar covers here.
LATE_DECEMBER = datetime(2026, 12, 29, 10, 0, tzinfo=LOCAL_TZ)
UNCOVERED = "无法计算期限：2027 年的工作日历尚未导入"


def row_of(page: str, case_id: int) -> str:
    """The table row of a page that links to the case."""
    for row in re.findall(r"<tr.*?</tr>", page, re.S):
        if f'href="/cases/{case_id}"' in row:
            return row
    raise AssertionError(f"no row for case {case_id}")


# --- Item 7: one deadline, one day ------------------------------------------------------------------

def test_inbox_case_page_and_my_cases_show_the_same_last_day_to_act(pages, session, world):
    """Does every page show the deadline as the same last day, not the midnight after it?"""
    case = submitted(session, world)
    due = open_deadline(session, case.id).due_dt
    local_due = due.astimezone(LOCAL_TZ)
    assert local_due.hour == 0 and local_due.minute == 0  # "N working days" end at midnight
    expected = f"最迟办理日 {(local_due - timedelta(days=1)).date().isoformat()}"
    wrong = local_due.date().isoformat()

    inbox_row = row_of(text_of(pages("reviewer_A1").get("/inbox")), case.id)
    case_page = text_of(pages("reviewer_A1").get(f"/cases/{case.id}"))
    case_head = case_page[case_page.index("办理期限"):case_page.index("</dl>")]
    my_row = row_of(text_of(pages("applicant_A1a").get("/my/cases")), case.id)
    for where, shown in (("inbox", inbox_row), ("case page", case_head), ("my cases", my_row)):
        assert expected in shown, where
        assert wrong not in shown, where
    banner = case_page[case_page.index('id="overdue-banner"'):]
    assert f"本环节已逾期（{expected}）" in banner


def test_a_deadline_the_calendar_cannot_work_out_says_why_on_every_page(pages, session, world):
    """A deadline in a year the working-day calendar lacks: the pages name the year, not nothing."""
    case = nominate(session, world)
    perform_action(session, world.actor("applicant_A1a"), case, "submit", expected_version=case.version,
                   now=LATE_DECEMBER)
    session.flush()
    assert open_deadline(session, case.id).due_dt is None

    inbox_row = row_of(text_of(pages("reviewer_A1").get("/inbox")), case.id)
    assert UNCOVERED in inbox_row and "无期限" not in inbox_row
    case_page = text_of(pages("applicant_A1a").get(f"/cases/{case.id}"))
    assert UNCOVERED in case_page[:case_page.index("</dl>")]
    assert UNCOVERED in row_of(text_of(pages("applicant_A1a").get("/my/cases")), case.id)
