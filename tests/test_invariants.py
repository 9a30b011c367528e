"""Random actions by random people on random cases never break the engine's invariants.

A hypothesis state machine creates drafts of every loaded kind, edits them, fires any
trigger of the case's definition (offered or not, with stale versions and missing or
over-long comments) and comments, each time as a random member of the test world.
After every step it checks what must always hold:

- an operation either succeeds or raises a UnionflowError, and a refused one leaves
  the case exactly as it was (after the caller's rollback);
- the engine accepts a trigger exactly when ``available_actions`` offers it (given a
  current version, an acceptable comment and, when leaving a draft, a complete form);
- every case is in a state of its definition, its audit chain verifies and counts
  ``audit_seq`` events, and its open task matches its state.

Each hypothesis example runs inside a SAVEPOINT rolled back afterwards; every
operation commits (releasing the session's own savepoint) or rolls back, as a request would.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule, run_state_machine_as_test,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.audit.chain import AuditEvent
from engine.base import effects
from engine.base.errors import (
    ConditionFailed, Conflict, InvalidAction, NotFound, PermissionDenied, UnionflowError, ValidationFailed,
)
from engine.calendar.working_days import due_after
from engine.cases.case import Case
from engine.cases.integrity import verify_audit_chain
from engine.cases.machines import available_actions
from engine.cases.tasks import Task
from engine.definitions.forms import missing_required, resolved_bound
from engine.definitions.spec import Definition, FieldSpec, Party
from engine.definitions.store import definition_by_hash, list_kinds
from engine.operations.transitions import (
    MAX_COMMENT_LENGTH, comment_on_case, create_draft, perform_action, update_draft,
)
from engine.org.units import Actor, assign_role, create_user, load_actor
from tests.conftest import IN_CI, NOW, World, build_world

MACHINE_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # CI runs the same examples every time; locally hypothesis explores and remembers failures.
    derandomize=IN_CI,
    database=None if IN_CI else settings.default.database,
    print_blob=True,
)

LETTERS = "张三李四王五赵六工会先锋一线技术班组车间abcXYZ019-·（）"
VALID_ID_NUMBERS = ("11010519491231002X", "440304199003155513", "110101198001010037", "31010419750505123x")
VALID_PHONES = ("13800138000", "010-12345678", "0512-6812345", "15912345678")
# NUL (PostgreSQL cannot store it) and a lone surrogate (no UTF-8 for it): refused as input.
UNSTORABLE_TEXTS = ("张\x00三", "张\ud800三")
# Mostly the version the caller saw; sometimes one it cannot have seen (stale or future).
VERSION_OFFSETS = st.sampled_from((0, 0, 0, 0, 0, -1, 1))
COMMENTS = st.one_of(
    st.none(),
    st.text(LETTERS + " ", min_size=1, max_size=20),
    st.sampled_from(("", "   ", "意" * (MAX_COMMENT_LENGTH + 1), *UNSTORABLE_TEXTS)),
    st.text(LETTERS, min_size=1, max_size=20),
)


# --- Form values, valid and invalid, for any definition -------------------------------------------

def _filled_value(spec: FieldSpec) -> st.SearchStrategy:
    """A value the form accepts and that counts as filled in."""
    if spec.type in ("text", "longtext"):
        return st.text(LETTERS, min_size=1, max_size=min(spec.max_length, 24))
    if spec.type == "integer":
        low = spec.min if spec.min is not None else -1000
        return st.integers(low, spec.max if spec.max is not None else low + 100_000)
    if spec.type == "money":
        low = spec.min if spec.min is not None else Decimal("0")
        high = spec.max if spec.max is not None else low + 100_000
        return st.decimals(low, high, places=2, allow_nan=False, allow_infinity=False).map(str)
    if spec.type == "date":
        low = resolved_bound(spec.min) if spec.min is not None else date(1940, 1, 1)
        high = resolved_bound(spec.max) if spec.max is not None else max(low, date(2030, 12, 31))
        return st.dates(low, high).map(date.isoformat)
    if spec.type == "choice":
        return st.sampled_from([value for value, _ in spec.choices])
    if spec.type == "id_number":
        return st.sampled_from(VALID_ID_NUMBERS)
    if spec.type == "phone":
        return st.sampled_from(VALID_PHONES)
    if spec.type == "file":
        return st.nothing()  # a file id must come from an upload into the saved case; not exercised here
    raise AssertionError(f"no strategy for field type {spec.type}")


def _valid_value(spec: FieldSpec) -> st.SearchStrategy:
    """A value the form accepts, including the blanks that clear the field."""
    return st.one_of(_filled_value(spec), st.sampled_from((None, "", "  ", [] if spec.type == "file" else None)))


def _invalid_value(spec: FieldSpec) -> st.SearchStrategy:
    if spec.type in ("text", "longtext"):
        return st.sampled_from(("字" * (spec.max_length + 1), *UNSTORABLE_TEXTS))
    if spec.type == "integer":
        wrong = ["十二", "1.5x"]
        wrong += [spec.min - 1] if spec.min is not None else []
        wrong += [spec.max + 1] if spec.max is not None else []
        return st.sampled_from(wrong)
    if spec.type == "money":
        wrong = ["12.345", "一百元", 1.5]
        wrong += [str(spec.max + 1)] if spec.max is not None else []
        return st.sampled_from(wrong)
    if spec.type == "date":
        wrong = ["2026-02-30", "明天"]
        wrong += [(resolved_bound(spec.min) - timedelta(days=1)).isoformat()] if spec.min is not None else []
        return st.sampled_from(wrong)
    if spec.type == "choice":
        return st.just("no_such_choice")
    if spec.type == "id_number":
        return st.sampled_from(("12345", "110105194912310021"))  # too short; bad check digit
    if spec.type == "phone":
        return st.sampled_from(("12345", "abc"))
    if spec.type == "file":
        return st.just([1])
    raise AssertionError(f"no strategy for field type {spec.type}")


@st.composite
def form_inputs(draw, definition: Definition, complete: bool) -> tuple[dict, bool]:
    """(form patch, whether the engine must accept it).

    ``complete`` fills every required field with valid values; otherwise the patch touches
    a few fields and, half the time, breaks exactly one (so that valid patches stay common).
    """
    form = {}
    for spec in definition.fields:
        if complete and spec.required and spec.type != "file":
            form[spec.name] = draw(_filled_value(spec))
        elif draw(st.integers(0, 3)) == 0 or (spec.name == definition.title_field and draw(st.booleans())):
            # The title field, copied into the case row, changes more often than the rest.
            form[spec.name] = draw(_valid_value(spec))
    if complete or draw(st.booleans()):
        return form, True
    broken = draw(st.sampled_from((None, *definition.fields)))
    if broken is None:
        form["no_such_field"] = "x"
    else:
        form[broken.name] = draw(_invalid_value(broken))
    return form, False


# --- What the test expects, stated without the engine's permission code --------------------------

def _holds(actor: Actor, case: Case, party: Party) -> bool:
    """Whether the actor holds ``party``'s role at the unit that plays that party for the case."""
    return any(g.role == party.role and g.unit_id == case.unit_at(party.level) for g in actor.grants)


