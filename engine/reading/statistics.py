"""Figures for the dashboard: open cases per stage and unit, waiting and overdue cases per unit,
the median number of working days cases spend in each review stage, the money granted per kind,
unit and period, and the places of each round's quotas given and used; and the cases behind a
money or quota figure (``cases_behind``), which the figure links to.

A reader sees the subtree of the unit they act at (a township reviewer their township, the
city everything), broken down by the units one level below it; cases at the reader's own unit
itself form a row of their own. The counts are SQL aggregates (GROUP BY); only the medians are
finished in Python, because working days come from the calendar (engine.calendar.working_days), not SQL.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Iterable, Mapping

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.orm import Session, aliased

from engine.base.config import LOCAL_TZ
from engine.base.db import utcnow
from engine.base.errors import CalendarNotCovered, NotFound, PermissionDenied, ValidationFailed
from engine.calendar.working_days import WorkingCalendar, local_midnight, working_calendar
from engine.cases.case import Case
from engine.cases.tasks import STAGE, Task
from engine.definitions.spec import Definition, StateSpec
from engine.definitions.store import DefinitionVersion, current_definition, definition_by_hash, list_kinds
from engine.org.units import Actor, OrgUnit, subtree_clause
from engine.procedures.ledgers import Ledger, LedgerEntry
from engine.procedures.rounds import QUOTA_ACCOUNTS, Round, RoundQuota, allowed_places, quota_account
from engine.reading.amounts import amount_transitions

STATISTICS_ROLES = ("reviewer", "admin", "auditor")
# The stages whose time is measured: where a case waits for a reviewer's decision or a notice period.
MEASURED_STATE_KINDS = ("review", "notice")
# Rows fetched per round trip while measuring stays (the rows are folded into counters as they come).
STAYS_BATCH = 5000


# --- What is asked, and what comes back -----------------------------------------------------------

@dataclass(frozen=True)
class StatisticsFilter:
    """None means "all". Creation dates are local calendar days, both ends included."""

    kind: str | None = None
    created_from: date | None = None
    created_to: date | None = None


@dataclass(frozen=True)
class UnitRef:
    id: int
    name: str
    # The reader's own unit: cases at it directly, not below one of its child units.
    is_scope: bool = False


@dataclass(frozen=True)
class StateRef:
    id: str
    label: str
    kind: str


@dataclass(frozen=True)
class StageCounts:
    """One kind's open cases, per unit below the reader's and per state."""

    kind: str
    kind_label: str
    units: tuple[UnitRef, ...]
    states: tuple[StateRef, ...]
    counts: Mapping[tuple[int, str], int]

    def count(self, unit_id: int, state: str) -> int:
        return self.counts.get((unit_id, state), 0)

    def unit_total(self, unit_id: int) -> int:
        return sum(n for (unit, _), n in self.counts.items() if unit == unit_id)

    def state_total(self, state: str) -> int:
        return sum(n for (_, of_state), n in self.counts.items() if of_state == state)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class UnitWaiting:
    """Cases waiting for a reviewer at the unit or below it, and how many of them are overdue."""

    unit: UnitRef
    waiting: int
    overdue: int


@dataclass(frozen=True)
class StageDuration:
    state: StateRef
    # Stays measured: a case that went through the stage twice (returned, resubmitted) counts twice.
    stays: int
    median_days: float | None
    # Stays touching a year the working-day calendar does not cover: left out, never guessed.
    skipped: int = 0


@dataclass(frozen=True)
class KindDurations:
    kind: str
    kind_label: str
    stages: tuple[StageDuration, ...]
    uncovered_years: tuple[int, ...] = ()

    @property
    def skipped(self) -> int:
        return sum(stage.skipped for stage in self.stages)


# --- Scope and filter -----------------------------------------------------------------------------

def statistics_scope(session: Session, actor: Actor) -> OrgUnit:
    """The unit whose subtree the actor's figures cover: that of their first grant in a statistics
    role (pages pass the actor narrowed to the grant chosen in the header)."""
    grant = next((grant for grant in actor.grants if grant.role in STATISTICS_ROLES), None)
    if grant is None:
        raise PermissionDenied("只有审核人、管理员和审计人员可以查看统计")
    return session.get(OrgUnit, grant.unit_id)


def check_filter(session: Session, wanted: StatisticsFilter) -> None:
    errors: dict[str, list[str]] = {}
    if wanted.kind is not None:
        try:
            current_definition(session, wanted.kind)
        except NotFound as err:
            errors["kind"] = [err.message]
    if wanted.created_from and wanted.created_to and wanted.created_from > wanted.created_to:
        errors["created_to"] = ["结束日期不能早于开始日期"]
    if errors:
        raise ValidationFailed(errors)


def _child_units(session: Session, scope: OrgUnit) -> list[UnitRef]:
    rows = session.execute(select(OrgUnit.id, OrgUnit.name).where(OrgUnit.parent_id == scope.id).order_by(OrgUnit.id))
    return [UnitRef(unit_id, name) for unit_id, name in rows]


def _bucket(path_column, scope: OrgUnit):
    """The row a path counts in: the child unit of ``scope`` whose subtree holds it, or the scope
    itself. Returns (child alias, its outer-join condition, the bucket id expression)."""
    child = aliased(OrgUnit)
    under_child = and_(child.parent_id == scope.id,
                       func.substr(path_column, 1, func.length(child.path)) == child.path)
    return child, under_child, func.coalesce(child.id, scope.id)


def _created_conditions(wanted: StatisticsFilter) -> list:
    conditions = []
    if wanted.created_from is not None:
        conditions.append(Case.created_dt >= local_midnight(wanted.created_from))
    if wanted.created_to is not None:
        conditions.append(Case.created_dt < local_midnight(wanted.created_to + timedelta(days=1)))
    return conditions


def _case_conditions(scope: OrgUnit, wanted: StatisticsFilter) -> list:
    """Cases originating in the scope's subtree, of the kind, created in the date range."""
    conditions = [subtree_clause(Case.origin_path, scope.path), *_created_conditions(wanted)]
    if wanted.kind is not None:
        conditions.append(Case.kind == wanted.kind)
    return conditions


