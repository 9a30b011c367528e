"""Rules of the "五一" honours: eligibility, veto declarations, background checks, the award
decision and its revocation.

Quotas, ratio limits, the submission window and the jury are generic (engine.procedures.rounds,
engine.procedures.juries); what is particular to honours is here, and every figure it uses is a
setting of the round (see HonoursRoundSettings).
"""
from __future__ import annotations

from datetime import datetime

from marshmallow import fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit.chain import append_event
from engine.base.errors import InvalidAction, PermissionDenied, ValidationFailed
from engine.cases.case import Case, conflict_on_stale
from engine.cases.permissions import grant_for, require_visible
from engine.cases.records import records_of
from engine.cases.rule_context import RuleContext
from engine.definitions.rules import action, consulted, rule
from engine.definitions.spec import Party
from engine.operations.transitions import create_draft
from engine.org.units import Actor, OrgUnit
from engine.procedures.rounds import Round, RoundSettingsSchema, load_settings, register_round_settings

KIND = "honours"
REVOCATION_KIND = "honours_revocation"
DEFAULT_BODIES_KEY = "*"
# The nomination form's checklist of veto declarations (one answer per item the round lists).
VETO_FIELD = "veto_declarations"


class HonoursRoundSettings(RoundSettingsSchema):
    """What a round of honours configures beyond quotas and ratios."""

    # No repeat of the same honour at the same level within this many years (None: no limit set).
    repeat_years = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=50))
    # Award types given to a person (they need a valid ID number); the others go to units or teams.
    person_awards = fields.List(fields.String(), load_default=list)
    # Veto items (否决事项) every nomination must declare before it is forwarded.
    veto_items = fields.List(fields.String(), load_default=list)
    # Bodies whose opinion the city must have before the jury, by person category; "*" for the rest.
    background_checks = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), load_default=dict)


register_round_settings(KIND, HonoursRoundSettings)


def _round(ctx: RuleContext) -> Round | None:
    return ctx.session.get(Round, ctx.case.round_id) if ctx.case.round_id else None


def _choice_label(ctx: RuleContext, field: str, value: str, record_type: str | None = None) -> str:
    spec = ctx.definition.record(record_type).field(field) if record_type else ctx.definition.field(field)
    return dict(spec.choices).get(value, value)


@rule("honours_person_identified")
def person_identified(ctx: RuleContext) -> str | None:
    """An award to a person needs the person's validated ID number (it keys eligibility)."""
    round_ = _round(ctx)
    award = ctx.case.form_data.get("award_type")
    if round_ and award in load_settings(round_)["person_awards"] and not ctx.case.subject_key:
        return f"推荐「{_choice_label(ctx, 'award_type', award)}」须填写被推荐人的身份证号码"
    return None


@rule("honours_no_repeat")
def no_repeat(ctx: RuleContext) -> str | None:
    """The same person may not receive the same honour at the same level again within the
    round's repeat_years (a revoked award does not count)."""
    round_ = _round(ctx)
    if round_ is None or not ctx.case.subject_key:
        return None
    years = load_settings(round_)["repeat_years"]
    if years is None:
        return None
    award = ctx.case.form_data.get("award_type")
    level = ctx.session.get(OrgUnit, round_.unit_id).level
    earlier = ctx.session.execute(
        select(Case, Round).join(Round, Round.id == Case.round_id).join(OrgUnit, OrgUnit.id == Round.unit_id)
        .where(Case.kind == KIND, Case.subject_key == ctx.case.subject_key, Case.state == "approved",
               Case.id != ctx.case.id, OrgUnit.level == level, Round.year > round_.year - years)
    ).all()
    for case, earlier_round in earlier:
        if case.form_data.get("award_type") == award and not case.outcome.get("revoked"):
            return (f"被推荐人已于 {earlier_round.year} 年获得同级「{_choice_label(ctx, 'award_type', award)}」，"
                    f"{years} 年内不得重复推荐")
    return None


@rule("honours_no_veto")
def no_veto(ctx: RuleContext) -> str | None:
    """Every veto item the round lists must be declared, and none may apply.

    Declarations are answers of the nomination form's checklist (VETO_FIELD); veto_declaration
    records (how they were made before, and how a reviewer records one found later) count too."""
    round_ = _round(ctx)
    declared = _veto_declarations(ctx)
    labels = _veto_labels(ctx)
    problems = [f"存在否决事项「{labels.get(item, item)}」" for item, applies in declared.items() if applies == "yes"]
    required = load_settings(round_)["veto_items"] if round_ else []
    missing = [labels.get(item, item) for item in required if item not in declared]
    if missing:
        problems.append(f"尚未声明否决事项：{'、'.join(missing)}")
    return "；".join(problems) + "，不能推荐" if problems else None


def _veto_declarations(ctx: RuleContext) -> dict[str, str]:
    """Item -> "yes" / "no", from the form and the records; an item declared to apply anywhere applies."""
    answers = {item: entry["answer"] for item, entry in (ctx.case.form_data.get(VETO_FIELD) or {}).items()}
    for record in records_of(ctx.session, ctx.case, "veto_declaration"):
        item, applies = record.data["item"], record.data["applies"]
        answers[item] = "yes" if "yes" in (applies, answers.get(item)) else applies
    return answers


