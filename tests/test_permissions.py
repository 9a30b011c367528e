"""Who may see and act on a case, and what a refusal leaves behind (nothing).

The world (tests/conftest.py): city → counties A, B → townships A1, A2 (in A), B1 (in B) →
grassroots unions A1a, A1b (in A1), A2a (in A2), B1a (in B1).
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, text

from engine.audit.chain import AuditEvent
from engine.base.errors import InvalidAction, NotFound, PermissionDenied
from engine.cases.case import Case, cases_under
from engine.cases.integrity import verify_audit_chain
from engine.cases.machines import available_actions
from engine.cases.permissions import can_view_case, get_case
from engine.cases.tasks import Task
from engine.definitions.store import definition_by_hash
from engine.operations.transitions import (
    approve_case, comment_on_case, create_draft, perform_action, submit_case, update_draft,
)
from engine.org.units import OrgUnit, assign_role, create_org_unit, create_user, load_actor
from tests.conftest import NOW

FORM = {"award_type": "labour_medal", "nominee_name": "张三", "employer": "某公司", "ownership": "public",
        "merits_summary": "十年扎根一线"}
CJK = re.compile(r"[\u4e00-\u9fff]")

APPLICANT = {"A1a": "applicant_A1a", "A1b": "applicant_A1b", "B1a": "applicant_B1a"}
# Who moves a case of each origin along: submit, then approvals at township, county, city, city.
PATH = {
    "A1a": ["applicant_A1a", "reviewer_A1", "reviewer_A", "reviewer_city", "reviewer_city"],
    "A1b": ["applicant_A1b", "reviewer_A1", "reviewer_A", "reviewer_city", "reviewer_city"],
    "B1a": ["applicant_B1a", "reviewer_B1", "reviewer_B", "reviewer_city", "reviewer_city"],
}
STAGES = ["draft", "township_review", "county_review", "city_review", "public_notice", "approved"]


@pytest.fixture
def make_case(session, world):
    """make_case(origin, state) -> a committed honours case from ``origin`` that reached ``state``."""
    def make(origin: str = "A1a", state: str = "township_review") -> Case:
        case = create_draft(session, world.actor(APPLICANT[origin]), "basic_nomination", form=FORM, now=NOW)
        for actor in PATH[origin][:STAGES.index(state)]:
            trigger = "submit" if case.state == "draft" else "approve"
            perform_action(session, world.actor(actor), case, trigger, expected_version=case.version, now=NOW)
        assert case.state == state
        session.commit()
        return case

    return make


def _stored(session, case_id):
    """The case as the database holds it: version, state, audit head, events, open task."""
    row = session.execute(select(Case.version, Case.state, Case.audit_seq, Case.form_data)
                          .where(Case.id == case_id)).one()
    events = session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.case_id == case_id))
    inbox = session.execute(select(Task.role, Task.unit_id, Task.state)
                            .where(Task.closed_dt.is_(None), Task.case_id == case_id)).all()
    return tuple(row), events, inbox


def _assert_refused_without_writing(session, case, before):
    assert not session.new and not session.dirty, "the refusal came after something was changed"
    session.rollback()
    assert _stored(session, case.id) == before
    assert verify_audit_chain(session, case_ids=[case.id]).ok


def _waiting_party_label(session, case, state):
    return definition_by_hash(session, case.definition_hash).state(state).waits_for.label


def _allowed_party_labels(session, case, trigger, state) -> set[str]:
    """Labels of the parties the definition lets fire ``trigger`` from ``state``."""
    definition = definition_by_hash(session, case.definition_hash)
    return {party.label for spec in definition.transitions if spec.trigger == trigger and state in spec.sources
            for party in definition.parties_for(spec, state)}


# --- Acting without the right grant ---------------------------------------------------------------

DENIED = [
    # (actor, trigger, state the case is in, why)
    ("auditor_city", "approve", "city_review", "auditors never act"),
    ("auditor_A", "approve", "county_review", "auditors never act"),
    ("admin", "approve", "city_review", "admins never act"),
    ("admin", "reject", "public_notice", "admins never act"),
    ("applicant_A1a", "approve", "township_review", "applicants do not review"),
    ("reviewer_A1", "approve", "county_review", "township reviewer on the county stage"),
    ("reviewer_A", "approve", "township_review", "county reviewer on the township stage"),
    ("reviewer_city", "approve", "county_review", "city reviewer on the county stage"),
    ("reviewer_A1a", "approve", "township_review", "grassroots reviewer on the township stage"),
    ("reviewer_A1", "reject", "county_review", "township reviewer rejecting at the county stage"),
    ("reviewer_A", "return", "township_review", "county reviewer returning at the township stage"),
    ("reviewer_A2", "approve", "township_review", "the other township of the same county"),
    ("reviewer_B1", "approve", "township_review", "a township of the other county"),
    ("reviewer_B", "approve", "county_review", "the other county"),
    ("reviewer_B", "return", "county_review", "the other county"),
    ("reviewer_A1_and_A", "approve", "city_review", "two grants, neither at the city"),
    ("applicant_A1b", "submit", "draft", "another grassroots unit's applicant"),
    ("applicant_B1a", "submit", "draft", "another county's applicant"),
    ("applicant_A1b", "withdraw", "draft", "another grassroots unit's applicant"),
    ("applicant_B1a", "withdraw", "township_review", "another county's applicant"),
    ("reviewer_A1", "submit", "draft", "reviewers do not submit"),
]


@pytest.mark.parametrize(("actor", "trigger", "state", "why"), DENIED,
                         ids=[f"{a}-{t}-{s}" for a, t, s, _ in DENIED])
def test_action_without_the_right_grant_is_refused_and_writes_nothing(
        session, world, make_case, actor, trigger, state, why):
    case = make_case("A1a", state)
    before = _stored(session, case.id)
    if not can_view_case(world.actor(actor), case):
        # Outside the case's subtree: told nothing about the case, not even its state.
        with pytest.raises(NotFound) as hidden:
            perform_action(session, world.actor(actor), case, trigger, expected_version=case.version,
                           comment="理由", now=NOW)
        assert hidden.value.message == "案件不存在或您无权查看"
        _assert_refused_without_writing(session, case, before)
        return
    with pytest.raises(PermissionDenied) as refused:
        perform_action(session, world.actor(actor), case, trigger, expected_version=case.version,
                       comment="理由", now=NOW)
    message = refused.value.message
    assert CJK.search(message)
    state_label = definition_by_hash(session, case.definition_hash).state(state).label
    allowed = _allowed_party_labels(session, case, trigger, state)
    assert state_label in message and allowed and all(label in message for label in allowed), message
    _assert_refused_without_writing(session, case, before)


@pytest.mark.parametrize("actor", ["applicant_A1b", "applicant_B1a", "reviewer_A1", "auditor_A"])
def test_only_the_origin_units_applicant_may_edit_the_draft(session, world, make_case, actor):
    case = make_case("A1a", "draft")
    before = _stored(session, case.id)
    expected = PermissionDenied if can_view_case(world.actor(actor), case) else NotFound
    with pytest.raises(expected) as refused:
        update_draft(session, world.actor(actor), case, {"employer": "冒名修改"}, expected_version=case.version, now=NOW)
    if expected is PermissionDenied:
        assert _waiting_party_label(session, case, "draft") in refused.value.message
    _assert_refused_without_writing(session, case, before)


@pytest.mark.parametrize("actor", ["auditor_city", "admin", "applicant_A1b", "reviewer_B", "reviewer_A2"])
def test_only_participants_may_comment(session, world, make_case, actor):
    case = make_case("A1a", "county_review")
    before = _stored(session, case.id)
    expected = PermissionDenied if can_view_case(world.actor(actor), case) else NotFound
    with pytest.raises(expected) as refused:
        comment_on_case(session, world.actor(actor), case, "我有意见", now=NOW)
    assert CJK.search(refused.value.message)
    _assert_refused_without_writing(session, case, before)


@pytest.mark.parametrize(("actor", "origin"), [("reviewer_A1", None), ("auditor_city", None),
                                               ("applicant_A1a", "B1a")])
def test_creating_a_case_needs_an_applicant_grant_at_that_unit(session, world, actor, origin):
    cases_before = session.scalar(select(func.count(Case.id)))
    origin_unit_id = world.unit(origin).id if origin else None
    with pytest.raises(PermissionDenied) as refused:
        create_draft(session, world.actor(actor), "basic_nomination", origin_unit_id=origin_unit_id, form=FORM, now=NOW)
    assert CJK.search(refused.value.message)
    assert session.scalar(select(func.count(Case.id))) == cases_before


# --- Triggers the state does not offer ------------------------------------------------------------

INVALID = [
    ("applicant_A1a", "approve", "draft"),
    ("applicant_A1a", "resubmit", "draft"),
    ("applicant_A1a", "submit", "township_review"),
    ("applicant_A1a", "withdraw", "county_review"),
    ("reviewer_A", "submit", "county_review"),
    ("reviewer_city", "approve", "approved"),
    ("reviewer_city", "reject", "approved"),
    ("reviewer_A1", "frobnicate", "township_review"),
]


@pytest.mark.parametrize(("actor", "trigger", "state"), INVALID, ids=[f"{t}-in-{s}" for _, t, s in INVALID])
def test_trigger_not_offered_in_the_state_is_invalid(session, world, make_case, actor, trigger, state):
    case = make_case("A1a", state)
    before = _stored(session, case.id)
    with pytest.raises(InvalidAction) as refused:
        perform_action(session, world.actor(actor), case, trigger, expected_version=case.version,
                       comment="理由", now=NOW)
    state_label = definition_by_hash(session, case.definition_hash).state(state).label
    assert state_label in refused.value.message
    _assert_refused_without_writing(session, case, before)


def test_editing_a_submitted_case_is_invalid(session, world, make_case):
    case = make_case("A1a", "township_review")
    before = _stored(session, case.id)
    with pytest.raises(InvalidAction) as refused:
        update_draft(session, world.actor("applicant_A1a"), case, {"employer": "改"}, expected_version=case.version,
                     now=NOW)
    assert CJK.search(refused.value.message)
    _assert_refused_without_writing(session, case, before)


# --- Seeing cases ---------------------------------------------------------------------------------

VISIBILITY = [
    ("A1a", "applicant_A1a", True), ("A1a", "applicant_A1b", False), ("A1a", "applicant_B1a", False),
    ("A1a", "reviewer_A1a", True), ("A1a", "reviewer_A1", True), ("A1a", "reviewer_A2", False),
    ("A1a", "reviewer_A", True), ("A1a", "reviewer_B", False), ("A1a", "reviewer_B1", False),
    ("A1a", "reviewer_city", True), ("A1a", "reviewer_A1_and_A", True),
    ("A1a", "auditor_A", True), ("A1a", "auditor_city", True), ("A1a", "admin", True),
    ("B1a", "auditor_A", False), ("B1a", "auditor_city", True), ("B1a", "reviewer_A1_and_A", False),
    ("B1a", "reviewer_B", True), ("B1a", "applicant_A1a", False),
]


@pytest.mark.parametrize(("origin", "actor", "visible"), VISIBILITY,
                         ids=[f"{o}-case-{a}-{'sees' if v else 'hidden'}" for o, a, v in VISIBILITY])
def test_get_case_shows_own_and_subtree_cases_only(session, world, make_case, origin, actor, visible):
    case = make_case(origin, "township_review")
    if visible:
        assert get_case(session, world.actor(actor), case.id) is case
    else:
        with pytest.raises(NotFound) as hidden:
            get_case(session, world.actor(actor), case.id)
        # Indistinguishable from a case that does not exist: no hint that it does.
        with pytest.raises(NotFound) as missing:
            get_case(session, world.actor(actor), case.id + 10_000)
        assert hidden.value.message == missing.value.message
        assert CJK.search(hidden.value.message)


# --- One person, two grants -----------------------------------------------------------------------

def _applicant_at(session, unit, username):
    user = create_user(session, username=username, display_name=username)
    assign_role(session, user, "applicant", unit)
    return load_actor(session, user.id)


def test_two_grants_act_at_both_levels_and_the_trail_records_the_grant_used(session, world, make_case):
    case = make_case("A1a", "township_review")
    person = world.actor("reviewer_A1_and_A")
    offered = {a.trigger: a.grant for a in available_actions(session, person, case, NOW)}
    assert offered["approve"].unit_id == world.unit("A1").id
    township = approve_case(session, person, case, expected_version=case.version, comment="街道同意", now=NOW)
    offered = {a.trigger: a.grant for a in available_actions(session, person, case, NOW)}
    assert offered["approve"].unit_id == world.unit("A").id
    county = approve_case(session, person, case, expected_version=case.version, comment="区里同意", now=NOW)
    session.commit()
    assert case.state == "city_review"
    a1, a = world.unit("A1"), world.unit("A")
    assert (township.actor_role, township.actor_unit_id, township.actor_unit_name) == ("reviewer", a1.id, a1.name)
    assert (county.actor_role, county.actor_unit_id, county.actor_unit_name) == ("reviewer", a.id, a.name)
    assert township.actor_id == county.actor_id == world.users["reviewer_A1_and_A"].id
    assert verify_audit_chain(session, case_ids=[case.id]).ok


def test_two_grants_do_not_reach_the_other_township(session, world):
    """In township A2 the same person is only the county reviewer."""
    applicant = _applicant_at(session, world.unit("A2a"), "applicant_A2a")
    person = world.actor("reviewer_A1_and_A")
    case = create_draft(session, applicant, "basic_nomination", form=FORM, now=NOW)
    submit_case(session, applicant, case, expected_version=case.version, now=NOW)
    session.commit()
    with pytest.raises(PermissionDenied):
        approve_case(session, person, case, expected_version=case.version, now=NOW)
    session.rollback()
    approve_case(session, world.actor("reviewer_A2"), case, expected_version=case.version, now=NOW)
    event = approve_case(session, person, case, expected_version=case.version, now=NOW)
    assert (event.from_state, event.actor_unit_id) == ("county_review", world.unit("A").id)


# --- Subtree query --------------------------------------------------------------------------------

def _sibling_with_prefixed_id(session, world):
    """A county whose id starts with county A's id ("/1/2/" and "/1/20/"): a naive
    prefix match on the path would count its cases as A's."""
    county_a, city = world.unit("A"), world.unit("city")
    unit_id = next(i for i in range(county_a.id * 10, county_a.id * 10 + 10) if session.get(OrgUnit, i) is None)
    county = OrgUnit(id=unit_id, name="A0区总工会", level="county", kind="federation", parent=city,
                     path=f"{city.path}{unit_id}/")
    session.add(county)
    session.flush()
    township = create_org_unit(session, name="A01街道总工会", level="township", parent=county, kind="federation")
    return create_org_unit(session, name="A01a公司工会", level="grassroots", parent=township)


