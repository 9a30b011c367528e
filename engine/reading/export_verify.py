"""Checking a JSON Lines audit export offline: every event hash, every link, the count and the
Ed25519 signature of the manifest. Needs no database and nothing of unionflow but this module
and the public key; README.md ("Audit export format") specifies the same checks for a verifier
written elsewhere.

The file is read line by line, so memory stays flat however large it is. Each problem names
the line (1-based) it was found on; the first one is where the file stops being trustworthy.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import BinaryIO, Iterable, Mapping

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from engine.audit.chain import GENESIS_HASH, canonical_bytes
from engine.audit.signing import key_id_of, raw_public_bytes, signature_valid
from engine.reading.audit_export import EXPORT_FORMAT

EVENT_LINE_KEYS = {"event", "kind", "line", "masked", "prev"}
MANIFEST_LINE_KEYS = {"manifest", "signature"}
EVENT_KEYS = {"case_id", "seq", "action", "from_state", "to_state", "actor_id", "actor_name", "actor_role",
              "actor_unit_id", "actor_unit_name", "comment", "changes", "details", "occurred_dt", "prev_hash", "hash"}
# Beyond this many, problems are counted but not listed.
MAX_LISTED = 100


@dataclass(frozen=True)
class ExportProblem:
    line: int | None  # None: the file as a whole
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line is not None else self.message


@dataclass
class ExportReport:
    lines: int = 0
    events: int = 0
    masked: int = 0
    manifest: dict | None = None
    key_id: str | None = None
    problems: list[ExportProblem] = field(default_factory=list)
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, line: int | None, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(ExportProblem(line, message))


def public_keys_by_id(keys: Iterable[Ed25519PublicKey]) -> dict[str, Ed25519PublicKey]:
    return {key_id_of(raw_public_bytes(key)): key for key in keys}


def verify_export(stream: BinaryIO, public_keys: Mapping[str, Ed25519PublicKey]) -> ExportReport:
    """Check an export read from ``stream`` (binary) against the trusted ``public_keys`` (by key id)."""
    checker = _Checker(public_keys)
    for number, raw in enumerate(stream, start=1):
        checker.line(number, raw)
    checker.finish()
    return checker.report


def verify_export_file(path, public_keys: Mapping[str, Ed25519PublicKey]) -> ExportReport:
    with open(path, "rb") as stream:
        return verify_export(stream, public_keys)


def event_hash(event: dict) -> str:
    """The SHA-256 an event's stored ``hash`` must equal: its fields but ``hash``, canonical JSON."""
    return hashlib.sha256(canonical_bytes({k: v for k, v in event.items() if k != "hash"})).hexdigest()


