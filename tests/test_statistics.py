"""Dashboard figures: open cases per stage and unit, overdue per unit, median working days per stage.

Cases are seeded through the engine's own operations at explicit times (Beijing office hours),
so every figure below is known exactly.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from engine.base.errors import CalendarNotCovered, PermissionDenied, ValidationFailed
from engine.calendar.working_days import forget_cached_calendars, set_calendar_day, working_calendar
from engine.operations.transitions import create_draft, perform_action
from engine.reading.statistics import StatisticsFilter, median_of, open_cases_by_stage, stage_durations, waiting_by_unit

BEIJING = ZoneInfo("Asia/Shanghai")
FORM = {"award_type": "labour_medal", "nominee_name": "周九", "employer": "示范公司", "ownership": "public",
        "merits_summary": "技术革新成效显著"}
COMMENT = "材料不全"
ALL = StatisticsFilter()
BASIC = StatisticsFilter(kind="basic_nomination")


@pytest.fixture(autouse=True)
def fresh_calendar():
    """Another test may have cached a calendar with an entered year; these figures need the plain one."""
    forget_cached_calendars()
    yield
    forget_cached_calendars()


def at(year, month, day, hour=10) -> datetime:
    """A moment in Beijing office hours, as the UTC datetime the engine stores."""
    return datetime(year, month, day, hour, tzinfo=BEIJING).astimezone(timezone.utc)


def case_of(session, world, applicant, created, *steps):
    """A basic_nomination draft by ``applicant`` at ``created``, then ``(person, trigger, when)`` steps."""
    case = create_draft(session, world.actor(applicant), "basic_nomination", form=FORM, now=created)
    for person, trigger, when in steps:
        perform_action(session, world.actor(person), case, trigger, expected_version=case.version, now=when,
                       comment=COMMENT if trigger in ("return", "reject") else None)
    session.flush()
    return case


def by_name(world, counts) -> dict:
    """{unit name: {state: n}} of one kind's StageCounts, zero cells left out."""
    return {unit.name: {state.id: counts.count(unit.id, state.id) for state in counts.states
                        if counts.count(unit.id, state.id)}
            for unit in counts.units}


@pytest.fixture
def open_cases(session, world):
    """Cases across both counties in every kind of open and closed state."""
    monday = at(2026, 3, 2)
    return {
        "A1a_township": case_of(session, world, "applicant_A1a", monday, ("applicant_A1a", "submit", monday)),
        "A1b_county": case_of(session, world, "applicant_A1b", monday, ("applicant_A1b", "submit", monday),
                              ("reviewer_A1", "approve", at(2026, 3, 3))),
        "A1a_returned": case_of(session, world, "applicant_A1a", monday, ("applicant_A1a", "submit", monday),
                                ("reviewer_A1", "return", at(2026, 3, 4))),
        "A1a_draft": case_of(session, world, "applicant_A1a", monday),
        "A1a_rejected": case_of(session, world, "applicant_A1a", monday, ("applicant_A1a", "submit", monday),
                                ("reviewer_A1", "reject", at(2026, 3, 4))),
        "B1a_township": case_of(session, world, "applicant_B1a", at(2026, 3, 16),
                                ("applicant_B1a", "submit", at(2026, 3, 16))),
        "B1a_notice": case_of(session, world, "applicant_B1a", monday, ("applicant_B1a", "submit", monday),
                              ("reviewer_B1", "approve", monday), ("reviewer_B", "approve", monday),
                              ("reviewer_city", "approve", monday)),
    }


# --- Open cases per stage and unit ----------------------------------------------------------------

def test_the_city_sees_open_cases_per_county_by_state(session, world, open_cases):
    [counts] = open_cases_by_stage(session, world.actor("reviewer_city"), ALL)
    assert (counts.kind, counts.kind_label) == ("basic_nomination", "基础推荐流程（测试用）")
    assert [unit.name for unit in counts.units] == ["A区总工会", "B区总工会"]  # nothing at the city itself
    assert [state.id for state in counts.states] == ["returned", "township_review", "county_review", "public_notice"]
    assert by_name(world, counts) == {
        "A区总工会": {"returned": 1, "township_review": 1, "county_review": 1},
        "B区总工会": {"township_review": 1, "public_notice": 1},
    }
    # Drafts never submitted and closed cases are not open cases.
    assert counts.total == 5 and counts.unit_total(world.unit("A").id) == 3
    assert counts.state_total("township_review") == 2


