"""Retention periods and the lawful purge of closed cases whose period has run out.

A definition may say how long its closed cases are kept (``retention: {years_after_closing: N}``);
without it they are kept for ever. A case is kept through the N-th anniversary of the day it
was closed (local calendar; 29 February counts to 28 February) and may be purged from the next
day on. The period is read from the definition version the case is pinned to, so a changed
file never shortens the period of cases already under it.

A purge deletes every row about the case and leaves a tombstone in its place: the case ledger
keeps the entry with the case's first event hash, the tombstone repeats that hash and the
trail's last head, and the run is one ``purge`` event of the system log listing each case. So
verification can tell a lawful purge from a deleted case (engine.cases.integrity.verify_audit_chain).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.audit.chain import AuditEvent, CaseTombstone, tombstone_entry
from engine.audit.system_log import PURGE, append_system_event
from engine.base.config import LOCAL_TZ
from engine.base.db import Base
from engine.base.errors import InvalidAction, PermissionDenied, ValidationFailed
from engine.cases.attachments import Attachment, FileStore
from engine.cases.case import Case
from engine.cases.integrity import verify_audit_chain
from engine.cases.permissions import covers
from engine.definitions.store import current_definition, definition_by_hash
from engine.org.units import Actor, Grant

# --- The period -----------------------------------------------------------------------------------

def retention_ends(closed_dt: datetime, years: int) -> datetime:
    """The moment (UTC) from which a case closed at ``closed_dt`` and kept ``years`` may be purged:
    local midnight after the N-th anniversary of its closing day."""
    closed_on = closed_dt.astimezone(LOCAL_TZ).date()
    return datetime.combine(_add_years(closed_on, years) + timedelta(days=1), time(), tzinfo=LOCAL_TZ) \
        .astimezone(timezone.utc)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


def purge_refusal(session: Session, case: Case, now: datetime) -> str | None:
    """Why ``case`` may not be purged at ``now``, in words; None when it may."""
    if case.closed_dt is None:
        return "案件尚未办结，不能销毁"
    definition = case.definition
    if definition.retention_years is None:
        return f"「{definition.label}」未规定保存期限，永久保存，不能销毁"
    ends = retention_ends(case.closed_dt, definition.retention_years)
    if now < ends:
        return (f"{_local_day(case.closed_dt)} 办结，保存期限 {definition.retention_years} 年，"
                f"自 {_local_day(ends)} 起方可销毁")
    return None


def _local_day(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).date().isoformat()


def purgeable_cases(session: Session, *, kind: str | None = None, now: datetime) -> list[Case]:
    """Closed cases (of ``kind``, or of every kind) whose retention period has run out at ``now``,
    by id. Whether a kept case still links to one is the plan's question (``plan_purge``)."""
    versions = select(Case.definition_hash).distinct().where(Case.closed_dt.is_not(None))
    if kind is not None:
        versions = versions.where(Case.kind == kind)
    due: list[Case] = []
    for content_hash in list(session.scalars(versions)):
        years = definition_by_hash(session, content_hash).retention_years
        if years is None:
            continue
        # N calendar years are at least 365·N days: a cheap bound before the exact day is checked.
        bound = now - timedelta(days=365 * years)
        query = select(Case).where(Case.definition_hash == content_hash, Case.closed_dt < bound)
        due += [case for case in session.scalars(query) if retention_ends(case.closed_dt, years) <= now]
    return sorted(due, key=lambda case: case.id)


# --- The plan: what a purge would delete, and what it refuses -------------------------------------

@dataclass(frozen=True)
class Refusal:
    case_id: int
    reason: str

    def __str__(self) -> str:
        return f"案件 {self.case_id}：{self.reason}"


@dataclass(frozen=True)
class PurgePlan:
    cases: tuple[Case, ...]
    refusals: tuple[Refusal, ...]
    # Cases were named: a refusal then stops the whole run, nothing is purged.
    named: bool


class PurgeRefused(InvalidAction):
    """A named case may not be purged; nothing was."""

    def __init__(self, refusals: Iterable[Refusal]):
        self.refusals = tuple(refusals)
        super().__init__("以下案件不能销毁，本次未销毁任何案件：" + "；".join(map(str, self.refusals)))


