"""Sending a case back to a review level it has passed (退回重审): the reason is required, only the
level the case waits for may do it, and once the earlier level passes it again the case comes
straight back, without the levels in between."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.audit.chain import case_events
from engine.base.errors import PermissionDenied, ValidationFailed
from engine.cases.integrity import verify_audit_chain
from engine.cases.machines import available_actions
from engine.cases.tasks import ACTED, STAGE, Task, waiting_task
from engine.notify.notifications import Notification
from engine.org.units import User
from engine.procedures.rounds import quota_status
from tests.conftest import NOW
from tests.test_honours import Honours

REASON = "推荐材料中的事迹与单位证明不一致，请重新核实"


@pytest.fixture
def honours(session, world):
    return Honours(session, world)


def stage_tasks(session, case) -> list[tuple[str, str | None, int | None]]:
    """(state, how it ended, who closed it) of the case's stage tasks, in order."""
    rows = session.execute(select(Task.state, Task.closed_how, Task.closed_by_id)
                           .where(Task.case_id == case.id, Task.purpose == STAGE).order_by(Task.id)).all()
    return [tuple(row) for row in rows]


def offered(honours, username, case) -> dict[str, tuple[str, str]]:
    actions = available_actions(honours.session, honours.world.actor(username), case, NOW)
    return {action.trigger: (action.dest, action.label) for action in actions}


def test_the_city_sends_back_to_the_township_which_approves_straight_back_to_the_city(honours, session, world):
    case = honours.at_city()
    event = honours.act("reviewer_city", case, "send_back_to_township", comment=REASON)
    assert (case.state, case.sent_back_from) == ("township_review", "city_review")
    assert (event.from_state, event.to_state, event.comment) == ("city_review", "township_review", REASON)
    assert event.details["sent_back_to"] == "township_review" and event.details["label"] == "退回镇（街道）总工会重新审核"
    # The township sees that approving takes the case back to the city, not on to the county.
    assert offered(honours, "reviewer_A1", case)["approve"] == ("city_review", "重新审核通过，直接报回市总工会")
    resumed = honours.act("reviewer_A1", case, "approve")
    assert (case.state, case.sent_back_from) == ("city_review", None)
    assert (resumed.from_state, resumed.to_state) == ("township_review", "city_review")
    assert resumed.details["resumed_to"] == "city_review"
    assert resumed.details["label"] == "重新审核通过，直接报回市总工会"
    assert [e.to_state for e in case_events(session, case.id) if e.to_state][-3:] == \
        ["city_review", "township_review", "city_review"]  # the county was not asked again
    # Back at the city, approving goes on as usual.
    honours.opinions(case)
    assert offered(honours, "reviewer_city", case)["approve"][0] == "jury_vote"
    assert verify_audit_chain(session, [case.id]).ok


def test_the_tasks_follow_the_send_back_and_each_is_closed_as_acted_by_its_level(honours, session, world):
    case = honours.at_city()
    honours.act("reviewer_city", case, "send_back_to_township", comment=REASON)
    task = waiting_task(session, case.id)
    assert (task.state, task.role, task.unit_id) == ("township_review", "reviewer", world.unit("A1").id)
    assert task.due_dt is not None  # the township's own deadline, counted afresh
    honours.act("reviewer_A1", case, "approve")
    assert waiting_task(session, case.id).state == "city_review"
    city, township = world.users["reviewer_city"].id, world.users["reviewer_A1"].id
    assert stage_tasks(session, case)[-3:] == [("city_review", ACTED, city), ("township_review", ACTED, township),
                                               ("city_review", None, None)]


def test_the_city_sends_back_to_the_county_which_approves_back_to_the_city(honours, session):
    case = honours.at_city()
    honours.act("reviewer_city", case, "send_back_to_county", comment=REASON)
    assert case.state == "county_review"
    assert offered(honours, "reviewer_A", case)["approve"] == ("city_review", "重新审核通过，报回市总工会")
    honours.act("reviewer_A", case, "approve")
    assert (case.state, case.sent_back_from) == ("city_review", None)


