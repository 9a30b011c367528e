"""Marshmallow schemas for what the API sends out (engine dataclasses → JSON).

Every schema of the API derives from ``ApiSchema``: unknown input fields are refused with a
message, and the error text is Chinese (see api.fields).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from engine.db import MAX_ROW_ID  # noqa: F401 - the API's bound of every integer, documented
from engine.definitions import STATE_KIND_LABELS, ASSIGNEE, TransitionSpec
from engine.org import LEVEL_LABELS


INTEGER_RANGE = validate.Range(min=-MAX_ROW_ID - 1, max=MAX_ROW_ID, error="数字超出允许的范围")
NUL = "\x00"


class ApiSchema(Schema):
    """Base of every schema of the API.

    Two rules hold for every input whatever its schema, each a 422 on the field instead of a
    database error (500): no text holds a NUL character (PostgreSQL's text cannot), and no
    integer exceeds the integer columns (the document shows the bounds).
    """

    class Meta:
        unknown = RAISE

    error_messages = {"unknown": "不认识的字段", "type": "应为 JSON 对象"}

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        for field in (field_obj, getattr(field_obj, "inner", None)):  # a list of integers too
            if isinstance(field, fields.Integer):
                field.validators = [*field.validators, INTEGER_RANGE]

    @pre_load
    def refuse_nul_characters(self, data, **kwargs):
        places = _nul_places(data, "")
        if places:
            raise ValidationError({place or "_schema": ["不能包含空字符（U+0000）"] for place in places})
        return data


class RowId(fields.Integer):
    """An id sent in a body or a query string (unit_id, round_id, cases[].id): a whole number
    from 1 to what the integer columns hold, refused on its field with a message that says so."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Range(min=1, max=MAX_ROW_ID, error="应为有效的编号（正整数）"))
        super().__init__(**kwargs)


def _nul_places(node, place: str) -> list[str]:
    """Where in raw input a text (or a key) holds a NUL: dotted names, as error fields are."""
    if isinstance(node, str):
        return [place] if NUL in node else []
    if isinstance(node, Mapping):
        items = [(str(key), node[key]) for key in node]
    elif isinstance(node, (list, tuple)):
        items = [(str(index), value) for index, value in enumerate(node)]
    else:
        return []
    found = []
    for key, value in items:
        inner = f"{place}.{key}" if place else key
        found.extend([inner] if NUL in key else _nul_places(value, inner))
    return found


class ErrorBodySchema(ApiSchema):
    code = fields.String(required=True, metadata={"description": "稳定的机器可读错误码，如 not_found、validation_failed"})
    message = fields.String(required=True, metadata={"description": "给人看的中文说明"})
    field_messages = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True, data_key="fields", attribute="fields",
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


BOUND_DOC = {"type": ["integer", "string"], "description": "整数，或金额、日期的字符串（如 \"1234.50\"、\"2026-05-01\"）"}


class PartySchema(ApiSchema):
    party = fields.Function(str, metadata={"type": "string"})  # "reviewer@township"
    role = fields.String(allow_none=True)  # none for $assignee
    level = fields.String(allow_none=True)
    label = fields.String()


# `by: $assignee` names no fixed party: whoever the source state waits for.
ASSIGNEE_PARTY = {"party": ASSIGNEE, "role": None, "level": None, "label": "当前环节的办理人"}


class StateSchema(ApiSchema):
    id = fields.String()
    label = fields.String()
    kind = fields.String()
    kind_label = fields.Function(lambda state: STATE_KIND_LABELS[state.kind], metadata={"type": "string"})
    waits_for = fields.Nested(PartySchema, allow_none=True)
    deadline_working_days = fields.Integer(allow_none=True)


class TransitionSchema(ApiSchema):
    trigger = fields.String()
    label = fields.String()
    sources = fields.List(fields.String())
    dest = fields.String()
    by = fields.Method("dump_parties", metadata={"type": "array", "items": {"$ref": "#/components/schemas/Party"}})
    conditions = fields.List(fields.String())
    comment_required = fields.Boolean()

    def dump_parties(self, spec: TransitionSpec) -> list[dict]:
        return [ASSIGNEE_PARTY if party == ASSIGNEE else PartySchema().dump(party) for party in spec.by]


class ChoiceSchema(ApiSchema):
    value = fields.Function(lambda choice: choice[0], metadata={"type": "string"})
    label = fields.Function(lambda choice: choice[1], metadata={"type": "string"})


class FieldSchema(ApiSchema):
    name = fields.String()
    label = fields.String()
    type = fields.String()
    required = fields.Boolean()
    max_length = fields.Integer(allow_none=True)
    min = Bound(allow_none=True, metadata=BOUND_DOC)
    max = Bound(allow_none=True, metadata=BOUND_DOC)
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
    origin_level_label = fields.Function(lambda definition: LEVEL_LABELS[definition.origin_level],
                                         metadata={"type": "string"})
    content_hash = fields.String()


class DefinitionSchema(DefinitionSummarySchema):
    title_field = fields.String()
    states = fields.List(fields.Nested(StateSchema))
    transitions = fields.List(fields.Nested(TransitionSchema))
    form = fields.List(fields.Nested(FieldSchema), attribute="fields")
