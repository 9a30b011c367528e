"""POST /delegations, GET /delegations, POST /delegations/{id}/cancel."""
from __future__ import annotations

from datetime import timedelta

from engine.base.config import LOCAL_TZ
from engine.base.db import utcnow
from tests.api_v1.conftest import error_of


def test_a_reviewer_names_a_deputy_lists_and_ends_it(api, world):
    today = utcnow().astimezone(LOCAL_TZ).date()
    holder, deputy = api("reviewer_A1"), api("reviewer_A1_and_A")
    body = {"deputy_id": world.users["reviewer_A1_and_A"].id, "unit_id": world.unit("A1").id,
            "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=3)).isoformat(), "reason": "休假"}
    created = holder.post("delegations", json=body)
    assert created.status_code == 201, created.get_json()
    made = created.get_json()
    assert made["principal"]["id"] == world.users["reviewer_A1"].id and made["running"] is True
    assert (made["role_label"], made["unit"]["name"], made["reason"]) == ("审核人", "A1街道总工会", "休假")
    assert [item["id"] for item in deputy.get("delegations").get_json()["items"]] == [made["id"]]
    again = holder.post("delegations", json=body)
    assert again.status_code == 409
    ended = deputy.post(f"delegations/{made['id']}/cancel")
    assert ended.status_code == 200 and ended.get_json()["cancelled"] is True


def test_a_bad_delegation_is_a_field_error(api, world):
    today = utcnow().astimezone(LOCAL_TZ).date()
    response = api("reviewer_A1").post("delegations", json={
        "deputy_id": world.users["reviewer_A"].id, "unit_id": world.unit("A1").id,
        "starts_on": today.isoformat(), "ends_on": (today - timedelta(days=1)).isoformat()})
    assert response.status_code == 422
    assert set(error_of(response)["fields"]) == {"deputy_id", "ends_on"}
    assert api("reviewer_A1").post("delegations", json={"unit_id": "x"}).status_code == 422
    assert api("reviewer_A").post("delegations/999999/cancel").status_code == 404
