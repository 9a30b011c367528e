"""The inbox read model: who sees what, due dates in working days, ordering, one indexed query."""
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select, text

from engine.base.errors import CalendarNotCovered
from engine.calendar.working_days import forget_cached_calendars, set_calendar_day, working_calendar
from engine.cases.inbox import InboxFilter, case_number, done_page, inbox_page, inbox_statement
from engine.cases.tasks import ACTED, Task, waiting_task
from engine.operations.transitions import approve_case, create_draft, submit_case
from tests.conftest import NOW, waiting_case_ids

FORM = {"award_type": "labour_medal", "nominee_name": "孙八", "employer": "A1a公司", "ownership": "public",
        "merits_summary": "节能降耗显著"}


@pytest.fixture(autouse=True)
def fresh_calendar():
    forget_cached_calendars()
    yield
    forget_cached_calendars()


def submitted_case(session, world, now, applicant="applicant_A1a"):
    case = create_draft(session, world.actor(applicant), "basic_nomination", form=FORM, now=now)
    submit_case(session, world.actor(applicant), case, expected_version=case.version, now=now)
    return case


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


def test_due_date_counts_working_days_over_labour_day_and_its_make_up_saturday(session, world):
    """Submitted Wed 29 Apr 2026 (Beijing); 5 working days: 30 Apr, 6, 7, 8 May and Sat 9 May (调休)."""
    case = submitted_case(session, world, utc(2026, 4, 29, 2))
    assert waiting_task(session, case.id).due_dt == utc(2026, 5, 9, 16)  # midnight after 9 May, Beijing time


def test_local_closure_day_moves_the_due_date(session, world):
    set_calendar_day(session, date(2026, 5, 8), False, "本地停工")
    case = submitted_case(session, world, utc(2026, 4, 29, 2))
    assert waiting_task(session, case.id).due_dt == utc(2026, 5, 11, 16)  # 8 May closed: the fifth working day is Mon 11 May


def test_year_the_calendar_does_not_cover_leaves_the_due_date_unknown(session, world):
    """A deadline running into a year nobody has published is unknown, never a weekend-only guess."""
    with pytest.raises(CalendarNotCovered):
        working_calendar(session).is_working_day(date(2027, 3, 1))
    case = submitted_case(session, world, utc(2026, 12, 28, 2))
    task = waiting_task(session, case.id)
    assert task.has_deadline and task.due_dt is None


def test_reviewer_sees_only_cases_waiting_at_their_unit_soonest_due_first(session, world):
    late = submitted_case(session, world, utc(2026, 3, 10, 2))
    early = submitted_case(session, world, utc(2026, 3, 2, 2), applicant="applicant_A1b")
    other_township = submitted_case(session, world, NOW, applicant="applicant_B1a")
    assert waiting_case_ids(session, world.actor("reviewer_A1")) == [early.id, late.id]
    assert waiting_case_ids(session, world.actor("reviewer_B1")) == [other_township.id]
    assert waiting_case_ids(session, world.actor("reviewer_A")) == []
    approve_case(session, world.actor("reviewer_A1"), early, expected_version=early.version, now=NOW)
    assert waiting_case_ids(session, world.actor("reviewer_A1")) == [late.id]
    assert waiting_case_ids(session, world.actor("reviewer_A")) == [early.id]


def test_applicant_inbox_holds_their_drafts(session, world):
    draft = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
    assert waiting_case_ids(session, world.actor("applicant_A1a"), "applicant") == [draft.id]
    assert waiting_case_ids(session, world.actor("applicant_A1b"), "applicant") == []


def test_a_transition_closes_the_task_it_ends_and_opens_the_next(session, world):
    """A task loaded before the approval reads as closed after it (by whom, how), and the case
    waits on a new one at the next level."""
    case = submitted_case(session, world, NOW)
    township = waiting_task(session, case.id)
    reviewer = world.actor("reviewer_A1")
    approve_case(session, reviewer, case, expected_version=case.version, now=NOW)
    assert (township.state, township.closed_dt, township.closed_by_id, township.closed_how) == (
        "township_review", NOW, reviewer.user_id, ACTED)
    county = waiting_task(session, case.id)
    assert (county.state, county.unit_id, county.closed_dt) == ("county_review", world.unit("A").id, None)
    assert session.scalars(select(Task.state).where(Task.case_id == case.id).order_by(Task.id)).all() == [
        "draft", "township_review", "county_review"]


def test_inbox_query_uses_its_index_on_postgresql(session, world, backend):
    if backend != "postgresql":
        pytest.skip("EXPLAIN output is PostgreSQL's")
    submitted_case(session, world, NOW)
    session.execute(text("SET LOCAL enable_seqscan = off"))
    statement = inbox_statement(session, world.actor("reviewer_A1"), InboxFilter(), NOW).compile(
        session.get_bind(), compile_kwargs={"literal_binds": True})
    plan = "\n".join(row[0] for row in session.execute(text(f"EXPLAIN {statement}")))
    assert "ix_tasks_open_by_party" in plan, plan


