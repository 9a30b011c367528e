"""Audit exports over the API (JSON Lines signed, CSV, XLSX), the system log that records them,
and the published signing keys: an auditor exports only their scope, personal data masked
unless they hold the full-data permission, and every export is in the log before it is sent."""
from __future__ import annotations

import hashlib
import io
import json

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

import engine.reading.audit_export
from engine.audit.chain import canonical_bytes, case_events
from engine.audit.signing import create_signing_key, parse_public_key, signature_valid
from engine.audit.system_log import SystemEvent
from engine.definitions.forms import mask_id_number
from engine.operations.transitions import create_draft, submit_case
from engine.org.accounts import create_api_token
from engine.org.units import assign_role, create_user, load_actor
from engine.reading.audit_search import CSV_HEADERS
from engine.reading.export_verify import public_keys_by_id, verify_export
from tests.api_v1.conftest import ApiClient, error_of
from tests.conftest import NOW, SIGNING_KEY_FILE
from tests.test_hardship_aid import form, id_number
from web.paging import encode_cursor


@pytest.fixture
def cases(session, world):
    """Hardship aid cases (their creation carries an ID number): two at A1a, one at B1a."""
    made = {}
    for name, who, i in (("A1a", "applicant_A1a", 1), ("A1a_submitted", "applicant_A1a", 2),
                         ("B1a", "applicant_B1a", 3)):
        made[name] = create_draft(session, world.actor(who), "hardship_aid", form=form(i, employer="公司"), now=NOW)
    submit_case(session, world.actor("applicant_A1a"), made["A1a_submitted"],
                expected_version=made["A1a_submitted"].version, now=NOW)
    session.flush()
    return made


@pytest.fixture
def full_auditor(session, world):
    """An auditor of county A who may export personal data in full."""
    user = create_user(session, username="auditor_A_full", display_name="A区审计（完整）")
    assign_role(session, user, "auditor", world.unit("A"), full_data=True)
    session.flush()
    world.users["auditor_A_full"], world.actors["auditor_A_full"] = user, load_actor(session, user.id)
    return user


def export(api, who, **args):
    return api(who).get("audit/exports", query_string=args)


def jsonl_of(response) -> tuple[list[dict], dict, list[bytes]]:
    raw = response.get_data().splitlines()
    lines = [json.loads(line) for line in raw]
    return lines[:-1], lines[-1], raw


def log_count(session) -> int:
    return session.scalar(select(func.count()).select_from(SystemEvent))


# --- JSON Lines ------------------------------------------------------------------------------------

def test_jsonl_has_every_event_in_scope_chained_and_ends_with_a_signed_manifest(api, session, world, cases, signer):
    response = export(api, "auditor_A", format="jsonl")
    assert response.status_code == 200, response.get_data()[:300]
    assert response.mimetype == "application/jsonl"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and disposition.endswith('.jsonl"')
    assert response.headers["Cache-Control"] == "private, no-store"
    events, last, raw = jsonl_of(response)
    in_scope = [e for name in ("A1a", "A1a_submitted") for e in case_events(session, cases[name].id)]
    assert sorted((line["event"]["case_id"], line["event"]["seq"]) for line in events) == sorted(
        (e.case_id, e.seq) for e in in_scope)
    assert cases["B1a"].id not in {line["event"]["case_id"] for line in events}  # another county
    assert [line["line"] for line in events] == list(range(1, len(events) + 1))
    assert all(line["kind"] == "hardship_aid" for line in events)
    # Each line names the SHA-256 of the bytes of the one before it.
    prev = "0" * 64
    for line, text in zip(events, raw):
        assert line["prev"] == prev
        prev = hashlib.sha256(text).hexdigest()
    manifest = last["manifest"]
    assert manifest | {"export_id": "", "exported_at": ""} == manifest | {
        "export_id": "", "exported_at": "", "format": "unionflow-audit-export/1", "count": len(events),
        "masked_count": 2, "full_data": False, "filters": {}, "key_id": signer.key_id,
        "first_hash": hashlib.sha256(raw[0]).hexdigest(), "last_hash": prev}
    assert manifest["exported_by"] | {"id": 0} == {"id": 0, "name": "auditor_A", "role": "auditor",
                                                     "unit_id": world.unit("A").id, "unit_name": "A区总工会"}
    key = parse_public_key(api().get("audit/public-keys").get_json()["keys"][0]["pem"])
    assert signature_valid(key, last["signature"], canonical_bytes(manifest))
    assert not signature_valid(key, last["signature"], canonical_bytes(manifest | {"count": 0}))
    # The file as downloaded passes the offline verifier with the key the API publishes.
    report = verify_export(io.BytesIO(response.get_data()), public_keys_by_id([key]))
    assert report.ok, report.problems
    assert (report.events, report.masked, report.key_id) == (len(events), 2, signer.key_id)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_download_leaves_no_transaction_open_when_it_ends(api, cases, signer, opened_sessions, fmt):
    """The body is sent after the request's teardown: it reads in a session of its own, which
    is closed when the body ends (on SQLite an open transaction holds the database's lock)."""
    response = export(api, "auditor_A", format=fmt)
    assert response.status_code == 200 and response.get_data()
    response.close()
    assert opened_sessions and not [session for session in opened_sessions if session.in_transaction()]


