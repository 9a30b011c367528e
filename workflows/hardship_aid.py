"""困难职工帮扶: who qualifies, for how much, and the checks between the stages.

Categories (shared/domain.md §2, one city's formula), all figures from the parameter set
"hardship_aid.standards" of the case's area for the year the application was submitted:

    monthly per-capita income = (yearly household income − rigid expenses) / 12 / household size
    deep hardship      per-capita income strictly BELOW  低保 × deep multiplier      (1×)
    relative hardship  per-capita income strictly BELOW  低保 × relative multiplier  (2×)
    accident-caused    hardship costs strictly ABOVE     accident share × yearly household income (80%)

"Below" and "exceed" are strict, as the notices word them: a household exactly at 低保 is
relative, not deep; exactly at 2× 低保 it is not in hardship by income. The per-capita
figure is rounded to cents (half up) before it is compared, and never goes below zero.
Income categories are tried first (deep, then relative); accident-caused covers
households whose income is above the line.

Aid amount = living-aid months of the category × 低保, drawn from a yearly ledger per
household (the household head's ID number, else the applicant's), so the yearly cap holds
when two members of one household are approved at the same moment. The approving
reviewer may lower the amount with a reason, never raise it.

One open file per person: a submission is refused while another hardship case of the
same ID number is not final. The yearly re-check (``start_yearly_recheck``) starts from a
file that was closed as aided, so it is that person's one open file.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.base.config import LOCAL_TZ
from engine.base.errors import ConditionFailed, InvalidAction, PermissionDenied, ValidationFailed
from engine.base.money import format_money, money_figure
from engine.cases.case import Case
from engine.cases.permissions import covers, require_visible
from engine.cases.records import CaseRecord, add_record, records_of
from engine.cases.rule_context import RuleContext
from engine.definitions.forms import clean_fields, mask_account
from engine.definitions.rules import action, json_safe, rule
from engine.operations.transitions import comment_on_case, create_draft
from engine.org.units import SYSTEM_ACTOR, Actor
from engine.procedures.amounts import Explanation, Figure, amount_rule
from engine.procedures.ledgers import draw, would_draw
from engine.procedures.parameters import ParameterSet, register_parameters, require_parameters

KIND = "hardship_aid"
STANDARDS = "hardship_aid.standards"
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
CATEGORY_LABELS = {"deep": "深度困难", "relative": "相对困难", "accident": "意外致困"}
# Form and record fields whose names carry a meaning for the rules (declared in the YAML).
EXCLUSION_PREFIX = "exclusion_"
CHECKLIST_PREFIX = "check_"
RECHECK = "yearly_recheck"


# --- Configuration --------------------------------------------------------------------------------

class Months(Schema):
    deep = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=12))
    relative = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=12))
    accident = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=12))


def _decimal(**kwargs):
    return fields.Decimal(as_string=True, required=True, **kwargs)


class StandardsSchema(Schema):
    """One area's figures for one year (valid_from/valid_to of the set)."""

    minimum_living_standard = _decimal(places=2, validate=validate.Range(min=Decimal("0.01")))
    deep_multiplier = _decimal(validate=validate.Range(min=Decimal("0.01")))
    relative_multiplier = _decimal(validate=validate.Range(min=Decimal("0.01")))
    accident_cost_share = _decimal(validate=validate.Range(min=Decimal("0.01"), max=Decimal("1")))
    living_aid_months = fields.Nested(Months, required=True)
    yearly_cap_per_household = _decimal(places=2, validate=validate.Range(min=Decimal("0.01")))

    @validates_schema
    def _relative_above_deep(self, data, **kwargs):
        if data.get("relative_multiplier") is not None and data.get("deep_multiplier") is not None \
                and data["relative_multiplier"] <= data["deep_multiplier"]:
            raise ValidationError("相对困难的倍数应高于深度困难的倍数", "relative_multiplier")


register_parameters(STANDARDS, "困难职工认定及帮扶标准", StandardsSchema)


