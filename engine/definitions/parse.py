"""Reading a definition file: its structure checked by marshmallow, then its meaning (states, transitions,
parties, forms, records), with messages naming the file and the field."""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from engine.base.errors import DefinitionError
from engine.definitions import rules
from engine.definitions.spec import (
    ACTING_ROLES, ASSIGNEE, BODIES_REPLIED, COPIED_ROLES, DEFAULT_DECIMAL_PLACES, DEFAULT_FILE_SIZE_MB,
    DEFAULT_FILE_TYPES, DEFAULT_MAX_LENGTH, FIELD_TYPES, FREE_COMMENT, IDENTIFIER, MAX_DEADLINE_WORKING_DAYS,
    MAX_FILE_SIZE_MB, MAX_RETENTION_YEARS, PARTY_LEVELS, RETURN_POINT, SEX_CHOICES, STATE_KINDS, SYSTEM, SYSTEM_PARTY,
    TODAY, Consultations, Definition, FieldSpec, NoticeProposed, Party, RecordSpec, SendBack, StateSpec,
    TransitionSpec,
)
from engine.org.units import LEVELS


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


class CopyPartyField(fields.Field):
    """"role@level" of a copy_to list: a reviewer or an auditor (they read; copying gives no right to act)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or value.count("@") != 1:
            raise ValidationError('expected "role@level", e.g. "reviewer@county"')
        role, level = value.split("@")
        problems = []
        if role not in COPIED_ROLES:
            problems.append(f'cannot copy to role "{role}"; expected one of {", ".join(COPIED_ROLES)}')
        if level not in PARTY_LEVELS:
            problems.append(f'unknown level "{level}"; expected one of {", ".join(PARTY_LEVELS)}')
        if problems:
            raise ValidationError(problems)
        return Party(role, level)


CopyTo = lambda: fields.List(CopyPartyField(), validate=validate.Length(  # noqa: E731
    min=1, error="must name at least one party"))


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

# After escalation, the people a stay waits for are reminded again every N working days (at a
# state, 0: not there).
RepeatEvery = lambda least: fields.Integer(  # noqa: E731
    strict=True, validate=validate.Range(
        min=least, max=MAX_DEADLINE_WORKING_DAYS, error="a repeat is every {min} to {max} working days"))


class ConsultationsSchema(Schema):
    class Meta:
        unknown = RAISE

    record = Identifier(required=True)
    before = fields.List(Identifier(), required=True, validate=validate.Length(min=1))
    bodies = fields.List(Identifier())
    bodies_from = fields.String(validate=validate.Length(min=1))
    working_days = fields.Integer(strict=True, validate=validate.Range(
        min=1, max=MAX_DEADLINE_WORKING_DAYS, error="a body is given 1 to {max} working days"))


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
    remind_overdue_every_working_days = RepeatEvery(0)
    on_objection = Identifier()
    copy_to = CopyTo()
    consultations = fields.Nested(ConsultationsSchema)


class SendBackSchema(Schema):
    class Meta:
        unknown = RAISE

    resume_with = Identifier(required=True)
    resume_label = fields.String(validate=validate.Length(min=1))


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
    send_back = fields.Nested(SendBackSchema)
    copy_to = CopyTo()


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
    group = fields.String(validate=validate.Length(min=1, max=50))
    derived_from = fields.String()
    items_setting = Identifier()


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


class NoticeProposedSchema(Schema):
    class Meta:
        unknown = RAISE

    label = fields.String(required=True, validate=validate.Length(min=1, max=20, error="the line's label is 1 to 20 characters"))
    field = fields.String()
    text = fields.String(validate=validate.Length(min=1, max=100, error="the text is 1 to 100 characters"))


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
    notice_proposed = fields.Nested(NoticeProposedSchema)
    records = fields.List(fields.Nested(RecordSchema), load_default=list)
    internal_comments = fields.List(fields.String(), load_default=list)
    started_from_case = fields.Boolean(load_default=False)
    remind_working_days_before = fields.List(ReminderOffset(), load_default=list)
    remind_overdue_every_working_days = RepeatEvery(1)
    opinion_working_days = fields.Integer(strict=True, load_default=3, validate=validate.Range(
        min=1, max=MAX_DEADLINE_WORKING_DAYS, error="an opinion is asked for 1 to {max} working days"))
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
        for setting in ("remind_working_days_before", "remind_overdue_every_working_days"):
            if state.get(setting) and deadline is None and deadline_at is None:
                problems.append(f"{where}.{setting}: the state has no deadline to remind of")
        if state.get("on_objection") and state["kind"] != "notice":
            problems.append(f"{where}.on_objection: only a notice state takes objections")
        reminders = state.get("remind_working_days_before")
        states[state["id"]] = StateSpec(state["id"], state["label"], state["kind"], waits_for, deadline,
                                        state.get("on_objection"), deadline_at,
                                        tuple(reminders) if reminders is not None else None,
                                        state.get("remind_overdue_every_working_days"),
                                        tuple(dict.fromkeys(state.get("copy_to") or ())),
                                        _consultations(state, where, problems))
    first = raw["states"][0]
    if first["kind"] != "draft":
        problems.append(f'states[0].kind: the first state ("{first["id"]}") starts every case and must be a draft state')
    return states


def _consultations(state: dict, where: str, problems: list[str]) -> Consultations | None:
    raw = state.get("consultations")
    if raw is None:
        return None
    where = f"{where}.consultations"
    if state["kind"] != "review":
        problems.append(f"{where}: only a review state consults bodies before its decision")
    if bool(raw.get("bodies")) == ("bodies_from" in raw):
        problems.append(f"{where}: name the bodies (bodies) or the rule choosing them (bodies_from), one of the two")
    elif "bodies_from" in raw and not rules.is_consultation_rule(raw["bodies_from"]):
        problems.append(f'{where}.bodies_from: unknown consultation rule "{raw["bodies_from"]}"')
    return Consultations(raw["record"], tuple(dict.fromkeys(raw["before"])),
                         tuple(dict.fromkeys(raw.get("bodies") or ())), raw.get("bodies_from"), raw.get("working_days"))


def _check_consultations(states: dict[str, StateSpec], records: list[RecordSpec], transitions: list[TransitionSpec],
                         problems: list[str]) -> None:
    """A consulting state's replies are records its waiting party may add there, one per body; the
    triggers waiting for them leave that state."""
    by_type = {record.type: record for record in records}
    for i, state in enumerate(states.values()):
        consulting = state.consultations
        if consulting is None:
            continue
        where = f"states[{i}].consultations"
        leaving = {t.trigger for t in transitions if state.id in t.sources and not t.timer}
        for trigger in consulting.before:
            if trigger not in leaving:
                problems.append(f'{where}.before: no transition "{trigger}" leaves "{state.id}"')
        record = by_type.get(consulting.record)
        if record is None:
            problems.append(f'{where}.record: unknown record type "{consulting.record}"')
            continue
        if state.id not in record.states or state.waits_for not in record.by:
            problems.append(f'{where}.record: {state.waits_for} must be able to add "{record.type}" records '
                            f'in "{state.id}" (its by and states)')
        fields_by_name = {spec.name: spec for spec in record.fields}
        body = fields_by_name.get(record.unique_by[0]) if record.unique_by else None
        if body is None or body.type != "choice":
            problems.append(f'{where}.record: "{record.type}" must be unique_by a choice field naming the body')
            continue
        known = {value for value, _label in body.choices}
        for name in consulting.bodies:
            if name not in known:
                problems.append(f'{where}.bodies: "{name}" is no choice of {record.type}.{body.name}')


def _waiting_for_replies(states: dict[str, StateSpec], transitions: list[TransitionSpec]) -> list[TransitionSpec]:
    """A consulting state's `before` triggers wait until every body has replied: the engine's rule joins
    their conditions, so the page shows them refused with the bodies' names, like any rule's refusal."""
    waiting = {(state.id, trigger) for state in states.values() if state.consultations is not None
               for trigger in state.consultations.before}
    return [replace(t, conditions=(*t.conditions, BODIES_REPLIED))
            if BODIES_REPLIED not in t.conditions and any((source, t.trigger) in waiting for source in t.sources) else t
            for t in transitions]


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
            send_back=SendBack(**item["send_back"]) if "send_back" in item else None,
            copy_to=tuple(dict.fromkeys(item.get("copy_to") or ())),
        ))
    for i, state in enumerate(states.values()):
        trigger = state.on_objection
        if trigger and not any(t.trigger == trigger and state.id in t.sources and t.by == (SYSTEM_PARTY,)
                               for t in transitions):
            problems.append(f'states[{i}].on_objection: no `by: system` transition "{trigger}" leaves "{state.id}"')
    return transitions


def _check_send_backs(states: dict[str, StateSpec], transitions: list[TransitionSpec], problems: list[str]) -> None:
    """A send-back goes from a review level to an earlier one, with the reason, and names a trigger
    of that level which brings the case back."""
    forward: dict[str, set[str]] = {state: set() for state in states}
    for t in transitions:
        if t.send_back is None and t.dest in states and states[t.dest].kind != "draft":
            for source in t.sources:
                if source in forward:
                    forward[source].add(t.dest)
    for i, t in enumerate(transitions):
        if t.send_back is None:
            continue
        where = f"transitions[{i}]"
        if t.dest not in states or states[t.dest].kind != "review":
            problems.append(f'{where}.dest: a send-back goes to an earlier review state, not "{t.dest}"')
            continue
        for source in t.sources:
            if source not in states:
                continue
            if states[source].kind != "review":
                problems.append(f'{where}.source: only a review state sends a case back, not "{source}"')
            elif source == t.dest or source not in _reachable(forward, t.dest):
                problems.append(f'{where}.dest: "{t.dest}" does not come before "{source}"; '
                                "a case is sent back only to a review level it has already passed")
        if not t.comment_required:
            problems.append(f"{where}.comment_required: a send-back must ask for the reason (comment_required: true)")
        if t.timer or SYSTEM_PARTY in t.by:
            problems.append(f"{where}.by: a send-back is a reviewer's decision, not the system's")
        resume = t.send_back.resume_with
        if not any(o.trigger == resume and o.send_back is None and t.dest in o.sources for o in transitions):
            problems.append(f'{where}.send_back.resume_with: no transition "{resume}" leaves "{t.dest}"')


def _reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    reached, frontier = set(), [start]
    while frontier:
        for nxt in edges[frontier.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    return reached


def _check_levels(raw: dict, states: dict[str, StateSpec], transitions: list[TransitionSpec], problems: list[str]):
    """Every level a party names must sit at or above where cases originate."""
    origin_rank = LEVELS.index(raw["origin_level"])
    parties = [(f"states[{i}].waits_for", s.waits_for) for i, s in enumerate(states.values())]
    parties += [(f"transitions[{i}].by", p) for i, t in enumerate(transitions) for p in t.by]
    parties += [(f"records[{i}].by", p) for i, r in enumerate(raw["records"]) for p in r["by"]]
    parties += [(f"states[{i}].copy_to", p) for i, s in enumerate(states.values()) for p in s.copy_to]
    parties += [(f"transitions[{i}].copy_to", p) for i, t in enumerate(transitions) for p in t.copy_to]
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


def _check_documents(specs: list[FieldSpec], problems: list[str]) -> None:
    """The required documents (required file fields) are a checklist the applicant reads by label:
    two with one label could not be told apart, present or missing."""
    seen: dict[str, str] = {}
    for i, spec in enumerate(specs):
        if spec.type != "file" or not spec.required:
            continue
        if spec.label in seen:
            problems.append(f'form[{i}].label: the required documents "{seen[spec.label]}" and "{spec.name}" '
                            f'share the label "{spec.label}"; the checklist could not tell them apart')
        seen.setdefault(spec.label, spec.name)


def _check_form(raw: dict, problems: list[str]) -> list[FieldSpec]:
    specs = _check_fields(raw["form"], "form", problems, case_form=True)
    _check_groups(specs, problems)
    _check_derived(specs, problems)
    _check_documents(specs, problems)
    for i, spec in enumerate(specs):
        if spec.items_setting and "rounds" not in raw:
            problems.append(f"form[{i}].items_setting: the kind has no rounds to list the items")
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
        elif by_name[name].type in ("id_number", "file", "checklist"):
            problems.append(f'public_fields: "{name}" ({by_name[name].type}) may never be shown publicly')
    return specs


def _check_notice_proposed(raw: dict, states: dict[str, StateSpec], form: list[FieldSpec],
                           problems: list[str]) -> NoticeProposed | None:
    """The proposed honour or aid a notice shows: from one form field that may be public, or a fixed text."""
    if "notice_proposed" not in raw:
        return None
    proposed = NoticeProposed(**raw["notice_proposed"])
    if not any(state.kind == "notice" for state in states.values()):
        problems.append("notice_proposed: the definition has no state of kind notice to show it on")
    if (proposed.field is None) == (proposed.text is None):
        problems.append("notice_proposed: give either field (the form field naming what is proposed) or text, "
                        "not both or neither")
    elif proposed.field is not None:
        spec = next((spec for spec in form if spec.name == proposed.field), None)
        if spec is None:
            problems.append(f'notice_proposed.field: unknown field "{proposed.field}"')
        elif spec.type not in ("choice", "text") or spec.is_personal:
            kind = f"{spec.type}, sensitive" if spec.sensitive else spec.type
            problems.append(f'notice_proposed.field: "{proposed.field}" ({kind}) may not be shown publicly; '
                            "expected a choice or text field that is not sensitive")
    return proposed


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


def _check_groups(specs: list[FieldSpec], problems: list[str]) -> None:
    """Grouped forms group every field, and a group's fields stand together (one fieldset each)."""
    if not any(spec.group for spec in specs):
        return
    closed: set[str] = set()
    previous = None
    for i, spec in enumerate(specs):
        if spec.group is None:
            problems.append(f'form[{i}].group: "{spec.name}" has no group, but the form groups its fields')
        elif spec.group in closed:
            problems.append(f'form[{i}].group: the fields of group "{spec.group}" must stand together')
        if previous is not None and previous != spec.group:
            closed.add(previous)
        previous = spec.group