def test_an_abandoned_download_leaves_no_transaction_open(api, cases, signer, opened_sessions, monkeypatch):
    monkeypatch.setattr(engine.reading.audit_export, "DOWNLOAD_CHUNK_BYTES", 100)
    response = export(api, "auditor_A", format="jsonl")
    body = iter(response.response)
    assert next(body) and next(body)
    response.close()  # what the server does when the client goes away
    assert opened_sessions and not [session for session in opened_sessions if session.in_transaction()]


def test_jsonl_masks_personal_data_without_the_full_data_permission(api, cases, signer):
    events, manifest, _ = jsonl_of(export(api, "auditor_A", format="jsonl", case_id=str(cases["A1a"].id)))
    [created] = [line for line in events if line["event"]["action"] == "create"]
    assert created["masked"] is True
    assert created["event"]["changes"]["id_number"]["after"] == mask_id_number(id_number(1))
    assert created["event"]["changes"]["applicant_name"]["after"] == "职工1"
    assert manifest["manifest"]["masked_count"] == 1


def test_full_data_is_refused_without_the_permission_and_nothing_is_recorded(api, session, cases, signer):
    before = log_count(session)
    for fmt in ("jsonl", "csv"):
        response = export(api, "auditor_A", format=fmt, full_data="true")
        assert response.status_code == 403
        assert error_of(response)["code"] == "permission_denied"
    assert log_count(session) == before


def test_full_data_with_the_permission_exports_personal_data_unmasked(api, session, cases, signer, full_auditor):
    response = export(api, "auditor_A_full", format="jsonl", full_data="true")
    assert response.status_code == 200, response.get_data()[:300]
    events, last, _ = jsonl_of(response)
    assert id_number(1) in response.get_data(as_text=True) and id_number(2) in response.get_data(as_text=True)
    assert id_number(3) not in response.get_data(as_text=True)  # B1a: outside the county
    assert not any(line["masked"] for line in events)
    assert (last["manifest"]["full_data"], last["manifest"]["masked_count"]) == (True, 0)
    # The same auditor without asking for it gets masks.
    masked = export(api, "auditor_A_full", format="jsonl").get_data(as_text=True)
    assert id_number(1) not in masked and mask_id_number(id_number(1)) in masked
    log = api("auditor_A_full").get("audit/log").get_json()["items"]
    assert [entry["details"]["full_data"] for entry in log[:2]] == [False, True]


def test_jsonl_without_a_signing_key_is_503_and_nothing_is_recorded(api, session, cases):
    before = log_count(session)
    response = export(api, "auditor_A", format="jsonl")
    assert response.status_code == 503
    error = error_of(response)
    assert error["code"] == "signing_key_missing" and "unionflow audit create-key" in error["message"]
    assert log_count(session) == before
    assert export(api, "auditor_A", format="csv").status_code == 200  # the other formats need no key


# --- CSV and XLSX ----------------------------------------------------------------------------------

def test_csv_has_a_bom_a_chinese_header_and_one_row_per_event(api, session, cases):
    response = export(api, "auditor_city", format="csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].endswith('.csv"')
    data = response.get_data()
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0] == ",".join(CSV_HEADERS) and lines[0].startswith("时间,案件编号")
    total = sum(len(case_events(session, case.id)) for case in cases.values())
    assert len(lines) == 1 + total
    assert all(line.split(",")[3] == "困难职工帮扶申请" for line in lines[1:])


