"""POST /cases/{id}/claim, /release, /take-over; the case view's holding; the inbox's holder and mine=true."""
from __future__ import annotations

import pytest

from tests.api_v1.conftest import error_of
from tests.api_v1.test_cases import submitted


def test_claim_release_and_take_over_through_the_api(api, session, world):
    case = submitted(session, world)
    holder, colleague = api("reviewer_A1"), api("reviewer_A1_and_A")
    view = holder.get(f"cases/{case.id}").get_json()
    assert view["holding"] == {"holder": None, "offered": ["claim"], "colleagues": []}

    claimed = holder.post(f"cases/{case.id}/claim", json={"version": view["version"]})
    assert claimed.status_code == 200, claimed.get_json()
    body = claimed.get_json()
    me = {"id": world.users["reviewer_A1"].id, "name": world.users["reviewer_A1"].display_name}
    colleague_ref = {"id": world.users["reviewer_A1_and_A"].id, "name": world.users["reviewer_A1_and_A"].display_name}
    assert body["event"]["action"] == "claim" and body["case"]["holding"]["holder"] == me
    assert body["case"]["holding"]["offered"] == ["release", "transfer"]
    assert colleague_ref in body["case"]["holding"]["colleagues"]
    [mine] = holder.get("inbox?mine=true").get_json()["items"]
    assert (mine["case_id"], mine["holder"]) == (case.id, me)
    assert colleague.get("inbox?mine=true").get_json()["items"] == []

    taken = colleague.post(f"cases/{case.id}/take-over", json={"version": body["case"]["version"]})
    assert taken.status_code == 200 and taken.get_json()["case"]["holding"]["offered"] == ["release", "transfer"]
    released = colleague.post(f"cases/{case.id}/release", json={"version": taken.get_json()["case"]["version"]})
    assert released.status_code == 200 and released.get_json()["case"]["holding"]["holder"] is None


@pytest.mark.parametrize("username, change, status", [
    ("reviewer_A", "claim", 403),       # the county: the task waits at the township
    ("reviewer_B", "claim", 404),       # another county: cannot see the case
    ("applicant_A1a", "claim", 403),
    ("reviewer_A1", "take-over", 409),  # nobody holds it yet
    ("reviewer_A1", "release", 409),
])
def test_refused_changes_say_why_and_change_nothing(api, session, world, username, change, status):
    case = submitted(session, world)
    response = api(username).post(f"cases/{case.id}/{change}", json={"version": case.version})
    assert response.status_code == status, response.get_json()
    assert error_of(response)["message"]
    assert api("reviewer_A1").get(f"cases/{case.id}").get_json()["holding"]["holder"] is None


def test_a_stale_version_is_409_with_the_current_one(api, session, world):
    case = submitted(session, world)
    response = api("reviewer_A1").post(f"cases/{case.id}/claim", json={"version": case.version - 1})
    assert response.status_code == 409 and error_of(response)["current_version"] == case.version


def test_a_change_the_api_does_not_know_is_404(api, session, world):
    case = submitted(session, world)
    assert api("reviewer_A1").post(f"cases/{case.id}/grab", json={"version": case.version}).status_code == 404


def test_transfer_to_a_colleague_and_its_refusals(api, session, world):
    case = submitted(session, world)
    holder = api("reviewer_A1")
    version = holder.post(f"cases/{case.id}/claim", json={"version": case.version}).get_json()["case"]["version"]
    colleague = world.users["reviewer_A1_and_A"]
    county = world.users["reviewer_A"].id
    refused = holder.post(f"cases/{case.id}/transfer", json={"version": version, "to_user_id": county, "reason": "请办理"})
    assert refused.status_code == 422 and "to_user_id" in error_of(refused)["fields"]
    missing = holder.post(f"cases/{case.id}/transfer", json={"version": version, "to_user_id": colleague.id})
    assert missing.status_code == 422 and "reason" in error_of(missing)["fields"]
    done = holder.post(f"cases/{case.id}/transfer", json={"version": version, "to_user_id": colleague.id,
                                                        "reason": "出差，请代为审核"})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["case"]["holding"]["holder"] == {"id": colleague.id, "name": colleague.display_name}
    assert done.get_json()["event"]["comment"] == "出差，请代为审核"
    items = api("reviewer_A1_and_A").get("notifications").get_json()["items"]
    assert [item["kind"] for item in items] == ["transferred"]
