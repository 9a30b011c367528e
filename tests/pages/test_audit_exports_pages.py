"""Audit exports on the pages: the export form of /audit (CSV, XLSX, signed JSON Lines, full
personal data only with the permission), the system log of exports (/audit/log), the public
keys on /about, and granting the full-data permission on the admin pages."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import openpyxl
import pytest
from sqlalchemy import select, update

from engine.audit.signing import create_signing_key, parse_public_key, public_key_pem, published_keys
from engine.audit.system_log import SystemEvent
from engine.cases.case import Case
from engine.org.units import RoleAssignment
from engine.procedures.rounds import open_round
from engine.reading.audit_search import CSV_HEADERS
from engine.reading.export_verify import public_keys_by_id, verify_export
from tests.conftest import NOW, SIGNING_KEY_FILE
from tests.pages.conftest import text_of
from tests.test_audit_search import Seeded, seed
from tests.test_hardship_aid import ACCOUNT, id_number

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def seeded(session, world) -> Seeded:
    return seed(session, world)


@pytest.fixture
def full_data_auditor(session, world):
    """auditor_A, whose county auditor grant may export personal data in full."""
    session.execute(update(RoleAssignment).where(RoleAssignment.user_id == world.users["auditor_A"].id)
                    .values(full_data=True))
    session.flush()
    return "auditor_A"


def unescape(url: str) -> str:
    return url.replace("&amp;", "&")


def export_form(page: str) -> tuple[dict[str, str], dict[str, str]]:
    """The export form's hidden filter values, and its buttons' URLs by label."""
    form = re.search(r'<h2 id="export">.*?</form>', page, re.S).group(0)
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form))
    buttons = {label: unescape(url) for url, label in
               re.findall(r'formaction="([^"]+)">([^<]+)</button>', form)}
    return hidden, buttons


def csv_rows(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith("\ufeff".encode("utf-8"))
    header, *rows = list(csv.reader(io.StringIO(body.decode("utf-8").removeprefix("\ufeff"))))
    assert tuple(header) == CSV_HEADERS
    return rows


def jsonl_lines(response) -> list[dict]:
    return [json.loads(line) for line in response.get_data().splitlines()]


def exports_logged(session) -> list[SystemEvent]:
    return list(session.scalars(select(SystemEvent).where(SystemEvent.action == "export").order_by(SystemEvent.seq)))


# --- The form on /audit --------------------------------------------------------------------------------

def test_the_search_page_offers_the_three_formats_for_the_current_search(pages, seeded):
    page = text_of(pages("auditor_A").get("/audit?date_from=2026-03-02&kind=basic_nomination"))
    hidden, buttons = export_form(page)
    assert hidden == {"date_from": "2026-03-02", "kind": "basic_nomination"}
    assert buttons == {"导出 CSV": "/audit/export.csv", "导出 Excel（XLSX）": "/audit/export.xlsx",
                       "导出 JSON Lines（可验证）": "/audit/export.jsonl"}
    assert 'method="get" action="/audit/export.csv"' in page
    # without the permission, no full-data choice; the system log is a link away
    assert 'name="full_data"' not in page and "完整个人信息" not in page
    assert 'href="/audit/log"' in page and 'href="/about#verify"' in page


def test_the_round_picker_lists_the_rounds_and_narrows_the_search(pages, session, world, seeded):
    round_ = open_round(session, None, kind="honours", unit=world.unit("city"), title="2026年度五一劳动奖评选",
                        year=2026, opens_dt=NOW - timedelta(days=5), closes_dt=NOW + timedelta(days=30),
                        categories=["labour_medal"])
    session.execute(update(Case).where(Case.id == seeded.a.id).values(round_id=round_.id))
    session.flush()
    client = pages("auditor_A")
    page = text_of(client.get("/audit"))
    assert '<label for="round">评选批次</label>' in page and f'<option value="{round_.id}">2026年度五一劳动奖评选</option>' in page
    narrowed = text_of(client.get(f"/audit?round={round_.id}"))
    assert set(map(int, re.findall(r'href="/audit/cases/(\d+)"', narrowed))) == {seeded.a.id}
    assert f'<option value="{round_.id}" selected>' in narrowed
    missing = client.get("/audit?round=999999")
    assert missing.status_code == 422 and 'id="round-error">评选批次不存在' in text_of(missing)


# --- Each format ---------------------------------------------------------------------------------------

def test_csv_streams_with_a_bom_and_is_recorded(pages, session, world, seeded):
    response = pages("auditor_A").get("/audit/export.csv?date_from=2026-03-02&date_to=2026-03-03")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(r'attachment; filename="audit-events-\d{8}-\d{6}\.csv"', response.headers["Content-Disposition"])
    assert response.headers["Cache-Control"] == "no-store"
    rows = csv_rows(response)
    assert sorted((int(row[1]), int(row[2])) for row in rows) == sorted(
        [(seeded.a.id, 1), (seeded.a.id, 2), (seeded.a1b.id, 1), (seeded.a1b.id, 2)])
    [logged] = exports_logged(session)
    assert logged.actor_id == world.users["auditor_A"].id and logged.actor_unit_name == "A区总工会"
    assert logged.details | {"export_id": None} == {
        "export_id": None, "format": "csv", "filters": {"date_from": "2026-03-02", "date_to": "2026-03-03"},
        "full_data": False, "rows": 4}


def test_xlsx_reads_back_with_the_chinese_headers_and_rows(pages, session, seeded):
    response = pages("auditor_city").get("/audit/export.xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == XLSX
    assert re.fullmatch(r'attachment; filename="?audit-events-\d{8}-\d{6}\.xlsx"?',
                        response.headers["Content-Disposition"])
    assert response.headers["Cache-Control"] == "no-store"
    workbook = openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True)
    assert workbook.sheetnames == ["审计记录"]
    header, *rows = workbook["审计记录"].iter_rows(values_only=True)
    assert header == CSV_HEADERS
    assert len(rows) == 9 and {int(row[1]) for row in rows} == {seeded.a.id, seeded.a1b.id, seeded.b.id, seeded.aid.id}
    approved = next(row for row in rows if row[4] == "审核通过，报县（区）总工会")
    assert approved[9:] == ("审核人", "A1街道总工会", "材料齐全，同意上报")
    assert "B县内部意见" in {row[11] for row in rows}
    [logged] = exports_logged(session)
    assert logged.details["format"] == "xlsx" and logged.details["rows"] == 9


def test_jsonl_ends_with_a_signed_manifest_that_verifies(pages, session, world, seeded, signer):
    response = pages("auditor_A").get("/audit/export.jsonl?kind=basic_nomination")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Type"] == "application/jsonl"
    assert re.fullmatch(r'attachment; filename="audit-events-\d{8}-\d{6}\.jsonl"', response.headers["Content-Disposition"])
    *events, last = jsonl_lines(response)
    assert {(line["event"]["case_id"], line["event"]["seq"]) for line in events} == {
        (seeded.a.id, 1), (seeded.a.id, 2), (seeded.a.id, 3), (seeded.a1b.id, 1), (seeded.a1b.id, 2)}
    manifest = last["manifest"]
    assert manifest["count"] == 5 and manifest["key_id"] == signer.key_id and manifest["full_data"] is False
    assert manifest["filters"] == {"kind": "basic_nomination"}
    assert manifest["exported_by"]["id"] == world.users["auditor_A"].id
    public_key = parse_public_key(public_key_pem(_current_public_key(session)))
    report = verify_export(io.BytesIO(response.get_data()), public_keys_by_id([public_key]))
    assert report.ok, report.problems
    [logged] = exports_logged(session)
    assert (manifest["log_event"]["seq"], manifest["export_id"]) == (logged.seq, logged.details["export_id"])


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_download_leaves_no_transaction_open_when_it_ends(pages, seeded, signer, opened_sessions, fmt):
    response = pages("auditor_A").get(f"/audit/export.{fmt}")
    assert response.status_code == 200 and response.get_data()
    response.close()
    assert opened_sessions and not [session for session in opened_sessions if session.in_transaction()]


def _current_public_key(session) -> str:
    return published_keys(session)[0].public_key


def test_without_a_signing_key_jsonl_is_a_clear_503_and_nothing_is_recorded(pages, session, seeded):
    response = pages("auditor_A").get("/audit/export.jsonl")
    assert response.status_code == 503
    page = text_of(response)
    assert "暂不能导出可验证的 JSON Lines 文件" in page and "unionflow audit create-key" in page
    assert "CSV 和 Excel 格式不需要签名密钥" in page and "Traceback" not in page
    assert exports_logged(session) == []
    assert pages("auditor_A").get("/audit/export.csv").status_code == 200  # the others still work


def test_a_key_file_that_is_not_the_published_key_is_refused(pages, session, tmp_path, seeded, signer):
    create_signing_key(session, None, tmp_path / "elsewhere.pem", now=NOW)  # publishes a newer key
    session.flush()
    response = pages("auditor_A").get("/audit/export.jsonl")
    assert response.status_code == 503 and "unionflow audit create-key --replace" in text_of(response)
    assert exports_logged(session) == []


# --- Filters -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "expected"), [
    ("", {"a": 3, "a1b": 2, "b": 3, "aid": 1}),
    ("date_from=2026-03-04&date_to=2026-03-04", {"a": 1, "b": 1}),
    ("kind=hardship_aid", {"aid": 1}),
    ("unit={A1b}", {"a1b": 2}),
    ("actor=reviewer_B1", {"b": 1}),
    ("case_id={a}", {"a": 3}),
    ("round={round}", {"b": 3}),
])
@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
def test_each_filter_narrows_each_export(pages, session, world, seeded, signer, query, expected, fmt):
    round_ = open_round(session, None, kind="honours", unit=world.unit("city"), title="2026年度五一劳动奖评选",
                        year=2026, opens_dt=NOW - timedelta(days=5), closes_dt=NOW + timedelta(days=30),
                        categories=["labour_medal"])
    session.execute(update(Case).where(Case.id == seeded.b.id).values(round_id=round_.id))
    session.flush()
    query = query.format(a=seeded.a.id, A1b=world.unit("A1b").id, round=round_.id)
    response = pages("auditor_city").get(f"/audit/export.{fmt}?{query}")
    assert response.status_code == 200
    if fmt == "csv":
        case_ids = [int(row[1]) for row in csv_rows(response)]
    elif fmt == "xlsx":
        sheet = openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True).active
        case_ids = [int(row[1]) for row in list(sheet.iter_rows(values_only=True))[1:]]
    else:
        case_ids = [line["event"]["case_id"] for line in jsonl_lines(response)[:-1]]
    cases = {"a": seeded.a.id, "a1b": seeded.a1b.id, "b": seeded.b.id, "aid": seeded.aid.id}
    assert sorted(case_ids) == sorted(cases[name] for name, n in expected.items() for _ in range(n))
    [logged] = exports_logged(session)
    assert logged.details["rows"] == sum(expected.values())
    assert logged.details["filters"] == dict(pair.split("=") for pair in query.split("&") if pair)


def test_bad_filters_are_a_422_page_and_nothing_is_recorded(pages, session, world, seeded):
    client = pages("auditor_A")
    for query, message in ((f"unit={world.unit('B').id}", "该单位不在您的审计范围内"),
                           ("date_from=2026-03-05&date_to=2026-03-01", "结束日期不能早于开始日期"),
                           ("round=999999", "评选批次不存在")):
        response = client.get(f"/audit/export.xlsx?{query}")
        assert response.status_code == 422 and message in text_of(response), query
    assert exports_logged(session) == []
    assert client.get("/audit/export.pdf").status_code == 404


def test_a_county_auditor_exports_nothing_of_the_other_county(pages, seeded, signer):
    client = pages("auditor_A")
    assert csv_rows(client.get(f"/audit/export.csv?case_id={seeded.b.id}")) == []
    [manifest] = jsonl_lines(client.get(f"/audit/export.jsonl?case_id={seeded.b.id}"))
    assert manifest["manifest"]["count"] == 0


# --- Full personal data --------------------------------------------------------------------------------

def test_full_personal_data_is_offered_and_honoured_only_with_the_permission(pages, session, seeded, signer,
                                                                             full_data_auditor):
    client = pages(full_data_auditor)
    page = text_of(client.get("/audit"))
    assert '<input type="checkbox" id="full_data" name="full_data" value="1"' in page
    assert "导出完整个人信息（身份证号、银行账号）" in page and "本次使用将记入审计操作记录" in page

    masked = text_of(client.get(f"/audit/export.jsonl?case_id={seeded.aid.id}"))
    full = text_of(client.get(f"/audit/export.jsonl?case_id={seeded.aid.id}&full_data=1"))
    assert id_number(1) not in masked and ACCOUNT not in masked
    assert id_number(1)[-4:] in masked  # masked, not dropped
    assert id_number(1) in full and ACCOUNT in full
    assert json.loads(masked.splitlines()[-1])["manifest"]["masked_count"] == 1
    full_manifest = json.loads(full.splitlines()[-1])["manifest"]
    assert full_manifest["full_data"] is True and full_manifest["masked_count"] == 0
    assert [event.details["full_data"] for event in exports_logged(session)] == [False, True]
    keys = public_keys_by_id([parse_public_key(public_key_pem(_current_public_key(session)))])
    for export in (masked, full):
        assert verify_export(io.BytesIO(export.encode()), keys).ok


def test_without_the_permission_full_data_is_refused_with_403(pages, session, seeded, signer):
    client = pages("auditor_A")
    for fmt in ("jsonl", "csv", "xlsx"):
        response = client.get(f"/audit/export.{fmt}?case_id={seeded.aid.id}&full_data=1")
        assert response.status_code == 403, fmt
        assert "导出完整个人信息需要" in text_of(response) and id_number(1) not in text_of(response)
    assert exports_logged(session) == []


# --- The system log ------------------------------------------------------------------------------------

def test_exports_appear_on_the_log_page_newest_first(pages, session, world, seeded, signer, full_data_auditor):
    client = pages("auditor_A")
    client.get(f"/audit/export.csv?kind=basic_nomination&unit={world.unit('A1').id}")
    client.get(f"/audit/export.jsonl?case_id={seeded.aid.id}&full_data=1")
    response = client.get("/audit/log")
    assert response.status_code == 200
    page = text_of(response)
    assert "<h1>审计操作记录</h1>" in page
    rows = re.findall(r"<tr>\s*<td data-label=\"序号\">.*?</tr>", page, re.S)
    assert len(rows) == 3  # the two exports and the key's creation (by the command line)
    newest, older, key = rows
    assert "导出审计记录" in newest and "JSONL" in newest and f"案件编号：{seeded.aid.id}" in newest
    assert '<td data-label="条数">1</td>' in newest and ">是</strong>" in newest
    assert "auditor_A" in newest and "审计人员 · A区总工会" in newest
    assert "CSV" in older  # kinds and units by their names
    assert re.search(r"业务种类：基础推荐流程（测试用）；\s*案件所属单位：A1街道总工会", older)
    assert '<td data-label="条数">5</td>' in older and '<td data-label="完整个人信息">否</td>' in older
    assert f'href="/audit?kind=basic_nomination&amp;unit={world.unit("A1").id}"' in older
    assert "创建签名密钥" in key and f"<code>{signer.key_id}</code>" in key and "命令行操作员" in key


def test_the_log_shows_only_the_auditors_scope_and_pages_by_sequence(pages, monkeypatch, session, seeded):
    city, county = pages("auditor_city"), pages("auditor_A")
    city.get("/audit/export.csv?actor=city-only-marker")
    for _ in range(3):
        county.get("/audit/export.csv")
    assert "city-only-marker" not in text_of(county.get("/audit/log"))
    monkeypatch.setattr("pages.auditor.LOG_PAGE_SIZE", 2)
    first = text_of(city.get("/audit/log"))
    assert first.count('<td data-label="序号">') == 2 and "回到最新" not in first
    next_url = unescape(re.search(r'href="([^"]+)" rel="next">更早的记录', first).group(1))
    second = text_of(city.get(next_url))
    assert second.count('<td data-label="序号">') == 2 and "city-only-marker" in second and 'rel="next"' not in second
    assert "回到最新" in second
    junk = text_of(city.get("/audit/log?before=junk"))  # a bad position starts from the newest
    assert re.findall(r'<td data-label="序号">(\d+)</td>', junk) == re.findall(r'<td data-label="序号">(\d+)</td>', first)


def test_the_log_links_in_the_auditors_header_only(pages):
    assert 'href="/audit/log"' in text_of(pages("auditor_A").get("/"))
    assert 'href="/audit/log"' not in text_of(pages("reviewer_A1").get("/"))


# --- Who may -------------------------------------------------------------------------------------------

URLS = ("/audit/export.csv", "/audit/export.xlsx", "/audit/export.jsonl", "/audit/log")


@pytest.mark.parametrize("who", ["reviewer_A1", "reviewer_city", "applicant_A1a", "admin"])
def test_other_roles_get_403_and_nothing_is_recorded(pages, session, seeded, signer, who):
    client = pages(who)
    for url in URLS:
        response = client.get(url)
        assert response.status_code == 403, url
        assert "此页面需要以审计人员身份使用" in text_of(response)
    assert exports_logged(session) == []


def test_anonymous_visitors_are_sent_to_login(pages, seeded):
    for url in URLS:
        response = pages().get(url)
        assert response.status_code == 302 and response.location.startswith("/login?next="), url


# --- /about --------------------------------------------------------------------------------------------

def test_about_shows_the_public_key_and_how_to_verify_without_signing_in(pages, session, signer):
    response = pages().get("/about")
    assert response.status_code == 200
    page = text_of(response)
    key = _current_public_key(session)
    assert "<h1>关于本系统</h1>" in page and f"<code>{signer.key_id}</code>" in page and "当前使用" in page
    assert f"<code>{key}</code>" in page
    assert public_key_pem(key).strip() in page
    assert "unionflow audit verify FILE.jsonl --public-key key.pem" in page
    download = pages().get("/about/audit-public-key.pem")
    assert download.status_code == 200 and download.headers["Content-Type"] == "application/x-pem-file"
    assert download.get_data(as_text=True) == public_key_pem(key)
    assert f'filename="unionflow-audit-{signer.key_id}.pem"' in download.headers["Content-Disposition"]
    assert 'href="/about"' in text_of(pages().get("/notices"))  # the footer links it everywhere


def test_a_replaced_key_stays_published_and_downloadable(pages, session, tmp_path, signer):
    create_signing_key(session, None, tmp_path / SIGNING_KEY_FILE, now=NOW + timedelta(days=1), replace=True)
    session.flush()
    page = text_of(pages().get("/about"))
    assert page.count("当前使用") == 1 and page.count("已停用") == 1
    assert page.index("当前使用") < page.index(signer.key_id)  # the current key first
    old = pages().get(f"/about/audit-public-key.pem?key={signer.key_id}")
    assert old.status_code == 200 and parse_public_key(old.get_data(as_text=True))
    current = pages().get("/about/audit-public-key.pem").get_data(as_text=True)
    assert current != old.get_data(as_text=True)
    assert pages().get("/about/audit-public-key.pem?key=0000000000000000").status_code == 404


def test_about_without_any_key_says_so(pages, session):
    page = text_of(pages().get("/about"))
    assert "尚未创建审计导出签名密钥" in page and "unionflow audit create-key" in page
    missing = pages().get("/about/audit-public-key.pem")
    assert missing.status_code == 404 and "尚未创建审计导出签名密钥" in text_of(missing)
