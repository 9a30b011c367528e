"""The system log: a hash-chained trail of what is done to the audit trail itself and not to
one case — exports of audit events (and the use of full personal data in them), signing keys
created, lawful purges of expired cases.

One chain for the whole deployment: event n carries the SHA-256 of event n-1 and the head
row (``system_log_head``) keeps the last sequence number and hash, so a deleted latest event
is detected as for a case. These events are rare (an export, a purge), so the single head
row they queue on costs nothing; case transitions never touch it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterator

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, event, insert, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.audit.chain import GENESIS_HASH, ChainProblem, ChainReport, format_dt, sha256_hex
from engine.base.db import Base, JSONDocument, PathString, UTCDateTime
from engine.org.units import Actor, Grant, subtree_clause

# What the system log records, in words.
SYSTEM_EVENT_LABELS = {
    "export": "导出审计记录",
    "create_signing_key": "创建签名密钥",
    "purge": "依法销毁到期案件",
    "delegate": "设置委托代理",
    "cancel_delegation": "结束委托代理",
}


class SystemEvent(Base):
    __tablename__ = "system_events"
    __table_args__ = (CheckConstraint("seq >= 1", name="seq_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    action: Mapped[str] = mapped_column(String(63))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    actor_name: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str | None] = mapped_column(String(20))
    actor_unit_id: Mapped[int | None] = mapped_column(Integer)
    actor_unit_name: Mapped[str | None] = mapped_column(String(100))
    # Whose subtree the event belongs to: auditors of this unit or above read it.
    actor_unit_path: Mapped[str | None] = mapped_column(PathString, index=True)
    details: Mapped[dict | None] = mapped_column(JSONDocument)
    occurred_dt: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class SystemLogHead(Base):
    __tablename__ = "system_log_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


@event.listens_for(SystemLogHead.__table__, "after_create")
def _seed_head(table, connection, **kwargs):
    connection.execute(insert(table), [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])


def system_event_payload(e: SystemEvent) -> dict:
    """Every column but ``id`` and ``hash``, in JSON types: what the event hash covers."""
    return {
        "seq": e.seq,
        "action": e.action,
        "actor_id": e.actor_id,
        "actor_name": e.actor_name,
        "actor_role": e.actor_role,
        "actor_unit_id": e.actor_unit_id,
        "actor_unit_name": e.actor_unit_name,
        "actor_unit_path": e.actor_unit_path,
        "details": e.details,
        "occurred_dt": format_dt(e.occurred_dt),
        "prev_hash": e.prev_hash,
    }


def append_system_event(
    session: Session, *, actor: Actor | None, grant: Grant | None, action: str, now: datetime,
    details: dict | None = None,
) -> SystemEvent:
    """Write the system log's next event. The head's UPDATE comes first so that it takes the
    head row's lock before reading it: two writers queue instead of forking the chain.
    ``actor`` None is the operator at the command line (no account)."""
    seq, prev_hash = session.execute(
        update(SystemLogHead).where(SystemLogHead.id == 1)
        .values(seq=SystemLogHead.seq + 1)
        .returning(SystemLogHead.seq, SystemLogHead.hash)
    ).one()
    entry = SystemEvent(
        seq=seq, action=action,
        actor_id=actor.user_id if actor else None,
        actor_name=actor.name if actor else "命令行操作员",
        actor_role=grant.role if grant else None,
        actor_unit_id=grant.unit_id if grant else None,
        actor_unit_name=grant.unit_name if grant else None,
        actor_unit_path=grant.unit_path if grant else None,
        details=details or None,
        occurred_dt=now,
        prev_hash=prev_hash,
    )
    entry.hash = sha256_hex(system_event_payload(entry))
    session.execute(update(SystemLogHead).where(SystemLogHead.id == 1).values(hash=entry.hash))
    session.add(entry)
    session.flush()
    return entry


# --- Reading ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SystemLogPage:
    events: list[SystemEvent]
    next_before: int | None


def system_log_page(session: Session, paths: list[str], *, before_seq: int | None = None,
                    limit: int = 50) -> SystemLogPage:
    """The system events of people acting within ``paths`` (an auditor's subtrees), and those
    of the command-line operator (no unit: they concern the whole deployment), newest first."""
    query = select(SystemEvent).where(or_(
        SystemEvent.actor_unit_path.is_(None),
        *(subtree_clause(SystemEvent.actor_unit_path, path) for path in paths),
    ))
    if before_seq is not None:
        query = query.where(SystemEvent.seq < before_seq)
    events = list(session.scalars(query.order_by(SystemEvent.seq.desc()).limit(limit + 1)))
    more = len(events) > limit
    events = events[:limit]
    return SystemLogPage(events, events[-1].seq if more else None)


def system_events(session: Session) -> Iterator[SystemEvent]:
    yield from session.scalars(select(SystemEvent).order_by(SystemEvent.seq)
                               .execution_options(yield_per=2000, populate_existing=True))


# --- Verification ----------------------------------------------------------------------------------

def verify_system_log(session: Session, report: ChainReport) -> None:
    """Recompute every system event's hash and link, and compare the chain's end with its head."""
    expected, prev = 0, GENESIS_HASH
    for e in system_events(session):
        expected += 1
        where = f"system log event {e.seq}"
        if e.seq != expected:
            missing = f"event {expected}" if e.seq == expected + 1 else f"events {expected}-{e.seq - 1}"
            report.problems.append(ChainProblem(None, None, f"{where}: system log {missing} missing before it (deleted)"))
            expected = e.seq
        elif e.prev_hash != prev:
            report.problems.append(ChainProblem(None, None, f"{where}: does not link to the event before it"))
        if sha256_hex(system_event_payload(e)) != e.hash:
            report.problems.append(ChainProblem(None, None, f"{where}: content does not match its hash (edited)"))
        prev = e.hash
    report.system_events_checked = expected
    head = session.scalar(select(SystemLogHead).execution_options(populate_existing=True))
    if head is None:
        report.problems.append(ChainProblem(None, None, "the system log head is missing"))
    elif head.seq != expected or head.hash != prev:
        report.problems.append(ChainProblem(
            None, None, f"the system log ends at event {expected} but its head records {head.seq} "
                        "(latest events deleted or head altered)"))


PURGE = "purge"  # the system log's action for a purge run