def _involved(world: World, case: Case) -> list[str]:
    """People holding any role at the case's unit or one of its ancestors: those likely to act on it."""
    units = set(case.chain.values()) | {case.origin_unit_id}
    return sorted(name for name, actor in world.actors.items() if any(g.unit_id in units for g in actor.grants))


def _can_see(actor: Actor, case: Case) -> bool:
    """Applicants see their own unit's cases; other roles those of their unit and the units below it."""
    units = set(case.chain.values()) | {case.origin_unit_id}
    return any(
        g.unit_id == case.origin_unit_id if g.role == "applicant" else g.unit_id in units for g in actor.grants
    )


def _takes_part(actor: Actor, case: Case) -> bool:
    """Applicants of the origin unit and reviewers of any unit in the case's chain may comment."""
    chain_units = set(case.chain.values()) | {case.origin_unit_id}
    return any(
        (g.role == "applicant" and g.unit_id == case.origin_unit_id)
        or (g.role == "reviewer" and g.unit_id in chain_units)
        for g in actor.grants
    )


def _comment_acceptable(comment: str | None, required: bool) -> bool:
    text = (comment or "").strip()
    # The unstorable characters this test generates (see UNSTORABLE_TEXTS).
    storable = not any(bad in text for bad in ("\x00", "\ud800"))
    return storable and len(text) <= MAX_COMMENT_LENGTH and (bool(text) or not required)


