"""Workflow definitions: YAML files in workflows/ parsed, validated and versioned by content hash.

A definition declares states, transitions (who may fire them, at which level relative
to the case's origin, under which named rules), deadlines in working days, and the
form. Loading rejects a bad file with messages naming the file and the field.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine import rules
from engine.db import Base, UTCDateTime, utcnow
from engine.errors import DefinitionError, NotFound
from engine.org import LEVEL_LABELS, LEVELS, ROLE_LABELS

STATE_KINDS = ("draft", "review", "notice", "final")
STATE_KIND_LABELS = {"draft": "填报", "review": "审核", "notice": "公示", "final": "办结"}
FIELD_TYPES = ("text", "longtext", "integer", "decimal", "money", "date", "choice", "id_number", "phone", "file")
DEFAULT_DECIMAL_PLACES = 2
# Auditors and admins never act on a case; only these roles may fire transitions.
ACTING_ROLES = ("applicant", "reviewer")
PARTY_LEVELS = ("origin", *LEVELS)
ASSIGNEE = "$assignee"          # in `by`: whoever the source state waits for
SYSTEM = "system"               # in `by`: only the engine itself (timers, objections, linked cases)
RETURN_POINT = "$return_point"  # as `dest`: the review state that returned the case
FREE_COMMENT = "comment"        # in `internal_comments`: comments made outside any transition
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
DEFAULT_MAX_LENGTH = {"text": 100, "longtext": 2000}
# A date field's bound that moves with the calendar: ``max: today`` (a birth date, a visit).
TODAY = "today"
MAX_DEADLINE_WORKING_DAYS = 250
# Retention of closed cases, in calendar years after closing: long archival periods, not centuries.
MAX_RETENTION_YEARS = 100
# File fields: what a definition gets unless it says otherwise (max_size_mb, accept).
DEFAULT_FILE_SIZE_MB = 10
MAX_FILE_SIZE_MB = 100
DEFAULT_FILE_TYPES = ("pdf", "jpg", "jpeg", "png", "doc", "docx", "xls", "xlsx")


# --- The parsed, validated definition -------------------------------------------------------------

@dataclass(frozen=True)
class Party:
    """A role at a level relative to the case's origin, e.g. reviewer@township."""

    role: str
    level: str

    @property
    def label(self) -> str:
        if self.is_system:
            return "系统"
        where = "申报单位" if self.level == "origin" else LEVEL_LABELS[self.level]
        return f"{where}{ROLE_LABELS[self.role]}"

    @property
    def is_system(self) -> bool:
        return self.role == SYSTEM

    def __str__(self) -> str:
        return SYSTEM if self.is_system else f"{self.role}@{self.level}"


SYSTEM_PARTY = Party(SYSTEM, SYSTEM)


@dataclass(frozen=True)
class StateSpec:
    id: str
    label: str
    kind: str
    waits_for: Party | None
    deadline_working_days: int | None
    # Notice states: the system trigger an objection fires (e.g. into investigation).
    on_objection: str | None = None
    # A named deadline rule (engine.rules.deadline) instead of a count of working days: the
    # round's closing time, a claim's filing window...
    deadline_at: str | None = None
    # Reminders, in working days before the deadline's last day (0: on the day); None: the
    # definition's own list.
    remind_working_days_before: tuple[int, ...] | None = None

    @property
    def has_deadline(self) -> bool:
        return self.deadline_working_days is not None or self.deadline_at is not None

    @property
    def is_final(self) -> bool:
        return self.kind == "final"


@dataclass(frozen=True)
class TransitionSpec:
    trigger: str
    label: str
    sources: tuple[str, ...]
    dest: str
    by: tuple[Party | str, ...]
    conditions: tuple[str, ...]
    comment_required: bool
    # Named actions run inside the transaction once the guards pass (engine.rules.action).
    actions: tuple[str, ...] = ()
    # Fields the actor fills in when firing (a decision number, a lowered amount...).
    inputs: tuple[FieldSpec, ...] = ()
    # Fired by the clock when the source state's deadline has passed (by: system).
    timer: bool = False


