"""Objections from the public to a case under notice: lodged without signing in, they fire the state's
``on_objection`` trigger."""
from __future__ import annotations

from datetime import datetime

from marshmallow import ValidationError
from sqlalchemy.orm import Session

from engine.audit.chain import append_event
from engine.base.db import utcnow
from engine.base.errors import InvalidAction, NotFound, ValidationFailed
from engine.cases.case import Case
from engine.operations.telling import tell_later
from engine.operations.transitions import perform_action
from engine.org.units import SYSTEM_ACTOR
from engine.procedures.notices import PUBLIC, Objection, ObjectionSchema, new_receipt, notice_of


def lodge_objection(session: Session, case_id: int, data: dict, *, now: datetime | None = None) -> Objection:
    """Record an objection from the public against a case under notice (no login needed).

    Only while the notice runs (until its deadline); it fires the state's ``on_objection``
    trigger. While an objection is investigated the notice stays listed but takes no more:
    a further objection waits for the notice to resume (refused as an invalid action).
    """
    now = now or utcnow()
    try:
        values = ObjectionSchema().load(data if isinstance(data, dict) else {})
    except ValidationError as err:
        raise ValidationFailed(err.normalized_messages()) from None
    try:
        entry = notice_of(session, case_id, now=now)
    except NotFound:
        raise NotFound("该公示不存在或公示期已结束") from None
    if entry["under_investigation"]:
        raise InvalidAction("该公示收到的异议正在调查核实，暂不受理新的异议；异议不成立、恢复公示后可再提出")
    if not entry["accepts_objections"]:
        raise NotFound("该公示不存在或公示期已结束")
    case = session.get(Case, case_id)
    state = case.definition.state(case.state)
    objection = Objection(case_id=case.id, objector_kind=values["objector_kind"], objector_name=values["objector_name"],
                          unit_name=values.get("unit_name"), contact=values["contact"], content=values["content"],
                          status="open", lodged_dt=now, receipt=new_receipt(session, now))
    session.add(objection)
    session.flush()
    lodged = append_event(session, case, actor=PUBLIC, grant=None, action="objection", now=now,
                          details={"objection_id": objection.id, "objector_kind": objection.objector_kind})
    tell_later(session, lodged)
    perform_action(session, SYSTEM_ACTOR, case, state.on_objection, expected_version=case.version, now=now,
                   comment=f"收到异议（第 {objection.id} 号）")
    session.flush()
    return objection
