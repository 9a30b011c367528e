"""Case operations: each one unit of work inside the caller's transaction.

Every operation takes the session and the acting person, checks permission, rules and
the case version the caller saw, changes the case, appends the audit event and closes and
opens the case's tasks, then flushes. The caller commits once (or rolls back on any error,
which then leaves nothing written). Side effects are queued to run after the commit.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from engine.audit.chain import AuditEvent, append_event, register_case
from engine.base import effects
from engine.base.db import utcnow
from engine.base.errors import (
    ConditionFailed, InvalidAction, NotFound, PermissionDenied, UnionflowError, ValidationFailed,
)
from engine.base.inputs import clean_note
from engine.cases.attachments import unknown_attachment_ids
from engine.cases.case import Case, check_version, conflict_on_stale
from engine.cases.consultations import close_consultations, consultation_rows, open_consultations
from engine.cases.copies import party_members, store_copies
from engine.cases.machines import ActionContext, compiled
from engine.cases.opinions import close_opinions, unanswered_refusal
from engine.cases.permissions import draft_editor_grant, first_grant, get_case, participant_grant, require_visible
from engine.cases.records import bodies_heard
from engine.cases.rule_context import RuleContext
from engine.cases.tasks import MOVED_ON, follow_form, follow_state, how_it_ended, waiting_task
from engine.definitions import rules
from engine.definitions.forms import (
    clean_fields, clean_form_input, dump_fields, missing_required, to_stored, with_derived,
)
from engine.definitions.spec import RETURN_POINT, Definition, Party, TransitionSpec
from engine.definitions.store import current_definition
from engine.operations.telling import tell_later
from engine.org.delegations import StandIn
from engine.org.units import LEVEL_LABELS, SYSTEM_ACTOR, Actor, Grant, OrgUnit, unit_chain
from engine.procedures.rounds import listed_items, round_open_for

MAX_COMMENT_LENGTH = 2000
MAX_BATCH_SIZE = 200


def create_draft(
    session: Session, actor: Actor, kind: str, *, origin_unit_id: int | None = None,
    form: dict | None = None, round_id: int | None = None, linked_case: Case | None = None,
    link_relation: str | None = None, now: datetime | None = None,
) -> Case:
    """Start a case of ``kind`` at one of the actor's units, on the kind's current definition.

    Kinds that use rounds are started into an open round. ``linked_case`` ties the new case
    to the one it follows from (``link_relation`` says how). The system may prepare a draft
    for a unit (``origin_unit_id``); that unit's applicants then complete it.
    """
    now = now or utcnow()
    try:
        definition = current_definition(session, kind)
    except NotFound as err:  # the kind is the caller's input, not a thing looked up by id
        raise ValidationFailed({"kind": [err.message]}) from None
    grant = _origin_grant(session, actor, definition, origin_unit_id)
    unit = session.get(OrgUnit, grant.unit_id)
    chain = unit_chain(session, unit)
    missing = sorted(definition.levels_used() - set(chain), key=lambda level: LEVEL_LABELS[level])
    if missing:
        names = "、".join(LEVEL_LABELS[level] for level in missing)
        raise ValidationFailed({"origin_unit_id": [f"「{unit.name}」没有上级{names}，无法发起{definition.label}"]})
    values = clean_form_input(definition, form or {})
    _check_file_ids(session, None, definition, values)
    stored = with_derived(definition.fields, _merged(definition, {}, values))
    round_ = _round_for(session, definition, unit, round_id, now)
    case = Case(
        kind=kind, definition_hash=definition.content_hash, state=definition.initial_state.id,
        origin_unit_id=unit.id, origin_path=unit.path, chain=chain, applicant_id=actor.user_id,
        title=_title(definition, stored), form_data=stored, created_dt=now, updated_dt=now,
        round_id=round_.id if round_ else None, subject_key=_subject_key(definition, stored),
        linked_case_id=linked_case.id if linked_case else None, link_relation=link_relation if linked_case else None,
        outcome={},
    )
    session.add(case)
    session.flush()
    details = {"kind": kind, "definition_hash": definition.content_hash}
    if round_:
        details["round_id"] = round_.id
    if linked_case:
        details |= {"linked_case_id": linked_case.id, "link_relation": link_relation}
    genesis = append_event(
        session, case, actor=actor, grant=_audit_grant(grant), action="create", now=now, to_state=case.state,
        changes=_changes({}, stored), details=details,
    )
    register_case(session, case.id, genesis.hash)
    follow_state(session, case, definition, now, left_state=None)
    effects.publish(session, "case_created", case_id=case.id)
    return case


def update_draft(
    session: Session, actor: Actor, case: Case, form: dict, *, expected_version: int,
    now: datetime | None = None,
) -> Case:
    """Change form fields of a case still in a draft state (patch: only the fields given)."""
    now = now or utcnow()
    require_visible(actor, case)
    check_version(case, expected_version)
    definition = case.definition
    grant = draft_editor_grant(actor, case, definition, "修改表单")
    values = clean_form_input(definition, form, case.form_data)
    _check_file_ids(session, case, definition, values)
    stored = with_derived(definition.fields, _merged(definition, case.form_data, values))
    changes = _changes(case.form_data, stored)
    if not changes:
        return case
    with conflict_on_stale(case):
        case.form_data = stored
        case.title = _title(definition, stored)
        case.subject_key = _subject_key(definition, stored)
        case.updated_dt = now
        append_event(session, case, actor=actor, grant=grant, action="update_form", now=now, changes=changes)
        follow_form(session, case, definition, now)
        session.flush()
    return case


def perform_action(
    session: Session, actor: Actor, case: Case, trigger: str, *, expected_version: int,
    comment: str | None = None, inputs: dict | None = None, now: datetime | None = None,
    batch: tuple[Case, ...] = (),
) -> AuditEvent:
    """Fire ``trigger`` on the case through its definition's state machine.

    ``inputs`` fill the transition's input fields (validated; kept in ``case.outcome`` and in
    the audit event). Once the guards pass and the state has moved, the transition's actions
    run in the same transaction; their outcomes go into the audit event.
    """
    now = now or utcnow()
    require_visible(actor, case)
    check_version(case, expected_version)
    definition = case.definition
    workflow = compiled(definition)
    spec, parties = _action_for(workflow, definition, case, trigger)
    grant = first_grant(actor, case, parties)
    if grant is None:
        who = "或".join(party.label for party in parties)
        raise PermissionDenied(f"案件处于「{definition.state(case.state).label}」，只有{who}可以执行「{spec.label}」")
    if case.opinions_pending and not spec.timer and _decides(definition, case, grant):
        raise unanswered_refusal(session, case)  # 加签: the decision waits for the opinions asked
    # Everything wrong with what was filled in is said at once (the comment, the inputs, the
    # form's empty required fields), not one group per attempt.
    errors: dict[str, list[str]] = {}
    try:
        comment = _clean_comment(comment, required=spec.comment_required)
    except ValidationFailed as refused:
        errors |= refused.fields
    deadline = _check_deadline_passed(session, definition, case, now) if spec.timer else None
    try:
        values = clean_fields(spec.inputs, inputs) if spec.inputs or inputs else {}
    except ValidationFailed as refused:
        errors, values = errors | refused.fields, {}
    from_state = case.state
    # A draft may be withdrawn half-filled; only sending it on for review needs a complete form.
    missing = {}
    if definition.state(from_state).kind == "draft" and not _closes_case(definition, spec):
        missing = missing_required(definition, case.form_data, listed_items(session, definition, case.round_id))
    if missing and not errors:
        raise ValidationFailed(missing, "表单还有必填项未填写，不能提交")
    if errors:
        raise ValidationFailed(missing | errors)
    ctx = ActionContext(session, actor, now, values, batch)
    with conflict_on_stale(case):
        # The machine evaluates the guards (permission and named rules) and moves case.state.
        if not workflow.fire(trigger, case, ctx):
            raise _refusal(spec, case, ctx, grant)
        rule_context = RuleContext(session, actor, case, now, grant, values, batch)
        outcomes = [rules.run_action(name, rule_context) for name in spec.actions]
        stored_inputs = dump_fields(spec.inputs, values) if values else {}
        if stored_inputs:
            case.record_outcome(**stored_inputs)
        sent_back = _record_bookkeeping(definition, case, spec, from_state, now)
        details = {"label": spec.label, "revision_round": case.revision_round} | sent_back
        if stored_inputs:
            details["inputs"] = stored_inputs
        if deadline is not None:
            details["deadline"] = deadline
        if spec.conditions:
            details["rules"] = [{"rule": name, "version": rules.rule_version(name)} for name in spec.conditions]
        if outcomes:
            details["outcomes"] = outcomes
        principal = _stood_in_for(session, actor, grant, case)
        if principal is not None:
            details["on_behalf_of"] = {"id": principal.principal_id, "name": principal.principal_name}
        asked = case.opinions_pending  # the case moved on by someone else: the opinions asked lapse
        if asked:
            case.opinions_pending = 0
        # Read from the definition in memory: a transition that copies nobody costs no statement.
        copy_to = spec.copy_to + definition.state(case.state).copy_to
        copied = [(user_id, name) for user_id, name in party_members(session, case, copy_to)
                  if user_id != actor.user_id] if copy_to else []
        if copied:
            details["copies"] = [{"id": user_id, "name": name} for user_id, name in copied]
        event = append_event(
            session, case, actor=actor, grant=_audit_grant(grant), action=trigger, now=now, from_state=from_state,
            to_state=case.state, comment=comment, details=details,
        )
        if asked:
            close_opinions(session, case.id, now, closed_by=actor.user_id, how=MOVED_ON)
        if definition.state(from_state).consultations is not None:
            close_consultations(session, case.id, now, closed_by=actor.user_id, how=MOVED_ON)
        if copied:
            store_copies(session, case, [user_id for user_id, _ in copied], event_id=event.id, now=now,
                         copied_by_id=None, reason=spec.label)
        follow_state(session, case, definition, now, left_state=from_state, closed_by=actor.user_id,
                     closed_how=how_it_ended(definition, case, from_state, grant, timer=spec.timer))
        entered = definition.state(case.state)
        if entered.consultations is not None:
            open_consultations(session, consultation_rows(session, case, definition, entered, now,
                                                          bodies_heard(session, case, definition, entered)))
    tell_later(session, event)
    effects.publish(session, "case_transitioned", case_id=case.id, trigger=trigger,
                    from_state=from_state, to_state=case.state)
    return event


def perform_joint_action(
    session: Session, actor: Actor, cases: list[tuple[Case, int]], trigger: str, *,
    comment: str | None = None, now: datetime | None = None,
) -> list[AuditEvent]:
    """Fire one trigger on several cases as one decision: all of them move, or none.

    For decisions judged on the set, such as a unit forwarding its nominations together so
    the round's ratio limits are checked on the whole list. Each case is given as (case,
    version the caller saw). Rules see every case of the set in ``RuleContext.batch``.
    """
    _check_case_list([case.id for case, _ in cases])
    # One decision on one set: the same kind, stage and round, so a rule judging the set
    # (a ratio) cannot be swayed by cases from elsewhere.
    if len({(case.kind, case.state, case.round_id) for case, _ in cases}) != 1:
        raise ValidationFailed({"cases": ["一起处理的案件须属于同一业务、同一环节和同一批次"]})
    batch = tuple(case for case, _ in cases)
    return [
        perform_action(session, actor, case, trigger, expected_version=version, comment=comment, now=now, batch=batch)
        for case, version in cases
    ]


@dataclass(frozen=True)
class BatchOutcome:
    """What became of one case of a batch (or would, in a preview): moved, to ``to_state`` and with
    the money its actions granted, or refused (with the error)."""

    case_id: int
    case: Case | None = None
    event: AuditEvent | None = None  # None in a preview: nothing was kept
    error: UnionflowError | None = None
    to_state: str | None = None
    label: str | None = None  # the action's words (they differ by stage)
    granted: Decimal | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def perform_batch_action(
    session: Session, actor: Actor, cases: list[tuple[int, int]], trigger: str, *,
    comment: str | None = None, now: datetime | None = None,
) -> list[BatchOutcome]:
    """Fire one trigger on many cases, each decided on its own: a refused case (stale, not
    permitted, a rule) is reported and rolled back alone, the others go ahead.

    Each case is given as (case id, version the caller saw). Unlike a joint action, no rule
    sees the others: each case is exactly the single action it would have been.
    """
    return _batch(session, actor, cases, trigger, comment=comment, now=now, keep=True)


def preview_batch_action(
    session: Session, actor: Actor, cases: list[tuple[int, int]], trigger: str, *,
    comment: str | None = None, now: datetime | None = None,
) -> list[BatchOutcome]:
    """What ``perform_batch_action`` would do, case by case, with nothing kept: the batch runs
    inside a savepoint that is then rolled back (its effects with it). So the comment, the
    conditions and the actions' own refusals (a cap used up, by an earlier case of the same
    batch too) are checked, and the amounts computed, by the very code that runs on
    confirmation. The figures may still change by then if other approvals draw meanwhile."""
    preview = session.begin_nested()
    try:
        return _batch(session, actor, cases, trigger, comment=comment, now=now, keep=False)
    finally:
        preview.rollback()


def _batch(session: Session, actor: Actor, cases: list[tuple[int, int]], trigger: str, *, comment: str | None,
           now: datetime | None, keep: bool) -> list[BatchOutcome]:
    _check_case_list([case_id for case_id, _ in cases])
    now = now or utcnow()
    outcomes = []
    for case_id, version in cases:
        try:
            with session.begin_nested():
                case = get_case(session, actor, case_id)
                event = perform_action(session, actor, case, trigger, expected_version=version, comment=comment,
                                       now=now)
        except UnionflowError as err:
            outcomes.append(BatchOutcome(case_id, error=err))
        else:
            outcomes.append(BatchOutcome(case_id, case, event if keep else None, to_state=event.to_state,
                                         label=(event.details or {}).get("label"), granted=granted_by(event)))
    return outcomes


def granted_by(event: AuditEvent) -> Decimal | None:
    """The money ``event``'s actions granted: what they reported as ``granted`` (engine.definitions.rules);
    None when none of them grants money."""
    amounts = [Decimal(str(outcome["granted"])) for outcome in (event.details or {}).get("outcomes", ())
               if isinstance(outcome, dict) and outcome.get("granted") is not None]
    return sum(amounts, Decimal("0.00")) if amounts else None


def _check_case_list(case_ids: list[int]) -> None:
    if not case_ids:
        raise ValidationFailed({"cases": ["请选择案件"]})
    if len(case_ids) > MAX_BATCH_SIZE:
        raise ValidationFailed({"cases": [f"一次最多处理 {MAX_BATCH_SIZE} 件"]})
    if len(set(case_ids)) != len(case_ids):
        raise ValidationFailed({"cases": ["同一案件不能重复选择"]})


def submit_case(session: Session, actor: Actor, case: Case, *, expected_version: int, comment: str | None = None,
                now: datetime | None = None) -> AuditEvent:
    return perform_action(session, actor, case, "submit", expected_version=expected_version, comment=comment, now=now)


def resubmit_case(session: Session, actor: Actor, case: Case, *, expected_version: int, comment: str | None = None,
                  now: datetime | None = None) -> AuditEvent:
    """Send a corrected case back to the level that returned it."""
    return perform_action(session, actor, case, "resubmit", expected_version=expected_version, comment=comment, now=now)


def approve_case(session: Session, actor: Actor, case: Case, *, expected_version: int, comment: str | None = None,
                 now: datetime | None = None) -> AuditEvent:
    """Approve at the actor's level: forward to the next level, or finish where the definition says."""
    return perform_action(session, actor, case, "approve", expected_version=expected_version, comment=comment, now=now)


