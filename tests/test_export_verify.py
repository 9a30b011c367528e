"""The offline verifier of JSON Lines exports: a clean export passes; each way of tampering
with the file is found and the first bad line named, with why."""
from __future__ import annotations

import base64
import hashlib
import io
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.audit.chain import canonical_bytes
from engine.reading.audit_export import jsonl_lines
from engine.reading.export_verify import event_hash, public_keys_by_id, verify_export
from tests.test_audit_export import export_of, trail  # noqa: F401 (the fixture)


@pytest.fixture
def exported(session, world, trail, signer) -> list[bytes]:  # noqa: F811
    """The lines (without line ends) of a signed export of every event, and the trusted keys."""
    data = b"".join(jsonl_lines(session, export_of(session, world.actor("auditor_city"), signer=signer)))
    return data.splitlines()


@pytest.fixture
def keys(signer):
    return public_keys_by_id([signer.private_key.public_key()])


def verified(lines: list[bytes], keys, *, tail: bytes = b"\n"):
    return verify_export(io.BytesIO(b"\n".join(lines) + tail), keys)


def first_problem(report) -> str:
    assert not report.ok, "tampering went unnoticed"
    return str(report.problems[0])


def edited(line: bytes, **event_values) -> bytes:
    obj = json.loads(line)
    obj["event"].update(event_values)
    return canonical_bytes(obj)


def test_a_clean_export_passes(exported, keys):
    report = verified(exported, keys)
    assert report.ok, [str(p) for p in report.problems]
    assert report.events == len(exported) - 1 == report.manifest["count"]


def test_an_edited_field_is_named_on_its_line(exported, keys):
    exported[2] = edited(exported[2], comment="改过的意见")
    assert first_problem(verified(exported, keys)).startswith("line 3: case ")
    assert "content does not match its hash (edited)" in first_problem(verified(exported, keys))


def test_a_deleted_line_is_named_where_it_was(exported, keys):
    del exported[3]
    assert first_problem(verified(exported, keys)) == (
        "line 4: carries number 5 where 4 was expected: a line was deleted, inserted or moved")


def test_an_inserted_line_is_named(exported, keys):
    exported.insert(4, exported[1])
    assert first_problem(verified(exported, keys)).startswith("line 5: carries number 2 where 5 was expected")


def test_an_inserted_line_numbered_to_fit_is_named_by_its_link(exported, keys):
    """A forged event made to look right (its own hash recomputed, numbered in sequence) still
    does not link: the next line carries the hash of the line that was there."""
    forged = json.loads(exported[4])
    forged["event"]["comment"] = "伪造的意见"
    forged["event"]["hash"] = event_hash(forged["event"])
    exported[4] = canonical_bytes(forged)
    assert first_problem(verified(exported, keys)) == (
        "line 6: does not link to the line before it: that line was edited, or a line was deleted, inserted "
        "or moved here")


def test_swapped_lines_are_named(exported, keys):
    exported[1], exported[2] = exported[2], exported[1]
    assert first_problem(verified(exported, keys)).startswith("line 2: carries number 3 where 2 was expected")


def test_a_file_cut_before_its_manifest_is_truncated(exported, keys):
    assert first_problem(verified(exported[:5], keys)) == (
        "the file ends after line 5 without its signed manifest (truncated)")


def test_a_file_cut_inside_a_line_is_truncated(exported, keys):
    data = b"\n".join(exported[:5]) + b"\n" + exported[5][:40]
    report = verify_export(io.BytesIO(data), keys)
    assert first_problem(report) == "line 6: is incomplete (no line end): the file was truncated"


def test_a_careful_forger_is_stopped_by_the_signature(exported, keys):
    """Edit an event, recompute its hash, relink every later line and fix the manifest's hashes:
    only the signature (made with a key the forger does not hold) is left to catch it."""
    lines = [json.loads(line) for line in exported]
    # The last event of the first case, so that no later event of its case links to it.
    target = next(i for i, obj in enumerate(lines) if lines[i + 1].get("event", {}).get("case_id")
                  != obj["event"]["case_id"])
    lines[target]["event"]["actor_name"] = "冒名者"
    lines[target]["event"]["hash"] = event_hash(lines[target]["event"])
    prev = lines[0]["prev"]
    rewritten = []
    for obj in lines[:-1]:
        obj["prev"] = prev
        raw = canonical_bytes(obj)
        prev = hashlib.sha256(raw).hexdigest()
        rewritten.append(raw)
    manifest = lines[-1]
    manifest["manifest"]["first_hash"] = hashlib.sha256(rewritten[0]).hexdigest()
    manifest["manifest"]["last_hash"] = prev
    rewritten.append(canonical_bytes(manifest))
    report = verified(rewritten, keys)
    problems = [str(p) for p in report.problems]
    assert len(problems) == 1 and "signature does not verify" in problems[0], problems
    assert problems[0].startswith(f"line {len(rewritten)}: manifest")


def test_a_manifest_signed_by_another_key_fails(exported, keys):
    manifest = json.loads(exported[-1])
    other = Ed25519PrivateKey.generate()
    manifest["signature"] = base64.b64encode(other.sign(canonical_bytes(manifest["manifest"]))).decode()
    exported[-1] = canonical_bytes(manifest)
    assert "signature does not verify" in first_problem(verified(exported, keys))
    # Trusting only the other key: the file names a key that is not trusted.
    assert "which is not a trusted key" in first_problem(
        verified(exported, public_keys_by_id([other.public_key()])))


def test_an_edited_manifest_count_fails(exported, keys):
    manifest = json.loads(exported[-1])
    manifest["manifest"]["count"] += 1
    exported[-1] = canonical_bytes(manifest)
    problems = [str(p) for p in verified(exported, keys).problems]
    assert any("signature does not verify" in p for p in problems)
    assert any("manifest counts" in p for p in problems)


def test_lines_after_the_manifest_fail(exported, keys):
    exported.append(exported[1])
    assert first_problem(verified(exported, keys)) == (
        f"line {len(exported)}: follows the manifest (line {len(exported) - 1}): lines appended after the export "
        "was signed")


def test_garbage_lines_are_named(exported, keys):
    exported[1] = b"{not json"
    assert first_problem(verified(exported, keys)) == "line 2: is not valid JSON (damaged or truncated)"


def test_an_event_moved_out_of_its_case_order_is_named(exported, keys):
    """Renumbered and relinked lines in the wrong case order: the event chain itself objects."""
    lines = [json.loads(line) for line in exported[:-1]]
    lines[0], lines[1] = lines[1], lines[0]
    prev, rewritten = "0" * 64, []
    for number, obj in enumerate(lines, start=1):
        obj["line"], obj["prev"] = number, prev
        raw = canonical_bytes(obj)
        prev = hashlib.sha256(raw).hexdigest()
        rewritten.append(raw)
    report = verified(rewritten + [exported[-1]], keys)
    messages = [str(p) for p in report.problems]
    case_id = lines[0]["event"]["case_id"]
    assert messages[0] == f"line 2: case {case_id} event 1: out of order after case {case_id} event 2", messages
