"""The amount a case is granted, and how: shown before approving and after.

Before: for a case at a state whose transition offered to the reader runs an amount action
(engine.procedures.amounts), the kind's preview works the amount out as the approval would now,
reading the parameter set and the cap's ledger, writing nothing (two reads). After: the figures
the approval recorded in its audit event (one read), worded by the same ``explain``. A case whose
approval was cancelled before payment reads as cancelled.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit.chain import AuditEvent
from engine.base.errors import ConditionFailed
from engine.cases.case import Case
from engine.cases.machines import AvailableAction
from engine.cases.rule_context import RuleContext
from engine.definitions.rules import action_version
from engine.definitions.spec import Definition, TransitionSpec
from engine.org.units import Actor
from engine.procedures.amounts import RELEASED, AmountRule, Explanation, amount_rule_of


def amount_transitions(definition: Definition) -> list[tuple[TransitionSpec, AmountRule]]:
    """The definition's transitions that grant an amount, with their amount rule."""
    return [(spec, rule) for spec in definition.transitions for name in spec.actions
            if (rule := amount_rule_of(name)) is not None]


def granted_amount(case: Case) -> Decimal | None:
    """The amount the case was granted, from its outcome (no read): None before approval, for a
    kind that grants none, and once the approval was cancelled."""
    outcome = case.outcome or {}
    if outcome.get(RELEASED):
        return None
    for _spec, rule in amount_transitions(case.definition):
        if outcome.get(rule.outcome_key) is not None:
            return Decimal(outcome[rule.outcome_key])
    return None


def amount_explanation(session: Session, actor: Actor, case: Case, now: datetime,
                       offered: list[AvailableAction]) -> Explanation | None:
    """What the case was granted and how; else, while a transition ``actor`` is offered now
    (``offered``: machines.available_actions) would grant an amount, what it would grant now."""
    granting = amount_transitions(case.definition)
    if not granting:
        return None
    outcome = case.outcome or {}
    recorded = next((rule for _spec, rule in granting if outcome.get(rule.outcome_key) is not None), None)
    if recorded is not None:
        return _recorded(session, case, granting, recorded)
    triggers = {action.trigger for action in offered}
    for spec, rule in granting:
        if spec.trigger in triggers and case.state in spec.sources:
            return preview(session, actor, case, now, rule)
    return None


def preview(session: Session, actor: Actor, case: Case, now: datetime, rule: AmountRule) -> Explanation:
    """The amount approving now would grant, without writing: or why approving would be refused."""
    context = RuleContext(session, actor, case, now)
    version = action_version(rule.action)
    try:
        figures = rule.preview(context)
    except ConditionFailed as refused:
        return Explanation(amount=None, title="", formula="", worked="", figures=(), scheme="", parameters=None,
                           refusal="；".join(refused.reasons) or refused.message, rule=rule.action,
                           rule_version=version)
    return replace(rule.explain(figures), rule=rule.action, rule_version=version)


def _recorded(session: Session, case: Case, granting, rule: AmountRule) -> Explanation | None:
    """The figures of the latest event that granted the amount (its audit event's outcomes)."""
    triggers = sorted({spec.trigger for spec, _rule in granting})
    details = session.scalar(
        select(AuditEvent.details).where(AuditEvent.case_id == case.id, AuditEvent.action.in_(triggers))
        .order_by(AuditEvent.seq.desc()).limit(1)
    )
    figures = next((outcome for outcome in (details or {}).get("outcomes", ()) if outcome["action"] == rule.action),
                   None)
    if figures is None:  # an outcome entered without the rule (e.g. imported): nothing to explain
        return None
    stage = "cancelled" if (case.outcome or {}).get(RELEASED) else "granted"
    return replace(rule.explain(figures), stage=stage, rule=rule.action, rule_version=figures["version"])


def granted_by(event: AuditEvent) -> Decimal | None:
    """The amount a transition just granted, from its event's outcomes (the confirmation says it)."""
    for figures in (event.details or {}).get("outcomes", ()):
        rule = amount_rule_of(figures["action"])
        if rule is not None:
            return rule.explain(figures).amount
    return None
