"""Claim, release, transfer and take over a waiting case's task: 「我的待办」, 「由某某办理」, and a claim
that never strands the case."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from engine.audit.chain import case_events
from engine.base.errors import Conflict, InvalidAction, NotFound, PermissionDenied, ValidationFailed
from engine.cases.case import Case
from engine.cases.holders import CLAIM, RELEASE, TAKE_OVER, TRANSFER, holding_of
from engine.cases.inbox import InboxFilter, inbox_page
from engine.cases.tasks import waiting_task
from engine.notify.notifications import Notification
from engine.operations.holding import claim_task, release_task, take_over_task, transfer_task
from engine.operations.transitions import approve_case, create_draft, submit_case
from engine.org.units import load_actor
from tests.conftest import NOW, build_world
from tests.test_smoke_basic_nomination import FORM


def submitted(session, world):
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "basic_nomination", form=FORM, now=NOW)
    submit_case(session, applicant, case, expected_version=case.version, now=NOW)
    return case


def mine(session, actor) -> list[int]:
    return [entry.case_id for entry in inbox_page(session, actor, InboxFilter(mine=True), now=NOW)]


def test_a_claimed_task_is_the_holders_and_shows_to_colleagues_as_held(session, world):
    case = submitted(session, world)
    holder, colleague = world.actor("reviewer_A1"), world.actor("reviewer_A1_and_A")
    assert holding_of(session, holder, case).offered == (CLAIM,)
    event = claim_task(session, holder, case, expected_version=case.version, now=NOW)
    assert (event.action, event.details["task_id"]) == ("claim", waiting_task(session, case.id).id)
    assert waiting_task(session, case.id).assignee_id == holder.user_id
    assert mine(session, holder) == [case.id] and mine(session, colleague) == []
    [seen] = [entry for entry in inbox_page(session, colleague, InboxFilter(), now=NOW) if entry.case_id == case.id]
    assert (seen.holder_id, seen.holder_name) == (holder.user_id, holder.name)
    assert holding_of(session, holder, case).offered == (RELEASE, TRANSFER)
    assert holding_of(session, colleague, case).offered == (TAKE_OVER,)
    # A claim never strands the case: a colleague of the unit may still decide.
    approve_case(session, colleague, case, expected_version=case.version, now=NOW)
    assert case.state == "county_review" and waiting_task(session, case.id).assignee_id is None
    assert mine(session, holder) == []


def test_release_hands_the_task_back_to_the_unit(session, world):
    case = submitted(session, world)
    holder = world.actor("reviewer_A1")
    claim_task(session, holder, case, expected_version=case.version, now=NOW)
    release_task(session, holder, case, expected_version=case.version, now=NOW)
    assert waiting_task(session, case.id).assignee_id is None
    assert [e.action for e in case_events(session, case.id)][-2:] == ["claim", "release"]


def test_taking_over_is_logged_and_the_former_holder_told(session, world):
    case = submitted(session, world)
    holder, colleague = world.actor("reviewer_A1"), world.actor("reviewer_A1_and_A")
    claim_task(session, holder, case, expected_version=case.version, now=NOW)
    event = take_over_task(session, colleague, case, expected_version=case.version, now=NOW)
    assert event.details["from"] == {"id": holder.user_id, "name": holder.name}
    assert waiting_task(session, case.id).assignee_id == colleague.user_id
    session.commit()  # told after the commit
    [told] = session.scalars(select(Notification).where(Notification.kind == "taken_over")).all()
    assert told.user_id == holder.user_id and colleague.name in told.body


def test_what_is_refused(session, world):
    case = submitted(session, world)
    holder, colleague = world.actor("reviewer_A1"), world.actor("reviewer_A1_and_A")
    with pytest.raises(NotFound):  # another township's reviewer does not see the case at all
        claim_task(session, world.actor("reviewer_B1"), case, expected_version=case.version, now=NOW)
    with pytest.raises(PermissionDenied):  # the county's reviewer: not the unit the task waits at
        claim_task(session, world.actor("reviewer_A"), case, expected_version=case.version, now=NOW)
    with pytest.raises(InvalidAction, match="尚未被认领"):
        take_over_task(session, colleague, case, expected_version=case.version, now=NOW)
    with pytest.raises(InvalidAction, match="不是由您认领"):
        release_task(session, holder, case, expected_version=case.version, now=NOW)
    claim_task(session, holder, case, expected_version=case.version, now=NOW)
    with pytest.raises(InvalidAction, match=f"已由{holder.name}认领"):
        claim_task(session, colleague, case, expected_version=case.version, now=NOW)
    with pytest.raises(Conflict):
        release_task(session, holder, case, expected_version=case.version - 1, now=NOW)
    draft = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
    assert holding_of(session, world.actor("applicant_A1a"), draft) is None
    with pytest.raises(InvalidAction, match="不在审核中"):
        claim_task(session, world.actor("applicant_A1a"), draft, expected_version=draft.version, now=NOW)


def test_the_holder_transfers_to_a_named_colleague_who_is_told(session, world):
    case = submitted(session, world)
    holder, colleague = world.actor("reviewer_A1"), world.actor("reviewer_A1_and_A")
    claim_task(session, holder, case, expected_version=case.version, now=NOW)
    holding = holding_of(session, holder, case)
    assert holding.offered == (RELEASE, TRANSFER) and (colleague.user_id, colleague.name) in holding.colleagues
    assert holder.user_id not in dict(holding.colleagues)
    event = transfer_task(session, holder, case, to_user_id=colleague.user_id, reason="下周休假，请代为审核",
                          expected_version=case.version, now=NOW)
    assert (event.action, event.comment, event.details["to"]) == (
        "transfer", "下周休假，请代为审核", {"id": colleague.user_id, "name": colleague.name})
    assert waiting_task(session, case.id).assignee_id == colleague.user_id
    session.commit()  # told after the commit
    [told] = session.scalars(select(Notification).where(Notification.kind == "transferred")).all()
    assert told.user_id == colleague.user_id and "下周休假，请代为审核" in told.body
    assert holding_of(session, holder, case).offered == (TAKE_OVER,)


def test_a_transfer_names_a_colleague_of_the_role_and_gives_a_reason(session, world):
    case = submitted(session, world)
    holder, colleague = world.actor("reviewer_A1"), world.actor("reviewer_A1_and_A")
    with pytest.raises(InvalidAction, match="只有认领了该案件的人可以转交"):
        transfer_task(session, holder, case, to_user_id=colleague.user_id, reason="请办理",
                      expected_version=case.version, now=NOW)
    claim_task(session, holder, case, expected_version=case.version, now=NOW)
    for to_user, reason, fields in ((world.actor("reviewer_A").user_id, "请办理", {"to_user_id"}),
                                    (holder.user_id, "请办理", {"to_user_id"}),
                                    (colleague.user_id, "  ", {"reason"}),
                                    (None, None, {"to_user_id", "reason"})):
        with pytest.raises(ValidationFailed) as refused:
            transfer_task(session, holder, case, to_user_id=to_user, reason=reason, expected_version=case.version,
                          now=NOW)
        assert set(refused.value.fields) == fields
    with pytest.raises(InvalidAction):  # a colleague who does not hold it
        transfer_task(session, colleague, case, to_user_id=holder.user_id, reason="请办理",
                      expected_version=case.version, now=NOW)
    assert waiting_task(session, case.id).assignee_id == holder.user_id


@pytest.mark.postgres_only
def test_two_colleagues_claiming_at_once_one_wins(committed_db):
    factory = committed_db
    with factory() as session:
        world = build_world(session)
        case = submitted(session, world)
        session.commit()
        case_id, version = case.id, case.version
        people = [world.users["reviewer_A1"].id, world.users["reviewer_A1_and_A"].id]
    ready, outcomes = threading.Barrier(2), []

    def claim(user_id):
        with factory() as session:
            actor = load_actor(session, user_id)
            case = session.get(Case, case_id)
            ready.wait()
            try:
                claim_task(session, actor, case, expected_version=version, now=NOW)
                session.commit()
                outcomes.append("claimed")
            except (Conflict, InvalidAction):  # stale version, or the other's claim already seen
                session.rollback()
                outcomes.append("lost")

    threads = [threading.Thread(target=claim, args=(user_id,)) for user_id in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["claimed", "lost"]
    with factory() as session:
        assert waiting_task(session, case_id).assignee_id in people
        assert [e.action for e in case_events(session, case_id)].count("claim") == 1
