"""The auditor's pages: search within one's subtree, a case's trail with the chain check,
the CSV export; for auditors only. The other formats, the system log of exports and the
public keys: test_audit_exports_pages.py."""
from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import update

from engine.audit.chain import AuditEvent
from engine.operations.objections import lodge_objection
from engine.reading.audit_search import CSV_HEADERS
from tests.api_v1.test_notices import hardship_case_on_notice
from tests.pages.conftest import text_of
from tests.test_audit_search import Seeded, seed
from tests.test_hardship_aid import OBJECTION


@pytest.fixture
def seeded(session, world) -> Seeded:
    return seed(session, world)


def trail_links(page: str) -> set[int]:
    return {int(case_id) for case_id in re.findall(r'href="/audit/cases/(\d+)"', page)}


def rows_of(page: str) -> int:
    return page.count('<td data-label="时间">')


def csv_rows(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith("\ufeff".encode("utf-8"))
    header, *rows = list(csv.reader(io.StringIO(body.decode("utf-8").removeprefix("\ufeff"))))
    assert tuple(header) == CSV_HEADERS
    return rows


# --- Search -----------------------------------------------------------------------------------------

def test_the_search_page_lists_the_subtrees_events_newest_first(pages, seeded):
    response = pages("auditor_A").get("/audit")
    assert response.status_code == 200
    page = text_of(response)
    for label in ("开始日期", "结束日期", "业务种类", "案件所属单位（含下级）", "操作人（姓名或用户名）", "案件编号"):
        assert f">{label}</label>" in page
    assert trail_links(page) == {seeded.a.id, seeded.a1b.id, seeded.aid.id}
    assert "B县内部意见" not in page and "B1a" not in page.split("审计记录</h2>")[1]
    times = re.findall(r'<td data-label="时间">([^<]+)</td>', page)
    assert times == sorted(times, reverse=True) and times[0] == "2026-03-05 09:00:00"
    # each row: who, as what, the case, the event, the comment
    assert "reviewer_A1" in page and "审核人 · A1街道总工会" in page
    assert "审核通过，报县（区）总工会" in page and "材料齐全，同意上报" in page
    # the unit picker holds the auditor's subtree only
    assert "A2a公司工会</option>" in page and "B1街道总工会</option>" not in page


def test_the_city_auditor_sees_both_counties(pages, seeded):
    page = text_of(pages("auditor_city").get("/audit"))
    assert trail_links(page) == {seeded.a.id, seeded.a1b.id, seeded.b.id, seeded.aid.id}
    assert "B县内部意见" in page


@pytest.mark.parametrize(("query", "expected"), [
    ("date_from=2026-03-04&date_to=2026-03-04", {"a": 1, "b": 1}),
    ("date_to=2026-03-02", {"a": 2, "b": 1}),
    ("kind=hardship_aid", {"aid": 1}),
    ("actor=applicant_B1a", {"b": 2}),
    ("actor=reviewer_B1", {"b": 1}),
    ("case_id={a}", {"a": 3}),
])
def test_each_filter(pages, world, seeded, query, expected):
    query = query.format(a=seeded.a.id)
    page = text_of(pages("auditor_city").get(f"/audit?{query}"))
    cases = {"a": seeded.a.id, "a1b": seeded.a1b.id, "b": seeded.b.id, "aid": seeded.aid.id}
    assert trail_links(page) == {cases[name] for name in expected}
    assert rows_of(page) == sum(expected.values())
    for name, value in re.findall(r'name="(\w+)" value="([^"]*)"', page):
        if name in dict(pair.split("=") for pair in query.split("&")):
            assert value == dict(pair.split("=") for pair in query.split("&"))[name]  # kept in the form


def test_unit_filter_by_the_picker(pages, world, seeded):
    page = text_of(pages("auditor_A").get(f"/audit?unit={world.unit('A1b').id}"))
    assert trail_links(page) == {seeded.a1b.id}
    assert f'<option value="{world.unit("A1b").id}" selected>' in page


def test_a_county_auditor_never_sees_the_other_county_not_even_by_case_id_or_unit(pages, world, seeded):
    client = pages("auditor_A")
    by_case = text_of(client.get(f"/audit?case_id={seeded.b.id}"))
    assert trail_links(by_case) == set() and "没有符合条件的审计记录" in by_case
    by_unit = client.get(f"/audit?unit={world.unit('B').id}")
    assert by_unit.status_code == 422
    assert 'id="unit-error">该单位不在您的审计范围内' in text_of(by_unit) and trail_links(text_of(by_unit)) == set()
    trail = client.get(f"/audit/cases/{seeded.b.id}")
    assert trail.status_code == 404 and "B县内部意见" not in text_of(trail)
    assert csv_rows(client.get(f"/audit/export.csv?case_id={seeded.b.id}")) == []


def test_bad_filters_are_422_with_the_message_at_the_field_and_values_kept(pages, seeded):
    response = pages("auditor_A").get("/audit?date_from=2026-03-05&date_to=2026-03-01&case_id=abc&actor=王")
    assert response.status_code == 422
    page = text_of(response)
    assert 'id="date_to-error">结束日期不能早于开始日期' in page and 'id="case_id-error">应为正整数' in page
    assert 'value="2026-03-05"' in page and 'value="abc"' in page and 'value="王"' in page
    assert "导出 CSV" not in page


def test_results_are_paged_by_keyset(pages, monkeypatch, seeded):
    monkeypatch.setattr("pages.auditor.PAGE_SIZE", 3)
    client = pages("auditor_city")
    first = text_of(client.get("/audit?kind=basic_nomination"))
    assert rows_of(first) == 3
    next_url = re.search(r'<a class="button" href="([^"]+)" rel="next">下一页</a>', first).group(1).replace("&amp;", "&")
    assert "kind=basic_nomination" in next_url and "after=" in next_url
    second = text_of(client.get(next_url))
    assert rows_of(second) == 3 and 'rel="next"' in second  # 8 events of basic nominations
    third = text_of(client.get(re.search(r'href="([^"]+)" rel="next"', second).group(1).replace("&amp;", "&")))
    assert rows_of(third) == 2 and 'rel="next"' not in third
    seen = trail_links(first) | trail_links(second) | trail_links(third)
    assert seen == {seeded.a.id, seeded.a1b.id, seeded.b.id}
    bad = client.get("/audit?after=nonsense")
    assert bad.status_code == 422 and "分页位置无效" in text_of(bad)


# --- A case's trail ---------------------------------------------------------------------------------

def test_the_trail_shows_every_event_and_a_passing_chain_check(pages, seeded):
    response = pages("auditor_A").get(f"/audit/cases/{seeded.a.id}")
    assert response.status_code == 200
    page = text_of(response)
    assert "链校验通过" in page and "链校验未通过" not in page
    assert page.count('<td data-label="序号">') == 3
    assert "材料齐全，同意上报" in page and "审核通过，报县（区）总工会" in page
    assert "镇（街道）总工会审核 → 县（区）总工会审核" in page
    # read-only: no action forms, nothing but the header's own forms posts anywhere
    assert "/actions/" not in page
    assert set(re.findall(r'<form method="post" action="([^"]+)"', page)) <= {"/language", "/logout", "/switch-role"}


def test_a_tampered_trail_fails_the_chain_check(pages, session, seeded):
    session.execute(update(AuditEvent).where(AuditEvent.case_id == seeded.a.id, AuditEvent.seq == 2)
                    .values(comment="事后篡改"))
    session.flush()
    page = text_of(pages("auditor_A").get(f"/audit/cases/{seeded.a.id}"))
    assert "链校验未通过" in page and "event 2: content does not match its hash (edited)" in page


def test_the_trail_masks_personal_data_and_shows_objections_with_the_contact_masked(pages, session, world):
    case = hardship_case_on_notice(session, world)
    lodge_objection(session, case.id, OBJECTION | {"contact": "13912345678"})
    session.flush()
    page = text_of(pages("auditor_A").get(f"/audit/cases/{case.id}"))
    assert "链校验通过" in page and "收到异议" in page
    assert "<dt>致困原因</dt><dd>— → 因病</dd>" in page  # choices by their labels
    assert case.form_data["id_number"] not in page and "6222020200112233445" not in page
    assert "李群众" in page and "*******5678" in page and "13912345678" not in page


# --- CSV export --------------------------------------------------------------------------------------

def test_the_export_is_the_current_search_as_csv_with_a_bom(pages, seeded):
    client = pages("auditor_A")
    page = text_of(client.get("/audit?date_from=2026-03-02&date_to=2026-03-03"))
    form = re.search(r'<form class="stacked" method="get" action="/audit/export.csv".*?</form>', page, re.S).group(0)
    args = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form))
    assert args == {"date_from": "2026-03-02", "date_to": "2026-03-03"}
    assert 'formaction="/audit/export.csv">导出 CSV</button>' in form
    response = client.get("/audit/export.csv", query_string=args)
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="audit-events-')
    rows = csv_rows(response)
    # county A, 2-3 March: a's creation and submission, a1b's creation and submission
    assert sorted((int(row[1]), int(row[2])) for row in rows) == sorted(
        [(seeded.a.id, 1), (seeded.a.id, 2), (seeded.a1b.id, 1), (seeded.a1b.id, 2)])
    assert [row[0] for row in rows] == sorted((row[0] for row in rows), reverse=True)
    assert rows[-1][0] == "2026-03-02 00:30:00" and rows[-1][7] == "applicant_A1a"


