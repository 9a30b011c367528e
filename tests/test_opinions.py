"""Added approvers (加签): the decider asks named people for an opinion; each holds a task with a
deadline; the decision waits, naming who has not answered, until all have or the request is
withdrawn; everyone concerned is told."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.audit.chain import case_events
from engine.base.errors import InvalidAction, PermissionDenied, ValidationFailed
from engine.cases.opinions import OPINION, asked_of, askable, pending_opinions
from engine.cases.tasks import Task, waiting_task
from engine.notify.notifications import Notification
from engine.operations.holding import claim_task
from engine.operations.opinions import ask_opinions, give_opinion, withdraw_opinion_request
from engine.operations.transitions import approve_case
from tests.conftest import NOW
from tests.test_deadlines import local, scan
from tests.test_holding import submitted
from tests.test_telling import told


def ask(session, world, case, *people, by="reviewer_A1", note="请就其事迹真实性提出意见"):
    return ask_opinions(session, world.actor(by), case, user_ids=[world.users[name].id for name in people],
                        note=note, expected_version=case.version, now=NOW)


def test_the_decision_waits_for_every_opinion_asked_then_goes_ahead(session, world):
    case = submitted(session, world)
    decider = world.actor("reviewer_A1")
    names = {person[1] for person in askable(session, decider, waiting_task(session, case.id))}
    assert names == {"reviewer_A1_and_A", "reviewer_A", "reviewer_city"}  # his unit and those above
    event = ask(session, world, case, "reviewer_A", "reviewer_city")
    assert event.action == "ask_opinion" and [p["name"] for p in event.details["asked"]] == ["reviewer_A", "reviewer_city"]
    assert case.opinions_pending == 2
    tasks = session.scalars(select(Task).where(Task.case_id == case.id, Task.purpose == OPINION)).all()
    assert {t.assignee_id for t in tasks} == {world.users["reviewer_A"].id, world.users["reviewer_city"].id}
    assert all(t.due_dt == local(2026, 3, 13) for t in tasks)  # three working days (the default)
    assert [a.case_id for a in asked_of(session, world.actor("reviewer_A"))] == [case.id]

    with pytest.raises(InvalidAction, match="尚未答复：reviewer_A、reviewer_city"):
        approve_case(session, decider, case, expected_version=case.version, now=NOW)
    give_opinion(session, world.actor("reviewer_A"), case, opinion="情况属实，同意推荐", now=NOW)
    with pytest.raises(InvalidAction, match="尚未答复：reviewer_city"):
        approve_case(session, decider, case, expected_version=case.version, now=NOW)
    given = give_opinion(session, world.actor("reviewer_city"), case, opinion="同意", now=NOW)
    assert given.details["asked_by"] == {"id": decider.user_id, "name": "reviewer_A1"}
    assert case.opinions_pending == 0 and pending_opinions(session, case.id) == []
    approve_case(session, decider, case, expected_version=case.version, now=NOW)
    assert case.state == "county_review"
    assert [e.action for e in case_events(session, case.id)][-4:] == ["ask_opinion", "opinion", "opinion", "approve"]


def test_everyone_concerned_is_told(session, world):
    case = submitted(session, world)
    session.commit()
    ask(session, world, case, "reviewer_A")
    session.commit()
    [asked] = session.scalars(select(Notification).where(Notification.kind == "opinion_asked")).all()
    assert asked.user_id == world.users["reviewer_A"].id
    assert "reviewer_A1（A1街道总工会）就" in asked.body and "请就其事迹真实性提出意见" in asked.body
    assert "最迟办理日 2026-03-12" in asked.body
    give_opinion(session, world.actor("reviewer_A"), case, opinion="同意推荐", now=NOW)
    session.commit()
    assert ("reviewer_A1", "opinion_given") in told(session)
    given = session.scalar(select(Notification).where(Notification.kind == "opinion_given"))
    assert "同意推荐" in given.body and "均已答复，可以办理" in given.body


def test_withdrawing_the_request_lets_the_decider_go_ahead_and_is_logged(session, world):
    case = submitted(session, world)
    ask(session, world, case, "reviewer_A")
    event = withdraw_opinion_request(session, world.actor("reviewer_A1"), case, expected_version=case.version, now=NOW)
    assert event.details["withdrawn"] == [{"id": world.users["reviewer_A"].id, "name": "reviewer_A"}]
    assert asked_of(session, world.actor("reviewer_A")) == []
    with pytest.raises(InvalidAction, match="已答复"):
        give_opinion(session, world.actor("reviewer_A"), case, opinion="晚了", now=NOW)
    approve_case(session, world.actor("reviewer_A1"), case, expected_version=case.version, now=NOW)


def test_who_may_ask_and_whom(session, world):
    case = submitted(session, world)
    with pytest.raises(PermissionDenied):
        ask(session, world, case, "reviewer_A1", by="reviewer_A")  # the county does not decide here
    claim_task(session, world.actor("reviewer_A1_and_A"), case, expected_version=case.version, now=NOW)
    with pytest.raises(PermissionDenied):
        ask(session, world, case, "reviewer_A")  # claimed by a colleague: the holder asks
    for people, fields in ((["reviewer_B"], {"user_ids"}), ([], {"user_ids"})):
        with pytest.raises(ValidationFailed) as refused:
            ask(session, world, case, *people, by="reviewer_A1_and_A")
        assert set(refused.value.fields) == fields
    with pytest.raises(ValidationFailed) as refused:
        ask(session, world, case, "reviewer_A", by="reviewer_A1_and_A", note="  ")
    assert set(refused.value.fields) == {"note"}


def test_an_unanswered_opinion_is_told_to_its_person_once_when_due(session, world):
    case = submitted(session, world)
    ask(session, world, case, "reviewer_A")
    session.commit()
    report = scan(session, local(2026, 3, 13))
    assert report.reminders == 1
    assert ("reviewer_A", "overdue") in told(session)
    assert scan(session, local(2026, 3, 14)).reminders == 0  # once
