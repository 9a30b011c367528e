"""Every path through a plain workflow definition, driven through the engine on both databases.

The engine-generic paths run on tests/definitions/basic_nomination.yaml; each real kind's
procedure (rounds, quotas, juries, amounts...) has its own test module (test_honours.py...).

The paths are computed from each definition's transitions: the happy path, a return and
a rejection at each stage that offers them, and withdrawal wherever it is allowed. The
stage order (and who holds the case at each stage) is pinned separately in EXPECTED_STAGES, and
``test_paths_cover_every_transition`` fails when a definition gains a transition that
none of these paths drives.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from engine.audit.chain import AuditEvent, case_events
from engine.base.errors import ConditionFailed, InvalidAction, ValidationFailed
from engine.cases.case import Case
from engine.cases.integrity import verify_audit_chain
from engine.cases.machines import available_actions
from engine.cases.tasks import Task
from engine.definitions.forms import clean_form_input
from engine.definitions.parse import parse_definition
from engine.definitions.spec import Definition, Party, TransitionSpec
from engine.operations.transitions import comment_on_case, create_draft, perform_action
from engine.org.units import Actor, assign_role, create_user, load_actor
from tests.conftest import NOW, TEST_DEFINITIONS, World, waiting_case_ids

KINDS = ("basic_nomination",)
DEFINITIONS: dict[str, Definition] = {
    kind: parse_definition((TEST_DEFINITIONS / f"{kind}.yaml").read_text(encoding="utf-8"), f"{kind}.yaml")
    for kind in KINDS
}

# The stages the chain goes through, in order, and who
# holds the case at each stage.
EXPECTED_STAGES = {
    "basic_nomination": [("draft", "applicant@origin"), ("township_review", "reviewer@township"),
                ("county_review", "reviewer@county"), ("city_review", "reviewer@city"),
                ("public_notice", "reviewer@city"), ("approved", None)],
}
EXPECTED_HAPPY_PATHS = {kind: [state for state, _ in stages] for kind, stages in EXPECTED_STAGES.items()}

# Revision is possible until a case is approved; after that (notice, payment) what was
# reviewed must be what is noticed and paid, so only rejection remains.
EXPECTED_RETURN_STAGES = {
    "basic_nomination": ["township_review", "county_review", "city_review"],
}
# Fields a case cannot be judged (or paid) without.
ESSENTIAL_FIELDS = {
    "basic_nomination": {"award_type", "nominee_name", "employer"},
}

ID_NUMBER = "11010519491231002X"
VALID_FORMS = {
    "basic_nomination": {"award_type": "labour_medal", "nominee_name": "张三", "employer": "A1a公司", "ownership": "public",
                "merits_summary": "十年扎根一线"},
}

# The world fixture's units and people acting at each level for a case started in A1a
# (or, for kinds originating at county level, in county A).
UNIT_AT = {"grassroots": "A1a", "township": "A1", "county": "A", "city": "city"}
REVIEWER_AT = {"grassroots": "reviewer_A1a", "township": "reviewer_A1", "county": "reviewer_A", "city": "reviewer_city"}
APPLICANT_AT = {"grassroots": "applicant_A1a", "county": "applicant_A"}

# Triggers that leave the happy path; every other trigger moves the case one stage on.
SIDE_TRIGGERS = ("return", "resubmit", "reject", "withdraw")


# --- Paths computed from a definition -------------------------------------------------------------

def transition_from(definition: Definition, state: str, trigger: str) -> TransitionSpec:
    [spec] = [t for t in definition.transitions if t.trigger == trigger and state in t.sources]
    return spec


def forward(definition: Definition, state: str) -> TransitionSpec:
    """The one transition that moves a case on from ``state`` towards its successful end."""
    onward = [t for t in definition.transitions if state in t.sources and t.trigger not in SIDE_TRIGGERS]
    assert len(onward) == 1, f"{definition.kind}: {state} should have exactly one way forward, has {onward}"
    return onward[0]


def happy_path(definition: Definition) -> list[str]:
    states = [definition.initial_state.id]
    while not definition.state(states[-1]).is_final:
        states.append(forward(definition, states[-1]).dest)
        assert len(states) <= len(definition.states), f"{definition.kind}: the happy path loops"
    return states


def sources_of(definition: Definition, trigger: str) -> list[str]:
    """States (in declaration order) from which ``trigger`` can be fired."""
    sources = {s for t in definition.transitions if t.trigger == trigger for s in t.sources}
    return [state.id for state in definition.states if state.id in sources]


def first_review_state(definition: Definition) -> str:
    return happy_path(definition)[1]


def cases_for(trigger: str) -> list:
    return [pytest.param(kind, state, id=f"{kind}-{state}")
            for kind in KINDS for state in sources_of(DEFINITIONS[kind], trigger)]


# --- People and driving ---------------------------------------------------------------------------

@dataclass
class Cast:
    """Who acts for each party of a definition, and at which unit their tasks wait."""

    world: World
    extra: dict[str, Actor]

    def _name(self, definition: Definition, party: Party) -> str:
        level = definition.origin_level if party.level == "origin" else party.level
        return APPLICANT_AT[level] if party.role == "applicant" else REVIEWER_AT[level]

    def actor_for(self, definition: Definition, party: Party) -> Actor:
        name = self._name(definition, party)
        return self.extra[name] if name in self.extra else self.world.actor(name)

    def unit_id_for(self, definition: Definition, party: Party) -> int:
        level = definition.origin_level if party.level == "origin" else party.level
        return self.world.unit(UNIT_AT[level]).id

    def applicant(self, definition: Definition) -> Actor:
        return self.actor_for(definition, Party("applicant", "origin"))


@pytest.fixture
def cast(session, world) -> Cast:
    """The world, plus an applicant at county A for kinds that originate at county level."""
    user = create_user(session, username="applicant_A", display_name="applicant_A")
    assign_role(session, user, "applicant", world.unit("A"))
    session.flush()
    return Cast(world, {"applicant_A": load_actor(session, user.id)})


def actor_of(cast: Cast, definition: Definition, case: Case, trigger: str) -> Actor:
    spec = transition_from(definition, case.state, trigger)
    return cast.actor_for(definition, definition.parties_for(spec, case.state)[0])


def fire(session, cast: Cast, definition: Definition, case: Case, trigger: str, comment: str | None = None):
    actor = actor_of(cast, definition, case, trigger)
    return perform_action(session, actor, case, trigger, expected_version=case.version, comment=comment, now=NOW)


def start_case(session, cast: Cast, definition: Definition, form: dict | None = None) -> Case:
    form = VALID_FORMS[definition.kind] if form is None else form
    case = create_draft(session, cast.applicant(definition), definition.kind, form=form, now=NOW)
    assert case.definition_hash == definition.content_hash  # the file under test is the one loaded
    return case


def walk_forward(session, cast: Cast, definition: Definition, case: Case, until: str | None = None) -> None:
    """Approve (or the kind's own forward step) stage after stage until ``until`` or a final state."""
    while case.state != until and not definition.state(case.state).is_final:
        fire(session, cast, definition, case, forward(definition, case.state).trigger)


def drive_to(session, cast: Cast, definition: Definition, target: str) -> Case:
    """A new case brought to ``target``: a stage of the happy path, or a draft state a return leads to."""
    case = start_case(session, cast, definition)
    target_state = definition.state(target)
    if target_state.kind == "draft" and target != definition.initial_state.id:
        returner = definition.return_points(target)[0]
        walk_forward(session, cast, definition, case, until=returner)
        fire(session, cast, definition, case, "return", comment="材料不全，请补充")
    else:
        walk_forward(session, cast, definition, case, until=target)
    assert case.state == target
    return case


# --- Assertions -----------------------------------------------------------------------------------

def assert_inbox_matches(session, cast: Cast, definition: Definition, case: Case) -> None:
    """One open task at the unit the state waits for, seen by that person; none once final."""
    state = definition.state(case.state)
    rows = list(session.scalars(select(Task).where(Task.case_id == case.id, Task.closed_dt.is_(None))))
    if state.is_final:
        assert rows == []
        assert case.closed_dt is not None
        return
    assert len(rows) == 1
    row = rows[0]
    assert (row.state, row.role, row.unit_id) == (
        case.state, state.waits_for.role, cast.unit_id_for(definition, state.waits_for)
    )
    assert (row.due_dt is not None) == (state.deadline_working_days is not None)
    waiting_for = cast.actor_for(definition, state.waits_for)
    assert case.id in waiting_case_ids(session, waiting_for, state.waits_for.role)


def assert_chain_ok(session, case: Case) -> None:
    report = verify_audit_chain(session, [case.id])
    assert report.ok, [str(p) for p in report.problems]


def event_count(session, case: Case) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.case_id == case.id))


