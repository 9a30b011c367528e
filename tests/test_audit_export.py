"""Audit exports: what each filter lets through, the three formats as a reader opens them,
masking by permission, and every export recorded in the hash-chained system log."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

import engine.reading.audit_export
from engine.audit.chain import AuditEvent
from engine.audit.signing import SigningKey, SigningKeyMissing, create_signing_key, current_signer, load_signer
from engine.audit.system_log import SystemEvent, SystemLogHead, system_log_page
from engine.base.errors import Conflict, PermissionDenied, ValidationFailed
from engine.cases.case import Case
from engine.cases.integrity import verify_audit_chain
from engine.operations.transitions import create_draft, submit_case
from engine.org.units import assign_role, create_user, load_actor
from engine.procedures.rounds import Round
from engine.reading.audit_export import begin_audit_export, csv_bytes, download_chunks, jsonl_lines, write_xlsx
from engine.reading.audit_search import CSV_HEADERS, AuditFilter
from engine.reading.export_verify import public_keys_by_id, verify_export
from tests.conftest import NOW
from tests.test_audit import _at, _returned_case, _reviewed_case

TZ = ZoneInfo("Asia/Shanghai")
ID_NUMBER = "11010519491231002X"
ACCOUNT = "6222020200112233"
GRANT_FORM = {"applicant_name": "李四", "id_number": ID_NUMBER, "bank_account": ACCOUNT, "amount": 1200}


@pytest.fixture
def trail(session, world):
    """Three cases: a reviewed and a returned nomination in county A, a grant claim with an ID
    number and a bank account in county B (a day later)."""
    reviewed = _reviewed_case(session, world)
    returned = _returned_case(session, world)
    grant = create_draft(session, world.actor("applicant_B1a"), "reviewed_grant", form=GRANT_FORM,
                         now=NOW + timedelta(days=1))
    submit_case(session, world.actor("applicant_B1a"), grant, expected_version=grant.version,
                now=NOW + timedelta(days=1, minutes=1))
    session.commit()
    return {"reviewed": reviewed, "returned": returned, "grant": grant}


def export_of(session, actor, flt=AuditFilter(), *, fmt="jsonl", full_data=False, signer=None):
    export = begin_audit_export(session, actor, flt, fmt=fmt, full_data=full_data, now=NOW + timedelta(days=2),
                                tz=TZ, signer=signer)
    session.commit()
    return export


def jsonl_of(session, export) -> list[dict]:
    return [json.loads(line) for line in jsonl_lines(session, export)]


def exported_keys(lines) -> list[tuple[int, int]]:
    return [(line["event"]["case_id"], line["event"]["seq"]) for line in lines if "event" in line]


def stored_keys(session, *conditions) -> list[tuple[int, int]]:
    query = select(AuditEvent.case_id, AuditEvent.seq).join(Case, Case.id == AuditEvent.case_id)
    return [tuple(row) for row in session.execute(query.where(*conditions).order_by(AuditEvent.case_id, AuditEvent.seq))]


# --- JSON Lines ---------------------------------------------------------------------------------------

def test_a_jsonl_export_holds_every_event_by_case_and_verifies(session, world, trail, signer):
    export = export_of(session, world.actor("auditor_city"), signer=signer)
    data = b"".join(jsonl_lines(session, export))
    lines = [json.loads(line) for line in data.splitlines()]
    assert exported_keys(lines) == stored_keys(session)
    manifest = lines[-1]["manifest"]
    assert manifest["count"] == len(lines) - 1 == export.expected_count
    assert manifest["key_id"] == signer.key_id
    assert manifest["log_event"] == {"seq": export.log_event.seq, "hash": export.log_event.hash}
    assert export.log_event.details["key_id"] == signer.key_id
    report = verify_export(io.BytesIO(data), public_keys_by_id([signer.private_key.public_key()]))
    assert report.ok, [str(p) for p in report.problems]
    assert report.events == manifest["count"]


def test_an_exported_event_carries_its_stored_chain_hashes(session, world, trail, signer):
    lines = jsonl_of(session, export_of(session, world.actor("auditor_city"), signer=signer))
    first = lines[0]["event"]
    stored = session.scalar(select(AuditEvent).where(AuditEvent.case_id == first["case_id"], AuditEvent.seq == 1))
    assert (first["hash"], first["prev_hash"]) == (stored.hash, stored.prev_hash)
    assert lines[0]["kind"] == "basic_nomination"


def test_the_stream_gives_the_same_file_in_batches_of_any_size(session, world, trail, signer, monkeypatch):
    export = export_of(session, world.actor("auditor_city"), signer=signer)
    whole = b"".join(jsonl_lines(session, export))
    session.rollback()
    monkeypatch.setattr(engine.reading.audit_export, "STREAM_BATCH", 2)
    assert b"".join(jsonl_lines(session, export)) == whole
    assert whole.count(b"\n") == export.expected_count + 1 > 2 * 2


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_download_comes_in_chunks_of_whole_lines(session, world, trail, signer, monkeypatch, fmt):
    export = export_of(session, world.actor("auditor_city"), fmt=fmt, signer=signer if fmt == "jsonl" else None)
    whole = b"".join(jsonl_lines(session, export) if fmt == "jsonl" else csv_bytes(session, export))
    session.rollback()
    monkeypatch.setattr(engine.reading.audit_export, "DOWNLOAD_CHUNK_BYTES", 1000)
    chunks = list(download_chunks(session, export))
    assert b"".join(chunks) == whole
    assert len(chunks) > 1 and all(len(chunk) >= 1000 and chunk.endswith(b"\n") for chunk in chunks[:-1])


def test_an_export_abandoned_half_way_leaves_the_session_usable_after_rollback(session, world, trail, signer):
    """A closed download closes the generator mid-stream; the request's teardown rolls back."""
    export = export_of(session, world.actor("auditor_city"), signer=signer)
    lines = jsonl_lines(session, export)
    assert [json.loads(next(lines))["line"] for _ in range(2)] == [1, 2]
    lines.close()
    session.rollback()
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == export.expected_count
    assert len(jsonl_of(session, export)) == export.expected_count + 1


