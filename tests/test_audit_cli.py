"""`unionflow audit export / verify / create-key / public-key` on a demo database: an auditor
exports from the command line and a third party verifies the file with the published key."""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.test_app_cli import assert_clean_failure, invoke


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> str:
    """A demo database of this module's own (exports are written into its system log)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('audit-demo') / 'demo.db'}"
    result = invoke("demo", "setup", "--db", url)
    assert result.exit_code == 0, result.output
    assert "audit export signing key: " in result.output
    return url


@pytest.fixture(scope="module")
def public_key(demo, tmp_path_factory) -> Path:
    result = invoke("audit", "public-key", "--db", demo)
    assert result.exit_code == 0, result.output
    path = tmp_path_factory.mktemp("keys") / "unionflow.pem"
    path.write_text(result.output)
    return path


def export(demo, out: Path, *args: str):
    return invoke("audit", "export", "--db", demo, "--as", "auditor_city", "--out", str(out), *args)


def test_an_export_verifies_with_the_published_key(demo, public_key, tmp_path):
    out = tmp_path / "all.jsonl"
    result = export(demo, out)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("exported ") and " as jsonl to " in result.output
    lines = out.read_bytes().splitlines()
    assert f"exported {len(lines) - 1} audit events" in result.output
    checked = invoke("audit", "verify", str(out), "--public-key", str(public_key))
    assert checked.exit_code == 0, checked.output
    assert "export intact" in checked.output and f"{len(lines) - 1} events" in checked.output
    assert "孙丽" in checked.output  # who exported, from the signed manifest


def test_without_a_key_the_deployments_published_keys_are_used(demo, tmp_path):
    out = tmp_path / "kind.jsonl"
    assert export(demo, out, "--kind", "hardship_aid").exit_code == 0
    checked = invoke("audit", "verify", str(out), "--db", demo)
    assert checked.exit_code == 0, checked.output


def test_a_tampered_export_exits_1_naming_the_first_bad_line(demo, public_key, tmp_path):
    out = tmp_path / "tampered.jsonl"
    assert export(demo, out, "--kind", "honours").exit_code == 0
    lines = out.read_bytes().splitlines(keepends=True)
    line = json.loads(lines[6])
    line["event"]["actor_name"] = "冒名者"
    lines[6] = json.dumps(line, ensure_ascii=False).encode() + b"\n"
    out.write_bytes(b"".join(lines))
    checked = invoke("audit", "verify", str(out), "--public-key", str(public_key))
    assert checked.exit_code == 1
    assert "problem: line 7: " in checked.output and "the first bad line is 7" in checked.output


def test_a_key_given_as_base64_is_trusted_and_a_wrong_one_refused(demo, public_key, tmp_path):
    import base64

    from engine.audit.signing import parse_public_key, raw_public_bytes

    out = tmp_path / "b64.jsonl"
    assert export(demo, out, "--case", "1").exit_code == 0
    raw = base64.b64encode(raw_public_bytes(parse_public_key(public_key.read_text()))).decode()
    assert invoke("audit", "verify", str(out), "--public-key", raw).exit_code == 0
    other = invoke("audit", "verify", str(out), "--public-key", "A" * 43 + "=")
    assert other.exit_code == 1 and "not a trusted key" in other.output
    bad = invoke("audit", "verify", str(out), "--public-key", "not-a-key")
    assert bad.exit_code == 2 and "neither a PEM public-key file nor a base64 Ed25519 key" in bad.output


def test_csv_and_xlsx_from_the_command_line(demo, tmp_path):
    assert export(demo, tmp_path / "a.csv", "--format", "csv", "--kind", "medical_subsidy").exit_code == 0
    rows = list(csv.reader(io.StringIO((tmp_path / "a.csv").read_text("utf-8-sig"))))
    assert rows[0][:3] == ["时间", "案件编号", "序号"] and all(row[3] == "职工医疗互助申请" for row in rows[1:])
    result = export(demo, tmp_path / "a.xlsx", "--format", "xlsx", "--kind", "medical_subsidy")
    assert result.exit_code == 0, result.output
    sheet = load_workbook(tmp_path / "a.xlsx", read_only=True).worksheets[0]
    assert len(list(sheet.values)) == len(rows)


def test_bad_filters_and_people_end_with_a_message(demo, tmp_path):
    result = export(demo, tmp_path / "x.jsonl", "--from", "2026-13-01")
    assert_clean_failure(result)
    assert "日期格式应为" in result.output
    result = invoke("audit", "export", "--db", demo, "--as", "reviewer_dongcheng", "--out", str(tmp_path / "y"))
    assert_clean_failure(result)
    assert "审计人员" in result.output
    assert_clean_failure(invoke("audit", "export", "--db", demo, "--as", "nobody", "--out", str(tmp_path / "z")))
    assert os.listdir(tmp_path) == []  # nothing written for a refused export


def test_full_data_needs_the_permission(demo, tmp_path):
    result = export(demo, tmp_path / "full.jsonl", "--full-data")
    assert_clean_failure(result)
    assert "完整个人信息" in result.output


def test_a_second_key_needs_replace(demo):
    result = invoke("audit", "create-key", "--db", demo)
    assert_clean_failure(result)
    assert "--replace" in result.output


def test_database_verify_counts_the_system_log(demo, tmp_path):
    assert export(demo, tmp_path / "again.csv", "--format", "csv").exit_code == 0
    result = invoke("audit", "verify", "--db", demo)
    assert result.exit_code == 0, result.output
    assert "system log events" in result.output and "audit trail intact" in result.output


def test_verify_of_a_missing_file_is_a_usage_error(tmp_path):
    result = invoke("audit", "verify", str(tmp_path / "missing.jsonl"), "--public-key", "x")
    assert result.exit_code == 2 and "does not exist" in result.output