def refused_without_trace(session, case: Case, error: type[Exception], attempt) -> Exception:
    """Run ``attempt``, expect ``error``, roll back as callers must, and check nothing was written."""
    session.commit()  # a savepoint: the rollback below then undoes only the attempt
    before = (case.state, case.version, case.audit_seq, case.revision_round, event_count(session, case))
    with pytest.raises(error) as info:
        attempt()
    session.rollback()
    after = (case.state, case.version, case.audit_seq, case.revision_round, event_count(session, case))
    assert after == before
    return info.value


def trail(session, case: Case) -> list[tuple[str, str | None]]:
    return [(event.action, event.to_state) for event in case_events(session, case.id)]


# --- Definition checks (no database) ----------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_happy_path_follows_the_domain_order(kind):
    """Does the forward chain of transitions visit the stages the domain prescribes?"""
    definition = DEFINITIONS[kind]
    waiting = [(state, definition.state(state).waits_for) for state in happy_path(definition)]
    assert [(state, str(party) if party else None) for state, party in waiting] == EXPECTED_STAGES[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_whoever_holds_the_case_can_move_it(kind):
    """At every stage the forward step, the return and the rejection belong to the party the
    stage waits for: a case never sits in one inbox while someone else must act."""
    definition = DEFINITIONS[kind]
    for state in definition.states:
        for spec in definition.transitions:
            if state.id in spec.sources and spec.trigger != "withdraw":
                assert definition.parties_for(spec, state.id) == (state.waits_for,), (spec.trigger, state.id)


@pytest.mark.parametrize("kind", KINDS)
def test_paths_cover_every_transition(kind):
    """Is every (trigger, source state) of the definition driven by one of the path tests below?"""
    definition = DEFINITIONS[kind]
    path = happy_path(definition)
    covered = {(forward(definition, state).trigger, state) for state in path[:-1]}
    covered |= {("return", state) for state in sources_of(definition, "return")}
    covered |= {("resubmit", transition_from(definition, state, "return").dest)
                for state in sources_of(definition, "return")}
    covered |= {("reject", state) for state in sources_of(definition, "reject")}
    covered |= {("withdraw", state) for state in sources_of(definition, "withdraw")}
    declared = {(t.trigger, source) for t in definition.transitions for source in t.sources}
    assert covered == declared


@pytest.mark.parametrize("kind", KINDS)
def test_withdrawal_is_limited_to_drafts_and_an_untouched_first_review(kind):
    """Can the applicant withdraw only before any reviewer has acted?"""
    definition = DEFINITIONS[kind]
    first = first_review_state(definition)
    drafts = [s.id for s in definition.states if s.kind == "draft"]
    assert sources_of(definition, "withdraw") == [*drafts, first]
    assert transition_from(definition, first, "withdraw").conditions == ("review_not_started",)
    for state in drafts:
        assert transition_from(definition, state, "withdraw").conditions == ()


@pytest.mark.parametrize("kind", KINDS)
def test_return_offered_until_approval_and_reject_at_every_stage(kind):
    definition = DEFINITIONS[kind]
    assert sources_of(definition, "return") == EXPECTED_RETURN_STAGES[kind]
    waiting_on_reviewers = [s.id for s in definition.states if s.kind in ("review", "notice")]
    assert sources_of(definition, "reject") == waiting_on_reviewers


@pytest.mark.parametrize("kind", KINDS)
def test_essential_fields_are_required(kind):
    definition = DEFINITIONS[kind]
    assert ESSENTIAL_FIELDS[kind] <= {f.name for f in definition.fields if f.required}


@pytest.mark.parametrize("kind", KINDS)
def test_returns_and_rejections_need_a_reason(kind):
    definition = DEFINITIONS[kind]
    for trigger in ("return", "reject"):
        for state in sources_of(definition, trigger):
            assert transition_from(definition, state, trigger).comment_required, (trigger, state)


@pytest.mark.parametrize("kind", KINDS)
def test_file_fields_are_optional(kind):
    """Uploads do not exist yet and the engine refuses attachment ids: a required file field
    would make the kind impossible to submit."""
    assert [f.name for f in DEFINITIONS[kind].fields if f.type == "file" and f.required] == []


@pytest.mark.parametrize("kind", KINDS)
def test_valid_form_passes_the_definition(kind):
    """The forms the path tests use are valid and fill every required field."""
    definition = DEFINITIONS[kind]
    clean_form_input(definition, VALID_FORMS[kind])
    assert {f.name for f in definition.fields if f.required} <= set(VALID_FORMS[kind])


# --- Paths driven through the engine ----------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_happy_path_end_to_end(session, cast, kind):
    """Can a case go from draft to its successful end, waiting in the right inbox at every stage?"""
    definition = DEFINITIONS[kind]
    path = happy_path(definition)
    case = start_case(session, cast, definition)
    assert_inbox_matches(session, cast, definition, case)
    for state, following in zip(path, path[1:]):
        trigger = forward(definition, state).trigger
        actor = actor_of(cast, definition, case, trigger)
        role = definition.state(state).waits_for.role
        assert case.id in waiting_case_ids(session, actor, role)
        assert trigger in [action.trigger for action in available_actions(session, actor, case, NOW)]
        fire(session, cast, definition, case, trigger)
        assert case.state == following
        assert_inbox_matches(session, cast, definition, case)
    assert case.state == EXPECTED_HAPPY_PATHS[kind][-1]
    assert case.revision_round == 0
    assert [to_state for _, to_state in trail(session, case)] == path
    assert_chain_ok(session, case)


@pytest.mark.parametrize(("kind", "stage"), cases_for("return"))
def test_return_then_resubmit_goes_back_to_the_returning_stage(session, cast, kind, stage):
    definition = DEFINITIONS[kind]
    case = drive_to(session, cast, definition, stage)
    error = refused_without_trace(session, case, ValidationFailed,
                                  lambda: fire(session, cast, definition, case, "return"))
    assert "comment" in error.fields
    assert_inbox_matches(session, cast, definition, case)

    fire(session, cast, definition, case, "return", comment="收入证明缺失，请补充")
    assert case.state == transition_from(definition, stage, "return").dest
    assert case.return_state == stage
    assert_inbox_matches(session, cast, definition, case)  # back with the applicant

    event = fire(session, cast, definition, case, "resubmit")
    assert case.state == stage
    assert case.revision_round == 1 and case.return_state is None
    assert event.details["revision_round"] == 1
    assert_inbox_matches(session, cast, definition, case)

    walk_forward(session, cast, definition, case)
    assert case.state == EXPECTED_HAPPY_PATHS[kind][-1]
    assert case.revision_round == 1
    assert_inbox_matches(session, cast, definition, case)
    assert_chain_ok(session, case)


@pytest.mark.parametrize(("kind", "stage"), cases_for("reject"))
def test_reject_at_each_stage_needs_a_comment_and_closes_the_case(session, cast, kind, stage):
    definition = DEFINITIONS[kind]
    case = drive_to(session, cast, definition, stage)
    for blank in (None, "   "):
        error = refused_without_trace(session, case, ValidationFailed,
                                      lambda: fire(session, cast, definition, case, "reject", comment=blank))
        assert "comment" in error.fields
    assert_inbox_matches(session, cast, definition, case)

    event = fire(session, cast, definition, case, "reject", comment="经核查不符合条件")
    assert case.state == transition_from(definition, stage, "reject").dest
    assert definition.state(case.state).is_final
    assert (event.from_state, event.comment) == (stage, "经核查不符合条件")
    assert_inbox_matches(session, cast, definition, case)
    assert_chain_ok(session, case)


@pytest.mark.parametrize(("kind", "source"), cases_for("withdraw"))
def test_withdraw(session, cast, kind, source):
    """Can the applicant withdraw from a draft, a returned case, or a review nobody has started?"""
    definition = DEFINITIONS[kind]
    case = drive_to(session, cast, definition, source)
    fire(session, cast, definition, case, "withdraw")
    assert case.state == transition_from(definition, source, "withdraw").dest
    assert definition.state(case.state).is_final
    assert_inbox_matches(session, cast, definition, case)
    assert_chain_ok(session, case)


@pytest.mark.parametrize("kind", KINDS)
def test_withdraw_refused_once_a_reviewer_acted(session, cast, kind):
    """A reviewer's comment at the first stage, or any later stage, ends the right to withdraw."""
    definition = DEFINITIONS[kind]
    first = first_review_state(definition)
    case = drive_to(session, cast, definition, first)
    reviewer = cast.actor_for(definition, definition.state(first).waits_for)
    comment_on_case(session, reviewer, case, "已受理，正在核实", now=NOW)
    applicant = cast.applicant(definition)

    def withdraw():
        perform_action(session, applicant, case, "withdraw", expected_version=case.version, now=NOW)

    error = refused_without_trace(session, case, ConditionFailed, withdraw)
    assert error.reasons == ["审核已经开始，不能撤回"]
    assert_inbox_matches(session, cast, definition, case)
    for stage in happy_path(definition)[2:-1]:
        walk_forward(session, cast, definition, case, until=stage)
        refused_without_trace(session, case, InvalidAction, withdraw)
        assert_inbox_matches(session, cast, definition, case)
    assert_chain_ok(session, case)


@pytest.mark.parametrize("kind", KINDS)
def test_submit_with_required_fields_missing_names_them(session, cast, kind):
    definition = DEFINITIONS[kind]
    required = {f.name for f in definition.fields if f.required}
    empty = start_case(session, cast, definition, form={})
    error = refused_without_trace(session, empty, ValidationFailed,
                                  lambda: fire(session, cast, definition, empty, "submit"))
    assert set(error.fields) == required
    assert empty.state == definition.initial_state.id
    assert_inbox_matches(session, cast, definition, empty)
    assert_chain_ok(session, empty)

    for name in sorted(required):
        form = {key: value for key, value in VALID_FORMS[kind].items() if key != name}
        case = start_case(session, cast, definition, form=form)
        error = refused_without_trace(session, case, ValidationFailed,
                                      lambda: fire(session, cast, definition, case, "submit"))
        assert set(error.fields) == {name}


@pytest.mark.parametrize("kind", KINDS)
def test_incomplete_draft_can_be_withdrawn(session, cast, kind):
    """Giving up on a half-filled application must not demand the missing fields first."""
    definition = DEFINITIONS[kind]
    case = start_case(session, cast, definition, form={})
    fire(session, cast, definition, case, "withdraw")
    assert case.state == transition_from(definition, definition.initial_state.id, "withdraw").dest
    assert_inbox_matches(session, cast, definition, case)
    assert_chain_ok(session, case)