def reject_case(session: Session, actor: Actor, case: Case, *, expected_version: int, comment: str | None,
                now: datetime | None = None) -> AuditEvent:
    return perform_action(session, actor, case, "reject", expected_version=expected_version, comment=comment, now=now)


def return_case(session: Session, actor: Actor, case: Case, *, expected_version: int, comment: str | None,
                now: datetime | None = None) -> AuditEvent:
    """Return to the applicant for revision, with the reason."""
    return perform_action(session, actor, case, "return", expected_version=expected_version, comment=comment, now=now)


def withdraw_case(session: Session, actor: Actor, case: Case, *, expected_version: int, comment: str | None = None,
                  now: datetime | None = None) -> AuditEvent:
    return perform_action(session, actor, case, "withdraw", expected_version=expected_version, comment=comment, now=now)


def comment_on_case(session: Session, actor: Actor, case: Case, text: str, *, now: datetime | None = None) -> AuditEvent:
    """Add a comment to the case's trail; no state change. Applicants and reviewers only."""
    now = now or utcnow()
    require_visible(actor, case)
    grant = participant_grant(actor, case)
    if grant is None:
        raise PermissionDenied("只有申报单位和审核单位的人员可以发表意见")
    text = _clean_comment(text, required=True)
    with conflict_on_stale(case):
        case.updated_dt = now
        event = append_event(session, case, actor=actor, grant=grant, action="comment", now=now, comment=text)
        session.flush()
    return event


