"""Public notice (公示) and objections (异议).

A case in a ``notice`` state is on public display, showing only the definition's
``public_fields`` (and what is proposed, ``notice_proposed``, with the contact point its unit's
admins set), for the whole notice period: an objection under investigation leaves it listed
(「异议核查中」) until the objection is decided, even past the period. Anyone may lodge an objection:
a person with a real name and contact, or a unit named with a contact; the objector gets a random
receipt number (受理编号) by which anyone holding it follows the objection's steps, and nothing else.
A lodged objection fires the state's ``on_objection`` system trigger (typically into
investigation); the nominating unit answers; the reviewing level upholds or dismisses it. The
builtin actions and the rule below keep the objection rows in step with those transitions;
definitions cite them by name.
"""
from __future__ import annotations

import re
import secrets
from datetime import datetime

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import ForeignKey, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, joinedload, mapped_column

from engine.base.config import LOCAL_TZ
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
from engine.org.admin import get_org_unit
from engine.org.units import Actor, OrgUnit

OBJECTOR_KINDS = {"person": "个人", "unit": "单位"}
# Who lodged an objection: withheld from the party objected to (engine.procedures.notices.case_objections).
OBJECTOR_DETAILS = ("objector_kind", "objector_kind_label", "objector_name", "unit_name", "contact")
OPEN_STATUSES = ("open", "answered")
# How the public list names a notice whose objection is being investigated.
UNDER_INVESTIGATION = "异议核查中"
# How the public reads an objection's status by its receipt.
PUBLIC_STATUS_LABELS = {"open": "核查中", "answered": "已答复，待裁定", "upheld": "异议成立", "dismissed": "异议不成立",
                        "lapsed": "逾期未答复，该事项已终止"}
STATUS_LABELS = {"open": "调查中", "answered": "已答复待裁定", "upheld": "异议成立", "dismissed": "异议不成立",
                 "lapsed": "逾期未答复"}
PUBLIC = Actor(user_id=None, name="公众", grants=())
# A receipt (受理编号) is YY<year>-XXXX-XXXX: eight characters drawn at random (about 40 bits) from
# an alphabet without look-alikes (0/O, 1/I/L), so one receipt tells nothing of another's, and
# guessing one at the rate-limited lookup is hopeless.
RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RECEIPT_PATTERN = re.compile(rf"^YY\d{{4}}-[{RECEIPT_ALPHABET}]{{4}}-[{RECEIPT_ALPHABET}]{{4}}$")
RECEIPT_UNKNOWN = "没有这一受理编号的异议，请核对后重新输入"


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
    # The receipt number (受理编号) the objector follows it by; random, not the sequential id.
    receipt: Mapped[str] = mapped_column(String(20), unique=True)


class NoticeContact(Base):
    """Where the public asks about, and sends objections to, the notices a unit runs (公示异议受理):
    set by the unit's admins (engine.procedures.notices.set_notice_contact)."""
    __tablename__ = "notice_contacts"

    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id", ondelete="CASCADE"), primary_key=True)
    person: Mapped[str | None] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(30))
    address: Mapped[str | None] = mapped_column(String(200))
    updated_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


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


class NoticeContactSchema(Schema):
    """A unit's contact point for its notices: each part optional, blank clears it."""
    class Meta:
        unknown = RAISE

    error_messages = {"unknown": "不认识的字段", "type": "应为对象"}

    person = PlainText(allow_none=True, validate=validate.Length(max=50, error="联系人不能超过50个字"),
                       error_messages=_text_messages())
    phone = Phone(allow_none=True, error_messages=_text_messages())
    address = PlainText(allow_none=True, validate=validate.Length(max=200, error="地址不能超过200个字"),
                        error_messages=_text_messages())


# --- The contact point of a unit's notices ---------------------------------------------------------

NOTICE_CONTACT_FIELDS = tuple(NoticeContactSchema().fields)


def notice_contact(session: Session, unit: OrgUnit) -> dict:
    """Whom the public contacts about the notices ``unit`` runs: the unit, and what its admins set."""
    row = session.get(NoticeContact, unit.id)
    return {"unit_id": unit.id, "unit_name": unit.name, "person": row.person if row else None,
            "phone": row.phone if row else None, "address": row.address if row else None}


def set_notice_contact(session: Session, actor: Actor, unit_id: int, data: dict, *,
                       now: datetime | None = None) -> dict:
    """An admin sets the contact point (联系人, 联系电话, 地址) of a unit in his subtree; a blank part is cleared."""
    unit = get_org_unit(session, actor, unit_id)
    given = {name: value.strip() if isinstance(value, str) else value for name, value in data.items()}
    given = {name: value or None for name, value in given.items()}
    try:
        values = NoticeContactSchema().load(given)
    except ValidationError as err:
        raise ValidationFailed(err.normalized_messages()) from None
    row = session.get(NoticeContact, unit.id) or NoticeContact(unit_id=unit.id)
    for name in ("person", "phone", "address"):
        if name in values:
            setattr(row, name, values[name])
    row.updated_dt, row.updated_by_id = now or utcnow(), actor.user_id
    session.add(row)
    session.flush()
    return notice_contact(session, unit)


