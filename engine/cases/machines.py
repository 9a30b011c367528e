"""Definitions compiled to `transitions` state machines: one Machine per definition version.

The machine is built once (model=None, no auto transitions) and shared. The state lives
in the case's ``state`` column; firing a trigger passes the case row in as the model for
that one call, and the machine writes the new state into the column.

A trigger that resumes a send-back (退回重审) compiles to one more transition per level that may
send the case back, added first so that it wins while ``case.sent_back_from`` names that level;
otherwise the trigger's usual transition applies.

Every compiled transition carries the same two kinds of guard:
 - ``may_fire``: the actor holds a grant that makes them one of the parties in ``by``
   (engine.cases.permissions.grant_for);
 - each named rule from ``conditions``.
``available_actions`` evaluates exactly these guards, so what a reviewer is offered and
what the engine accepts cannot differ.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Mapping

from sqlalchemy.orm import Session
from transitions import EventData, Machine, Transition

from engine.base.errors import UnionflowError
from engine.cases.permissions import first_grant
from engine.cases.rule_context import RuleContext
from engine.definitions import rules
from engine.definitions.spec import RETURN_POINT, Definition, FieldSpec, Party, TransitionSpec
from engine.org.units import Actor, Grant


@dataclass(frozen=True)
class ActionContext:
    """What guards need to decide: passed as the ``ctx`` keyword of each trigger call."""

    session: Session
    actor: Actor
    now: datetime
    inputs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    batch: tuple = ()


class SpecTransition(Transition):
    """A machine transition that remembers the definition entry and the parties it admits."""

    def __init__(self, source, dest, conditions=None, unless=None, before=None, after=None, prepare=None,
                 spec: TransitionSpec | None = None, parties: tuple[Party, ...] = (), label: str | None = None):
        super().__init__(source, dest, conditions, unless, before, after, prepare)
        self.spec = spec
        self.parties = parties
        # The button's words: the spec's, or (resuming a send-back) the words naming where it goes.
        self.label = label or (spec.label if spec else "")


class WorkflowMachine(Machine):
    transition_cls = SpecTransition


def may_fire(event: EventData) -> bool:
    ctx: ActionContext = event.kwargs["ctx"]
    return first_grant(ctx.actor, event.model, event.transition.parties) is not None


def _rule_guard(name: str):
    def guard(event: EventData) -> bool:
        ctx: ActionContext = event.kwargs["ctx"]
        grant = first_grant(ctx.actor, event.model, event.transition.parties)
        context = RuleContext(ctx.session, ctx.actor, event.model, ctx.now, grant, ctx.inputs, ctx.batch)
        return rules.check(name, context) is None

    guard.__name__ = f"rule_{name}"
    return guard


def _returns_to(point: str):
    def guard(event: EventData) -> bool:
        return event.model.return_state == point

    guard.__name__ = f"returns_to_{point}"
    return guard


def _sent_back_from(sender: str):
    def guard(event: EventData) -> bool:
        return event.model.sent_back_from == sender

    guard.__name__ = f"sent_back_from_{sender}"
    return guard


@dataclass(frozen=True)
class CompiledWorkflow:
    definition: Definition
    machine: WorkflowMachine

    def candidates(self, trigger: str, state: str) -> list[SpecTransition]:
        event = self.machine.events.get(trigger)
        return list(event.transitions.get(state, [])) if event else []

    def triggers_from(self, state: str) -> list[str]:
        return self.machine.get_triggers(state)

    def passes(self, transition: SpecTransition, case, ctx: ActionContext) -> bool:
        """Evaluate the transition's guards exactly as the machine would when firing."""
        event = EventData(self.machine.get_state(case.state), self.machine.events[transition.spec.trigger],
                          self.machine, case, args=(), kwargs={"ctx": ctx})
        event.transition = transition
        return all(condition.check(event) for condition in transition.conditions)

    def fire(self, trigger: str, case, ctx: ActionContext) -> bool:
        """Run the trigger on ``case``; the machine sets ``case.state`` if a guarded transition passes."""
        return self.machine.events[trigger].trigger(case, ctx=ctx)