def test_a_county_sees_its_townships_and_never_the_other_county(session, world, open_cases):
    [counts] = open_cases_by_stage(session, world.actor("reviewer_A"), ALL)
    assert by_name(world, counts) == {
        "A1街道总工会": {"returned": 1, "township_review": 1, "county_review": 1},
        "A2街道总工会": {},  # a unit with no open cases is still listed, with zeros
    }
    assert counts.total == 3 and "public_notice" not in [state.id for state in counts.states]


def test_a_township_sees_its_grassroots_unions(session, world, open_cases):
    [counts] = open_cases_by_stage(session, world.actor("reviewer_A1"), ALL)
    assert by_name(world, counts) == {
        "A1a公司工会": {"returned": 1, "township_review": 1},
        "A1b公司工会": {"county_review": 1},
    }


def test_a_unit_without_children_is_its_own_row(session, world, open_cases):
    [counts] = open_cases_by_stage(session, world.actor("reviewer_A1a"), ALL)
    assert [(unit.name, unit.is_scope) for unit in counts.units] == [("A1a公司工会", True)]
    assert by_name(world, counts) == {"A1a公司工会": {"returned": 1, "township_review": 1}}


def test_auditors_and_admins_see_their_subtree_and_applicants_are_refused(session, world, open_cases):
    [auditor] = open_cases_by_stage(session, world.actor("auditor_A"), ALL)
    assert auditor.total == 3 and [unit.name for unit in auditor.units] == ["A1街道总工会", "A2街道总工会"]
    [admin] = open_cases_by_stage(session, world.actor("admin"), ALL)
    assert admin.total == 5
    with pytest.raises(PermissionDenied):
        open_cases_by_stage(session, world.actor("applicant_A1a"), ALL)
    with pytest.raises(PermissionDenied):
        waiting_by_unit(session, world.actor("applicant_A1a"), ALL)
    with pytest.raises(PermissionDenied):
        stage_durations(session, world.actor("applicant_A1a"), ALL)


def test_the_kind_filter_keeps_a_chosen_kind_even_without_cases(session, world, open_cases):
    [honours] = open_cases_by_stage(session, world.actor("reviewer_city"), StatisticsFilter(kind="honours"))
    assert (honours.kind, honours.total, honours.states) == ("honours", 0, ())
    assert [unit.name for unit in honours.units] == ["A区总工会", "B区总工会"]
    [basic] = open_cases_by_stage(session, world.actor("reviewer_city"), BASIC)
    assert basic.total == 5
    with pytest.raises(ValidationFailed) as refused:
        open_cases_by_stage(session, world.actor("reviewer_city"), StatisticsFilter(kind="no_such_kind"))
    assert refused.value.fields == {"kind": ["未知的业务类型「no_such_kind」"]}


def test_the_creation_date_range_includes_both_local_days(session, world, open_cases):
    city = world.actor("reviewer_city")
    [counts] = open_cases_by_stage(session, city, StatisticsFilter(created_from=date(2026, 3, 16)))
    assert by_name(world, counts) == {"A区总工会": {}, "B区总工会": {"township_review": 1}}
    [counts] = open_cases_by_stage(session, city, StatisticsFilter(created_to=date(2026, 3, 2)))
    assert counts.total == 4
    # A case created at 07:30 on 17 March in Beijing is 23:30 on the 16th in UTC: it belongs to the 17th.
    case_of(session, world, "applicant_B1a", at(2026, 3, 17, 7), ("applicant_B1a", "submit", at(2026, 3, 17, 7)))
    [counts] = open_cases_by_stage(session, city, StatisticsFilter(created_from=date(2026, 3, 17),
                                                                    created_to=date(2026, 3, 17)))
    assert counts.total == 1
    assert open_cases_by_stage(session, city, StatisticsFilter(created_to=date(2026, 3, 1))) == []
    with pytest.raises(ValidationFailed) as refused:
        open_cases_by_stage(session, city, StatisticsFilter(created_from=date(2026, 3, 2), created_to=date(2026, 3, 1)))
    assert refused.value.fields == {"created_to": ["结束日期不能早于开始日期"]}


