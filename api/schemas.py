"""Marshmallow schemas for what the API sends out (engine dataclasses → JSON).

Every schema of the API derives from ``ApiSchema``: unknown input fields are refused with a
message, and the error text is Chinese (see api.fields).
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from marshmallow import RAISE, Schema, fields

from api.fields import use_chinese_messages
from engine.definitions import STATE_KIND_LABELS, ASSIGNEE, TransitionSpec
from engine.org import LEVEL_LABELS

use_chinese_messages()


class ApiSchema(Schema):
    class Meta:
        unknown = RAISE

    error_messages = {"unknown": "不认识的字段", "type": "应为 JSON 对象"}


class ErrorBodySchema(ApiSchema):
    code = fields.String(required=True, metadata={"description": "稳定的机器可读错误码，如 not_found、validation_failed"})
    message = fields.String(required=True, metadata={"description": "给人看的中文说明"})
    field_messages = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True, data_key="fields",
                         metadata={"description": "字段名 → 该字段的错误提示；输入无误时为空"})
    current_version = fields.Integer(metadata={"description": "版本冲突（409）时案件的当前版本"})
    reasons = fields.List(fields.String(), metadata={"description": "规则拒绝（422）时的各条原因"})


class ErrorSchema(ApiSchema):
    """The one error format of every /api/ URL."""

    error = fields.Nested(ErrorBodySchema, required=True)


class Bound(fields.Field):
    """A form field's min/max: integers stay numbers, money ("1234.50") and dates ("2026-05-01") become strings."""

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, date):
            return value.isoformat()
        return value


class PartySchema(ApiSchema):
    party = fields.Function(str)  # "reviewer@township"
    role = fields.String()
    level = fields.String()
    label = fields.String()


# `by: $assignee` names no fixed party: whoever the source state waits for.
ASSIGNEE_PARTY = {"party": ASSIGNEE, "role": None, "level": None, "label": "当前环节的办理人"}


class StateSchema(ApiSchema):
    id = fields.String()
    label = fields.String()
    kind = fields.String()
    kind_label = fields.Function(lambda state: STATE_KIND_LABELS[state.kind])
    waits_for = fields.Nested(PartySchema, allow_none=True)
    deadline_working_days = fields.Integer(allow_none=True)


class TransitionSchema(ApiSchema):
    trigger = fields.String()
    label = fields.String()
    sources = fields.List(fields.String())
    dest = fields.String()
    by = fields.Method("dump_parties")
    conditions = fields.List(fields.String())
    comment_required = fields.Boolean()

    def dump_parties(self, spec: TransitionSpec) -> list[dict]:
        return [ASSIGNEE_PARTY if party == ASSIGNEE else PartySchema().dump(party) for party in spec.by]


class ChoiceSchema(ApiSchema):
    value = fields.Function(lambda choice: choice[0])
    label = fields.Function(lambda choice: choice[1])


class FieldSchema(ApiSchema):
    name = fields.String()
    label = fields.String()
    type = fields.String()
    required = fields.Boolean()
    max_length = fields.Integer(allow_none=True)
    min = Bound(allow_none=True)
    max = Bound(allow_none=True)
    choices = fields.List(fields.Nested(ChoiceSchema))
    max_files = fields.Integer(allow_none=True)
    max_size_mb = fields.Integer(allow_none=True)
    accept = fields.List(fields.String())
    places = fields.Integer(allow_none=True)
    sensitive = fields.Boolean()
    help = fields.String(allow_none=True)


class DefinitionSummarySchema(ApiSchema):
    kind = fields.String()
    label = fields.String()
    origin_level = fields.String()
    origin_level_label = fields.Function(lambda definition: LEVEL_LABELS[definition.origin_level])
    content_hash = fields.String()


class DefinitionSchema(DefinitionSummarySchema):
    title_field = fields.String()
    states = fields.List(fields.Nested(StateSchema))
    transitions = fields.List(fields.Nested(TransitionSchema))
    form = fields.List(fields.Nested(FieldSchema), attribute="fields")