@pytest.mark.parametrize("name", ["date_range", "kind", "unit", "actor", "case", "round"])
def test_each_filter_narrows_the_export(session, world, trail, signer, name):
    reviewed = trail["reviewed"]
    if name == "round":
        round_ = Round(kind="basic_nomination", unit_id=world.unit("city").id, title="2026年测试批次", year=2026,
                       opens_dt=NOW - timedelta(days=9), closes_dt=NOW + timedelta(days=9), categories=[])
        session.add(round_)
        session.flush()
        reviewed.round_id = round_.id
        session.commit()
    flt, conditions = {
        "date_range": (AuditFilter(date_from=date(2026, 3, 10), date_to=date(2026, 3, 10)),
                       [AuditEvent.occurred_dt >= NOW + timedelta(hours=14)]),
        "kind": (AuditFilter(kind="reviewed_grant"), [Case.kind == "reviewed_grant"]),
        "unit": (AuditFilter(unit_id=world.unit("A1").id), [Case.origin_path.startswith(world.unit("A1").path)]),
        "actor": (AuditFilter(actor="reviewer_A1"), [AuditEvent.actor_name == "reviewer_A1"]),
        "case": (AuditFilter(case_id=reviewed.id), [AuditEvent.case_id == reviewed.id]),
        "round": (lambda: AuditFilter(round_id=reviewed.round_id), [AuditEvent.case_id == reviewed.id]),
    }[name]
    flt = flt() if callable(flt) else flt
    expected = stored_keys(session, *conditions)
    assert expected and len(expected) < len(stored_keys(session))
    lines = jsonl_of(session, export_of(session, world.actor("auditor_city"), flt, signer=signer))
    assert exported_keys(lines) == expected
    assert lines[-1]["manifest"]["filters"] == flt.as_args()


def test_an_auditor_exports_only_their_subtree(session, world, trail, signer):
    lines = jsonl_of(session, export_of(session, world.actor("auditor_A"), signer=signer))
    assert {key[0] for key in exported_keys(lines)} == {trail["reviewed"].id, trail["returned"].id}
    with pytest.raises(ValidationFailed) as refused:
        export_of(session, world.actor("auditor_A"), AuditFilter(unit_id=world.unit("B1").id), signer=signer)
    assert "unit" in refused.value.fields


@pytest.mark.parametrize("person", ["reviewer_city", "admin", "applicant_A1a"])
def test_only_auditors_export(session, world, trail, person):
    with pytest.raises(PermissionDenied):
        export_of(session, world.actor(person), fmt="csv")


