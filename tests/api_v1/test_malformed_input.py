"""Malformed input from anyone, signed in or not, is a 4xx in the one error format, on both
databases: ids beyond the integer columns, JSON nested past the bound, control characters."""
from __future__ import annotations

import pytest

from engine.base.db import MAX_ROW_ID
from engine.base.inputs import MAX_JSON_DEPTH, load_json, parse_row_id
from tests.api_v1.conftest import error_of
from tests.api_v1.test_notices import notice  # noqa: F401 (fixture)

TOO_LARGE = str(MAX_ROW_ID + 1)


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


# --- Ids -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("token_id", [TOO_LARGE, "99999999999", "²", "١٢", "0", "-1", ""])
def test_a_token_id_no_column_holds_is_an_unknown_token(api, token_id):
    """Is ``Bearer uf_2147483648_abc`` a 401 rather than an overflow in PostgreSQL's query?"""
    response = api().get("cases", headers={"Authorization": f"Bearer uf_{token_id}_abc"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


@pytest.mark.parametrize("path", [f"cases/{TOO_LARGE}", "cases/99999999999", "cases/99999999999/audit-events",
                                  "public/notices/99999999999", "org-units/99999999999", "users/99999999999"])
def test_an_id_in_the_path_beyond_the_columns_finds_nothing(api, path):
    response = api("admin").get(path)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize("query", ["unit_id=99999999999", "round_id=99999999999", "cursor=WzIxNDc0ODM2NDhd"])
def test_an_id_in_the_query_beyond_the_columns_is_refused_on_its_field(api, query):
    name = query.partition("=")[0]
    response = api("reviewer_A1").get(f"inbox?{query}")
    assert response.status_code == 422
    assert name in error_of(response)["fields"]


def test_parse_row_id_takes_only_ascii_digits_the_columns_hold():
    assert parse_row_id("1") == 1 and parse_row_id(str(MAX_ROW_ID)) == MAX_ROW_ID
    for text in (None, "", "0", TOO_LARGE, "9" * 30, "²", "١٢", "-1", "+1", " 1", "1.0"):
        assert parse_row_id(text) is None, text


# --- JSON nested too deeply ------------------------------------------------------------------------

def test_load_json_refuses_past_the_depth_bound_and_reads_brackets_in_strings_as_text():
    assert load_json(nested(MAX_JSON_DEPTH - 1)) is not None
    assert load_json('{"a": "[[[[{{{{\\"]]"}') == {"a": '[[[[{{{{"]]'}
    with pytest.raises(ValueError):
        load_json(nested(MAX_JSON_DEPTH + 1))
    with pytest.raises(ValueError):
        load_json("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 100_000])
@pytest.mark.parametrize("body", ["object", "array"])
def test_deep_json_is_a_400_for_anonymous_sign_in(api, depth, body):
    data = nested(depth) if body == "object" else "[" * depth + "]" * depth
    response = api().post("session", data=data, content_type="application/json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "bad_request" and "嵌套" in error["message"]


def test_deep_json_is_a_400_for_a_public_objection(api, notice):  # noqa: F811
    response = api().post(f"public/notices/{notice.id}/objections", data=nested(1000),
                          content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_request"


@pytest.mark.parametrize("method, path", [("PATCH", "users/1"), ("POST", "cases"), ("POST", "batch-actions"),
                                          ("PUT", "account/notification-settings")])
def test_deep_json_is_a_400_on_every_json_endpoint(api, method, path):
    response = api("admin").call(method, path, data=nested(1000), content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_request"


def test_json_within_the_bound_still_reaches_the_schema(api):
    """A document nested but within the bound is read, and the schema answers on its field."""
    response = api().post("session", json={"username": [[["x"]]], "password": "p"})
    assert response.status_code == 422
    assert "username" in error_of(response)["fields"]


def test_invalid_json_stays_a_400(api):
    response = api().post("session", data="{'username':", content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_request"



# --- Control characters and newlines (engine.base.inputs.text_problem) ----------------------------------

@pytest.mark.parametrize("control", ["\u0001", "\x1b[31m", "\u202e", "\ufeff"], ids=["SOH", "ESC", "RLO", "BOM"])
def test_control_characters_are_refused_on_their_field_anywhere(api, world, control):
    admin = api("admin")
    response = admin.post("org-units", json={"name": f"新{control}工会", "level": "grassroots",
                                             "parent_id": world.unit("A1").id})
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"name": ["不能包含控制字符"]}
    response = admin.patch(f"users/{world.users['applicant_A1a'].id}", json={"display_name": f"改{control}名"})
    assert error_of(response)["fields"] == {"display_name": ["不能包含控制字符"]}
    response = api().post("session", json={"username": f"admin{control}", "password": "x"})
    assert error_of(response)["fields"] == {"username": ["不能包含控制字符"]}
    response = api("applicant_A1a").post("cases", json={"kind": "basic_nomination",
                                                        "form": {"nominee_name": f"张{control}三"}})
    assert error_of(response)["fields"] == {"form.nominee_name": ["不能包含控制字符"]}


def test_a_newline_is_refused_in_single_line_fields_and_kept_in_comments(api, world):
    admin = api("admin")
    response = admin.patch(f"users/{world.users['applicant_A1a'].id}", json={"display_name": "张\n三"})
    assert error_of(response)["fields"] == {"display_name": ["不能包含换行符或制表符"]}
    response = admin.post("tokens", json={"name": "脚\t本"})
    assert error_of(response)["fields"] == {"name": ["不能包含换行符或制表符"]}
    applicant = api("applicant_A1a")
    created = applicant.post("cases", json={"kind": "basic_nomination",
                                            "form": {"nominee_name": "张三", "merits_summary": "一、\n二、"}})
    assert created.status_code == 201, created.data[:300]
    assert created.get_json()["form"]["merits_summary"] == "一、\n二、"
    response = applicant.post(f"cases/{created.get_json()['id']}/comments", json={"comment": "第一行\n第二行"})
    assert response.status_code == 201, response.data[:300]
    response = applicant.post(f"cases/{created.get_json()['id']}/comments", json={"comment": "意见\x1b[2J"})
    assert error_of(response)["fields"] == {"comment": ["不能包含控制字符"]}


def test_an_objection_keeps_the_lines_of_its_content_but_not_controls_in_the_name(api, notice):  # noqa: F811
    from tests.test_hardship_aid import OBJECTION

    response = api().post(f"public/notices/{notice.id}/objections",
                          json=OBJECTION | {"objector_name": "李\u202e群众"})
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"objector_name": ["不能包含控制字符"]}
    response = api().post(f"public/notices/{notice.id}/objections",
                          json=OBJECTION | {"content": "一、家里有车。\n二、经常开。\n请核实。"})
    assert response.status_code == 201, response.data[:300]


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1899-12-31", "2100-01-01"])
def test_a_date_in_any_schema_lies_in_a_sensible_range(api, world, day):
    response = api("admin").post("parameter-sets/hardship_aid.standards", json={
        "unit_id": world.unit("city").id, "valid_from": day, "values": {}})
    assert response.status_code == 422
    assert error_of(response)["fields"]["valid_from"] == ["日期应在 1900-01-01 至 2099-12-31 之间"]
    response = api("auditor_city").get(f"audit/exports?format=csv&date_from={day}")
    assert error_of(response)["fields"] == {"date_from": ["日期应在 1900-01-01 至 2099-12-31 之间"]}


def test_a_birth_date_after_today_is_refused_over_the_api(api):
    response = api("applicant_A1a").post("cases", json={"kind": "basic_nomination",
                                                        "form": {"birth_date": "9999-12-31"}})
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"birth_date": ["应在 1940-01-01 至 今天 之间"]}


@pytest.mark.parametrize("data", ['{"username": ' + "9" * 5000 + "}", b'{"username": "\xff\xfe"}', "[" * 33 + "]" * 33])
def test_json_the_parser_cannot_read_is_a_400(api, data):
    """A number longer than Python reads (4,300 digits), bytes that are not UTF-8, one level too deep."""
    response = api().post("session", data=data, content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_request"
