"""Field conventions of the API: times in ISO 8601 with the deployment's offset, money as
strings with two decimals, and marshmallow's own messages in Chinese.
"""
from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from marshmallow import fields

from engine.cases.deadlines import last_day_to_act
from web.localtime import local_timezone

CENT = Decimal("0.01")


class LocalDateTime(fields.DateTime):
    """A stored UTC moment, sent as local time with its offset: "2026-05-06T09:30:00+08:00"."""

    def _serialize(self, value: datetime | None, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(local_timezone()).isoformat(timespec="seconds")


class LastDay(fields.Date):
    """A due time as its last day to act, local date "2026-12-10" (engine.cases.deadlines.last_day_to_act):
    a deadline at midnight after 10 December leaves the 10th; the pages show the same day.
    Output only: it reads the same attribute as the due time beside it."""

    def __init__(self, **kwargs):
        super().__init__(dump_only=True, **kwargs)

    def _serialize(self, value: datetime | None, attr, obj, **kwargs):
        if value is None:
            return None
        return last_day_to_act(value, local_timezone()).isoformat()


class MoneyString(fields.String):
    """An amount of yuan as a string with exactly two decimals ("1200.00"): never a float."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return str(Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP))