def test_bad_format_and_unknown_round_are_refused_by_field(session, world, trail):
    with pytest.raises(ValidationFailed) as refused:
        export_of(session, world.actor("auditor_city"), fmt="pdf")
    assert "format" in refused.value.fields
    with pytest.raises(ValidationFailed) as refused:
        export_of(session, world.actor("auditor_city"), AuditFilter(round_id=999999), fmt="csv")
    assert "round" in refused.value.fields


# --- Personal data -------------------------------------------------------------------------------------

def test_id_numbers_and_accounts_are_masked_and_marked(session, world, trail, signer):
    data = b"".join(jsonl_lines(session, export_of(session, world.actor("auditor_city"),
                                                   AuditFilter(kind="reviewed_grant"), signer=signer)))
    assert ID_NUMBER.encode() not in data and ACCOUNT.encode() not in data
    lines = [json.loads(line) for line in data.splitlines()]
    created = lines[0]
    assert created["masked"] is True
    assert created["event"]["changes"]["id_number"]["after"] == "1101**********002X"
    assert created["event"]["changes"]["bank_account"]["after"] == "************2233"
    assert [line["masked"] for line in lines[1:-1]] == [False] * (len(lines) - 2)  # the submit has nothing to mask
    assert lines[-1]["manifest"]["masked_count"] == 1
    report = verify_export(io.BytesIO(data), public_keys_by_id([signer.private_key.public_key()]))
    assert report.ok and report.masked == 1


def test_full_data_needs_the_permission(session, world, trail, signer):
    with pytest.raises(PermissionDenied):
        export_of(session, world.actor("auditor_city"), full_data=True, signer=signer)
    assert session.scalar(select(SystemEvent.id).where(SystemEvent.action == "export")) is None


def test_an_auditor_with_the_permission_exports_in_full_and_it_is_logged(session, world, trail, signer):
    person = create_user(session, username="auditor_full", display_name="全量审计")
    assign_role(session, person, "auditor", world.unit("city"), full_data=True)
    actor = load_actor(session, person.id)
    export = export_of(session, actor, AuditFilter(kind="reviewed_grant"), full_data=True, signer=signer)
    data = b"".join(jsonl_lines(session, export))
    assert ID_NUMBER.encode() in data and ACCOUNT.encode() in data
    assert json.loads(data.splitlines()[-1])["manifest"]["full_data"] is True
    assert export.log_event.details["full_data"] is True
    assert verify_export(io.BytesIO(data), public_keys_by_id([signer.private_key.public_key()])).ok


def test_full_data_is_for_auditors_only(session, world):
    with pytest.raises(ValidationFailed) as refused:
        assign_role(session, world.users["reviewer_A1"], "reviewer", world.unit("A1a"), full_data=True)
    assert "full_data" in refused.value.fields


# --- CSV and XLSX ---------------------------------------------------------------------------------------

def test_csv_opens_with_its_columns_and_chinese_intact(session, world, trail):
    data = b"".join(csv_bytes(session, export_of(session, world.actor("auditor_city"), fmt="csv")))
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_HEADERS
    assert len(rows) - 1 == len(stored_keys(session))
    assert any(row[4] == "审核通过，报县（区）总工会" and row[7] == "reviewer_A1" for row in rows[1:])


def test_xlsx_reads_back_with_openpyxl(session, world, trail):
    out = io.BytesIO()
    count = write_xlsx(session, export_of(session, world.actor("auditor_city"), fmt="xlsx"), out)
    sheet = load_workbook(io.BytesIO(out.getvalue()), read_only=True).worksheets[0]
    rows = list(sheet.values)
    assert rows[0] == CSV_HEADERS
    assert count == len(rows) - 1 == len(stored_keys(session))
    assert {row[3] for row in rows[1:]} == {"基础推荐流程（测试用）", "审核补助（测试用）"}
    assert rows[1][0] > rows[-1][0]  # newest first, as the search page