def _kinds(session: Session, wanted: StatisticsFilter) -> list[Definition]:
    if wanted.kind is not None:
        return [current_definition(session, wanted.kind)]
    return list_kinds(session)


def _state_specs(session: Session, kind: str) -> dict[str, StateSpec]:
    """The kind's states, current definition first, then states only older versions had (running
    cases stay on the version they started on)."""
    current = current_definition(session, kind)
    specs = {state.id: state for state in current.states}
    hashes = session.scalars(
        select(DefinitionVersion.content_hash)
        .where(DefinitionVersion.kind == kind, DefinitionVersion.content_hash != current.content_hash)
        .order_by(DefinitionVersion.loaded_dt.desc())
    )
    for content_hash in hashes:
        for state in definition_by_hash(session, content_hash).states:
            specs.setdefault(state.id, state)
    return specs


def _state_ref(spec: StateSpec) -> StateRef:
    return StateRef(spec.id, spec.label, spec.kind)


# --- Open cases per stage and unit ----------------------------------------------------------------

def open_cases_by_stage(session: Session, actor: Actor, wanted: StatisticsFilter) -> list[StageCounts]:
    """Submitted, not yet closed cases per (child unit, state), one entry per kind that has any
    (the chosen kind is always there, even with none). One GROUP BY query for all kinds."""
    scope = statistics_scope(session, actor)
    check_filter(session, wanted)
    child, under_child, bucket = _bucket(Case.origin_path, scope)
    rows = session.execute(
        select(Case.kind, bucket, Case.state, func.count(Case.id))
        .select_from(Case).outerjoin(child, under_child)
        .where(*_case_conditions(scope, wanted), Case.submitted_dt.is_not(None), Case.closed_dt.is_(None))
        .group_by(Case.kind, bucket, Case.state)
    ).all()
    per_kind: dict[str, dict[tuple[int, str], int]] = {}
    for kind, unit_id, state, count in rows:
        per_kind.setdefault(kind, {})[(unit_id, state)] = count
    children = _child_units(session, scope)
    own = UnitRef(scope.id, scope.name, is_scope=True)
    results = []
    for definition in _kinds(session, wanted):
        counts = per_kind.get(definition.kind, {})
        if not counts and wanted.kind is None:
            continue
        specs = _state_specs(session, definition.kind)
        present = {state for _, state in counts}
        states = [_state_ref(spec) for spec in specs.values() if spec.id in present]
        states += [StateRef(state, state, "review") for state in sorted(present - set(specs))]
        has_own = any(unit_id == scope.id for unit_id, _ in counts)
        units = tuple(children) + ((own,) if has_own or not children else ())
        results.append(StageCounts(definition.kind, definition.label, units, tuple(states), counts))
    return results


