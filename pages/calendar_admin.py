"""The working-day calendar page (/admin/calendar): how far it reaches, the days entered by year,
one day added, changed or removed, a year's table imported.

The calendar is one for the whole union: every admin may look, the city federation's admins
change it (engine.calendar.working_days decides). ``calendar_warning`` is the alert the admin home page and
the dashboard show when the calendar is about to run out.
"""
from __future__ import annotations

from datetime import date
from itertools import groupby

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine.base.errors import ValidationFailed
from engine.calendar.working_days import CalendarCoverage, CalendarEntry, calendar_days, parse_calendar_table
from engine.operations.calendar_keeping import enter_calendar_days, may_keep_calendar, remove_calendar_day, union_wide
from web.auth import current_actor, role_required
from web.database import committing, request_session
from web.localtime import current_coverage

bp = Blueprint("calendar_admin", __name__, url_prefix="/admin/calendar")

# Who is warned that the calendar runs out: those who act for the whole union.
WARNED_ROLES = ("admin", "reviewer")
# By date.weekday(): a make-up working day is a weekend day marked 班.
WEEKDAY_LABELS = (_l("周一"), _l("周二"), _l("周三"), _l("周四"), _l("周五"), _l("周六"), _l("周日"))


def calendar_warning() -> CalendarCoverage | None:
    """The coverage when it is time to warn and one acts as an admin or reviewer of the city."""
    if not any(grant.role in WARNED_ROLES and union_wide(grant) for grant in current_actor().grants):
        return None
    coverage = current_coverage()
    return coverage if coverage.warn else None


# --- The page --------------------------------------------------------------------------------------

@bp.get("")
@role_required("admin")
def calendar():
    return _calendar_page()


def _calendar_page(values=None, errors=None, status: int = 200):
    coverage = current_coverage()
    years = [(year, list(days)) for year, days in groupby(calendar_days(request_session()), key=lambda row: row.day.year)]
    return render_template(
        "admin/calendar.html", coverage=coverage, years=sorted(years, key=lambda pair: pair[0], reverse=True),
        entered={entered.year: entered for entered in coverage.entered_years},
        may_keep=may_keep_calendar(current_actor()), weekday_labels=WEEKDAY_LABELS,
        type_options=[("0", _("休（休息日）")), ("1", _("班（工作日）"))],
        values=values or {}, errors=errors or {},
    ), status


# --- One day ---------------------------------------------------------------------------------------

@bp.post("/days")
@role_required("admin")
def set_day():
    form = request.form
    try:
        entry = _entry_from(form)
        with committing() as session:
            enter_calendar_days(session, current_actor(), [entry])
    except ValidationFailed as err:
        # The engine names the one entry's fields "days.0.<field>"; here they are the form's.
        return _calendar_page(form, {key.rsplit(".", 1)[-1]: messages for key, messages in err.fields.items()}, 422)
    kind = _("班（工作日）") if entry.is_working else _("休（休息日）")
    flash(_("已保存 %(day)s：%(kind)s", day=entry.day.isoformat(), kind=kind), "success")
    return redirect(url_for("calendar_admin.calendar"))


def _entry_from(form) -> CalendarEntry:
    errors: dict[str, list[str]] = {}
    try:
        day = date.fromisoformat(form.get("day", "").strip())
    except ValueError:
        errors["day"] = [_("请填写日期，格式为 YYYY-MM-DD")]
    kind = form.get("is_working", "")
    if kind not in ("0", "1"):
        errors["is_working"] = [_("请选择休息日或工作日")]
    if errors:
        raise ValidationFailed(errors)
    return CalendarEntry(day, kind == "1", form.get("note", "").strip())


@bp.post("/days/<day>/remove")
@role_required("admin")
def remove_day(day: str):
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        abort(404)
    with committing() as session:
        remove_calendar_day(session, current_actor(), parsed)
    flash(_("已删除 %(day)s 的录入", day=parsed.isoformat()), "success")
    return redirect(url_for("calendar_admin.calendar"))


# --- A table ---------------------------------------------------------------------------------------

@bp.post("/import")
@role_required("admin")
def import_table():
    form = request.form
    upload = request.files.get("file")
    try:
        year = _year_from(form.get("year", ""), has_file=bool(upload and upload.filename))
        entries = parse_calendar_table(upload.read(), upload.filename)
        with committing() as session:
            result = enter_calendar_days(session, current_actor(), entries, year=year, source=form.get("source", ""))
    except ValidationFailed as err:
        return _calendar_page(form, _import_errors(err.fields), 422)
    counts = {"added": result.added, "changed": result.changed, "unchanged": result.unchanged}
    if result.year:
        flash(_("已录入 %(year)s 年的工作日历：新增 %(added)s 天，修改 %(changed)s 天，未变 %(unchanged)s 天",
                year=result.year, **counts), "success")
    else:
        flash(_("已导入：新增 %(added)s 天，修改 %(changed)s 天，未变 %(unchanged)s 天", **counts), "success")
    return redirect(url_for("calendar_admin.calendar"))


def _year_from(raw: str, *, has_file: bool) -> int | None:
    """The optional year, checked with the file's presence so both messages show at once."""
    errors: dict[str, list[str]] = {}
    raw = raw.strip()
    if raw and not (raw.isascii() and raw.isdigit() and len(raw) == 4):
        errors["year"] = [_("年度应为四位数字，例如 2027")]
    if not has_file:
        errors["file"] = [_("请选择要导入的文件")]
    if errors:
        raise ValidationFailed(errors)
    return int(raw) if raw else None


def _import_errors(fields: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every problem with the rows shows at the file input (each names its line)."""
    errors: dict[str, list[str]] = {}
    for key, messages in fields.items():
        errors.setdefault("file" if key.startswith("days") else key, []).extend(messages)
    return errors