# --- Waiting and overdue per unit -----------------------------------------------------------------

def figures(rows) -> dict:
    return {row.unit.name: (row.waiting, row.overdue) for row in rows}


def test_overdue_per_unit_that_must_act(session, world, open_cases):
    """Township review has 5 working days: submitted Mon 2 March, due at the end of Mon 9 March.
    On Fri 20 March the cases submitted on 2 March are late, the one of 16 March is not."""
    now = at(2026, 3, 20)
    assert figures(waiting_by_unit(session, world.actor("reviewer_city"), ALL, now=now)) == {
        "A区总工会": (2, 2),       # township review at A1, county review at A (due 10 March)
        "B区总工会": (1, 0),       # township review at B1, submitted 16 March
        "示范市总工会": (1, 1),    # the public notice waits at the city (5 working days from 2 March)
    }
    assert figures(waiting_by_unit(session, world.actor("reviewer_A"), ALL, now=now)) == {
        "A1街道总工会": (1, 1), "A2街道总工会": (0, 0), "A区总工会": (1, 1),
    }
    # On the due day itself nothing is late yet.
    assert figures(waiting_by_unit(session, world.actor("reviewer_A1"), ALL, now=at(2026, 3, 9, 23))) == {
        "A1a公司工会": (0, 0), "A1b公司工会": (0, 0), "A1街道总工会": (1, 0),
    }


def test_overdue_follows_the_kind_and_date_filters(session, world, open_cases):
    now, city = at(2026, 3, 20), world.actor("reviewer_city")
    assert figures(waiting_by_unit(session, city, StatisticsFilter(kind="honours"), now=now)) == {
        "A区总工会": (0, 0), "B区总工会": (0, 0), "示范市总工会": (0, 0),
    }
    assert figures(waiting_by_unit(session, city, StatisticsFilter(created_from=date(2026, 3, 10)), now=now)) == {
        "A区总工会": (0, 0), "B区总工会": (1, 0), "示范市总工会": (0, 0),
    }


# --- Median working days per stage ----------------------------------------------------------------

def test_working_days_between_counts_after_the_start_up_to_the_end(session):
    calendar = working_calendar(session)
    assert calendar.working_days_between(date(2026, 3, 2), date(2026, 3, 2)) == 0
    assert calendar.working_days_between(date(2026, 3, 6), date(2026, 3, 9)) == 1  # Fri → Mon
    # Spring Festival 2026: Sat 14 Feb is a make-up working day, 15–23 Feb are off.
    assert calendar.working_days_between(date(2026, 2, 13), date(2026, 2, 25)) == 3
    with pytest.raises(CalendarNotCovered):
        calendar.working_days_between(date(2026, 12, 30), date(2027, 1, 4))


@pytest.mark.parametrize("histogram, median", [
    ({}, None), ({4: 1}, 4), ({0: 1, 1: 1, 2: 1, 3: 1, 5: 1}, 2), ({1: 2, 5: 2}, 3), ({2: 3, 9: 1}, 2),
])
def test_median_of_a_histogram(histogram, median):
    assert median_of(histogram) == median