# --- 「我已办」 --------------------------------------------------------------------------------------

def test_done_lists_the_tasks_one_closed_latest_first_and_finds_them(session, world):
    reviewer = world.actor("reviewer_A1")
    first = submitted_case(session, world, NOW)
    second = submitted_case(session, world, NOW, applicant="applicant_A1b")
    approve_case(session, reviewer, first, expected_version=first.version, now=utc(2026, 3, 10, 2))
    approve_case(session, reviewer, second, expected_version=second.version, now=utc(2026, 3, 11, 2))
    done = done_page(session, reviewer)
    assert [entry.case_id for entry in done] == [second.id, first.id]
    assert (done[0].state_label, done[0].now_state_label, done[0].closed_how) == (
        "镇（街道）总工会审核", "县（区）总工会审核", ACTED)
    assert done_page(session, world.actor("reviewer_A1_and_A")) == []
    assert [entry.case_id for entry in done_page(session, reviewer, search=str(first.id))] == [first.id]
    assert [entry.case_id for entry in done_page(session, reviewer, search=f"第 {first.id} 号")] == [first.id]
    assert [entry.case_id for entry in done_page(session, reviewer, search="孙八")] == [second.id, first.id]
    assert done_page(session, reviewer, search="100%") == []
    assert [entry.case_id for entry in done_page(session, reviewer, after=done[0].sort_key)] == [first.id]


# --- Searching the inbox by name or case number ---------------------------------------------------

@pytest.mark.parametrize("search, number", [
    ("12", 12), (" 12 ", 12), ("#12", 12), ("＃12", 12), ("第12号", 12), ("第 12 号", 12), ("12号", 12),
    ("孙八", None), ("12a", None), ("第十二号", None), ("0", None), (str(2**31), None), ("1" * 11, None),
])
def test_a_case_number_is_read_as_the_pages_write_it(search, number):
    assert case_number(search) == number


def nominate(session, world, nominee, applicant="applicant_A1a", now=NOW):
    case = create_draft(session, world.actor(applicant), "basic_nomination", form=FORM | {"nominee_name": nominee},
                        now=now)
    submit_case(session, world.actor(applicant), case, expected_version=case.version, now=now)
    return case


def found(session, actor, search, **filters) -> list[int]:
    return [entry.case_id for entry in inbox_page(session, actor, InboxFilter(search=search, **filters), now=NOW)]


def test_the_inbox_finds_a_name_in_its_own_tasks_and_a_number_straight_away(session, world):
    """Is a name looked for only among the reviewer's open tasks, and a number only if it waits for him?"""
    reviewer = world.actor("reviewer_A1")
    zhang, li = nominate(session, world, "张三丰"), nominate(session, world, "李四")
    elsewhere = nominate(session, world, "张三丰", applicant="applicant_B1a")  # another township's
    moved_on = nominate(session, world, "张三")
    approve_case(session, reviewer, moved_on, expected_version=moved_on.version, now=NOW)  # now at the county
    assert found(session, reviewer, "张三") == [zhang.id]
    assert found(session, reviewer, "三丰") == [zhang.id]
    assert found(session, reviewer, f"第 {li.id} 号") == [li.id] == found(session, reviewer, f"#{li.id}")
    assert found(session, reviewer, str(elsewhere.id)) == []  # not his to see
    assert found(session, reviewer, str(moved_on.id)) == []  # no longer waiting for him
    assert found(session, reviewer, "100%") == [] and found(session, reviewer, "_") == []  # wildcards are text
    assert found(session, reviewer, "张三", mine=True) == []  # and the other filters still apply


def test_a_search_keeps_the_keyset_pages(session, world):
    reviewer = world.actor("reviewer_A1")
    cases = [nominate(session, world, f"王{n}", now=utc(2026, 3, 2 + n, 2)) for n in range(3)]
    nominate(session, world, "赵六")
    first = inbox_page(session, reviewer, InboxFilter(search="王"), limit=2, now=NOW)
    rest = inbox_page(session, reviewer, InboxFilter(search="王"), after=first[-1].sort_key, limit=2, now=NOW)
    assert [entry.case_id for entry in first + rest] == [case.id for case in cases]


@pytest.mark.parametrize("search", ["张三", "12"])
def test_a_searched_inbox_still_uses_its_index_on_postgresql(session, world, backend, search):
    if backend != "postgresql":
        pytest.skip("EXPLAIN output is PostgreSQL's")
    nominate(session, world, "张三")
    session.execute(text("SET LOCAL enable_seqscan = off"))
    statement = inbox_statement(session, world.actor("reviewer_A1"), InboxFilter(search=search), NOW).compile(
        session.get_bind(), compile_kwargs={"literal_binds": True})
    plan = "\n".join(row[0] for row in session.execute(text(f"EXPLAIN {statement}")))
    assert "ix_tasks_open_by_party" in plan or "uq_tasks_open_stage" in plan, plan
    assert "Seq Scan on cases" not in plan, plan
