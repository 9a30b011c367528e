"""marshmallow's messages in Chinese, for every schema of unionflow.

A field copies its class's messages when it is built, so they must be set before any
schema is defined: the engine package sets them when it is first imported (engine/__init__),
before its modules, the workflows' rule modules and the API define theirs.
"""
from __future__ import annotations

from marshmallow import Schema, fields

# In the words the rest of unionflow uses, set once on the base classes.
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


SCHEMA_MESSAGES = {"type": "应为对象", "unknown": "不认识的字段"}


def use_chinese_messages() -> None:
    Schema._default_error_messages = {**Schema._default_error_messages, **SCHEMA_MESSAGES}
    for field_class, messages in CHINESE_MESSAGES.items():
        field_class.default_error_messages = {**field_class.default_error_messages, **messages}