def _check_derived(specs: list[FieldSpec], problems: list[str]) -> None:
    """derived_from names an id_number field of the form; what it derives is a birth date (date
    field) or the sex (a choice field with the values male and female)."""
    by_name = {spec.name: spec for spec in specs}
    for i, spec in enumerate(specs):
        source = spec.derived_from
        if source is None:
            continue
        where = f"form[{i}].derived_from"
        if source not in by_name or by_name[source].type != "id_number":
            problems.append(f'{where}: "{source}" is not an id_number field of the form')
        if spec.type == "choice":
            values = {value for value, _label in spec.choices}
            if not set(SEX_CHOICES) <= values:
                problems.append(f"{where}: a choice field derived from an ID number holds the sex; "
                                f"it needs the choices {' and '.join(SEX_CHOICES)}")
        elif spec.type != "date":
            problems.append(f"{where}: only a date (birth date) or choice (sex) field is derived from an ID number")


def _check_fields(items: list[dict], prefix: str, problems: list[str], *, case_form: bool = False) -> list[FieldSpec]:
    specs: list[FieldSpec] = []
    names: set[str] = set()
    for i, item in enumerate(items):
        where = f"{prefix}[{i}]"
        if not case_form:
            for key in ("group", "derived_from", "items_setting"):
                if key in item:
                    problems.append(f"{where}.{key}: only fields of the case form take {key}")
            if item["type"] == "checklist":
                problems.append(f"{where}.type: checklist fields belong to the case form")
        if "items_setting" in item and item["type"] != "checklist":
            problems.append(f"{where}.items_setting: only checklist fields take items_setting")
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
        if kind in ("choice", "checklist") and not choices:
            problems.append(f"{where}.choices: a {kind} field needs at least one choice")
        if kind not in ("choice", "checklist") and choices:
            problems.append(f"{where}.choices: only choice and checklist fields take choices")
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
            sensitive=item.get("sensitive", False), group=item.get("group"),
            derived_from=item.get("derived_from"), items_setting=item.get("items_setting"),
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
    _check_send_backs(states, transitions, problems)
    _check_levels(raw, states, transitions, problems)
    form = _check_form(raw, problems)
    records = _check_records(raw, states, problems)
    _check_consultations(states, records, transitions, problems)
    transitions = _waiting_for_replies(states, transitions)
    notice_proposed = _check_notice_proposed(raw, states, form, problems)
    _check_internal_comments(raw, transitions, problems)
    retention_years = _check_retention(raw, problems)
    rounds = raw.get("rounds")
    definition = Definition(
        kind=raw["kind"], label=raw["label"], origin_level=raw["origin_level"], title_field=raw["title_field"],
        states=tuple(states.values()), transitions=tuple(transitions), fields=tuple(form),
        content_hash=content_hash(document), source=source, source_text=text,
        subject_field=raw.get("subject_field"), uses_rounds=rounds is not None,
        round_category_field=rounds["category_field"] if rounds else None,
        public_fields=tuple(raw["public_fields"]), notice_proposed=notice_proposed, records=tuple(records),
        internal_comments=tuple(dict.fromkeys(raw["internal_comments"])),
        started_from_case=raw["started_from_case"],
        remind_working_days_before=tuple(raw["remind_working_days_before"]),
        remind_overdue_every_working_days=raw.get("remind_overdue_every_working_days"),
        opinion_working_days=raw["opinion_working_days"],
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
