"""What a reader is shown of a case's audit trail.

The case's reviewers and the auditors whose unit covers it read the trail; anyone else who
may see the case (its applicant, an admin) is refused, anyone who may not is told it does
not exist. Personal data in the events (ID numbers and fields marked sensitive, in form
changes, record data and transition inputs) is masked unless the reader may see it in full,
and how each juror voted is for auditors only (reviewers see the tally). The stored rows and
their hashes are never touched: a masked copy no longer matches its hash, by design.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from engine.audit import AuditEvent, case_events
from engine.cases import get_case
from engine.definitions import Definition, FieldSpec, definition_by_hash
from engine.errors import PermissionDenied
from engine.forms import masked_changes, masked_personal_data
from engine.org import Actor
from engine.permissions import covers, sees_personal_data

READER_ROLES = ("reviewer", "auditor")
# Details of a jury vote that say how the juror voted.
BALLOT_DETAILS = ("choice", "label")


def readable_audit_trail(session: Session, actor: Actor, case_id: int) -> list[dict]:
    case = get_case(session, actor, case_id)
    if not any(grant.role in READER_ROLES and covers(grant, case) for grant in actor.grants):
        raise PermissionDenied("只有本案审核人和审计人员可以查看审计记录")
    masked_by = None if sees_personal_data(actor, case) else definition_by_hash(session, case.definition_hash)
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
