"""`unionflow calendar import` and `unionflow calendar status`, on both databases: the operator
on the command line enters a year from a file, all of it or (for a bad file) none of it."""
from __future__ import annotations

from datetime import date

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select

from engine.base.db import make_session_factory
from engine.calendar.working_days import CalendarDay, CalendarYear, forget_cached_calendars
from tests.test_tabular_import import far_last_row
from unionflow.cli import cli

CSV_2027 = "日期,类型,说明\n2027-02-05,休,春节\n2027-02-08,休,春节\n2027-02-20,班,春节调休上班\n"


@pytest.fixture
def db_url(database):
    """The test database's URL; what the commands commit is removed afterwards."""
    forget_cached_calendars()
    yield database.url.render_as_string(hide_password=False)
    with database.begin() as connection:
        connection.execute(delete(CalendarDay))
        connection.execute(delete(CalendarYear))
    forget_cached_calendars()


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


def stored(database) -> tuple[list, list]:
    with make_session_factory(database)() as session:
        days = [(row.day, row.is_working, row.note) for row in session.scalars(select(CalendarDay).order_by(CalendarDay.day))]
        years = [(row.year, row.source) for row in session.scalars(select(CalendarYear))]
    return days, years


def test_importing_2027_from_a_file(database, db_url, tmp_path):
    path = tmp_path / "2027.csv"
    path.write_text(CSV_2027, encoding="utf-8-sig")
    result = invoke("calendar", "import", str(path), "--year", "2027", "--source", "国办发明电〔2026〕1号", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert "year 2027 entered; 3 days added, 0 changed, 0 unchanged" in result.output
    assert stored(database) == ([(date(2027, 2, 5), False, "春节"), (date(2027, 2, 8), False, "春节"),
                                 (date(2027, 2, 20), True, "春节调休上班")], [(2027, "国办发明电〔2026〕1号")])
    status = invoke("calendar", "status", "--today", "2026-11-22", "--db", db_url)
    assert status.exit_code == 0, status.output
    assert "entered: 2027 (国办发明电〔2026〕1号)" in status.output
    assert "工作日历已覆盖至 2027 年 12 月 31 日" in status.output and "warning" not in status.output


def test_a_bad_file_writes_nothing_and_names_its_lines(database, db_url, tmp_path):
    path = tmp_path / "2027.csv"
    path.write_text(CSV_2027 + "2027-02-31,休,\n2027-02-09,放松,\n", encoding="utf-8")
    result = invoke("calendar", "import", str(path), "--year", "2027", "--db", db_url)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "第 5 行：日期「2027-02-31」不存在" in result.output
    assert "第 6 行：类型「放松」无法识别" in result.output
    assert stored(database) == ([], [])


def test_a_table_bomb_is_refused_naming_the_limit(database, db_url, tmp_path):
    path = tmp_path / "2027.xlsx"
    path.write_bytes(far_last_row())
    result = invoke("calendar", "import", str(path), "--year", "2027", "--db", db_url)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "表格超过 10000 行（含空行，单次导入上限），请删除多余的行或拆分后分批导入" in result.output
    assert stored(database) == ([], [])


def test_a_year_the_package_covers_is_refused(database, db_url, tmp_path):
    path = tmp_path / "2026.csv"
    path.write_text("日期,类型\n2026-06-22,休\n", encoding="utf-8")
    result = invoke("calendar", "import", str(path), "--year", "2026", "--db", db_url)
    assert result.exit_code == 1
    assert "2026 年的节假日安排已包含在 chinesecalendar 中" in result.output
    assert stored(database) == ([], [])


def test_status_warns_ahead_of_the_end(db_url):
    result = invoke("calendar", "status", "--today", "2026-11-22", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert "package (chinesecalendar) covers up to 2026" in result.output
    assert "covered until 2026-12-31 (39 days from 2026-11-22)" in result.output
    assert ("warning: 工作日历仅覆盖至 2026 年 12 月 31 日，请管理员在此之前录入 2027 年的节假日和调休安排"
            in result.output)


def test_the_warning_period_comes_from_the_environment(db_url, monkeypatch):
    monkeypatch.setenv("UNIONFLOW_CALENDAR_WARNING_DAYS", "30")
    result = invoke("calendar", "status", "--today", "2026-11-22", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output and "工作日历已覆盖至 2026 年 12 月 31 日" in result.output
