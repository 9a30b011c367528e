"""Rounds and quotas over the API: opening a round, reading it, the quota table, setting
places; settings validated by the kind's schema; who may do what, and who sees which round."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.base.db import utcnow
from engine.procedures.rounds import Round, RoundQuota, open_round
from tests.api_v1.conftest import error_of
from tests.test_honours import AWARDS, BASE_SETTINGS, Honours


def new_round(world, **overrides) -> dict:
    now = utcnow().replace(microsecond=0)
    return {"kind": "honours", "unit_id": world.unit("city").id, "title": "2026年度五一劳动奖评选", "year": 2026,
            "opens_at": (now - timedelta(days=1)).isoformat(), "closes_at": (now + timedelta(days=30)).isoformat(),
            "categories": AWARDS, "settings": BASE_SETTINGS} | overrides


def count(session, model) -> int:
    return session.scalar(select(func.count(model.id)))


def county_round(session, world) -> Round:
    now = utcnow()
    return open_round(session, None, kind="honours", unit=world.unit("A"), title="A区评选", year=2026,
                      opens_dt=now - timedelta(days=1), closes_dt=now + timedelta(days=9), categories=AWARDS)


def test_a_city_reviewer_opens_a_round_and_everyone_in_the_chain_reads_it(api, world):
    created = api("reviewer_city").post("rounds", json=new_round(world))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["settings"] == BASE_SETTINGS | {"over_nomination_percent": 100, "ratio_limits": []}
    assert body["categories"] == AWARDS and body["closes_at"].endswith("+08:00")
    for reader in ("reviewer_B1", "applicant_A1a", "auditor_A"):
        assert api(reader).get(f"rounds/{body['id']}").get_json() == body
        assert body["id"] in [r["id"] for r in api(reader).get("rounds?kind=honours").get_json()["rounds"]]
    assert api("reviewer_B1").get("rounds?kind=hardship_aid").get_json() == {"rounds": []}


def test_an_admin_of_the_unit_may_open_one_too(api, world):
    assert api("admin").post("rounds", json=new_round(world)).status_code == 201


def test_a_county_round_is_hidden_from_the_other_county(api, session, world):
    round_ = county_round(session, world)
    assert api("reviewer_A1").get(f"rounds/{round_.id}").status_code == 200
    assert api("reviewer_city").get(f"rounds/{round_.id}").status_code == 200
    response = api("reviewer_B1").get(f"rounds/{round_.id}")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert round_.id not in [r["id"] for r in api("reviewer_B1").get("rounds").get_json()["rounds"]]
    assert api("reviewer_B1").get(f"rounds/{round_.id}/quotas").status_code == 404
    assert api("reviewer_A").get("rounds/999999").status_code == 404


@pytest.mark.parametrize("who", ["reviewer_A1", "auditor_city", "applicant_A1a", "reviewer_A"])
def test_only_the_organising_units_reviewers_and_admins_open_rounds(api, session, world, who):
    response = api(who).post("rounds", json=new_round(world))
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"
    assert count(session, Round) == 0


@pytest.mark.parametrize("change, field", [
    ({"title": None}, "title"),
    ({"year": "今年"}, "year"),
    ({"year": 1900}, "year"),
    ({"kind": "lottery"}, "kind"),
    ({"kind": "hardship_aid"}, "kind"),
    ({"categories": ["golden_globe"]}, "categories"),
    ({"categories": []}, "categories"),
    ({"opens_at": "2026-03-01T09:00:00"}, "opens_at"),
    ({"closes_at": "下周"}, "closes_at"),
    ({"settings": BASE_SETTINGS | {"over_nomination_percent": 50}}, "settings.over_nomination_percent"),
    ({"settings": {"colour": "red"}}, "settings.colour"),
    ({"settings": {"ratio_limits": [{"label": "女性", "field": "sex", "values": ["female"]}]}},
     "settings.ratio_limits.0.min_percent"),
    ({"unit_id": 999999}, "unit_id"),
    ({"unit_id": 2**40}, "unit_id"),
    ({"title": "评选\u0000"}, "title"),
    ({"settings": {"ratio_limits": [{"label": "\ud800", "field": "sex", "values": ["female"], "min_percent": "5"}]}},
     "settings"),
    ({"flavour": "mint"}, "flavour"),
])
def test_bad_round_input_is_422_naming_the_field_and_writes_nothing(api, session, world, change, field):
    body = {k: v for k, v in (new_round(world) | change).items() if v is not None}
    # json.dumps escapes a lone surrogate as \ud800, as a client's JSON would carry it
    response = api("reviewer_city").post("rounds", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 422, response.get_json()
    assert field in error_of(response)["fields"], error_of(response)
    assert count(session, Round) == 0


def test_a_window_that_closes_before_it_opens_is_refused(api, session, world):
    now = utcnow()
    response = api("reviewer_city").post("rounds", json=new_round(
        world, opens_at=now.isoformat(), closes_at=(now - timedelta(hours=1)).isoformat()))
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"closes_at": ["截止时间应晚于开始时间"]}


# --- Quotas ---------------------------------------------------------------------------------------

def test_quota_table_shows_places_used_and_left_of_the_callers_units(api, session, world):
    honours = Honours(session, world, places=2, settings={"over_nomination_percent": 150})
    honours.act("reviewer_A1", honours.submitted(), "approve")
    table = api("reviewer_A").get(f"rounds/{honours.round.id}/quotas").get_json()["quotas"]
    assert {row["unit"]["name"] for row in table} == {"A区总工会", "A1街道总工会", "A2街道总工会"}
    a1_medal = next(r for r in table if r["unit"]["id"] == world.unit("A1").id and r["category"] == "labour_medal")
    assert a1_medal == {"unit": {"id": world.unit("A1").id, "name": "A1街道总工会"}, "category": "labour_medal",
                        "places": 2, "allowed": 3, "used": 1, "left": 2}
    b1_table = api("reviewer_B1").get(f"rounds/{honours.round.id}/quotas").get_json()["quotas"]
    assert {row["unit"]["name"] for row in b1_table} == {"B区总工会", "B1街道总工会"}
    assert len(api("reviewer_city").get(f"rounds/{honours.round.id}/quotas").get_json()["quotas"]) == 5 * len(AWARDS)


def test_the_organiser_and_the_parent_unit_set_places(api, session, world):
    honours = Honours(session, world)
    response = api("reviewer_city").put(f"rounds/{honours.round.id}/quotas",
                                        json={"unit_id": world.unit("A").id, "category": "labour_award", "places": 7})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"unit": {"id": world.unit("A").id, "name": "A区总工会"}, "category": "labour_award",
                                   "places": 7, "allowed": 7, "used": 0, "left": 7}
    by_parent = api("reviewer_A").put(f"rounds/{honours.round.id}/quotas",
                                      json={"unit_id": world.unit("A1").id, "category": "labour_award", "places": 0})
    assert by_parent.status_code == 200 and by_parent.get_json()["left"] == 0


@pytest.mark.parametrize("who, unit, status", [
    ("reviewer_A1", "A1", 403),   # a township cannot set its own places in a city round
    ("reviewer_B", "A1", 403),    # nor may another county
    ("auditor_city", "A", 403),   # auditors never write
    ("applicant_A1a", "A1", 403),
])
def test_who_may_not_set_places(api, session, world, who, unit, status):
    honours = Honours(session, world, places=3)
    response = api(who).put(f"rounds/{honours.round.id}/quotas",
                            json={"unit_id": world.unit(unit).id, "category": "labour_medal", "places": 9})
    assert response.status_code == status
    session.expire_all()
    assert set(session.scalars(select(RoundQuota.places))) == {3}


def test_a_round_outside_ones_chain_is_404_for_quotas_too(api, session, world):
    round_ = county_round(session, world)
    response = api("reviewer_B1").put(f"rounds/{round_.id}/quotas",
                                      json={"unit_id": world.unit("B1").id, "category": "labour_medal", "places": 1})
    assert response.status_code == 404
    assert count(session, RoundQuota) == 0


@pytest.mark.parametrize("change, field", [
    ({"unit_id": "city"}, "unit_id"),
    ({"unit_id": 999999}, "unit_id"),
    ({"places": -1}, "places"),
    ({"places": "3"}, "places"),
    ({"places": 2.5}, "places"),
    ({"places": None}, "places"),
    ({"category": "golden_globe"}, "category"),
    ({"seats": 3}, "seats"),
])
def test_bad_quota_input_is_422_and_writes_nothing(api, session, world, change, field):
    honours = Honours(session, world, places=3)
    body = {"unit_id": world.unit("A1").id, "category": "labour_medal", "places": 4} | change
    response = api("reviewer_city").put(f"rounds/{honours.round.id}/quotas", json=body)
    assert response.status_code == 422, response.get_json()
    assert field in error_of(response)["fields"], error_of(response)
    session.expire_all()
    assert set(session.scalars(select(RoundQuota.places))) == {3}


def test_places_only_for_units_below_the_round(api, session, world):
    honours = Honours(session, world)
    response = api("reviewer_city").put(f"rounds/{honours.round.id}/quotas",
                                        json={"unit_id": world.unit("city").id, "category": "labour_medal", "places": 1})
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"unit_id": ["名额只能分配给「示范市总工会」的下级单位"]}
