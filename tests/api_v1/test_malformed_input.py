"""Malformed input from anyone, signed in or not, is a 4xx in the one error format, on both
databases: ids beyond the integer columns, JSON nested past the bound, control characters."""
from __future__ import annotations

import pytest

from engine.db import MAX_ROW_ID
from engine.inputs import MAX_JSON_DEPTH, load_json, parse_row_id
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