def test_the_export_of_everything_matches_the_search(pages, seeded):
    rows = csv_rows(pages("auditor_city").get("/audit/export.csv"))
    assert len(rows) == 9 and {int(row[1]) for row in rows} == {seeded.a.id, seeded.a1b.id, seeded.b.id, seeded.aid.id}
    approved = next(row for row in rows if row[4] == "审核通过，报县（区）总工会")
    assert approved[9:] == ["审核人", "A1街道总工会", "材料齐全，同意上报"]


def test_a_bad_export_query_is_a_422_page(pages, world, seeded):
    response = pages("auditor_A").get(f"/audit/export.csv?unit={world.unit('B').id}")
    assert response.status_code == 422 and "该单位不在您的审计范围内" in text_of(response)


# --- Who may -----------------------------------------------------------------------------------------

URLS = ("/audit", "/audit/cases/{case}", "/audit/export.csv")


@pytest.mark.parametrize("who", ["reviewer_A1", "reviewer_city", "applicant_A1a", "admin"])
def test_other_roles_get_403(pages, seeded, who):
    client = pages(who)
    for url in URLS:
        response = client.get(url.format(case=seeded.a.id))
        assert response.status_code == 403, url
        assert "此页面需要以审计人员身份使用" in text_of(response)
        assert "材料齐全" not in text_of(response)


