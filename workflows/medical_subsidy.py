"""Rules of the healthcare subsidy claim (职工医疗互助 / 重大疾病互助).

Every figure lives in the parameter set "medical_subsidy.schemes": one entry per scheme
code (the claim form's `scheme` choice), each with its formula, cap per person per cycle,
illness list, filing window and lapse period. The set in force on the discharge date
applies: a claim is judged by the rules of the time the hospital stay ended.

The amount, on approval:
  ratio: min(cap left this cycle, max(0, eligible self-paid − deductible) × ratio)
  tiers: min(cap left this cycle, payout of the highest tier whose threshold ≤ eligible self-paid)
The cap is a ledger per scheme and person (engine.procedures.ledgers.draw, row-locked), so two claims
of one person approved at the same moment cannot together pass it.
"""
from __future__ import annotations

import calendar as month_calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from engine.base.config import LOCAL_TZ
from engine.base.errors import CalendarNotCovered, ConditionFailed
from engine.base.money import format_money, money_figure
from engine.calendar.working_days import working_calendar
from engine.cases.rule_context import RuleContext
from engine.definitions.forms import Money, from_stored
from engine.definitions.rules import action, deadline, json_safe, rule
from engine.procedures.amounts import Explanation, Figure, amount_rule
from engine.procedures.ledgers import draw, would_draw
from engine.procedures.parameters import ParameterSet, parameters_for, register_parameters, require_parameters

SCHEMES = "medical_subsidy.schemes"
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
SELF_PAID_PARTS = {"self_paid_in_catalogue": "目录内个人自付", "self_paid_out_of_catalogue": "目录外个人自费"}
COST_PARTS = ("pooled_insurance_paid", "critical_illness_insurance_paid", *SELF_PAID_PARTS)


# --- The parameter set ----------------------------------------------------------------------------

class Ratio(fields.Field):
    """A share between 0 (exclusive) and 1, as a string such as "0.5": never a float."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, (bool, float)):
            raise ValidationError("比例请以字符串填写，例如 \"0.5\"")
        try:
            ratio = Decimal(str(value).strip())
        except ArithmeticError:
            raise ValidationError("比例应为数字，例如 0.5") from None
        if not ratio.is_finite() or not ZERO < ratio <= 1:
            raise ValidationError("比例应大于 0 且不超过 1")
        return ratio

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


class TierSchema(Schema):
    threshold = Money(required=True, validate=validate.Range(min=ZERO, error="起点金额不能为负"))
    payout = Money(required=True, validate=validate.Range(min=CENT, error="补助金额应大于 0"))


class IllnessSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=50))
    label = fields.String(required=True, validate=validate.Length(min=1, max=100))


class SchemeSchema(Schema):
    label = fields.String(required=True, validate=validate.Length(min=1, max=100))
    formula = fields.String(required=True, validate=validate.OneOf(
        ["ratio", "tiers"], error="补助方式应为 ratio（按比例）或 tiers（分档）"))
    # Which self-paid parts of the claim count as eligible costs.
    eligible_parts = fields.List(
        fields.String(validate=validate.OneOf(list(SELF_PAID_PARTS), error=f"应为 {'、'.join(SELF_PAID_PARTS)} 之一")),
        required=True, validate=validate.Length(min=1, error="至少选择一项可补助的自付费用"))
    deductible = Money(load_default=ZERO, validate=validate.Range(min=ZERO, error="起付线不能为负"))
    ratio = Ratio()
    tiers = fields.List(fields.Nested(TierSchema), load_default=list)
    cap = Money(required=True, validate=validate.Range(min=CENT, error="每周期补助上限应大于 0"))
    # The cycle starts on the 1st of this month (1 = calendar year).
    cycle_start_month = fields.Integer(load_default=1, validate=validate.Range(min=1, max=12, error="应为 1 至 12 月"))
    # Empty: any diagnosis; otherwise the claim's illness must be on the list.
    illnesses = fields.List(fields.Nested(IllnessSchema), load_default=list)
    filing_working_days = fields.Integer(required=True, validate=validate.Range(min=1, max=250, error="应为 1 至 250 个工作日"))
    lapse_months = fields.Integer(required=True, validate=validate.Range(min=1, max=120, error="应为 1 至 120 个月"))

    @validates_schema
    def _formula_has_its_figures(self, data, **kwargs):
        if data["formula"] == "ratio" and data.get("ratio") is None:
            raise ValidationError("按比例补助须设置补助比例", "ratio")
        if data["formula"] == "tiers":
            tiers = data.get("tiers") or []
            if not tiers:
                raise ValidationError("分档补助须设置档次表", "tiers")
            thresholds = [tier["threshold"] for tier in tiers]
            if thresholds != sorted(set(thresholds)):
                raise ValidationError("档次起点金额须由低到高且互不相同", "tiers")


class SchemesSchema(Schema):
    schemes = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,40}$", error="项目代码须为小写英文字母、数字和下划线")),
        values=fields.Nested(SchemeSchema), required=True, validate=validate.Length(min=1, error="至少配置一个互助项目"),
    )


register_parameters(SCHEMES, "医疗互助项目参数", SchemesSchema)


# --- Reading a claim ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scheme:
    code: str
    figures: dict
    parameters: ParameterSet


def claim_form(ctx: RuleContext) -> dict:
    """The claim's form as python values (Decimal, date)."""
    return from_stored(ctx.definition, ctx.case.form_data)


