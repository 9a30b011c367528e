"""Sending a case back to an earlier review level (退回重审) through the API: offered with the reason
required, refused without it, and the earlier level's approval offered as going straight back."""
from __future__ import annotations

import pytest

from tests.api_v1.conftest import error_of
from tests.test_honours import Honours

REASON = "推荐材料中的事迹与单位证明不一致，请重新核实"


@pytest.fixture
def honours(session, world):
    return Honours(session, world)


def test_the_city_sends_a_case_back_to_the_township_and_the_township_approves_it_back(api, session, honours):
    case = honours.at_city()
    city = api("reviewer_city")
    offered = {a["trigger"]: a for a in city.get(f"cases/{case.id}").get_json()["available_actions"]}
    assert offered["send_back_to_township"]["comment_required"] is True
    assert (offered["send_back_to_township"]["dest"], offered["send_back_to_township"]["label"]) == \
        ("township_review", "退回镇（街道）总工会重新审核")
    assert offered["send_back_to_county"]["dest"] == "county_review"
    refused = city.post(f"cases/{case.id}/actions/send_back_to_township", json={"version": case.version})
    assert refused.status_code == 422 and "comment" in error_of(refused)["fields"]
    done = city.post(f"cases/{case.id}/actions/send_back_to_township",
                     json={"version": case.version, "comment": REASON})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["case"]["state"] == "township_review"
    township = api("reviewer_A1")
    view = township.get(f"cases/{case.id}").get_json()
    assert view["sent_back"] == {"state": "city_review", "state_label": "市总工会初审及征求意见", "reason": REASON}
    [approve] = [a for a in view["available_actions"] if a["trigger"] == "approve"]
    assert (approve["dest"], approve["label"]) == ("city_review", "重新审核通过，直接报回市总工会")
    back = township.post(f"cases/{case.id}/actions/approve", json={"version": view["version"]})
    assert back.status_code == 200, back.get_json()
    assert back.get_json()["case"]["state"] == "city_review"
    assert city.get(f"cases/{case.id}").get_json()["sent_back"] is None


def test_only_the_city_may_send_it_back(api, honours):
    case = honours.at_city()
    response = api("reviewer_A").post(f"cases/{case.id}/actions/send_back_to_township",
                                      json={"version": case.version, "comment": REASON})
    assert response.status_code in (403, 404) and case.state == "city_review"
