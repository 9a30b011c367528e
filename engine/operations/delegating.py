"""Setting and cancelling out-of-office delegations (委托/代理); what they do is engine.org.delegations.

A person names a deputy for himself; an admin may name one for someone absent at a unit under
him. Each is logged in the system log and the deputy is told.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from engine.audit.system_log import append_system_event
from engine.base.config import LOCAL_TZ
from engine.base.db import utcnow
from engine.base.errors import InvalidAction, NotFound, PermissionDenied, ValidationFailed
from engine.base.inputs import clean_note
from engine.notify.notifications import Message, notify
from engine.org.admin import admin_paths
from engine.org.delegations import Delegation, overlapping
from engine.org.units import ROLE_LABELS, Actor, Grant, OrgUnit, RoleAssignment, User, subtree_clause

# Who holds tasks, and so may hand them to a deputy.
DELEGABLE_ROLES = ("reviewer",)
LONGEST = timedelta(days=366)
MAX_REASON_LENGTH = 200


@dataclass(frozen=True)
class DelegationView:
    id: int
    principal_id: int
    principal_name: str
    deputy_id: int
    deputy_name: str
    role: str
    unit_id: int
    unit_name: str
    starts_on: date
    ends_on: date
    reason: str | None
    cancelled: bool
    running: bool


def delegations_concerning(session: Session, user_id: int, today: date, *,
                           unit_paths: list[str] = ()) -> list[DelegationView]:
    """Delegations given by or to the person, or (for an admin) at the units under ``unit_paths``,
    not ended before ``today``, latest first."""
    whose = or_(Delegation.principal_id == user_id, Delegation.deputy_id == user_id,
                *(subtree_clause(OrgUnit.path, path) for path in unit_paths))
    return _views(session, (whose, Delegation.ends_on >= today), today)


def _views(session: Session, conditions, today: date) -> list[DelegationView]:
    principal, deputy = aliased(User), aliased(User)
    rows = session.execute(
        select(Delegation, principal.display_name, deputy.display_name, OrgUnit.name)
        .join(principal, principal.id == Delegation.principal_id).join(deputy, deputy.id == Delegation.deputy_id)
        .join(OrgUnit, OrgUnit.id == Delegation.unit_id)
        .where(*conditions)
        .order_by(Delegation.starts_on.desc(), Delegation.id.desc()).limit(200)).all()
    return [DelegationView(d.id, d.principal_id, principal_name, d.deputy_id, deputy_name, d.role, d.unit_id,
                           unit_name, d.starts_on, d.ends_on, d.reason, d.cancelled_dt is not None, d.runs_on(today))
            for d, principal_name, deputy_name, unit_name in rows]


def delegation_view(session: Session, delegation: Delegation, now: datetime | None = None) -> DelegationView:
    """One delegation as the lists show it (the one just set or ended)."""
    [view] = _views(session, (Delegation.id == delegation.id,), (now or utcnow()).astimezone(LOCAL_TZ).date())
    return view


def delegate(session: Session, actor: Actor, *, deputy_id: int | None, role: str | None, unit_id: int | None,
             starts_on: date | None, ends_on: date | None, reason: str | None = None,
             principal_id: int | None = None, now: datetime | None = None) -> Delegation:
    """``principal_id`` (the actor when None) is away from ``starts_on`` to ``ends_on``: the deputy,
    of the same role at the same unit, stands in for him meanwhile."""
    now = now or utcnow()
    principal_id = actor.user_id if principal_id is None else principal_id
    grant = _grant_to_delegate(session, actor, principal_id, role, unit_id)
    errors: dict[str, list[str]] = {}
    today = now.astimezone(LOCAL_TZ).date()
    if starts_on is None:
        errors["starts_on"] = ["请填写开始日期"]
    if ends_on is None:
        errors["ends_on"] = ["请填写结束日期"]
    elif ends_on < today:
        errors["ends_on"] = ["结束日期不能早于今天"]
    elif starts_on is not None and ends_on < starts_on:
        errors["ends_on"] = ["结束日期不能早于开始日期"]
    elif starts_on is not None and ends_on - starts_on > LONGEST:
        errors["ends_on"] = ["一次委托最长一年"]
    try:
        reason = clean_note(reason, field="reason", label="委托事由", max_length=MAX_REASON_LENGTH)
    except ValidationFailed as refused:
        errors |= refused.fields
    deputy = _colleague(session, deputy_id, principal_id, role, unit_id)
    if deputy is None:
        errors["deputy_id"] = ["代理人须是本单位同一角色的其他在岗人员"]
    if errors:
        raise ValidationFailed(errors)
    clash = overlapping(session, principal_id, role, unit_id, starts_on, ends_on)
    if clash is not None:
        raise InvalidAction(f"{clash.starts_on.isoformat()} 至 {clash.ends_on.isoformat()} 已有委托，请先取消再重新设置")
    delegation = Delegation(principal_id=principal_id, deputy_id=deputy.id, role=role, unit_id=unit_id,
                            starts_on=starts_on, ends_on=ends_on, reason=reason, created_by_id=actor.user_id,
                            created_dt=now)
    session.add(delegation)
    session.flush()
    principal = session.get(User, principal_id)
    unit = session.get(OrgUnit, unit_id)
    append_system_event(session, actor=actor, grant=grant, action="delegate", now=now, details=_logged(delegation))
    why = f"事由：{reason}。" if reason else ""
    notify(session, [(deputy.id, Message(
        kind="delegated", key=f"delegation:{delegation.id}",
        subject=f"【委托代理】{principal.display_name} 委托您代为办理",
        body=(f"{principal.display_name}（{unit.name}{ROLE_LABELS.get(role, role)}）"
              f"{starts_on.isoformat()} 至 {ends_on.isoformat()} 不在岗，由您代为办理其待办；"
              f"期间由其办理的案件会出现在您的「我的待办」中，您办理时记为「代 {principal.display_name}」。{why}")))], now)
    return delegation


def cancel_delegation(session: Session, actor: Actor, delegation_id: int, now: datetime | None = None) -> Delegation:
    """Ends a delegation now (the principal is back early, or it was a mistake)."""
    now = now or utcnow()
    delegation = session.get(Delegation, delegation_id)
    grant = None
    if delegation is not None:
        grant = _grant_to_delegate(session, actor, delegation.principal_id, delegation.role, delegation.unit_id,
                                   or_deputy=delegation.deputy_id)
    if delegation is None or grant is None:
        raise NotFound("委托不存在")
    if delegation.cancelled_dt is not None or delegation.ends_on < now.astimezone(LOCAL_TZ).date():
        raise InvalidAction("该委托已结束")
    delegation.cancelled_dt = now
    session.flush()
    append_system_event(session, actor=actor, grant=grant, action="cancel_delegation", now=now,
                        details=_logged(delegation))
    return delegation


def _grant_to_delegate(session: Session, actor: Actor, principal_id: int, role: str | None, unit_id: int | None,
                       *, or_deputy: int | None = None) -> Grant | None:
    """The actor's grant for delegating the principal's ``role`` at the unit: his own, or an admin's
    over the unit (refused otherwise; for a cancel, the deputy's too)."""
    if role not in DELEGABLE_ROLES:
        raise ValidationFailed({"role": ["只有审核人可以委托他人代理"]})
    if actor.user_id in (principal_id, or_deputy):
        own = next((g for g in actor.grants_for(role) if g.unit_id == unit_id), None)
        if own is not None:
            return own
    if actor.grants_for("admin"):
        under = or_(*(subtree_clause(OrgUnit.path, path) for path in admin_paths(actor)))
        if session.scalar(select(OrgUnit.id).where(OrgUnit.id == unit_id, under)) is not None:
            return actor.grants_for("admin")[0]
    if or_deputy is not None:
        return None
    if actor.user_id == principal_id:
        raise ValidationFailed({"unit_id": ["您在该单位没有这一角色"]})
    raise PermissionDenied("只能为自己设置委托；管理员可为本单位及下级单位的人员设置")


def _colleague(session: Session, deputy_id: int | None, principal_id: int, role: str, unit_id: int) -> User | None:
    if deputy_id is None or deputy_id == principal_id:
        return None
    return session.scalar(select(User).join(RoleAssignment, RoleAssignment.user_id == User.id).where(
        User.id == deputy_id, User.is_active.is_(True), RoleAssignment.role == role,
        RoleAssignment.org_unit_id == unit_id))


def _logged(delegation: Delegation) -> dict:
    return {"delegation_id": delegation.id, "principal_id": delegation.principal_id,
            "deputy_id": delegation.deputy_id, "role": delegation.role, "unit_id": delegation.unit_id,
            "starts_on": delegation.starts_on.isoformat(), "ends_on": delegation.ends_on.isoformat()}


def delegations_for(session: Session, actor: Actor, now: datetime | None = None) -> list[DelegationView]:
    """The delegations the actor gave or was given, and for an admin those under him; current and
    coming ones."""
    if actor.user_id is None:
        raise PermissionDenied("只有登录用户可以查看委托")
    today = (now or utcnow()).astimezone(LOCAL_TZ).date()
    return delegations_concerning(session, actor.user_id, today,
                                  unit_paths=[grant.unit_path for grant in actor.grants_for("admin")])


def deputy_choices(session: Session, actor: Actor) -> list[tuple[Grant, list[tuple[int, str]]]]:
    """For each of the actor's roles that hold tasks: the colleagues who may stand in for him."""
    choices = []
    for grant in (g for role in DELEGABLE_ROLES for g in actor.grants_for(role)):
        colleagues = session.execute(
            select(User.id, User.display_name).join(RoleAssignment, RoleAssignment.user_id == User.id)
            .where(RoleAssignment.role == grant.role, RoleAssignment.org_unit_id == grant.unit_id,
                   User.is_active.is_(True), User.id != actor.user_id).order_by(User.display_name, User.id)).all()
        choices.append((grant, [tuple(row) for row in colleagues]))
    return choices


def principal_choices(session: Session, actor: Actor) -> list[tuple[int, str, str, int, str, list[tuple[int, str]]]]:
    """For an admin: the people at the units under him who hold tasks, as (id, name, role, unit id,
    unit name, colleagues who may stand in), so he can set a delegation for someone absent."""
    if not actor.grants_for("admin"):
        return []
    under = or_(*(subtree_clause(OrgUnit.path, path) for path in admin_paths(actor)))
    rows = session.execute(
        select(User.id, User.display_name, RoleAssignment.role, OrgUnit.id, OrgUnit.name)
        .join(RoleAssignment, RoleAssignment.user_id == User.id).join(OrgUnit, OrgUnit.id == RoleAssignment.org_unit_id)
        .where(RoleAssignment.role.in_(DELEGABLE_ROLES), User.is_active.is_(True), under)
        .order_by(OrgUnit.path, User.display_name).limit(500)).all()
    by_post: dict[tuple[str, int], list[tuple[int, str]]] = {}
    for user_id, name, role, unit_id, _unit_name in rows:
        by_post.setdefault((role, unit_id), []).append((user_id, name))
    return [(user_id, name, role, unit_id, unit_name,
             [person for person in by_post[(role, unit_id)] if person[0] != user_id])
            for user_id, name, role, unit_id, unit_name in rows]