# --- Receipts (受理编号) and what the public may follow by them -------------------------------------

def new_receipt(session: Session, now: datetime) -> str:
    """A fresh receipt number, not yet given (the unique constraint is the last word)."""
    while True:
        draw = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(8))
        receipt = f"YY{now.astimezone(LOCAL_TZ).year}-{draw[:4]}-{draw[4:]}"
        if session.scalar(select(Objection.id).where(Objection.receipt == receipt)) is None:
            return receipt


def normalized_receipt(text: str | None) -> str | None:
    """A receipt as typed (lower case, spaces, a missing dash) in its canonical form; None when it
    cannot be one."""
    compact = re.sub(r"[\s\-－—]", "", (text or "")).upper()
    receipt = f"{compact[:6]}-{compact[6:10]}-{compact[10:]}"
    return receipt if RECEIPT_PATTERN.match(receipt) else None


def objection_progress(session: Session, receipt: str | None, *, now: datetime | None = None) -> dict:
    """Where an objection stands, for whoever holds its receipt: the steps reached and when,
    the kind of case and whom to contact. Nothing of who objected, what was said or answered,
    nor of the person objected to. An unknown receipt and a malformed one read the same."""
    wanted = normalized_receipt(receipt)
    row = session.scalar(select(Objection).where(Objection.receipt == wanted)) if wanted else None
    if row is None:
        raise NotFound(RECEIPT_UNKNOWN)
    case = session.get(Case, row.case_id)
    period = notice_period(session, case)
    try:
        listed = notice_of(session, case.id, now=now)["case_id"]
    except NotFound:
        listed = None
    return {"receipt": row.receipt, "kind_label": case.definition.label, "status": row.status,
            "status_label": PUBLIC_STATUS_LABELS[row.status], "lodged_dt": row.lodged_dt,
            "steps": _progress_steps(row), "notice_case_id": listed,
            "contact": notice_contact(session, session.get(OrgUnit, period.unit_id)) if period else None}


def _progress_steps(row: Objection) -> list[dict]:
    """received → under investigation → answered → decided, each with its date once reached."""
    closed = row.status not in OPEN_STATUSES
    answered = row.answered_dt is not None

    def step(name: str, label: str, at: datetime | None, *, current: bool = False, skipped: bool = False) -> dict:
        return {"step": name, "label": label, "reached": at is not None, "at": at, "current": current,
                "skipped": skipped}

    return [
        step("received", "已受理", row.lodged_dt),
        step("investigating", "核查中", row.lodged_dt, current=row.status == "open"),
        step("answered", "已答复，待裁定" if row.status == "answered" else "已答复", row.answered_dt,
             current=row.status == "answered", skipped=closed and not answered),
        step("decided", PUBLIC_STATUS_LABELS[row.status] if closed else "裁定结果", row.judged_dt, current=closed),
    ]


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

    A notice interrupted by an objection stays listed, as 「异议核查中」, for as long as the
    objection is open, past the period if need be: the public is owed the notice for the whole
    period whatever the case's state meanwhile, and its outcome once objected to.
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
    if investigating and not open_objections(session, case):
        return None
    return {
        "case_id": case.id, "kind": case.kind, "kind_label": definition.label,
        "state_label": UNDER_INVESTIGATION if investigating else state.label, "under_investigation": investigating,
        "unit_name": case.origin_unit.name, "proposed": proposed_of(definition, case),
        "fields": public_fields(definition, case),
        "contact": notice_contact(session, session.get(OrgUnit, period.unit_id)),
        "notice_starts": period.entered_dt, "notice_ends": period.due_dt,
        # Why the period has no end yet: the working-day calendar lacks a year (pages say which).
        "notice_missing_year": missing_calendar_year(session, case.id) if period.due_dt is None else None,
        # A notice whose period is over but whose timer has not fired yet takes no more objections,
        # nor does one whose objection is being investigated (it resumes if the objection fails).
        "accepts_objections": not investigating and bool(state.on_objection) and _period_runs(period, now),
    }


def proposed_of(definition: Definition, case: Case) -> dict | None:
    """The honour or aid the notice proposes (the definition's ``notice_proposed``): label and value."""
    proposed = definition.notice_proposed
    if proposed is None:
        return None
    value = proposed.text
    if proposed.field is not None:
        value = case.form_data.get(proposed.field)
        value = dict(definition.field(proposed.field).choices).get(value, value)
    return {"label": proposed.label, "value": "" if value is None else str(value)}


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