def plan_purge(session: Session, *, case_ids: Iterable[int] | None = None, kind: str | None = None,
               now: datetime, lock: bool = False) -> PurgePlan:
    """What purging the named cases (or every case of ``kind`` past its period) at ``now`` would
    delete, and each case refused with why. Changes nothing; ``lock`` takes the cases' row locks
    (for the purge itself)."""
    named = sorted(set(case_ids or ()))
    if not named and kind is None:
        raise ValidationFailed({"cases": ["请指定要销毁的案件或业务类型"]})
    if kind is not None:
        current_definition(session, kind)  # an unknown kind is an error, not an empty plan
    if named:
        eligible, refusals = _named(session, named, kind, now, lock)
    else:
        candidates = purgeable_cases(session, kind=kind, now=now)
        if lock:
            candidates = _locked(session, [case.id for case in candidates])
        eligible, refusals = {case.id: case for case in candidates}, []
    refusals += _refuse_linked(session, eligible)
    return PurgePlan(tuple(eligible.values()), tuple(refusals), bool(named))


def _locked(session: Session, ids: list[int]) -> list[Case]:
    # Closed cases do not move, but a new case may start linked to one (a yearly re-check):
    # the row lock makes that wait for the purge (or the purge for it).
    query = select(Case).where(Case.id.in_(ids)).order_by(Case.id)
    return list(session.scalars(query.with_for_update().execution_options(populate_existing=True)))


def _named(session: Session, ids: list[int], kind: str | None, now: datetime,
           lock: bool) -> tuple[dict[int, Case], list[Refusal]]:
    found = {case.id: case for case in (_locked(session, ids) if lock else
                                        session.scalars(select(Case).where(Case.id.in_(ids))))}
    eligible, refusals = {}, []
    for case_id in ids:
        case = found.get(case_id)
        if case is None:
            refusals.append(Refusal(case_id, _missing(session, case_id)))
        elif kind is not None and case.kind != kind:
            refusals.append(Refusal(case_id, f"不是「{current_definition(session, kind).label}」案件"))
        elif reason := purge_refusal(session, case, now):
            refusals.append(Refusal(case_id, reason))
        else:
            eligible[case_id] = case
    return eligible, refusals


def _missing(session: Session, case_id: int) -> str:
    tombstone = session.get(CaseTombstone, case_id)
    return f"已于 {_local_day(tombstone.purged_dt)} 销毁" if tombstone else "案件不存在"


def _refuse_linked(session: Session, eligible: dict[int, Case]) -> list[Refusal]:
    """Take out of ``eligible`` each case a kept case links to (a re-check to its file, a
    revocation to its nomination): the kept one would point at nothing. A case taken out is
    kept in turn, so this repeats until no kept case links into what is left."""
    refusals = []
    while eligible:
        linkers = session.execute(
            select(Case.id, Case.linked_case_id).where(Case.linked_case_id.in_(list(eligible)),
                                                       Case.id.not_in(list(eligible))).order_by(Case.id)
        ).all()
        if not linkers:
            break
        for linker_id, target_id in linkers:
            if eligible.pop(target_id, None) is not None:
                refusals.append(Refusal(target_id, f"案件 {linker_id} 与之关联且不在本次销毁之列，须一并销毁或一并保留"))
    return refusals


# --- The purge ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PurgeResult:
    tombstones: tuple[CaseTombstone, ...]
    refusals: tuple[Refusal, ...]  # by kind only: named cases are refused by raising
    event_seq: int | None  # the system log's purge event; None when nothing was due
    # Attachment files (SHA-256) no remaining row cites: delete them after the commit.
    freed_files: tuple[str, ...]