@dataclass(frozen=True)
class RecordSpec:
    """A kind of record kept on a case: an opinion, a home visit, a disbursement, a result row.

    ``by`` says who may add one, ``states`` when; ``unique_by`` names the fields that make
    a record distinct (one opinion per body), so a second one with the same values is refused.
    """

    type: str
    label: str
    by: tuple[Party | str, ...]
    states: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    unique_by: tuple[str, ...] = ()

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    type: str
    required: bool
    max_length: int | None = None
    min: object = None
    max: object = None
    choices: tuple[tuple[str, str], ...] = ()
    max_files: int | None = None
    max_size_mb: int | None = None
    accept: tuple[str, ...] = ()
    help: str | None = None
    places: int | None = None  # decimal fields: digits after the point
    # Shown masked (last four characters) to those who may not see personal data in full;
    # ID numbers are always treated so.
    sensitive: bool = False

    @property
    def is_personal(self) -> bool:
        return self.sensitive or self.type == "id_number"


@dataclass(frozen=True)
class Definition:
    kind: str
    label: str
    origin_level: str
    title_field: str
    states: tuple[StateSpec, ...]
    transitions: tuple[TransitionSpec, ...]
    fields: tuple[FieldSpec, ...]
    content_hash: str
    source: str
    # The id_number field naming the person the case is about (one file per person, caps).
    subject_field: str | None = None
    # Cases are made into a round of this kind; the choice field whose value picks the quota.
    round_category_field: str | None = None
    uses_rounds: bool = False
    # The only form fields a public notice may show.
    public_fields: tuple[str, ...] = ()
    records: tuple[RecordSpec, ...] = ()
    # Triggers (and "comment") whose reviewers' comments are internal: not shown to applicants.
    internal_comments: tuple[str, ...] = ()
    # Started from another case (create_draft with linked_case), so pages offer no blank form for it.
    started_from_case: bool = False
    # When the people a deadline concerns are reminded: working days before its last day.
    remind_working_days_before: tuple[int, ...] = ()
    # How many calendar years a closed case is kept before it may be purged (engine.retention);
    # None: kept for ever.
    retention_years: int | None = None
    # The file's text as read, stored with the version (not part of equality or hashing).
    source_text: str = field(default="", compare=False, repr=False)

    def reminders_for(self, state: StateSpec) -> tuple[int, ...]:
        """Reminder offsets of ``state``, furthest from the deadline first."""
        offsets = self.remind_working_days_before if state.remind_working_days_before is None \
            else state.remind_working_days_before
        return tuple(sorted(set(offsets), reverse=True))

    def state(self, state_id: str) -> StateSpec:
        for state in self.states:
            if state.id == state_id:
                return state
        raise KeyError(state_id)

    @property
    def initial_state(self) -> StateSpec:
        return self.states[0]

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def record(self, record_type: str) -> RecordSpec:
        for spec in self.records:
            if spec.type == record_type:
                return spec
        raise KeyError(record_type)

    def parties_for(self, transition: TransitionSpec, source: str) -> tuple[Party, ...]:
        """Who may fire ``transition`` from ``source``, with $assignee resolved."""
        waits_for = self.state(source).waits_for
        return tuple(waits_for if party == ASSIGNEE else party for party in transition.by)

    def return_points(self, draft_state: str) -> tuple[str, ...]:
        """Review states from which a transition sends the case back into ``draft_state``."""
        points = []
        for transition in self.transitions:
            if transition.dest == draft_state:
                points += [s for s in transition.sources if self.state(s).kind != "draft"]
        return tuple(dict.fromkeys(points))

    def levels_used(self) -> set[str]:
        """Levels above the origin that some state waits for or some transition names."""
        parties = [state.waits_for for state in self.states]
        parties += [party for t in self.transitions for party in t.by]
        parties += [party for r in self.records for party in r.by]
        return {p.level for p in parties if isinstance(p, Party) and p.level in LEVELS}


# --- Structure, checked by marshmallow ------------------------------------------------------------

