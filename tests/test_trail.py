"""What each reader reads of a case's steps (engine.reading.trail.case_timeline), the one rule the
case page and the API's case view both ask: the nominating unit reads every step of its
nomination, but never who objected to it nor which juror voted, nor the reviewers' internal
comments; the reviewers read them all."""
from __future__ import annotations

import json

import pytest

from engine.base.errors import PermissionDenied
from engine.operations.objections import lodge_objection
from engine.procedures.juries import cast_vote
from engine.procedures.notices import case_objections
from engine.reading.trail import case_timeline, readable_audit_trail
from tests.conftest import NOW
from tests.test_honours import OBJECTION, Honours


@pytest.fixture
def objected(session, world):
    honours = Honours(session, world)
    case = honours.at_jury()
    for juror in honours.jurors:
        cast_vote(session, juror, case, "approve", now=NOW)
    honours.act("reviewer_city", case, "pass_jury", comment="评委一致认为事迹突出")
    lodge_objection(session, case.id, OBJECTION, now=NOW)
    return case


def test_the_nominating_unit_reads_that_an_objection_came_from_the_public_and_what_it_says(session, world, objected):
    applicant = world.actor("applicant_A1a")
    timeline = case_timeline(session, applicant, objected)
    objection, referred = timeline[-2:]
    assert (objection["action"], objection["action_label"], objection["actor_name"]) == ("objection", "收到异议", "公众")
    assert (referred["action"], referred["to_state"], referred["actor_name"]) == ("object", "under_investigation", "系统")
    # What the objection says is read from the objections, which withhold who lodged it.
    [read] = case_objections(session, applicant, objected.id)
    assert read["content"] == OBJECTION["content"] and read["objector_name"] is None
    shown = json.dumps(timeline, ensure_ascii=False, default=str)
    for private in (OBJECTION["objector_name"], OBJECTION["contact"], "reviewer_B", "评委一致认为事迹突出"):
        assert private not in shown
    votes = [entry for entry in timeline if entry["action"] == "vote"]
    assert len(votes) == 3 and {entry["actor_name"] for entry in votes} == {None}
    assert {(entry["actor_role"], entry["unit_name"]) for entry in votes} == {("juror", "示范市总工会")}
    # The full trail, with each event's details, stays the reviewers' and auditors'.
    with pytest.raises(PermissionDenied):
        readable_audit_trail(session, applicant, objected.id)


def test_the_reviewers_read_the_jurors_and_the_internal_comments(session, world, objected):
    timeline = case_timeline(session, world.actor("reviewer_city"), objected)
    assert {entry["actor_name"] for entry in timeline if entry["action"] == "vote"} == {
        "reviewer_city", "reviewer_A", "reviewer_B"}
    assert any(entry["comment"] == "评委一致认为事迹突出" for entry in timeline)
