"""The dashboard (统计): figures for the subtree of the unit one acts at, as charts and tables.

Reviewers, admins and auditors see open cases per stage and unit, cases waiting and overdue
per unit, the median working days per review stage, the money granted per kind, unit and period
and each round's places given and used (engine.reading.statistics), filtered by kind and by the
dates the cases were created. Every money and quota figure links to the cases behind it
(/dashboard/cases).
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from engine.base.errors import ValidationFailed
from engine.definitions.store import list_kinds
from engine.reading.statistics import (
    BEHIND_LIMIT, Behind, KindDurations, KindMoney, StageCounts, StatisticsFilter, UnitRef, UnitWaiting, cases_behind,
    check_filter, money_granted, open_cases_by_stage, quota_use, stage_durations, statistics_scope, waiting_by_unit,
)
from pages.calendar_admin import calendar_warning
from pages.charts import bar_chart, format_number, stacked_bar_chart
from web.auth import current_actor, role_required
from web.database import request_session
from web.i18n import money

bp = Blueprint("dashboard", __name__)

DATE_FIELDS = ("created_from", "created_to")


@bp.route("/dashboard")
@role_required("reviewer", "admin", "auditor")
def dashboard():
    session, actor = request_session(), current_actor()
    page = {"scope": statistics_scope(session, actor), "kinds": list_kinds(session), "values": request.args,
            "unit_name": unit_name, "format_number": format_number, "calendar_warning": calendar_warning()}
    try:
        wanted = _filter_from(session, request.args)
    except ValidationFailed as err:
        return render_template("dashboard/dashboard.html", errors=err.fields, **page), 422
    stages = open_cases_by_stage(session, actor, wanted)
    waiting = waiting_by_unit(session, actor, wanted)
    durations = stage_durations(session, actor, wanted)
    money = money_granted(session, actor, wanted)
    return render_template(
        "dashboard/dashboard.html", errors={}, waiting=waiting, waiting_chart=_waiting_chart(waiting),
        sections=_sections(page["kinds"], stages, durations), **page,
        money=[(figures, _money_chart(figures, request.args)) for figures in money],
        quotas=quota_use(session, actor, wanted), behind_url=behind_url,
    )


@bp.route("/dashboard/cases")
@role_required("reviewer", "admin", "auditor")
def cases():
    """The cases behind a money or quota figure of the dashboard (the figure's link)."""
    session, actor = request_session(), current_actor()
    try:
        wanted = _filter_from(session, request.args)
        behind = Behind(unit_id=_int(request.args, "unit"), kind=request.args.get("kind") or None,
                        period=request.args.get("period") or None, round_id=_optional_int(request.args, "round"),
                        category=request.args.get("category") or None)
    except ValidationFailed as err:
        return render_template("dashboard/cases.html", errors=err.fields, rows=[], limit=BEHIND_LIMIT,
                               back=url_for(".dashboard")), 422
    found = cases_behind(session, actor, behind, wanted)
    rows = [{"case": case, "kind_label": case.definition.label, "state": case.definition.state(case.state),
             "drawn": drawn} for case, drawn in found.rows]
    return render_template("dashboard/cases.html", errors={}, rows=rows, behind=behind, unit=unit_name(found.unit),
                           limit=BEHIND_LIMIT, back=url_for(".dashboard", **_filter_args(request.args)))


def behind_url(args, unit_id: int, **figure) -> str:
    """The address of the cases behind a figure, keeping the dashboard's filter."""
    figure = {name: value for name, value in figure.items() if value is not None}
    return url_for(".cases", **(_filter_args(args) | {"unit": unit_id} | figure))


def _filter_args(args) -> dict:
    return {name: args[name] for name in ("kind", *DATE_FIELDS) if args.get(name)}


def _int(args, name: str) -> int:
    value = _optional_int(args, name)
    if value is None:
        raise ValidationFailed({name: [_("请选择单位")]})
    return value


def _optional_int(args, name: str) -> int | None:
    text = args.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 12:
        raise ValidationFailed({name: [_("应为编号（正整数）")]})
    return int(text)


def _money_chart(figures: KindMoney, args) -> Markup | None:
    """The latest period's amounts per unit, each bar leading to its cases."""
    if not figures.periods:
        return None
    period = figures.periods[0]
    return bar_chart(
        f"money-{figures.kind}", _("%(kind)s：%(period)s 核定金额（按单位）", kind=figures.kind_label, period=period),
        _("各单位核定金额（元）"), [(unit_name(unit), float(figures.amount(unit.id, period))) for unit in figures.units],
        links=[behind_url(args, unit.id, kind=figures.kind, period=period) for unit in figures.units],
        value_text=money, empty_text=_("暂无核定金额"),
    )


def _filter_from(session, args) -> StatisticsFilter:
    """The query arguments as a filter; bad dates and an unknown kind are reported by field."""
    errors, dates = {}, {}
    for name in DATE_FIELDS:
        text = args.get(name, "").strip()
        try:
            dates[name] = date.fromisoformat(text) if text else None
        except ValueError:
            errors[name] = [_("请按 年-月-日 填写日期，例如 2026-05-01")]
            dates[name] = None
    wanted = StatisticsFilter(kind=args.get("kind", "").strip() or None, **dates)
    try:
        check_filter(session, wanted)
    except ValidationFailed as err:
        errors = {**err.fields, **errors}
    if errors:
        raise ValidationFailed(errors)
    return wanted


def unit_name(unit: UnitRef) -> str:
    return _("%(name)s（本级）", name=unit.name) if unit.is_scope else unit.name


def _sections(kinds, stages: list[StageCounts], durations: list[KindDurations]) -> list[dict]:
    """One section per kind with figures, in the order of the kinds."""
    stages_of = {counts.kind: counts for counts in stages}
    durations_of = {figures.kind: figures for figures in durations}
    sections = []
    for definition in kinds:
        counts, times = stages_of.get(definition.kind), durations_of.get(definition.kind)
        if counts is None and times is None:
            continue
        sections.append({
            "kind": definition.kind, "label": definition.label, "stages": counts, "durations": times,
            "stages_chart": _stages_chart(counts) if counts else None,
            "durations_chart": _durations_chart(times) if times else None,
        })
    return sections


def _stages_chart(counts: StageCounts) -> Markup:
    return stacked_bar_chart(
        f"stages-{counts.kind}", _("%(kind)s：在办案件（按环节与单位）", kind=counts.kind_label),
        _("各单位在办案件数，按所处环节分段"),
        [state.label for state in counts.states],
        [(unit_name(unit), [counts.count(unit.id, state.id) for state in counts.states]) for unit in counts.units],
        empty_text=_("暂无在办案件"), total_label=_("合计"),
    )


def _waiting_chart(waiting: list[UnitWaiting]) -> Markup:
    return bar_chart(
        "overdue", _("逾期未办（按办理单位）"), _("各单位已超过办理期限的待审核案件数"),
        [(unit_name(row.unit), row.overdue) for row in waiting], empty_text=_("暂无数据"),
    )


def _durations_chart(times: KindDurations) -> Markup:
    measured = [stage for stage in times.stages if stage.median_days is not None]
    return bar_chart(
        f"durations-{times.kind}", _("%(kind)s：各环节办理用时中位数（工作日）", kind=times.kind_label),
        _("各环节办理用时的中位数，单位为工作日"),
        [(stage.state.label, stage.median_days) for stage in measured],
        empty_text=_("暂无已办结的环节"),
    )