class PartyField(fields.Field):
    """"role@level" (or "$assignee" where allowed)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value == ASSIGNEE:
            return ASSIGNEE
        if value == SYSTEM:
            return SYSTEM_PARTY
        if not isinstance(value, str) or value.count("@") != 1:
            raise ValidationError('expected "role@level", e.g. "reviewer@township"')
        role, level = value.split("@")
        problems = []
        if role not in ACTING_ROLES:
            hint = " (auditors and admins never act on cases)" if role in ("auditor", "admin") else ""
            problems.append(f'unknown acting role "{role}"{hint}; expected one of {", ".join(ACTING_ROLES)}')
        if level not in PARTY_LEVELS:
            problems.append(f'unknown level "{level}"; expected one of {", ".join(PARTY_LEVELS)}')
        if problems:
            raise ValidationError(problems)
        return Party(role, level)


class OneOrMany(fields.Field):
    """A single value or a list of them, always deserialized to a tuple."""

    def __init__(self, inner: fields.Field, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def _deserialize(self, value, attr, data, **kwargs):
        items = value if isinstance(value, list) else [value]
        if not items:
            raise ValidationError("must not be empty")
        out, errors = [], {}
        for index, item in enumerate(items):
            try:
                out.append(self.inner.deserialize(item))
            except ValidationError as err:
                errors[index] = err.messages
        if errors:
            raise ValidationError(errors if isinstance(value, list) else errors[0])
        return tuple(out)


Identifier = lambda **kw: fields.String(  # noqa: E731 - a field factory reads best inline
    validate=validate.Regexp(IDENTIFIER, error="must be lower_snake_case, starting with a letter"), **kw
)


ReminderOffset = lambda: fields.Integer(  # noqa: E731
    strict=True, validate=validate.Range(min=0, max=MAX_DEADLINE_WORKING_DAYS,
                                         error="a reminder is 0 (on the last day) to {max} working days before it"))


class StateSchema(Schema):
    class Meta:
        unknown = RAISE

    id = Identifier(required=True)
    label = fields.String(required=True, validate=validate.Length(min=1))
    kind = fields.String(required=True, validate=validate.OneOf(STATE_KINDS))
    waits_for = PartyField()
    deadline_working_days = fields.Raw()
    deadline_at = fields.String()
    remind_working_days_before = fields.List(ReminderOffset())
    on_objection = Identifier()


class TransitionSchema(Schema):
    class Meta:
        unknown = RAISE

    trigger = Identifier(required=True)
    label = fields.String(required=True, validate=validate.Length(min=1))
    source = OneOrMany(fields.String(), required=True)
    dest = fields.String(required=True)
    by = OneOrMany(PartyField(), required=True)
    conditions = fields.List(fields.String(), load_default=list)
    actions = fields.List(fields.String(), load_default=list)
    inputs = fields.List(fields.Nested(lambda: FieldSchema()), load_default=list)
    comment_required = fields.Boolean(load_default=False)
    timer = fields.Boolean(load_default=False)


class ChoiceSchema(Schema):
    class Meta:
        unknown = RAISE

    value = fields.String(required=True, validate=validate.Length(min=1))
    label = fields.String(required=True, validate=validate.Length(min=1))


class FieldSchema(Schema):
    class Meta:
        unknown = RAISE

    name = Identifier(required=True)
    label = fields.String(required=True, validate=validate.Length(min=1))
    type = fields.String(required=True, validate=validate.OneOf(FIELD_TYPES))
    required = fields.Boolean(load_default=False)
    max_length = fields.Integer(strict=True, validate=validate.Range(min=1, max=100_000))
    min = fields.Raw()
    max = fields.Raw()
    choices = fields.List(fields.Nested(ChoiceSchema))
    max_files = fields.Integer(strict=True, validate=validate.Range(min=1, max=50))
    max_size_mb = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_FILE_SIZE_MB))
    places = fields.Integer(strict=True, validate=validate.Range(min=0, max=6))
    accept = fields.List(fields.String(validate=validate.Regexp(r"^[a-z0-9]{1,10}$", error="a lower-case file extension without the dot")),
                         validate=validate.Length(min=1))
    help = fields.String()
    sensitive = fields.Boolean()


class RecordSchema(Schema):
    class Meta:
        unknown = RAISE

    type = Identifier(required=True)
    label = fields.String(required=True, validate=validate.Length(min=1))
    by = OneOrMany(PartyField(), required=True)
    states = OneOrMany(fields.String(), required=True)
    fields_ = fields.List(fields.Nested(FieldSchema), required=True, validate=validate.Length(min=1),
                          data_key="fields")
    unique_by = fields.List(fields.String(), load_default=list)


class RoundsSchema(Schema):
    class Meta:
        unknown = RAISE

    category_field = fields.String(required=True)


class RetentionSchema(Schema):
    class Meta:
        unknown = RAISE

    # Raw, checked in _check_retention: marshmallow's Integer takes true for 1.
    years_after_closing = fields.Raw(required=True)


class DefinitionSchema(Schema):
    class Meta:
        unknown = RAISE

    kind = Identifier(required=True)
    label = fields.String(required=True, validate=validate.Length(min=1))
    origin_level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    title_field = fields.String(required=True)
    states = fields.List(fields.Nested(StateSchema), required=True, validate=validate.Length(min=2))
    transitions = fields.List(fields.Nested(TransitionSchema), required=True, validate=validate.Length(min=1))
    form = fields.List(fields.Nested(FieldSchema), required=True, validate=validate.Length(min=1))
    subject_field = fields.String()
    rounds = fields.Nested(RoundsSchema)
    public_fields = fields.List(fields.String(), load_default=list)
    records = fields.List(fields.Nested(RecordSchema), load_default=list)
    internal_comments = fields.List(fields.String(), load_default=list)
    started_from_case = fields.Boolean(load_default=False)
    remind_working_days_before = fields.List(ReminderOffset(), load_default=list)
    retention = fields.Nested(RetentionSchema)


def _flatten(messages, prefix: str = "") -> list[str]:
    """{"states": {2: {"kind": ["..."]}}} → ["states[2].kind: ..."]."""
    if isinstance(messages, dict):
        out = []
        for key, value in messages.items():
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            elif key == "_schema":
                path = prefix
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            out += _flatten(value, path)
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{prefix}: {m}" if prefix else m for m in messages]
    if isinstance(messages, list):
        return [line for m in messages for line in _flatten(m, prefix)]
    return [f"{prefix}: {messages}"]


# --- Semantics ------------------------------------------------------------------------------------

def _check_states(raw: dict, problems: list[str]) -> dict[str, StateSpec]:
    states: dict[str, StateSpec] = {}
    for i, state in enumerate(raw["states"]):
        where = f"states[{i}]"
        if state["id"] in states:
            problems.append(f'{where}.id: duplicate state "{state["id"]}"')
            continue
        waits_for = state.get("waits_for")
        if waits_for == ASSIGNEE:
            problems.append(f"{where}.waits_for: {ASSIGNEE} is only allowed in a transition's `by`")
            waits_for = None
        if state["kind"] == "final" and waits_for is not None:
            problems.append(f"{where}.waits_for: a final state waits for nobody")
        if state["kind"] == "draft" and waits_for is None:
            waits_for = Party("applicant", "origin")
        if state["kind"] in ("review", "notice") and waits_for is None:
            problems.append(f"{where}.waits_for: a {state['kind']} state must say whom it waits for")
        deadline = state.get("deadline_working_days")
        if deadline is not None:
            if state["kind"] == "final":
                problems.append(f"{where}.deadline_working_days: a final state has no deadline")
            elif isinstance(deadline, bool) or not isinstance(deadline, int) or not 1 <= deadline <= MAX_DEADLINE_WORKING_DAYS:
                problems.append(
                    f"{where}.deadline_working_days: bad deadline {deadline!r}; "
                    f"expected a whole number of working days from 1 to {MAX_DEADLINE_WORKING_DAYS}"
                )
                deadline = None
        deadline_at = state.get("deadline_at")
        if deadline_at is not None:
            if deadline is not None:
                problems.append(f"{where}.deadline_at: a state has deadline_working_days or deadline_at, not both")
            elif state["kind"] == "final":
                problems.append(f"{where}.deadline_at: a final state has no deadline")
            elif not rules.is_deadline_rule(deadline_at):
                problems.append(f'{where}.deadline_at: unknown deadline rule "{deadline_at}"')
        if state.get("remind_working_days_before") and deadline is None and deadline_at is None:
            problems.append(f"{where}.remind_working_days_before: the state has no deadline to remind of")
        if state.get("on_objection") and state["kind"] != "notice":
            problems.append(f"{where}.on_objection: only a notice state takes objections")
        reminders = state.get("remind_working_days_before")
        states[state["id"]] = StateSpec(state["id"], state["label"], state["kind"], waits_for, deadline,
                                        state.get("on_objection"), deadline_at,
                                        tuple(reminders) if reminders is not None else None)
    first = raw["states"][0]
    if first["kind"] != "draft":
        problems.append(f'states[0].kind: the first state ("{first["id"]}") starts every case and must be a draft state')
    return states


def _check_transitions(raw: dict, states: dict[str, StateSpec], problems: list[str]) -> list[TransitionSpec]:
    transitions = []
    seen: dict[tuple[str, str], int] = {}
    for i, item in enumerate(raw["transitions"]):
        where = f"transitions[{i}]"
        for source in item["source"]:
            if source not in states:
                problems.append(f'{where}.source: unknown state "{source}"')
            elif states[source].is_final:
                problems.append(f'{where}.source: "{source}" is a final state; nothing leaves it')
            key = (item["trigger"], source)
            if key in seen:
                problems.append(
                    f'{where}.trigger: duplicate trigger "{item["trigger"]}" from state "{source}" '
                    f"(also transitions[{seen[key]}])"
                )
            seen[key] = i
        dest = item["dest"]
        if dest != RETURN_POINT and dest not in states:
            problems.append(f'{where}.dest: unknown state "{dest}"')
        if dest == RETURN_POINT:
            for source in item["source"]:
                if source in states and states[source].kind != "draft":
                    problems.append(f"{where}.dest: {RETURN_POINT} can only leave a draft state, not \"{source}\"")
        for name in item["conditions"]:
            if not rules.is_registered(name):
                problems.append(f'{where}.conditions: unknown rule "{name}"')
        for name in item["actions"]:
            if not rules.is_action(name):
                problems.append(f'{where}.actions: unknown action "{name}"')
        if SYSTEM_PARTY in item["by"] and len(item["by"]) > 1:
            problems.append(f"{where}.by: a system transition is fired by the engine alone")
        if item["timer"]:
            if item["by"] != (SYSTEM_PARTY,):
                problems.append(f"{where}.timer: a timer transition must be `by: system`")
            for source in item["source"]:
                if source in states and not states[source].has_deadline:
                    problems.append(f'{where}.timer: "{source}" has no deadline_working_days or deadline_at to time out on')
        inputs = _check_fields(item["inputs"], f"{where}.inputs", problems)
        if ASSIGNEE in item["by"]:
            for source in item["source"]:
                if source in states and states[source].waits_for is None:
                    problems.append(f'{where}.by: {ASSIGNEE} needs "{source}" to declare waits_for')
        transitions.append(TransitionSpec(
            trigger=item["trigger"], label=item["label"], sources=item["source"], dest=dest,
            by=item["by"], conditions=tuple(item["conditions"]), comment_required=item["comment_required"],
            actions=tuple(item["actions"]), inputs=tuple(inputs), timer=item["timer"],
        ))
    for i, state in enumerate(states.values()):
        trigger = state.on_objection
        if trigger and not any(t.trigger == trigger and state.id in t.sources and t.by == (SYSTEM_PARTY,)
                               for t in transitions):
            problems.append(f'states[{i}].on_objection: no `by: system` transition "{trigger}" leaves "{state.id}"')
    return transitions


def _check_levels(raw: dict, states: dict[str, StateSpec], transitions: list[TransitionSpec], problems: list[str]):
    """Every level a party names must sit at or above where cases originate."""
    origin_rank = LEVELS.index(raw["origin_level"])
    parties = [(f"states[{i}].waits_for", s.waits_for) for i, s in enumerate(states.values())]
    parties += [(f"transitions[{i}].by", p) for i, t in enumerate(transitions) for p in t.by]
    parties += [(f"records[{i}].by", p) for i, r in enumerate(raw["records"]) for p in r["by"]]
    for where, party in parties:
        if isinstance(party, Party) and party.level in LEVELS and LEVELS.index(party.level) > origin_rank:
            problems.append(
                f'{where}: level "{party.level}" lies below origin_level "{raw["origin_level"]}"'
            )


def _check_graph(states: dict[str, StateSpec], definition_return_points, transitions, problems: list[str]):
    initial = next(iter(states))
    edges: dict[str, set[str]] = {state: set() for state in states}
    for i, t in enumerate(transitions):
        for source in t.sources:
            if source not in states:
                continue
            if t.dest == RETURN_POINT:
                points = definition_return_points(source)
                if not points:
                    problems.append(
                        f'transitions[{i}].dest: {RETURN_POINT} from "{source}", '
                        f'but no transition returns a case to "{source}"'
                    )
                edges[source] |= set(points)
            elif t.dest in states:
                edges[source].add(t.dest)
    reached, frontier = {initial}, [initial]
    while frontier:
        for nxt in edges[frontier.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    for i, (state_id, state) in enumerate(states.items()):
        if state_id not in reached:
            problems.append(f'states[{i}].id: state "{state_id}" is unreachable from "{initial}"')
        if not state.is_final and not edges[state_id]:
            problems.append(f'states[{i}].id: non-final state "{state_id}" has no way out')


def _check_form(raw: dict, problems: list[str]) -> list[FieldSpec]:
    specs = _check_fields(raw["form"], "form", problems)
    title = raw["title_field"]
    if not any(s.name == title and s.type == "text" for s in specs):
        problems.append(f'title_field: "{title}" is not a text field of the form')
    by_name = {spec.name: spec for spec in specs}
    subject = raw.get("subject_field")
    if subject is not None and (subject not in by_name or by_name[subject].type != "id_number"):
        problems.append(f'subject_field: "{subject}" is not an id_number field of the form')
    category = raw.get("rounds", {}).get("category_field")
    if category is not None and (category not in by_name or by_name[category].type != "choice"):
        problems.append(f'rounds.category_field: "{category}" is not a choice field of the form')
    for name in raw["public_fields"]:
        if name not in by_name:
            problems.append(f'public_fields: unknown field "{name}"')
        elif by_name[name].type in ("id_number", "file"):
            problems.append(f'public_fields: "{name}" ({by_name[name].type}) may never be shown publicly')
    return specs


def _check_records(raw: dict, states: dict[str, StateSpec], problems: list[str]) -> list[RecordSpec]:
    records, seen = [], set()
    for i, item in enumerate(raw["records"]):
        where = f"records[{i}]"
        if item["type"] in seen:
            problems.append(f'{where}.type: duplicate record type "{item["type"]}"')
        seen.add(item["type"])
        for state in item["states"]:
            if state not in states:
                problems.append(f'{where}.states: unknown state "{state}"')
            elif states[state].is_final:
                problems.append(f'{where}.states: "{state}" is final; a closed case takes no records')
        if ASSIGNEE in item["by"] or SYSTEM_PARTY in item["by"]:
            problems.append(f"{where}.by: name the parties (role@level) who may add the record")
        specs = _check_fields(item["fields_"], f"{where}.fields", problems)
        names = {spec.name for spec in specs}
        for name in item["unique_by"]:
            if name not in names:
                problems.append(f'{where}.unique_by: unknown field "{name}"')
        records.append(RecordSpec(item["type"], item["label"], item["by"], item["states"], tuple(specs),
                                  tuple(item["unique_by"])))
    return records


def _check_internal_comments(raw: dict, transitions: list[TransitionSpec], problems: list[str]) -> None:
    """Each entry names a trigger of this definition, or the free-standing comment."""
    known = {transition.trigger for transition in transitions} | {FREE_COMMENT}
    for i, name in enumerate(raw["internal_comments"]):
        if name not in known:
            problems.append(f'internal_comments[{i}]: unknown trigger "{name}"; expected a trigger of this '
                            f'definition or "{FREE_COMMENT}"')


def _check_retention(raw: dict, problems: list[str]) -> int | None:
    """Years a closed case is kept: a whole number from 1 to MAX_RETENTION_YEARS, or None (for ever)."""
    if "retention" not in raw:
        return None
    years = raw["retention"]["years_after_closing"]
    if isinstance(years, bool) or not isinstance(years, int) or not 1 <= years <= MAX_RETENTION_YEARS:
        problems.append(f"retention.years_after_closing: 保存期限应为 1 至 {MAX_RETENTION_YEARS} 之间的整数（年），"
                        f"而不是 {years!r}")
        return None
    return years


def _check_fields(items: list[dict], prefix: str, problems: list[str]) -> list[FieldSpec]:
    specs: list[FieldSpec] = []
    names: set[str] = set()
    for i, item in enumerate(items):
        where = f"{prefix}[{i}]"
        if item["name"] in names:
            problems.append(f'{where}.name: duplicate field "{item["name"]}"')
        names.add(item["name"])
        kind = item["type"]
        bounds = {}
        for bound in ("min", "max"):
            try:
                bounds[bound] = _parse_bound(kind, item.get(bound))
            except ValueError as err:
                problems.append(f"{where}.{bound}: {err}")
                bounds[bound] = None
        low, high = bounds["min"], bounds["max"]
        if low is not None and high is not None and TODAY not in (low, high) and low > high:
            problems.append(f"{where}.min: min {low} is greater than max {high}")
        choices = tuple((c["value"], c["label"]) for c in item.get("choices") or ())
        if kind == "choice" and not choices:
            problems.append(f"{where}.choices: a choice field needs at least one choice")
        if kind != "choice" and choices:
            problems.append(f"{where}.choices: only choice fields take choices")
        if len({value for value, _ in choices}) != len(choices):
            problems.append(f"{where}.choices: duplicate choice value")
        if "max_length" in item and kind not in DEFAULT_MAX_LENGTH:
            problems.append(f"{where}.max_length: only text and longtext fields take max_length")
        for key in ("max_files", "max_size_mb", "accept"):
            if key in item and kind != "file":
                problems.append(f"{where}.{key}: only file fields take {key}")
        if "places" in item and kind != "decimal":
            problems.append(f"{where}.places: only decimal fields take places")
        if item.get("sensitive") and kind not in ("text", "phone"):
            problems.append(f"{where}.sensitive: only text and phone fields take sensitive (ID numbers are masked anyway)")
        specs.append(FieldSpec(
            name=item["name"], label=item["label"], type=kind, required=item["required"],
            max_length=item.get("max_length", DEFAULT_MAX_LENGTH.get(kind)),
            min=low, max=high, choices=choices,
            max_files=item.get("max_files", 10 if kind == "file" else None), help=item.get("help"),
            max_size_mb=item.get("max_size_mb", DEFAULT_FILE_SIZE_MB if kind == "file" else None),
            accept=tuple(item.get("accept", DEFAULT_FILE_TYPES if kind == "file" else ())),
            places=item.get("places", DEFAULT_DECIMAL_PLACES) if kind == "decimal" else None,
            sensitive=item.get("sensitive", False),
        ))
    return specs


def _parse_bound(kind: str, value):
    if value is None:
        return None
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"integer bound {value!r} is not a whole number")
        return value
    if kind == "decimal":
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"decimal bound {value!r} is not a number") from None
        if not number.is_finite():
            raise ValueError(f"decimal bound {value!r} is not a number")
        return number
    if kind == "money":
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"money bound {value!r} is not a number") from None
        if amount.is_finite() and abs(amount) >= Decimal("1000000000000"):
            raise ValueError(f"money bound {value!r} is beyond 999,999,999,999.99")
        if not amount.is_finite():
            raise ValueError(f"money bound {value!r} is not a number")
        if amount != amount.quantize(Decimal("0.01")):
            raise ValueError(f"money bound {value!r} has more than two decimal places")
        return amount.quantize(Decimal("0.01"))
    if kind == "date":
        if isinstance(value, date) or value == TODAY:
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise ValueError(f"date bound {value!r} is not YYYY-MM-DD or today") from None
    raise ValueError(f"{kind} fields take no min/max")


def parse_definition(text: str, source: str, *, enforce_policy: bool = True) -> Definition:
    """Parse and validate one definition; raise DefinitionError naming ``source`` and each field.

    ``enforce_policy=False`` is for versions already stored: they passed the checks of their
    day, and a check added since must not strand the cases pinned to them. Only a document
    the engine cannot read at all is refused then.
    """
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise DefinitionError(source, [f"not valid YAML: {err}"]) from None
    if not isinstance(document, dict):
        raise DefinitionError(source, ["expected a mapping at the top level"])
    try:
        raw = DefinitionSchema().load(document)
    except ValidationError as err:
        raise DefinitionError(source, _flatten(err.messages)) from None
    problems: list[str] = []
    states = _check_states(raw, problems)
    transitions = _check_transitions(raw, states, problems)
    _check_levels(raw, states, transitions, problems)
    form = _check_form(raw, problems)
    records = _check_records(raw, states, problems)
    _check_internal_comments(raw, transitions, problems)
    retention_years = _check_retention(raw, problems)
    rounds = raw.get("rounds")
    definition = Definition(
        kind=raw["kind"], label=raw["label"], origin_level=raw["origin_level"], title_field=raw["title_field"],
        states=tuple(states.values()), transitions=tuple(transitions), fields=tuple(form),
        content_hash=content_hash(document), source=source, source_text=text,
        subject_field=raw.get("subject_field"), uses_rounds=rounds is not None,
        round_category_field=rounds["category_field"] if rounds else None,
        public_fields=tuple(raw["public_fields"]), records=tuple(records),
        internal_comments=tuple(dict.fromkeys(raw["internal_comments"])),
        started_from_case=raw["started_from_case"],
        remind_working_days_before=tuple(raw["remind_working_days_before"]),
        retention_years=retention_years,
    )
    if not enforce_policy:
        return definition
    if not problems:
        _check_graph(states, definition.return_points, transitions, problems)
        _check_waiting_party_acts(definition, problems)
    if problems:
        raise DefinitionError(source, problems)
    return definition


def _check_waiting_party_acts(definition: Definition, problems: list[str]) -> None:
    """The inbox shows a case to whom its state waits for: they must be able to move it on,
    and no other reviewer may act on it unseen."""
    for i, state in enumerate(definition.states):
        if state.waits_for is None:
            continue
        movers = {p for t in definition.transitions if state.id in t.sources for p in definition.parties_for(t, state.id)}
        if state.waits_for not in movers:
            problems.append(
                f'states[{i}].waits_for: "{state.id}" waits for {state.waits_for}, '
                "but no transition out of it may be fired by them"
            )
        for j, transition in enumerate(definition.transitions):
            if state.id not in transition.sources:
                continue
            for party in definition.parties_for(transition, state.id):
                if party.role == "reviewer" and party != state.waits_for:
                    problems.append(
                        f'transitions[{j}].by: {party} acts on "{state.id}", which waits for {state.waits_for}; '
                        "the case would never appear in their inbox"
                    )


def content_hash(document: dict) -> str:
    """SHA-256 over canonical JSON: comments and formatting do not make a new version."""
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _json_default(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"unexpected {type(value).__name__} in definition")


# --- Versions in the database ---------------------------------------------------------------------

class DefinitionVersion(Base):
    """One immutable version of a definition; cases are pinned to the version they started on."""

    __tablename__ = "definition_versions"

    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(63), index=True)
    label: Mapped[str] = mapped_column(String(200))
    source_name: Mapped[str] = mapped_column(String(255))
    source_text: Mapped[str] = mapped_column(Text)
    loaded_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WorkflowKind(Base):
    """A kind of case and the version new cases of that kind start on."""

    __tablename__ = "workflow_kinds"

    kind: Mapped[str] = mapped_column(String(63), primary_key=True)
    current_hash: Mapped[str] = mapped_column(ForeignKey("definition_versions.content_hash"))
    updated_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


@dataclass(frozen=True)
class SyncResult:
    kind: str
    content_hash: str
    is_new_version: bool


def read_definition_files(directory: Path) -> list[tuple[Path, Definition]]:
    """Parse every *.yaml in ``directory``; collect every file's problems before failing."""
    parsed, failures = [], []
    for path in sorted(directory.glob("*.yaml")):
        try:
            parsed.append((path, parse_definition(path.read_text(encoding="utf-8"), path.name)))
        except DefinitionError as err:
            failures.append(err)
    if failures:
        raise DefinitionError(
            ", ".join(f.path for f in failures), [f"{f.path}: {p}" for f in failures for p in f.problems]
        )
    files_by_kind: dict[str, list[str]] = {}
    for path, definition in parsed:
        files_by_kind.setdefault(definition.kind, []).append(path.name)
    clashes = {kind: names for kind, names in files_by_kind.items() if len(names) > 1}
    if clashes:
        raise DefinitionError(
            ", ".join(name for names in clashes.values() for name in names),
            [f'{name}: kind: "{kind}" is already declared by {names[0]}'
             for kind, names in clashes.items() for name in names[1:]],
        )
    return parsed


