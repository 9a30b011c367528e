"""Consultations (征求意见): the bodies a definition's state must hear from, as tasks with a deadline.

Honours' city review consults the bodies its round lists for the nominee's category; each one is
a task of the city's reviewers until they record the body's reply."""
from __future__ import annotations

import copy
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import select

from engine.base.config import installed_workflows_dir
from engine.base.errors import ConditionFailed, DefinitionError
from engine.calendar.working_days import end_of_working_days
from engine.cases.consultations import CONSULTATION, awaited_bodies
from engine.cases.records import add_record, records_of, void_record
from engine.cases.tasks import ACTED, MOVED_ON, Task
from engine.definitions.parse import parse_definition
from engine.definitions.spec import BODIES_REPLIED, Consultations
from engine.notify.notifications import Notification
from tests.conftest import NOW
from tests.test_deadlines import scan
from tests.test_honours import honours  # noqa: F401 - the fixture

HEAD = "enterprise_head"  # the round consults tax and safety about enterprise heads, discipline about the rest


def consultations(session, case, *, open_only=True) -> list[Task]:
    query = select(Task).where(Task.case_id == case.id, Task.purpose == CONSULTATION).order_by(Task.id)
    if open_only:
        query = query.where(Task.closed_dt.is_(None))
    return list(session.scalars(query))


def reply(honours, case, body, opinion="positive"):
    honours.opinions(case, [body], opinion=opinion)


def test_entering_city_review_asks_each_body_the_round_lists(honours):
    case = honours.at_city(person_category=HEAD)
    tasks = consultations(honours.session, case)
    city = honours.world.unit("city").id
    due = end_of_working_days(honours.session, NOW, 7)
    assert [(t.topic, t.role, t.unit_id, t.assignee_id, t.state, t.due_dt, t.next_check_dt) for t in tasks] == [
        ("tax", "reviewer", city, None, "city_review", due, due),
        ("safety", "reviewer", city, None, "city_review", due, due)]
    assert [b.label for b in awaited_bodies(honours.session, case, case.definition)] == [
        "税务部门", "应急管理（安全生产）部门"]
    other = honours.at_city()
    assert [t.topic for t in consultations(honours.session, other)] == ["discipline"]


def test_the_decision_waits_for_every_reply_naming_the_silent_bodies(honours):
    case = honours.at_city(person_category=HEAD)
    approve = next(t for t in case.definition.transitions
                   if t.trigger == "approve" and "city_review" in t.sources)
    assert approve.conditions[-1] == BODIES_REPLIED  # the engine's condition, added to the `before` triggers
    with pytest.raises(ConditionFailed) as caught:
        honours.act("reviewer_city", case, "approve")
    assert caught.value.message == "尚未收到税务部门、应急管理（安全生产）部门的意见"
    reply(honours, case, "tax")
    [still] = consultations(honours.session, case)
    assert still.topic == "safety"
    closed = [t for t in consultations(honours.session, case, open_only=False) if t.topic == "tax"]
    assert [(t.closed_how, t.closed_by_id, t.next_check_dt) for t in closed] == [
        (ACTED, honours.world.users["reviewer_city"].id, None)]
    reply(honours, case, "safety")
    honours.act("reviewer_city", case, "approve")
    assert case.state == "jury_vote"


def test_a_return_need_not_wait_and_only_the_unheard_are_asked_again(honours):
    case = honours.at_city(person_category=HEAD)
    reply(honours, case, "tax")
    honours.act("reviewer_city", case, "return", comment="请补充事迹材料")
    assert consultations(honours.session, case) == []
    lapsed = [t for t in consultations(honours.session, case, open_only=False) if t.topic == "safety"]
    assert [t.closed_how for t in lapsed] == [MOVED_ON]
    honours.act("applicant_A1a", case, "resubmit")
    assert case.state == "city_review"
    assert [t.topic for t in consultations(honours.session, case)] == ["safety"]


