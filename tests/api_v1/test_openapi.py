"""The OpenAPI document: valid OpenAPI 3.1, complete (every /api/v1 route, each method), in
Chinese, with its security and its one error format; and the page for people at /api/v1/docs.

The completeness checks read whatever routes the app has when they run, so a route added
without its documentation fails here.
"""
from __future__ import annotations

import html
import re

import pytest
from flask_smorest import Blueprint
from marshmallow import ValidationError, fields
from openapi_spec_validator import validate

from api.auth import PUBLIC_BLUEPRINTS
from api.schemas import ApiSchema, RowId
from engine.base.db import MAX_ROW_ID
from engine.org.accounts import list_api_tokens
from tests.api_v1.conftest import error_of

API_PREFIX = "/api/v1"
# Served beside the API but not part of it: the document itself and its page.
NOT_API_ENDPOINTS = {"api-docs.openapi_json", "api-docs-page.api_docs"}
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def spec_of(app) -> dict:
    response = app.test_client().get(f"{API_PREFIX}/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def operations(spec: dict):
    """(method, path, operation) for every operation of the document."""
    for path, item in spec["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield method, path, item[method]


def openapi_path(rule: str) -> str:
    """Flask's "/cases/<int:case_id>" as OpenAPI's "/cases/{case_id}"."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def is_public(app, endpoint: str) -> bool:
    view = app.view_functions[endpoint]
    return getattr(view, "public", False) or endpoint.split(".")[0] in PUBLIC_BLUEPRINTS


def has_chinese(text: str | None) -> bool:
    return bool(text) and any("\u4e00" <= char <= "\u9fff" for char in text)


def undocumented_routes(app, spec: dict) -> list[str]:
    """Every method of every /api/v1 route that the document does not describe, and every
    route whose document disagrees with the app on being public."""
    problems = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX) or rule.endpoint in NOT_API_ENDPOINTS:
            continue
        path = openapi_path(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operation = spec["paths"].get(path, {}).get(method.lower())
            if operation is None:
                problems.append(f"{method} {path}: not in the document")
                continue
            security = operation.get("security", spec.get("security"))
            if is_public(app, rule.endpoint) != (security == []):
                problems.append(f"{method} {path}: the document says security {security!r}")
    return problems


def operation_problems(spec: dict) -> list[str]:
    """What an operation of the document lacks: a Chinese summary, a tag, a success response
    with its content, a way to sign in unless public, the default error response."""
    problems = []
    for method, path, operation in operations(spec):
        where = f"{method.upper()} {path}"
        if not has_chinese(operation.get("summary")):
            problems.append(f"{where}: no Chinese summary (the view's docstring)")
        if not operation.get("tags"):
            problems.append(f"{where}: no tag")
        responses = operation.get("responses", {})
        successes = [status for status in responses if status.startswith("2")]
        if not successes:
            problems.append(f"{where}: no 2xx response")
        for status in successes:
            if status != "204" and not responses[status].get("content"):
                problems.append(f"{where}: {status} response without content or schema")
        if operation.get("security", spec.get("security")) is None:
            problems.append(f"{where}: no security requirement")
        if responses.get("default") != {"$ref": "#/components/responses/DEFAULT_ERROR"}:
            problems.append(f"{where}: no default error response")
    return problems


def walk(node, path=""):
    """Every (json-path, dict) in the document."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}/{index}")


# --- The document ---------------------------------------------------------------------------------

def test_the_document_is_valid_openapi_3_1_and_public(api):
    response = api().get("openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"] == "3.1.0"
    validate(spec)  # raises on any violation of the OpenAPI 3.1 schema, unresolvable $refs included
    assert has_chinese(spec["info"]["description"])


def test_every_api_route_is_documented_with_each_method(app):
    assert undocumented_routes(app, spec_of(app)) == []


def test_every_operation_has_a_chinese_summary_a_tag_a_success_response_and_security(app):
    spec = spec_of(app)
    assert operation_problems(spec) == []
    declared = {tag["name"]: tag.get("description") for tag in spec["tags"]}
    for method, path, operation in operations(spec):
        assert all(has_chinese(declared.get(tag)) for tag in operation["tags"]), (method, path)


def test_an_undocumented_route_is_reported(app):
    """Would a plain Flask route under /api/v1, added without documentation, be caught?"""
    app.add_url_rule(f"{API_PREFIX}/cases/<int:case_id>/secret", "undocumented_secret",
                     lambda case_id: {}, methods=["GET", "POST"])
    assert undocumented_routes(app, spec_of(app)) == [
        "GET /api/v1/cases/{case_id}/secret: not in the document",
        "POST /api/v1/cases/{case_id}/secret: not in the document",
    ]


def test_an_operation_without_summary_success_response_or_security_is_reported(app):
    """Would a smorest view without docstring, without @blp.response, open without @public, be caught?"""
    blp = Blueprint("careless", __name__, url_prefix=API_PREFIX, description="测试")

    @blp.route("/careless", methods=["POST"])
    def careless():
        return {}

    app.extensions["unionflow_api"].register_blueprint(blp)
    spec = spec_of(app)
    spec.pop("security")  # as if the document required no sign-in anywhere
    problems = [problem for problem in operation_problems(spec) if problem.startswith("POST /api/v1/careless")]
    assert problems == [
        "POST /api/v1/careless: no Chinese summary (the view's docstring)",
        "POST /api/v1/careless: no 2xx response",
        "POST /api/v1/careless: no security requirement",
    ]


def test_public_operations_need_no_sign_in_and_the_others_name_both_ways_in(app):
    spec = spec_of(app)
    assert set(spec["components"]["securitySchemes"]) == {"bearerToken", "browserSession"}
    assert spec["components"]["securitySchemes"]["bearerToken"] == {
        "type": "http", "scheme": "bearer", "description": spec["components"]["securitySchemes"]["bearerToken"]["description"]}
    assert spec["security"] == [{"bearerToken": []}, {"browserSession": []}]
    public = {(method, path) for method, path, operation in operations(spec) if operation.get("security") == []}
    assert ("post", "/api/v1/session") in public  # signing in
    assert ("get", "/api/v1/session") not in public


def test_nullable_fields_are_type_arrays_as_openapi_3_1_has_them(app):
    spec = spec_of(app)
    assert [path for path, node in walk(spec) if "nullable" in node] == []
    assert spec["components"]["schemas"]["Me"]["properties"]["csrf_token"]["type"] == ["string", "null"]
    waits_for = spec["components"]["schemas"]["State"]["properties"]["waits_for"]
    assert waits_for == {"anyOf": [{"$ref": "#/components/schemas/Party"}, {"type": "null"}]}


def test_every_error_response_is_the_one_error_format_described_in_chinese(app):
    spec = spec_of(app)
    components = spec["components"]
    assert components["responses"]["DEFAULT_ERROR"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    error = components["schemas"]["Error"]
    assert error["required"] == ["error"] and error["properties"]["error"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert set(components["schemas"]["ErrorBody"]["required"]) == {"code", "message", "fields"}
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            response = components["responses"][response["$ref"].rsplit("/", 1)[-1]] if "$ref" in response else response
            assert has_chinese(response["description"]), (method, path, status, response["description"])
            if status.startswith(("4", "5")):
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_the_document_lists_no_component_nobody_uses(app):
    """flask-smorest's page-number pagination metadata is not ours (lists page by keyset)."""
    assert "PaginationMetadata" not in spec_of(app)["components"]["schemas"]


# --- What no database column holds ---------------------------------------------------------------

def test_an_id_beyond_the_integer_columns_is_not_found_rather_than_an_overflow(api, app):
    """Would PostgreSQL's "integer out of range" escape as a 500 for DELETE /tokens/2147483648?"""
    client = api("applicant_A1a")
    for token_id in (MAX_ROW_ID + 1, MAX_ROW_ID, 10 ** 30):
        response = client.delete(f"tokens/{token_id}")
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    # A path whose GET and POST are two views: still 404, not werkzeug's 405.
    response = client.get(f"cases/{10 ** 14}/attachments")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    parameter = spec_of(app)["paths"]["/api/v1/tokens/{token_id}"]["parameters"][0]
    assert parameter["schema"] == {"type": "integer", "minimum": 0, "maximum": MAX_ROW_ID}


def test_every_integer_of_the_document_is_bounded_by_the_integer_columns(app):
    unbounded = [path for path, node in walk(spec_of(app))
                 if node.get("type") in ("integer", ["integer", "null"])
                 and not (-MAX_ROW_ID - 1 <= node.get("minimum", -MAX_ROW_ID - 2)
                          and node.get("maximum", MAX_ROW_ID + 1) <= MAX_ROW_ID)]
    assert unbounded == []


def test_an_integer_too_large_for_the_columns_is_refused_on_its_field():
    class Choice(ApiSchema):
        unit_id = fields.Integer(required=True)
        member_ids = fields.List(fields.Integer())

    assert Choice().load({"unit_id": MAX_ROW_ID, "member_ids": [-MAX_ROW_ID - 1]})
    with pytest.raises(ValidationError) as refused:
        Choice().load({"unit_id": MAX_ROW_ID + 1, "member_ids": [1, 2**70]})
    assert refused.value.messages == {"unit_id": ["数字超出允许的范围"], "member_ids": {1: ["数字超出允许的范围"]}}


def test_an_id_field_takes_only_what_names_a_row():
    class UnitChoice(ApiSchema):
        unit_id = RowId(required=True)

    assert UnitChoice().load({"unit_id": MAX_ROW_ID}) == {"unit_id": MAX_ROW_ID}
    for impossible in (0, -5):
        with pytest.raises(ValidationError) as refused:
            UnitChoice().load({"unit_id": impossible})
        assert refused.value.messages == {"unit_id": ["应为有效的编号（正整数）"]}


def test_a_nul_character_in_a_body_is_refused_on_its_field_and_nothing_is_written(api, session, world):
    client = api("applicant_A1a")
    response = client.post("tokens", json={"name": "脚本\x00"})
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"name": ["不能包含空字符（U+0000）"]}
    assert len(list_api_tokens(session, world.actor("applicant_A1a"))) == 1  # the client's own


def test_a_nul_character_in_a_path_matches_no_route(api):
    response = api("applicant_A1a").get("definitions/basic%00nomination")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


# --- The page for people --------------------------------------------------------------------------

def test_the_docs_page_is_public_html_with_every_operation_and_schema(api, app):
    spec = spec_of(app)
    response = api().get("docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert page.count('class="operation"') == len(list(operations(spec)))
    for method, path, operation in operations(spec):
        assert f'<span class="path">{html.escape(path)}</span>' in page
        assert html.escape(operation["summary"]) in page
    for tag in spec["tags"]:
        assert html.escape(tag["description"]) in page
    for name in spec["components"]["schemas"]:
        assert f'id="schema-{name}"' in page


def test_the_docs_page_shows_auth_parameters_body_fields_and_responses(api):
    page = api().get("docs").get_data(as_text=True)
    sign_in = _operation_block(page, "POST", "/api/v1/session")
    assert "公开" in sign_in and "须登录" not in sign_in
    assert "<code>username</code>" in sign_in and "至多 64 个字符" in sign_in  # a body field and its limit
    assert "只用于提交，不会返回" in sign_in  # the password is load-only
    assert '<span class="status">200</span> 成功' in sign_in and '<span class="status">422</span>' in sign_in
    revoke = _operation_block(page, "DELETE", "/api/v1/tokens/{token_id}")
    assert "须登录" in revoke and "<code>token_id</code>" in revoke and "位于路径" in revoke
    assert "成功，无返回内容" in revoke


def test_the_docs_page_loads_nothing_from_elsewhere(api):
    page = api().get("docs").get_data(as_text=True)
    assert "<script" not in page.lower()
    assert not re.search(r'(src|href)="(https?:)?//', page)


def _operation_block(page: str, method: str, path: str) -> str:
    start = page.index(f'<span class="method {method}">{method}</span>\n        <span class="path">{path}</span>')
    end = page.find('<div class="operation"', start)
    return page[start:end if end != -1 else len(page)]
