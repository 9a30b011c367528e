"""Demo cases of each kind, seeded through real engine operations.

Each module has ``seed(session, demo) -> int``: it configures what its kind needs
(parameter sets, rounds, quotas) and creates cases covering every state of its
definition, returning how many cases it made. ``demo`` gives the demo city's units and
actors by key (see web/demo.py). Modules run in SEED_ORDER: competitions feed honours,
so honours comes first.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.cases.attachments import FileStore
from engine.org.units import Actor, OrgUnit

SEED_ORDER = ("honours", "hardship_aid", "medical_subsidy", "competition_results")


@dataclass
class DemoWorld:
    units: dict[str, OrgUnit]     # "city", "dongcheng", "heping", "jixie", ... (web/demo.COUNTIES keys)
    actors: dict[str, Actor]      # DEMO_USERS usernames: "reviewer_city", "applicant_jixie", ...
    now: datetime                 # the demo's "now"; seed steps before it, timers not yet due after it
    store: FileStore              # the deployment's attachment store, for the documents claims need

    def reviewer_at(self, case, level: str) -> str:
        """The username of the demo reviewer of the case's unit at ``level``."""
        unit_id = case.chain[level]
        return "reviewer_" + next(key for key, unit in self.units.items() if unit.id == unit_id)


class Clock:
    """The seed's explicit clock: each step happens a little after the one before."""

    def __init__(self, start: datetime):
        self.now = start

    def tick(self, hours: float = 2) -> datetime:
        self.now += timedelta(hours=hours)
        return self.now