def incomplete(form: dict, *names: str) -> bool:
    """A draft still missing fields a rule reads: the engine's required-field check reports
    them on submit; the rule stays quiet so the list of available actions can be computed."""
    return any(form.get(name) is None for name in names)


def scheme_of(ctx: RuleContext, form: dict) -> Scheme | None:
    """The claim's scheme as configured on its discharge date, or None."""
    row = parameters_for(ctx.session, SCHEMES, ctx.case.origin_path, form["discharge_date"])
    return None if row is None else scheme_in(row, SchemesSchema().load(row.values), form["scheme"])


def scheme_in(row: ParameterSet, values: dict, code: str) -> Scheme | None:
    """The scheme ``code`` of a parameter set whose values are loaded, or None."""
    figures = values["schemes"].get(code)
    return Scheme(code, figures, row) if figures else None


def scheme_problem(ctx: RuleContext, form: dict, scheme: Scheme | None) -> str | None:
    """Why the claim's scheme cannot judge it: not configured, or the illness not on its list."""
    if scheme is None:
        label = dict(ctx.definition.field("scheme").choices).get(form["scheme"], form["scheme"])
        return f"出院日期 {form['discharge_date']} 适用的参数中没有「{label}」项目，请联系管理员"
    illnesses = scheme.figures["illnesses"]
    if not illnesses:
        return None
    named = (form.get("illness_code") or "").strip()
    if not named:
        return f"「{scheme.figures['label']}」须填写病种（病种目录共 {len(illnesses)} 种）"
    if not any(named in (item["code"], item["label"]) for item in illnesses):
        return f"病种「{named}」不在「{scheme.figures['label']}」病种目录内（目录共 {len(illnesses)} 种）"
    return None


def filing_day(ctx: RuleContext) -> date:
    """The local date the claim was (or is being) first submitted: a resubmission keeps it."""
    moment: datetime = ctx.case.submitted_dt or ctx.now
    return moment.astimezone(LOCAL_TZ).date()


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, or the month's last day (29 Feb + 12 months → 28 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, month_calendar.monthrange(year, month)[1]))


def cycle_of(scheme: Scheme, day: date) -> str:
    """The cycle a day falls in: "2026" for a calendar year, "2026-07" for one starting in July."""
    start = scheme.figures["cycle_start_month"]
    year = day.year if day.month >= start else day.year - 1
    return str(year) if start == 1 else f"{year}-{start:02d}"


# --- Amounts --------------------------------------------------------------------------------------