# --- Helpers --------------------------------------------------------------------------------------

def _origin_grant(session: Session, actor: Actor, definition: Definition, origin_unit_id: int | None) -> Grant:
    if actor == SYSTEM_ACTOR:
        unit = session.get(OrgUnit, origin_unit_id) if origin_unit_id is not None else None
        if unit is None or unit.level != definition.origin_level:
            raise ValidationFailed({"origin_unit_id": [f"请指定发起「{definition.label}」的{LEVEL_LABELS[definition.origin_level]}"]})
        return Grant("system", unit.id, unit.level, unit.path, unit.name)
    grants = [g for g in actor.grants_for("applicant") if g.unit_level == definition.origin_level]
    if origin_unit_id is not None:
        grants = [g for g in grants if g.unit_id == origin_unit_id]
    if not grants:
        raise PermissionDenied(f"您没有在{LEVEL_LABELS[definition.origin_level]}发起「{definition.label}」的权限")
    if len(grants) > 1:
        raise ValidationFailed({"origin_unit_id": ["您在多个单位有申报权限，请选择申报单位"]})
    return grants[0]


def _audit_grant(grant: Grant) -> Grant | None:
    """The engine acting on its own is recorded as the system, with no unit."""
    return None if grant.role == "system" else grant


def _round_for(session: Session, definition: Definition, unit: OrgUnit, round_id: int | None, now: datetime):
    if not definition.uses_rounds:
        if round_id is not None:
            raise ValidationFailed({"round_id": [f"「{definition.label}」不分批次"]})
        return None
    return round_open_for(session, definition, unit, round_id, now)