class _Checker:
    def __init__(self, public_keys: Mapping[str, Ed25519PublicKey]):
        self.public_keys = public_keys
        self.report = ExportReport()
        self.prev = GENESIS_HASH  # SHA-256 of the previous line's bytes
        self.first = None
        self.last_event: dict | None = None
        self.manifest_line: int | None = None

    def line(self, number: int, raw: bytes) -> None:
        report = self.report
        report.lines = number
        if self.manifest_line is not None:
            report.add(number, f"follows the manifest (line {self.manifest_line}): lines appended after the export was signed")
            return
        if not raw.endswith(b"\n"):
            report.add(number, "is incomplete (no line end): the file was truncated")
            return
        content = raw[:-1]
        try:
            obj = orjson.loads(content)
        except ValueError:
            report.add(number, "is not valid JSON (damaged or truncated)")
            self._advance(content)
            return
        if isinstance(obj, dict) and set(obj) == MANIFEST_LINE_KEYS:
            self.manifest_line = number
            self._check_manifest(number, obj)
        elif isinstance(obj, dict) and set(obj) == EVENT_LINE_KEYS and isinstance(obj["event"], dict):
            self._check_event_line(number, obj)
            self._advance(content)
        else:
            report.add(number, "is neither an event line nor the manifest")
            self._advance(content)

    def _advance(self, content: bytes) -> None:
        self.prev = hashlib.sha256(content).hexdigest()
        self.first = self.first or self.prev

    def _check_event_line(self, number: int, obj: dict) -> None:
        report, event = self.report, obj["event"]
        report.events += 1
        if obj["line"] != report.events:
            report.add(number, f"carries number {obj['line']} where {report.events} was expected: "
                               "a line was deleted, inserted or moved")
        elif obj["prev"] != self.prev:
            report.add(number, "does not link to the line before it: that line was edited, or a line was "
                               "deleted, inserted or moved here")
        elif set(event) != EVENT_KEYS:
            report.add(number, f"event has fields {sorted(set(event) ^ EVENT_KEYS)} added or missing")
        elif not all(isinstance(event[name], int) and not isinstance(event[name], bool) for name in ("case_id", "seq")):
            report.add(number, "event's case_id and seq must be integers")
        elif obj["masked"] is True:
            report.masked += 1  # personal data masked: its hash cannot be recomputed (README)
        elif event_hash(event) != event["hash"]:
            report.add(number, f"case {event['case_id']} event {event['seq']}: content does not match its hash (edited)")
        else:
            self._check_case_link(number, event)
        self.last_event = event

    def _check_case_link(self, number: int, event: dict) -> None:
        """Lines run by case and sequence; consecutive events of one case must chain."""
        last, where = self.last_event, f"case {event['case_id']} event {event['seq']}"
        if event["seq"] == 1 and event["prev_hash"] != GENESIS_HASH:
            self.report.add(number, f"{where}: the first event of a case must have prev_hash 0…0")
        if last is None or not all(isinstance(last.get(name), int) for name in ("case_id", "seq")):
            return
        if (event["case_id"], event["seq"]) <= (last["case_id"], last["seq"]):
            self.report.add(number, f"{where}: out of order after case {last['case_id']} event {last['seq']}")
        elif event["case_id"] == last["case_id"] and event["seq"] == last["seq"] + 1 \
                and event["prev_hash"] != last["hash"]:
            self.report.add(number, f"{where}: does not link to event {last['seq']} of its case")

    def _check_manifest(self, number: int, obj: dict) -> None:
        report, manifest = self.report, obj["manifest"]
        report.manifest = manifest if isinstance(manifest, dict) else None
        if report.manifest is None:
            report.add(number, "manifest is not an object")
            return
        if manifest.get("format") != EXPORT_FORMAT:
            report.add(number, f"manifest format {manifest.get('format')!r} is not {EXPORT_FORMAT!r}")
        key_id = manifest.get("key_id")
        report.key_id = key_id
        key = self.public_keys.get(key_id)
        if key is None:
            known = ", ".join(sorted(self.public_keys)) or "none"
            report.add(number, f"manifest is signed with key {key_id}, which is not a trusted key (given: {known})")
        elif not isinstance(obj["signature"], str) or not signature_valid(key, obj["signature"],
                                                                         canonical_bytes(manifest)):
            report.add(number, f"manifest signature does not verify with key {key_id} (manifest or signature altered)")
        if manifest.get("count") != report.events:
            report.add(number, f"manifest counts {manifest.get('count')} events but the file holds {report.events}")
        if manifest.get("masked_count") != report.masked:
            report.add(number, f"manifest counts {manifest.get('masked_count')} masked events but the file marks "
                               f"{report.masked}")
        if manifest.get("first_hash") != (self.first or GENESIS_HASH):
            report.add(number, "manifest's first_hash is not the hash of line 1 (the beginning was changed)")
        if manifest.get("last_hash") != self.prev:
            report.add(number, f"manifest's last_hash is not the hash of line {number - 1} "
                               "(lines at the end were removed, added or changed)")

    def finish(self) -> None:
        if self.manifest_line is None:
            self.report.add(None, f"the file ends after line {self.report.lines} without its signed manifest "
                                  "(truncated)")
