"""Parameter sets over the API: the set in force for a unit on a date (nearest unit up the
chain), the versions a caller's units reach, and new sets validated by their registered schema."""
from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select

from engine.procedures.parameters import ParameterSet, set_parameters
from tests.api_v1.conftest import error_of
from tests.test_hardship_aid import STANDARD_VALUES
from tests.test_medical_subsidy import SCHEME_VALUES
from workflows.hardship_aid import STANDARDS

SCHEMES = "medical_subsidy.schemes"


def count(session) -> int:
    return session.scalar(select(func.count(ParameterSet.id)))


@pytest.fixture
def city_and_county_a(session, world):
    """The city's standards for 2026 and county A's own from July."""
    city = set_parameters(session, None, STANDARDS, unit=world.unit("city"), valid_from=date(2026, 1, 1),
                          valid_to=date(2026, 12, 31), values=STANDARD_VALUES)
    county = set_parameters(session, None, STANDARDS, unit=world.unit("A"), valid_from=date(2026, 7, 1),
                            values=STANDARD_VALUES | {"minimum_living_standard": "900"})
    return city, county


def test_an_admin_stores_a_set_and_money_comes_back_as_strings(api, session, world):
    response = api("admin").post(f"parameter-sets/{STANDARDS}", json={
        "unit_id": world.unit("city").id, "valid_from": "2026-01-01", "valid_to": "2026-12-31",
        "values": STANDARD_VALUES | {"minimum_living_standard": "820"}})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["values"]["minimum_living_standard"] == "820.00"
    assert body["values"]["yearly_cap_per_household"] == "20000.00"
    assert (body["name"], body["label"], body["valid_from"], body["valid_to"]) == (
        STANDARDS, "困难职工认定及帮扶标准", "2026-01-01", "2026-12-31")
    assert body["citation"] == {"parameter_set": body["id"], "name": STANDARDS, "hash": body["content_hash"][:16],
                                "valid_from": "2026-01-01"}
    assert body["created_at"].endswith("+08:00")
    assert count(session) == 1


def test_a_medical_scheme_set_keeps_its_amounts_as_strings(api, world):
    response = api("admin").post(f"parameter-sets/{SCHEMES}", json={
        "unit_id": world.unit("A").id, "valid_from": "2026-01-01", "values": SCHEME_VALUES})
    assert response.status_code == 201, response.get_json()
    scheme = response.get_json()["values"]["schemes"]["mutual_aid"]
    assert (scheme["cap"], scheme["deductible"], scheme["ratio"]) == ("50000.00", "1000.00", "0.5")
    assert response.get_json()["valid_to"] is None


def test_the_set_in_force_is_the_nearest_up_the_chain_on_that_date(api, world, city_and_county_a):
    city, county = city_and_county_a
    reviewer = api("reviewer_A1")
    assert reviewer.get(f"parameter-sets/{STANDARDS}?unit_id={world.unit('A1a').id}&on=2026-06-30") \
        .get_json()["id"] == city.id
    in_july = reviewer.get(f"parameter-sets/{STANDARDS}?unit_id={world.unit('A1a').id}&on=2026-07-01").get_json()
    assert (in_july["id"], in_july["values"]["minimum_living_standard"]) == (county.id, "900.00")
    assert in_july["citation"]["parameter_set"] == county.id
    assert api("reviewer_B1").get(f"parameter-sets/{STANDARDS}?unit_id={world.unit('B1a').id}&on=2026-07-01") \
        .get_json()["id"] == city.id


def test_no_set_in_force_is_404_naming_what_is_missing(api, world, city_and_county_a):
    response = api("reviewer_B1").get(f"parameter-sets/{STANDARDS}?unit_id={world.unit('B1').id}&on=2025-12-31")
    assert response.status_code == 404
    assert "困难职工认定及帮扶标准" in error_of(response)["message"]


def test_another_countys_unit_is_404(api, world, city_and_county_a):
    response = api("reviewer_B1").get(f"parameter-sets/{STANDARDS}?unit_id={world.unit('A1a').id}&on=2026-07-01")
    assert response.status_code == 404
    assert "900" not in response.get_data(as_text=True)


