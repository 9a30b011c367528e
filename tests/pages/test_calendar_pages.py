"""The working-day calendar page (/admin/calendar) and its warning on the admin home page and the
dashboard: the city's admins enter next year's holidays and single days; everyone else may look
(admins) or is only warned (city reviewers)."""
from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import func, select

from engine.calendar.working_days import CalendarDay, CalendarYear, forget_cached_calendars
from engine.operations.calendar_keeping import enter_calendar_days
from engine.org.units import assign_role, create_user
from tests.pages.conftest import PASSWORD_HASH, text_of
from tests.test_tabular_import import far_last_row
from web import localtime

URL = "/admin/calendar"
CSV_2027 = "日期,类型,说明\n2027-02-05,休,春节\n2027-02-08,休,春节\n2027-02-20,班,春节调休上班\n".encode()
WARNING = "工作日历仅覆盖至 2026 年 12 月 31 日，请管理员在此之前录入 2027 年的节假日和调休安排"


@pytest.fixture(autouse=True)
def today(monkeypatch):
    """The pages' today: 22 November 2026, 39 days before the package's calendar ends."""
    forget_cached_calendars()
    monkeypatch.setattr(localtime, "local_today", lambda: date(2026, 11, 22))
    yield
    forget_cached_calendars()


def day_count(session) -> int:
    return session.scalar(select(func.count()).select_from(CalendarDay))


@pytest.fixture
def county_admin(session, world, pages):
    user = create_user(session, username="admin_A", display_name="A区管理员", password_hash=PASSWORD_HASH)
    assign_role(session, user, "admin", world.unit("A"))
    session.flush()
    world.users["admin_A"] = user
    return pages("admin_A")


# --- The page --------------------------------------------------------------------------------------

def test_the_city_admin_sees_the_coverage_the_warning_and_the_forms(pages, world):
    response = pages("admin").get(URL)
    page = text_of(response)
    assert response.status_code == 200
    assert WARNING in page
    assert 'action="/admin/calendar/import"' in page and 'enctype="multipart/form-data"' in page
    assert 'action="/admin/calendar/days"' in page
    assert "尚未录入任何日期。" in page
    assert f'<a href="{URL}" aria-current="page">' in page  # the admin sub-navigation


def test_a_county_admin_may_look_but_not_change(pages, session, county_admin):
    page = text_of(county_admin.get(URL))
    assert "工作日历全市统一，只有市总工会的管理员可以修改。" in page
    assert 'action="/admin/calendar/days"' not in page
    refused = county_admin.submit(f"{URL}/days", {"day": "2026-06-22", "is_working": "0", "note": ""})
    assert refused.status_code == 403 and "市总工会的管理员" in text_of(refused)
    assert day_count(session) == 0


@pytest.mark.parametrize("username", ["reviewer_city", "auditor_city", "applicant_A1a"])
def test_people_not_acting_as_admin_get_403(pages, session, username):
    client = pages(username)
    assert client.get(URL).status_code == 403
    assert client.submit(f"{URL}/days", {"day": "2026-06-22", "is_working": "0"}).status_code == 403
    assert day_count(session) == 0


# --- One day ---------------------------------------------------------------------------------------

def test_an_admin_enters_a_local_closure_day_and_removes_it(pages, session):
    client = pages("admin")
    response = client.submit(f"{URL}/days", {"day": "2026-06-22", "is_working": "0", "note": " 防汛停工 "})
    assert response.status_code == 302 and response.location == URL
    row = session.get(CalendarDay, date(2026, 6, 22))
    assert (row.is_working, row.note) == (False, "防汛停工")
    page = text_of(client.get(URL))
    assert "已保存 2026-06-22：休（休息日）" in page
    assert "2026 年" in page and "周一" in page and "防汛停工" in page
    removed = client.submit(f"{URL}/days/2026-06-22/remove")
    assert removed.status_code == 302
    assert day_count(session) == 0
    assert "已删除 2026-06-22 的录入" in text_of(client.get(URL))
    assert client.submit(f"{URL}/days/2026-06-22/remove").status_code == 404
    assert client.submit(f"{URL}/days/tomorrow/remove").status_code == 404


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"day": "2026-02-30"}, "day", "请填写日期，格式为 YYYY-MM-DD"),
    ({"is_working": ""}, "is_working", "请选择休息日或工作日"),
    ({"note": "长" * 101}, "note", "说明不能超过 100 个字"),
])
def test_a_bad_day_is_422_with_the_message_at_its_field(pages, session, data, field, message):
    form = {"day": "2026-06-22", "is_working": "1", "note": "保留的说明"} | data
    response = pages("admin").submit(f"{URL}/days", form)
    page = text_of(response)
    assert response.status_code == 422
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in page
    if field != "note":
        assert 'value="保留的说明"' in page
    assert day_count(session) == 0


# --- A table ---------------------------------------------------------------------------------------

def upload(client, data: bytes, filename: str = "2027.csv", **fields):
    return client.submit(f"{URL}/import", {"file": (io.BytesIO(data), filename), **fields},
                         content_type="multipart/form-data")