def _veto_labels(ctx: RuleContext) -> dict[str, str]:
    definition = ctx.definition
    labels = {}
    if any(spec.type == "veto_declaration" for spec in definition.records):
        labels |= dict(definition.record("veto_declaration").field("item").choices)
    if any(spec.name == VETO_FIELD for spec in definition.fields):
        labels |= dict(definition.field(VETO_FIELD).choices)
    return labels


def _bodies_for(ctx: RuleContext) -> list[str]:
    """The bodies the round consults for the nominee's category (or for every category: "*")."""
    round_ = _round(ctx)
    if round_ is None:
        return []
    checks = load_settings(round_)["background_checks"]
    return checks.get(ctx.case.form_data.get("person_category"), checks.get(DEFAULT_BODIES_KEY, []))


@consulted("honours_background_bodies")
def background_bodies(ctx: RuleContext) -> list[str]:
    """Whom the city consults about this nominee (its consultation tasks, honours.yaml city_review)."""
    return _bodies_for(ctx)


@rule("honours_background_clear", version="2")
def background_clear(ctx: RuleContext) -> str | None:
    """No body consulted answered negatively. (That every body the round consults has answered is the
    engine's own condition of the city's approval: the consultations of honours.yaml city_review.)"""
    opinions = {r.data["body"]: r.data for r in records_of(ctx.session, ctx.case, "background_opinion")}
    problems = []
    for body, opinion in opinions.items():
        if opinion["opinion"] == "negative":
            problems.append(f"{_choice_label(ctx, 'body', body, 'background_opinion')}意见为不同意")
    return "；".join(problems) or None


@action("honours_record_decision")
def record_decision(ctx: RuleContext) -> dict:
    """The award decision: number and date (the transition's inputs), honour, level and year."""
    round_ = _round(ctx)
    figures = {
        "decision_number": ctx.inputs["decision_number"],
        "decision_date": ctx.inputs["decision_date"].isoformat(),
        "award_type": ctx.case.form_data.get("award_type"),
        "level": ctx.session.get(OrgUnit, round_.unit_id).level if round_ else None,
        "year": round_.year if round_ else None,
    }
    ctx.case.record_outcome(award=figures)
    return figures


# --- Revocation -----------------------------------------------------------------------------------

def request_revocation(session: Session, actor: Actor, nomination: Case, form: dict, *,
                       now: datetime | None = None) -> Case:
    """Start the revocation of an awarded honour: asked by the nominating unit, then reviewed up
    the chain as its own case (workflows/honours_revocation.yaml), linked to the nomination."""
    require_visible(actor, nomination)
    if nomination.kind != KIND or nomination.state != "approved":
        raise InvalidAction("只有已批准授予的荣誉可以申请撤销")
    if nomination.outcome.get("revoked"):
        raise InvalidAction("该荣誉已被撤销")
    if grant_for(actor, nomination, Party("applicant", "origin")) is None:
        raise PermissionDenied("撤销须由原推荐单位提出")
    if _open_revocation(session, nomination) is not None:
        raise InvalidAction("该荣誉已有正在办理的撤销申请")
    prefilled = {"nominee_name": nomination.title, **(form or {})}
    return create_draft(session, actor, REVOCATION_KIND, origin_unit_id=nomination.origin_unit_id, form=prefilled,
                        linked_case=nomination, link_relation="revocation", now=now)


def _open_revocation(session: Session, nomination: Case, excluding: int | None = None) -> Case | None:
    for case in session.scalars(select(Case).where(Case.kind == REVOCATION_KIND, Case.linked_case_id == nomination.id)):
        if case.id != excluding and not case.definition.state(case.state).is_final:
            return case
    return None


def _nomination(ctx: RuleContext) -> Case | None:
    if ctx.case.link_relation != "revocation" or ctx.case.linked_case_id is None:
        return None
    return ctx.session.get(Case, ctx.case.linked_case_id)


@rule("honours_revocable")
def revocable(ctx: RuleContext) -> str | None:
    nomination = _nomination(ctx)
    if nomination is None or nomination.kind != KIND:
        return "撤销申请未关联到荣誉推荐"
    if nomination.state != "approved" or nomination.outcome.get("revoked"):
        return "该荣誉不是已授予状态，无需撤销"
    if _open_revocation(ctx.session, nomination, excluding=ctx.case.id) is not None:
        return "该荣誉已有正在办理的撤销申请"
    return None


@action("honours_revoke")
def revoke(ctx: RuleContext) -> dict:
    """Mark the honour revoked on the nomination and in its own trail; nothing earlier is changed.

    A revocation for faked merits forfeits the quota place: places are never given back.
    """
    nomination = _nomination(ctx)
    problem = revocable(ctx)
    if problem:
        raise ValidationFailed({"linked_case_id": [problem]})
    figures = {
        "nomination_id": nomination.id,
        "revocation_case_id": ctx.case.id,
        "ground": ctx.case.form_data.get("ground"),
        "decision_number": ctx.inputs["decision_number"],
        "decision_date": ctx.inputs["decision_date"].isoformat(),
        "quota_place_forfeited": ctx.case.form_data.get("ground") == "faked_merits",
    }
    with conflict_on_stale(nomination):
        nomination.record_outcome(revoked=figures)
        nomination.updated_dt = ctx.now
        append_event(ctx.session, nomination, actor=ctx.actor, grant=ctx.grant, action="revoke", now=ctx.now,
                     comment=ctx.case.form_data.get("reason"), details=figures)
        ctx.session.flush()
    return figures
