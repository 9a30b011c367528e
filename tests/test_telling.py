"""People told of what concerns them, after the commit: a new task, a return, a decision, an
objection, a transfer; once each, however often the telling runs; caught up when a kick was lost."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.audit.chain import case_events
from engine.base import effects
from engine.base.db import utcnow
from engine.cases.tasks import waiting_task
from engine.notify.notifications import Notification
from engine.operations.holding import claim_task
from engine.operations.objections import lodge_objection
from engine.operations.telling import CATCH_UP_AFTER, PUBLISHED_AS, TellingMark, catch_up_telling, tell_about_events
from engine.operations.transitions import approve_case, reject_case, resubmit_case, return_case
from engine.org.units import User
from engine.worker import _tell_after_commit
from tests.conftest import NOW
from tests.test_competition_results import OBJECTION, on_notice
from tests.test_holding import submitted


def told(session, **filters) -> list[tuple[str, str]]:
    """(username, kind) of every notification, in the order stored."""
    rows = session.execute(
        select(User.username, Notification.kind).join(User, User.id == Notification.user_id)
        .filter_by(**filters).order_by(Notification.id)).all()
    return [tuple(row) for row in rows]


def notification(session, username: str, kind: str) -> Notification:
    return session.scalar(select(Notification).join(User, User.id == Notification.user_id)
                          .where(User.username == username, Notification.kind == kind))


def test_a_submitted_case_is_a_new_task_for_everyone_at_the_unit_and_told_once(session, world):
    case = submitted(session, world)
    assert told(session) == []  # not before the commit
    session.commit()
    assert sorted(told(session)) == [("reviewer_A1", "new_task"), ("reviewer_A1_and_A", "new_task")]
    message = notification(session, "reviewer_A1", "new_task")
    assert message.subject == f"【待办】{case.title}：镇（街道）总工会审核"
    assert f"（编号 {case.id}）已由applicant_A1a（A1a公司工会）送达「镇（街道）总工会审核」" in message.body
    assert "最迟办理日 2026-03-16" in message.body and message.case_id == case.id
    # A redelivered telling, or the catch-up, adds nothing.
    keys = session.scalars(select(Notification.key)).all()
    assert {key.rsplit(":", 1)[0] for key in keys} == {f"event:{case_events(session, case.id)[-1].id}"}
    assert tell_about_events(session, [event.id for event in case_events(session, case.id)], NOW) == 0
    assert len(told(session)) == 2


def test_the_actor_is_not_told_of_his_own_step_and_a_task_already_done_is_not_told(session, world):
    case = submitted(session, world)
    both = world.actor("reviewer_A1_and_A")  # reviewer at township A1 and at county A
    approve_case(session, both, case, expected_version=case.version, now=NOW)
    approve_case(session, both, case, expected_version=case.version, now=NOW)
    session.commit()
    # Township A1 heard nothing: its task was done before the telling came. County A's task too
    # (done by the same person); the city's is open: its reviewers are told.
    assert told(session) == [("reviewer_city", "new_task")]


def test_a_claimed_task_overdue_is_told_to_its_holder_not_the_whole_unit(session, world):
    from tests.test_deadlines import scan
    case = submitted(session, world)
    claim_task(session, world.actor("reviewer_A1"), case, expected_version=case.version, now=NOW)
    session.commit()
    session.query(Notification).delete()
    report = scan(session, waiting_task(session, case.id).next_check_dt)  # the deadline passed
    assert report.escalations == 1
    # reviewer_A1_and_A, his colleague at A1, hears of it only as a reviewer of county A, above.
    assert sorted(told(session)) == [("applicant_A1a", "overdue"), ("reviewer_A", "escalation"),
                                     ("reviewer_A1", "overdue"), ("reviewer_A1_and_A", "escalation")]


def test_a_return_tells_the_applicant_with_the_reason_and_the_resubmission_tells_the_reviewers(session, world):
    case = submitted(session, world)
    session.commit()
    return_case(session, world.actor("reviewer_A1"), case, expected_version=case.version, comment="请补充事迹材料",
                now=NOW)
    session.commit()
    message = notification(session, "applicant_A1a", "returned")
    assert message.subject == f"【退回修改】{case.title}"
    assert "已被reviewer_A1（A1街道总工会）退回，现处于「退回修改」。退回理由：请补充事迹材料。请修改后重新提交。" in message.body
    resubmit_case(session, world.actor("applicant_A1a"), case, expected_version=case.version, now=NOW)
    session.commit()
    assert [kind for _, kind in told(session)].count("new_task") == 4  # twice to both at township A1


def test_a_decision_tells_the_applicant_its_result_and_opinion(session, world):
    case = submitted(session, world)
    for who in ("reviewer_A1", "reviewer_A"):
        approve_case(session, world.actor(who), case, expected_version=case.version, now=NOW)
    reject_case(session, world.actor("reviewer_city"), case, expected_version=case.version, comment="事迹不够突出",
                now=NOW)
    session.commit()
    message = notification(session, "applicant_A1a", "decided")
    assert message.subject == f"【办理结果】{case.title}：未通过"
    assert "已办结，结果为「未通过」（reviewer_city（示范市总工会））。办理意见：事迹不够突出" in message.body


def test_an_objection_tells_the_nominating_unit_and_the_investigating_party(session, world):
    case = on_notice(session, world)
    session.commit()
    session.query(Notification).delete()
    lodge_objection(session, case.id, OBJECTION, now=NOW + timedelta(hours=1))
    session.commit()
    kinds = {kind for _, kind in told(session)}
    assert kinds == {"objection", "new_task"}
    [(applicant, _)] = told(session, kind="objection")
    assert session.scalar(select(User.id).where(User.username == applicant)) == case.applicant_id
    message = notification(session, applicant, "objection")
    assert message.subject == f"【收到异议】{case.title}" and "收到异议，已转入调查核实" in message.body


@pytest.fixture
def lost_kicks():
    """The telling after the commit never happens (a broker down, a process gone)."""
    effects.unsubscribe(PUBLISHED_AS, _tell_after_commit)
    yield
    effects.subscribe(PUBLISHED_AS, _tell_after_commit, gathered=True)


def test_the_catch_up_tells_what_a_lost_kick_did_not_then_moves_on(session, world, lost_kicks):
    session.merge(TellingMark(name=PUBLISHED_AS, event_id=0))
    case = submitted(session, world)
    session.commit()
    assert told(session) == []
    # Too recent: its own kick may still be on the way.
    assert catch_up_telling(session, NOW + CATCH_UP_AFTER - timedelta(seconds=1)) == 0
    assert told(session) == []
    assert catch_up_telling(session, NOW + CATCH_UP_AFTER) == 2  # the creation and the submission
    assert sorted(told(session)) == [("reviewer_A1", "new_task"), ("reviewer_A1_and_A", "new_task")]
    mark = session.get(TellingMark, PUBLISHED_AS)
    assert mark.event_id == max(int(key.split(":")[1]) for key in session.scalars(select(Notification.key)))
    assert catch_up_telling(session, NOW + timedelta(hours=1)) == 0
    assert len(told(session)) == 2
    assert case.state == "township_review"


def test_the_catch_up_starts_after_the_last_event_where_its_mark_went_missing(session, world, lost_kicks):
    submitted(session, world)
    session.commit()
    session.query(TellingMark).delete()
    assert catch_up_telling(session, utcnow()) == 0
    assert told(session) == []
    assert session.get(TellingMark, PUBLISHED_AS) is not None