# --- Waiting and overdue per unit -----------------------------------------------------------------

def waiting_by_unit(session: Session, actor: Actor, wanted: StatisticsFilter, *,
                    now: datetime | None = None) -> list[UnitWaiting]:
    """Cases waiting for a reviewer, per unit that must act: each child unit's subtree, and the
    reader's own unit. Overdue: the open task's due time has passed."""
    now = now or utcnow()
    scope = statistics_scope(session, actor)
    check_filter(session, wanted)
    waiting_at = aliased(OrgUnit)
    child, under_child, bucket = _bucket(waiting_at.path, scope)
    query = (
        select(bucket, func.count(Task.id), func.count(Task.id).filter(Task.due_dt < now))
        .select_from(Task)
        .join(waiting_at, waiting_at.id == Task.unit_id)
        .outerjoin(child, under_child)
        .where(Task.role == "reviewer", Task.purpose == STAGE, Task.closed_dt.is_(None),
               subtree_clause(waiting_at.path, scope.path))
        .group_by(bucket)
    )
    if wanted.kind is not None:
        query = query.where(Task.case_kind == wanted.kind)
    created = _created_conditions(wanted)
    if created:
        query = query.join(Case, Case.id == Task.case_id).where(*created)
    figures = {unit_id: (waiting, overdue) for unit_id, waiting, overdue in session.execute(query)}
    units = [*_child_units(session, scope), UnitRef(scope.id, scope.name, is_scope=True)]
    return [UnitWaiting(unit, *figures.get(unit.id, (0, 0))) for unit in units]


# --- Working days per stage -----------------------------------------------------------------------

