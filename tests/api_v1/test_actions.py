"""Actions on one case (POST /cases/{id}/actions/{trigger}) and joint actions (all or none)."""
from __future__ import annotations

import pytest

from engine.cases.case import Case
from engine.operations.transitions import comment_on_case
from tests.api_v1.conftest import error_of
from tests.api_v1.test_cases import FORM, ID_NUMBER, act, nominate, submitted, written
from tests.conftest import NOW


def test_a_script_takes_a_case_from_draft_to_final_approval_through_the_api(api, session):
    applicant = api("applicant_A1a")
    view = applicant.post("cases", json={"kind": "basic_nomination", "form": {"nominee_name": "张三"}}).get_json()
    view = applicant.patch(f"cases/{view['id']}", json={"version": view["version"], "form": FORM}).get_json()
    steps = [(applicant, "submit", "township_review"), (api("reviewer_A1"), "approve", "county_review"),
             (api("reviewer_A"), "approve", "city_review"), (api("reviewer_city"), "approve", "public_notice"),
             (api("reviewer_city"), "approve", "approved")]
    for client, trigger, state in steps:
        response = client.post(f"cases/{view['id']}/actions/{trigger}", json={"version": view["version"]})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        view = body["case"]
        assert (view["state"], body["event"]["action"], body["event"]["to_state"]) == (state, trigger, state)
    assert view["closed_at"].endswith("+08:00") and view["available_actions"] == []
    assert [e["action"] for e in view["timeline"]] == ["create", "update_form", "submit"] + ["approve"] * 4
    assert session.get(Case, view["id"]).state == "approved"


@pytest.mark.parametrize("person, trigger, body, status, code, field", [
    ("reviewer_A1", "approve", "stale", 409, "conflict", None),
    ("reviewer_A1", "promote", "current", 409, "invalid_action", None),
    ("reviewer_A1", "submit", "current", 409, "invalid_action", None),
    ("reviewer_A", "approve", "current", 403, "permission_denied", None),  # the county's turn comes later
    ("auditor_city", "approve", "current", 403, "permission_denied", None),
    ("applicant_A1a", "approve", "current", 403, "permission_denied", None),
    ("reviewer_B", "approve", "current", 404, "not_found", None),
    ("applicant_B1a", "approve", "current", 404, "not_found", None),
    ("reviewer_A1", "return", "current", 422, "validation_failed", "comment"),
    ("reviewer_A1", "approve", {}, 422, "validation_failed", "version"),
    ("reviewer_A1", "approve", {"version": "3"}, 422, "validation_failed", "version"),
    ("reviewer_A1", "approve", {"version": "current", "urgent": True}, 422, "validation_failed", "urgent"),
    ("reviewer_A1", "approve", {"version": "current", "comment": 5}, 422, "validation_failed", "comment"),
    ("reviewer_A1", "approve", {"version": "current", "comment": "长" * 2001}, 422, "validation_failed", "comment"),
    ("reviewer_A1", "approve", {"version": "current", "inputs": {"x": 1}}, 422, "validation_failed", "x"),
])
def test_refused_actions_write_nothing(api, session, world, person, trigger, body, status, code, field):
    case = submitted(session, world)
    if body in ("current", "stale"):
        body = {"version": case.version - (body == "stale")}
    elif body.get("version") == "current":
        body = body | {"version": case.version}
    before = (written(session), case.version, case.state)
    response = api(person).post(f"cases/{case.id}/actions/{trigger}", json=body)
    assert response.status_code == status, response.get_json()
    error = error_of(response)
    assert error["code"] == code
    if field:
        assert field in error["fields"], error
    if status == 409 and code == "conflict":
        assert error["current_version"] == case.version
    session.refresh(case)
    assert (written(session), case.version, case.state) == before


