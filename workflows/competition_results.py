"""Rules of workflows/competition_results.yaml: ranked results, and winners fed to honours.

Results arrive as ``result`` records imported from a file (engine.cases.results_import); the
checks below run on the import (scores are numbers, the grassroots union exists) and
before submission (ranks 1..n in each trade and group, totals ordered by rank).

On final approval, configured rules (parameter set ``competition_results.honours_feed``:
competition level, class, best ranks, award type) turn placings into honours nomination
drafts prepared for the participant's grassroots union, in an open honours round above
that union, linked to the competition. A placing no open round can take is recorded in
the outcome with the reason; the approval itself never fails for it.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.base.config import LOCAL_TZ
from engine.base.errors import UnionflowError
from engine.base.tables import TableProblem
from engine.cases.case import Case
from engine.cases.records import CaseRecord, records_of
from engine.cases.results_import import ImportedRow, register_row_check
from engine.cases.rule_context import RuleContext
from engine.definitions.rules import action, rule
from engine.definitions.store import WorkflowKind, current_definition
from engine.operations.transitions import create_draft
from engine.org.units import LEVEL_LABELS, LEVELS, SYSTEM_ACTOR, OrgUnit, path_ids, subtree_clause
from engine.procedures.parameters import parameters_for, register_parameters
from engine.procedures.rounds import Round

KIND = "competition_results"
RESULT = "result"
HONOURS = "honours"
LINK_RELATION = "competition_result"
FEED_PARAMETERS = "competition_results.honours_feed"
# Honours award types (owned by workflows/honours.yaml; the names are stable).
AWARD_TYPES = ("labour_medal", "labour_award", "pioneer_team", "women_model", "model_home", "union_worker")
# A rank problem list is cut here: the reviewer needs the first ones, not hundreds.
MAX_REASONS = 10


# --- Configuration ---------------------------------------------------------------------------------

class FeedRuleSchema(Schema):
    """One placing rule, e.g. city-level first-class contest, rank ≤ 1 → city 五一劳动奖章."""

    class Meta:
        unknown = RAISE

    competition_level = fields.String(required=True, validate=validate.OneOf(
        ("national", "provincial", "city", "county"), error="竞赛级别应为 national、provincial、city 或 county"))
    # Omitted: contests of either class.
    competition_class = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(
        ("class_one", "class_two"), error="竞赛类别应为 class_one 或 class_two"))
    max_rank = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, error="名次应不小于1"))
    award_type = fields.String(required=True, validate=validate.OneOf(AWARD_TYPES, error="未知的荣誉类别"))
    # Omitted: the open round nearest above the participant's union.
    round_level = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(
        LEVELS, error="批次层级应为 city、county、township 或 grassroots"))
    note = fields.String(required=True, validate=validate.Length(min=1, max=200, error="请填写规则说明（200字以内）"))


class HonoursFeedSchema(Schema):
    class Meta:
        unknown = RAISE

    rules = fields.List(fields.Nested(FeedRuleSchema), required=True,
                        validate=validate.Length(min=1, error="请至少设置一条规则"))


register_parameters(FEED_PARAMETERS, "竞赛获奖推荐荣誉规则", HonoursFeedSchema)


# --- Scores and units ------------------------------------------------------------------------------

def grassroots_union(session: Session, case: Case, name: str) -> list[OrgUnit]:
    """The grassroots unions of the case's city named ``name`` (exactly one is expected)."""
    city = session.get(OrgUnit, case.chain["city"])
    return list(session.scalars(select(OrgUnit).where(
        OrgUnit.level == "grassroots", OrgUnit.name == name, subtree_clause(OrgUnit.path, city.path))))


def check_result_rows(session: Session, case: Case, rows: list[ImportedRow]) -> list[TableProblem]:
    """Import checks beyond the field types: each union exists once in the city."""
    problems = []
    units: dict[str, int] = {}
    for row in rows:
        union = row.values["grassroots_union"]
        if union not in units:
            units[union] = len(grassroots_union(session, case, union))
        if units[union] == 0:
            problems.append(row.problem("grassroots_union", f"本市没有名为「{union}」的基层工会，请填写系统中的基层工会名称"))
        elif units[union] > 1:
            problems.append(row.problem("grassroots_union", f"本市有多个名为「{union}」的基层工会，请联系管理员区分"))
    return problems


register_row_check(KIND, RESULT, check_result_rows)


# --- Rules before submission -----------------------------------------------------------------------