def median_of(histogram: Mapping[int, int]) -> float | None:
    """The median of values given as {value: how many times}."""
    total = sum(histogram.values())
    if total == 0:
        return None
    middle = ((total - 1) // 2, total // 2)  # 0-based positions of the middle value(s)
    found, seen = [], 0
    for value in sorted(histogram):
        count = histogram[value]
        for position in middle:
            if seen <= position < seen + count:
                found.append(value)
        seen += count
    return (found[0] + found[1]) / 2


def stage_durations(session: Session, actor: Actor, wanted: StatisticsFilter) -> list[KindDurations]:
    """Per kind, per review (and notice) stage, the median working days a case stayed in it: from
    the opening of its task to the closing, for stays that ended (the closed tasks).

    The closed tasks of the cases in scope are read in one query and folded into a counter per
    (stage, day entered, day left) as they stream in; each distinct pair of days is counted on
    the working-day calendar once. Cost: one row per finished stay is read (O(stays) time),
    memory grows with the distinct pairs of days, not with the number of cases.
    """
    scope = statistics_scope(session, actor)
    check_filter(session, wanted)
    definitions = _kinds(session, wanted)
    measured = {definition.kind: {spec.id: spec for spec in _state_specs(session, definition.kind).values()
                                  if spec.kind in MEASURED_STATE_KINDS}
                for definition in definitions}
    wanted_stages = [and_(Task.case_kind == kind, Task.state.in_(sorted(states)))
                     for kind, states in measured.items() if states]
    query = (
        select(Task.case_kind, Task.state, Task.entered_dt, Task.closed_dt)
        .join(Case, Case.id == Task.case_id)
        .where(*_case_conditions(scope, wanted), Task.purpose == STAGE, Task.closed_dt.is_not(None),
               or_(*wanted_stages) if wanted_stages else false())
    )
    stays: Counter[tuple[str, str, date, date]] = Counter()
    for kind, state, entered_dt, left_dt in session.execute(query, execution_options={"yield_per": STAYS_BATCH}):
        stays[(kind, state, entered_dt.astimezone(LOCAL_TZ).date(), left_dt.astimezone(LOCAL_TZ).date())] += 1
    return _durations(working_calendar(session), definitions, measured, stays, keep_empty=wanted.kind is not None)


def _durations(calendar: WorkingCalendar, definitions: Iterable[Definition], measured: dict[str, dict[str, StateSpec]],
               stays: Counter, *, keep_empty: bool) -> list[KindDurations]:
    histograms: dict[tuple[str, str], Counter[int]] = {}
    skipped: Counter[tuple[str, str]] = Counter()
    uncovered: dict[str, set[int]] = {}
    for (kind, state, entered, left), count in stays.items():
        try:
            days = calendar.working_days_between(entered, left)
        except CalendarNotCovered as err:
            skipped[(kind, state)] += count
            uncovered.setdefault(kind, set()).add(err.year)
            continue
        histograms.setdefault((kind, state), Counter())[days] += count
    results = []
    for definition in definitions:
        stages = []
        for spec in measured[definition.kind].values():
            histogram = histograms.get((definition.kind, spec.id), {})
            stages.append(StageDuration(_state_ref(spec), sum(histogram.values()), median_of(histogram),
                                        skipped[(definition.kind, spec.id)]))
        if keep_empty or any(stage.stays or stage.skipped for stage in stages):
            results.append(KindDurations(definition.kind, definition.label, tuple(stages),
                                         tuple(sorted(uncovered.get(definition.kind, ())))))
    return results


# --- Money granted per kind, unit and period ------------------------------------------------------

@dataclass(frozen=True)
class KindMoney:
    """One kind's amounts granted (and not given back), per unit below the reader's and per period
    of the caps they were drawn from (a year, or a cycle such as "2026-07"), latest period first."""

    kind: str
    kind_label: str
    units: tuple[UnitRef, ...]
    periods: tuple[str, ...]
    figures: Mapping[tuple[int, str], tuple[Decimal, int]]  # (unit id, period) → (amount, cases)

    def amount(self, unit_id: int, period: str) -> Decimal:
        return self.figures.get((unit_id, period), (Decimal("0.00"), 0))[0]

    def cases(self, unit_id: int, period: str) -> int:
        return self.figures.get((unit_id, period), (Decimal("0.00"), 0))[1]

    def period_total(self, period: str) -> tuple[Decimal, int]:
        rows = [value for (_unit, of_period), value in self.figures.items() if of_period == period]
        return sum((amount for amount, _ in rows), Decimal("0.00")), sum(count for _, count in rows)


def _money_kinds(session: Session, wanted: StatisticsFilter) -> list[Definition]:
    return [definition for definition in _kinds(session, wanted) if amount_transitions(definition)]


def money_granted(session: Session, actor: Actor, wanted: StatisticsFilter) -> list[KindMoney]:
    """The amounts granted to cases in scope, per kind that grants money, child unit and period (one
    GROUP BY query). A cancelled approval gave its amount back: it is not counted."""
    scope = statistics_scope(session, actor)
    check_filter(session, wanted)
    definitions = _money_kinds(session, wanted)
    if not definitions:
        return []
    child, under_child, bucket = _bucket(Case.origin_path, scope)
    rows = session.execute(
        select(Case.kind, bucket, Ledger.period, func.sum(LedgerEntry.amount), func.count(LedgerEntry.case_id))
        .select_from(LedgerEntry).join(Ledger, Ledger.id == LedgerEntry.ledger_id)
        .join(Case, Case.id == LedgerEntry.case_id).outerjoin(child, under_child)
        .where(*_case_conditions(scope, wanted), Case.kind.in_([d.kind for d in definitions]),
               ~Ledger.account.startswith(QUOTA_ACCOUNTS, autoescape=True))
        .group_by(Case.kind, bucket, Ledger.period)
    ).all()
    per_kind: dict[str, dict[tuple[int, str], tuple[Decimal, int]]] = {}
    for kind, unit_id, period, amount, count in rows:
        per_kind.setdefault(kind, {})[(unit_id, period)] = (Decimal(amount).quantize(Decimal("0.01")), count)
    children = _child_units(session, scope)
    results = []
    for definition in definitions:
        figures = per_kind.get(definition.kind, {})
        if not figures and wanted.kind is None:
            continue
        has_own = any(unit_id == scope.id for unit_id, _ in figures)
        units = tuple(children) + ((UnitRef(scope.id, scope.name, is_scope=True),) if has_own or not children else ())
        periods = tuple(sorted({period for _, period in figures}, reverse=True))
        results.append(KindMoney(definition.kind, definition.label, units, periods, figures))
    return results


# --- Quota places per round -----------------------------------------------------------------------

@dataclass(frozen=True)
class QuotaUse:
    unit: UnitRef
    category: str
    category_label: str
    places: int
    allowed: int  # with the round's over-nomination
    used: int

    @property
    def left(self) -> int:
        return max(self.allowed - self.used, 0)


@dataclass(frozen=True)
class RoundUse:
    round_id: int
    title: str
    kind: str
    kind_label: str
    rows: tuple[QuotaUse, ...]

    @property
    def places(self) -> int:
        return sum(row.places for row in self.rows)

    @property
    def used(self) -> int:
        return sum(row.used for row in self.rows)


def quota_use(session: Session, actor: Actor, wanted: StatisticsFilter) -> list[RoundUse]:
    """Per round, the places given to each unit in scope and category, and how many were used
    (forwarded within the quota, not given back), latest round first: two queries."""
    scope = statistics_scope(session, actor)
    check_filter(session, wanted)
    query = (select(Round, RoundQuota.unit_id, OrgUnit.name, RoundQuota.category, RoundQuota.places)
             .join(RoundQuota, RoundQuota.round_id == Round.id).join(OrgUnit, OrgUnit.id == RoundQuota.unit_id)
             .where(subtree_clause(OrgUnit.path, scope.path))
             .order_by(Round.opens_dt.desc(), Round.id.desc(), OrgUnit.path, RoundQuota.category))
    if wanted.kind is not None:
        query = query.where(Round.kind == wanted.kind)
    quotas = session.execute(query).all()
    accounts = [quota_account(round_.id, unit_id, category) for round_, unit_id, _name, category, _places in quotas]
    used = dict(session.execute(select(Ledger.account, Ledger.used).where(
        Ledger.account.in_(accounts), Ledger.period == "round")).all()) if accounts else {}
    definitions = {kind: current_definition(session, kind) for kind in {row[0].kind for row in quotas}}
    rounds: dict[int, tuple[Round, list[QuotaUse]]] = {}
    for round_, unit_id, name, category, places in quotas:
        rows = rounds.setdefault(round_.id, (round_, []))[1]
        used_places = int(used.get(quota_account(round_.id, unit_id, category), 0))
        rows.append(QuotaUse(UnitRef(unit_id, name, is_scope=unit_id == scope.id), category,
                             _category_labels(definitions[round_.kind]).get(category, category), places,
                             allowed_places(round_, places), used_places))
    return [RoundUse(round_.id, round_.title, round_.kind, definitions[round_.kind].label, tuple(rows))
            for round_, rows in rounds.values()]


def _category_labels(definition: Definition) -> dict[str, str]:
    field = definition.round_category_field
    return dict(definition.field(field).choices) if field else {}


# --- The cases behind a figure --------------------------------------------------------------------

@dataclass(frozen=True)
class Behind:
    """Which figure's cases: money (kind, unit, period) or quota places (round, unit, category).
    ``unit_id`` is a unit of the figure's rows: a child unit of the scope (its subtree) or the
    scope itself (cases at the scope unit itself, for money)."""

    unit_id: int
    kind: str | None = None
    period: str | None = None
    round_id: int | None = None
    category: str | None = None


BEHIND_LIMIT = 500


@dataclass(frozen=True)
class CasesBehind:
    unit: UnitRef
    rows: list[tuple[Case, Decimal]]  # each case with what it drew (yuan, or places)


def cases_behind(session: Session, actor: Actor, behind: Behind, wanted: StatisticsFilter) -> CasesBehind:
    """The cases a money or quota figure counts, with what each drew (yuan or places), newest first,
    at most BEHIND_LIMIT. A unit outside the reader's scope is missing to them."""
    scope = statistics_scope(session, actor)
    check_filter(session, wanted)
    unit = session.get(OrgUnit, behind.unit_id)
    if unit is None or not unit.path.startswith(scope.path):
        raise NotFound("单位不存在或不在您的统计范围内")
    query = (select(Case, LedgerEntry.amount).join(LedgerEntry, LedgerEntry.case_id == Case.id)
             .join(Ledger, Ledger.id == LedgerEntry.ledger_id)
             .order_by(LedgerEntry.created_dt.desc(), Case.id.desc()).limit(BEHIND_LIMIT))
    found = CasesBehind(UnitRef(unit.id, unit.name, is_scope=unit.id == scope.id), [])
    if behind.round_id is not None:
        return replace(found, rows=list(session.execute(query.where(
            Ledger.account == quota_account(behind.round_id, unit.id, behind.category or ""),
            Ledger.period == "round")).all()))
    origin = Case.origin_unit_id == unit.id if unit.id == scope.id else subtree_clause(Case.origin_path, unit.path)
    query = query.where(
        origin, *_case_conditions(scope, replace(wanted, kind=behind.kind or wanted.kind)),
        ~Ledger.account.startswith(QUOTA_ACCOUNTS, autoescape=True))
    if behind.period is not None:
        query = query.where(Ledger.period == behind.period)
    return replace(found, rows=list(session.execute(query).all()))
