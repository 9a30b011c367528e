"""The working-day calendar over the API: anyone signed in reads its coverage and the days
entered; the city's admins enter days and whole years, all or none."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from engine.calendar.working_days import CalendarDay, CalendarYear, forget_cached_calendars
from engine.operations.calendar_keeping import enter_calendar_days
from tests.api_v1.conftest import error_of
from web import localtime

SPRING_FESTIVAL_2027 = [
    {"day": "2027-02-05", "is_working": False, "note": "春节"},
    {"day": "2027-02-08", "is_working": False, "note": "春节"},
    {"day": "2027-02-20", "is_working": True, "note": "春节调休上班"},
]


@pytest.fixture(autouse=True)
def today(monkeypatch):
    forget_cached_calendars()
    monkeypatch.setattr(localtime, "local_today", lambda: date(2026, 11, 22))
    yield
    forget_cached_calendars()


def day_count(session) -> int:
    return session.scalar(select(func.count()).select_from(CalendarDay))


def test_anyone_signed_in_reads_the_coverage_and_its_warning(api, session, world):
    enter_calendar_days(session, None, [(date(2026, 6, 22), False, "防汛停工")])
    response = api("applicant_A1a").get("calendar")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["coverage"] == {
        "package_last_year": 2026, "last_covered_year": 2026, "covered_until": "2026-12-31", "days_left": 39,
        "warning_days": 90, "warn": True,
        "message": "工作日历仅覆盖至 2026 年 12 月 31 日，请管理员在此之前录入 2027 年的节假日和调休安排",
    }
    assert (body["year"], body["entered_years"]) == (2026, [])  # this year by default
    assert body["days"] == [{"day": "2026-06-22", "is_working": False, "note": "防汛停工"}]


def test_anonymous_callers_are_refused(api):
    assert error_of(api().get("calendar"))["code"] == "unauthorized"


def test_the_city_admin_enters_2027_and_reads_it_back(api, session, world):
    client = api("admin")
    response = client.post("calendar/days", json={"days": SPRING_FESTIVAL_2027, "year": 2027, "source": "国办通知"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["added"], body["changed"], body["unchanged"], body["year"]) == (3, 0, 0, 2027)
    assert body["coverage"]["last_covered_year"] == 2027 and body["coverage"]["warn"] is False
    listed = client.get("calendar?year=2027").get_json()
    assert listed["entered_years"] == [{"year": 2027, "source": "国办通知"}]
    assert listed["days"] == SPRING_FESTIVAL_2027
    again = client.post("calendar/days", json={"days": [{"day": "2027-02-20", "is_working": False}]}).get_json()
    assert (again["added"], again["changed"], again["year"]) == (0, 1, None)


@pytest.mark.parametrize("username", ["reviewer_city", "auditor_city", "applicant_A1a"])
def test_only_the_city_admin_enters_days(api, session, username):
    response = api(username).post("calendar/days", json={"days": SPRING_FESTIVAL_2027, "year": 2027})
    error = error_of(response)
    assert response.status_code == 403 and error["code"] == "permission_denied"
    assert "市总工会的管理员" in error["message"]
    assert day_count(session) == 0


def test_bad_days_are_refused_by_item_and_field(api, session):
    days = [*SPRING_FESTIVAL_2027, {"day": "2028-01-01", "is_working": False, "note": "长" * 101}]
    response = api("admin").post("calendar/days", json={"days": days, "year": 2027})
    error = error_of(response)
    assert response.status_code == 422 and error["code"] == "validation_failed"
    assert error["fields"] == {"days.3.note": ["第 4 条：说明不能超过 100 个字"],
                               "days.3.day": ["第 4 条：2028-01-01 不在 2027 年内"]}
    assert (day_count(session), session.get(CalendarYear, 2027)) == (0, None)


@pytest.mark.parametrize(("body", "field"), [
    ({"days": [{"day": "2027-02-30", "is_working": False}]}, "days.0.day"),
    ({"days": [{"day": "2027-02-05"}]}, "days.0.is_working"),
    ({"days": [{"day": "2027-02-05", "is_working": False, "colour": "red"}]}, "days.0.colour"),
    ({"days": []}, "days"),
    ({"days": SPRING_FESTIVAL_2027, "year": 2026}, "year"),
    ({"days": SPRING_FESTIVAL_2027, "year": 20270}, "year"),
])
def test_malformed_input_is_422_at_its_field(api, session, body, field):
    response = api("admin").post("calendar/days", json=body)
    error = error_of(response)
    assert response.status_code == 422 and field in error["fields"], error
    assert day_count(session) == 0


def test_a_bad_year_in_the_query_is_422(api):
    error = error_of(api("admin").get("calendar?year=abc"))
    assert "year" in error["fields"]


def test_a_million_days_are_refused_before_any_is_loaded(api, session):
    """The API's table of days has the bound of an imported file (1000 days at once)."""
    day = {"day": "2027-02-05", "is_working": False}
    response = api("admin").post("calendar/days", json={"days": [day] * 1_000_000})
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"days": ["一次最多录入 1000 天，请分批录入"]}
    assert day_count(session) == 0


def test_the_engine_refuses_more_days_than_a_file_may_hold(session):
    from datetime import timedelta

    from engine.base.errors import ValidationFailed
    from engine.calendar.working_days import CalendarEntry
    from engine.operations.calendar_keeping import enter_calendar_days

    entries = [CalendarEntry(date(2030, 1, 1) + timedelta(days=n), False, "") for n in range(1001)]
    with pytest.raises(ValidationFailed) as refused:
        enter_calendar_days(session, None, entries)
    assert refused.value.fields == {"days": ["一次最多录入 1000 天，请分批录入"]}
