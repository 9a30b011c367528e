"""The engine's read functions the faces ask instead of querying the tables themselves: case
versions, due times and titles of a page of cases, the batch's common actions, unit names,
a round's jury, the jury's progress on the case page, and which transitions draw on a quota."""
from __future__ import annotations

import pytest

from engine.cases.case import case_versions, cases_with_ids
from engine.cases.inbox import BatchChoice, batch_choices, inbox_titles
from engine.cases.machines import available_actions
from engine.cases.tasks import due_of, dues_of
from engine.definitions.store import current_definition
from engine.operations.transitions import approve_case, create_draft, perform_action, submit_case
from engine.org.units import OrgUnit, unit_names
from engine.procedures.juries import jury_of_case, jury_progress_for, round_jury
from engine.procedures.rounds import draws_on_quota
from tests.conftest import NOW
from tests.test_honours import Honours

FORM = {"award_type": "labour_medal", "nominee_name": "孙八", "employer": "A1a公司", "ownership": "public",
        "merits_summary": "节能降耗显著"}


def draft(session, world, applicant="applicant_A1a", **form):
    return create_draft(session, world.actor(applicant), "basic_nomination", form=FORM | form, now=NOW)


def submitted(session, world, applicant="applicant_A1a", **form):
    case = draft(session, world, applicant, **form)
    submit_case(session, world.actor(applicant), case, expected_version=case.version, now=NOW)
    return case


# --- Cases and their open tasks -------------------------------------------------------------------

def test_case_versions_gives_each_case_its_version_and_definition_version(session, world):
    first, second = submitted(session, world), draft(session, world)
    assert case_versions(session, [first.id, second.id]) == {
        first.id: (first.version, first.definition_hash), second.id: (second.version, second.definition_hash)}
    assert case_versions(session, []) == {}


def test_cases_with_ids_loads_just_those_cases(session, world):
    first, _second, third = (draft(session, world) for _ in range(3))
    assert sorted(case.id for case in cases_with_ids(session, [first.id, third.id])) == [first.id, third.id]
    assert cases_with_ids(session, []) == []


def test_dues_of_is_due_of_for_many_cases_that_wait(session, world):
    reviewed, drafted, withdrawn = submitted(session, world), draft(session, world), draft(session, world)
    perform_action(session, world.actor("applicant_A1a"), withdrawn, "withdraw", expected_version=withdrawn.version,
                   now=NOW)
    dues = dues_of(session, [reviewed.id, drafted.id, withdrawn.id])
    assert dues == {reviewed.id: due_of(session, reviewed), drafted.id: None}  # a draft waits with no deadline
    assert dues[reviewed.id] is not None
    assert dues_of(session, []) == {}


def test_inbox_titles_names_only_the_cases_waiting_in_the_readers_own_inbox(session, world):
    mine = submitted(session, world, nominee_name="甲")
    elsewhere = submitted(session, world, applicant="applicant_B1a", nominee_name="乙")
    ids = [mine.id, elsewhere.id]
    assert inbox_titles(session, world.actor("reviewer_A1"), ids) == {mine.id: mine.title}
    assert inbox_titles(session, world.actor("reviewer_B1"), ids) == {elsewhere.id: elsewhere.title}
    assert inbox_titles(session, world.actor("reviewer_A"), ids) == {}  # waiting at the township, not the county
    assert inbox_titles(session, world.actor("reviewer_A1"), ids, "applicant") == {}
    assert inbox_titles(session, world.actor("reviewer_A1"), []) == {}


# --- The batch's choices --------------------------------------------------------------------------

def test_batch_choices_of_one_stage_are_its_actions_without_input_fields(session, world):
    reviewer = world.actor("reviewer_A1")
    cases = [submitted(session, world) for _ in range(2)]
    waiting = {case.id: (case.definition_hash, case.state) for case in cases}
    offered = [action for action in available_actions(session, reviewer, cases[0], NOW) if not action.inputs]
    assert batch_choices(session, reviewer, waiting, NOW) == [
        BatchChoice(action.trigger, (action.label,), action.comment_required) for action in offered]


def test_batch_choices_of_two_stages_are_the_common_triggers_with_each_stages_label(session, world):
    reviewer = world.actor("reviewer_A1_and_A")
    at_township = submitted(session, world)
    at_county = submitted(session, world)
    approve_case(session, world.actor("reviewer_A1"), at_county, expected_version=at_county.version, now=NOW)
    waiting = {case.id: (case.definition_hash, case.state) for case in (at_township, at_county)}
    choices = {choice.trigger: choice for choice in batch_choices(session, reviewer, waiting, NOW)}
    # In the order the database returns the sampled cases: the page never sorted them.
    assert sorted(choices["approve"].labels) == sorted(("审核通过，报县（区）总工会", "审核通过，报市总工会"))
    assert batch_choices(session, reviewer, {}, NOW) == []


# --- Units ----------------------------------------------------------------------------------------

def test_unit_names_names_every_unit(session, world):
    names = unit_names(session)
    assert names[world.unit("city").id] == "示范市总工会" and names[world.unit("B1a").id] == "B1a公司工会"
    assert len(names) == session.query(OrgUnit).count()


# --- Rounds and juries ----------------------------------------------------------------------------

def test_round_jury_is_the_jury_and_its_members_by_user_id(session, world):
    honours = Honours(session, world)
    jury, members = round_jury(session, honours.round.id)
    assert jury.id == honours.jury.id
    assert [user.username for user in members] == sorted(
        ["reviewer_city", "reviewer_A", "reviewer_B"], key=lambda name: world.users[name].id)


def test_round_jury_of_a_round_without_one_is_none_and_nobody(session, world):
    honours = Honours(session, world)
    session.delete(honours.jury)
    session.flush()
    assert round_jury(session, honours.round.id) == (None, [])


def test_jury_progress_is_for_the_cases_reviewers_and_auditors_only(session, world):
    honours = Honours(session, world)
    case = honours.at_jury()
    for reader in ("reviewer_city", "auditor_city", "reviewer_A1"):
        progress = jury_progress_for(session, world.actor(reader), case)
        assert progress == jury_of_case(session, world.actor(reader), case.id)
    assert jury_progress_for(session, world.actor("applicant_A1a"), case) is None
    without_round = submitted(session, world)
    assert jury_progress_for(session, world.actor("reviewer_A1"), without_round) is None


def test_jury_progress_of_a_round_without_a_jury_is_none(session, world):
    honours = Honours(session, world)
    case = honours.submitted()
    session.delete(honours.jury)
    session.flush()
    assert jury_progress_for(session, world.actor("reviewer_A1"), case) is None


@pytest.mark.parametrize("kind, trigger, source, draws", [
    ("honours", "approve", "township_review", True),
    ("honours", "approve", "county_review", True),
    ("honours", "submit", "draft", False),
    ("basic_nomination", "approve", "township_review", False),
])
def test_draws_on_quota_names_the_transitions_that_cite_the_quota_rule_or_action(session, kind, trigger, source,
                                                                                   draws):
    definition = current_definition(session, kind)
    [spec] = [spec for spec in definition.transitions if spec.trigger == trigger and source in spec.sources]
    assert draws_on_quota(spec) is draws