@rule("competition_results_dates_in_order")
def dates_in_order(ctx: RuleContext) -> str | None:
    form = ctx.case.form_data
    start, end = form.get("start_date"), form.get("end_date")
    if start and end and end < start:  # ISO dates compare as text
        return f"竞赛结束日期（{end}）不能早于开始日期（{start}）"
    return None


def _group_name(data: dict) -> str:
    return f"{data['trade']}·{data['group']}" if data.get("group") else data["trade"]


@rule("competition_results_ranks_consistent")
def ranks_consistent(ctx: RuleContext) -> str | None:
    """Within each trade and group: ranks run 1..n without gaps or repeats, and no one ranks
    above someone with a higher total score."""
    rows = [record.data for record in records_of(ctx.session, ctx.case, RESULT)]
    if not rows:
        return "请先导入竞赛成绩排名表"
    groups: dict[str, list[dict]] = defaultdict(list)
    for data in rows:
        groups[_group_name(data)].append(data)
    problems = [p for name, members in groups.items() for p in _rank_problems(name, members)]
    if len(problems) > MAX_REASONS:
        problems = [*problems[:MAX_REASONS], f"等共 {len(problems)} 处问题"]
    return "；".join(problems) or None


def _rank_problems(name: str, members: list[dict]) -> list[str]:
    members = sorted(members, key=lambda data: data["rank"])
    ranks = [data["rank"] for data in members]
    problems = []
    if ranks != list(range(1, len(ranks) + 1)):
        shown = "、".join(str(rank) for rank in ranks)
        problems.append(f"「{name}」名次应从1起连续排列（共 {len(ranks)} 人），现为 {shown}")
    totals = [(data, Decimal(data["total_score"])) for data in members]
    for (above, above_total), (below, below_total) in zip(totals, totals[1:]):
        if below_total > above_total:
            problems.append(f"「{name}」第{below['rank']}名的总成绩（{below_total}）高于第{above['rank']}名（{above_total}）")
    return problems


# --- Feeding honours -------------------------------------------------------------------------------

@action("competition_results_feed_honours")
def feed_honours(ctx: RuleContext) -> dict:
    """Prepare an honours nomination draft for each placing a configured rule selects."""
    today = ctx.now.astimezone(LOCAL_TZ).date()
    if ctx.session.get(WorkflowKind, HONOURS) is None:
        return _fed(ctx, None, [], [], "未启用荣誉推荐业务，未生成推荐")
    parameters = parameters_for(ctx.session, FEED_PARAMETERS, ctx.case.origin_path, today)
    if parameters is None:
        return _fed(ctx, None, [], [], f"未配置{today.year}年适用的「竞赛获奖推荐荣誉规则」，未生成推荐")
    rules = HonoursFeedSchema().load(parameters.values)["rules"]
    created, skipped = [], []
    for record, number, feed_rule in _selected_placings(ctx, rules):
        placing = _placing(record.data)
        placing |= {"rule": number, "note": feed_rule["note"], "award_type": feed_rule["award_type"]}
        unit, round_, reason = _destination(ctx, record.data, feed_rule)
        if reason:
            skipped.append(placing | {"reason": reason})
            continue
        try:
            # A nomination the honours kind refuses (its form, the unit's chain) is reported,
            # not allowed to undo the competition's approval.
            with ctx.session.begin_nested():
                draft = create_draft(
                    ctx.session, SYSTEM_ACTOR, HONOURS, origin_unit_id=unit.id, round_id=round_.id,
                    linked_case=ctx.case, link_relation=LINK_RELATION,
                    form=_nomination_form(ctx, record.data, feed_rule["award_type"]), now=ctx.now,
                )
        except UnionflowError as err:
            skipped.append(placing | {"reason": str(err)})
            continue
        created.append(placing | {"case_id": draft.id, "round_id": round_.id, "unit": unit.name})
    return _fed(ctx, parameters.citation(), created, skipped, None)


def _fed(ctx: RuleContext, citation: dict | None, created: list, skipped: list, note: str | None) -> dict:
    ctx.case.record_outcome(honours_nominations=[item["case_id"] for item in created])
    figures = {"parameters": citation, "nominations": created, "not_put_forward": skipped}
    if note:
        figures["note"] = note
    return figures