def eligible_self_paid(scheme: Scheme, form: dict) -> Decimal:
    return sum((form[part] for part in scheme.figures["eligible_parts"]), ZERO)


def computed_amount(scheme: Scheme, eligible: Decimal) -> tuple[Decimal, dict]:
    """The scheme's amount before the cap, and the figures that produced it."""
    figures = scheme.figures
    if figures["formula"] == "ratio":
        base = max(ZERO, eligible - figures["deductible"])
        amount = (base * figures["ratio"]).quantize(CENT, ROUND_HALF_UP)
        return amount, {"deductible": figures["deductible"], "ratio": figures["ratio"], "above_deductible": base}
    reached = [tier for tier in figures["tiers"] if tier["threshold"] <= eligible]
    tier = reached[-1] if reached else None
    return (tier["payout"] if tier else ZERO), {
        "tier_threshold": tier["threshold"] if tier else None,
        "tier_payout": tier["payout"] if tier else ZERO,
        "first_threshold": figures["tiers"][0]["threshold"],
    }


def zero_reason(scheme: Scheme, eligible: Decimal) -> str:
    figures = scheme.figures
    if figures["formula"] == "ratio":
        return (f"按「{figures['label']}」计算补助金额为 0 元：可补助自付费用 {eligible} 元"
                f"未超过起付线 {figures['deductible']} 元")
    return (f"按「{figures['label']}」计算补助金额为 0 元：可补助自付费用 {eligible} 元"
            f"未达到最低档 {figures['tiers'][0]['threshold']} 元")


# --- Rules on submission --------------------------------------------------------------------------

@rule("medical_subsidy_dates_valid")
def dates_valid(ctx: RuleContext) -> str | None:
    form = claim_form(ctx)
    if incomplete(form, "admission_date", "discharge_date"):
        return None
    if form["discharge_date"] < form["admission_date"]:
        return f"出院日期 {form['discharge_date']} 不能早于入院日期 {form['admission_date']}"
    if form["discharge_date"] > filing_day(ctx):
        return f"出院日期 {form['discharge_date']} 晚于申请日期，出院后方可申请"
    return None


@rule("medical_subsidy_costs_consistent")
def costs_consistent(ctx: RuleContext) -> str | None:
    """Insurance payments and the self-paid parts are parts of the total cost."""
    form = claim_form(ctx)
    if incomplete(form, "total_cost", *COST_PARTS):
        return None
    parts = sum((form[name] for name in COST_PARTS), ZERO)
    if parts > form["total_cost"]:
        return (f"统筹支付、大病保险支付与个人自付、自费合计 {parts} 元，"
                f"超过医疗总费用 {form['total_cost']} 元，请核对")
    return None


@rule("medical_subsidy_scheme_applies")
def scheme_applies(ctx: RuleContext) -> str | None:
    form = claim_form(ctx)
    return None if incomplete(form, "scheme", "discharge_date") else scheme_problem(ctx, form, scheme_of(ctx, form))


@rule("medical_subsidy_filed_in_time")
def filed_in_time(ctx: RuleContext) -> str | None:
    """Past the lapse period: refused. Past the filing window: only with a written explanation."""
    form = claim_form(ctx)
    scheme = None if incomplete(form, "scheme", "discharge_date") else scheme_of(ctx, form)
    if scheme is None:
        return None  # medical_subsidy_scheme_applies says what is missing
    filed, discharge = filing_day(ctx), form["discharge_date"]
    lapse_on = add_months(discharge, scheme.figures["lapse_months"])
    if filed > lapse_on:
        return f"出院已超过 {scheme.figures['lapse_months']} 个月（申请时效截至 {lapse_on}），不予受理"
    try:
        deadline = filing_deadline(ctx, scheme, discharge, filed)
    except CalendarNotCovered as err:
        return f"{err.message}，无法计算申请期限"
    if deadline is not None and filed > deadline and not (form.get("late_explanation") or "").strip():
        return (f"应在出院后 {scheme.figures['filing_working_days']} 个工作日内（{deadline} 前）申请，"
                "已逾期，请填写「逾期申请说明」")
    return None


