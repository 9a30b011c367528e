"""Copies (抄送): who may copy a waiting case to whom, what a copy gives (a read, masked; never the
right to act), copying twice, and the copies a definition makes on a transition (copy_to)."""
from __future__ import annotations

import copy

import pytest
from sqlalchemy import delete, select

from engine.audit.chain import case_events
from engine.base.errors import DefinitionError, InvalidAction, NotFound, PermissionDenied, ValidationFailed
from engine.cases.copies import CaseCopy, copies_of, copies_page, copy_candidates, mark_case_copy_read, mark_copy_read
from engine.cases.permissions import get_case
from engine.definitions.parse import parse_definition
from engine.definitions.spec import Party
from engine.notify.notifications import Notification
from engine.operations.copying import NOT_A_CANDIDATE, copy_case
from engine.operations.holding import claim_task
from engine.operations.transitions import approve_case, create_draft, submit_case
from engine.org.units import RoleAssignment, load_actor
from engine.reading.case_views import case_view
from tests.conftest import NOW
from tests.test_definitions import HONOURS_DOC, dump
from tests.test_honours import honours  # noqa: F401 - the fixture
from tests.test_smoke_basic_nomination import FORM

ID_NUMBER = "11010519491231002X"


def submitted(session, world):
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "basic_nomination", form=FORM | {"id_number": ID_NUMBER}, now=NOW)
    submit_case(session, applicant, case, expected_version=case.version, now=NOW)
    return case


def copy_to(session, world, case, by="reviewer_A1", to=("auditor_A",), note="请知悉", now=NOW):
    return copy_case(session, world.actor(by), case, user_ids=[world.users[name].id for name in to], note=note,
                     expected_version=case.version, now=now)


def test_the_decider_copies_named_people_with_a_note(session, world):
    case = submitted(session, world)
    event = copy_to(session, world, case, to=("auditor_A", "reviewer_city"))
    assert event.action == "copy" and event.details["note"] == "请知悉"
    assert event.details["copies"] == [{"id": world.users["auditor_A"].id, "name": "auditor_A"},
                                       {"id": world.users["reviewer_city"].id, "name": "reviewer_city"}]
    assert event.comment is None  # the note is for the people copied, not the applicant's trail
    assert [(p.name, p.copied_by_name, p.read) for p in copies_of(session, case.id)] == [
        ("auditor_A", "reviewer_A1", False), ("reviewer_city", "reviewer_A1", False)]
    [entry] = copies_page(session, world.actor("auditor_A"))
    assert (entry.case_id, entry.copied_by_name, entry.note, entry.read) == (case.id, "reviewer_A1", "请知悉", False)
    assert entry.state_label == "镇（街道）总工会审核"


def test_who_may_be_copied_is_the_chains_reviewers_and_auditors(session, world):
    case = submitted(session, world)
    names = {name for _, name in copy_candidates(session, case, besides=world.users["reviewer_A1"].id)}
    assert names == {"reviewer_A1a", "reviewer_A1_and_A", "reviewer_A", "reviewer_city", "auditor_A", "auditor_city"}


def test_only_the_decider_may_copy(session, world):
    case = submitted(session, world)
    with pytest.raises(NotFound):  # another township's reviewer does not see the case at all
        copy_to(session, world, case, by="reviewer_B1")
    with pytest.raises(PermissionDenied):  # the county's reviewer: the case does not wait for him yet
        copy_to(session, world, case, by="reviewer_A")
    with pytest.raises(PermissionDenied):  # auditors never decide
        copy_to(session, world, case, by="auditor_A", to=("reviewer_city",))
    claim_task(session, world.actor("reviewer_A1"), case, expected_version=case.version, now=NOW)
    with pytest.raises(PermissionDenied):  # once claimed, the holder copies, not his colleague
        copy_to(session, world, case, by="reviewer_A1_and_A")
    copy_to(session, world, case, by="reviewer_A1")
    draft = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
    with pytest.raises(InvalidAction):  # a draft waits for no reviewer
        copy_to(session, world, draft, by="reviewer_A1")


def test_everything_wrong_is_said_at_once_on_its_field(session, world):
    case = submitted(session, world)
    with pytest.raises(ValidationFailed) as refused:
        copy_to(session, world, case, to=(), note="很长" * 300)
    assert refused.value.fields == {"user_ids": ["请选择抄送对象"], "note": ["抄送说明不能超过 500 个字"]}
    with pytest.raises(ValidationFailed) as refused:  # county B is not in the case's chain
        copy_to(session, world, case, to=("auditor_A", "reviewer_B"))
    assert refused.value.fields == {"user_ids": [NOT_A_CANDIDATE]}
    with pytest.raises(ValidationFailed) as refused:  # nor is the applicant, nor the decider himself
        copy_to(session, world, case, to=("applicant_A1a",))
    assert "user_ids" in refused.value.fields
    assert session.scalars(select(CaseCopy)).all() == []


