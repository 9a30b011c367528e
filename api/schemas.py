"""Marshmallow schemas for what the API sends out (engine dataclasses → JSON)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from marshmallow import Schema, fields

from engine.definitions import STATE_KIND_LABELS, ASSIGNEE, TransitionSpec
from engine.org import LEVEL_LABELS

# How a state's kind reads in Chinese (the home page uses these too).


class Bound(fields.Field):
    """A form field's min/max: integers stay numbers, money ("1234.50") and dates ("2026-05-01") become strings."""

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, date):
            return value.isoformat()
        return value


class PartySchema(Schema):
    party = fields.Function(str)  # "reviewer@township"
    role = fields.String()
    level = fields.String()
    label = fields.String()


# `by: $assignee` names no fixed party: whoever the source state waits for.
ASSIGNEE_PARTY = {"party": ASSIGNEE, "role": None, "level": None, "label": "当前环节的办理人"}


class StateSchema(Schema):
    id = fields.String()
    label = fields.String()
    kind = fields.String()
    kind_label = fields.Function(lambda state: STATE_KIND_LABELS[state.kind])
    waits_for = fields.Nested(PartySchema, allow_none=True)
    deadline_working_days = fields.Integer(allow_none=True)


class TransitionSchema(Schema):
    trigger = fields.String()
    label = fields.String()
    sources = fields.List(fields.String())
    dest = fields.String()
    by = fields.Method("dump_parties")
    conditions = fields.List(fields.String())
    comment_required = fields.Boolean()

    def dump_parties(self, spec: TransitionSpec) -> list[dict]:
        return [ASSIGNEE_PARTY if party == ASSIGNEE else PartySchema().dump(party) for party in spec.by]


class ChoiceSchema(Schema):
    value = fields.Function(lambda choice: choice[0])
    label = fields.Function(lambda choice: choice[1])


class FieldSchema(Schema):
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
    help = fields.String(allow_none=True)


class DefinitionSummarySchema(Schema):
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
