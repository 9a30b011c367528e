"""Public notice (公示) and objections (异议).

A case in a ``notice`` state is on public display, showing only the definition's
``public_fields``, for the whole notice period: an objection under investigation leaves it
listed (「异议核查中」) until the period ends. Anyone may lodge an objection: a person with a real name and contact,
or a unit named with a contact. A lodged objection fires the state's ``on_objection``
system trigger (typically into investigation); the nominating unit answers; the
reviewing level upholds or dismisses it. The builtin actions and the rule below keep the
objection rows in step with those transitions; definitions cite them by name.
"""
from __future__ import annotations

from datetime import datetime

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import ForeignKey, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, joinedload, mapped_column

from engine.base.db import Base, UTCDateTime, utcnow
from engine.base.errors import NotFound, PermissionDenied, ValidationFailed
from engine.cases.case import Case
from engine.cases.permissions import covers, get_case, sees_personal_data
from engine.cases.rule_context import RuleContext
from engine.cases.tasks import STAGE, Task, missing_calendar_year
from engine.definitions.forms import Phone, PlainText, mask_account, masked_personal_data
from engine.definitions.rules import action, rule
from engine.definitions.spec import Definition
from engine.definitions.store import list_kinds
from engine.org.units import Actor

OBJECTOR_KINDS = {"person": "个人", "unit": "单位"}
# Who lodged an objection: withheld from the party objected to (engine.procedures.notices.case_objections).
OBJECTOR_DETAILS = ("objector_kind", "objector_kind_label", "objector_name", "unit_name", "contact")
OPEN_STATUSES = ("open", "answered")
# How the public list names a notice whose objection is being investigated.
UNDER_INVESTIGATION = "异议核查中"
STATUS_LABELS = {"open": "调查中", "answered": "已答复待裁定", "upheld": "异议成立", "dismissed": "异议不成立",
                 "lapsed": "逾期未答复"}
PUBLIC = Actor(user_id=None, name="公众", grants=())


class Objection(Base):
    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), index=True)
    objector_kind: Mapped[str] = mapped_column(String(10))
    objector_name: Mapped[str] = mapped_column(String(100))
    unit_name: Mapped[str | None] = mapped_column(String(100))
    contact: Mapped[str] = mapped_column(String(30))
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="open")
    lodged_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    judged_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)


def _text_messages(required: str | None = None) -> dict[str, str]:
    """Chinese messages set on the fields themselves: they are built at import, before any
    caller could change marshmallow's defaults."""
    messages = {"invalid": "应为文字", "null": "此项不能为空"}
    return messages | {"required": required} if required else messages


class ObjectionSchema(Schema):
    class Meta:
        unknown = RAISE

    error_messages = {"unknown": "不认识的字段", "type": "应为对象"}

    objector_kind = fields.String(required=True, validate=validate.OneOf(
        list(OBJECTOR_KINDS), error="请选择以个人或单位名义提出"), error_messages=_text_messages("请选择以个人或单位名义提出"))
    objector_name = PlainText(required=True, validate=validate.Length(min=2, max=50, error="请填写真实姓名（2至50个字）"),
                              error_messages=_text_messages("请填写真实姓名"))
    unit_name = PlainText(validate=validate.Length(max=100, error="单位名称不能超过100个字"),
                          error_messages=_text_messages())
    contact = Phone(required=True, error_messages=_text_messages("请填写联系电话"))
    content = PlainText(required=True, multiline=True, validate=validate.Length(min=10, max=2000, error="异议内容应为10至2000个字"),
                        error_messages=_text_messages("请填写异议内容"))

    @validates_schema
    def _unit_named(self, data, **kwargs):
        if data.get("objector_kind") == "unit" and not (data.get("unit_name") or "").strip():
            raise ValidationError("以单位名义提出异议须写明单位名称", "unit_name")


def _period_runs(period: Task, now: datetime) -> bool:
    """Before the notice's deadline (a deadline the calendar cannot place never passes)."""
    return period.due_dt is None or now < period.due_dt


def open_objections(session: Session, case: Case) -> int:
    return session.scalar(select(func.count(Objection.id)).where(
        Objection.case_id == case.id, Objection.status.in_(OPEN_STATUSES))) or 0