def sync_definitions(session: Session, directory: Path) -> list[SyncResult]:
    """Store each file's current version; running cases keep the version they started on."""
    results = []
    for path, definition in read_definition_files(directory):
        is_new = session.get(DefinitionVersion, definition.content_hash) is None
        if is_new:
            session.add(DefinitionVersion(
                content_hash=definition.content_hash, kind=definition.kind, label=definition.label,
                source_name=path.name, source_text=definition.source_text,
            ))
            session.flush()
        kind_row = session.get(WorkflowKind, definition.kind)
        if kind_row is None:
            session.add(WorkflowKind(kind=definition.kind, current_hash=definition.content_hash))
        elif kind_row.current_hash != definition.content_hash:
            kind_row.current_hash = definition.content_hash
        _cache_put(definition)
        results.append(SyncResult(definition.kind, definition.content_hash, is_new))
    session.flush()
    return results


_cache: dict[str, Definition] = {}
_cache_lock = threading.Lock()


def _cache_put(definition: Definition) -> None:
    with _cache_lock:
        _cache.setdefault(definition.content_hash, definition)


def definition_by_hash(session: Session, content_hash: str) -> Definition:
    """The (immutable) definition version a case is pinned to, parsed once per process."""
    definition = _cache.get(content_hash)
    if definition is None:
        row = session.get(DefinitionVersion, content_hash)
        if row is None:
            raise NotFound("流程定义版本不存在")
        definition = parse_definition(row.source_text, row.source_name, enforce_policy=False)
        if definition.content_hash != content_hash:
            raise DefinitionError(row.source_name, [f"stored text does not match its version {content_hash[:12]}"])
        _cache_put(definition)
    return definition


def current_definition(session: Session, kind: str) -> Definition:
    current_hash = session.scalar(select(WorkflowKind.current_hash).where(WorkflowKind.kind == kind))
    if current_hash is None:
        raise NotFound(f"未知的业务类型「{kind}」")
    return definition_by_hash(session, current_hash)


def list_kinds(session: Session) -> list[Definition]:
    hashes = session.scalars(select(WorkflowKind.current_hash).order_by(WorkflowKind.kind))
    return [definition_by_hash(session, h) for h in hashes]
