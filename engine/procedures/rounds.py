"""Rounds (评选批次): a window for nominations and a quota table (名额) per sub-unit.

A federation opens a round of a kind that uses rounds: which categories (award types) it
covers, when submissions open and close, and round settings (over-nomination, ratio
limits, and whatever the kind's rule module adds). Quotas say how many nominations of a
category each sub-unit may forward; forwarding draws a place from a ledger, so the last
place cannot be taken twice. The rules and actions below are generic: a definition cites
them by name on its submit and forward transitions.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.base.config import LOCAL_TZ
from engine.base.db import Base, JSONDocument, UTCDateTime, utcnow
from engine.base.errors import ConditionFailed, NotFound, PermissionDenied, ValidationFailed
from engine.base.inputs import check_dates, check_text
from engine.cases.case import Case
from engine.cases.rule_context import RuleContext
from engine.definitions.rules import action, deadline, rule
from engine.definitions.spec import Definition, TransitionSpec
from engine.definitions.store import current_definition
from engine.org.units import Actor, OrgUnit
from engine.procedures import ledgers
from engine.procedures.parameters import in_reach, reach_clause, schema_errors, storable_document

# The most places (名额) one unit may be given in a round: a bound on input, not a domain figure.
MAX_PLACES = 10000


class Round(Base):
    __tablename__ = "rounds"
    __table_args__ = (CheckConstraint("closes_dt > opens_dt", name="window_not_empty"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(63), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    title: Mapped[str] = mapped_column(String(200))
    year: Mapped[int] = mapped_column(Integer)
    opens_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    categories: Mapped[list] = mapped_column(JSONDocument)
    settings: Mapped[dict] = mapped_column(JSONDocument, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RoundQuota(Base):
    __tablename__ = "round_quotas"
    __table_args__ = (
        UniqueConstraint("round_id", "unit_id", "category"),
        CheckConstraint("places >= 0", name="places_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    category: Mapped[str] = mapped_column(String(63))
    places: Mapped[int] = mapped_column(Integer)


# --- Settings -------------------------------------------------------------------------------------

class RatioLimitSchema(Schema):
    """"frontline workers ≥ 60%": share of the nominations a unit forwards whose ``field``
    holds one of ``values``. Checked once the set has ``applies_from`` nominations."""

    class Meta:
        unknown = RAISE

    label = fields.String(required=True, validate=validate.Length(min=1, max=50))
    field = fields.String(required=True)
    values = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    min_percent = fields.Decimal(places=2, as_string=True, validate=validate.Range(min=0, max=100))
    max_percent = fields.Decimal(places=2, as_string=True, validate=validate.Range(min=0, max=100))
    applies_from = fields.Integer(load_default=1, validate=validate.Range(min=1))

    @validates_schema
    def _one_bound(self, data, **kwargs):
        if data.get("min_percent") is None and data.get("max_percent") is None:
            raise ValidationError("请设置最低或最高比例", "min_percent")


class RoundSettingsSchema(Schema):
    """Settings every round understands. A kind adds its own by registering a subclass."""

    class Meta:
        unknown = RAISE

    # 差额推荐: a unit may forward up to this percentage of its quota (100 = exactly the quota).
    over_nomination_percent = fields.Integer(load_default=100, validate=validate.Range(min=100, max=300))
    ratio_limits = fields.List(fields.Nested(RatioLimitSchema), load_default=list)


_settings_schemas: dict[str, type[RoundSettingsSchema]] = {}


def register_round_settings(kind: str, schema: type[RoundSettingsSchema]) -> None:
    _settings_schemas[kind] = schema


def load_settings(round_: Round) -> dict:
    return _settings_schemas.get(round_.kind, RoundSettingsSchema)().load(round_.settings or {})


def listed_items(session: Session, definition: Definition,
                 round_id: int | None) -> dict[str, tuple[tuple[str, str], ...]]:
    """Per checklist field of the form, the items a case in round ``round_id`` answers, in the
    round's order: those its ``items_setting`` lists (every item when the field names no setting,
    or the case is in no round)."""
    if not any(spec.type == "checklist" for spec in definition.fields):
        return {}
    round_ = session.get(Round, round_id) if round_id is not None else None
    settings = load_settings(round_) if round_ is not None else {}
    listed = {}
    for spec in definition.fields:
        if spec.type != "checklist":
            continue
        if spec.items_setting and round_ is not None:
            labels = dict(spec.choices)
            listed[spec.name] = tuple((item, labels[item]) for item in settings.get(spec.items_setting) or ()
                                      if item in labels)
        else:
            listed[spec.name] = spec.choices
    return listed


# --- Operations -----------------------------------------------------------------------------------

def _acts_for(actor: Actor | None, unit: OrgUnit) -> bool:
    return actor is None or any(g.role in ("reviewer", "admin") and g.unit_id == unit.id for g in actor.grants)


def open_round(
    session: Session, actor: Actor | None, *, kind: str, unit: OrgUnit, title: str, year: int,
    opens_dt: datetime, closes_dt: datetime, categories: list[str], settings: dict | None = None,
) -> Round:
    """Open a round at ``unit`` (its reviewers or admins; ``actor`` None for seeding)."""
    if not _acts_for(actor, unit):
        raise PermissionDenied(f"只有「{unit.name}」的审核人或管理员可以发布评选批次")
    check_text({"title": title})
    check_dates({"opens_at": opens_dt, "closes_at": closes_dt})
    try:
        definition = current_definition(session, kind)
    except NotFound as err:
        raise ValidationFailed({"kind": [err.message]}) from None
    errors: dict[str, list[str]] = {}
    if not definition.uses_rounds:
        errors["kind"] = [f"「{definition.label}」不分批次"]
    else:
        known = dict(definition.field(definition.round_category_field).choices)
        unknown = [c for c in categories if c not in known]
        if not categories:
            errors["categories"] = ["请至少选择一个类别"]
        elif unknown:
            errors["categories"] = [f"未知类别：{'、'.join(unknown)}"]
    if not title.strip():
        errors["title"] = ["请填写批次名称"]
    if closes_dt <= opens_dt:
        errors["closes_dt"] = ["截止时间应晚于开始时间"]
    storable_document("settings", settings)
    schema = _settings_schemas.get(kind, RoundSettingsSchema)()
    try:
        stored_settings = schema.dump(schema.load(settings or {}))
    except ValidationError as err:
        errors |= schema_errors("settings", err.normalized_messages())
    if errors:
        raise ValidationFailed(errors)
    round_ = Round(kind=kind, unit_id=unit.id, title=title.strip(), year=year, opens_dt=opens_dt, closes_dt=closes_dt,
                   categories=list(dict.fromkeys(categories)), settings=stored_settings,
                   created_by_id=actor.user_id if actor else None)
    session.add(round_)
    session.flush()
    return round_


def set_quota(session: Session, actor: Actor | None, round_: Round, unit: OrgUnit, category: str, places: int) -> RoundQuota:
    """Set how many ``category`` nominations ``unit`` may forward in the round. Set by the
    unit's parent (or the round's opener), for a unit below the round's unit."""
    opener = session.get(OrgUnit, round_.unit_id)
    if unit.id == opener.id or not unit.path.startswith(opener.path):
        raise ValidationFailed({"unit_id": [f"名额只能分配给「{opener.name}」的下级单位"]})
    if category not in round_.categories:
        raise ValidationFailed({"category": ["本批次不含此类别"]})
    if isinstance(places, bool) or not isinstance(places, int) or places < 0:
        raise ValidationFailed({"places": ["名额应为不小于0的整数"]})
    if actor is not None and not (_acts_for(actor, opener) or _acts_for(actor, unit.parent)):
        raise PermissionDenied("只有批次发布单位或上级单位可以分配名额")
    quota = session.scalar(select(RoundQuota).where(RoundQuota.round_id == round_.id, RoundQuota.unit_id == unit.id,
                                                     RoundQuota.category == category))
    if quota is None:
        quota = RoundQuota(round_id=round_.id, unit_id=unit.id, category=category, places=places)
        session.add(quota)
    else:
        quota.places = places
    session.flush()
    return quota


