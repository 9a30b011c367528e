"""How a deadline reads (engine.cases.deadlines.last_day_to_act and friends): one rule for every
page, mail and API field — the last day on which to act, not the midnight that ends it."""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from engine.cases.deadlines import closing_hour, last_day_text, last_day_to_act
from engine.cases.tasks import missing_calendar_year, waiting_task
from tests.test_deadlines import honours, local  # noqa: F401 (the fixture)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_a_deadline_at_local_midnight_leaves_the_day_before_as_the_last_day():
    # Stored in UTC: 16:00 on 10 December is midnight of the 11th in Beijing.
    due = datetime(2026, 12, 10, 16, 0, tzinfo=timezone.utc)
    assert last_day_to_act(due, SHANGHAI) == date(2026, 12, 10)
    assert closing_hour(due, SHANGHAI) is None
    assert last_day_text(due, SHANGHAI) == "最迟办理日 2026-12-10"


def test_a_deadline_at_another_hour_ends_on_its_own_day_at_that_hour():
    due = datetime(2026, 5, 31, 17, 0, tzinfo=SHANGHAI)  # a round closing at 17:00
    assert last_day_to_act(due, SHANGHAI) == date(2026, 5, 31)
    assert closing_hour(due, SHANGHAI) == time(17, 0)
    assert last_day_text(due, SHANGHAI) == "最迟办理日 2026-05-31 17:00 前"


def test_the_last_day_is_the_local_one_whatever_zone_the_moment_is_stored_in():
    due = datetime(2026, 12, 11, 0, 0, tzinfo=SHANGHAI)
    assert last_day_to_act(due.astimezone(timezone.utc), SHANGHAI) == last_day_to_act(due, SHANGHAI)
    assert last_day_to_act(due, timezone.utc) == date(2026, 12, 10)  # 16:00 UTC on the 10th


def test_a_deadline_the_calendar_cannot_work_out_names_the_missing_year(session, world, honours):  # noqa: F811
    """Which year is missing, so pages can say why the deadline is unknown."""
    case = honours.at_city()
    honours.opinions(case)
    assert missing_calendar_year(session, case.id) is None  # known: nothing is missing
    honours.act("reviewer_city", case, "approve", now=local(2026, 12, 29, 10, 0))  # 5 working days: into 2027
    assert waiting_task(session, case.id).due_dt is None
    assert missing_calendar_year(session, case.id) == 2027


def test_a_case_without_an_open_deadline_misses_no_year(session, world, honours):  # noqa: F811
    case = honours.draft()
    assert missing_calendar_year(session, case.id) is None
