"""Who may see and act on a case: roles held at units, checked against the case's origin.

``grant_for`` is the single permission function: the compiled state machines use it as
their guard and ``available_actions`` asks the same machines, so inbox buttons and the
engine cannot disagree.
"""
from __future__ import annotations

from typing import Iterable

from sqlalchemy.orm import Session

from engine.base.errors import InvalidAction, NotFound, PermissionDenied
from engine.cases.case import Case
from engine.cases.copies import is_copied
from engine.definitions.spec import Definition, Party
from engine.org.units import SYSTEM_ACTOR, Actor, Grant


def grant_for(actor: Actor, case: Case, party: Party) -> Grant | None:
    """The actor's grant that makes them ``party`` for this case, if any.

    ``origin`` means the case's own unit; any other level means the unit at that level
    in the case's chain of ancestors. The ``system`` party is the engine alone.
    """
    if party.is_system:
        return SYSTEM_GRANT if actor == SYSTEM_ACTOR else None
    for grant in actor.grants:
        if grant.role != party.role:
            continue
        if party.level == "origin":
            if grant.unit_id == case.origin_unit_id:
                return grant
        elif grant.unit_level == party.level and grant.unit_id == case.chain.get(party.level):
            return grant
    return None


# What the engine acts under when it fires a `by: system` transition (timers, objections).
SYSTEM_GRANT = Grant(role="system", unit_id=0, unit_level="system", unit_path="/", unit_name="系统")


def first_grant(actor: Actor, case: Case, parties: Iterable[Party]) -> Grant | None:
    for party in parties:
        grant = grant_for(actor, case, party)
        if grant is not None:
            return grant
    return None


def covers(grant: Grant, case: Case) -> bool:
    """The case originates at the grant's unit or below it."""
    return case.origin_path.startswith(grant.unit_path)


def can_view_case(actor: Actor, case: Case) -> bool:
    """Applicants see their own unit's cases; other roles see their unit's subtree; the engine sees all."""
    if actor == SYSTEM_ACTOR:
        return True
    for grant in actor.grants:
        if grant.role == "applicant":
            if grant.unit_id == case.origin_unit_id:
                return True
        elif covers(grant, case):
            return True
    return False


def sees_personal_data(actor: Actor, case: Case) -> bool:
    """Full ID numbers and accounts are for the case's reviewers (and the engine) only: the
    applicant entered them but reads them back masked, like everyone else."""
    if actor == SYSTEM_ACTOR:
        return True
    return any(grant.role == "reviewer" and covers(grant, case) for grant in actor.grants)


def participant_grant(actor: Actor, case: Case) -> Grant | None:
    """The grant under which the actor takes part in the case (comments): applicant or reviewer."""
    for grant in actor.grants:
        if grant.role == "applicant" and grant.unit_id == case.origin_unit_id:
            return grant
        if grant.role == "reviewer" and covers(grant, case):
            return grant
    return None


def draft_editor_grant(actor: Actor, case: Case, definition: Definition, doing: str) -> Grant:
    """The grant under which ``actor`` may change the case's form or files: only while it is a
    draft, and only as the party the draft waits for. ``doing`` names the change in messages."""
    state = definition.state(case.state)
    if state.kind != "draft":
        raise InvalidAction(f"案件处于「{state.label}」，只有草稿或退回修改的案件可以{doing}")
    grant = grant_for(actor, case, state.waits_for)
    if grant is None:
        raise PermissionDenied(f"只有{state.waits_for.label}可以{doing}")
    return grant


def get_case(session: Session, actor: Actor, case_id: int) -> Case:
    """Load a case the actor may see, or read as copied to him (only to read: every operation asks
    ``require_visible`` again). Others' cases are reported as missing, not forbidden."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("案件不存在或您无权查看")
    # A copy lets its person read the case even once his role no longer covers it (engine.cases.copies);
    # asked only when the grants refuse, so reading a case costs no more.
    if not can_view_case(actor, case) and not is_copied(session, actor.user_id, case.id):
        raise NotFound("案件不存在或您无权查看")
    return case


def require_visible(actor: Actor, case: Case) -> None:
    """Refuse an operation on a case the actor may not even see, without saying anything about it."""
    if not can_view_case(actor, case):
        raise NotFound("案件不存在或您无权查看")


def sees_internal_comments(actor: Actor, case: Case) -> bool:
    """Comments a definition marks internal are for those who review or audit the case, not
    for the applicants (an applicant still reads their own unit's comments)."""
    if actor == SYSTEM_ACTOR:
        return True
    return any(grant.role in ("reviewer", "auditor") and covers(grant, case) for grant in actor.grants)