def test_a_county_stage_is_refused_to_the_township(api, session, world):
    case = act(session, world, submitted(session, world), ("reviewer_A1", "approve"))
    response = api("reviewer_A1").post(f"cases/{case.id}/actions/approve", json={"version": case.version})
    assert response.status_code == 403  # they may see the case, so they are told why
    assert "县（区）总工会审核人" in error_of(response)["message"]
    assert api("reviewer_A1").get(f"cases/{case.id}").get_json()["available_actions"] == []


def test_an_incomplete_draft_cannot_be_submitted(api, session, world):
    case = nominate(session, world, form={"nominee_name": "张三"})
    response = api("applicant_A1a").post(f"cases/{case.id}/actions/submit", json={"version": case.version})
    assert response.status_code == 422
    assert set(error_of(response)["fields"]) == {"award_type", "employer", "ownership", "merits_summary"}
    session.refresh(case)
    assert case.state == "draft"


def test_a_refused_rule_is_422_with_its_reasons(api, session, world):
    case = submitted(session, world)
    comment_on_case(session, world.actor("reviewer_A1"), case, "已开始审核", now=NOW)
    session.flush()
    response = api("applicant_A1a").post(f"cases/{case.id}/actions/withdraw", json={"version": case.version})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "condition_failed" and error["reasons"]
    session.refresh(case)
    assert case.state == "township_review"


def test_transition_inputs_are_offered_validated_and_recorded(api, session, world):
    form = {"applicant_name": "李四", "id_number": ID_NUMBER, "amount": "3000"}
    case = act(session, world, nominate(session, world, kind="reviewed_grant", form=form),
               ("applicant_A1a", "submit"), ("reviewer_A1", "approve"))
    county = api("reviewer_A")
    offered = {a["trigger"]: a for a in county.get(f"cases/{case.id}").get_json()["available_actions"]}
    assert [(f["name"], f["type"], f["required"]) for f in offered["approve"]["inputs"]] == [("decision_number", "text", True)]
    assert offered["return"]["comment_required"] is True
    missing = county.post(f"cases/{case.id}/actions/approve", json={"version": case.version, "inputs": {}})
    assert missing.status_code == 422 and "decision_number" in error_of(missing)["fields"]
    done = county.post(f"cases/{case.id}/actions/approve",
                       json={"version": case.version, "inputs": {"decision_number": "A总帮〔2026〕3号"}})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["case"]["outcome"]["decision_number"] == "A总帮〔2026〕3号"


# --- Joint actions --------------------------------------------------------------------------------

def test_a_joint_action_moves_all_the_cases(api, session, world):
    cases = [submitted(session, world), submitted(session, world, applicant="applicant_A1b")]
    response = api("reviewer_A1").post("joint-actions", json={
        "trigger": "approve", "comment": "一并上报", "cases": [{"id": c.id, "version": c.version} for c in cases]})
    assert response.status_code == 200, response.get_json()
    assert [c["state"] for c in response.get_json()["cases"]] == ["county_review"] * 2


@pytest.mark.parametrize("spoil, status, code", [("stale", 409, "conflict"), ("other_county", 404, "not_found"),
                                                 ("duplicate", 422, "validation_failed"), ("empty", 422, "validation_failed")])
def test_a_joint_action_moves_none_when_one_fails(api, session, world, spoil, status, code):
    cases = [submitted(session, world), submitted(session, world, applicant="applicant_A1b")]
    refs = [{"id": c.id, "version": c.version} for c in cases]
    if spoil == "stale":
        refs[1]["version"] -= 1
    elif spoil == "other_county":
        refs.append({"id": submitted(session, world, applicant="applicant_B1a").id, "version": 3})
    elif spoil == "duplicate":
        refs.append(dict(refs[0]))
    else:
        refs = []
    before = written(session)
    response = api("reviewer_A1").post("joint-actions", json={"trigger": "approve", "cases": refs})
    assert response.status_code == status and error_of(response)["code"] == code
    assert written(session) == before
    for case in cases:
        session.refresh(case)
        assert case.state == "township_review"
