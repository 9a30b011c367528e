"""Exports of audit events for auditors: CSV and XLSX to read, JSON Lines to verify.

An export is one search (``AuditFilter``, within the auditor's subtree) written out whole.
Starting it is a unit of work of its own: the filters are checked, the matching events
counted and the export recorded in the system log (who, which filters, how many events,
whether personal data is in full) — committed before the first byte leaves, so no export
goes unrecorded. The events are then streamed from the database in batches: memory stays flat
however many there are.

The JSON Lines format (documented in README.md, "Audit export format") carries each event
with its chain hashes, links every line to the one before it by the SHA-256 of its bytes, and
ends with a manifest signed with the deployment's Ed25519 key; ``engine.reading.export_verify``
checks such a file offline.
"""
from __future__ import annotations

import hashlib
import tempfile
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import IO, Iterator

import orjson
from openpyxl import Workbook
from sqlalchemy import Select, Text, cast, func, or_, select
from sqlalchemy.orm import Session

from engine.audit.chain import GENESIS_HASH, AuditEvent, canonical_bytes, format_dt
from engine.audit.signing import Signer
from engine.audit.system_log import SystemEvent, append_system_event
from engine.base.db import read_only, streamed_rows
from engine.base.errors import PermissionDenied, ValidationFailed
from engine.cases.case import Case
from engine.definitions.spec import Definition
from engine.definitions.store import definition_by_hash
from engine.org.units import Actor, Grant, User, subtree_clause
from engine.reading.audit_search import (
    CSV_HEADERS, AuditFilter, AuditRow, AuditSearch, audit_search, csv_cells, csv_lines, filtered_events,
)
from engine.reading.trail import masked_event_data

