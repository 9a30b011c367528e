"""A workflow definition as the engine reads it: states, transitions, parties, fields and records.

Definitions are YAML files in workflows/, parsed and checked by engine.definitions.parse and
versioned by content hash in engine.definitions.store.

A definition declares states, transitions (who may fire them, at which level relative
to the case's origin, under which named rules), deadlines in working days, and the
form. Loading rejects a bad file with messages naming the file and the field.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from engine.org.units import LEVEL_LABELS, LEVELS, ROLE_LABELS

STATE_KINDS = ("draft", "review", "notice", "final")
STATE_KIND_LABELS = {"draft": "填报", "review": "审核", "notice": "公示", "final": "办结"}
FIELD_TYPES = ("text", "longtext", "integer", "decimal", "money", "date", "choice", "id_number", "phone", "file",
               "checklist")
# A checklist field: one yes/no answer per item (its choices), each with an optional note.
CHECKLIST_ANSWERS = (("no", "否"), ("yes", "是"))
CHECKLIST_NOTE_LENGTH = 500
# A choice field derived from an ID number (derived_from) holds the sex under these values.
SEX_CHOICES = ("male", "female")
DEFAULT_DECIMAL_PLACES = 2
# Auditors and admins never act on a case; only these roles may fire transitions.
ACTING_ROLES = ("applicant", "reviewer")
# Who a definition may copy a case to (copy_to): those who read cases without acting on them as applicants.
COPIED_ROLES = ("reviewer", "auditor")
PARTY_LEVELS = ("origin", *LEVELS)
ASSIGNEE = "$assignee"          # in `by`: whoever the source state waits for
SYSTEM = "system"               # in `by`: only the engine itself (timers, objections, linked cases)
RETURN_POINT = "$return_point"  # as `dest`: the review state that returned the case
FREE_COMMENT = "comment"        # in `internal_comments`: comments made outside any transition
# The engine's rule a consulting state's `before` triggers wait on (engine.cases.review_rules).
BODIES_REPLIED = "consulted_bodies_replied"
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
class Consultations:
    """Bodies a state must hear from before its decision (征求意见: tax, labour inspection...).

    Each body still to answer is a task of the party the state waits for, due in ``working_days``:
    the bodies have no accounts, so that party records each reply as a ``record`` (the record
    type's first ``unique_by`` field, a choice, names the body). The bodies are a fixed list or,
    with ``bodies_rule``, chosen per case by a named rule (engine.definitions.rules.consulted).
    """

    record: str
    # The triggers refused while a body is still to answer (the decision, not a return).
    before: tuple[str, ...]
    bodies: tuple[str, ...] = ()
    bodies_from: str | None = None
    # None: the definition's opinion_working_days.
    working_days: int | None = None


@dataclass(frozen=True)
class StateSpec:
    id: str
    label: str
    kind: str
    waits_for: Party | None
    deadline_working_days: int | None
    # Notice states: the system trigger an objection fires (e.g. into investigation).
    on_objection: str | None = None
    # A named deadline rule (engine.definitions.rules.deadline) instead of a count of working days: the
    # round's closing time, a claim's filing window...
    deadline_at: str | None = None
    # Reminders, in working days before the deadline's last day (0: on the day); None: the
    # definition's own list.
    remind_working_days_before: tuple[int, ...] | None = None
    # Once escalated, remind again every N working days until someone acts; 0: never; None: the
    # definition's setting.
    remind_overdue_every_working_days: int | None = None
    # Parties copied (抄送) whenever a case enters the state (engine.cases.copies).
    copy_to: tuple[Party, ...] = ()
    # Bodies to consult while the case waits here (engine.cases.consultations).
    consultations: Consultations | None = None

    @property
    def has_deadline(self) -> bool:
        return self.deadline_working_days is not None or self.deadline_at is not None

    @property
    def is_final(self) -> bool:
        return self.kind == "final"


@dataclass(frozen=True)
class SendBack:
    """A review level sending a case back to an earlier one (退回重审): once that level fires
    ``resume_with`` again, the case comes straight back here, skipping the levels in between."""

    resume_with: str
    # What the earlier level's button reads while the case was sent back to it (None: a default
    # naming the level it returns to).
    resume_label: str | None = None


@dataclass(frozen=True)
class TransitionSpec:
    trigger: str
    label: str
    sources: tuple[str, ...]
    dest: str
    by: tuple[Party | str, ...]
    conditions: tuple[str, ...]
    comment_required: bool
    # Named actions run inside the transaction once the guards pass (engine.definitions.rules.action).
    actions: tuple[str, ...] = ()
    # Fields the actor fills in when firing (a decision number, a lowered amount...).
    inputs: tuple[FieldSpec, ...] = ()
    # Fired by the clock when the source state's deadline has passed (by: system).
    timer: bool = False
    # Set on a send-back to an earlier review level (see SendBack).
    send_back: SendBack | None = None
    # Parties copied (抄送) when the transition fires (engine.cases.copies).
    copy_to: tuple[Party, ...] = ()


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
    # Case forms: the title of the group (fieldset) the field is shown in.
    group: str | None = None
    # A date (birth date) or choice (sex) field read from this id_number field: filled in when
    # empty, refused when it disagrees.
    derived_from: str | None = None
    # Checklist fields of a kind with rounds: the round setting listing which items the round asks.
    items_setting: str | None = None

    @property
    def is_personal(self) -> bool:
        return self.sensitive or self.type == "id_number"


@dataclass(frozen=True)
class NoticeProposed:
    """What a public notice says is proposed (拟授予荣誉, 拟给予帮扶): a line labelled ``label`` whose
    value is either the form's ``field`` (a choice by its label) or a fixed ``text``."""
    label: str
    field: str | None = None
    text: str | None = None


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
    # The line a public notice opens with: which honour or aid is proposed (None: no such line).
    notice_proposed: NoticeProposed | None = None
    records: tuple[RecordSpec, ...] = ()
    # Triggers (and "comment") whose reviewers' comments are internal: not shown to applicants.
    internal_comments: tuple[str, ...] = ()
    # Started from another case (create_draft with linked_case), so pages offer no blank form for it.
    started_from_case: bool = False
    # When the people a deadline concerns are reminded: working days before its last day.
    remind_working_days_before: tuple[int, ...] = ()
    # Once a stay is overdue and escalated, they are reminded again every N working days.
    remind_overdue_every_working_days: int | None = None
    # Working days an asked person has to give his opinion (加签).
    opinion_working_days: int = 3
    # How many calendar years a closed case is kept before it may be purged (engine.operations.purge);
    # None: kept for ever.
    retention_years: int | None = None
    # The file's text as read, stored with the version (not part of equality or hashing).
    source_text: str = field(default="", compare=False, repr=False)

    def reminders_for(self, state: StateSpec) -> tuple[int, ...]:
        """Reminder offsets of ``state``, furthest from the deadline first."""
        offsets = self.remind_working_days_before if state.remind_working_days_before is None \
            else state.remind_working_days_before
        return tuple(sorted(set(offsets), reverse=True))

    def overdue_reminders_every(self, state: StateSpec) -> int | None:
        """Working days between the reminders of an overdue stay in ``state`` (None: none)."""
        if state.remind_overdue_every_working_days is None:
            return self.remind_overdue_every_working_days
        return state.remind_overdue_every_working_days or None

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

    @property
    def required_documents(self) -> tuple[FieldSpec, ...]:
        """The documents a case needs before it leaves its draft: its form's required file fields,
        listed to the applicant as a checklist."""
        return tuple(spec for spec in self.fields if spec.type == "file" and spec.required)

    def field_groups(self) -> tuple[tuple[str | None, tuple[FieldSpec, ...]], ...]:
        """The form's fields in their titled groups, in order (one untitled group when it has none)."""
        groups: list[tuple[str | None, list[FieldSpec]]] = []
        for spec in self.fields:
            if not groups or groups[-1][0] != spec.group:
                groups.append((spec.group, []))
            groups[-1][1].append(spec)
        return tuple((title, tuple(specs)) for title, specs in groups)

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

    def send_backs(self, sender: str, to_state: str, trigger: str) -> tuple[TransitionSpec, ...]:
        """Send-backs from ``sender`` into ``to_state`` that ``trigger`` resumes from there."""
        return tuple(t for t in self.transitions if t.send_back is not None and t.dest == to_state
                     and sender in t.sources and t.send_back.resume_with == trigger)

    def resume_points(self, state_id: str, trigger: str) -> tuple[str, ...]:
        """The review states that may send a case back into ``state_id`` to be resumed by ``trigger``:
        fired there on such a case, ``trigger`` takes it straight back to the one that sent it."""
        points = [source for t in self.transitions if t.send_back is not None and t.dest == state_id
                  and t.send_back.resume_with == trigger for source in t.sources]
        return tuple(dict.fromkeys(points))

    def resume_label(self, sender: str, to_state: str, trigger: str) -> str:
        """The label of ``trigger`` fired in ``to_state`` on a case ``sender`` sent back there."""
        for transition in self.send_backs(sender, to_state, trigger):
            if transition.send_back.resume_label:
                return transition.send_back.resume_label
        return f"重新审核通过，送回「{self.state(sender).label}」"

    def levels_used(self) -> set[str]:
        """Levels above the origin that some state waits for or some transition names."""
        parties = [state.waits_for for state in self.states]
        parties += [party for t in self.transitions for party in t.by]
        parties += [party for r in self.records for party in r.by]
        return {p.level for p in parties if isinstance(p, Party) and p.level in LEVELS}