def case_objections(session: Session, actor: Actor, case_id: int) -> list[dict]:
    """The objections against a case, as the reader may see them.

    The case's reviewers (who investigate and judge them) read who lodged them, with the
    contact; its auditors too, the contact masked (personal data in full is for reviewers
    only). The nominating unit, which must answer, reads each objection's content, date,
    status and answer, never who lodged it: an objector must not be exposed to the party
    objected to. Anyone else who may see the case (an admin) is refused.
    """
    case = get_case(session, actor, case_id)
    if any(grant.role in ("reviewer", "auditor") and covers(grant, case) for grant in actor.grants):
        full = sees_personal_data(actor, case)
        return [_objection_entry(row) | {
            "objector_kind": row.objector_kind, "objector_kind_label": OBJECTOR_KINDS[row.objector_kind],
            "objector_name": row.objector_name, "unit_name": row.unit_name,
            "contact": row.contact if full else mask_account(row.contact), "objector_withheld": False,
        } for row in objections_of(session, case)]
    if answers_objections(actor, case):
        return [_objection_entry(row) | dict.fromkeys(OBJECTOR_DETAILS) | {"objector_withheld": True}
                for row in objections_of(session, case)]
    raise PermissionDenied("只有本案审核人、审计人员和推荐（申报）单位可以查看异议")


def objections_shown(session: Session, actor: Actor, case: Case) -> list[dict] | None:
    """The objections as ``case_objections`` lets ``actor`` read them, for views of the whole
    case (the case page, the API's case view); None where none are shown: a kind whose notice
    takes no objections, or a reader refused them."""
    definition = case.definition
    if not any(state.on_objection for state in definition.states):
        return None
    try:
        return case_objections(session, actor, case.id)
    except PermissionDenied:
        return None


def answers_objections(actor: Actor, case: Case) -> bool:
    """The actor speaks for the case's own unit (the nominating or applying unit), which is the
    party objected to and answers the objections."""
    return any(grant.role == "applicant" and grant.unit_id == case.origin_unit_id for grant in actor.grants)


def _objection_entry(row: Objection) -> dict:
    """What every reader of an objection sees: what it says, when, and where it stands."""
    return {"id": row.id, "content": row.content, "status": row.status, "status_label": STATUS_LABELS[row.status],
            "lodged_dt": row.lodged_dt, "answer": row.answer, "answered_dt": row.answered_dt,
            "judged_dt": row.judged_dt}


def objections_of(session: Session, case: Case) -> list[Objection]:
    return list(session.scalars(select(Objection).where(Objection.case_id == case.id).order_by(Objection.id)))


def cases_on_notice(session: Session, kind: str | None = None, *, now: datetime | None = None) -> list[dict]:
    """What the public notice page shows: per case whose notice period runs, only its public fields.

    A notice interrupted by an objection stays listed, as 「异议核查中」, until its period ends:
    the public is owed the notice for the whole period, whatever the case's state meanwhile.
    ``kind``, when given, must be a loaded kind (anything else is a 422 on ``kind``).
    """
    if kind is not None and kind not in {definition.kind for definition in list_kinds(session)}:
        raise ValidationFailed({"kind": ["未知的业务种类"]})
    now = now or utcnow()
    conditions = [Case.kind == kind] if kind else []
    entries = (_notice_entry(session, case, period, now) for case, period in _notice_periods(session, *conditions))
    return [entry for entry in entries if entry is not None]


def notice_of(session: Session, case_id: int, *, now: datetime | None = None) -> dict:
    """One case's public notice; a case whose notice is not running is missing, whether or not it exists."""
    found = _notice_periods(session, Case.id == case_id)
    entry = _notice_entry(session, *found[0], now or utcnow()) if found else None
    if entry is None:
        raise NotFound("该公示不存在或已结束")
    return entry


def notice_period(session: Session, case: Case) -> Task | None:
    """The case's latest stay in a notice state (its task): the notice period, running or
    interrupted by an objection. None for a case never on notice."""
    definition = case.definition
    notice_states = [state.id for state in definition.states if state.kind == "notice"]
    return session.scalar(select(Task).where(Task.case_id == case.id, Task.purpose == STAGE,
                                             Task.state.in_(notice_states))
                          .order_by(Task.id.desc()).limit(1)) if notice_states else None