def _subject_key(definition: Definition, stored: dict) -> str | None:
    return stored.get(definition.subject_field) if definition.subject_field else None


def _action_for(workflow, definition: Definition, case: Case, trigger: str) -> tuple[TransitionSpec, tuple[Party, ...]]:
    """The definition entry behind ``trigger`` in the case's state, and who may fire it.

    Loading forbids one trigger twice from one state, so every compiled candidate (several
    only for $return_point and a send-back's resume) shares one entry and one set of parties.
    """
    candidates = workflow.candidates(trigger, case.state)
    if not candidates:
        raise InvalidAction(f"案件处于「{definition.state(case.state).label}」，不能执行「{trigger}」")
    return candidates[0].spec, candidates[0].parties


def _check_deadline_passed(session: Session, definition: Definition, case: Case, now: datetime) -> dict:
    """A timer transition fires only once the state's deadline has passed; returns the deadline
    as the audit event records it (which rule set it, and when it fell due)."""
    row = waiting_task(session, case.id)
    state = definition.state(case.state)
    if row is None or row.due_dt is None:
        raise InvalidAction(f"「{state.label}」的期限无法确定（工作日历未覆盖），不能自动处理")
    if now < row.due_dt:
        raise InvalidAction(f"「{state.label}」期限未到，不能自动处理")
    rule = state.deadline_at or f"{state.deadline_working_days} 个工作日"
    return {"state": state.id, "rule": rule, "due": row.due_dt.isoformat()}


