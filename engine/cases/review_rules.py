"""Named rules any definition may use (registered on import; engine.runtime imports this module)."""
from __future__ import annotations

from engine.audit.chain import acted_in_current_state
from engine.cases.consultations import bodies_required, body_labels
from engine.cases.records import bodies_heard
from engine.cases.rule_context import RuleContext
from engine.definitions.rules import rule
from engine.definitions.spec import BODIES_REPLIED


@rule("review_not_started")
def review_not_started(context: RuleContext) -> str | None:
    """An applicant may withdraw only until the party the stage waits for has acted on it
    (a comment counts; the applicant's own later comments do not undo it)."""
    case = context.case
    waits_for = context.definition.state(case.state).waits_for
    if waits_for and acted_in_current_state(context.session, case, waits_for.role, case.unit_at(waits_for.level)):
        return "审核已经开始，不能撤回"
    return None


@rule(BODIES_REPLIED)
def bodies_replied(context: RuleContext) -> str | None:
    """Every body the state consults (its ``consultations``) has replied, its reply on record. The
    definition parser adds this rule to the conditions of the state's ``before`` triggers."""
    case, definition = context.case, context.definition
    state = definition.state(case.state)
    if state.consultations is None:
        return None
    heard = bodies_heard(context.session, case, definition, state)
    silent = [body for body in bodies_required(context.session, case, state, context.now) if body not in heard]
    if not silent:
        return None
    labels = body_labels(definition, state)
    return f"尚未收到{'、'.join(labels.get(body, body) for body in silent)}的意见"
