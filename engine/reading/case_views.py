"""How a case reads, per reader: one place for both faces (the API's schemas and the pages' templates
present these dicts).

The same case is shown differently to its applicant, its reviewers and its auditors: ID numbers
and fields marked sensitive are in full only for the case's reviewers
(``permissions.sees_personal_data``), in the form, the outcome, the records and the trail's
changes alike; the timeline is the trail as the engine lets this reader read it
(``trail.case_timeline``: internal comments and jurors' names hidden from applicants); the
objections are those this reader may see; the amount granted and how it was computed (before
approving, what approving now would grant: ``amounts.amount_explanation``); the actions offered
are exactly those the engine would accept from this reader now (``machines.available_actions``);
the people copied (抄送) are
listed for the case's reviewers, and whom it may be copied to for the one who may decide it. Jurors read through
engine.procedures.juries.juror_case_view."""
from __future__ import annotations

from sqlalchemy.orm import Session

from engine.base.db import utcnow
from engine.cases.case import Case
from engine.cases.copies import copies_of, copy_candidates
from engine.cases.holders import deciding_grant, holding_at
from engine.cases.machines import available_actions
from engine.cases.opinions import opinions_view
from engine.cases.permissions import sees_personal_data
from engine.cases.tasks import missing_year_of, waiting_task
from engine.definitions.forms import masked_personal_data
from engine.definitions.spec import STATE_KIND_LABELS, Definition, FieldSpec
from engine.org.units import Actor
from engine.procedures.notices import objections_shown
from engine.reading.amounts import amount_explanation
from engine.reading.route import case_route
from engine.reading.trail import case_timeline


def case_summary(session: Session, case: Case) -> dict:
    definition = case.definition
    state = definition.state(case.state)
    return {
        "id": case.id, "kind": case.kind, "kind_label": definition.label, "state": case.state,
        "state_label": state.label, "state_kind": state.kind, "state_kind_label": STATE_KIND_LABELS[state.kind],
        "version": case.version, "title": case.title, "origin_unit": case.origin_unit, "round_id": case.round_id,
        "created_at": case.created_dt, "updated_at": case.updated_dt, "submitted_at": case.submitted_dt,
        "closed_at": case.closed_dt,
    }


def case_view(session: Session, actor: Actor, case: Case) -> dict:
    """The case as ``actor`` may read it, with its trail and the actions ``actor`` may take now."""
    definition = case.definition
    timeline = case_timeline(session, actor, case)
    state = definition.state(case.state)
    task = waiting_task(session, case.id)  # read once: the due time, the calendar's gap and the holder
    now = utcnow()
    actions = available_actions(session, actor, case, now)
    return case_summary(session, case) | {
        "linked_case_id": case.linked_case_id, "link_relation": case.link_relation,
        "form": form_as_read(actor, case),
        "outcome": outcome_as_read(actor, case),
        "due_at": task.due_dt if task is not None else None,
        "calendar_missing_year": missing_year_of(session, case, task),
        "waits_for": state.waits_for.label if state.waits_for else None,
        "holding": holding_at(session, actor, task),
        "opinions": opinions_view(session, actor, case, task),
        "revision_round": case.revision_round,
        "return_reason": _return_reason(case, state.kind, timeline),
        "sent_back": _sent_back(case, definition, timeline),
        "timeline": timeline,
        "route": case_route(session, case, task),
        "objections": objections_shown(session, actor, case),
        "available_actions": actions,
        # The amount granted and how; before approving, what approving now would grant.
        "amount": amount_explanation(session, actor, case, now, actions),
        # Who the case was copied to, for its reviewers; whom the decider may copy it to.
        "copies": copies_of(session, case.id) if sees_personal_data(actor, case) else None,
        "copy_candidates": copy_candidates(session, case, besides=actor.user_id)
        if deciding_grant(actor, task) is not None else None,
    }


def form_as_read(actor: Actor, case: Case) -> dict:
    """The case's form as ``actor`` may read it: personal data in full for its reviewers only."""
    if sees_personal_data(actor, case):
        return case.form_data
    return masked_personal_data(case.definition.fields, case.form_data)


def outcome_as_read(actor: Actor, case: Case) -> dict:
    """Transition inputs land in the outcome: a personal one is masked there as in the form."""
    outcome = case.outcome or {}
    if sees_personal_data(actor, case):
        return outcome
    return masked_personal_data(outcome_fields(case.definition), outcome)


def outcome_fields(definition: Definition) -> tuple[FieldSpec, ...]:
    """The fields the outcome may hold: every transition's inputs."""
    return tuple(spec for transition in definition.transitions for spec in transition.inputs)


def _return_reason(case: Case, state_kind: str, timeline: list[dict]) -> str | None:
    """Why a returned case is back in a draft: the comment of the event that sent it there."""
    if state_kind != "draft" or case.return_state is None:
        return None
    arrival = next((entry for entry in reversed(timeline) if entry["to_state"] == case.state), None)
    return arrival["comment"] if arrival else None


def _sent_back(case: Case, definition: Definition, timeline: list[dict]) -> dict | None:
    """While a case sent back to an earlier level (退回重审) has not yet gone back: which level sent it,
    where passing it again takes it, and the reason (the comment of the send-back, as this reader may
    read it)."""
    if case.sent_back_from is None:
        return None
    sending = next((entry for entry in reversed(timeline) if entry["from_state"] == case.sent_back_from
                    and entry["action"] in {t.trigger for t in definition.transitions if t.send_back}), None)
    return {"state": case.sent_back_from, "state_label": definition.state(case.sent_back_from).label,
            "reason": sending["comment"] if sending else None}


def records_view(session: Session, actor: Actor, case: Case, records) -> list[dict]:
    """Records as the actor may read them: personal data masked unless they review the case."""
    definition = case.definition
    in_full = sees_personal_data(actor, case)
    result = []
    for record in records:
        spec = definition.record(record.record_type)
        values = record.data if in_full else masked_personal_data(spec.fields, record.data)
        result.append({
            "id": record.id, "type": record.record_type, "type_label": spec.label, "record_fields": values,
            "author": record.author_name, "unit": record.unit_name, "created_at": record.created_dt,
            "voided": record.voided_dt is not None, "voided_at": record.voided_dt, "void_reason": record.void_reason,
            "case_version": case.version,
        })
    return result