@pytest.fixture
def stays(session, world):
    """Finished township stays in county A of 3 (over the Spring Festival), 1, 5, 2 and 0 working days."""
    case_of(session, world, "applicant_A1a", at(2026, 2, 13), ("applicant_A1a", "submit", at(2026, 2, 13)),
            ("reviewer_A1", "approve", at(2026, 2, 25)))
    case_of(session, world, "applicant_A1a", at(2026, 3, 2), ("applicant_A1a", "submit", at(2026, 3, 2)),
            ("reviewer_A1", "approve", at(2026, 3, 3)), ("reviewer_A", "approve", at(2026, 3, 5, 17)))
    case_of(session, world, "applicant_A1b", at(2026, 3, 2), ("applicant_A1b", "submit", at(2026, 3, 2)),
            ("reviewer_A1", "approve", at(2026, 3, 9)))
    # Returned after 2 working days, resubmitted and approved the same day: two stays, 2 and 0.
    case_of(session, world, "applicant_A1b", at(2026, 3, 2), ("applicant_A1b", "submit", at(2026, 3, 2)),
            ("reviewer_A1", "return", at(2026, 3, 4)), ("applicant_A1b", "resubmit", at(2026, 3, 5, 9)),
            ("reviewer_A1", "approve", at(2026, 3, 5, 16)))
    # Still in township review: not a finished stay.
    case_of(session, world, "applicant_A1a", at(2026, 3, 2), ("applicant_A1a", "submit", at(2026, 3, 2)))
    # County B: 10 working days (2 → 16 March).
    case_of(session, world, "applicant_B1a", at(2026, 3, 2), ("applicant_B1a", "submit", at(2026, 3, 2)),
            ("reviewer_B1", "approve", at(2026, 3, 16)))


def medians(durations) -> dict:
    return {stage.state.id: (stage.median_days, stage.stays, stage.skipped) for stage in durations.stages}


def test_median_working_days_per_stage_in_a_county(session, world, stays):
    [durations] = stage_durations(session, world.actor("reviewer_A"), ALL)
    assert durations.kind == "basic_nomination" and durations.uncovered_years == ()
    assert medians(durations) == {
        "township_review": (2, 5, 0),   # 0, 1, 2, 3, 5
        "county_review": (2, 1, 0),     # Tue 3 → Thu 5 March
        "city_review": (None, 0, 0),
        "public_notice": (None, 0, 0),
    }
    assert [stage.state.label for stage in durations.stages][:2] == ["镇（街道）总工会审核", "县（区）总工会审核"]


def test_the_city_median_includes_both_counties(session, world, stays):
    [durations] = stage_durations(session, world.actor("reviewer_city"), BASIC)
    assert medians(durations)["township_review"] == (2.5, 6, 0)  # 0, 1, 2, 3, 5, 10


def test_a_holiday_counts_in_working_days_not_calendar_days(session, world):
    """12 calendar days over the Spring Festival are 3 working days; a local closure day is one fewer."""
    case_of(session, world, "applicant_A1a", at(2026, 2, 13), ("applicant_A1a", "submit", at(2026, 2, 13)),
            ("reviewer_A1", "approve", at(2026, 2, 25)))
    [durations] = stage_durations(session, world.actor("reviewer_A1"), BASIC)
    assert medians(durations)["township_review"] == (3, 1, 0)
    set_calendar_day(session, date(2026, 2, 24), False, "本地停工")
    [durations] = stage_durations(session, world.actor("reviewer_A1"), BASIC)
    assert medians(durations)["township_review"] == (2, 1, 0)


def test_stays_in_a_year_the_calendar_does_not_cover_are_left_out_and_named(session, world, stays):
    case_of(session, world, "applicant_A1a", at(2026, 12, 30), ("applicant_A1a", "submit", at(2026, 12, 30)),
            ("reviewer_A1", "approve", at(2027, 1, 5)))
    [durations] = stage_durations(session, world.actor("reviewer_A"), ALL)
    assert medians(durations)["township_review"] == (2, 5, 1)
    assert durations.uncovered_years == (2027,) and durations.skipped == 1


def test_median_scope_and_filters(session, world, stays):
    """County B's reviewer never counts county A's stays; the date range picks cases by creation."""
    [county_b] = stage_durations(session, world.actor("reviewer_B"), ALL)
    assert medians(county_b)["township_review"] == (10, 1, 0)
    [spring] = stage_durations(session, world.actor("reviewer_city"),
                               StatisticsFilter(created_to=date(2026, 2, 28)))
    assert medians(spring)["township_review"] == (3, 1, 0)
    [honours] = stage_durations(session, world.actor("reviewer_city"), StatisticsFilter(kind="honours"))
    assert honours.kind == "honours" and all(stage.stays == 0 for stage in honours.stages)
    assert stage_durations(session, world.actor("reviewer_A2"), ALL) == []