def filing_deadline(ctx: RuleContext, scheme: Scheme, discharge: date, filed: date) -> date | None:
    """The last day to file without an explanation. None when that day lies in a year the
    calendar does not cover yet while the filing day does not: the claim is then in time
    whatever the coming year's holidays turn out to be."""
    try:
        return working_calendar(ctx.session).add_working_days(discharge, scheme.figures["filing_working_days"])
    except CalendarNotCovered as err:
        if filed.year < err.year:
            return None
        raise


@deadline("medical_subsidy_filing_deadline")
def filing_window_closes(ctx: RuleContext) -> datetime | None:
    """A draft claim's filing window ends with its last working day (local midnight); None while
    the draft lacks the scheme or the discharge date, or the scheme is not configured."""
    form = claim_form(ctx)
    scheme = None if incomplete(form, "scheme", "discharge_date") else scheme_of(ctx, form)
    if scheme is None:
        return None
    last_day = working_calendar(ctx.session).add_working_days(form["discharge_date"],
                                                              scheme.figures["filing_working_days"])
    return datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=LOCAL_TZ)


@action("medical_subsidy_record_filing")
def record_filing(ctx: RuleContext) -> dict:
    """Note the filing deadline and whether the claim came late, for the reviewer and the audit."""
    form = claim_form(ctx)
    scheme = scheme_of(ctx, form)
    filed = filing_day(ctx)
    deadline = filing_deadline(ctx, scheme, form["discharge_date"], filed)
    late = deadline is not None and filed > deadline
    ctx.case.record_outcome(filing_deadline=deadline.isoformat() if deadline else None, filed_late=late)
    return {"filed_on": filed, "filing_deadline": deadline, "filed_late": late,
            "filing_working_days": scheme.figures["filing_working_days"], "parameters": scheme.parameters.citation()}


# --- The amount, on approval ----------------------------------------------------------------------

@dataclass(frozen=True)
class Claimed:
    """What the scheme computes for a claim before its cap: shared by the approval, which draws it
    from the person's cap, and by the preview a reviewer reads before approving."""

    scheme: Scheme
    cycle: str
    account: str
    eligible: Decimal
    computed: Decimal
    formula_figures: dict


def claimed_amount(ctx: RuleContext) -> Claimed:
    """The amount the scheme computes (one read of the parameters); refuses with the reason when
    the scheme cannot judge the claim or the amount comes to 0 yuan."""
    form = claim_form(ctx)
    row, values = require_parameters(ctx.session, SCHEMES, ctx.case.origin_path, form["discharge_date"])
    scheme = scheme_in(row, values, form["scheme"])
    problem = scheme_problem(ctx, form, scheme)
    if problem:
        raise ConditionFailed(problem, [problem])
    eligible = eligible_self_paid(scheme, form)
    computed, formula_figures = computed_amount(scheme, eligible)
    if computed == ZERO:
        reason = zero_reason(scheme, eligible)
        raise ConditionFailed(f"{reason}。请以「不予补助」办结并说明理由", [reason])
    return Claimed(scheme, cycle_of(scheme, form["discharge_date"]),
                   f"medical_subsidy:{scheme.code}:{ctx.case.subject_key}", eligible, computed, formula_figures)


def grant_figures(claimed: Claimed, granted: Decimal, left: Decimal) -> dict:
    """The figures of a grant (or of its preview), as the audit event records them."""
    figures = claimed.scheme.figures
    return {
        "scheme": claimed.scheme.code, "scheme_label": figures["label"], "formula": figures["formula"],
        "cycle": claimed.cycle, "eligible_parts": figures["eligible_parts"], "eligible_self_paid": claimed.eligible,
        **claimed.formula_figures, "computed": claimed.computed, "cap": figures["cap"],
        "used_before": figures["cap"] - left - granted, "granted": granted, "cap_left": left,
        "parameters": claimed.scheme.parameters.citation(),
    }


