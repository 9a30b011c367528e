"""Checking the trail: every case's chain against its row and the case ledger, tombstones against the
purges in the system log, and the system log's own chain. Auditors read the report; a purge runs
it first on the cases it is about to delete."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit.chain import (
    GENESIS_HASH, LEDGER_SHARDS, AuditEvent, CaseLedgerEntry, CaseLedgerHead, CaseTombstone, ChainProblem, ChainReport,
    event_payload, format_dt, ledger_payload, sha256_hex, tombstone_entry,
)
from engine.audit.system_log import PURGE, SystemEvent, verify_system_log
from engine.cases.case import Case


def verify_audit_chain(session: Session, case_ids: Iterable[int] | None = None) -> ChainReport:
    """Recompute every hash and link; detect edited, deleted, inserted or reordered events,
    a case's deleted latest events (head mismatch) and a wholly deleted case (ledger). A case
    gone with a tombstone matching its ledger entry and its purge event was lawfully purged.

    With ``case_ids`` only those cases (and their ledger entries) are checked. Rows are
    always read from the database, never from the session's copies of them, so that the
    check sees what is stored even in a session that wrote or loaded those rows.
    """

    report = ChainReport()
    wanted = None if case_ids is None else set(case_ids)
    heads = {
        row.id: row
        for row in session.execute(
            select(Case.id, Case.state, Case.audit_seq, Case.audit_head).where(
                Case.id.in_(wanted) if wanted is not None else True
            )
        )
    }
    genesis: dict[int, str] = {}
    cases_with_events: set[int] = set()
    events = select(AuditEvent).order_by(AuditEvent.case_id, AuditEvent.seq)
    if wanted is not None:
        events = events.where(AuditEvent.case_id.in_(wanted))
    current_case, expected_seq, prev_hash, last_to_state = None, 0, GENESIS_HASH, None

    def close_case(case_id):
        head = heads.get(case_id)
        if head is None:
            report.problems.append(ChainProblem(case_id, None, "events exist for a case that does not"))
            return
        if head.audit_seq != expected_seq:
            report.problems.append(ChainProblem(
                case_id, None,
                f"chain ends at event {expected_seq} but the case records head {head.audit_seq} "
                "(latest events deleted or head altered)",
            ))
        elif head.audit_head != prev_hash:
            report.problems.append(ChainProblem(
                case_id, None, f"the case's head hash differs from event {expected_seq}'s (head altered)"
            ))
        if last_to_state is not None and head.state != last_to_state:
            report.problems.append(ChainProblem(
                case_id, None, f'case state "{head.state}" differs from the trail\'s "{last_to_state}"'
            ))

    for e in session.scalars(events.execution_options(yield_per=2000, populate_existing=True)):
        if e.case_id != current_case:
            if current_case is not None:
                close_case(current_case)
            report.cases_checked += 1
            cases_with_events.add(e.case_id)
            current_case, expected_seq, prev_hash, last_to_state = e.case_id, 0, GENESIS_HASH, None
        report.events_checked += 1
        expected_seq += 1
        if e.seq != expected_seq:
            missing = f"event {expected_seq}" if e.seq == expected_seq + 1 else f"events {expected_seq}-{e.seq - 1}"
            report.problems.append(ChainProblem(e.case_id, e.seq, f"{missing} missing before this one (deleted)"))
            expected_seq = e.seq
        elif e.prev_hash != prev_hash:
            report.problems.append(ChainProblem(e.case_id, e.seq, "does not link to the previous event (reordered, inserted or deleted)"))
        if sha256_hex(event_payload(e)) != e.hash:
            report.problems.append(ChainProblem(e.case_id, e.seq, "content does not match its hash (edited)"))
        if e.seq == 1:
            genesis[e.case_id] = e.hash
        if e.to_state is not None:
            last_to_state = e.to_state
        prev_hash = e.hash
    if current_case is not None:
        close_case(current_case)
    for case_id, head in heads.items():
        # Every case is created with its first event, so a case without events lost its trail,
        # whatever its head now says.
        if case_id not in cases_with_events:
            report.problems.append(ChainProblem(case_id, None, "case has no audit events (trail deleted)"))

    tombstones = _tombstones(session, wanted)
    purges = purges_in_system_log(session)
    _verify_ledger(session, report, heads, genesis, wanted, tombstones, purges)
    verify_tombstones(report, heads, tombstones, purges)
    if wanted is None:

        verify_system_log(session, report)
    return report


def verify_database(engine) -> ChainReport:
    """Verify the whole live database as one consistent snapshot.

    Separate reads under READ COMMITTED would see an approval committed between reading the
    case heads and reading the events, and report it as tampering. PostgreSQL gets a
    REPEATABLE READ, read-only transaction; SQLite's transaction is a snapshot already.
    """
    options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True} \
        if engine.dialect.name == "postgresql" else {}
    with engine.connect().execution_options(**options) as connection, Session(bind=connection) as session:
        return verify_audit_chain(session)


def _tombstones(session: Session, wanted: set[int] | None) -> dict[int, CaseTombstone]:
    query = select(CaseTombstone).execution_options(populate_existing=True)
    if wanted is not None:
        query = query.where(CaseTombstone.case_id.in_(wanted))
    return {tombstone.case_id: tombstone for tombstone in session.scalars(query)}


def _verify_ledger(session: Session, report: ChainReport, heads, genesis: dict[int, str], wanted: set[int] | None,
                   tombstones: dict[int, CaseTombstone], purges: dict):
    entries = select(CaseLedgerEntry).order_by(CaseLedgerEntry.shard, CaseLedgerEntry.seq)
    if wanted is not None:
        entries = entries.where(CaseLedgerEntry.case_id.in_(wanted))
    registered: set[int] = set()
    tips: dict[int, tuple[int, str]] = {}  # shard -> (last seq, last hash) seen
    for entry in session.scalars(entries.execution_options(yield_per=2000, populate_existing=True)):
        registered.add(entry.case_id)
        if entry.case_id not in heads:
            _verify_purged(report, entry, tombstones.get(entry.case_id), purges)
        elif entry.case_id not in genesis:
            report.problems.append(ChainProblem(entry.case_id, 1, "first event, registered in the ledger, is missing"))
        elif genesis[entry.case_id] != entry.genesis_hash:
            report.problems.append(ChainProblem(entry.case_id, 1, "first event differs from the one registered in the ledger"))
        if sha256_hex(ledger_payload(entry)) != entry.hash:
            report.problems.append(ChainProblem(entry.case_id, None, f"ledger shard {entry.shard} entry {entry.seq} was edited"))
        if wanted is not None:
            continue  # links are only meaningful over a whole shard
        seq, prev = tips.get(entry.shard, (0, GENESIS_HASH))
        if entry.seq != seq + 1:
            # The missing entries' cases are unknown (that is what was deleted); the next
            # entry's case is innocent, so the problem names the shard, not a case.
            missing = f"entry {seq + 1}" if entry.seq == seq + 2 else f"entries {seq + 1}-{entry.seq - 1}"
            report.problems.append(ChainProblem(
                None, None, f"ledger shard {entry.shard} {missing} missing (a registered case was deleted)"
            ))
        elif entry.prev_hash != prev:
            report.problems.append(ChainProblem(
                entry.case_id, None,
                f"ledger shard {entry.shard} entry {entry.seq} does not link to the entry before it (edited or replaced)",
            ))
        tips[entry.shard] = (entry.seq, entry.hash)
    if wanted is None:
        shard_heads = {
            h.shard: h for h in session.scalars(select(CaseLedgerHead).execution_options(populate_existing=True))
        }
        for shard in range(LEDGER_SHARDS):
            head = shard_heads.get(shard)
            seq, last = tips.get(shard, (0, GENESIS_HASH))
            if head is None:
                report.problems.append(ChainProblem(None, None, f"ledger shard {shard} head is missing"))
            elif head.seq != seq or head.hash != last:
                report.problems.append(ChainProblem(
                    None, None, f"ledger shard {shard} ends at entry {seq} but its head records {head.seq} (entries deleted)"
                ))
    for case_id in heads:
        if case_id not in registered:
            report.problems.append(ChainProblem(case_id, None, "case is missing from the case ledger"))
    for case_id in tombstones:
        if case_id not in registered:
            report.problems.append(ChainProblem(
                case_id, None, "tombstone of a case the ledger does not register (forged tombstone or ledger entry deleted)"))


def _verify_purged(report: ChainReport, entry: CaseLedgerEntry, tombstone: CaseTombstone | None, purges: dict) -> None:
    """A registered case that is gone: lawfully purged only if its tombstone keeps its first event's hash."""

    if tombstone is None:
        report.problems.append(ChainProblem(entry.case_id, None, missing_tombstone(purges, entry.case_id)))
    elif tombstone.genesis_hash != entry.genesis_hash:
        report.problems.append(ChainProblem(
            entry.case_id, None, "tombstone's first-event hash differs from the one registered in the ledger "
                                 "(tombstone or ledger edited)"))
    else:
        report.cases_purged += 1


