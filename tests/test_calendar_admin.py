"""Keeping the working-day calendar: the city's admins enter a year the chinesecalendar package
does not know yet (its holidays and 调休 make-up days) and single-day adjustments, typed in or
read from a CSV/Excel table; the coverage warns them well before the calendar runs out."""
from __future__ import annotations

import io
from datetime import date, datetime, timezone

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from engine.base.config import Settings
from engine.base.errors import CalendarNotCovered, NotFound, PermissionDenied, ValidationFailed
from engine.calendar.working_days import (
    CalendarDay, CalendarEntry, CalendarYear, calendar_coverage, calendar_days, due_after, forget_cached_calendars,
    last_covered_year, package_last_year, parse_calendar_table, working_calendar,
)
from engine.operations.calendar_keeping import enter_calendar_days, may_keep_calendar, remove_calendar_day
from engine.org.units import assign_role, create_user, load_actor

# An invented 2027 Spring Festival: Friday 5 to Thursday 11 February off, Saturday 20 worked.
SPRING_FESTIVAL_2027 = [
    *(CalendarEntry(date(2027, 2, day), False, "春节") for day in range(5, 12)),
    CalendarEntry(date(2027, 2, 20), True, "春节调休上班"),
]


@pytest.fixture(autouse=True)
def fresh_calendar():
    """The calendar cache outlives each test's rollback: start and end without it."""
    forget_cached_calendars()
    yield
    forget_cached_calendars()


@pytest.fixture
def county_admin(session, world):
    user = create_user(session, username="admin_A", display_name="admin_A")
    assign_role(session, user, "admin", world.unit("A"))
    session.flush()
    return load_actor(session, user.id)


def enter_2027(session, actor):
    return enter_calendar_days(session, actor, SPRING_FESTIVAL_2027, year=2027, source="国务院办公厅通知（测试）")


def day_count(session) -> int:
    return session.scalar(select(func.count()).select_from(CalendarDay))


# --- Entering a year -------------------------------------------------------------------------------

def test_the_package_stops_at_2026_so_2027_is_unknown_until_entered(session, world):
    assert package_last_year() == 2026
    with pytest.raises(CalendarNotCovered) as raised:
        working_calendar(session).add_working_days(date(2027, 2, 4), 1)
    assert raised.value.year == 2027
    start = datetime(2027, 2, 4, 2, 0, tzinfo=timezone.utc)
    assert due_after(session, start, 1) is None


