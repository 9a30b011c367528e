"""The working-day calendar: how far it reaches, the days entered, and (city admins) days and
whole years entered (engine.calendar.working_days decides who may and checks the days)."""
from __future__ import annotations

from marshmallow import ValidationError, fields, pre_load, validate

from api.blueprint import Blueprint
from api.schemas import ApiSchema, ErrorSchema
from engine.calendar.working_days import MAX_DAYS_AT_ONCE, CalendarEntry, calendar_days, too_many_days
from engine.operations.calendar_keeping import enter_calendar_days
from web.auth import current_actor
from web.database import request_session, unit_of_work
from web.localtime import current_coverage, local_today

blp = Blueprint("calendar", __name__, url_prefix="/api/v1",
                description="工作日历：法定节假日与调休安排、本地调整（录入限市总工会管理员）")

YEAR = validate.Range(min=1900, max=2200, error="应为 1900 到 2200 之间的年份")


class CoverageSchema(ApiSchema):
    package_last_year = fields.Integer(metadata={"description": "chinesecalendar 程序包包含的最后一年"})
    last_covered_year = fields.Integer(metadata={"description": "可以计算工作日的最后一年（程序包或整年录入）"})
    covered_until = fields.Date()
    days_left = fields.Integer(metadata={"description": "今天到 covered_until 的自然日数，已过则为负"})
    warning_days = fields.Integer(metadata={"description": "提前多少个自然日提醒（UNIONFLOW_CALENDAR_WARNING_DAYS）"})
    warn = fields.Boolean(metadata={"description": "须提醒管理员录入下一年度"})
    message = fields.String()


class EnteredYearSchema(ApiSchema):
    year = fields.Integer()
    source = fields.String()


class CalendarDaySchema(ApiSchema):
    day = fields.Date()
    is_working = fields.Boolean(metadata={"description": "true：工作日（班，含调休上班）；false：休息日（休）"})
    note = fields.String()


class CalendarQuerySchema(ApiSchema):
    year = fields.Integer(validate=YEAR, metadata={"description": "列出该年录入的日期，默认今年"})


class CalendarSchema(ApiSchema):
    coverage = fields.Nested(CoverageSchema)
    entered_years = fields.List(fields.Nested(EnteredYearSchema), metadata={"description": "整年录入的年度"})
    year = fields.Integer()
    days = fields.List(fields.Nested(CalendarDaySchema), metadata={"description": "该年录入的日期（覆盖程序包的安排）"})


class NewCalendarDaySchema(ApiSchema):
    day = fields.Date(required=True)
    is_working = fields.Boolean(required=True, metadata={"description": "true：工作日（班）；false：休息日（休）"})
    note = fields.String(load_default="", metadata={"description": "100 字以内，例如“春节”“调休上班”"})


class EnterCalendarDaysSchema(ApiSchema):
    days = fields.List(fields.Nested(NewCalendarDaySchema), required=True,
                       metadata={"description": f"至多 {MAX_DAYS_AT_ONCE} 天"})
    year = fields.Integer(load_default=None, validate=YEAR, metadata={
        "description": "整年录入：days 为该年的全部放假日和调休上班日，其余周一至周五为工作日；不填则逐日调整"})
    source = fields.String(load_default="", metadata={"description": "来源，例如国务院办公厅通知的文号（200 字以内）"})

    @pre_load
    def _bounded(self, data, **_kwargs):
        # Counted before any day is loaded: a body of a million days is refused, not deserialised.
        days = data.get("days") if isinstance(data, dict) else None
        if isinstance(days, list) and len(days) > MAX_DAYS_AT_ONCE:
            raise ValidationError({"days": [too_many_days()]})
        return data


class CalendarEntryResultSchema(ApiSchema):
    added = fields.Integer()
    changed = fields.Integer()
    unchanged = fields.Integer()
    year = fields.Integer(allow_none=True)
    coverage = fields.Nested(CoverageSchema)


@blp.route("/calendar")
@blp.arguments(CalendarQuerySchema, location="query")
@blp.response(200, CalendarSchema)
def get_calendar(query):
    """工作日历的覆盖范围、整年录入的年度，以及某年录入的日期。"""
    coverage = current_coverage()
    year = query.get("year") or local_today().year
    return {"coverage": coverage, "entered_years": coverage.entered_years, "year": year,
            "days": calendar_days(request_session(), year)}


@blp.route("/calendar/days", methods=["POST"])
@blp.arguments(EnterCalendarDaysSchema)
@blp.response(200, CalendarEntryResultSchema)
@blp.alt_response(403, schema=ErrorSchema, description="调用人不是市总工会的管理员")
@unit_of_work
def enter_days(data):
    """录入或修改若干天（市总工会管理员）；填 year 时整年录入该年度的节假日和调休安排。全部成功或全部不录入。"""
    entries = [CalendarEntry(**day) for day in data["days"]]
    result = enter_calendar_days(request_session(), current_actor(), entries, year=data["year"],
                                 source=data["source"])
    return {"added": result.added, "changed": result.changed, "unchanged": result.unchanged,
            "year": result.year, "coverage": current_coverage()}
