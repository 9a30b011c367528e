"""What a reader is shown of a case's audit trail.

Everyone who may see a case reads its timeline (``case_timeline``, the case page and the
API's case view): each step with who took it, when and why, as the reader may read it. The
applicant reads every step, but not the comments the definition marks internal (the jury's
deliberations, the reviewers' own notes) nor which juror voted; an objection reads as
received from the public, and its content is read from the objections themselves
(engine.procedures.notices.case_objections), never who lodged it. Changes are masked as the form is.

The full trail (``readable_audit_trail``) is for the case's reviewers and the auditors whose
unit covers it; anyone else who may see the case (its applicant, an admin) is refused, anyone
who may not is told it does not exist. Personal data in the events (ID numbers and fields marked sensitive, in form
changes, record data and transition inputs) is masked unless the reader may see it in full,
and how each juror voted is for auditors only (reviewers see the tally). The stored rows and
their hashes are never touched: a masked copy no longer matches its hash, by design.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit.chain import AuditEvent, case_events
from engine.base.errors import PermissionDenied
from engine.cases.case import Case, event_label
from engine.cases.permissions import covers, get_case, sees_internal_comments, sees_personal_data
from engine.definitions.forms import masked_changes, masked_personal_data
from engine.definitions.spec import Definition, FieldSpec
from engine.org.units import LEVEL_LABELS, ROLE_LABELS, Actor, OrgUnit

READER_ROLES = ("reviewer", "auditor")
# Details of a jury vote that say how the juror voted.
BALLOT_DETAILS = ("choice", "label")


def case_timeline(session: Session, actor: Actor, case: Case) -> list[dict]:
    """The case's steps as ``actor``, who may see the case, reads them (oldest first)."""
    definition = case.definition
    events = case_events(session, case.id)
    full, internal = sees_personal_data(actor, case), sees_internal_comments(actor, case)
    unit_ids = {event.actor_unit_id for event in events if event.actor_unit_id is not None}
    levels = {unit_id: level for unit_id, level in
              session.execute(select(OrgUnit.id, OrgUnit.level).where(OrgUnit.id.in_(unit_ids)))}
    return [_timeline_entry(definition, event, levels.get(event.actor_unit_id), full=full, internal=internal)
            for event in events]


def _timeline_entry(definition: Definition, event: AuditEvent, unit_level: str | None, *, full: bool,
                    internal: bool) -> dict:
    # Internal comments are the reviewers' own: an applicant's comment is never hidden from applicants.
    hidden = (not internal and event.comment is not None and event.actor_role == "reviewer"
              and event.action in definition.internal_comments)
    # Applicants learn that the jury voted, not which juror did (how each voted is in no view).
    juror_hidden = event.action == "vote" and not internal
    return {
        "seq": event.seq, "at": event.occurred_dt, "actor_name": None if juror_hidden else event.actor_name,
        "actor_role": event.actor_role,
        # A deputy's step on the task of someone away (engine.org.delegations): 「代 某某」.
        "on_behalf_of": (event.details or {}).get("on_behalf_of", {}).get("name"),
        "actor_role_label": ROLE_LABELS.get(event.actor_role), "unit_name": event.actor_unit_name,
        "unit_level": unit_level, "unit_level_label": LEVEL_LABELS.get(unit_level),
        "action": event.action, "action_label": event_label(event.action, event.details),
        "from_state": event.from_state, "from_state_label": _state_label(definition, event.from_state),
        "to_state": event.to_state, "to_state_label": _state_label(definition, event.to_state),
        "comment": None if hidden else event.comment, "comment_hidden": hidden,
        "changes": event.changes if full or not event.changes else masked_changes(definition.fields, event.changes),
    }


def _state_label(definition: Definition, state_id: str | None) -> str | None:
    return definition.state(state_id).label if state_id else None


def readable_audit_trail(session: Session, actor: Actor, case_id: int) -> list[dict]:
    case = get_case(session, actor, case_id)
    if not any(grant.role in READER_ROLES and covers(grant, case) for grant in actor.grants):
        raise PermissionDenied("只有本案审核人和审计人员可以查看审计记录")
    masked_by = None if sees_personal_data(actor, case) else case.definition
    auditor = any(grant.role == "auditor" and covers(grant, case) for grant in actor.grants)
    return [_shown(event, masked_by, ballots=auditor) for event in case_events(session, case.id)]


def _shown(event: AuditEvent, masked_by: Definition | None, *, ballots: bool) -> dict:
    """The event as read: a copy, personal data masked by the definition's fields when
    ``masked_by`` is given, a juror's choice kept only when ``ballots``."""
    shown = {column.key: getattr(event, column.key) for column in AuditEvent.__mapper__.column_attrs}
    shown["actor"] = {"id": event.actor_id, "name": event.actor_name}
    shown["unit"] = {"id": event.actor_unit_id, "name": event.actor_unit_name} if event.actor_unit_id else None
    if event.action == "vote" and not ballots:
        shown["details"] = {key: value for key, value in (event.details or {}).items() if key not in BALLOT_DETAILS}
    if masked_by is not None:
        shown["changes"], shown["details"] = masked_event_data(
            masked_by, event.action, event.from_state, event.changes, shown["details"])
    return shown


def masked_event_data(definition: Definition, action: str, from_state: str | None, changes: dict | None,
                      details: dict | None) -> tuple[dict | None, dict | None]:
    """An event's ``changes`` and ``details`` with the personal data the definition names masked:
    in form changes, in record data and in transition inputs (copies; the arguments are kept)."""
    if changes:
        changes = masked_changes(definition.fields, changes)
    if not details:
        return changes, details or None
    details = dict(details)
    if "data" in details and details.get("record_type") in {spec.type for spec in definition.records}:
        details["data"] = masked_personal_data(definition.record(details["record_type"]).fields, details["data"])
    if "inputs" in details:
        details["inputs"] = masked_personal_data(_input_specs(definition, action, from_state), details["inputs"])
    return changes, details


def _input_specs(definition: Definition, action: str, from_state: str | None) -> tuple[FieldSpec, ...]:
    """The input fields of the transition the event records."""
    return next((spec.inputs for spec in definition.transitions
                 if spec.trigger == action and from_state in spec.sources), ())