def test_xlsx_goes_on_in_a_new_sheet_past_a_sheets_last_row(session, world, trail, monkeypatch):
    monkeypatch.setattr(engine.reading.audit_export, "XLSX_ROWS_PER_SHEET", 5)
    out = io.BytesIO()
    count = write_xlsx(session, export_of(session, world.actor("auditor_city"), fmt="xlsx"), out)
    sheets = load_workbook(io.BytesIO(out.getvalue()), read_only=True).worksheets
    assert [len(list(sheet.values)) - 1 for sheet in sheets] == [5] * (count // 5) + ([count % 5] if count % 5 else [])
    assert all(next(sheet.values) == CSV_HEADERS for sheet in sheets)


def test_a_formula_in_a_comment_is_written_as_text(session, world, trail):
    from engine.operations.transitions import comment_on_case

    comment_on_case(session, world.actor("reviewer_A"), trail["reviewed"], "=1+1", now=_at(30))
    session.commit()
    out = io.BytesIO()
    write_xlsx(session, export_of(session, world.actor("auditor_city"), fmt="xlsx"), out)
    sheet = load_workbook(io.BytesIO(out.getvalue())).worksheets[0]
    comments = [row[11].value for row in sheet.iter_rows(min_row=2)]
    assert "'=1+1" in comments and all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


# --- Recorded in the system log ---------------------------------------------------------------------------

def test_each_export_is_an_event_of_the_system_log(session, world, trail, signer):
    flt = AuditFilter(kind="basic_nomination", actor="reviewer")
    export = export_of(session, world.actor("auditor_A"), flt, fmt="csv")
    event = session.scalar(select(SystemEvent).where(SystemEvent.seq == export.log_event.seq))
    assert event.action == "export"
    assert (event.actor_name, event.actor_role, event.actor_unit_id) == ("auditor_A", "auditor", world.unit("A").id)
    assert event.details == {"export_id": export.export_id, "format": "csv", "full_data": False,
                             "filters": {"kind": "basic_nomination", "actor": "reviewer"},
                             "rows": len(stored_keys(session, Case.kind == "basic_nomination",
                                                     AuditEvent.actor_name.contains("reviewer")))}
    # The county's auditor and the city's read it; an auditor elsewhere does not.
    assert [e.seq for e in system_log_page(session, [world.unit("A").path]).events][:1] == [event.seq]
    assert event.seq in [e.seq for e in system_log_page(session, [world.unit("city").path]).events]
    assert event.seq not in [e.seq for e in system_log_page(session, [world.unit("B").path]).events]


def test_the_system_log_is_chained_and_verified(session, world, trail, signer):
    for fmt in ("csv", "xlsx", "jsonl"):
        export_of(session, world.actor("auditor_city"), fmt=fmt, signer=signer)
    report = verify_audit_chain(session)
    assert report.ok, [str(p) for p in report.problems]
    assert report.system_events_checked == 4  # the key's creation and three exports
    session.execute(update(SystemEvent).where(SystemEvent.seq == 2).values(details={"format": "csv"}))
    problems = [str(p) for p in verify_audit_chain(session).problems]
    assert problems == ["system log event 2: content does not match its hash (edited)"]


def test_deleting_the_latest_system_event_is_found(session, world, trail, signer):
    export_of(session, world.actor("auditor_city"), fmt="csv")
    session.execute(SystemEvent.__table__.delete().where(SystemEvent.seq == 2))
    problems = [str(p) for p in verify_audit_chain(session).problems]
    assert problems == ["the system log ends at event 1 but its head records 2 (latest events deleted or head altered)"]
    assert session.scalar(select(SystemLogHead.seq)) == 2


# --- The signing key -----------------------------------------------------------------------------------------

def test_a_second_key_needs_replace_and_the_old_one_stays_published(session, tmp_path, signer):
    path = tmp_path / "audit-signing-key.pem"
    with pytest.raises(Conflict):
        create_signing_key(session, None, path, now=NOW)
    new = create_signing_key(session, None, path, now=NOW + timedelta(days=1), replace=True)
    keys = {key.key_id: key.retired_dt for key in session.scalars(select(SigningKey))}
    assert keys == {signer.key_id: NOW + timedelta(days=1), new.key_id: None}
    assert current_signer(session, path).key_id == new.key_id
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_key_file_that_is_not_the_published_key_signs_nothing(session, tmp_path, signer):
    other = tmp_path / "other" / "key.pem"
    create_signing_key(session, None, other, now=NOW)
    session.execute(update(SigningKey).where(SigningKey.key_id == load_signer(other).key_id)
                    .values(retired_dt=NOW))
    session.execute(update(SigningKey).where(SigningKey.key_id == signer.key_id).values(retired_dt=None))
    with pytest.raises(SigningKeyMissing):
        current_signer(session, other)
    with pytest.raises(SigningKeyMissing):
        current_signer(session, tmp_path / "missing.pem")