def compile_definition(definition: Definition) -> CompiledWorkflow:
    machine = WorkflowMachine(
        model=None,
        states=[state.id for state in definition.states],
        initial=definition.initial_state.id,
        auto_transitions=False,
        send_event=True,
    )
    for spec in definition.transitions:
        rule_guards = [_rule_guard(name) for name in spec.conditions]
        for source in spec.sources:
            parties = definition.parties_for(spec, source)
            if spec.dest == RETURN_POINT:
                for point in definition.return_points(source):
                    machine.add_transition(spec.trigger, source, point, spec=spec, parties=parties,
                                           conditions=[may_fire, _returns_to(point), *rule_guards])
            else:
                # First, so that it wins: a case sent back here goes straight back to the sender.
                for sender in definition.resume_points(source, spec.trigger):
                    machine.add_transition(spec.trigger, source, sender, spec=spec, parties=parties,
                                           label=definition.resume_label(sender, source, spec.trigger),
                                           conditions=[may_fire, _sent_back_from(sender), *rule_guards])
                machine.add_transition(spec.trigger, source, spec.dest, spec=spec, parties=parties,
                                       conditions=[may_fire, *rule_guards])
    return CompiledWorkflow(definition, machine)


_compiled: dict[str, CompiledWorkflow] = {}
_compiled_lock = threading.Lock()


def compiled(definition: Definition) -> CompiledWorkflow:
    """The machine for this definition version, built on first use and cached by content hash."""
    workflow = _compiled.get(definition.content_hash)
    if workflow is None:
        with _compiled_lock:
            workflow = _compiled.get(definition.content_hash)
            if workflow is None:
                workflow = _compiled[definition.content_hash] = compile_definition(definition)
    return workflow


@dataclass(frozen=True)
class AvailableAction:
    trigger: str
    label: str
    dest: str
    comment_required: bool
    grant: Grant
    # The fields the actor fills in when firing (a decision number...), for a client to render.
    inputs: tuple[FieldSpec, ...] = ()


def available_actions(session: Session, actor: Actor, case, now: datetime) -> list[AvailableAction]:
    """Exactly the triggers ``actor`` may fire on ``case`` now (one entry per trigger), under the
    definition version the case is pinned to."""
    workflow = compiled(case.definition)
    ctx = ActionContext(session, actor, now)
    actions = []
    for trigger in workflow.triggers_from(case.state):
        for transition in workflow.candidates(trigger, case.state):
            if workflow.passes(transition, case, ctx):
                grant = first_grant(actor, case, transition.parties)
                spec = transition.spec
                actions.append(AvailableAction(trigger, transition.label, transition.dest, spec.comment_required,
                                               grant, spec.inputs))
                break
    return actions


@dataclass(frozen=True)
class RefusedAction:
    """A trigger the actor's grant would fire in this state that a rule refuses now."""

    spec: TransitionSpec
    grant: Grant
    reasons: list[str]


def refused_actions(session: Session, actor: Actor, case, now: datetime, *, offered: set[str]) -> list[RefusedAction]:
    """The triggers not in ``offered`` (what ``available_actions`` gave) that the actor is a party
    to but a rule refuses now (a quota used up, the jury's count), with the reasons firing would
    answer. A rule that cannot be checked now answers with its error's message."""
    workflow = compiled(case.definition)
    refused = []
    for trigger in workflow.triggers_from(case.state):
        if trigger in offered:
            continue
        transition = workflow.candidates(trigger, case.state)[0]
        grant = first_grant(actor, case, transition.parties)
        if grant is None or not transition.spec.conditions:
            continue
        context = RuleContext(session, actor, case, now, grant)
        reasons = [reason for name in transition.spec.conditions if (reason := _refusal_reason(name, context))]
        if reasons:
            refused.append(RefusedAction(transition.spec, grant, reasons))
    return refused


def _refusal_reason(name: str, context: RuleContext) -> str | None:
    try:
        return rules.check(name, context)
    except UnionflowError as err:
        return err.message
