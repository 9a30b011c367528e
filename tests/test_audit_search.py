"""Searching audit events across cases (engine.reading.audit_search): the filter, the auditor's
subtree, keyset pages and the CSV rows."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from engine.audit.chain import AuditEvent
from engine.base.errors import PermissionDenied, ValidationFailed
from engine.cases.case import Case
from engine.operations.transitions import comment_on_case, create_draft, perform_action
from engine.org.units import load_actor
from engine.reading.audit_search import CSV_HEADERS, AuditFilter, Cursor, audit_search, auditable_units, csv_lines
from tests.test_hardship_aid import form as hardship_form

SHANGHAI = ZoneInfo("Asia/Shanghai")
FORM = {"award_type": "labour_medal", "nominee_name": "张三", "employer": "A1a公司", "ownership": "public",
        "merits_summary": "十年扎根一线"}


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in March 2026, Beijing time, as UTC."""
    return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI).astimezone(timezone.utc)


@dataclass
class Seeded:
    a: Case   # basic nomination of A1a (county A)
    a1b: Case  # basic nomination of A1b (county A)
    b: Case   # basic nomination of B1a (county B)
    aid: Case  # hardship aid draft of A1a


def seed(session, world) -> Seeded:
    """Cases in both counties with events on several local days.

    The first event of ``a`` is at 00:30 on 2 March Beijing time, still 1 March in UTC: the
    date filter must go by the local day.
    """
    def draft(who, kind="basic_nomination", form=FORM, at=None):
        return create_draft(session, world.actor(who), kind, form=form, now=at)

    def fire(who, case, trigger, at, comment=None):
        perform_action(session, world.actor(who), case, trigger, expected_version=case.version, now=at,
                       comment=comment)

    a = draft("applicant_A1a", at=local(2, 0, 30))
    fire("applicant_A1a", a, "submit", local(2, 11))
    fire("reviewer_A1", a, "approve", local(4, 10), comment="材料齐全，同意上报")
    a1b = draft("applicant_A1b", form=FORM | {"employer": "A1b公司"}, at=local(3, 10))
    fire("applicant_A1b", a1b, "submit", local(3, 11))
    b = draft("applicant_B1a", form=FORM | {"employer": "B1a公司"}, at=local(2, 10))
    fire("applicant_B1a", b, "submit", local(3, 10))
    comment_on_case(session, world.actor("reviewer_B1"), b, "B县内部意见", now=local(4, 9))
    aid = draft("applicant_A1a", kind="hardship_aid", form=hardship_form(1), at=local(5, 9))
    session.flush()
    return Seeded(a, a1b, b, aid)


@pytest.fixture
def seeded(session, world) -> Seeded:
    return seed(session, world)


def found(session, who, tz=SHANGHAI, **args) -> list:
    return list(audit_search(session, who, AuditFilter.from_args(args), tz=tz).rows())


def keys(rows) -> list[tuple[int, int]]:
    return [(row.case_id, row.seq) for row in rows]


# --- The filter ------------------------------------------------------------------------------------

def test_a_filter_is_read_from_query_arguments_and_written_back():
    args = {"date_from": "2026-03-02", "date_to": "2026-03-04", "kind": "honours", "unit": "7", "actor": " 王 ",
            "case_id": "12", "after": "ignored"}
    flt = AuditFilter.from_args(args)
    assert flt == AuditFilter(date(2026, 3, 2), date(2026, 3, 4), "honours", 7, "王", 12)
    assert AuditFilter.from_args(flt.as_args()) == flt
    assert AuditFilter.from_args({"kind": "", "actor": "  "}) == AuditFilter()
    assert AuditFilter().as_args() == {}


@pytest.mark.parametrize(("args", "field", "message"), [
    ({"date_from": "2026-3-x"}, "date_from", "日期格式应为"),
    ({"date_from": "2026-03-05", "date_to": "2026-03-04"}, "date_to", "结束日期不能早于开始日期"),
    ({"case_id": "abc"}, "case_id", "应为正整数"),
    ({"case_id": "0"}, "case_id", "应为正整数"),
    ({"unit": "-3"}, "unit", "应为正整数"),
    ({"actor": "x" * 65}, "actor", "操作人不能超过"),
])
def test_bad_filters_are_refused_by_name(args, field, message):
    with pytest.raises(ValidationFailed) as refused:
        AuditFilter.from_args(args)
    assert list(refused.value.fields) == [field]
    assert refused.value.fields[field][0].startswith(message)


def test_a_cursor_token_round_trips_and_a_bad_one_is_refused():
    cursor = Cursor(datetime(2026, 3, 2, 1, 2, 3, 456789, tzinfo=timezone.utc), 42)
    assert Cursor.parse(cursor.token()) == cursor
    assert Cursor.parse(None) is None and Cursor.parse("") is None
    for bad in ("abc", "1.2.3", "12", "9" * 400 + ".1"):
        with pytest.raises(ValidationFailed) as refused:
            Cursor.parse(bad)
        assert set(refused.value.fields) == {"after"}


