"""Marshmallow schemas for what the API sends out (engine dataclasses → JSON).

Every schema of the API derives from ``ApiSchema``: unknown input fields are refused with a
message, and the error text is Chinese (see api.fields).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal

from apispec import BasePlugin
from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate, validates_schema
from webargs.multidictproxy import MultiDictProxy

from engine.base.db import MAX_ROW_ID  # noqa: F401 - the API's bound of every integer, documented
from engine.base.inputs import CONTROL, CONTROL_MESSAGE, DATE_CEILING, DATE_FLOOR, DATE_RANGE_MESSAGE, text_problem
from engine.definitions.spec import ASSIGNEE, STATE_KIND_LABELS, TransitionSpec
from engine.org.units import LEVEL_LABELS

INTEGER_RANGE = validate.Range(min=-MAX_ROW_ID - 1, max=MAX_ROW_ID, error="数字超出允许的范围")
DATE_RANGE = validate.Range(min=DATE_FLOOR, max=DATE_CEILING, error=DATE_RANGE_MESSAGE)
NUL = "\x00"
# A whole number as a query string or a form writes it ("20", and "20.0": the same number).
WHOLE_NUMBER_TEXT = re.compile(r"[+-]?[0-9]+(\.0*)?")
BOOLEAN_TEXT = {"true": True, "false": False}


class ApiSchema(Schema):
    """Base of every schema of the API.

    Rules that hold for every input whatever its schema, each a 422 on the field instead of a
    database error (500) or a value the OpenAPI document does not allow:

    - no text holds a NUL, a control or a bidi-override character (engine.base.inputs.text_problem),
      and only fields marked multi-line (``metadata={"multiline": True}`` or
      ``PlainText(multiline=True)``: comments, notes) hold newlines or tabs;
    - an integer is a JSON number without a fraction (20 or 20.0, never "20" or true) within
      the integer columns; a boolean is true or false (never 0, 1 or "yes"); a date lies
      between DATE_FLOOR and DATE_CEILING. The document shows each bound;
    - in a query string or a form, where everything is text, "20" is the integer 20 and
      "true"/"false" the booleans, as OpenAPI reads parameters.
    """

    class Meta:
        unknown = RAISE

    error_messages = {"unknown": "不认识的字段", "type": "应为 JSON 对象"}

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        for field in (field_obj, getattr(field_obj, "inner", None)):  # a list of integers too
            if isinstance(field, fields.Integer):
                field.strict = True
                field.validators = [*field.validators, INTEGER_RANGE]
            elif isinstance(field, fields.Boolean):
                field.truthy, field.falsy = _Only(True), _Only(False)
            elif isinstance(field, (fields.Date, fields.DateTime)):
                field.validators = [*field.validators, _date_in_range]
            elif isinstance(field, fields.String) and not _is_multiline(field):
                field.validators = [*field.validators, _single_line]

    @pre_load
    def typed_as_documented(self, data, **kwargs):
        """Refuse text no field may hold, wherever it is; read the text of a query string or
        a form as the parameters' types; take 20.0 for the integer it is."""
        problems = _text_problems(data, "")
        if problems:
            raise ValidationError(problems)
        if isinstance(data, MultiDictProxy):  # webargs' query string, form or headers
            return {key: self._typed(key, data[key], _from_text) for key in data}
        if isinstance(data, Mapping):
            return {key: self._typed(key, value, _whole_float) for key, value in data.items()}
        return data

    def _typed(self, key, value, convert):
        field = self._field_by_data_key(key)
        if field is None:
            return value
        if isinstance(field, fields.List) and isinstance(value, list):
            return [convert(field.inner, item) for item in value]
        return convert(field, value)

    def _field_by_data_key(self, key) -> fields.Field | None:
        return next((field for name, field in self.load_fields.items() if (field.data_key or name) == key), None)


class ChangesSchema(ApiSchema):
    """The body of a PATCH: the fields to change, at least one (``minProperties: 1`` in the
    document). An empty body changes nothing, and answering 200 to it would hide a client's
    mistake."""

    MIN_PROPERTIES = 1

    @validates_schema(pass_original=True)
    def _changes_something(self, data, original, **kwargs):
        if not data and not original:
            raise ValidationError("请至少提交一项要修改的内容", "_schema")


