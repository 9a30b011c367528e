"""Batch actions: one trigger on many cases, each decided on its own."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.audit.chain import AuditEvent
from engine.cases.case import Case
from tests.api_v1.conftest import error_of
from tests.api_v1.test_cases import act, submitted, written


def stored_state(session, case) -> tuple[str, int]:
    return session.execute(select(Case.state, Case.version).where(Case.id == case.id)
                           .execution_options(populate_existing=True)).one()


def test_mixed_results_each_case_on_its_own(api, session, world):
    """One stale, one not permitted, two fine: the two move and stay moved; the two errors
    are the ones the single action would have given."""
    stale, fine_1, fine_2 = (submitted(session, world) for _ in range(3))
    county_stage = act(session, world, submitted(session, world, applicant="applicant_A1b"), ("reviewer_A1", "approve"))
    refs = [{"id": stale.id, "version": stale.version - 1}, {"id": county_stage.id, "version": county_stage.version},
            {"id": fine_1.id, "version": fine_1.version}, {"id": fine_2.id, "version": fine_2.version}]
    before = {case.id: stored_state(session, case) for case in (stale, county_stage)}
    response = api("reviewer_A1").post("batch-actions", json={"trigger": "approve", "comment": "同意", "cases": refs})
    assert response.status_code == 200, response.get_json()
    results = response.get_json()["results"]
    assert [(r["case_id"], r["ok"], r["status"]) for r in results] == [
        (stale.id, False, 409), (county_stage.id, False, 403), (fine_1.id, True, 200), (fine_2.id, True, 200)]
    assert results[0]["error"]["code"] == "conflict" and results[0]["error"]["current_version"] == stale.version
    assert results[1]["error"]["code"] == "permission_denied" and results[1]["error"]["fields"] == {}
    for result, case in zip(results[2:], (fine_1, fine_2)):
        assert (result["state"], result["version"]) == stored_state(session, case) == ("county_review", result["version"])
        events = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id)).all()
        assert (events[-1].action, events[-1].comment, events[-1].actor_name) == ("approve", "同意", "reviewer_A1")
    assert {case.id: stored_state(session, case) for case in (stale, county_stage)} == before


def test_a_case_out_of_sight_is_not_found_and_the_others_go_ahead(api, session, world):
    mine, theirs = submitted(session, world), submitted(session, world, applicant="applicant_B1a")
    response = api("reviewer_A1").post("batch-actions", json={"trigger": "approve", "cases": [
        {"id": theirs.id, "version": theirs.version}, {"id": mine.id, "version": mine.version}, {"id": 999999, "version": 1}]})
    results = response.get_json()["results"]
    assert [(r["ok"], r["status"]) for r in results] == [(False, 404), (True, 200), (False, 404)]
    assert results[0]["error"] == results[2]["error"]  # an invisible case and a missing one read alike
    assert stored_state(session, theirs)[0] == "township_review"


def test_an_auditor_is_refused_on_every_case(api, session, world):
    cases = [submitted(session, world) for _ in range(2)]
    before = written(session)
    response = api("auditor_city").post("batch-actions", json={
        "trigger": "approve", "cases": [{"id": c.id, "version": c.version} for c in cases]})
    assert [r["status"] for r in response.get_json()["results"]] == [403, 403]
    assert written(session) == before


def test_a_required_comment_is_asked_of_each_case(api, session, world):
    case = submitted(session, world)
    response = api("reviewer_A1").post("batch-actions", json={
        "trigger": "return", "cases": [{"id": case.id, "version": case.version}]})
    (result,) = response.get_json()["results"]
    assert result["status"] == 422 and result["error"]["fields"] == {"comment": ["请填写意见或理由"]}


@pytest.mark.parametrize("body, field", [
    ({"trigger": "approve", "cases": []}, "cases"),
    ({"trigger": "approve", "cases": "dup"}, "cases"),
    ({"trigger": "approve", "cases": [{"id": 1, "version": 1}] * 201}, "cases"),
    ({"cases": "one"}, "trigger"),
    ({"trigger": "approve", "cases": [{"id": "x", "version": 1}]}, "cases.0.id"),
    ({"trigger": "approve", "cases": [{"id": 1}]}, "cases.0.version"),
    ({"trigger": "approve", "cases": [{"id": 1, "version": 1, "note": "x"}]}, "cases.0.note"),
    ({"trigger": "approve", "cases": "one", "priority": 1}, "priority"),
])
def test_bad_batches_are_refused_whole(api, session, world, body, field):
    case = submitted(session, world)
    if body.get("cases") == "dup":
        body["cases"] = [{"id": case.id, "version": case.version}] * 2
    elif body.get("cases") == "one":
        body["cases"] = [{"id": case.id, "version": case.version}]
    before = written(session)
    response = api("reviewer_A1").post("batch-actions", json=body)
    assert response.status_code == 422, response.get_json()
    assert field in error_of(response)["fields"], error_of(response)
    assert written(session) == before and stored_state(session, case)[0] == "township_review"
