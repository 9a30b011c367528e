"""POST /cases/{id}/copy, GET /copies (「抄送我的」), POST /copies/{id}/read; the case view's copies and
copy_candidates."""
from __future__ import annotations

from tests.api_v1.conftest import error_of
from tests.api_v1.test_cases import submitted


def test_copy_list_and_read_through_the_api(api, session, world):
    case = submitted(session, world)
    decider, auditor = api("reviewer_A1"), api("auditor_A")
    view = decider.get(f"cases/{case.id}").get_json()
    auditor_ref = {"id": world.users["auditor_A"].id, "name": world.users["auditor_A"].display_name}
    assert auditor_ref in view["copy_candidates"] and view["copies"] == []
    assert api("reviewer_A").get(f"cases/{case.id}").get_json()["copy_candidates"] is None  # not his to decide

    copied = decider.post(f"cases/{case.id}/copy", json={"version": view["version"], "user_ids": [auditor_ref["id"]],
                                                          "note": "请关注"})
    assert copied.status_code == 200, copied.get_json()
    body = copied.get_json()
    assert body["event"]["action"] == "copy" and body["event"]["action_label"] == "抄送"
    assert [(c["name"], c["copied_by"], c["read"]) for c in body["case"]["copies"]] == [("auditor_A", "reviewer_A1", False)]

    [item] = auditor.get("copies").get_json()["items"]
    assert (item["case_id"], item["copied_by"], item["note"], item["read"]) == (case.id, "reviewer_A1", "请关注", False)
    assert item["state_label"] and item["kind_label"] and item["title"] == case.title
    assert auditor.get(f"cases/{case.id}").get_json()["copies"] is None  # the list is for the case's reviewers
    assert [n["kind"] for n in auditor.get("notifications").get_json()["items"]] == ["copied"]
    read = auditor.post(f"copies/{item['id']}/read")
    assert read.status_code == 200 and read.get_json()["read"] is True
    assert auditor.get("copies?unread=true").get_json()["items"] == []
    assert api("auditor_city").post(f"copies/{item['id']}/read").status_code == 404


def test_copy_refusals_are_one_error_format(api, session, world):
    case = submitted(session, world)
    refused = api("reviewer_A").post(f"cases/{case.id}/copy", json={"version": case.version, "user_ids": [1]})
    assert refused.status_code == 403 and error_of(refused)["message"]
    empty = api("reviewer_A1").post(f"cases/{case.id}/copy", json={"version": case.version, "user_ids": []})
    assert empty.status_code == 422 and "user_ids" in error_of(empty)["fields"]
    stranger = world.users["reviewer_B"].id
    wrong = api("reviewer_A1").post(f"cases/{case.id}/copy", json={"version": case.version, "user_ids": [stranger],
                                                                   "note": "x" * 501})
    assert wrong.status_code == 422 and {"user_ids", "note"} <= set(error_of(wrong)["fields"])
    stale = api("reviewer_A1").post(f"cases/{case.id}/copy", json={"version": case.version - 1, "user_ids": [stranger]})
    assert stale.status_code == 409 and error_of(stale)["current_version"] == case.version
    assert api("reviewer_B").post(f"cases/{case.id}/copy", json={"version": case.version, "user_ids": [1]}).status_code == 404
    bad_cursor = api("auditor_A").get("copies?cursor=nonsense")
    assert bad_cursor.status_code == 422