def _closes_case(definition: Definition, spec: TransitionSpec) -> bool:
    return spec.dest != RETURN_POINT and definition.state(spec.dest).is_final


def _decides(definition: Definition, case: Case, grant: Grant) -> bool:
    """Whether the grant is the party the case's state waits for (its decider, not a withdrawing applicant)."""
    party = definition.state(case.state).waits_for
    return party is not None and grant.role == party.role and grant.unit_id == case.unit_at(party.level)


def _stood_in_for(session: Session, actor: Actor, grant: Grant, case: Case) -> StandIn | None:
    """The person away whose task the actor, his deputy, acts on (代 某某); one read, and only for
    a deputy acting in the role and unit he stands in for (engine.org.delegations)."""
    stand_ins = [s for s in actor.stands_in if (s.role, s.unit_id) == (grant.role, grant.unit_id)]
    if not stand_ins:
        return None
    holder = waiting_task(session, case.id)
    return next((s for s in stand_ins if holder is not None and holder.assignee_id == s.principal_id), None)


def _refusal(spec: TransitionSpec, case: Case, ctx: ActionContext, grant: Grant) -> ConditionFailed:
    context = RuleContext(ctx.session, ctx.actor, case, ctx.now, grant, ctx.inputs, ctx.batch)
    reasons = [reason for name in spec.conditions if (reason := rules.check(name, context))]
    return ConditionFailed("；".join(reasons) or "不满足执行条件", reasons)