def test_a_reply_recorded_at_county_review_is_not_asked_again(honours):
    case = honours.submitted(person_category=HEAD)
    honours.act("reviewer_A1", case, "approve")
    add_record(honours.session, honours.world.actor("reviewer_A"), case, "background_opinion",
               {"body": "tax", "opinion": "positive", "signer": "刘明", "opinion_date": "2026-03-09"}, now=NOW)
    honours.act("reviewer_A", case, "approve")
    assert [t.topic for t in consultations(honours.session, case)] == ["safety"]


def test_voiding_a_reply_asks_the_body_again(honours):
    case = honours.at_city(person_category=HEAD)
    reply(honours, case, "tax")
    [record] = records_of(honours.session, case, "background_opinion")
    void_record(honours.session, honours.world.actor("reviewer_city"), case, record.id, "录错了部门", now=NOW)
    assert sorted(t.topic for t in consultations(honours.session, case)) == ["safety", "tax"]
    with pytest.raises(ConditionFailed, match="^尚未收到税务部门、应急管理（安全生产）部门的意见$"):
        honours.act("reviewer_city", case, "approve")


def test_a_body_late_to_answer_is_chased_by_the_city_once(honours):
    case = honours.at_city()
    [task] = consultations(honours.session, case)
    honours.session.commit()
    scan(honours.session, task.due_dt + timedelta(minutes=1))
    scan(honours.session, task.due_dt + timedelta(days=3))
    told = honours.session.scalars(select(Notification).where(
        Notification.case_id == case.id, Notification.subject.like("【征求意见逾期】%"))).all()
    assert {n.user_id for n in told} == {honours.world.users["reviewer_city"].id}
    assert len(told) == 1 and "纪检监察机关尚未回复" in told[0].subject


# --- The definition ---------------------------------------------------------------------------------

def honours_document() -> dict:
    return yaml.safe_load((installed_workflows_dir() / "honours.yaml").read_text(encoding="utf-8"))


def city_review(document: dict) -> dict:
    return next(state for state in document["states"] if state["id"] == "city_review")


def test_honours_city_review_consults_by_rule():
    definition = parse_definition(yaml.safe_dump(honours_document(), allow_unicode=True), "honours.yaml")
    assert definition.state("city_review").consultations == Consultations(
        record="background_opinion", before=("approve",), bodies_from="honours_background_bodies", working_days=7)


@pytest.mark.parametrize(("change", "word"), [
    ({"record": "no_such_record"}, 'unknown record type "no_such_record"'),
    ({"before": ["pass_jury"]}, 'no transition "pass_jury" leaves "city_review"'),
    ({"bodies": ["tax"]}, "one of the two"),
    ({"bodies_from": "no_such_rule"}, 'unknown consultation rule "no_such_rule"'),
    ({"bodies_from": None, "bodies": ["tax", "police"]}, '"police" is no choice of background_opinion.body'),
    ({"working_days": 0}, "1 to 250 working days"),
])
def test_a_bad_consultation_is_a_definition_error_naming_the_field(change, word):
    document = copy.deepcopy(honours_document())
    consulting = city_review(document)["consultations"]
    consulting.update(change)
    for key in [key for key, value in consulting.items() if value is None]:
        del consulting[key]
    with pytest.raises(DefinitionError) as caught:
        parse_definition(yaml.safe_dump(document, allow_unicode=True), "honours.yaml")
    assert any("consultations" in problem and word in problem for problem in caught.value.problems), \
        caught.value.problems


def test_the_waiting_party_must_be_able_to_record_the_replies():
    document = honours_document()
    [opinion] = [record for record in document["records"] if record["type"] == "background_opinion"]
    opinion["by"] = ["reviewer@county"]
    with pytest.raises(DefinitionError) as caught:
        parse_definition(yaml.safe_dump(document, allow_unicode=True), "honours.yaml")
    assert any(problem.startswith("states[4].consultations.record: reviewer@city must be able to add")
               for problem in caught.value.problems), caught.value.problems