# --- The assessment -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Assessment:
    """The figures a category decision was made from, as the audit trail shows them."""

    per_capita_income: Decimal
    deep_threshold: Decimal
    relative_threshold: Decimal
    accident_threshold: Decimal
    hardship_costs: Decimal
    category: str | None
    standards: ParameterSet
    values: dict

    def figures(self) -> dict:
        return {
            "per_capita_income": self.per_capita_income, "deep_threshold": self.deep_threshold,
            "relative_threshold": self.relative_threshold, "accident_threshold": self.accident_threshold,
            "hardship_costs": self.hardship_costs, "category": self.category,
            "category_label": CATEGORY_LABELS.get(self.category, "不符合认定条件"),
            "standards": self.standards.citation(),
        }


def money(value) -> Decimal:
    return Decimal(value or "0").quantize(CENT, ROUND_HALF_UP)


def per_capita_income(form: dict) -> Decimal:
    """(yearly income − rigid expenses) / 12 / household size, to cents, never negative."""
    disposable = money(form.get("household_income")) - money(form.get("rigid_expenses"))
    monthly = disposable / Decimal(12) / Decimal(int(form["household_size"]))
    return max(monthly.quantize(CENT, ROUND_HALF_UP), ZERO)


def category_of(form: dict, values: dict) -> tuple[str | None, dict[str, Decimal]]:
    """The hardship category (or None) and the thresholds it was judged against."""
    standard = values["minimum_living_standard"]
    income = money(form.get("household_income"))
    thresholds = {
        "deep": (standard * values["deep_multiplier"]).quantize(CENT, ROUND_HALF_UP),
        "relative": (standard * values["relative_multiplier"]).quantize(CENT, ROUND_HALF_UP),
        "accident": (income * values["accident_cost_share"]).quantize(CENT, ROUND_HALF_UP),
    }
    per_capita = per_capita_income(form)
    if per_capita < thresholds["deep"]:
        return "deep", thresholds
    if per_capita < thresholds["relative"]:
        return "relative", thresholds
    if money(form.get("hardship_costs")) > thresholds["accident"]:
        return "accident", thresholds
    return None, thresholds


def application_date(case: Case, now: datetime) -> date:
    """The local date whose year's figures apply: the submission, or now before it."""
    return (case.submitted_dt or now).astimezone(LOCAL_TZ).date()


def assess(session: Session, case: Case, now: datetime) -> Assessment:
    """Raises ConditionFailed when the area has no figures for that year."""
    standards, values = require_parameters(session, STANDARDS, case.origin_path, application_date(case, now))
    category, thresholds = category_of(case.form_data, values)
    return Assessment(per_capita_income(case.form_data), thresholds["deep"], thresholds["relative"],
                      thresholds["accident"], money(case.form_data.get("hardship_costs")), category, standards,
                      values)


def household_key(case: Case) -> str:
    return case.form_data.get("household_head_id_number") or case.form_data["id_number"]


def open_cases_of(session: Session, subject_key: str, *, excluding: int | None = None) -> list[Case]:
    """This person's hardship cases that are not closed (drafts count: they are open files)."""
    rows = session.scalars(select(Case).where(Case.kind == KIND, Case.subject_key == subject_key,
                                              Case.id != (excluding or 0)).order_by(Case.id))
    return [c for c in rows if not c.definition.state(c.state).is_final]


# --- Rules ------------------------------------------------------------------------------------------

@rule("hardship_aid_one_open_file")
def one_open_file(ctx: RuleContext) -> str | None:
    key = ctx.case.subject_key
    others = open_cases_of(ctx.session, key, excluding=ctx.case.id) if key else []
    if others:
        return f"申请人已有未办结的困难职工帮扶档案（第 {others[0].id} 号），同一人只能有一份在办档案"
    return None


@rule("hardship_aid_no_exclusions")
def no_exclusions(ctx: RuleContext) -> str | None:
    definition = ctx.definition
    declared = [spec.label for spec in definition.fields
                if spec.name.startswith(EXCLUSION_PREFIX) and ctx.case.form_data.get(spec.name) == "yes"]
    if declared:
        return f"不符合困难职工认定条件：{'；'.join(declared)}"
    return None


