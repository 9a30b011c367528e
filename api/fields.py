"""Field conventions of the API: times in ISO 8601 with the deployment's offset, money as
strings with two decimals, and marshmallow's own messages in Chinese.
"""
from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from marshmallow import fields

from web.localtime import local_timezone

CENT = Decimal("0.01")


class LocalDateTime(fields.DateTime):
    """A stored UTC moment, sent as local time with its offset: "2026-05-06T09:30:00+08:00"."""

    def _serialize(self, value: datetime | None, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(local_timezone()).isoformat(timespec="seconds")


class MoneyString(fields.String):
    """An amount of yuan as a string with exactly two decimals ("1200.00"): never a float."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return str(Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP))