def purge_cases(session: Session, actor: Actor | None, *, case_ids: Iterable[int] | None = None,
                kind: str | None = None, reason: str, now: datetime) -> PurgeResult:
    """Purge the named cases, or every case of ``kind`` whose retention period has run out.

    Named cases are all purged or none: any refused one (open, kept for ever, inside its period,
    linked from a kept case) raises PurgeRefused naming each. By kind, the cases a kept case
    links to are left and reported. ``actor`` None is the operator at the command line; a person
    must be an admin of a unit covering every case. Flushes, never commits; the freed files are
    for the caller to delete once the commit has succeeded (``delete_freed_files``).
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": ["请写明销毁的理由和依据"]})
    plan = plan_purge(session, case_ids=case_ids, kind=kind, now=now, lock=True)
    if plan.named and plan.refusals:
        raise PurgeRefused(plan.refusals)
    if not plan.cases:
        return PurgeResult((), plan.refusals, None, ())
    grant = _purging_grant(actor, plan.cases)
    ids = [case.id for case in plan.cases]
    _require_intact(session, ids)
    tombstones = _tombstones(session, plan.cases, now)
    event = append_system_event(session, actor=actor, grant=grant, action=PURGE, now=now, details={
        "reason": reason, "kind": kind, "cases": [tombstone_entry(t) for t in tombstones],
    })
    for tombstone in tombstones:
        tombstone.purge_event_seq = event.seq
    freed = _delete_case_rows(session, ids)
    session.add_all(tombstones)
    session.flush()
    return PurgeResult(tuple(tombstones), plan.refusals, event.seq, freed)


def _purging_grant(actor: Actor | None, cases: Iterable[Case]) -> Grant | None:
    if actor is None:
        return None
    for grant in actor.grants_for("admin"):
        if all(covers(grant, case) for case in cases):
            return grant
    raise PermissionDenied("只有管理员可以销毁其所辖单位的到期案件")


def _require_intact(session: Session, ids: list[int]) -> None:
    """A purge must not carry tampering away with the evidence: the trails are checked first."""
    report = verify_audit_chain(session, ids)
    if not report.ok:
        raise InvalidAction("审计记录校验未通过，不能销毁：" + "；".join(map(str, report.problems)))


def _tombstones(session: Session, cases: Iterable[Case], now: datetime) -> list[CaseTombstone]:
    cases = list(cases)
    genesis = dict(session.execute(
        select(AuditEvent.case_id, AuditEvent.hash).where(AuditEvent.case_id.in_([c.id for c in cases]),
                                                          AuditEvent.seq == 1)
    ).all())
    return [CaseTombstone(
        case_id=case.id, kind=case.kind, origin_unit_id=case.origin_unit_id, origin_path=case.origin_path,
        closed_dt=case.closed_dt, purged_dt=now, audit_seq=case.audit_seq, audit_head=case.audit_head,
        genesis_hash=genesis[case.id],
    ) for case in cases]


def _delete_case_rows(session: Session, ids: list[int]) -> tuple[str, ...]:
    """Delete the cases and every row that references them; return the files no longer cited.
    The ORM deletes also take the session's copies of those rows out of it."""
    files = set(session.scalars(select(Attachment.sha256).where(Attachment.case_id.in_(ids))))
    for model, column in _case_bound_models():
        session.execute(delete(model).where(column.in_(ids)))
    session.execute(delete(Case).where(Case.id.in_(ids)))
    still_cited = set(session.scalars(select(Attachment.sha256).where(Attachment.sha256.in_(files)))) if files else set()
    return tuple(sorted(files - still_cited))


def _case_bound_models() -> list[tuple[type, object]]:
    """Every mapped table with a foreign key to ``cases`` (but ``cases`` itself), with that column.
    Found from the metadata, so a table added later is purged too (rows that reference those rows
    in turn would stop the purge at its foreign key, loudly)."""
    # The one import against the layers (.importlinter ignores it by name): engine.runtime holds the
    # list of every model, some of them above this module; a purge must see them all.
    from engine.runtime import load_models

    load_models()
    cases = Case.__table__
    models = {mapper.local_table: mapper.class_ for mapper in Base.registry.mappers}
    return [(models[table], fk.parent)
            for table in reversed(Base.metadata.sorted_tables) if table is not cases
            for fk in table.foreign_keys if fk.column.table is cases]


def delete_freed_files(session: Session, store: FileStore, sha256s: Iterable[str]) -> int:
    """After the purge's commit: delete the attachment files it freed, unless an upload committed
    since cites the same content. Returns how many were deleted."""
    sha256s = list(sha256s)
    if not sha256s:
        return 0
    cited = set(session.scalars(select(Attachment.sha256).where(Attachment.sha256.in_(sha256s))))
    deleted = 0
    for sha256 in sha256s:
        path = store.path_for(sha256)
        if sha256 not in cited and path.exists():
            path.unlink()
            deleted += 1
    return deleted


# --- Verification: a tombstone must match the purge event that made it ---------------------------


