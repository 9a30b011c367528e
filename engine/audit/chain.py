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

import orjson
from sqlalchemy import (
    CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint, and_, event, func, insert, or_, select,
    update,
)
from sqlalchemy.orm import Mapped, Session, make_transient_to_detached, mapped_column

from engine.base.db import Base, JSONDocument, PathString, UTCDateTime
from engine.org.units import Actor, Grant

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


def tombstone_entry(tombstone: CaseTombstone) -> dict:
    """What the purge event records of each case: all of its tombstone but the event's own seq and
    time, so an edited tombstone no longer matches the (hash-chained) system log."""
    return {
        "case_id": tombstone.case_id, "kind": tombstone.kind, "origin_unit_id": tombstone.origin_unit_id,
        "origin_path": tombstone.origin_path, "closed_dt": format_dt(tombstone.closed_dt),
        "audit_seq": tombstone.audit_seq, "audit_head": tombstone.audit_head,
        "genesis_hash": tombstone.genesis_hash,
    }
