"""Out-of-office delegation (委托/代理): the deputy sees the away person's held tasks as his own, is
told in his place, acts 「代 某某」 (in the audit event too), and it ends by itself."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from engine.audit.system_log import SystemEvent
from engine.base.errors import InvalidAction, NotFound, PermissionDenied, ValidationFailed
from engine.cases.inbox import InboxFilter, inbox_page
from engine.notify.notifications import Notification
from engine.operations.delegating import cancel_delegation, delegate, delegations_for
from engine.operations.holding import claim_task, transfer_task
from engine.operations.transitions import approve_case
from engine.org.units import load_actor
from engine.reading.trail import case_timeline
from tests.conftest import NOW
from tests.test_holding import submitted

TODAY = date(2026, 3, 9)  # NOW's local day


def away(session, world, *, by="reviewer_A1", principal="reviewer_A1", deputy="reviewer_A1_and_A",
         starts_on=TODAY, ends_on=TODAY + timedelta(days=4), **extra):
    return delegate(session, world.actor(by), principal_id=world.users[principal].id,
                    deputy_id=world.users[deputy].id, role="reviewer", unit_id=world.unit("A1").id,
                    starts_on=starts_on, ends_on=ends_on, reason="外出学习", now=NOW, **extra)


def mine(session, actor):
    return [entry.case_id for entry in inbox_page(session, actor, InboxFilter(mine=True), now=NOW)]


def test_the_deputy_holds_the_away_persons_tasks_and_acts_on_his_behalf(session, world):
    case = submitted(session, world)
    claim_task(session, world.actor("reviewer_A1"), case, expected_version=case.version, now=NOW)
    delegation = away(session, world)
    session.commit()
    deputy = load_actor(session, world.users["reviewer_A1_and_A"].id, now=NOW)
    [stand_in] = deputy.stands_in
    assert (stand_in.principal_id, stand_in.role, stand_in.unit_id) == (
        world.users["reviewer_A1"].id, "reviewer", world.unit("A1").id)
    assert mine(session, deputy) == [case.id]
    # Told, and logged in the system log.
    [told] = session.scalars(select(Notification).where(Notification.kind == "delegated")).all()
    assert told.user_id == deputy.user_id and "外出学习" in told.body and "2026-03-09 至 2026-03-13" in told.body
    logged = session.scalars(select(SystemEvent).where(SystemEvent.action == "delegate")).all()
    assert [event.details["delegation_id"] for event in logged] == [delegation.id]

    event = approve_case(session, deputy, case, expected_version=case.version, now=NOW)
    assert event.details["on_behalf_of"] == {"id": world.users["reviewer_A1"].id, "name": "reviewer_A1"}
    entry = [e for e in case_timeline(session, deputy, case) if e["action"] == "approve"][-1]
    assert entry["on_behalf_of"] == "reviewer_A1"


def test_a_deputy_acting_on_the_units_own_task_acts_as_himself(session, world):
    case = submitted(session, world)
    away(session, world)
    deputy = load_actor(session, world.users["reviewer_A1_and_A"].id, now=NOW)
    event = approve_case(session, deputy, case, expected_version=case.version, now=NOW)
    assert "on_behalf_of" not in event.details


def test_it_ends_by_itself_and_can_be_ended_early(session, world):
    case = submitted(session, world)
    claim_task(session, world.actor("reviewer_A1"), case, expected_version=case.version, now=NOW)
    delegation = away(session, world, ends_on=TODAY)
    tomorrow = NOW + timedelta(days=1)
    deputy_id = world.users["reviewer_A1_and_A"].id
    assert load_actor(session, deputy_id, now=tomorrow).stands_in == ()
    assert mine(session, load_actor(session, deputy_id, now=tomorrow)) == []
    cancel_delegation(session, world.actor("reviewer_A1_and_A"), delegation.id, now=NOW)
    assert load_actor(session, deputy_id, now=NOW).stands_in == ()
    with pytest.raises(InvalidAction, match="已结束"):
        cancel_delegation(session, world.actor("reviewer_A1"), delegation.id, now=NOW)
    assert [view.cancelled for view in delegations_for(session, world.actor("reviewer_A1"), now=NOW)] == [True]


def test_what_a_transfer_or_a_reminder_tells_the_away_person_goes_to_his_deputy(session, world):
    case = submitted(session, world)
    holder = world.actor("reviewer_A1_and_A")
    claim_task(session, holder, case, expected_version=case.version, now=NOW)
    away(session, world)  # reviewer_A1 is away; reviewer_A1_and_A stands in
    transfer_task(session, holder, case, to_user_id=world.users["reviewer_A1"].id, reason="请办理",
                  expected_version=case.version, now=NOW)
    session.commit()
    [told] = session.scalars(select(Notification).where(Notification.kind == "transferred")).all()
    assert told.user_id == holder.user_id


def test_an_admin_sets_one_for_someone_absent_and_others_may_not(session, world):
    delegation = away(session, world, by="admin")
    assert delegation.created_by_id == world.users["admin"].id
    cancel_delegation(session, world.actor("admin"), delegation.id, now=NOW)
    with pytest.raises(PermissionDenied):
        away(session, world, by="reviewer_A")
    with pytest.raises(NotFound):
        cancel_delegation(session, world.actor("reviewer_A"), delegation.id, now=NOW)


@pytest.mark.parametrize(("change", "fields"), [
    ({"deputy": "reviewer_A"}, {"deputy_id"}),            # another unit
    ({"deputy": "reviewer_A1"}, {"deputy_id"}),           # himself
    ({"ends_on": TODAY - timedelta(days=1)}, {"ends_on"}),
    ({"starts_on": TODAY + timedelta(days=5), "ends_on": TODAY + timedelta(days=4)}, {"ends_on"}),
    ({"ends_on": TODAY + timedelta(days=400)}, {"ends_on"}),
    ({"starts_on": None, "ends_on": None}, {"starts_on", "ends_on"}),
])
def test_bad_delegations_are_refused_field_by_field(session, world, change, fields):
    with pytest.raises(ValidationFailed) as refused:
        away(session, world, **change)
    assert set(refused.value.fields) == fields


def test_two_delegations_of_one_post_may_not_overlap(session, world):
    away(session, world)
    with pytest.raises(InvalidAction, match="已有委托"):
        away(session, world, starts_on=TODAY + timedelta(days=2), ends_on=TODAY + timedelta(days=8))
    away(session, world, starts_on=TODAY + timedelta(days=5), ends_on=TODAY + timedelta(days=8))