def cap_reached(label: str, cycle: str, cap, used_before) -> str:
    return (f"该会员本补助周期（{cycle}）「{label}」补助已达上限 {cap} 元"
            f"（已补助 {used_before} 元），本次可补助 0 元")


@action("medical_subsidy_grant")
def grant_subsidy(ctx: RuleContext) -> dict:
    """Compute the amount and draw it from the person's cap for the cycle; refuse at 0 yuan."""
    claimed = claimed_amount(ctx)
    granted, left = draw(ctx.session, claimed.account, claimed.cycle, cap=claimed.scheme.figures["cap"],
                         wanted=claimed.computed, case_id=ctx.case.id, partial=True, now=ctx.now)
    figures = grant_figures(claimed, granted, left)
    if granted == ZERO:
        reason = cap_reached(figures["scheme_label"], claimed.cycle, figures["cap"], figures["used_before"])
        raise ConditionFailed(f"{reason}。请以「不予补助」办结并说明理由", [reason])
    ctx.case.record_outcome(subsidy_amount=str(granted), subsidy_scheme=claimed.scheme.code,
                            subsidy_cycle=claimed.cycle, subsidy_capped=granted < claimed.computed)
    return figures


def preview_grant(ctx: RuleContext) -> dict:
    """What approving now would grant, reading the cap's ledger without drawing from it."""
    claimed = claimed_amount(ctx)
    granted, left = would_draw(ctx.session, claimed.account, claimed.cycle, cap=claimed.scheme.figures["cap"],
                               wanted=claimed.computed, case_id=ctx.case.id, partial=True)
    return json_safe(grant_figures(claimed, granted, left))


def explain_grant(figures: dict) -> Explanation:
    """A grant's figures (previewed or recorded) in words."""
    dec = {name: Decimal(figures[name]) for name in ("eligible_self_paid", "computed", "cap", "used_before",
                                                      "granted", "cap_left")}
    parts = "、".join(SELF_PAID_PARTS[part] for part in figures["eligible_parts"])
    eligible = Figure(f"可补助自付费用（{parts}）", dec["eligible_self_paid"])
    if figures["formula"] == "ratio":
        ratio = Decimal(figures["ratio"])
        formula = "（可补助自付费用 − 起付线）× 补助比例"
        worked = (f"({money_figure(dec['eligible_self_paid'])} − {money_figure(figures['deductible'])})"
                  f" × {percent(ratio)} = {format_money(dec['computed'])}")
        inputs = (eligible, Figure("起付线", Decimal(figures["deductible"])),
                  Figure("补助比例", percent(ratio), is_money=False))
    else:
        formula = "按可补助自付费用所达到的最高档次给付"
        reached = figures["tier_threshold"]
        worked = (f"{format_money(dec['eligible_self_paid'])} 达到 {format_money(reached)} 档，"
                  f"给付 {format_money(dec['computed'])}" if reached is not None else
                  f"{format_money(dec['eligible_self_paid'])} 未达到最低档 {format_money(figures['first_threshold'])}")
        inputs = (eligible, *((Figure("所达档次起点", Decimal(reached)),) if reached is not None else ()))
    granted = dec["granted"]
    return Explanation(
        amount=granted if granted > ZERO else None, title="补助金额", formula=formula, worked=worked,
        figures=inputs, scheme=figures["scheme_label"], parameters=figures["parameters"],
        cap=dec["cap"], period=figures["cycle"],
        used_before=dec["used_before"], left_after=dec["cap_left"], computed=dec["computed"],
        capped=ZERO < granted < dec["computed"],
        refusal=None if granted > ZERO else cap_reached(figures["scheme_label"], figures["cycle"], dec["cap"],
                                                       dec["used_before"]),
    )


def percent(ratio: Decimal) -> str:
    """0.5 → "50%", 0.125 → "12.5%"."""
    return f"{(ratio * 100).normalize():f}%"


amount_rule("medical_subsidy_grant", preview=preview_grant, explain=explain_grant, outcome_key="subsidy_amount")
