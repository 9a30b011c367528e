"""How a case reads through the API, per caller.

The same case is shown differently to its applicant, its reviewers and its auditors: ID
numbers and fields marked sensitive are in full only for the case's reviewers
(``permissions.sees_personal_data``), in the form and in the trail's changes alike; the
timeline is the trail as the engine lets this reader read it (``trail.case_timeline``:
internal comments and jurors' names hidden from applicants); and the actions offered are
exactly those the engine would accept from this caller now (``machines.available_actions``).
"""
from __future__ import annotations

from marshmallow import fields
from sqlalchemy.orm import Session

from api.fields import LastDay, LocalDateTime
from api.notices import ObjectionEntrySchema
from api.schemas import ApiSchema, FieldSchema
from engine.base.db import utcnow
from engine.cases.case import Case
from engine.cases.deadlines import missing_calendar_year
from engine.cases.inbox import due_of
from engine.cases.machines import available_actions
from engine.cases.permissions import sees_personal_data
from engine.definitions.forms import masked_personal_data
from engine.definitions.spec import STATE_KIND_LABELS, Definition
from engine.org.units import LEVEL_LABELS, Actor
from engine.procedures.notices import objections_shown
from engine.reading.trail import case_timeline

# --- Schemas --------------------------------------------------------------------------------------

class UnitRefSchema(ApiSchema):
    id = fields.Integer()
    name = fields.String()
    level = fields.String()
    level_label = fields.Function(lambda unit: LEVEL_LABELS[unit.level])


class CaseSummarySchema(ApiSchema):
    id = fields.Integer()
    kind = fields.String()
    kind_label = fields.String()
    state = fields.String()
    state_label = fields.String()
    state_kind = fields.String(metadata={"description": "draft 填报 / review 审核 / notice 公示 / final 办结"})
    state_kind_label = fields.String()
    version = fields.Integer(metadata={"description": "操作时须带上的版本号（乐观锁）"})
    title = fields.String()
    origin_unit = fields.Nested(UnitRefSchema)
    round_id = fields.Integer(allow_none=True)
    created_at = LocalDateTime()
    updated_at = LocalDateTime()
    submitted_at = LocalDateTime(allow_none=True)
    closed_at = LocalDateTime(allow_none=True)


class TimelineEventSchema(ApiSchema):
    seq = fields.Integer()
    at = LocalDateTime()
    actor_name = fields.String(allow_none=True, metadata={"description": "办理人；评审投票对申报人不显示评委姓名"})
    actor_role = fields.String(allow_none=True)
    actor_role_label = fields.String(allow_none=True)
    unit_name = fields.String(allow_none=True)
    unit_level = fields.String(allow_none=True)
    unit_level_label = fields.String(allow_none=True)
    action = fields.String()
    action_label = fields.String()
    from_state = fields.String(allow_none=True)
    from_state_label = fields.String(allow_none=True)
    to_state = fields.String(allow_none=True)
    to_state_label = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)
    comment_hidden = fields.Boolean(metadata={"description": "意见为内部意见，对您不显示（comment 为 null）"})
    changes = fields.Dict(allow_none=True, metadata={
        "description": "表单字段 → {before, after}；身份证号等个人信息按查看人权限遮蔽"})


class AvailableActionSchema(ApiSchema):
    trigger = fields.String()
    label = fields.String()
    dest = fields.String()
    comment_required = fields.Boolean()
    inputs = fields.List(fields.Nested(FieldSchema), metadata={"description": "执行时须填写的字段（inputs）"})


class CaseViewSchema(CaseSummarySchema):
    linked_case_id = fields.Integer(allow_none=True)
    link_relation = fields.String(allow_none=True)
    form = fields.Dict(metadata={"description": "表单字段值：金额为两位小数的字符串，日期为 YYYY-MM-DD，附件为编号列表"})
    outcome = fields.Dict(metadata={"description": "办理结果：核定金额、决定文号等"})
    due_at = LocalDateTime(allow_none=True, metadata={"description": "当前环节的办理期限"})
    last_day = LastDay(attribute="due_at", allow_none=True, metadata={
        "description": "最迟办理日（本地日期）：due_at 为零点时是其前一天"})
    calendar_missing_year = fields.Integer(allow_none=True, metadata={
        "description": "当前环节有期限、但工作日历缺少该年度而无法计算时，缺少的年份；否则为 null"})
    waits_for = fields.String(allow_none=True, metadata={"description": "当前环节等待谁办理"})
    revision_round = fields.Integer()
    return_reason = fields.String(allow_none=True, metadata={"description": "退回修改时的退回理由"})
    timeline = fields.List(fields.Nested(TimelineEventSchema))
    objections = fields.List(fields.Nested(ObjectionEntrySchema), allow_none=True, metadata={
        "description": "异议（同 GET /cases/{id}/objections）：推荐（申报）单位看得到内容和日期，看不到异议人；"
                       "该业务不受理异议或您无权查看时为 null"})
    available_actions = fields.List(fields.Nested(AvailableActionSchema), metadata={
        "description": "您现在可以执行的操作；审计人员为空"})


# --- Building the views ---------------------------------------------------------------------------

def case_summary(session: Session, case: Case) -> dict:
    definition = case.definition
    state = definition.state(case.state)
    return {
        "id": case.id, "kind": case.kind, "kind_label": definition.label, "state": case.state,
        "state_label": state.label, "state_kind": state.kind, "state_kind_label": STATE_KIND_LABELS[state.kind],
        "version": case.version, "title": case.title, "origin_unit": case.origin_unit, "round_id": case.round_id,
        "created_at": case.created_dt, "updated_at": case.updated_dt, "submitted_at": case.submitted_dt,
        "closed_at": case.closed_dt,
    }


def case_view(session: Session, actor: Actor, case: Case) -> dict:
    """The case as ``actor`` may read it, with its trail and the actions ``actor`` may take now."""
    definition = case.definition
    full = sees_personal_data(actor, case)
    timeline = case_timeline(session, actor, case)
    state = definition.state(case.state)
    return case_summary(session, case) | {
        "linked_case_id": case.linked_case_id, "link_relation": case.link_relation,
        "form": case.form_data if full else masked_personal_data(definition.fields, case.form_data),
        "outcome": _outcome(definition, case.outcome or {}, full),
        "due_at": due_of(session, case),
        "calendar_missing_year": missing_calendar_year(session, case.id),
        "waits_for": state.waits_for.label if state.waits_for else None,
        "revision_round": case.revision_round,
        "return_reason": _return_reason(case, state.kind, timeline),
        "timeline": timeline,
        "objections": objections_shown(session, actor, case),
        "available_actions": available_actions(session, actor, case, utcnow()),
    }


def _outcome(definition: Definition, outcome: dict, full: bool) -> dict:
    """Transition inputs land in the outcome: a personal one is masked there as in the form."""
    if full:
        return outcome
    return masked_personal_data(tuple(spec for t in definition.transitions for spec in t.inputs), outcome)


def _return_reason(case: Case, state_kind: str, timeline: list[dict]) -> str | None:
    """Why a returned case is back in a draft: the comment of the event that sent it there."""
    if state_kind != "draft" or case.return_state is None:
        return None
    arrival = next((entry for entry in reversed(timeline) if entry["to_state"] == case.state), None)
    return arrival["comment"] if arrival else None
