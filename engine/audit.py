"""Append-only, hash-chained audit trail.

Each case has its own chain: event n carries the SHA-256 of event n-1, and the case
row keeps the chain's head (last sequence number and hash). Chains of different
cases never touch, so appending never waits on unrelated cases.

So that deleting a whole case (row and events) is detected too, every new case is
registered in a case ledger: 16 independent hash chains of genesis events, a case
going to shard ``case_id % 16``. Only case creation touches a ledger head, and two
creations contend only when they land in the same shard.

Canonical serialization (what the hash covers) is documented in README.md.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

import orjson
from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, make_transient_to_detached, mapped_column

from engine.db import Base, JSONDocument, PathString, UTCDateTime
from engine.org import Actor, Grant

GENESIS_HASH = "0" * 64
LEDGER_SHARDS = 16


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("case_id", "seq"),
        CheckConstraint("seq >= 1", name="seq_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(63))
    from_state: Mapped[str | None] = mapped_column(String(63))
    to_state: Mapped[str | None] = mapped_column(String(63))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    actor_name: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str | None] = mapped_column(String(20))
    actor_unit_id: Mapped[int | None] = mapped_column(Integer)
    actor_unit_name: Mapped[str | None] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)
    changes: Mapped[dict | None] = mapped_column(JSONDocument)
    details: Mapped[dict | None] = mapped_column(JSONDocument)
    occurred_dt: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class CaseLedgerHead(Base):
    __tablename__ = "case_ledger_heads"

    shard: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


class CaseLedgerEntry(Base):
    __tablename__ = "case_ledger_entries"
    __table_args__ = (CheckConstraint("seq >= 1", name="seq_positive"),)

    shard: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    # No foreign key: the entry outlives a case lawfully purged (its tombstone answers for it).
    case_id: Mapped[int] = mapped_column(Integer, unique=True)
    genesis_hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class CaseTombstone(Base):
    """What remains of a case purged after its retention period: enough to keep the case ledger
    verifiable (its first event's hash) and to show that its whole trail existed (its head).
    The purge itself is an event of the system log (``purge_event_seq``)."""

    __tablename__ = "case_tombstones"

    case_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(63))
    origin_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    origin_path: Mapped[str] = mapped_column(PathString)
    closed_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    purged_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    audit_seq: Mapped[int] = mapped_column(Integer)
    audit_head: Mapped[str] = mapped_column(String(64))
    genesis_hash: Mapped[str] = mapped_column(String(64))
    purge_event_seq: Mapped[int] = mapped_column(Integer)


def ledger_head_rows() -> list[dict]:
    return [{"shard": shard, "seq": 0, "hash": GENESIS_HASH} for shard in range(LEDGER_SHARDS)]


@event.listens_for(CaseLedgerHead.__table__, "after_create")
def _seed_ledger_heads(table, connection, **kwargs):
    connection.execute(insert(table), ledger_head_rows())


# --- Canonical form and hashing -------------------------------------------------------------------

def format_dt(value: datetime) -> str:
    """UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (isoformat: several times faster than strftime)."""
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")[:-6] + "Z"


def canonical_bytes(payload: dict) -> bytes:
    """The canonical JSON (README.md, "Audit trail format"). orjson writes the same bytes as
    ``json.dumps(sort_keys=True, ensure_ascii=False, separators=(",", ":"))`` for all the trail
    holds (strings, integers, booleans, null; never floats), several times faster, which the
    exports of a million events need; what it refuses (integers beyond 64 bits, keys that are
    not strings) goes through json as before."""
    try:
        return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sha256_hex(payload: dict) -> str:
    return hashlib.sha256(canonical_bytes(payload)).hexdigest()


def event_payload(e: AuditEvent) -> dict:
    """Every column but ``id`` and ``hash``, in JSON types: what the event hash covers."""
    return {
        "case_id": e.case_id,
        "seq": e.seq,
        "action": e.action,
        "from_state": e.from_state,
        "to_state": e.to_state,
        "actor_id": e.actor_id,
        "actor_name": e.actor_name,
        "actor_role": e.actor_role,
        "actor_unit_id": e.actor_unit_id,
        "actor_unit_name": e.actor_unit_name,
        "comment": e.comment,
        "changes": e.changes,
        "details": e.details,
        "occurred_dt": format_dt(e.occurred_dt),
        "prev_hash": e.prev_hash,
    }


def ledger_payload(entry: CaseLedgerEntry) -> dict:
    return {
        "shard": entry.shard,
        "seq": entry.seq,
        "case_id": entry.case_id,
        "genesis_hash": entry.genesis_hash,
        "prev_hash": entry.prev_hash,
    }


# --- Appending ------------------------------------------------------------------------------------

def append_event(
    session: Session,
    case,
    *,
    actor: Actor,
    grant: Grant | None,
    action: str,
    now: datetime,
    from_state: str | None = None,
    to_state: str | None = None,
    comment: str | None = None,
    changes: dict | None = None,
    details: dict | None = None,
) -> AuditEvent:
    """Write the case's next event and move the case's chain head.

    The case row is flushed first: its optimistic version check decides a race before the
    event exists, and locks are always taken case first. The event goes in through one
    prebuilt INSERT (the hot path of every transition, see bench/README.md) and is then
    attached to the session as an ordinary persistent object.
    """
    entry = AuditEvent(
        case_id=case.id,
        seq=case.audit_seq + 1,
        action=action,
        from_state=from_state,
        to_state=to_state,
        actor_id=actor.user_id,
        actor_name=actor.name,
        actor_role=grant.role if grant else None,
        actor_unit_id=grant.unit_id if grant else None,
        actor_unit_name=grant.unit_name if grant else None,
        comment=comment,
        changes=changes or None,
        details=details or None,
        occurred_dt=now,
        prev_hash=case.audit_head or GENESIS_HASH,
    )
    entry.hash = sha256_hex(event_payload(entry))
    case.audit_seq = entry.seq
    case.audit_head = entry.hash
    session.flush()
    row = {column: getattr(entry, column) for column in _EVENT_COLUMNS}
    entry.id = session.connection().execute(_INSERT_EVENT, row).scalar_one()
    make_transient_to_detached(entry)
    session.add(entry)
    return entry


_EVENT_COLUMNS = [c.name for c in AuditEvent.__table__.columns if c.name != "id"]
_INSERT_EVENT = insert(AuditEvent.__table__).returning(AuditEvent.__table__.c.id)


def register_case(session: Session, case_id: int, genesis_hash: str) -> CaseLedgerEntry:
    """Append the case's genesis event to its ledger shard.

    The UPDATE comes first so that it takes the shard head's row lock before reading it:
    two creations in one shard then queue up instead of forking the chain.
    """
    shard = case_id % LEDGER_SHARDS
    seq, prev_hash = session.execute(
        update(CaseLedgerHead)
        .where(CaseLedgerHead.shard == shard)
        .values(seq=CaseLedgerHead.seq + 1)
        .returning(CaseLedgerHead.seq, CaseLedgerHead.hash)
    ).one()
    entry = CaseLedgerEntry(shard=shard, seq=seq, case_id=case_id, genesis_hash=genesis_hash, prev_hash=prev_hash)
    entry.hash = sha256_hex(ledger_payload(entry))
    session.execute(update(CaseLedgerHead).where(CaseLedgerHead.shard == shard).values(hash=entry.hash))
    session.add(entry)
    return entry


def acted_in_current_state(session: Session, case, role: str, unit_id: int) -> bool:
    """Has ``role`` at ``unit_id`` (or the system) acted since the case entered its state?"""
    entered = (
        select(func.max(AuditEvent.seq))
        .where(AuditEvent.case_id == case.id, AuditEvent.to_state.is_not(None))
        .scalar_subquery()
    )
    return session.scalar(
        select(AuditEvent.id)
        .where(
            AuditEvent.case_id == case.id,
            AuditEvent.seq > entered,
            or_(AuditEvent.actor_id.is_(None),
                and_(AuditEvent.actor_role == role, AuditEvent.actor_unit_id == unit_id)),
        )
        .limit(1)
    ) is not None


def case_events(session: Session, case_id: int) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq)))


# --- Verification ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChainProblem:
    case_id: int | None
    seq: int | None
    message: str

    def __str__(self) -> str:
        where = " ".join(
            part for part in (f"case {self.case_id}" if self.case_id is not None else "",
                              f"event {self.seq}" if self.seq is not None else "") if part
        )
        return f"{where}: {self.message}" if where else self.message


@dataclass
class ChainReport:
    cases_checked: int = 0
    events_checked: int = 0
    system_events_checked: int = 0
    # Ledger entries whose case was lawfully purged: a tombstone with the same first-event hash.
    cases_purged: int = 0
    problems: list[ChainProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_audit_chain(session: Session, case_ids: Iterable[int] | None = None) -> ChainReport:
    """Recompute every hash and link; detect edited, deleted, inserted or reordered events,
    a case's deleted latest events (head mismatch) and a wholly deleted case (ledger). A case
    gone with a tombstone matching its ledger entry and its purge event was lawfully purged.

    With ``case_ids`` only those cases (and their ledger entries) are checked. Rows are
    always read from the database, never from the session's copies of them, so that the
    check sees what is stored even in a session that wrote or loaded those rows.
    """
    from engine.cases import Case

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
    from engine.retention import purges_in_system_log, verify_tombstones  # retention is built on this module

    tombstones = _tombstones(session, wanted)
    purges = purges_in_system_log(session)
    _verify_ledger(session, report, heads, genesis, wanted, tombstones, purges)
    verify_tombstones(report, heads, tombstones, purges)
    if wanted is None:
        from engine.audit_log import verify_system_log  # the system log is built on this module

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
    from engine.retention import missing_tombstone

    if tombstone is None:
        report.problems.append(ChainProblem(entry.case_id, None, missing_tombstone(purges, entry.case_id)))
    elif tombstone.genesis_hash != entry.genesis_hash:
        report.problems.append(ChainProblem(
            entry.case_id, None, "tombstone's first-event hash differs from the one registered in the ledger "
                                 "(tombstone or ledger edited)"))
    else:
        report.cases_purged += 1
