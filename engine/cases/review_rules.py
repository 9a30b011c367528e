"""Named rules any definition may use (registered on import; engine.runtime imports this module)."""
from __future__ import annotations

from engine.audit.chain import acted_in_current_state
from engine.cases.rule_context import RuleContext
from engine.definitions.rules import rule


@rule("review_not_started")
def review_not_started(context: RuleContext) -> str | None:
    """An applicant may withdraw only until the party the stage waits for has acted on it
    (a comment counts; the applicant's own later comments do not undo it)."""
    case = context.case
    waits_for = context.definition.state(case.state).waits_for
    if waits_for and acted_in_current_state(context.session, case, waits_for.role, case.unit_at(waits_for.level)):
        return "审核已经开始，不能撤回"
    return None