def test_versions_are_those_the_callers_units_reach(api, world, city_and_county_a):
    city, county = city_and_county_a
    assert [v["id"] for v in api("admin").get(f"parameter-sets/{STANDARDS}/versions").get_json()["versions"]] \
        == [county.id, city.id]
    assert [v["id"] for v in api("applicant_A1a").get(f"parameter-sets/{STANDARDS}/versions").get_json()["versions"]] \
        == [county.id, city.id]
    assert [v["id"] for v in api("reviewer_B1").get(f"parameter-sets/{STANDARDS}/versions").get_json()["versions"]] \
        == [city.id]
    assert api("reviewer_B1").get(f"parameter-sets/{SCHEMES}/versions").get_json() == {"versions": []}


@pytest.mark.parametrize("path", ["parameter-sets/no.such?unit_id=1", "parameter-sets/no.such/versions"])
def test_an_unknown_set_name_is_404(api, path):
    response = api("admin").get(path)
    assert response.status_code == 404 and "no.such" in error_of(response)["message"]


@pytest.mark.parametrize("query, field", [
    ("on=2026-07-01", "unit_id"),
    ("unit_id=abc", "unit_id"),
    ("unit_id=0", "unit_id"),
    ("unit_id=1&on=2026-13-01", "on"),
    ("unit_id=1&on=yesterday", "on"),
])
def test_bad_query_is_422(api, query, field):
    response = api("admin").get(f"parameter-sets/{STANDARDS}?{query}")
    assert response.status_code == 422
    assert field in error_of(response)["fields"]


@pytest.mark.parametrize("change, field", [
    ({"values": None}, "values"),
    ({"values": ["820.00"]}, "values"),
    ({"valid_from": None}, "valid_from"),
    ({"valid_from": "2026-02-30"}, "valid_from"),
    ({"valid_to": "2025-12-31"}, "valid_to"),
    ({"unit_id": "city"}, "unit_id"),
    ({"unit_id": 999999}, "unit_id"),
    ({"values": STANDARD_VALUES | {"minimum_living_standard": "八百"}}, "values.minimum_living_standard"),
    ({"values": STANDARD_VALUES | {"minimum_living_standard": "0"}}, "values.minimum_living_standard"),
    ({"values": STANDARD_VALUES | {"living_aid_months": {"deep": 13, "relative": 10, "accident": 12}}},
     "values.living_aid_months.deep"),
    ({"values": STANDARD_VALUES | {"relative_multiplier": "1"}}, "values.relative_multiplier"),
    ({"values": STANDARD_VALUES | {"colour": "red"}}, "values.colour"),
    ({"values": {k: v for k, v in STANDARD_VALUES.items() if k != "yearly_cap_per_household"}},
     "values.yearly_cap_per_household"),
    ({"values": STANDARD_VALUES | {"note\ud800": "x"}}, "values"),
    ({"unit_id": 2**40}, "unit_id"),
    ({"note": "x"}, "note"),
])
def test_bad_set_is_422_naming_the_field_and_writes_nothing(api, session, world, change, field):
    body = {k: v for k, v in ({"unit_id": world.unit("city").id, "valid_from": "2026-01-01",
                               "values": STANDARD_VALUES} | change).items() if v is not None}
    # json.dumps escapes a lone surrogate as \ud800, as a client's JSON would carry it
    response = api("admin").post(f"parameter-sets/{STANDARDS}", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 422, response.get_json()
    assert field in error_of(response)["fields"], error_of(response)
    assert count(session) == 0


def test_a_bad_scheme_is_named_down_to_its_figure(api, session, world):
    values = {"schemes": {"mutual_aid": SCHEME_VALUES["schemes"]["mutual_aid"] | {"formula": "percent"}}}
    response = api("admin").post(f"parameter-sets/{SCHEMES}", json={
        "unit_id": world.unit("city").id, "valid_from": "2026-01-01", "values": values})
    assert response.status_code == 422
    assert list(error_of(response)["fields"]) == ["values.schemes.mutual_aid.value.formula"]
    assert count(session) == 0


@pytest.mark.parametrize("who", ["auditor_city", "reviewer_city", "applicant_A1a"])
def test_only_admins_store_sets(api, session, world, who):
    response = api(who).post(f"parameter-sets/{STANDARDS}", json={
        "unit_id": world.unit("A").id, "valid_from": "2026-01-01", "values": STANDARD_VALUES})
    assert response.status_code == 403 and error_of(response)["code"] == "permission_denied"
    assert count(session) == 0


def test_an_unknown_set_name_cannot_be_stored(api, session, world):
    response = api("admin").post("parameter-sets/no.such", json={
        "unit_id": world.unit("A").id, "valid_from": "2026-01-01", "values": {}})
    assert response.status_code == 404
    assert count(session) == 0