def test_the_reason_is_required(honours):
    case = honours.at_city()
    for blank in (None, "  "):
        with pytest.raises(ValidationFailed) as caught:
            honours.act("reviewer_city", case, "send_back_to_township", comment=blank)
        assert "comment" in caught.value.fields
    assert case.state == "city_review" and case.sent_back_from is None


@pytest.mark.parametrize("who", ["reviewer_A", "reviewer_A1", "applicant_A1a"])
def test_only_the_level_the_case_waits_for_may_send_it_back(honours, who):
    case = honours.at_city()
    with pytest.raises(PermissionDenied):
        honours.act(who, case, "send_back_to_township", comment=REASON)
    assert "send_back_to_township" not in offered(honours, who, case)
    assert {"send_back_to_township", "send_back_to_county"} <= set(offered(honours, "reviewer_city", case))


def test_a_return_to_the_applicant_meanwhile_keeps_the_way_back_to_the_city(honours, session):
    """The township may itself return the nomination to be corrected; resubmitted, it reaches the
    township again, and approved there it still goes straight back to the city."""
    case = honours.at_city()
    honours.act("reviewer_city", case, "send_back_to_township", comment=REASON)
    honours.act("reviewer_A1", case, "return", comment="请补充单位证明")
    assert (case.state, case.return_state, case.sent_back_from) == ("returned", "township_review", "city_review")
    honours.act("applicant_A1a", case, "resubmit")
    assert case.state == "township_review"
    honours.act("reviewer_A1", case, "approve")
    assert (case.state, case.return_state, case.sent_back_from) == ("city_review", None, None)


def test_a_send_back_from_the_earlier_level_in_turn_goes_up_its_usual_way(honours):
    """Sent back to the county, which sends it on back to the township: the township's approval
    returns it to the county, whose approval goes to the city as usual. No level is skipped."""
    case = honours.at_city()
    honours.act("reviewer_city", case, "send_back_to_county", comment=REASON)
    honours.act("reviewer_A", case, "send_back_to_township", comment="请镇总工会重新核实")
    assert (case.state, case.sent_back_from) == ("township_review", "county_review")
    honours.act("reviewer_A1", case, "approve")
    assert (case.state, case.sent_back_from) == ("county_review", None)
    honours.act("reviewer_A", case, "approve")
    assert case.state == "city_review"


def test_a_second_approval_takes_no_second_place_of_the_quota(honours, session, world):
    case = honours.at_city()
    before = quota_status(session, honours.round, world.unit("A1").id, "labour_medal").used
    honours.act("reviewer_city", case, "send_back_to_township", comment=REASON)
    honours.act("reviewer_A1", case, "approve")
    assert quota_status(session, honours.round, world.unit("A1").id, "labour_medal").used == before == 1


def test_a_rejection_at_the_earlier_level_forgets_the_send_back(honours):
    case = honours.at_city()
    honours.act("reviewer_city", case, "send_back_to_township", comment=REASON)
    honours.act("reviewer_A1", case, "reject", comment="经重新核实，不符合推荐条件")
    assert (case.state, case.sent_back_from) == ("rejected", None)


def test_the_township_reviewers_are_told_after_the_commit(honours, session, world):
    case = honours.at_city()
    session.commit()
    session.query(Notification).delete()
    honours.act("reviewer_city", case, "send_back_to_township", comment=REASON)
    assert session.scalars(select(Notification)).all() == []  # not before the commit
    session.commit()
    told = session.execute(select(User.username, Notification.kind, Notification.subject, Notification.body)
                           .join(User, User.id == Notification.user_id).order_by(User.username)).all()
    assert sorted({(name, kind) for name, kind, _, _ in told}) == [("reviewer_A1", "sent_back"),
                                                                  ("reviewer_A1_and_A", "sent_back")]
    _, _, subject, body = told[0]
    assert subject == f"【退回重审】{case.title}：镇（街道）总工会审核"
    assert "reviewer_city" in body and "「市总工会初审及征求意见」退回「镇（街道）总工会审核」" in body
    assert f"退回理由：{REASON}" in body and "最迟办理日" in body
    assert "直接送回「市总工会初审及征求意见」" in body