def test_entering_2027_counts_working_days_across_its_spring_festival(session, world):
    result = enter_2027(session, world.actor("admin"))
    assert (result.added, result.changed, result.unchanged, result.year) == (8, 0, 0, 2027)
    calendar = working_calendar(session)
    # Thursday 4 Feb: the next working day is Friday 12, after the week off.
    assert calendar.add_working_days(date(2027, 2, 4), 1) == date(2027, 2, 12)
    # Friday 19: the make-up Saturday 20 is the next working day.
    assert calendar.add_working_days(date(2027, 2, 19), 1) == date(2027, 2, 20)
    # Other weekdays of an entered year work, weekends do not.
    assert calendar.is_working_day(date(2027, 3, 1)) and not calendar.is_working_day(date(2027, 3, 6))
    start = datetime(2027, 2, 4, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai
    assert due_after(session, start, 1) == datetime(2027, 2, 12, 16, 0, tzinfo=timezone.utc)
    assert last_covered_year(session) == 2027
    assert session.get(CalendarYear, 2027).source == "国务院办公厅通知（测试）"


def test_a_year_after_the_entered_one_is_still_an_explicit_error(session, world):
    enter_2027(session, world.actor("admin"))
    with pytest.raises(CalendarNotCovered) as raised:
        working_calendar(session).add_working_days(date(2027, 12, 30), 3)
    assert raised.value.year == 2028


def test_entering_again_changes_only_what_differs(session, world):
    admin = world.actor("admin")
    enter_2027(session, admin)
    changed = [*SPRING_FESTIVAL_2027[:-1], CalendarEntry(date(2027, 2, 20), False, "改为休息"),
               CalendarEntry(date(2027, 2, 27), True, "调休上班")]
    result = enter_calendar_days(session, admin, changed, year=2027)
    assert (result.added, result.changed, result.unchanged) == (1, 1, 7)
    assert session.get(CalendarYear, 2027).source == "国务院办公厅通知（测试）"  # kept without a new one
    assert not working_calendar(session).is_working_day(date(2027, 2, 20))


def test_plain_tuples_are_entries_too(session, world):
    result = enter_calendar_days(session, world.actor("admin"), [(date(2026, 6, 22), False, "防汛停工")])
    assert (result.added, result.year) == (1, None)
    assert not working_calendar(session).is_working_day(date(2026, 6, 22))  # a Monday the package works


# --- Who may ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["reviewer_city", "auditor_city", "applicant_A1a"])
def test_only_admins_keep_the_calendar(session, world, who):
    with pytest.raises(PermissionDenied, match="市总工会的管理员"):
        enter_2027(session, world.actor(who))
    assert day_count(session) == 0


def test_a_county_admin_may_not_change_the_union_wide_calendar(session, world, county_admin):
    assert not may_keep_calendar(county_admin)
    with pytest.raises(PermissionDenied, match="市总工会的管理员"):
        enter_calendar_days(session, county_admin, [(date(2026, 6, 22), False, "")])
    enter_calendar_days(session, world.actor("admin"), [(date(2026, 6, 22), False, "")])
    with pytest.raises(PermissionDenied):
        remove_calendar_day(session, county_admin, date(2026, 6, 22))
    assert day_count(session) == 1


def test_the_operator_on_the_command_line_needs_no_actor(session, world):
    assert may_keep_calendar(None)
    assert enter_2027(session, None).added == 8


# --- Refused input ---------------------------------------------------------------------------------

def test_a_year_the_package_covers_is_adjusted_day_by_day_not_entered(session, world):
    with pytest.raises(ValidationFailed) as raised:
        enter_calendar_days(session, world.actor("admin"), [(date(2026, 6, 22), False, "")], year=2026)
    assert "逐日" in raised.value.fields["year"][0]
    assert day_count(session) == 0


def test_years_follow_one_another(session, world):
    admin = world.actor("admin")
    with pytest.raises(ValidationFailed) as raised:
        enter_calendar_days(session, admin, [(date(2028, 1, 3), False, "")], year=2028)
    assert raised.value.fields == {"year": ["请先录入 2027 年的安排：工作日历须逐年连续"]}
    enter_2027(session, admin)
    assert enter_calendar_days(session, admin, [(date(2028, 1, 3), False, "")], year=2028).year == 2028


def test_every_problem_names_its_line(session, world):
    rows = [
        CalendarEntry(date(2027, 2, 5), False, "春节", line=2),
        CalendarEntry(date(2028, 1, 1), False, "元旦", line=3),
        CalendarEntry(date(2027, 2, 5), True, "x" * 101, line=4),
    ]
    with pytest.raises(ValidationFailed) as raised:
        enter_calendar_days(session, world.actor("admin"), rows, year=2027, source="来" * 201)
    assert raised.value.fields == {
        "days.1.day": ["第 3 行：2028-01-01 不在 2027 年内"],
        "days.2.note": ["第 4 行：说明不能超过 100 个字"],
        "days.2.day": ["第 4 行：2027-02-05 与第 2 行重复"],
        "source": ["来源说明不能超过 200 个字"],
    }
    assert day_count(session) == 0
    assert session.get(CalendarYear, 2027) is None


def test_items_without_a_line_are_counted(session, world):
    with pytest.raises(ValidationFailed) as raised:
        enter_calendar_days(session, world.actor("admin"), [(date(2027, 2, 5), False, ""), (date(2027, 2, 5), True, "")])
    assert raised.value.fields == {"days.1.day": ["第 2 条：2027-02-05 与第 1 条重复"]}


def test_nothing_to_enter_is_refused(session, world):
    with pytest.raises(ValidationFailed) as raised:
        enter_calendar_days(session, world.actor("admin"), [], year=2027)
    assert raised.value.fields == {"days": ["请至少录入一天"]}


# --- Removing a day --------------------------------------------------------------------------------

def test_removing_a_day_gives_the_package_back_its_say(session, world):
    admin = world.actor("admin")
    enter_calendar_days(session, admin, [(date(2026, 6, 22), False, "防汛停工")])
    assert not working_calendar(session).is_working_day(date(2026, 6, 22))
    remove_calendar_day(session, admin, date(2026, 6, 22))
    assert working_calendar(session).is_working_day(date(2026, 6, 22))
    with pytest.raises(NotFound):
        remove_calendar_day(session, admin, date(2026, 6, 22))


def test_days_are_listed_by_year_in_date_order(session, world):
    admin = world.actor("admin")
    enter_2027(session, admin)
    enter_calendar_days(session, admin, [(date(2026, 6, 22), False, "防汛停工")])
    assert [row.day for row in calendar_days(session, 2026)] == [date(2026, 6, 22)]
    assert [row.day for row in calendar_days(session, 2027)] == [entry.day for entry in SPRING_FESTIVAL_2027]
    assert len(calendar_days(session)) == 9


# --- Reading a table -------------------------------------------------------------------------------

CSV_2027 = "日期,类型,说明\n2027-02-05,休,春节\n\n2027/2/20,班,春节调休上班\n2027-02-06,休息日,\n2027-02-27,workday,\n"


def test_a_csv_table_with_or_without_bom(session, world):
    for data in (CSV_2027.encode("utf-8"), CSV_2027.encode("utf-8-sig")):
        entries = parse_calendar_table(data, "2027年节假日.csv")
        assert entries == [
            CalendarEntry(date(2027, 2, 5), False, "春节", 2),
            CalendarEntry(date(2027, 2, 20), True, "春节调休上班", 4),  # the blank line 3 keeps its number
            CalendarEntry(date(2027, 2, 6), False, "", 5),
            CalendarEntry(date(2027, 2, 27), True, "", 6),
        ]


def xlsx(rows) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_excel_table_with_date_cells_and_extra_columns(session, world):
    data = xlsx([["星期", "日期", "类型", "说明"],
                 ["周五", datetime(2027, 2, 5), "休", "春节"],
                 ["周六", "2027-02-20", "班", None]])
    assert parse_calendar_table(data, "calendar.xlsx") == [
        CalendarEntry(date(2027, 2, 5), False, "春节", 2), CalendarEntry(date(2027, 2, 20), True, "", 3)]


def test_bad_rows_are_reported_by_line_and_nothing_is_returned(session, world):
    data = "日期,类型,说明\n2027-02-05,休,春节\n2027.13.40,休,\n20270206,休,\n2027-02-07,放松,\n,,只有说明\n".encode()
    with pytest.raises(ValidationFailed) as raised:
        parse_calendar_table(data, "c.csv")
    assert raised.value.fields == {"file": [
        "第 3 行：日期「2027.13.40」不存在",
        "第 4 行：日期格式应为 YYYY-MM-DD",
        "第 5 行：类型「放松」无法识别，应为「休」或「班」",
        "第 6 行：缺少日期",
        "第 6 行：缺少类型（休或班）",
    ]}


@pytest.mark.parametrize(("data", "filename", "message"), [
    ("日期,说明\n2027-02-05,春节\n".encode(), "c.csv", "第 1 行：表头缺少「类型」列；表头应为：日期、类型、说明（说明可省略）"),
    ("日期,类型\n".encode(), "c.csv", "文件中只有表头，没有数据行"),
    (b"", "c.csv", "文件是空的"),
    (b"whatever", "c.txt", "只能导入Excel（.xlsx）或 CSV（.csv）文件"),
    (b"not a zip", "c.xlsx", "文件不是有效的 Excel（.xlsx）文件，请确认文件类型"),
])
def test_a_file_that_is_no_calendar_table(data, filename, message):
    with pytest.raises(ValidationFailed) as raised:
        parse_calendar_table(data, filename)
    assert raised.value.fields == {"file": [message]}


def test_a_parsed_file_enters_with_its_lines_named(session, world):
    entries = parse_calendar_table("日期,类型\n2027-02-05,休\n2027-02-05,班\n".encode(), "c.csv")
    with pytest.raises(ValidationFailed) as raised:
        enter_calendar_days(session, world.actor("admin"), entries, year=2027)
    assert raised.value.fields == {"days.1.day": ["第 3 行：2027-02-05 与第 2 行重复"]}


# --- Coverage and its warning ----------------------------------------------------------------------

@pytest.mark.parametrize(("today", "warn"), [
    (date(2026, 10, 1), False),  # 91 days before 31 December
    (date(2026, 10, 2), True),  # 90 days
    (date(2026, 12, 31), True),
])
def test_admins_are_warned_the_given_number_of_days_ahead(session, world, today, warn):
    coverage = calendar_coverage(session, today, 90)
    assert (coverage.last_covered_year, coverage.package_last_year, coverage.warn) == (2026, 2026, warn)
    assert coverage.covered_until == date(2026, 12, 31)
    if warn:
        assert coverage.message == "工作日历仅覆盖至 2026 年 12 月 31 日，请管理员在此之前录入 2027 年的节假日和调休安排"


def test_past_the_end_the_warning_asks_for_haste(session, world):
    coverage = calendar_coverage(session, date(2027, 1, 4), 90)
    assert coverage.warn and coverage.days_left == -4
    assert coverage.message.startswith("工作日历仅覆盖至 2026 年 12 月 31 日，此后的期限无法计算")


def test_entering_the_next_year_ends_the_warning(session, world):
    enter_2027(session, world.actor("admin"))
    coverage = calendar_coverage(session, date(2026, 11, 22), 90)
    assert not coverage.warn and coverage.message == "工作日历已覆盖至 2027 年 12 月 31 日"
    assert [(entered.year, entered.source) for entered in coverage.entered_years] == [(2027, "国务院办公厅通知（测试）")]


def test_the_warning_period_is_a_setting(monkeypatch):
    monkeypatch.setenv("UNIONFLOW_CALENDAR_WARNING_DAYS", "120")
    assert Settings.from_env().calendar_warning_days == 120
    monkeypatch.delenv("UNIONFLOW_CALENDAR_WARNING_DAYS")
    assert Settings.from_env().calendar_warning_days == 90


def test_a_single_day_entered_by_hand_is_told_without_a_number(session, world):
    with pytest.raises(ValidationFailed) as raised:
        enter_calendar_days(session, world.actor("admin"), [(date(2027, 2, 5), False, "长" * 101)])
    assert raised.value.fields == {"days.0.note": ["说明不能超过 100 个字"]}