def _record_bookkeeping(definition: Definition, case: Case, spec: TransitionSpec, from_state: str,
                        now: datetime) -> dict:
    """Keep the case's columns in step with the move; returns what the audit event adds about a
    send-back (see _follow_send_back)."""
    source_kind = definition.state(from_state).kind
    dest = definition.state(case.state)
    if spec.dest == RETURN_POINT:  # a resubmission after revision
        case.revision_round += 1
        case.return_state = None
    elif dest.kind == "draft" and source_kind != "draft":
        case.return_state = from_state
    if source_kind == "draft" and case.submitted_dt is None:
        case.submitted_dt = now
    if dest.is_final:
        case.closed_dt = now
    case.updated_dt = now
    return _follow_send_back(definition, case, spec, from_state)


def _follow_send_back(definition: Definition, case: Case, spec: TransitionSpec, from_state: str) -> dict:
    """Remember the level that sent the case back (the machine's guard for coming straight back
    there), and forget it once the case is back or closed. A send-back from the earlier level in
    turn replaces it: the case then goes up its usual way from there, re-reviewed, never skipped."""
    if spec.send_back is not None:
        case.sent_back_from = from_state
        return {"sent_back_to": case.state}
    sender = case.sent_back_from
    if sender is not None and case.state == sender and from_state != sender:
        case.sent_back_from = None
        return {"resumed_to": sender, "label": definition.resume_label(sender, from_state, spec.trigger)}
    if definition.state(case.state).is_final:
        case.sent_back_from = None
    return {}


def _clean_comment(comment: str | None, *, required: bool) -> str | None:
    return clean_note(comment, field="comment", label="意见", max_length=MAX_COMMENT_LENGTH,
                      required_message="请填写意见或理由" if required else None)


def _check_file_ids(session: Session, case: Case | None, definition: Definition, values: dict) -> None:
    """File fields hold ids of files uploaded into that field of this case (see attach_file)."""
    errors = {}
    for spec in definition.fields:
        ids = values.get(spec.name)
        if spec.type != "file" or not ids:
            continue
        if case is None:
            errors[spec.name] = ["请先保存草稿，再上传附件"]
        elif unknown_attachment_ids(session, case, spec.name, ids):
            errors[spec.name] = ["附件不存在或不属于此案件"]
    if errors:
        raise ValidationFailed(errors)


def _merged(definition: Definition, stored: dict, values: dict) -> dict:
    merged = dict(stored)
    for name, value in to_stored(definition, values).items():
        if value is None or value == []:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def _changes(before: dict, after: dict) -> dict:
    return {
        name: {"before": before.get(name), "after": after.get(name)}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


def _title(definition: Definition, stored: dict) -> str:
    return (stored.get(definition.title_field) or definition.label)[:200]