# --- Scope ------------------------------------------------------------------------------------------

def test_an_auditor_finds_only_their_subtrees_events_newest_first(session, world, seeded):
    county_a = found(session, world.actor("auditor_A"))
    assert {row.case_id for row in county_a} == {seeded.a.id, seeded.a1b.id, seeded.aid.id}
    times = [(row.occurred_dt, row.event_id) for row in county_a]
    assert times == sorted(times, reverse=True)
    everything = found(session, world.actor("auditor_city"))
    total = session.scalar(select(func.count(AuditEvent.id)))
    assert len(everything) == total and {seeded.b.id} < {row.case_id for row in everything}


def test_a_case_outside_the_subtree_is_not_found_by_its_id(session, world, seeded):
    assert found(session, world.actor("auditor_A"), case_id=str(seeded.b.id)) == []
    assert keys(found(session, world.actor("auditor_city"), case_id=str(seeded.b.id))) == [
        (seeded.b.id, 3), (seeded.b.id, 2), (seeded.b.id, 1)]


def test_a_unit_outside_the_subtree_is_refused(session, world, seeded):
    for unit in (world.unit("B").id, world.unit("city").id, 999999):
        with pytest.raises(ValidationFailed) as refused:
            found(session, world.actor("auditor_A"), unit=str(unit))
        assert refused.value.fields == {"unit": ["该单位不在您的审计范围内"]}


def test_only_auditors_search(session, world, seeded):
    for who in ("reviewer_city", "applicant_A1a", "admin"):
        with pytest.raises(PermissionDenied):
            found(session, world.actor(who))


def test_the_unit_picker_lists_the_subtree_in_tree_order(session, world):
    names = [unit.name for unit in auditable_units(session, world.actor("auditor_A"))]
    assert names[0] == "A区总工会" and set(names) == {
        "A区总工会", "A1街道总工会", "A2街道总工会", "A1a公司工会", "A1b公司工会", "A2a公司工会"}
    assert names.index("A1a公司工会") == names.index("A1街道总工会") + 1


# --- Each filter ------------------------------------------------------------------------------------

def test_dates_are_local_days_both_ends_included(session, world, seeded):
    auditor = world.actor("auditor_city")
    march_2 = found(session, auditor, date_from="2026-03-02", date_to="2026-03-02")
    assert sorted(keys(march_2)) == sorted([(seeded.a.id, 1), (seeded.a.id, 2), (seeded.b.id, 1)])
    # 00:30 on 2 March in Beijing is 1 March in UTC, yet not a 1 March event here
    assert found(session, auditor, date_to="2026-03-01") == []
    assert keys(found(session, auditor, tz=timezone.utc, date_to="2026-03-01")) == [(seeded.a.id, 1)]
    from_the_4th = found(session, auditor, date_from="2026-03-04")
    assert sorted(keys(from_the_4th)) == sorted([(seeded.a.id, 3), (seeded.b.id, 3), (seeded.aid.id, 1)])


def test_kind_filter_and_unknown_kinds(session, world, seeded):
    rows = found(session, world.actor("auditor_A"), kind="hardship_aid")
    assert keys(rows) == [(seeded.aid.id, 1)] and rows[0].kind_label == "困难职工帮扶申请"
    with pytest.raises(ValidationFailed) as refused:
        found(session, world.actor("auditor_A"), kind="no_such_kind")
    assert refused.value.fields == {"kind": ["未知的业务种类"]}


def test_unit_filter_takes_the_units_subtree(session, world, seeded):
    auditor = world.actor("auditor_A")
    assert {row.case_id for row in found(session, auditor, unit=str(world.unit("A1b").id))} == {seeded.a1b.id}
    township = found(session, auditor, unit=str(world.unit("A1").id))
    assert {row.case_id for row in township} == {seeded.a.id, seeded.a1b.id, seeded.aid.id}
    assert found(session, auditor, unit=str(world.unit("A2").id)) == []


def test_actor_filter_matches_the_recorded_name_or_the_username(session, world, seeded):
    world.users["reviewer_A1"].display_name = "王审核"
    session.flush()
    renamed = load_actor(session, world.users["reviewer_A1"].id)
    comment_on_case(session, renamed, seeded.a, "补充一句", now=local(6, 9))
    session.flush()
    auditor = world.actor("auditor_city")
    # the name as recorded in each event: only the comment made after the renaming
    assert keys(found(session, auditor, actor="王审核")) == [(seeded.a.id, 4)]
    assert keys(found(session, auditor, actor="审核")) == [(seeded.a.id, 4)]
    # the username matches both, whatever the name was then
    assert keys(found(session, auditor, actor="reviewer_A1")) == [(seeded.a.id, 4), (seeded.a.id, 3)]
    assert keys(found(session, auditor, actor="applicant_B1a")) == [(seeded.b.id, 2), (seeded.b.id, 1)]
    assert found(session, auditor, actor="%") == []  # LIKE wildcards are literal
    assert found(session, auditor, actor="nobody") == []