def test_a_copied_person_reads_the_case_masked_and_cannot_act(session, world):
    case = submitted(session, world)
    copy_to(session, world, case, to=("auditor_A",))
    auditor = world.actor("auditor_A")
    view = case_view(session, auditor, get_case(session, auditor, case.id))
    assert view["form"]["id_number"] != ID_NUMBER and view["available_actions"] == []
    with pytest.raises(PermissionDenied):
        approve_case(session, auditor, case, expected_version=case.version, now=NOW)
    # Someone copied who has since lost his role still opens the copy, masked, and may do nothing.
    county = world.users["reviewer_A"]
    copy_to(session, world, case, to=("reviewer_A",))
    session.execute(delete(RoleAssignment).where(RoleAssignment.user_id == county.id))
    session.expire_all()
    former = load_actor(session, county.id)
    view = case_view(session, former, get_case(session, former, case.id))
    assert view["form"]["id_number"] != ID_NUMBER and view["available_actions"] == []
    with pytest.raises(NotFound):
        approve_case(session, former, case, expected_version=case.version, now=NOW)
    with pytest.raises(NotFound):  # no copy, no grant: nothing to read
        get_case(session, former, submitted(session, world).id)


def test_copying_twice_keeps_one_row_refreshed_and_unread(session, world):
    case = submitted(session, world)
    copy_to(session, world, case, to=("auditor_A",), note="第一次")
    auditor = world.actor("auditor_A")
    [entry] = copies_page(session, auditor)
    mark_copy_read(session, auditor, entry.id, NOW)
    assert copies_page(session, auditor)[0].read
    copy_to(session, world, case, to=("auditor_A",), note="第二次")
    [entry] = copies_page(session, auditor)
    assert (entry.note, entry.read) == ("第二次", False)
    mark_case_copy_read(session, auditor, case.id, NOW)  # opening the case reads the copy
    assert copies_page(session, auditor, unread_only=True) == []
    with pytest.raises(NotFound):  # one's own copies only
        mark_copy_read(session, world.actor("auditor_city"), entry.id, NOW)


def test_the_people_copied_are_told_after_the_commit(session, world):
    case = submitted(session, world)
    copy_to(session, world, case, to=("auditor_A", "reviewer_city"))
    assert session.scalars(select(Notification).where(Notification.kind == "copied")).all() == []
    session.commit()
    told = session.scalars(select(Notification).where(Notification.kind == "copied")).all()
    assert sorted(n.user_id for n in told) == sorted([world.users["auditor_A"].id, world.users["reviewer_city"].id])
    assert told[0].subject == f"【抄送】{case.title}"
    assert "reviewer_A1（A1街道总工会）将" in told[0].body and "抄送说明：请知悉" in told[0].body
    assert f"（编号 {case.id}）" in told[0].body


def test_a_definition_copies_on_final_approval(session, world, honours):
    case = honours.awarded()
    event = case_events(session, case.id)[-1]
    county = {world.users["reviewer_A"].id, world.users["reviewer_A1_and_A"].id}
    assert {person["id"] for person in event.details["copies"]} == county
    assert [e.action for e in case_events(session, case.id)].count("copy") == 0  # no event of its own
    rows = session.scalars(select(CaseCopy).where(CaseCopy.case_id == case.id)).all()
    assert {row.user_id for row in rows} == county
    assert {(row.copied_by_id, row.reason, row.event_id) for row in rows} == {(None, "批准授予", event.id)}
    session.commit()
    told = session.scalars(select(Notification).where(Notification.kind == "copied")).all()
    assert {n.user_id for n in told} == county and "按流程抄送给您" in told[0].body


@pytest.mark.parametrize(("where", "parties", "word"), [
    ("states[2].copy_to", ["applicant@origin"], "cannot copy to role"),
    ("transitions[3].copy_to", ["reviewer@province"], "unknown level"),
    ("transitions[3].copy_to", [], "at least one"),
])
def test_a_bad_copy_to_is_a_definition_error_naming_the_field(where, parties, word):
    document = copy.deepcopy(HONOURS_DOC)
    kind, index = where.split(".")[0].split("[")
    document[kind][int(index.rstrip("]"))]["copy_to"] = parties
    with pytest.raises(DefinitionError) as caught:
        parse_definition(dump(document), "basic_nomination.yaml")
    assert any(problem.startswith(f"{where}") and word in problem for problem in caught.value.problems), \
        caught.value.problems


def test_copy_to_parses_on_states_and_transitions():
    document = copy.deepcopy(HONOURS_DOC)
    document["states"][2]["copy_to"] = ["auditor@county", "auditor@county"]
    document["transitions"][3]["copy_to"] = ["reviewer@city"]
    definition = parse_definition(dump(document), "basic_nomination.yaml")
    assert definition.states[2].copy_to == (Party("auditor", "county"),)
    assert definition.transitions[3].copy_to == (Party("reviewer", "city"),)
    assert all(not t.copy_to for t in parse_definition(dump(HONOURS_DOC), "basic_nomination.yaml").transitions)
