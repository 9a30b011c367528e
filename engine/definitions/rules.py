"""Named rule functions that definitions cite as transition conditions and actions.

A **rule** (``conditions:``) takes a RuleContext (engine.cases.rule_context) and returns None when the transition may
go ahead, or a Chinese sentence saying why not. It only reads.

An **action** (``actions:``) runs inside the transaction once every guard has passed: it
consumes a quota place, computes an amount, records a decision. It returns the figures it
used and produced (an ``Outcome``), which the engine writes into the transition's audit
event with the action's name and version, so an auditor sees why a figure came out as it
did. An action that grants money reports the amount as ``granted`` (what a batch's preview and
results show, engine.operations.transitions.granted_by). An action may still refuse (raise
ConditionFailed), e.g. when a concurrent approval took the last place first; the caller's
transaction then writes nothing.

Kind-specific rules and actions live beside the definitions in workflows/ and register
themselves with ``@rule("name")`` / ``@action("name", version="2")``; the engine's generic
ones are in engine/ (this module, engine.procedures.notices, engine.procedures.rounds).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from engine.base.errors import UnionflowError

# Each takes an engine.cases.rule_context.RuleContext (built above this layer, so not named here).
RuleFunction = Callable[..., "str | None"]
ActionFunction = Callable[..., "dict[str, Any] | None"]


@dataclass(frozen=True)
class Registered:
    function: Callable
    version: str


_rules: dict[str, Registered] = {}
_actions: dict[str, Registered] = {}
_deadlines: dict[str, Registered] = {}
_consultations: dict[str, Registered] = {}


def _register(table: dict[str, Registered], what: str, name: str, version: str):
    def register(function: Callable) -> Callable:
        existing = table.get(name)
        # The same function imported again (a module reloaded) is fine; two different ones are not.
        if existing is not None and _body(existing.function) != _body(function):
            raise ValueError(f'{what} "{name}" is registered twice ({existing.function.__module__}, {function.__module__})')
        table[name] = Registered(function, str(version))
        return function

    return register


def rule(name: str, *, version: str = "1") -> Callable[[RuleFunction], RuleFunction]:
    return _register(_rules, "rule", name, version)


def action(name: str, *, version: str = "1") -> Callable[[ActionFunction], ActionFunction]:
    return _register(_actions, "action", name, version)


def deadline(name: str, *, version: str = "1") -> Callable[[Callable], Callable]:
    """A **deadline rule** (a state's ``deadline_at:``) returns when the state's time runs out for
    this case (a datetime), or None when no deadline applies to it. It only reads; a date the
    working-day calendar does not cover raises CalendarNotCovered."""
    return _register(_deadlines, "deadline rule", name, version)


def consulted(name: str, *, version: str = "1") -> Callable[[Callable], Callable]:
    """A **consultation rule** (a state's ``consultations.bodies_from:``) returns the bodies this
    case must hear from: choice values of the consultation's record (e.g. by the nominee's category)."""
    return _register(_consultations, "consultation rule", name, version)


def _body(function: Callable) -> tuple:
    return function.__code__.co_code, function.__code__.co_consts


def is_registered(name: str) -> bool:
    return name in _rules


def is_action(name: str) -> bool:
    return name in _actions


def is_deadline_rule(name: str) -> bool:
    return name in _deadlines


def is_consultation_rule(name: str) -> bool:
    return name in _consultations


def bodies_to_consult(name: str, context) -> list[str]:
    return list(_lookup(_consultations, name).function(context))


def deadline_of(name: str, context):
    return _lookup(_deadlines, name).function(context)


def _lookup(table: dict[str, Registered], name: str) -> Registered:
    entry = table.get(name)
    if entry is None:  # a pinned definition version cites a rule no longer deployed
        raise UnionflowError(f"流程规则「{name}」未加载，请联系管理员")
    return entry


def check(name: str, context) -> str | None:
    return _lookup(_rules, name).function(context)


def rule_version(name: str) -> str:
    return _lookup(_rules, name).version


def action_version(name: str) -> str:
    return _lookup(_actions, name).version


def run_action(name: str, context) -> dict[str, Any]:
    """Run one action; return its audit record: name, version and the figures it reported."""
    entry = _lookup(_actions, name)
    figures = entry.function(context) or {}
    return {"action": name, "version": entry.version, **json_safe(figures)}


def json_safe(value):
    """Figures as the audit trail stores them: Decimal and dates as strings."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def load_rule_modules(directory: Path) -> None:
    """Import every Python module beside the definitions so their rules register."""
    directory = directory.resolve()
    package = sys.modules.get("workflows")
    if package is not None and Path(package.__file__).parent.resolve() == directory:
        for path in sorted(directory.glob("*.py")):
            if not path.name.startswith("_"):
                importlib.import_module(f"workflows.{path.stem}")
        return
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module_name = f"unionflow_rules_{abs(hash(str(directory)))}_{path.stem}"
        if module_name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)