def _snapshot(session: Session, case_id: int) -> tuple:
    """The case as stored: its row, its number of events and its open task (read with SQL, not the identity map)."""
    row = session.execute(
        select(Case.version, Case.state, Case.audit_seq, Case.audit_head, Case.return_state, Case.revision_round,
               Case.title, Case.form_data, Case.updated_dt, Case.closed_dt).where(Case.id == case_id)
    ).one()
    events = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.case_id == case_id))
    inbox = session.execute(
        select(Task.role, Task.unit_id, Task.state, Task.entered_dt, Task.due_dt)
        .where(Task.closed_dt.is_(None), Task.case_id == case_id)
    ).one_or_none()
    return tuple(row), events, None if inbox is None else tuple(inbox)


def _staff_every_unit(session: Session, world: World, definitions: list[Definition]) -> None:
    """Give every unit a holder of each role the definitions act with at its level.

    build_world leaves some units without, e.g. a grassroots reviewer outside A1a or an
    applicant at county level; cases there could never move, and paths would go untested.
    """
    needed = set()
    for definition in definitions:
        parties = [s.waits_for for s in definition.states] + [p for t in definition.transitions for p in t.by]
        for party in parties:
            if isinstance(party, Party):
                needed.add((party.role, definition.origin_level if party.level == "origin" else party.level))
    held = {(g.role, g.unit_id) for actor in world.actors.values() for g in actor.grants}
    for role, level in sorted(needed):
        for unit_name, unit in sorted(world.units.items()):
            if unit.level != level or (role, unit.id) in held:
                continue
            user = create_user(session, username=f"{role}_{unit_name}", display_name=f"{role}_{unit_name}")
            assign_role(session, user, role, unit)
            session.flush()
            world.actors[user.username] = load_actor(session, user.id)


# --- The state machine ----------------------------------------------------------------------------

