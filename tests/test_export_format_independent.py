"""A third party's verifier, written from README.md ("Audit export format") alone: it imports
nothing of unionflow, only the standard library and an Ed25519 implementation. If the engine's
exports ever drift from the documented format, this fails while the engine's own verifier
(which shares code with the exporter) might not."""
from __future__ import annotations

import base64
import hashlib
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from engine.audit.signing import published_keys
from engine.reading.audit_export import jsonl_lines
from tests.test_audit_export import export_of, trail  # noqa: F401 (the fixture)


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def third_party_verify(data: bytes, public_key: Ed25519PublicKey) -> list[str]:
    """The README's three steps; returns the problems found (empty: intact)."""
    problems = []
    if not data.endswith(b"\n"):
        return ["truncated"]
    lines = data[:-1].split(b"\n")
    prev, last_event = "0" * 64, None
    for number, raw in enumerate(lines[:-1], start=1):
        line = json.loads(raw)
        event = line["event"]
        if line["line"] != number or line["prev"] != prev:
            problems.append(f"line {number}: number or link")
        if not line["masked"]:
            body = {key: value for key, value in event.items() if key != "hash"}
            if hashlib.sha256(canonical(body)).hexdigest() != event["hash"]:
                problems.append(f"line {number}: hash")
        if last_event and (last_event["case_id"], last_event["seq"] + 1) == (event["case_id"], event["seq"]) \
                and event["prev_hash"] != last_event["hash"]:
            problems.append(f"line {number}: case link")
        if event["seq"] == 1 and event["prev_hash"] != "0" * 64:
            problems.append(f"line {number}: first event")
        if last_event and (event["case_id"], event["seq"]) <= (last_event["case_id"], last_event["seq"]):
            problems.append(f"line {number}: order")
        prev, last_event = hashlib.sha256(raw).hexdigest(), event
    final = json.loads(lines[-1])
    manifest = final["manifest"]
    raw_key = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    if manifest["key_id"] != hashlib.sha256(raw_key).hexdigest()[:16]:
        problems.append("key id")
    try:
        public_key.verify(base64.b64decode(final["signature"]), canonical(manifest))
    except Exception:  # noqa: BLE001 - any failure is a bad signature
        problems.append("signature")
    events = lines[:-1]
    if manifest["count"] != len(events):
        problems.append("count")
    if manifest["masked_count"] != sum(json.loads(raw)["masked"] for raw in events):
        problems.append("masked count")
    if events and (manifest["first_hash"], manifest["last_hash"]) != (hashlib.sha256(events[0]).hexdigest(), prev):
        problems.append("first/last hash")
    return problems


def the_published_key(session) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(published_keys(session)[0].public_key))


def test_an_export_verifies_by_the_documented_algorithm(session, world, trail, signer):  # noqa: F811
    data = b"".join(jsonl_lines(session, export_of(session, world.actor("auditor_city"), signer=signer)))
    assert data.count(b"\n") > 5
    assert third_party_verify(data, the_published_key(session)) == []
    assert b'"masked":true' in data  # the masked grant claim is in it: those lines are covered by the chain only


def test_the_documented_algorithm_catches_an_edit(session, world, trail, signer):  # noqa: F811
    data = b"".join(jsonl_lines(session, export_of(session, world.actor("auditor_city"), signer=signer)))
    tampered = data.replace(b'"comment":"\xe5\x90\x8c\xe6\x84\x8f"', b'"comment":"\xe4\xb8\x8d\xe5\x90\x8c\xe6\x84\x8f"', 1)
    assert tampered != data
    assert third_party_verify(tampered, the_published_key(session))[:2] == ["line 4: hash", "line 5: number or link"]