def test_rows_say_who_acted_as_what(session, world, seeded):
    [row] = found(session, world.actor("auditor_A"), case_id=str(seeded.a.id), date_from="2026-03-04")
    assert (row.actor_name, row.username, row.role, row.role_label, row.unit_name) == (
        "reviewer_A1", "reviewer_A1", "reviewer", "审核人", "A1街道总工会")
    assert (row.label, row.from_state_label, row.to_state_label, row.comment) == (
        "审核通过，报县（区）总工会", "镇（街道）总工会审核", "县（区）总工会审核", "材料齐全，同意上报")


# --- Pages and batches -------------------------------------------------------------------------------

def test_keyset_pages_cover_everything_once_in_order(session, world, seeded):
    search = audit_search(session, world.actor("auditor_city"), AuditFilter(), tz=SHANGHAI)
    everything = keys(search.rows())
    pages, after = [], None
    while True:
        page = search.page(after, limit=3)
        pages.append(keys(page.rows))
        after = page.next_cursor
        if after is None:
            break
    assert all(len(rows) == 3 for rows in pages[:-1]) and 1 <= len(pages[-1]) <= 3
    assert [key for rows in pages for key in rows] == everything


def test_events_at_the_same_moment_are_ordered_by_id_across_pages(session, world, seeded):
    same = local(7, 9)
    for text in ("一", "二", "三", "四", "五"):
        comment_on_case(session, world.actor("reviewer_A1"), seeded.a, f"同时意见{text}", now=same)
    session.flush()
    search = audit_search(session, world.actor("auditor_A"), AuditFilter(date_from=date(2026, 3, 7)), tz=SHANGHAI)
    first = search.page(limit=2)
    second = search.page(first.next_cursor, limit=2)
    third = search.page(second.next_cursor, limit=2)
    comments = [row.comment for page in (first, second, third) for row in page.rows]
    assert comments == ["同时意见五", "同时意见四", "同时意见三", "同时意见二", "同时意见一"]
    assert third.next_cursor is None


def test_an_export_reads_the_rows_the_pages_show_in_their_order(session, world, seeded):
    search = audit_search(session, world.actor("auditor_city"), AuditFilter(), tz=SHANGHAI)
    paged, page = [], search.page(limit=2)
    while True:
        paged += page.rows
        if page.next_cursor is None:
            break
        page = search.page(page.next_cursor, limit=2)
    assert list(search.rows(size=2)) == paged and len(paged) > 4


# --- CSV ---------------------------------------------------------------------------------------------

def test_csv_has_a_bom_chinese_headers_and_one_line_per_event(session, world, seeded):
    search = audit_search(session, world.actor("auditor_A"), AuditFilter(case_id=seeded.a.id), tz=SHANGHAI)
    text = "".join(csv_lines(search.rows(), SHANGHAI))
    assert text.startswith("\ufeff时间,案件编号,")
    header, *lines = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert tuple(header) == CSV_HEADERS
    assert [line[:3] for line in lines] == [["2026-03-04 10:00:00", str(seeded.a.id), "3"],
                                            ["2026-03-02 11:00:00", str(seeded.a.id), "2"],
                                            ["2026-03-02 00:30:00", str(seeded.a.id), "1"]]
    assert lines[0][4] == "审核通过，报县（区）总工会" and lines[0][-1] == "材料齐全，同意上报"


def test_csv_cells_that_look_like_formulas_are_written_as_text(session, world, seeded):
    comment_on_case(session, world.actor("reviewer_A1"), seeded.a, "=HYPERLINK(\"http://x\")", now=local(8, 9))
    session.flush()
    search = audit_search(session, world.actor("auditor_A"), AuditFilter(date_from=date(2026, 3, 8)), tz=SHANGHAI)
    [_, line] = list(csv.reader(io.StringIO("".join(csv_lines(search.rows(), SHANGHAI)))))
    assert line[-1] == "'=HYPERLINK(\"http://x\")"


def test_an_empty_search_is_just_the_header(session, world):
    search = audit_search(session, world.actor("auditor_A"), AuditFilter(), tz=SHANGHAI)
    assert list(csv_lines(search.rows(), SHANGHAI)) == ["\ufeff" + ",".join(CSV_HEADERS) + "\r\n"]


def test_a_page_just_filled_has_no_next_page(session, world, seeded):
    search = audit_search(session, world.actor("auditor_A"), AuditFilter(case_id=seeded.a.id), tz=SHANGHAI)
    page = search.page(limit=3)
    assert len(page.rows) == 3 and page.next_cursor is None
    assert search.page(limit=2).next_cursor == Cursor(page.rows[1].occurred_dt, page.rows[1].event_id)
    assert page.rows[0].occurred_dt - page.rows[2].occurred_dt == timedelta(days=2, hours=9, minutes=30)