@rule("hardship_aid_home_visit_done")
def home_visit_done(ctx: RuleContext) -> str | None:
    """Two different people visited, on a date not before the submission nor in the future,
    and found every checklist item as declared."""
    visits = records_of(ctx.session, ctx.case, "home_visit")
    if not visits:
        return "尚未登记入户走访记录，须由两名工作人员入户走访后方可评议上报"
    spec = ctx.definition.record("home_visit")
    problems = [_visit_problem(visit.data, spec, ctx) for visit in visits]
    if any(problem is None for problem in problems):
        return None
    return problems[-1]


def _visit_problem(data: dict, spec, ctx: RuleContext) -> str | None:
    if data["visitor_one"].strip() == data["visitor_two"].strip():
        return "入户走访须由两名不同的工作人员进行"
    visited = date.fromisoformat(data["visit_date"])
    if visited > ctx.now.astimezone(LOCAL_TZ).date():
        return "走访日期不能晚于今天"
    if ctx.case.submitted_dt and visited < application_date(ctx.case, ctx.now):
        return "走访日期不能早于申请提交日期"
    mismatched = [f.label for f in spec.fields
                  if f.name.startswith(CHECKLIST_PREFIX) and data.get(f.name) != "confirmed"]
    if mismatched:
        return f"入户走访核实与申报不符：{'、'.join(mismatched)}"
    return None


@rule("hardship_aid_category_met")
def category_met(ctx: RuleContext) -> str | None:
    try:
        result = assess(ctx.session, ctx.case, ctx.now)
    except ConditionFailed as refused:
        return refused.message
    if result.category is None:
        return (f"家庭月人均收入 {result.per_capita_income} 元，不低于相对困难标准 {result.relative_threshold} 元；"
                f"致困费用 {result.hardship_costs} 元，未超过家庭年收入的规定比例（{result.accident_threshold} 元），"
                "不符合困难职工认定条件")
    return None


@rule("hardship_aid_disbursement_recorded")
def disbursement_recorded(ctx: RuleContext) -> str | None:
    paid = _paid(ctx.session, ctx.case)
    aid = money(ctx.case.outcome.get("aid_amount"))
    if paid == ZERO:
        return "尚未登记帮扶资金发放记录"
    if paid > aid:
        return f"已登记发放 {paid} 元，超过核定帮扶金额 {aid} 元"
    return None


@rule("hardship_aid_nothing_paid")
def nothing_paid(ctx: RuleContext) -> str | None:
    """An approval may be cancelled only while none of its money has gone out."""
    paid = _paid(ctx.session, ctx.case)
    return f"已登记发放 {paid} 元，不能撤销核准" if paid > ZERO else None


def _paid(session: Session, case: Case) -> Decimal:
    return sum((money(r.data["amount"]) for r in records_of(session, case, "disbursement")), ZERO)


# --- Actions ----------------------------------------------------------------------------------------

@action("hardship_aid_assess")
def assess_category(ctx: RuleContext) -> dict:
    """At the unit's evaluation: the category and the figures behind it, kept on the case."""
    result = assess(ctx.session, ctx.case, ctx.now)
    ctx.case.record_outcome(category=result.category, per_capita_income=str(result.per_capita_income))
    return result.figures()


@dataclass(frozen=True)
class Award:
    """What the standards grant a household before its yearly cap: shared by the approval, which
    draws it from the cap, and by the preview a reviewer reads before approving."""

    result: Assessment
    months: int
    rule_amount: Decimal
    wanted: Decimal
    year: int
    cap: Decimal
    account: str


def award_of(ctx: RuleContext) -> Award:
    """The category's amount (or the reviewer's lower one, from the transition's inputs)."""
    result = assess(ctx.session, ctx.case, ctx.now)
    # The form is frozen since the evaluation, but a nearer unit's standards entered since may apply.
    if result.category is None:
        raise ConditionFailed("按适用的帮扶标准已不符合困难职工认定条件，不能批准帮扶", ["不符合认定条件"])
    values = result.values
    months = values["living_aid_months"][result.category]
    rule_amount = (values["minimum_living_standard"] * months).quantize(CENT, ROUND_HALF_UP)
    return Award(result, months, rule_amount, _reviewed_amount(ctx, rule_amount),
                 application_date(ctx.case, ctx.now).year, values["yearly_cap_per_household"],
                 f"{KIND}:household:{household_key(ctx.case)}")