def test_xlsx_reads_back_with_the_header_and_the_events(api, session, cases):
    response = export(api, "auditor_A", format="xlsx", case_id=str(cases["A1a_submitted"].id))
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Content-Disposition"].endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(response.get_data()), read_only=True).worksheets[0]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert tuple(rows[0]) == CSV_HEADERS
    events = case_events(session, cases["A1a_submitted"].id)
    assert sorted(int(row[2]) for row in rows[1:]) == [e.seq for e in events]
    assert {row[1] for row in rows[1:]} == {str(cases["A1a_submitted"].id)}


# --- Filters and who may export -------------------------------------------------------------------

def test_filters_narrow_the_export(api, world, cases):
    def case_ids(**args) -> set[str]:
        lines = export(api, "auditor_city", format="csv", **args).get_data().decode("utf-8-sig").splitlines()[1:]
        return {line.split(",")[1] for line in lines}

    everything = {str(case.id) for case in cases.values()}
    assert case_ids() == everything
    assert case_ids(unit=str(world.unit("B1a").id)) == {str(cases["B1a"].id)}
    assert case_ids(unit=str(world.unit("A1").id)) == {str(cases["A1a"].id), str(cases["A1a_submitted"].id)}
    assert case_ids(case_id=str(cases["A1a"].id)) == {str(cases["A1a"].id)}
    assert case_ids(kind="hardship_aid", actor="applicant_B1a") == {str(cases["B1a"].id)}
    assert case_ids(date_from="2026-03-09", date_to="2026-03-09") == everything
    assert case_ids(date_from="2026-03-10") == set()


@pytest.mark.parametrize(("args", "field"), [
    ({"format": "pdf"}, "format"),
    ({}, "format"),
    ({"format": "csv", "date_from": "2026-13-01"}, "date_from"),
    ({"format": "csv", "date_from": "2026-03-10", "date_to": "2026-03-09"}, "date_to"),
    ({"format": "csv", "kind": "no_such_kind"}, "kind"),
    ({"format": "csv", "case_id": "abc"}, "case_id"),
    ({"format": "csv", "case_id": "9" * 18}, "case_id"),  # beyond the integer columns
    ({"format": "csv", "unit": "0"}, "unit"),
    ({"format": "csv", "round": "999999"}, "round"),
    ({"format": "csv", "actor": "长" * 65}, "actor"),
    ({"format": "csv", "unit": "B1a"}, "unit"),  # outside county A's scope
])
def test_bad_formats_and_filters_are_422_naming_the_field(api, session, world, cases, args, field):
    if args.get("unit") == "B1a":
        args = args | {"unit": str(world.unit("B1a").id)}
    before = log_count(session)
    response = api("auditor_A").get("audit/exports", query_string=args)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_failed" and set(error["fields"]) == {field}, error
    assert log_count(session) == before


@pytest.mark.parametrize("who", ["reviewer_A", "applicant_A1a", "admin"])
def test_only_auditors_export(api, session, cases, signer, who):
    before = log_count(session)
    for fmt in ("jsonl", "csv", "xlsx"):
        response = export(api, who, format=fmt)
        assert response.status_code == 403
        assert error_of(response)["code"] == "permission_denied"
    assert log_count(session) == before
    assert api().get("audit/exports", query_string={"format": "csv"}).status_code == 401


# --- The system log ----------------------------------------------------------------------------------