def _notice_periods(session: Session, *conditions) -> list[tuple[Case, Task]]:
    """(case, notice period) of the cases on notice now and of those with an objection under
    investigation (whose period may still run), by case id. The period is the notice's task:
    the open one of a running notice, the latest closed one of an interrupted notice."""
    running = session.execute(
        select(Case, Task).join(Task, Task.case_id == Case.id).where(Task.purpose == STAGE, Task.closed_dt.is_(None))
        .where(*conditions).options(joinedload(Case.origin_unit))).all()
    investigated = session.scalars(
        select(Case).where(Case.id.in_(select(Objection.case_id).where(Objection.status.in_(OPEN_STATUSES))),
                           *conditions).options(joinedload(Case.origin_unit))).all()
    found = {case.id: (case, period) for case, period in running}
    for case in investigated:
        period = notice_period(session, case)
        if period is not None:
            found[case.id] = (case, period)
    return [found[case_id] for case_id in sorted(found)]


def _notice_entry(session: Session, case: Case, period: Task, now: datetime) -> dict | None:
    definition = case.definition
    state = definition.state(case.state)
    if definition.state(period.state).kind != "notice":
        return None  # the task of a case waiting in another state
    investigating = state.kind != "notice"
    if investigating and not (open_objections(session, case) and _period_runs(period, now)):
        return None
    return {
        "case_id": case.id, "kind": case.kind, "kind_label": definition.label,
        "state_label": UNDER_INVESTIGATION if investigating else state.label, "under_investigation": investigating,
        "unit_name": case.origin_unit.name, "fields": public_fields(definition, case),
        "notice_starts": period.entered_dt, "notice_ends": period.due_dt,
        # Why the period has no end yet: the working-day calendar lacks a year (pages say which).
        "notice_missing_year": missing_calendar_year(session, case.id) if period.due_dt is None else None,
        # A notice whose period is over but whose timer has not fired yet takes no more objections,
        # nor does one whose objection is being investigated (it resumes if the objection fails).
        "accepts_objections": not investigating and bool(state.on_objection) and _period_runs(period, now),
    }


def public_fields(definition: Definition, case: Case) -> list[tuple[str, str]]:
    """(label, shown value) of the fields a notice may show, choices by their labels, and
    fields the definition marks sensitive masked as they are for anyone without full access."""
    values = masked_personal_data(definition.fields, case.form_data)
    shown = []
    for name in definition.public_fields:
        spec = definition.field(name)
        value = values.get(name)
        if spec.type == "choice":
            value = dict(spec.choices).get(value, value)
        shown.append((spec.label, "" if value is None else str(value)))
    return shown


# --- Actions and rule definitions cite ------------------------------------------------------------

def _set_status(ctx: RuleContext, from_statuses: tuple[str, ...], status: str, **values) -> dict:
    rows = ctx.session.scalars(select(Objection).where(
        Objection.case_id == ctx.case.id, Objection.status.in_(from_statuses)).order_by(Objection.id)).all()
    for row in rows:
        row.status = status
        for key, value in values.items():
            setattr(row, key, value)
    ctx.session.flush()
    return {"objections": [row.id for row in rows], "status": status}


@action("answer_objections")
def answer_objections(ctx: RuleContext) -> dict:
    """The nominating unit's written answer (the transition's ``answer`` input) to the open objections."""
    return _set_status(ctx, ("open",), "answered", answer=ctx.inputs.get("answer"), answered_dt=ctx.now)


@action("uphold_objections")
def uphold_objections(ctx: RuleContext) -> dict:
    return _set_status(ctx, OPEN_STATUSES, "upheld", judged_dt=ctx.now)


@action("dismiss_objections")
def dismiss_objections(ctx: RuleContext) -> dict:
    return _set_status(ctx, OPEN_STATUSES, "dismissed", judged_dt=ctx.now)


@action("lapse_objections")
def lapse_objections(ctx: RuleContext) -> dict:
    """No answer by the deadline: the open objections close as unanswered."""
    return _set_status(ctx, ("open",), "lapsed", judged_dt=ctx.now)


@rule("no_open_objections")
def no_open_objections(ctx: RuleContext) -> str | None:
    count = open_objections(ctx.session, ctx.case)
    return f"还有 {count} 件异议尚未办结" if count else None