def award_figures(ctx: RuleContext, award_: Award, granted: Decimal, left: Decimal) -> dict:
    """The figures of an award (or of its preview), as the audit event records them."""
    return {**award_.result.figures(), "minimum_living_standard": award_.result.values["minimum_living_standard"],
            "months": award_.months, "rule_amount": award_.rule_amount, "requested_amount": award_.wanted,
            "lowered": award_.wanted < award_.rule_amount, "reason": ctx.inputs.get("reason"),
            "yearly_cap": award_.cap, "aid_year": award_.year, "aid_amount": granted, "cap_left": left,
            "capped": granted < award_.wanted}


@action("hardship_aid_award", version="1")
def award(ctx: RuleContext) -> dict:
    """The approved amount: the rule's figure (or the reviewer's lower one), capped by what is
    left of the household's yearly cap. Refuses a raise, a lowering without reason, and a
    household whose cap is used up."""
    award_ = award_of(ctx)
    granted, left = draw(ctx.session, award_.account, str(award_.year), cap=award_.cap, wanted=award_.wanted,
                         case_id=ctx.case.id, partial=True, now=ctx.now)
    if granted <= ZERO:
        raise ConditionFailed(cap_used_up(award_.year, award_.cap), [f"本户年度帮扶上限 {award_.cap} 元已用完"])
    ctx.case.record_outcome(category=award_.result.category, rule_amount=str(award_.rule_amount),
                            aid_amount=str(granted), aid_year=award_.year)
    return award_figures(ctx, award_, granted, left)


def cap_used_up(year, cap) -> str:
    return f"本户 {year} 年度帮扶金额已达上限 {cap} 元，不能再批准帮扶"


def preview_award(ctx: RuleContext) -> dict:
    """What approving now, at the standards' amount, would grant (the household's ledger read, not drawn)."""
    award_ = award_of(ctx)
    granted, left = would_draw(ctx.session, award_.account, str(award_.year), cap=award_.cap, wanted=award_.wanted,
                               case_id=ctx.case.id, partial=True)
    return json_safe(award_figures(ctx, award_, granted, left))


def explain_award(figures: dict) -> Explanation:
    """An award's figures (previewed or recorded) in words."""
    standard, granted = Decimal(figures["minimum_living_standard"]), Decimal(figures["aid_amount"])
    rule_amount, cap = Decimal(figures["rule_amount"]), Decimal(figures["yearly_cap"])
    left = Decimal(figures["cap_left"])
    worked = f"{figures['months']} 个月 × {money_figure(standard)} = {format_money(rule_amount)}"
    if figures["lowered"]:
        worked += f"；审核调低为 {format_money(figures['requested_amount'])}"
    return Explanation(
        amount=granted if granted > ZERO else None, title="帮扶金额",
        formula=f"{figures['category_label']}家庭生活救助月数 × 当地城乡低保标准", worked=worked,
        figures=(Figure("困难类别", figures["category_label"], is_money=False),
                 Figure("家庭月人均收入", Decimal(figures["per_capita_income"])),
                 Figure("低保标准（月）", standard),
                 Figure("生活救助月数", f"{figures['months']} 个月", is_money=False)),
        scheme="困难职工认定及帮扶标准", parameters=figures["standards"], cap=cap, period=str(figures["aid_year"]),
        used_before=cap - left - granted, left_after=left, computed=rule_amount, capped=bool(figures["capped"]),
        lowered_reason=figures["reason"] if figures["lowered"] else None,
        refusal=None if granted > ZERO else cap_used_up(figures["aid_year"], cap),
    )


amount_rule("hardship_aid_award", preview=preview_award, explain=explain_award, outcome_key="aid_amount")