class DocumentedSchemaRules(BasePlugin):
    """What a schema class states beyond its fields, in its OpenAPI component: ``minProperties``."""

    def schema_helper(self, name, definition, schema=None, **kwargs):
        schema_class = schema if isinstance(schema, type) else type(schema)
        minimum = getattr(schema_class, "MIN_PROPERTIES", None)
        return {"minProperties": minimum} if minimum else None


class RowId(fields.Integer):
    """An id sent in a body or a query string (unit_id, round_id, cases[].id): a whole number
    from 1 to what the integer columns hold, refused on its field with a message that says so."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Range(min=1, max=MAX_ROW_ID, error="应为有效的编号（正整数）"))
        super().__init__(**kwargs)


def _text_problems(node, place: str) -> dict[str, list[str]]:
    """Texts (and keys) in raw input that no field may hold, by dotted place as error fields
    are named: NUL, control and bidi-override characters (newlines are the fields' concern)."""
    if isinstance(node, str):
        problem = _any_text_problem(node)
        return {place or "_schema": [problem]} if problem else {}
    if isinstance(node, Mapping):
        items = [(str(key), node[key]) for key in node]
    elif isinstance(node, (list, tuple)):
        items = [(str(index), value) for index, value in enumerate(node)]
    else:
        return {}
    found = {}
    for key, value in items:
        inner = f"{place}.{key}" if place else key
        problem = _any_text_problem(key)
        found.update({inner: [problem]} if problem else _text_problems(value, inner))
    return found


def _any_text_problem(text: str) -> str | None:
    """A lone surrogate is left to the field or the engine (they name it unstorable)."""
    if NUL in text:
        return "不能包含空字符（U+0000）"
    return CONTROL_MESSAGE if CONTROL.search(text) else None


class _Only:
    """A boolean field's truthy (or falsy) values: ``True`` itself, not 1 (``1 in {True}`` holds
    in Python, since 1 == True)."""

    def __init__(self, value: bool):
        self.value = value

    def __contains__(self, item) -> bool:
        return item is self.value


def _is_multiline(field: fields.Field) -> bool:
    return getattr(field, "multiline", False) or field.metadata.get("multiline", False)


def _single_line(text: str) -> None:
    problem = text_problem(text)
    if problem:
        raise ValidationError(problem)


def _date_in_range(value: date | datetime) -> None:
    DATE_RANGE(value.date() if isinstance(value, datetime) else value)


def _from_text(field: fields.Field, value):
    """A query string's or a form's text as the parameter's type; anything else is left for the
    field to refuse with its own message."""
    if isinstance(field, fields.Integer) and isinstance(value, str) and WHOLE_NUMBER_TEXT.fullmatch(value):
        return int(Decimal(value))
    if isinstance(field, fields.Boolean) and isinstance(value, str) and value in BOOLEAN_TEXT:
        return BOOLEAN_TEXT[value]
    return value


def _whole_float(field: fields.Field, value):
    """20.0 in JSON is the integer 20 (JSON has one kind of number, and JSON Schema's
    ``integer`` is any number without a fraction); 20.5 is left for the field to refuse."""
    if isinstance(field, fields.Integer) and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


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


BOUND_DOC = {"type": ["integer", "string"], "description": "整数，或金额、日期的字符串（如 \"1234.50\"、\"2026-05-01\"；日期的上下限也可为 \"today\"，即填写当天）"}


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
    group = fields.String(allow_none=True, metadata={"description": "表单中该字段所属分组的标题"})
    derived_from = fields.String(allow_none=True, metadata={
        "description": "由哪个身份证号码字段推出（出生日期或性别）：留空则自动填写，不一致则拒绝"})
    items_setting = fields.String(allow_none=True, metadata={
        "description": "checklist 字段：评选批次中列出须声明事项的设置项；值为 {事项: {answer: yes|no, note}}"})


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