EXPORT_FORMAT = "unionflow-audit-export/1"
FORMATS = ("jsonl", "csv", "xlsx")
FORMAT_LABELS = {"jsonl": "JSON Lines（含哈希链与签名，可独立验证）", "csv": "CSV（Excel 可直接打开）", "xlsx": "Excel（XLSX）"}
MEDIA_TYPES = {
    "jsonl": "application/jsonl",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
STREAM_BATCH = 2000
# A download is sent in chunks of about this size: line by line, it would cost a socket write
# and an HTTP chunk header per event (a million-event JSONL download: bench/README.md).
DOWNLOAD_CHUNK_BYTES = 64 * 1024
# A worksheet holds 1,048,576 rows; the header takes one, the rest continue on the next sheet.
XLSX_ROWS_PER_SHEET = 1_048_575


@dataclass(frozen=True)
class AuditExport:
    """A started export: what it covers, as recorded in the system log."""

    export_id: str
    format: str
    search: AuditSearch
    actor: Actor
    grant: Grant
    full_data: bool
    started_dt: datetime
    # Events counted when the export started; the stream holds none newer than ``last_event_id``.
    expected_count: int
    last_event_id: int
    log_event: SystemEvent
    signer: Signer | None
    tz: tzinfo

    @property
    def filename(self) -> str:
        return f"audit-events-{self.started_dt.astimezone(self.tz):%Y%m%d-%H%M%S}.{self.format}"


def begin_audit_export(
    session: Session, actor: Actor, flt: AuditFilter, *, fmt: str, full_data: bool, now: datetime, tz: tzinfo,
    signer: Signer | None = None,
) -> AuditExport:
    """Check and record an export; the caller commits, then streams it (``jsonl_lines`` etc.).

    Full personal data needs an auditor grant that holds it, and then covers only the subtrees
    of such grants. A JSON Lines export needs the signing key (``signer``).
    """
    if fmt not in FORMATS:
        raise ValidationFailed({"format": [f"导出格式应为 {'、'.join(FORMATS)} 之一"]})
    if full_data:
        actor = replace(actor, grants=tuple(g for g in actor.grants if g.role != "auditor" or g.full_data))
        if not actor.grants_for("auditor"):
            raise PermissionDenied("导出完整个人信息需要“审计人员（可查看完整个人信息）”权限")
    search = audit_search(session, actor, flt, tz=tz)  # the auditor's scope and the filters, checked
    if fmt == "jsonl" and signer is None:
        raise ValueError("a JSON Lines export is signed: pass the signer")
    counted = _scoped(search, select(func.count(), func.max(AuditEvent.id)))
    expected, last_id = session.execute(counted).one()
    grant = actor.grants_for("auditor")[0]
    export_id = uuid.uuid4().hex
    log_event = append_system_event(session, actor=actor, grant=grant, action="export", now=now, details={
        "export_id": export_id, "format": fmt, "filters": flt.as_args(), "full_data": full_data,
        "rows": expected, **({"key_id": signer.key_id} if signer else {}),
    })
    return AuditExport(export_id, fmt, search, actor, grant, full_data, now, expected, last_id or 0, log_event,
                       signer, tz)


def _scoped(search: AuditSearch, query: Select) -> Select:
    """``query`` over the events the search finds (its scope and filters), in no order."""
    query = query.select_from(AuditEvent).join(Case, Case.id == AuditEvent.case_id).where(_in_scope(search))
    if search.filter.actor is not None:
        query = query.outerjoin(User, User.id == AuditEvent.actor_id)
    return filtered_events(query, search.filter, search.unit_path, search.tz)


def _in_scope(search: AuditSearch):
    """Cases in the auditor's subtrees."""
    return or_(*(subtree_clause(Case.origin_path, path) for path in search.paths))


# --- JSON Lines -------------------------------------------------------------------------------------

# The event's hashed fields in order, then its hash and its case's kind and definition. The JSON
# columns come as text and are parsed here with orjson: the driver's own JSON loading was most
# of the cost of a million rows (bench/README.md).
_LINE_COLUMNS = (
    AuditEvent.case_id, AuditEvent.seq, AuditEvent.action, AuditEvent.from_state, AuditEvent.to_state,
    AuditEvent.actor_id, AuditEvent.actor_name, AuditEvent.actor_role, AuditEvent.actor_unit_id,
    AuditEvent.actor_unit_name, AuditEvent.comment, cast(AuditEvent.changes, Text), cast(AuditEvent.details, Text),
    AuditEvent.occurred_dt, AuditEvent.prev_hash, AuditEvent.hash, Case.kind, Case.definition_hash,
)


def jsonl_lines(session: Session, export: AuditExport) -> Iterator[bytes]:
    """The export as JSON Lines: one line per event, by case and sequence, then the signed manifest.

    Rows are read through Core (no ORM layer per row) from one query, streamed.
    """
    read_only(session)  # the transaction the export is read in holds no lock against writers
    query = _scoped(export.search, select(*_LINE_COLUMNS))
    query = query.where(AuditEvent.id <= export.last_event_id).order_by(AuditEvent.case_id, AuditEvent.seq)
    # Read before the stream starts: the stream holds the session's connection to its end.
    masking = _Masking(session, export) if not export.full_data else None
    prev, first, count, masked = GENESIS_HASH, None, 0, 0
    for (case_id, seq, action, from_state, to_state, actor_id, actor_name, actor_role, actor_unit_id,
         actor_unit_name, comment, changes, details, occurred_dt, prev_hash, event_hash, kind,
         definition_hash) in streamed_rows(session, query, batch=STREAM_BATCH):
        count += 1
        event = {
            "case_id": case_id, "seq": seq, "action": action, "from_state": from_state, "to_state": to_state,
            "actor_id": actor_id, "actor_name": actor_name, "actor_role": actor_role,
            "actor_unit_id": actor_unit_id, "actor_unit_name": actor_unit_name, "comment": comment,
            "changes": None if changes is None else orjson.loads(changes),
            "details": None if details is None else orjson.loads(details),
            "occurred_dt": format_dt(occurred_dt), "prev_hash": prev_hash, "hash": event_hash,
        }
        is_masked = masking is not None and masking.apply(definition_hash, event)
        masked += is_masked
        line = canonical_bytes({"event": event, "kind": kind, "line": count, "masked": is_masked, "prev": prev})
        prev = hashlib.sha256(line).hexdigest()
        first = first or prev
        yield line + b"\n"
    manifest = export_manifest(export, count=count, masked=masked, first_hash=first or GENESIS_HASH,
                               last_hash=prev)
    yield canonical_bytes({"manifest": manifest, "signature": export.signer.sign(canonical_bytes(manifest))}) + b"\n"


def export_manifest(export: AuditExport, *, count: int, masked: int, first_hash: str, last_hash: str) -> dict:
    grant = export.grant
    return {
        "format": EXPORT_FORMAT,
        "export_id": export.export_id,
        "exported_at": format_dt(export.started_dt),
        "exported_by": {"id": export.actor.user_id, "name": export.actor.name, "role": grant.role,
                        "unit_id": grant.unit_id, "unit_name": grant.unit_name},
        "filters": export.search.filter.as_args(),
        "full_data": export.full_data,
        "count": count,
        "masked_count": masked,
        "first_hash": first_hash,
        "last_hash": last_hash,
        "log_event": {"seq": export.log_event.seq, "hash": export.log_event.hash},
        "key_id": export.signer.key_id,
    }


class _Masking:
    """Masks personal data in an export's events (in place); says whether anything was masked.
    Most events hold none (an approval, a comment): they are told apart without copying.

    The definitions of every case in the auditor's scope are read first (a few versions, from
    the cases alone), so that masking needs no query while the events stream."""

    def __init__(self, session: Session, export: AuditExport):
        hashes = session.scalars(select(Case.definition_hash).distinct().where(_in_scope(export.search)))
        # definition hash -> (definition, its personal form fields), or None without any
        self._personal: dict[str, tuple[Definition, frozenset[str]] | None] = {
            content_hash: _personal_data(definition_by_hash(session, content_hash)) for content_hash in hashes}

    def apply(self, definition_hash: str, event: dict) -> bool:
        changes, details = event["changes"], event["details"]
        if not (changes or details):
            return False
        if definition_hash not in self._personal:
            # Only a case committed after the lookup by a transaction that began before the
            # export could be missing: stopping leaves a file the verifier calls truncated,
            # where going on would leave personal data unmasked.
            raise RuntimeError(f"audit export: definition {definition_hash[:12]} appeared during the export")
        known = self._personal[definition_hash]
        if known is None:
            return False
        definition, personal_fields = known
        if not (changes and not personal_fields.isdisjoint(changes)) \
                and not (details and ("data" in details or "inputs" in details)):
            return False  # no personal form field changed, no record data, no transition inputs
        masked_changes, masked_details = masked_event_data(definition, event["action"], event["from_state"],
                                                           changes, details)
        if masked_changes == changes and masked_details == details:
            return False
        event["changes"], event["details"] = masked_changes, masked_details
        return True


def _personal_data(definition: Definition) -> tuple[Definition, frozenset[str]] | None:
    """The definition and its personal form fields, or None when nothing of it is personal."""
    specs = [*definition.fields, *(f for r in definition.records for f in r.fields),
             *(f for t in definition.transitions for f in t.inputs)]
    if not any(spec.is_personal for spec in specs):
        return None
    return definition, frozenset(spec.name for spec in definition.fields if spec.is_personal)


# --- CSV and XLSX: the search's columns, newest first ------------------------------------------------

def export_rows(session: Session, export: AuditExport) -> Iterator[AuditRow]:
    """The search's rows as of the export's start, read through ``session`` (the one the export
    was begun in may be closed by the time a download reads them)."""
    search = export.search
    read_only(session)  # the transaction the rows are read in holds no lock against writers
    bounded = AuditSearch(session, search.query.where(AuditEvent.id <= export.last_event_id), search.filter,
                          search.paths, search.unit_path, search.tz)
    return bounded.rows()


def csv_bytes(session: Session, export: AuditExport) -> Iterator[bytes]:
    return (line.encode("utf-8") for line in csv_lines(export_rows(session, export), export.tz))


def write_xlsx(session: Session, export: AuditExport, out: IO[bytes]) -> int:
    """Write the workbook to ``out`` with openpyxl's write-only (constant-memory) mode; returns
    the number of events. Past a sheet's last row the events go on in a new sheet."""
    workbook = Workbook(write_only=True)
    sheet, on_sheet, count = None, XLSX_ROWS_PER_SHEET, 0
    for row in export_rows(session, export):
        if on_sheet == XLSX_ROWS_PER_SHEET:
            sheet = workbook.create_sheet(f"审计记录{len(workbook.worksheets) + 1}" if count else "审计记录")
            sheet.append(CSV_HEADERS)
            on_sheet = 0
        cells = csv_cells(row, export.tz)
        sheet.append([_as_text(cell) for cell in cells])
        on_sheet += 1
        count += 1
    if sheet is None:
        workbook.create_sheet("审计记录").append(CSV_HEADERS)
    workbook.save(out)
    return count


def xlsx_file(session: Session, export: AuditExport) -> IO[bytes]:
    """The workbook in a temporary file (on disk, so memory stays flat), read from its start."""
    out = tempfile.TemporaryFile()
    try:
        write_xlsx(session, export, out)
        out.seek(0)
    except BaseException:
        out.close()
        raise
    return out


def export_lines(session: Session, export: AuditExport) -> Iterator[bytes]:
    """A JSON Lines or CSV export, a line at a time (the manifest or the header one of them)."""
    return jsonl_lines(session, export) if export.format == "jsonl" else csv_bytes(session, export)


def download_chunks(session: Session, export: AuditExport) -> Iterator[bytes]:
    """A JSON Lines or CSV export for a download, in chunks of about DOWNLOAD_CHUNK_BYTES."""
    pieces = export_lines(session, export)
    held: list[bytes] = []
    size = 0
    try:
        for piece in pieces:
            held.append(piece)
            size += len(piece)
            if size >= DOWNLOAD_CHUNK_BYTES:
                yield b"".join(held)
                held, size = [], 0
        if held:
            yield b"".join(held)
    finally:
        pieces.close()  # an abandoned download ends the database stream now, not when collected


def _as_text(cell: str) -> str:
    """openpyxl writes a string starting with "=" as a formula: such a cell is written as text."""
    return "'" + cell if cell.startswith("=") else cell
