"""What a named rule or action may look at (engine.definitions.rules holds the registry of their names)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Mapping

from sqlalchemy.orm import Session

from engine.cases.case import Case
from engine.definitions.spec import Definition
from engine.org.units import Actor, Grant

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class RuleContext:
    """What a rule or an action may look at. ``grant`` is the acting grant (None while the
    engine is still deciding whether the actor may fire at all); ``inputs`` are the
    transition's input fields, validated; ``batch`` holds every case of a joint action
    (engine.operations.transitions.perform_joint_action), so a rule can judge the set as a whole."""

    session: Session
    actor: Actor
    case: Case
    now: datetime
    grant: Grant | None = None
    inputs: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    batch: tuple[Case, ...] = ()

    @property
    def definition(self) -> Definition:
        return self.case.definition

    @property
    def cases_together(self) -> tuple[Case, ...]:
        """The case itself, or every case of the joint action it is part of."""
        return self.batch or (self.case,)
