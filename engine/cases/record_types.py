"""What a definition's record type allows: its spec, who may add one now, and its file fields."""
from __future__ import annotations

from engine.base.errors import InvalidAction, PermissionDenied, ValidationFailed
from engine.cases.case import Case
from engine.cases.permissions import first_grant
from engine.definitions.spec import Definition, FieldSpec, RecordSpec
from engine.org.units import Actor, Grant


def record_spec(definition: Definition, record_type: str) -> RecordSpec:
    """The definition's record type, or a field error naming it as unknown."""
    try:
        return definition.record(record_type)
    except KeyError:
        raise ValidationFailed({"record_type": [f"「{definition.label}」没有此类记录"]}) from None


def record_grant(actor: Actor, case: Case, definition: Definition, spec: RecordSpec) -> Grant:
    """The grant under which ``actor`` may add a ``spec`` record to the case now."""
    state = definition.state(case.state)
    if case.state not in spec.states:
        raise InvalidAction(f"案件处于「{state.label}」，现在不能登记「{spec.label}」")
    grant = first_grant(actor, case, spec.by)
    if grant is None:
        who = "或".join(party.label for party in spec.by)
        raise PermissionDenied(f"只有{who}可以登记「{spec.label}」")
    return grant


def record_file_field(actor: Actor, case: Case, definition: Definition, record_type: str,
                      field_name: str) -> tuple[FieldSpec, Grant]:
    """The file field of a record type an upload goes into, and the grant to upload it under."""
    spec = record_spec(definition, record_type)
    field = next((f for f in spec.fields if f.name == field_name and f.type == "file"), None)
    if field is None:
        raise ValidationFailed({"field": [f"「{spec.label}」没有附件项「{field_name}」"]})
    return field, record_grant(actor, case, definition, spec)