def round_open_for(session: Session, definition: Definition, unit: OrgUnit, round_id: int | None,
                   now: datetime) -> Round:
    """The round a new case of ``definition`` at ``unit`` goes into: it must be open now."""
    if round_id is None:
        raise ValidationFailed({"round_id": ["请选择评选批次"]})
    round_ = session.get(Round, round_id)
    opener = session.get(OrgUnit, round_.unit_id) if round_ else None
    if round_ is None or round_.kind != definition.kind or not unit.path.startswith(opener.path):
        raise ValidationFailed({"round_id": ["评选批次不存在或不适用于本单位"]})
    problem = _window_problem(round_, now)
    if problem:
        raise ValidationFailed({"round_id": [problem]})
    return round_


def _window_problem(round_: Round, now: datetime) -> str | None:
    if now < round_.opens_dt:
        return f"「{round_.title}」尚未开始接受推荐"
    if now >= round_.closes_dt:
        return f"「{round_.title}」已于 {_local(round_.closes_dt)} 截止，不再接受新的推荐"
    return None


def _local(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class QuotaStatus:
    places: int
    allowed: int
    used: int

    @property
    def left(self) -> int:
        return max(self.allowed - self.used, 0)


# Every quota ledger's account starts so; the other ledgers hold money (engine.reading.statistics).
QUOTA_ACCOUNTS = "quota:"


def quota_account(round_id: int, unit_id: int, category: str) -> str:
    return f"{QUOTA_ACCOUNTS}round={round_id}:unit={unit_id}:{category}"


def allowed_places(round_: Round, places: int) -> int:
    """The places a unit may fill: its quota, raised by the round's over-nomination percentage."""
    return places * load_settings(round_)["over_nomination_percent"] // 100


def quota_status(session: Session, round_: Round, unit_id: int, category: str) -> QuotaStatus | None:
    """Places of ``unit_id`` for ``category`` in the round (None: the unit was given none)."""
    places = session.scalar(select(RoundQuota.places).where(
        RoundQuota.round_id == round_.id, RoundQuota.unit_id == unit_id, RoundQuota.category == category))
    if places is None:
        return None
    allowed = allowed_places(round_, places)
    drawn = ledgers.balance(session, quota_account(round_.id, unit_id, category), "round")
    return QuotaStatus(places, allowed, int(drawn[1]) if drawn else 0)


# --- Reading rounds and their quota tables -------------------------------------------------------

def visible_rounds(session: Session, actor: Actor, kind: str | None = None) -> list[Round]:
    """Rounds organised by a unit in the actor's chain or subtree, the latest opened first."""
    if not actor.grants:
        return []
    statement = (select(Round).join(OrgUnit, OrgUnit.id == Round.unit_id)
                 .where(reach_clause(actor))
                 .order_by(Round.opens_dt.desc(), Round.id.desc()))
    if kind is not None:
        statement = statement.where(Round.kind == kind)
    return list(session.scalars(statement))


def get_round(session: Session, actor: Actor, round_id: int) -> Round:
    """A round the actor may see; others' rounds are reported as missing."""
    round_ = session.get(Round, round_id)
    if round_ is None or not in_reach(actor, session.get(OrgUnit, round_.unit_id).path):
        raise NotFound("评选批次不存在或不在您的范围内")
    return round_


@dataclass(frozen=True)
class QuotaRow:
    unit_id: int
    unit_name: str
    category: str
    status: QuotaStatus


def quota_table(session: Session, actor: Actor, round_: Round) -> list[QuotaRow]:
    """The round's quotas of the units in the actor's chain or subtree, by unit and category."""
    if not actor.grants:
        return []
    rows = session.execute(
        select(RoundQuota.unit_id, OrgUnit.name, RoundQuota.category)
        .join(OrgUnit, OrgUnit.id == RoundQuota.unit_id)
        .where(RoundQuota.round_id == round_.id, reach_clause(actor))
        .order_by(OrgUnit.path, RoundQuota.category)
    ).all()
    return [QuotaRow(unit_id, name, category, quota_status(session, round_, unit_id, category))
            for unit_id, name, category in rows]


# --- Rules and actions definitions cite -----------------------------------------------------------

@deadline("round_close")
def round_closes(ctx: RuleContext) -> datetime | None:
    """A draft in a round must be submitted before the round's window closes."""
    return _case_round(ctx).closes_dt if ctx.case.round_id is not None else None


def _case_round(ctx: RuleContext) -> Round:
    if ctx.case.round_id is None:
        raise ConditionFailed("案件不属于任何评选批次", ["案件不属于任何评选批次"])
    return ctx.session.get(Round, ctx.case.round_id)


def _category(ctx: RuleContext, case: Case | None = None) -> str:
    return (case or ctx.case).form_data.get(ctx.definition.round_category_field)


def _category_label(ctx: RuleContext, category: str) -> str:
    return dict(ctx.definition.field(ctx.definition.round_category_field).choices).get(category, category)


# The rule and action below that draw on a quota: a transition citing one of them forwards within one.
QUOTA_NAMES = ("quota_available", "consume_quota")


def draws_on_quota(spec: TransitionSpec) -> bool:
    """The transition forwards within a quota: it cites the quota rule or the action that draws on it."""
    return any(name in QUOTA_NAMES for name in (*spec.conditions, *spec.actions))


@rule("round_open")
def round_open(ctx: RuleContext) -> str | None:
    """New submissions only inside the round's window (resubmissions after a return are not new)."""
    return _window_problem(_case_round(ctx), ctx.now)


@rule("quota_available")
def quota_available(ctx: RuleContext) -> str | None:
    """The forwarding unit still has a place for the case's category."""
    if ctx.grant is None:
        return None  # not the forwarding party: the permission guard refuses first
    round_ = _case_round(ctx)
    category = _category(ctx)
    status = quota_status(ctx.session, round_, ctx.grant.unit_id, category)
    if status is None:
        return f"{ctx.grant.unit_name}在「{round_.title}」中没有「{_category_label(ctx, category)}」名额"
    already = ctx.session.scalar(select(ledgers.LedgerEntry.id).join(ledgers.Ledger).where(
        ledgers.Ledger.account == quota_account(round_.id, ctx.grant.unit_id, category),
        ledgers.LedgerEntry.case_id == ctx.case.id))
    if status.left < 1 and already is None:
        return f"「{_category_label(ctx, category)}」名额已用完（共 {status.allowed} 个）"
    return None


@action("consume_quota")
def consume_quota(ctx: RuleContext) -> dict:
    """Take one of the forwarding unit's places; refuse if a concurrent forward took the last."""
    round_ = _case_round(ctx)
    category = _category(ctx)
    status = quota_status(ctx.session, round_, ctx.grant.unit_id, category)
    label = _category_label(ctx, category)
    if status is None:
        raise ConditionFailed(f"{ctx.grant.unit_name}没有「{label}」名额", ["没有名额"])
    granted, left = ledgers.draw(ctx.session, quota_account(round_.id, ctx.grant.unit_id, category), "round",
                                 cap=Decimal(status.allowed), wanted=Decimal(1), case_id=ctx.case.id,
                                 partial=False, now=ctx.now)
    if granted < 1:
        raise ConditionFailed(f"「{label}」名额已用完（共 {status.allowed} 个）", [f"「{label}」名额已用完"])
    return {"round_id": round_.id, "unit": ctx.grant.unit_name, "category": category, "places": status.places,
            "allowed": status.allowed, "left": int(left)}


@rule("ratio_limits_met")
def ratio_limits_met(ctx: RuleContext) -> str | None:
    """The round's ratio limits hold on the whole set the unit forwards: what it forwarded
    before in this round plus the cases it forwards now."""
    if ctx.grant is None:
        return None
    round_ = _case_round(ctx)
    limits = load_settings(round_)["ratio_limits"]
    if not limits:
        return None
    earlier_ids = set(ledgers.drawn_by_cases(ctx.session, f"quota:round={round_.id}:unit={ctx.grant.unit_id}:"))
    together = {case.id: case for case in ctx.cases_together}
    earlier_ids -= set(together)
    earlier = ctx.session.scalars(select(Case).where(Case.id.in_(earlier_ids))).all() if earlier_ids else []
    nominations = [case.form_data for case in [*earlier, *together.values()]]
    problems = [p for limit in limits if (p := _ratio_problem(limit, nominations))]
    return "；".join(problems) or None


def _ratio_problem(limit: dict, nominations: list[dict]) -> str | None:
    # Only nominations that record the field count: a team has no sex or person category.
    nominations = [form for form in nominations if form.get(limit["field"]) not in (None, "")]
    total = len(nominations)
    if total < limit["applies_from"]:
        return None
    count = sum(1 for form in nominations if form.get(limit["field"]) in limit["values"])
    actual = f"{Decimal(count * 100) / total:.1f}%（{count}/{total}）"
    low, high = limit.get("min_percent"), limit.get("max_percent")
    if low is not None and count * 100 < Decimal(low) * total:
        return f"「{limit['label']}」占比 {actual}，要求不低于 {Decimal(low).normalize():f}%"
    if high is not None and count * 100 > Decimal(high) * total:
        return f"「{limit['label']}」占比 {actual}，要求不高于 {Decimal(high).normalize():f}%"
    return None