def test_anonymous_visitors_are_sent_to_login(pages, seeded):
    for url in URLS:
        response = pages().get(url.format(case=seeded.a.id))
        assert response.status_code == 302 and response.location.startswith("/login?next=")


def test_auditors_cannot_post_to_the_search(pages, seeded):
    client = pages("auditor_A")
    assert client.submit("/audit", {"case_id": str(seeded.a.id)}).status_code == 405
    assert client.post("/audit").status_code == 400  # without a token the CSRF check refuses first


def test_the_header_links_to_the_search_for_auditors_only(pages):
    assert 'href="/audit"' in text_of(pages("auditor_A").get("/"))
    assert 'href="/audit"' not in text_of(pages("reviewer_A1").get("/"))


def test_a_jury_vote_is_found_under_the_juror_and_the_jurys_unit_not_the_public(pages, session, world):
    """The search page said 「公众或系统」 for every vote: the vote carried no role or unit."""
    from engine.procedures.juries import cast_vote
    from tests.conftest import NOW
    from tests.test_honours import Honours

    honours = Honours(session, world)
    case = honours.at_jury()
    cast_vote(session, world.actor("reviewer_B"), case, "approve", now=NOW)
    session.flush()
    page = text_of(pages("auditor_city").get(f"/audit?case_id={case.id}&actor=reviewer_B"))
    row = page[page.index('<td data-label="时间">'):]
    row = row[:row.index("</tr>")]
    assert "评审投票" in row and "评委 · 示范市总工会" in row and "公众或系统" not in row