def _ancestors(session, unit) -> set[int]:
    """Unit ids from ``unit`` up to the root, following parent_id (not the paths under test)."""
    found = set()
    while unit is not None:
        found.add(unit.id)
        unit = session.get(OrgUnit, unit.parent_id) if unit.parent_id else None
    return found


def test_cases_under_returns_exactly_the_subtree(session, world):
    world.units["A01a"] = _sibling_with_prefixed_id(session, world)
    applicants = {name: world.actor(APPLICANT[name]) for name in APPLICANT}
    applicants["A2a"] = _applicant_at(session, world.unit("A2a"), "applicant_A2a")
    applicants["A01a"] = _applicant_at(session, world.unit("A01a"), "applicant_A01a")
    origin_of = {}
    for name, applicant in applicants.items():
        for _ in range(2):
            case = create_draft(session, applicant, "basic_nomination", form=FORM, now=NOW)
            origin_of[case.id] = world.unit(name)
    session.flush()
    for unit in world.units.values():
        expected = {case_id for case_id, origin in origin_of.items() if unit.id in _ancestors(session, origin)}
        found = set(session.scalars(select(Case.id).where(cases_under(unit).whereclause)))
        assert found == expected, unit.name
    under_a = session.scalars(select(Case.id).where(cases_under(world.unit("A")).whereclause))
    assert {origin_of[case_id].name for case_id in under_a} == {"A1a公司工会", "A1b公司工会", "A2a公司工会"}
    # And visibility agrees with the query: county A's reviewer sees none of A0's cases.
    for case_id, origin in origin_of.items():
        if origin is world.unit("A01a"):
            with pytest.raises(NotFound):
                get_case(session, world.actor("reviewer_A"), case_id)


def test_cases_under_uses_the_origin_path_index(session, world, backend):
    statement = cases_under(world.unit("A"))
    sql = str(statement.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}))
    if backend == "postgresql":
        # Few rows make a sequential scan the cheapest plan; forbid it to see whether the index can serve.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(session.scalars(text(f"EXPLAIN {sql}")))
        assert "ix_cases_origin_path" in plan and "Seq Scan" not in plan, plan
    else:
        plan = "\n".join(row[-1] for row in session.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
        assert "USING INDEX ix_cases_origin_path" in plan, plan