@dataclass(frozen=True)
class PurgeRecord:
    """One case as a purge event of the system log lists it."""

    event_seq: int
    occurred_dt: datetime
    entry: dict


def purges_in_system_log(session: Session) -> dict[int, PurgeRecord]:
    """Every case the system log says was purged, by case id (read from the database)."""
    events = select(SystemEvent).where(SystemEvent.action == PURGE).order_by(SystemEvent.seq)
    records = {}
    for event in session.scalars(events.execution_options(populate_existing=True)):
        for entry in (event.details or {}).get("cases", []):
            if isinstance(entry, dict) and isinstance(entry.get("case_id"), int):
                records[entry["case_id"]] = PurgeRecord(event.seq, event.occurred_dt, entry)
    return records


def verify_tombstones(report: ChainReport, heads, tombstones: dict[int, CaseTombstone],
                      purges: dict[int, PurgeRecord]) -> None:
    """Each tombstone stands for a case that is gone, and says what its purge event recorded.
    (Its first-event hash is checked against the case ledger with the ledger.)"""
    for case_id, tombstone in tombstones.items():
        if case_id in heads:
            report.problems.append(ChainProblem(case_id, None, "has a tombstone but the case still exists"))
        record = purges.get(case_id)
        if record is None:
            report.problems.append(ChainProblem(
                case_id, None, "tombstone matches no purge event of the system log (forged tombstone)"))
            continue
        if tombstone.purge_event_seq != record.event_seq:
            report.problems.append(ChainProblem(
                case_id, None, f"tombstone cites system log event {tombstone.purge_event_seq}, but the case was "
                               f"purged by event {record.event_seq} (tombstone edited)"))
        differing = sorted(key for key, value in tombstone_entry(tombstone).items() if record.entry.get(key) != value)
        if format_dt(tombstone.purged_dt) != format_dt(record.occurred_dt):
            differing.append("purged_dt")
        if differing:
            report.problems.append(ChainProblem(
                case_id, None, f"tombstone differs from system log event {record.event_seq} in "
                               f"{', '.join(differing)} (tombstone edited)"))


def missing_tombstone(purges: dict[int, PurgeRecord], case_id: int) -> str:
    """What to say of a case registered in the ledger that neither exists nor has a tombstone."""
    record = purges.get(case_id)
    if record is not None:
        return f"case purged by system log event {record.event_seq} has lost its tombstone (deleted)"
    return "case registered in the ledger no longer exists (deleted)"