def _selected_placings(ctx: RuleContext, rules: list[dict]) -> list[tuple[CaseRecord, int, dict]]:
    """(record, rule number from 1, rule) for each person's best placing that a rule selects;
    one nomination per person even if they placed in two trades."""
    form = ctx.case.form_data
    selected: dict[str, tuple[CaseRecord, int, dict]] = {}
    records = sorted(records_of(ctx.session, ctx.case, RESULT), key=lambda r: (r.data["rank"], r.id))
    for record in records:
        match = next(((number, feed_rule) for number, feed_rule in enumerate(rules, start=1)
                      if _rule_matches(feed_rule, form, record.data)), None)
        if match and record.data["id_number"] not in selected:
            selected[record.data["id_number"]] = (record, *match)
    return list(selected.values())


def _rule_matches(feed_rule: dict, form: dict, data: dict) -> bool:
    return (feed_rule["competition_level"] == form.get("competition_level")
            and feed_rule["competition_class"] in (None, form.get("competition_class"))
            and data["rank"] <= feed_rule["max_rank"])


def _placing(data: dict) -> dict:
    """How the outcome names a placing (no ID number: the audit trail is read widely)."""
    return {"participant": data["participant_name"], "trade": data["trade"], "group": data.get("group"),
            "rank": data["rank"]}


def _destination(ctx: RuleContext, data: dict, feed_rule: dict) -> tuple[OrgUnit | None, Round | None, str | None]:
    """The participant's grassroots union and the open honours round above it that takes
    the rule's award type, or the reason there is none."""
    units = grassroots_union(ctx.session, ctx.case, data["grassroots_union"])
    if len(units) != 1:
        return None, None, f"未能唯一确定基层工会「{data['grassroots_union']}」"
    unit = units[0]
    round_ = _open_round(ctx.session, unit, feed_rule, ctx.now)
    if round_ is None:
        award = _award_label(ctx.session, feed_rule["award_type"])
        where = LEVEL_LABELS[feed_rule["round_level"]] if feed_rule["round_level"] else "上级工会"
        return unit, None, f"{where}没有正在接受「{award}」推荐的评选批次"
    return unit, round_, None


def _open_round(session: Session, unit: OrgUnit, feed_rule: dict, now: datetime) -> Round | None:
    """The open honours round of the nearest unit above ``unit`` (or at the rule's level)."""
    ancestors = path_ids(unit.path)
    rows = session.execute(select(Round, OrgUnit.level).join(OrgUnit, OrgUnit.id == Round.unit_id).where(
        Round.kind == HONOURS, Round.unit_id.in_(ancestors), Round.opens_dt <= now, Round.closes_dt > now)).all()
    fitting = [(round_, level) for round_, level in rows if feed_rule["award_type"] in round_.categories
               and feed_rule["round_level"] in (None, level)]
    if not fitting:
        return None
    depth = {unit_id: i for i, unit_id in enumerate(ancestors)}
    return max(fitting, key=lambda item: (depth[item[0].unit_id], item[0].opens_dt, item[0].id))[0]


def _award_label(session: Session, award_type: str) -> str:
    definition = current_definition(session, HONOURS)
    return dict(definition.field("award_type").choices).get(award_type, award_type)


def _nomination_form(ctx: RuleContext, data: dict, award_type: str) -> dict:
    """The honours form as far as the result row fills it; the union completes the rest (the
    sex and birth date follow from the ID number: honours derives them)."""
    honours = current_definition(ctx.session, HONOURS)
    result_spec = ctx.definition.record(RESULT)
    form = ctx.case.form_data
    level = dict(ctx.definition.field("competition_level").choices)[form["competition_level"]]
    kind = dict(ctx.definition.field("competition_class").choices)[form["competition_class"]]
    group = f"（{data['group']}）" if data.get("group") else ""
    summary = (f"在{form['competition_name']}（{level}{kind}）{data['trade']}{group}中获得第{data['rank']}名，"
               f"总成绩{data['total_score']}分。")
    values = {
        "award_type": award_type,
        "nominee_name": data["participant_name"],
        "id_number": data["id_number"],
        "employer": data["employer"],
        "post": data["trade"],
        "skill_grade": dict(result_spec.field("skill_grade").choices).get(data.get("skill_grade")),
        "merits_summary": summary,
    }
    known = {spec.name: spec for spec in honours.fields}
    out = {}
    for name, value in values.items():
        spec = known.get(name)
        if spec is None or value is None:
            continue  # honours no longer has the field, or the result row left it empty
        out[name] = value[:spec.max_length] if spec.max_length and isinstance(value, str) else value
    return out