def test_an_admin_imports_2027_and_the_warning_ends(pages, session):
    client = pages("admin")
    response = upload(client, CSV_2027, year="2027", source="国办发明电〔2026〕1号")
    assert response.status_code == 302, text_of(response)
    assert session.get(CalendarYear, 2027).source == "国办发明电〔2026〕1号"
    assert day_count(session) == 3
    page = text_of(client.get(URL))
    assert "已录入 2027 年的工作日历：新增 3 天，修改 0 天，未变 0 天" in page
    assert "工作日历已覆盖至 2027 年 12 月 31 日" in page and WARNING not in page
    assert "2027 年：整年录入（来源：国办发明电〔2026〕1号）" in page
    assert page.index("2027-02-05") < page.index("2027-02-20")
    assert "周六" in page and "春节调休上班" in page  # the make-up Saturday


def test_a_table_bomb_is_422_naming_the_limit(pages, session):
    """1.5 million blank rows in 300 KB: refused by the table import's limits, before they are read."""
    response = upload(pages("admin"), far_last_row(), filename="2027.xlsx", year="2027")
    assert response.status_code == 422
    assert '<p class="field-error" id="file-error">表格超过 10000 行（含空行，单次导入上限），请删除多余的行或拆分后分批导入</p>' in text_of(response)
    assert day_count(session) == 0


def test_a_bad_file_is_422_naming_its_lines_and_writes_nothing(pages, session):
    bad = CSV_2027 + "2027-02-31,休,\n2027-02-09,放松,\n2027-02-05,班,\n".encode()
    response = upload(pages("admin"), bad, year="2027", source="保留的来源")
    page = text_of(response)
    assert response.status_code == 422
    assert '<div class="field-error" id="file-error"><p>第 5 行：日期「2027-02-31」不存在</p>' in page  # one id, each line
    assert "第 6 行：类型「放松」无法识别，应为「休」或「班」" in page
    assert 'value="2027"' in page and 'value="保留的来源"' in page
    assert day_count(session) == 0


def test_duplicates_are_found_after_reading_and_shown_at_the_file(pages, session):
    response = upload(pages("admin"), CSV_2027 + "2027-02-05,班,\n".encode(), year="2027")
    assert response.status_code == 422
    assert '<p class="field-error" id="file-error">第 5 行：2027-02-05 与第 2 行重复</p>' in text_of(response)
    assert (day_count(session), session.get(CalendarYear, 2027)) == (0, None)


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"year": "27"}, "year", "年度应为四位数字，例如 2027"),
    ({"year": "2026"}, "year", "2026 年的节假日安排已包含在 chinesecalendar 中"),
    ({"year": "2028"}, "year", "请先录入 2027 年的安排：工作日历须逐年连续"),
    ({"source": "来" * 201}, "source", "来源说明不能超过 200 个字"),
])
def test_a_bad_year_or_source_is_422_at_its_field(pages, session, fields, field, message):
    response = upload(pages("admin"), CSV_2027, **fields)
    page = text_of(response)
    assert response.status_code == 422
    assert f'<p class="field-error" id="{field}-error">{message}' in page
    assert day_count(session) == 0


def test_an_import_without_a_file_says_so(pages, session):
    response = pages("admin").submit(f"{URL}/import", {"year": "2027"}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert '<p class="field-error" id="file-error">请选择要导入的文件</p>' in text_of(response)


# --- The warning elsewhere -------------------------------------------------------------------------

def test_the_admin_home_page_warns_and_links_to_the_calendar(pages):
    page = text_of(pages("admin").get("/admin"))
    assert WARNING in page and 'id="calendar-warning"' in page
    assert f'<a href="{URL}">去录入工作日历</a>' in page


def test_city_reviewers_are_warned_on_the_dashboard_without_the_admins_link(pages):
    page = text_of(pages("reviewer_city").get("/dashboard"))
    assert WARNING in page and "去录入工作日历" not in page
    admin_page = text_of(pages("admin").get("/dashboard"))
    assert WARNING in admin_page and "去录入工作日历" in admin_page


@pytest.mark.parametrize("username", ["reviewer_A", "auditor_city"])
def test_others_are_not_warned(pages, username):
    assert 'id="calendar-warning"' not in text_of(pages(username).get("/dashboard"))


def test_a_county_admin_is_not_warned_on_their_home_page(county_admin):
    assert 'id="calendar-warning"' not in text_of(county_admin.get("/admin"))


def test_no_warning_once_next_year_is_entered_or_while_far_ahead(pages, session, world, monkeypatch):
    client = pages("admin")
    monkeypatch.setattr(localtime, "local_today", lambda: date(2026, 9, 1))
    assert 'id="calendar-warning"' not in text_of(client.get("/admin"))
    monkeypatch.setattr(localtime, "local_today", lambda: date(2026, 11, 22))
    enter_calendar_days(session, world.actor("admin"), [(date(2027, 2, 5), False, "春节")], year=2027)
    assert 'id="calendar-warning"' not in text_of(client.get("/admin"))


def test_a_nul_character_is_refused_at_its_field_not_a_database_error(pages, session):
    response = pages("admin").submit(f"{URL}/days", {"day": "2026-06-22", "is_working": "0", "note": "停\x00工"})
    assert response.status_code == 422
    assert '<p class="field-error" id="note-error">说明不能包含空字符（U+0000）</p>' in text_of(response)
    assert day_count(session) == 0