def test_each_export_is_in_the_system_log_before_it_is_sent(api, session, world, cases, signer):
    response = export(api, "auditor_A", format="jsonl", kind="hardship_aid")
    manifest = jsonl_of(response)[1]["manifest"]
    export(api, "auditor_A", format="xlsx")
    log = api("auditor_A").get("audit/log")
    assert log.status_code == 200
    items = log.get_json()["items"]
    assert [item["action"] for item in items] == ["export", "export", "create_signing_key"]
    xlsx, jsonl, key = items
    assert jsonl | {"at": "", "hash": "", "prev_hash": "", "details": {}} == {
        "seq": manifest["log_event"]["seq"], "action": "export", "label": "导出审计记录",
        "actor": {"id": world.users["auditor_A"].id, "name": "auditor_A"}, "role": "auditor",
        "unit": {"id": world.unit("A").id, "name": "A区总工会"}, "details": {},
        "at": "", "hash": "", "prev_hash": ""}
    assert jsonl["details"] | {"key_id": signer.key_id} == {
        "export_id": manifest["export_id"], "format": "jsonl", "filters": {"kind": "hardship_aid"},
        "full_data": False, "rows": manifest["count"], "key_id": signer.key_id}
    assert jsonl["hash"] == manifest["log_event"]["hash"] and jsonl["at"].endswith("+08:00")
    assert xlsx["details"]["format"] == "xlsx" and xlsx["prev_hash"] == jsonl["hash"]
    # The command-line operator's key creation concerns everyone: shown with no unit.
    assert (key["actor"]["id"], key["unit"], key["label"]) == (None, None, "创建签名密钥")
    assert key["details"]["key_id"] == signer.key_id and jsonl["prev_hash"] == key["hash"]
    stored = session.scalars(select(SystemEvent).order_by(SystemEvent.seq)).all()
    assert [e.hash for e in stored] == [key["hash"], jsonl["hash"], xlsx["hash"]]


def test_the_log_shows_each_auditor_their_scope_in_keyset_pages(api, cases, signer):
    export(api, "auditor_city", format="csv")
    export(api, "auditor_A", format="csv")
    export(api, "auditor_A", format="csv", case_id=str(cases["A1a"].id))
    # County A's auditor does not see the city auditor's export; the city auditor sees both.
    assert len(api("auditor_A").get("audit/log").get_json()["items"]) == 3
    client = api("auditor_city")
    seen, cursor = [], None
    while True:
        page = client.get("audit/log", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}).get_json()
        seen += [item["seq"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == 4
    for forged in ("not-a-cursor", encode_cursor([10 ** 30]), encode_cursor(["7"])):
        refused = client.get("audit/log", query_string={"cursor": forged})
        assert refused.status_code == 422 and set(error_of(refused)["fields"]) == {"cursor"}


def test_the_log_is_for_auditors(api):
    for who in ("reviewer_city", "admin", "applicant_A1a"):
        response = api(who).get("audit/log")
        assert response.status_code == 403 and error_of(response)["code"] == "permission_denied"
    assert api().get("audit/log").status_code == 401


# --- Public keys ------------------------------------------------------------------------------------

def test_the_public_keys_are_public_the_current_first(api, session, signer, tmp_path):
    keys = api().get("audit/public-keys")
    assert keys.status_code == 200
    [key] = keys.get_json()["keys"]
    assert key | {"created_at": ""} == key | {"key_id": signer.key_id, "current": True, "retired_at": None,
                                               "created_at": ""}
    assert key["pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert parse_public_key(key["pem"]).public_bytes_raw() == parse_public_key(key["public_key"]).public_bytes_raw()
    assert key["created_at"].endswith("+08:00")
    newer = create_signing_key(session, None, tmp_path / SIGNING_KEY_FILE, now=NOW, replace=True)
    session.flush()
    current, old = api().get("audit/public-keys").get_json()["keys"]
    assert (current["key_id"], current["current"], current["retired_at"]) == (newer.key_id, True, None)
    assert (old["key_id"], old["current"]) == (signer.key_id, False) and old["retired_at"].endswith("+08:00")


def test_there_may_be_no_key_yet(api):
    assert api().get("audit/public-keys").get_json() == {"keys": []}


def test_an_admin_grants_full_data_and_the_auditor_then_exports_in_full(app, api, session, world, cases, signer):
    admin = api("admin")
    user_id = admin.post("users", json={"username": "new_auditor", "display_name": "新审计"}).get_json()["id"]
    plain = admin.post(f"users/{user_id}/roles", json={"role": "auditor", "unit_id": world.unit("A").id}).get_json()

    def as_new_auditor(**args):
        _, token = create_api_token(session, load_actor(session, user_id), "测试")
        session.flush()
        return ApiClient(app, token).get("audit/exports", query_string=args)

    assert as_new_auditor(format="jsonl", full_data="true").status_code == 403
    assert admin.delete(f"users/{user_id}/roles/{plain['id']}").status_code == 204
    granted = admin.post(f"users/{user_id}/roles",
                         json={"role": "auditor", "unit_id": world.unit("A").id, "full_data": True})
    assert granted.get_json()["full_data"] is True
    response = as_new_auditor(format="jsonl", full_data="true")
    assert response.status_code == 200 and id_number(1) in response.get_data(as_text=True)
