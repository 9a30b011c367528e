"""POST /cases/{id}/opinions/ask, /opinions, /opinions/withdraw; GET /opinions; the case view's opinions."""
from __future__ import annotations

from tests.api_v1.conftest import error_of
from tests.api_v1.test_cases import submitted


def test_ask_answer_and_the_decision_waits(api, session, world):
    case = submitted(session, world)
    decider, county = api("reviewer_A1"), api("reviewer_A")
    view = decider.get(f"cases/{case.id}").get_json()
    assert view["opinions"]["may_ask"] is True and view["opinions"]["pending"] == []
    county_id = world.users["reviewer_A"].id
    assert county_id in [c["id"] for c in view["opinions"]["candidates"]]
    bad = decider.post(f"cases/{case.id}/opinions/ask", json={"version": view["version"], "user_ids": [], "note": ""})
    assert bad.status_code == 422 and set(error_of(bad)["fields"]) >= {"note"}
    asked = decider.post(f"cases/{case.id}/opinions/ask",
                         json={"version": view["version"], "user_ids": [county_id], "note": "请核实"})
    assert asked.status_code == 200, asked.get_json()
    body = asked.get_json()
    assert body["event"]["action"] == "ask_opinion"
    assert [p["user"]["id"] for p in body["case"]["opinions"]["pending"]] == [county_id]
    refused = decider.post(f"cases/{case.id}/actions/approve", json={"version": body["case"]["version"]})
    assert refused.status_code == 409 and "尚未答复：reviewer_A" in error_of(refused)["message"]
    assert [item["case_id"] for item in county.get("opinions").get_json()["items"]] == [case.id]
    given = county.post(f"cases/{case.id}/opinions", json={"opinion": "同意"})
    assert given.status_code == 200 and given.get_json()["event"]["action"] == "opinion"
    again = county.post(f"cases/{case.id}/opinions", json={"opinion": "同意"})
    assert again.status_code == 409
    version = decider.get(f"cases/{case.id}").get_json()["version"]
    assert decider.post(f"cases/{case.id}/actions/approve", json={"version": version}).status_code == 200


def test_withdraw_through_the_api(api, session, world):
    case = submitted(session, world)
    decider = api("reviewer_A1")
    version = decider.get(f"cases/{case.id}").get_json()["version"]
    asked = decider.post(f"cases/{case.id}/opinions/ask", json={
        "version": version, "user_ids": [world.users["reviewer_city"].id], "note": "请提意见"}).get_json()
    withdrawn = decider.post(f"cases/{case.id}/opinions/withdraw", json={"version": asked["case"]["version"]})
    assert withdrawn.status_code == 200 and withdrawn.get_json()["case"]["opinions"]["pending"] == []
    assert api("reviewer_A").post(f"cases/{case.id}/opinions/withdraw",
                                  json={"version": withdrawn.get_json()["case"]["version"]}).status_code == 403


def test_the_bodies_a_state_consults_are_listed_until_their_reply_is_recorded(api, session, world):
    from tests.test_honours import Honours
    honours = Honours(session, world)
    case = honours.at_city(person_category="enterprise_head")
    city = api("reviewer_city")
    view = city.get(f"cases/{case.id}").get_json()
    assert [(b["body"], b["label"]) for b in view["opinions"]["bodies"]] == [
        ("tax", "税务部门"), ("safety", "应急管理（安全生产）部门")]
    assert all(b["due_at"] for b in view["opinions"]["bodies"])
    assert api("applicant_A1a").get(f"cases/{case.id}").get_json()["opinions"]["bodies"] == []
    refused = city.post(f"cases/{case.id}/actions/approve", json={"version": view["version"]})
    assert refused.status_code == 422 and "尚未收到税务部门、应急管理（安全生产）部门的意见" in error_of(refused)["message"]
    recorded = city.post(f"cases/{case.id}/records/background_opinion", json={"fields": {
        "body": "tax", "opinion": "positive", "signer": "王会计", "opinion_date": "2026-03-10"}})
    assert recorded.status_code in (200, 201), recorded.get_json()
    view = city.get(f"cases/{case.id}").get_json()
    assert [b["body"] for b in view["opinions"]["bodies"]] == ["safety"]