def _reviewed_amount(ctx: RuleContext, rule_amount: Decimal) -> Decimal:
    asked = ctx.inputs.get("approved_amount")
    if asked is None:
        return rule_amount
    if asked > rule_amount:
        raise ValidationFailed({"approved_amount": [f"核定金额不能高于按标准计算的 {rule_amount} 元"]})
    if asked < rule_amount and not (ctx.inputs.get("reason") or "").strip():
        raise ValidationFailed({"reason": [f"核定金额低于按标准计算的 {rule_amount} 元，请说明调低理由"]})
    return asked


@action("hardship_aid_disbursed")
def disbursed(ctx: RuleContext) -> dict:
    """What was paid and to which card (masked: bank data is sensitive)."""
    payments = records_of(ctx.session, ctx.case, "disbursement")
    paid = _paid(ctx.session, ctx.case)
    account = mask_account(ctx.case.form_data.get("bank_account"))
    ctx.case.record_outcome(disbursed_amount=str(paid), paid_on=payments[-1].data["paid_on"], paid_to=account)
    return {"aid_amount": ctx.case.outcome.get("aid_amount"), "disbursed_amount": paid, "paid_to": account,
            "records": [r.id for r in payments]}


# --- Operations -------------------------------------------------------------------------------------

def record_disbursement(session: Session, actor: Actor, case: Case, data: dict, *,
                        now: datetime | None = None) -> CaseRecord:
    """Add a disbursement record, refusing an amount beyond what is left of the approved aid
    (a record is write-once: a wrong one could never be taken back)."""
    require_visible(actor, case)
    if case.kind != KIND:
        raise InvalidAction("不是困难职工帮扶案件")
    spec = case.definition.record("disbursement")
    amount = clean_fields(spec.fields, data).get("amount")
    left = money(case.outcome.get("aid_amount")) - _paid(session, case)
    if amount is not None and amount > left:
        raise ValidationFailed({"amount": [f"发放金额不能超过尚未发放的核定金额 {left} 元"]})
    return add_record(session, actor, case, "disbursement", data, now=now)


def start_yearly_recheck(session: Session, actor: Actor, case: Case, now: datetime) -> Case:
    """Open this year's re-check of an aided file: a linked draft prefilled from it.

    Started by the applicant's unit (applicant) or a reviewer over it. The exclusion
    declarations and attachments are not copied: they are made afresh each year.
    """
    require_visible(actor, case)
    if case.kind != KIND or case.state != "aided":
        raise InvalidAction("只有已帮扶的困难职工档案可以进行年度复核")
    _check_recheck_actor(actor, case)
    year = now.astimezone(LOCAL_TZ).year
    if _recheck_exists(session, case, year):
        raise InvalidAction(f"该档案 {year} 年度的复核已经发起")
    if case.subject_key and open_cases_of(session, case.subject_key):
        raise InvalidAction("申请人已有未办结的困难职工帮扶档案，不能再发起年度复核")
    definition = case.definition
    form = {spec.name: case.form_data[spec.name] for spec in definition.fields
            if spec.name in case.form_data and spec.type != "file" and not spec.name.startswith(EXCLUSION_PREFIX)}
    applicant = any(g.role == "applicant" and g.unit_id == case.origin_unit_id for g in actor.grants)
    recheck = create_draft(session, actor if applicant else SYSTEM_ACTOR, KIND, form=form,
                           origin_unit_id=case.origin_unit_id, linked_case=case, link_relation=RECHECK, now=now)
    if not applicant:  # the trail says who asked for it
        comment_on_case(session, actor, recheck, f"发起 {year} 年度复核（原档案第 {case.id} 号）", now=now)
    return recheck


def _check_recheck_actor(actor: Actor, case: Case) -> None:
    for grant in actor.grants:
        if grant.role == "applicant" and grant.unit_id == case.origin_unit_id:
            return
        if grant.role == "reviewer" and covers(grant, case):
            return
    raise PermissionDenied("只有申报单位或其上级审核人员可以发起年度复核")


def _recheck_exists(session: Session, case: Case, year: int) -> bool:
    rechecks = session.scalars(select(Case).where(Case.linked_case_id == case.id, Case.link_relation == RECHECK))
    return any(r.created_dt.astimezone(LOCAL_TZ).year == year and r.state != "withdrawn" for r in rechecks)