def _machine_class(connection, world: World, definitions: list[Definition]):
    kinds = [d.kind for d in definitions]
    by_kind = {d.kind: d for d in definitions}
    actor_names = sorted(world.actors)
    applicant_names = [name for name in actor_names if world.actor(name).grants_for("applicant")]
    # Anyone at all, but applicants half the time: otherwise few drafts would ever start.
    anyone = st.one_of(st.sampled_from(actor_names), st.sampled_from(applicant_names))

    def someone_for(case: Case, definition: Definition) -> st.SearchStrategy:
        """Anyone, someone at the case's units, or (half the time) someone the case waits for."""
        people = [st.sampled_from(actor_names), st.sampled_from(_involved(world, case))]
        waits_for = definition.state(case.state).waits_for
        awaited = [name for name in actor_names if waits_for and _holds(world.actor(name), case, waits_for)]
        return st.one_of(*people, *([st.sampled_from(awaited)] * 2 if awaited else []))

    unit_ids = sorted(unit.id for unit in world.units.values())
    origins = st.one_of(st.none(), st.none(), st.sampled_from(unit_ids))

    class RandomCaseActions(RuleBasedStateMachine):
        cases = Bundle("cases")

        def __init__(self):
            super().__init__()
            self.example = connection.begin_nested()
            self.session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
            self.now = NOW
            self.published: list[tuple[str, dict]] = []
            self.handlers = {name: self._recorder(name) for name in ("case_created", "case_transitioned")}
            for name, handler in self.handlers.items():
                effects.subscribe(name, handler)

        def teardown(self):
            for name, handler in self.handlers.items():
                effects.unsubscribe(name, handler)
            self.session.close()
            self.example.rollback()

        def _recorder(self, name):
            def record(**payload):
                self.published.append((name, payload))
            return record

        # -- helpers --

        def _tick(self) -> None:
            self.now += timedelta(hours=1)

        def _case(self, case_id: int) -> tuple[Case, Definition]:
            case = self.session.get(Case, case_id)
            return case, definition_by_hash(self.session, case.definition_hash)

        def _attempt(self, case_id: int, operation) -> UnionflowError | None:
            """Run one unit of work: commit on success; on a domain error roll back and check nothing changed."""
            before = _snapshot(self.session, case_id)
            try:
                operation()
            except UnionflowError as err:
                self.session.rollback()
                assert _snapshot(self.session, case_id) == before, f"{err!r} left case {case_id} changed"
                event(f"refused: {type(err).__name__}")
                return err
            self.session.commit()
            return None

        def _fire(self, case_id: int, name: str, trigger: str, data) -> None:
            case, definition = self._case(case_id)
            actor = world.actor(name)
            comment = data.draw(COMMENTS, label="comment")
            current = case.version
            expected_version = current + data.draw(VERSION_OFFSETS, label="version offset")
            self._tick()
            now = self.now
            offers = {a.trigger: a for a in available_actions(self.session, actor, case, now)}
            offer = offers.get(trigger)
            from_state = case.state
            leaving_draft = definition.state(from_state).kind == "draft"
            missing = missing_required(definition, case.form_data) if leaving_draft else {}
            seq, published = case.audit_seq, len(self.published)

            error = self._attempt(case_id, lambda: perform_action(
                self.session, actor, case, trigger, expected_version=expected_version, comment=comment, now=now,
            ))

            if not _can_see(actor, case):
                assert isinstance(error, NotFound), f"{name} cannot see case {case_id}, yet the engine gave {error!r}"
                return
            if expected_version != current:
                assert isinstance(error, Conflict), f"version {expected_version} of v{current} gave {error!r}"
                return
            if offer is None:
                assert isinstance(error, (InvalidAction, PermissionDenied, ConditionFailed)), (
                    f"{trigger} was not offered to {name} in {from_state}, yet the engine gave {error!r}"
                )
                return
            if not _comment_acceptable(comment, offer.comment_required):
                assert isinstance(error, ValidationFailed) and "comment" in error.fields, repr(error)
                return
            if missing and not definition.state(offer.dest).is_final:  # a draft may be withdrawn half-filled
                assert isinstance(error, ValidationFailed) and error.fields == missing, repr(error)
                return
            assert error is None, f"{trigger} was offered to {name} in {from_state} but the engine refused: {error!r}"
            event(f"{definition.kind}: {from_state} -{trigger}-> {offer.dest}")
            case = self.session.get(Case, case_id)
            assert case.state == offer.dest
            assert case.audit_seq == seq + 1
            last = self.session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                                 AuditEvent.seq == case.audit_seq)).one()
            assert (last.action, last.from_state, last.to_state, last.actor_id, last.comment) == (
                trigger, from_state, offer.dest, actor.user_id, (comment or "").strip() or None)
            assert self.published[published:] == [("case_transitioned", {
                "case_id": case_id, "trigger": trigger, "from_state": from_state, "to_state": offer.dest})]

        def _create(self, kind: str, name: str, origin_unit_id: int | None, form: dict, form_valid: bool):
            definition = by_kind[kind]
            actor = world.actor(name)
            grants = [g for g in actor.grants_for("applicant")
                      if g.unit_level == definition.origin_level and origin_unit_id in (None, g.unit_id)]
            count_cases = select(func.count()).select_from(Case)
            cases_before, published = self.session.scalar(count_cases), len(self.published)
            self._tick()
            try:
                case = create_draft(self.session, actor, kind, origin_unit_id=origin_unit_id, form=form, now=self.now)
            except UnionflowError as err:
                self.session.rollback()
                assert self.session.scalar(count_cases) == cases_before, f"{err!r} left a case behind"
                assert not (len(grants) == 1 and form_valid), f"{name} could not start a valid {kind}: {err!r}"
                if not grants:
                    assert isinstance(err, PermissionDenied), repr(err)
                event(f"refused: {type(err).__name__}")
                return multiple()
            self.session.commit()
            assert len(grants) == 1 and form_valid, f"{name} started {kind} with grants {grants}, form {form}"
            started = (definition.initial_state.id, grants[0].unit_id, 1)
            assert (case.state, case.origin_unit_id, case.audit_seq) == started
            assert self.published[published:] == [("case_created", {"case_id": case.id})]
            event(f"{kind}: created")
            return case.id

        # -- rules --

        @initialize(target=cases, data=st.data())
        def one_complete_draft_of_each_kind(self, data):
            """Every example starts with a case of every kind that can travel all the way."""
            created = []
            for kind in kinds:
                level = by_kind[kind].origin_level
                starters = [n for n in applicant_names
                            if any(g.unit_level == level for g in world.actor(n).grants_for("applicant"))]
                name = data.draw(st.sampled_from(starters), label=f"{kind} applicant")
                form, _ = data.draw(form_inputs(by_kind[kind], complete=True), label=f"{kind} form")
                case_id = self._create(kind, name, None, form, True)
                assert isinstance(case_id, int), f"{name} could not start a complete {kind}"
                created.append(case_id)
            return multiple(*created)

        @rule(target=cases, data=st.data())
        def create(self, data):
            kind = data.draw(st.sampled_from(kinds), label="kind")
            form, form_valid = data.draw(
                st.one_of(form_inputs(by_kind[kind], complete=True), form_inputs(by_kind[kind], complete=False)),
                label="form",
            )
            return self._create(kind, data.draw(anyone, label="actor"), data.draw(origins, label="origin_unit_id"),
                                form, form_valid)

        @rule(case_id=cases, data=st.data())
        def update(self, case_id, data):
            case, definition = self._case(case_id)
            name = data.draw(someone_for(case, definition), label="actor")
            form, form_valid = data.draw(form_inputs(definition, complete=False), label="form")
            current = case.version
            expected_version = current + data.draw(VERSION_OFFSETS, label="version offset")
            state = definition.state(case.state)
            may_edit = state.kind == "draft" and _holds(world.actor(name), case, state.waits_for)
            seq, stored_before = case.audit_seq, dict(case.form_data)
            self._tick()
            error = self._attempt(case_id, lambda: update_draft(
                self.session, world.actor(name), case, form, expected_version=expected_version, now=self.now,
            ))
            if not _can_see(world.actor(name), case):
                assert isinstance(error, NotFound), f"{name} cannot see case {case_id}, yet the engine gave {error!r}"
            elif expected_version != current:
                assert isinstance(error, Conflict), repr(error)
            elif may_edit and form_valid:
                assert error is None, f"{name} could not edit their {state.id} case with a valid form: {error!r}"
                changed = sorted(k for k in set(stored_before) | set(case.form_data)
                                 if stored_before.get(k) != case.form_data.get(k))
                if not changed:  # an edit that changes nothing writes no event
                    assert case.audit_seq == seq
                    return
                assert case.audit_seq == seq + 1, f"case {case_id}: fields {changed} changed without an audit event"
                last = self.session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                                     AuditEvent.seq == case.audit_seq)).one()
                assert (last.action, sorted(last.changes)) == ("update_form", changed)
                event(f"{definition.kind}: form edited in {state.id}")
            else:
                assert error is not None, f"{name} edited a {state.id} case (may_edit={may_edit}, form={form})"

        @rule(case_id=cases, data=st.data())
        def fire_any_trigger(self, case_id, data):
            """Any trigger of the definition, by anyone: mostly refused, and refused cleanly."""
            case, definition = self._case(case_id)
            trigger = data.draw(st.sampled_from(sorted({t.trigger for t in definition.transitions})), label="trigger")
            self._fire(case_id, data.draw(someone_for(case, definition), label="actor"), trigger, data)

        @rule(case_id=cases, data=st.data())
        def fire_offered_actions(self, case_id, data):
            """A few triggers in a row that someone is offered, so that cases travel deep into their definitions."""
            for _ in range(data.draw(st.integers(1, 6), label="how many")):
                case, definition = self._case(case_id)
                offers = [(name, action.trigger, action.dest) for name in actor_names
                          for action in available_actions(self.session, world.actor(name), case, self.now)]
                if not offers:
                    final = definition.state(case.state).is_final
                    event("no action offered to anyone" + ("" if final else " (not final)"))
                    return
                # Half the time an offer that moves the case on rather than closing or returning it.
                onward = [(name, trigger) for name, trigger, dest in offers
                          if definition.state(dest).kind in ("review", "notice")]
                choices = st.sampled_from([offer[:2] for offer in offers])
                if onward:
                    choices = st.one_of(st.sampled_from(onward), choices)
                name, trigger = data.draw(choices, label="offer")
                self._fire(case_id, name, trigger, data)

        @rule(case_id=cases, data=st.data())
        def comment(self, case_id, data):
            case, definition = self._case(case_id)
            name = data.draw(someone_for(case, definition), label="actor")
            text = data.draw(COMMENTS, label="text")
            seq, state = case.audit_seq, case.state
            self._tick()
            error = self._attempt(case_id, lambda: comment_on_case(
                self.session, world.actor(name), case, text, now=self.now,
            ))
            if not _can_see(world.actor(name), case):
                assert isinstance(error, NotFound), f"{name} cannot see case {case_id}, yet the engine gave {error!r}"
            elif not _takes_part(world.actor(name), case):
                assert isinstance(error, PermissionDenied), f"{name} commented on case {case_id}: {error!r}"
            elif not _comment_acceptable(text, required=True):
                assert isinstance(error, ValidationFailed), repr(error)
            else:
                assert error is None, f"{name} could not comment on case {case_id}: {error!r}"
                assert (case.audit_seq, case.state) == (seq + 1, state)
                event("commented")

        # -- invariants --

        @invariant()
        def cases_match_definitions_trails_and_inbox(self):
            cases = self.session.scalars(select(Case).execution_options(populate_existing=True)).all()
            # populate_existing: tasks are written with Core statements that bypass loaded objects.
            rows = self.session.scalars(select(Task).where(Task.closed_dt.is_(None))
                                        .execution_options(populate_existing=True)).all()
            inbox = {item.case_id: item for item in rows}
            assert len(inbox) == len(rows), "a case with more than one open task"
            event_counts = dict(self.session.execute(
                select(AuditEvent.case_id, func.count()).group_by(AuditEvent.case_id)).all())
            for case in cases:
                definition = definition_by_hash(self.session, case.definition_hash)
                assert case.state in {s.id for s in definition.states}, f"case {case.id} in unknown state {case.state}"
                state = definition.state(case.state)
                assert case.audit_seq == event_counts.get(case.id, 0), f"case {case.id}: audit_seq vs events"
                assert (case.closed_dt is not None) == state.is_final, f"case {case.id}: closed_dt in {case.state}"
                assert case.return_state is None or definition.state(case.return_state).kind != "draft"
                assert case.sent_back_from is None or (definition.state(case.sent_back_from).kind == "review"
                                                       and not state.is_final), f"case {case.id}: sent_back_from"
                self._check_open_task(case, state, inbox.get(case.id))
            assert set(inbox) <= {case.id for case in cases}

        def _check_open_task(self, case: Case, state, item: Task | None) -> None:
            if state.waits_for is None:
                assert item is None, f"case {case.id} in {case.state} waits for nobody but has an open task"
                return
            assert item is not None, f"case {case.id} in {case.state} waits for {state.waits_for} but has no open task"
            expected = (state.waits_for.role, case.unit_at(state.waits_for.level), case.state, case.kind)
            actual = (item.role, item.unit_id, item.state, item.case_kind)
            assert actual == expected, f"case {case.id}: open task {actual} != {expected}"
            entered = self.session.scalar(
                select(AuditEvent.occurred_dt).where(AuditEvent.case_id == case.id, AuditEvent.to_state.is_not(None))
                .order_by(AuditEvent.seq.desc()).limit(1)
            )
            assert item.entered_dt == entered, f"case {case.id}: task entered {item.entered_dt}, state {entered}"
            days = state.deadline_working_days
            assert item.due_dt == (due_after(self.session, item.entered_dt, days) if days else None)

        @invariant()
        def audit_chain_verifies(self):
            report = verify_audit_chain(self.session)
            assert report.ok, [str(problem) for problem in report.problems]

    return RandomCaseActions


def _plain(definition: Definition) -> bool:
    return not definition.uses_rounds and not any(t.inputs or t.actions or t.timer for t in definition.transitions)


def test_random_actions_keep_engine_invariants(database):
    """Whatever anyone does to any case, refusals are clean, offers are honoured and every invariant holds."""
    connection = database.connect()
    outer = connection.begin()
    try:
        setup = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        world = build_world(setup)
        # Kinds with rounds, transition inputs, actions or timers need the domain set-up their
        # own tests build (test_honours.py, ...); the random walk runs on the plain chains.
        definitions = [d for d in list_kinds(setup) if _plain(d)]
        assert "basic_nomination" in {d.kind for d in definitions}
        _staff_every_unit(setup, world, definitions)
        setup.commit()
        setup.close()
        assert definitions, "no workflow definitions loaded"
        run_state_machine_as_test(_machine_class(connection, world, definitions), settings=MACHINE_SETTINGS)
    finally:
        outer.rollback()
        connection.close()

