"""Field conventions of the API: times in ISO 8601 with the deployment's offset, money as
strings with two decimals, and marshmallow's own messages in Chinese.
"""
from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from flask import current_app
from marshmallow import fields

CENT = Decimal("0.01")


def local_timezone():
    return current_app.extensions["unionflow"].settings.timezone


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


# marshmallow's English messages, in the words the rest of unionflow uses. Set once on the
# base classes, so every schema of the API (and webargs' parsing) speaks Chinese.
CHINESE_MESSAGES = {
    fields.Field: {"required": "此项为必填项", "null": "此项不能为空", "validator_failed": "此项的值不符合要求"},
    fields.String: {"invalid": "应为文字"},
    fields.Integer: {"invalid": "应为整数", "too_large": "数字过大"},
    fields.Number: {"invalid": "应为数字", "too_large": "数字过大"},
    fields.Decimal: {"special": "应为有限的数字"},
    fields.Boolean: {"invalid": "应为 true 或 false"},
    fields.DateTime: {"invalid": "应为 ISO 8601 格式的时间", "invalid_awareness": "时间须带时区"},
    fields.Date: {"invalid": "应为 YYYY-MM-DD 格式的日期"},
    fields.List: {"invalid": "应为列表"},
    fields.Dict: {"invalid": "应为对象"},
    fields.Nested: {"type": "应为对象"},
    fields.Email: {"invalid": "电子邮箱格式不正确"},
}


def use_chinese_messages() -> None:
    for field_class, messages in CHINESE_MESSAGES.items():
        field_class.default_error_messages = {**field_class.default_error_messages, **messages}
