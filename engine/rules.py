"""Named rule functions that definitions cite as transition conditions.

A rule takes a RuleContext and returns None when the transition may go ahead, or a
Chinese sentence saying why not. Kind-specific rules live beside the definitions in
workflows/ and register themselves with ``@rule("name")``; the engine's generic ones
are below.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from sqlalchemy.orm import Session

from engine.errors import UnionflowError

if TYPE_CHECKING:
    from engine.cases import Case
    from engine.org import Actor

RuleFunction = Callable[["RuleContext"], "str | None"]
_registry: dict[str, RuleFunction] = {}


@dataclass(frozen=True)
class RuleContext:
    session: Session
    actor: Actor
    case: Case
    now: datetime


def rule(name: str) -> Callable[[RuleFunction], RuleFunction]:
    def register(function: RuleFunction) -> RuleFunction:
        existing = _registry.get(name)
        # The same rule imported again (a module reloaded) is fine; two different ones are not.
        if existing is not None and _body(existing) != _body(function):
            raise ValueError(f'rule "{name}" is registered twice ({existing.__module__}, {function.__module__})')
        _registry[name] = function
        return function

    return register


def _body(function: RuleFunction) -> tuple:
    return function.__code__.co_code, function.__code__.co_consts


def is_registered(name: str) -> bool:
    return name in _registry


def check(name: str, context: RuleContext) -> str | None:
    function = _registry.get(name)
    if function is None:  # a pinned definition version cites a rule no longer deployed
        raise UnionflowError(f"流程规则「{name}」未加载，请联系管理员")
    return function(context)


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


# --- Generic rules --------------------------------------------------------------------------------

@rule("review_not_started")
def review_not_started(context: RuleContext) -> str | None:
    """An applicant may withdraw only until the party the stage waits for has acted on it
    (a comment counts; the applicant's own later comments do not undo it)."""
    from engine.audit import acted_in_current_state
    from engine.definitions import definition_by_hash

    case = context.case
    waits_for = definition_by_hash(context.session, case.definition_hash).state(case.state).waits_for
    if waits_for and acted_in_current_state(context.session, case, waits_for.role, case.unit_at(waits_for.level)):
        return "审核已经开始，不能撤回"
    return None
