"""The OpenAPI document and the API agree: what the document allows is accepted, what it does
not is refused on its field. Booleans are true or false, integers are numbers without a
fraction (20.0 is one), a PATCH changes at least one thing, an empty cursor is the first page."""
from __future__ import annotations

import pytest

from tests.api_v1.conftest import error_of


@pytest.fixture
def document(api):
    return api().get("openapi.json").get_json()


@pytest.mark.parametrize("value", [0, 1, "true", "yes", "on", "1", None])
def test_a_boolean_in_a_body_is_true_or_false_only(api, world, value):
    """Is ``{"is_active": 0}`` refused, as the document's boolean says, instead of deactivating?"""
    user_id = world.users["applicant_A1a"].id
    response = api("admin").patch(f"users/{user_id}", json={"is_active": value})
    assert response.status_code == 422
    assert list(error_of(response)["fields"]) == ["is_active"]
    assert world.users["applicant_A1a"].is_active


def test_true_and_false_are_booleans(api, world):
    user_id = world.users["applicant_A1a"].id
    assert api("admin").patch(f"users/{user_id}", json={"is_active": False}).get_json()["is_active"] is False
    assert api("admin").patch(f"users/{user_id}", json={"is_active": True}).get_json()["is_active"] is True


@pytest.mark.parametrize("value, status", [("false", 200), ("true", 403), ("0", 422), ("no", 422)])
def test_a_boolean_in_a_query_string_is_true_or_false(api, value, status):
    response = api("auditor_city").get(f"audit/exports?format=csv&full_data={value}")
    assert response.status_code == status, response.data[:300]
    if status == 422:
        assert list(error_of(response)["fields"]) == ["full_data"]


@pytest.mark.parametrize("body", [None, {}])
def test_a_patch_that_changes_nothing_is_refused(api, world, body):
    """Is ``PATCH /users/1`` with no body a 422, as the document's minProperties says?"""
    user_id = world.users["applicant_A1a"].id
    response = api("admin").patch(f"users/{user_id}", **({} if body is None else {"json": body}))
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"_schema": ["请至少提交一项要修改的内容"]}


def test_the_document_says_a_patch_body_changes_at_least_one_field(document):
    patch = document["paths"]["/api/v1/users/{user_id}"]["patch"]
    ref = patch["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert document["components"]["schemas"][ref.rsplit("/", 1)[1]]["minProperties"] == 1


@pytest.mark.parametrize("value, status", [(30, 201), (30.0, 201), (3650.0, 201), (30.5, 422), ("30", 422),
                                           (True, 422), (1e300, 422)])
def test_an_integer_in_a_body_is_a_number_without_a_fraction(api, value, status):
    """20.0 is the integer JSON Schema's ``integer`` allows; "20" and true are not integers."""
    response = api("applicant_A1a").post("tokens", json={"name": "脚本", "expires_in_days": value})
    assert response.status_code == status, response.data[:300]
    if status == 422:
        assert list(error_of(response)["fields"]) == ["expires_in_days"]


@pytest.mark.parametrize("value, status", [("20", 200), ("20.0", 200), ("20.5", 422), ("x", 422), ("", 422)])
def test_an_integer_in_a_query_string(api, value, status):
    response = api("admin").get(f"users?limit={value}")
    assert response.status_code == status, response.data[:300]


def test_an_empty_cursor_is_the_first_page(api):
    first = api("admin").get("users?limit=2").get_json()
    assert api("admin").get("users?limit=2&cursor=").get_json() == first
    assert api("reviewer_A1").get("inbox?cursor=").status_code == 200
    assert api("admin").get("cases?cursor=").status_code == 200


def test_a_version_written_with_a_fraction_of_zero_is_the_version(api, session, world):
    created = api("applicant_A1a").post("cases", json={"kind": "basic_nomination"}).get_json()
    response = api("applicant_A1a").patch(f"cases/{created['id']}", json={
        "version": float(created["version"]), "form": {"nominee_name": "孙八"}})
    assert response.status_code == 200, response.data[:300]


# --- Every schema of the API, not only the ones the reports named ----------------------------------

def _api_schemas():
    import api  # noqa: F401 - every resource module defines its schemas on import
    from importlib import import_module

    from api import RESOURCE_MODULES
    from api.schemas import ApiSchema

    for name in RESOURCE_MODULES:
        import_module(f"api.{name}")
    found, todo = [], list(ApiSchema.__subclasses__())
    while todo:
        schema = todo.pop()
        todo.extend(schema.__subclasses__())
        found.append(schema)
    return sorted(set(found), key=lambda schema: schema.__qualname__)


def _loadable(kind):
    from marshmallow import fields

    for schema in _api_schemas():
        for name, field in schema().load_fields.items():
            inner = field.inner if isinstance(field, fields.List) else field
            if isinstance(inner, kind):
                yield schema, field.data_key or name, isinstance(field, fields.List)


def _field_errors(schema, key, value) -> list | dict | None:
    from marshmallow import ValidationError

    try:
        schema().load({key: value}, partial=True)
    except ValidationError as err:
        return err.messages.get(key)
    return None


def test_no_boolean_of_any_schema_takes_a_number_or_a_word():
    from marshmallow import fields

    checked = 0
    for schema, key, in_list in _loadable(fields.Boolean):
        for value in (0, 1, "true", "yes", "1"):
            assert _field_errors(schema, key, [value] if in_list else value), (schema.__name__, key, value)
        checked += 1
    assert checked >= 4


def test_every_integer_of_any_schema_is_a_number_without_a_fraction():
    from marshmallow import fields

    checked = 0
    for schema, key, in_list in _loadable(fields.Integer):
        wrap = (lambda value: [value]) if in_list else (lambda value: value)
        for value in ("1", True, 1.5):
            assert _field_errors(schema, key, wrap(value)), (schema.__name__, key, value)
        errors = _field_errors(schema, key, wrap(1.0))
        assert not errors or "应为整数" not in str(errors), (schema.__name__, key, errors)
        checked += 1
    assert checked >= 10
