"""Admin over the API: org units, people and roles, each admin only within their own subtree."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.org.accounts import authenticate
from engine.org.units import OrgUnit, RoleAssignment, User, assign_role, create_user, load_actor
from tests.api_v1.conftest import error_of


@pytest.fixture
def admin_A(session, world):
    """An admin of county A only."""
    user = create_user(session, username="admin_A", display_name="A区管理员")
    assign_role(session, user, "admin", world.unit("A"))
    session.flush()
    world.users["admin_A"], world.actors["admin_A"] = user, load_actor(session, user.id)
    return user


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


# --- Non-admins ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "org-units", None),
    ("POST", "org-units", {"name": "新工会", "level": "grassroots", "parent_id": 1}),
    ("GET", "org-units/1", None),
    ("GET", "users", None),
    ("POST", "users", {"username": "x", "display_name": "x"}),
    ("GET", "users/1", None),
    ("PATCH", "users/1", {"display_name": "x"}),
    ("POST", "users/1/roles", {"role": "reviewer", "unit_id": 1}),
    ("DELETE", "users/1/roles/1", None),
])
def test_non_admins_are_refused_everywhere(api, session, method, path, body):
    before = (count(session, OrgUnit), count(session, User), count(session, RoleAssignment))
    for who in ("reviewer_city", "auditor_city", "applicant_A1a"):
        response = api(who).call(method, path, json=body)
        assert response.status_code == 403
        assert error_of(response)["message"] == "只有管理员可以管理单位和用户"
    assert (count(session, OrgUnit), count(session, User), count(session, RoleAssignment)) == before


# --- Org units -------------------------------------------------------------------------------------

def test_the_city_admin_lists_every_unit_parents_first(api, world):
    units = api("admin").get("org-units").get_json()["units"]
    assert len(units) == 10
    assert units[0] == units[0] | {"id": world.unit("city").id, "level": "city", "parent_id": None,
                                   "path": world.unit("city").path, "level_label": "市总工会"}
    seen = set()
    for unit in units:
        assert unit["parent_id"] is None or unit["parent_id"] in seen
        seen.add(unit["id"])


def test_a_county_admin_sees_only_the_county(api, world, admin_A):
    names = [unit["name"] for unit in api("admin_A").get("org-units").get_json()["units"]]
    assert names == ["A区总工会", "A1街道总工会", "A1a公司工会", "A1b公司工会", "A2街道总工会", "A2a公司工会"]
    children = api("admin_A").get(f"org-units?parent_id={world.unit('A1').id}").get_json()["units"]
    assert [unit["name"] for unit in children] == ["A1a公司工会", "A1b公司工会"]
    for outside in ("B", "city"):
        assert api("admin_A").get(f"org-units/{world.unit(outside).id}").status_code == 404
        assert api("admin_A").get(f"org-units?parent_id={world.unit(outside).id}").status_code == 404
    assert api("admin_A").get(f"org-units/{world.unit('A2a').id}").get_json()["name"] == "A2a公司工会"


def test_admin_creates_a_unit_under_one_of_theirs(api, session, world, admin_A):
    parent = world.unit("A1")
    response = api("admin_A").post("org-units", json={"name": "A1c联合工会", "level": "grassroots",
                                                      "kind": "joint_union", "parent_id": parent.id})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["parent_id"], body["level"], body["kind_label"]) == (parent.id, "grassroots", "联合工会")
    assert body["path"] == f"{parent.path}{body['id']}/"
    assert session.get(OrgUnit, body["id"]).name == "A1c联合工会"


def test_a_county_admin_cannot_create_under_another_county(api, session, world, admin_A):
    before = count(session, OrgUnit)
    response = api("admin_A").post("org-units", json={"name": "越权工会", "level": "township",
                                                      "parent_id": world.unit("B").id})
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"
    assert count(session, OrgUnit) == before


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"level": "grassroots", "parent_id": "A1"}, "name", "此项为必填项"),
    ({"name": "", "level": "grassroots", "parent_id": "A1"}, "name", "应为 1 到 100 个字"),
    ({"name": "x", "level": "village", "parent_id": "A1"}, "level", None),
    ({"name": "x", "level": "grassroots", "kind": "club", "parent_id": "A1"}, "kind", None),
    ({"name": "x", "level": "grassroots"}, "parent_id", "此项为必填项"),
    ({"name": "x", "level": "grassroots", "parent_id": "one"}, "parent_id", "应为整数"),
    ({"name": "x", "level": "grassroots", "parent_id": 999999}, "parent_id", "上级单位不存在"),
    ({"name": "x", "level": "county", "parent_id": "A1"}, "level", "县（区）总工会不能设在镇（街道）总工会之下"),
    ({"name": "   ", "level": "grassroots", "parent_id": "A1"}, "name", "请填写单位名称"),
    ({"name": "x", "level": "grassroots", "parent_id": "A1", "code": 7}, "code", "不认识的字段"),
])
def test_bad_units_are_422_naming_the_field_and_nothing_is_written(api, session, world, body, field, message):
    if body.get("parent_id") == "A1":
        body = body | {"parent_id": world.unit("A1").id}
    before = count(session, OrgUnit)
    response = api("admin").post("org-units", json=body)
    assert response.status_code == 422
    error = error_of(response)
    assert set(error["fields"]) == {field}
    if message:
        assert error["fields"][field] == [message]
    assert count(session, OrgUnit) == before


# --- People ----------------------------------------------------------------------------------------

def test_admin_creates_a_person_who_can_then_sign_in(api, session):
    response = api("admin").post("users", json={"username": "wang.fang", "display_name": "王芳",
                                                "email": "wang@example.com", "password": "correct horse"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body | {"id": 0, "created_at": ""} == {
        "id": 0, "username": "wang.fang", "display_name": "王芳", "email": "wang@example.com", "is_active": True,
        "has_password": True, "created_at": "", "roles": []}
    assert "correct horse" not in response.get_data(as_text=True)
    assert "argon2" not in response.get_data(as_text=True)
    stored = session.get(User, body["id"])
    assert stored.password_hash.startswith("$argon2")
    assert authenticate(session, "wang.fang", "correct horse").user_id == body["id"]


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"display_name": "王芳"}, "username", "此项为必填项"),
    ({"username": "wang fang", "display_name": "王芳"}, "username", "用户名只能包含字母、数字和 _ . @ -"),
    ({"username": "admin", "display_name": "王芳"}, "username", "该用户名已被使用"),
    ({"username": "wf"}, "display_name", "此项为必填项"),
    ({"username": "wf", "display_name": "王芳", "email": "not-an-email"}, "email", "电子邮箱格式不正确"),
    ({"username": "wf", "display_name": "王芳", "password": "short"}, "password", "密码至少 8 位"),
    ({"username": "wf", "display_name": "王芳", "password": 12345678}, "password", "应为文字"),
    ({"username": "wf", "display_name": "王芳", "is_admin": True}, "is_admin", "不认识的字段"),
])
def test_bad_people_are_422_naming_the_field_and_nothing_is_written(api, session, body, field, message):
    before = count(session, User)
    response = api("admin").post("users", json=body)
    assert response.status_code == 422
    assert error_of(response)["fields"] == {field: [message]}
    assert count(session, User) == before


def test_people_are_listed_in_keyset_pages(api, session, world):
    client = api("admin")
    first = client.get("users?limit=5").get_json()
    assert len(first["items"]) == 5 and first["next_cursor"]
    ids = [user["id"] for user in first["items"]]
    # A person created meanwhile does not shift the next page.
    client.post("users", json={"username": "late", "display_name": "后来者"})
    second = client.get(f"users?limit=5&cursor={first['next_cursor']}").get_json()
    assert [user["id"] for user in second["items"]][0] == ids[-1] + 1
    everyone = []
    cursor = None
    while True:
        page = client.get("users?limit=4" + (f"&cursor={cursor}" if cursor else "")).get_json()
        everyone += [user["username"] for user in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(everyone) == len(world.users) + 1 == len(set(everyone))


def test_people_filter_by_unit_and_text(api, world):
    client = api("admin")
    at_a1 = client.get(f"users?unit_id={world.unit('A1').id}").get_json()["items"]
    assert sorted(user["username"] for user in at_a1) == ["reviewer_A1", "reviewer_A1_and_A"]
    found = client.get("users?q=auditor").get_json()["items"]
    assert sorted(user["username"] for user in found) == ["auditor_A", "auditor_city"]
    assert client.get("users?q=%25").get_json()["items"] == []  # a literal %, not a wildcard


@pytest.mark.parametrize(("query", "field"), [
    ("limit=0", "limit"), ("limit=x", "limit"), ("cursor=nonsense", "cursor"), ("unit_id=x", "unit_id"),
    ("q=", "q"),
])
def test_bad_user_queries_are_422(api, query, field):
    response = api("admin").get(f"users?{query}")
    assert response.status_code == 422
    assert set(error_of(response)["fields"]) == {field}


def test_a_county_admin_manages_only_people_wholly_inside_the_county(api, world, admin_A):
    client = api("admin_A")
    usernames = []
    cursor = None
    while True:
        page = client.get("users?limit=50" + (f"&cursor={cursor}" if cursor else "")).get_json()
        usernames += [user["username"] for user in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert sorted(usernames) == ["admin_A", "applicant_A1a", "applicant_A1b", "auditor_A", "reviewer_A",
                                 "reviewer_A1", "reviewer_A1_and_A", "reviewer_A1a", "reviewer_A2"]
    for outside in ("reviewer_B", "admin", "reviewer_city"):
        user_id = world.users[outside].id
        assert client.get(f"users/{user_id}").status_code == 404
        assert client.patch(f"users/{user_id}", json={"password": "taken over!"}).status_code == 404
    assert client.get(f"users?unit_id={world.unit('B').id}").status_code == 404


def test_admin_changes_a_person_and_deactivation_ends_their_access(api, session, world):
    client = api("admin")
    person = api("applicant_A1a")
    user_id = world.users["applicant_A1a"].id
    response = client.patch(f"users/{user_id}", json={"display_name": "张三", "email": None,
                                                      "password": "new password 2026"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["display_name"] == "张三"
    session.expire_all()  # the request wrote through its own session
    assert authenticate(session, "applicant_A1a", "new password 2026") is not None
    # A reset answers a lost or taken-over account: the tokens made before it are revoked.
    assert person.get("session").status_code == 401
    person = api("applicant_A1a")
    assert person.get("session").status_code == 200
    assert client.patch(f"users/{user_id}", json={"is_active": False}).get_json()["is_active"] is False
    assert person.get("session").status_code == 401


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"display_name": ""}, "display_name", "应为 1 到 64 个字"),
    ({"display_name": "  "}, "display_name", "请填写姓名"),
    ({"is_active": "maybe"}, "is_active", "应为 true 或 false"),
    ({"password": "short"}, "password", "密码至少 8 位"),
    ({"username": "renamed"}, "username", "不认识的字段"),
])
def test_bad_changes_are_422_and_nothing_is_written(api, session, world, body, field, message):
    user = world.users["applicant_A1a"]
    response = api("admin").patch(f"users/{user.id}", json=body)
    assert response.status_code == 422
    assert error_of(response)["fields"] == {field: [message]}
    session.expire_all()
    assert (user.display_name, user.password_hash, user.username) == ("applicant_A1a", None, "applicant_A1a")


def test_an_admin_cannot_deactivate_themselves(api, world):
    response = api("admin").patch(f"users/{world.users['admin'].id}", json={"is_active": False})
    assert response.status_code == 422
    assert set(error_of(response)["fields"]) == {"is_active"}


def test_unknown_person_is_404(api):
    assert api("admin").get("users/999999").status_code == 404
    assert api("admin").patch("users/999999", json={"display_name": "x"}).status_code == 404


# --- Roles -----------------------------------------------------------------------------------------

def test_admin_grants_and_revokes_a_role(api, session, world):
    client = api("admin")
    user_id = client.post("users", json={"username": "new_reviewer", "display_name": "新审核人"}).get_json()["id"]
    response = client.post(f"users/{user_id}/roles", json={"role": "reviewer", "unit_id": world.unit("A2").id})
    assert response.status_code == 201, response.get_json()
    grant = response.get_json()
    assert grant | {"id": 0} == {"id": 0, "role": "reviewer", "role_label": "审核人", "unit_id": world.unit("A2").id,
                                 "unit_name": "A2街道总工会", "unit_level": "township", "full_data": False}
    assert [role["id"] for role in client.get(f"users/{user_id}").get_json()["roles"]] == [grant["id"]]
    assert client.delete(f"users/{user_id}/roles/{grant['id']}").status_code == 204
    assert session.get(RoleAssignment, grant["id"]) is None
    assert client.delete(f"users/{user_id}/roles/{grant['id']}").status_code == 404


def test_an_auditor_may_be_granted_full_personal_data(api, session, world):
    client = api("admin")
    user_id = client.post("users", json={"username": "full_auditor", "display_name": "完整审计"}).get_json()["id"]
    response = client.post(f"users/{user_id}/roles",
                           json={"role": "auditor", "unit_id": world.unit("A").id, "full_data": True})
    assert response.status_code == 201, response.get_json()
    assert response.get_json() | {"id": 0} == {"id": 0, "role": "auditor", "role_label": "审计人员",
                                               "unit_id": world.unit("A").id, "unit_name": "A区总工会",
                                               "unit_level": "county", "full_data": True}
    assert session.get(RoleAssignment, response.get_json()["id"]).full_data is True
    plain = client.post(f"users/{user_id}/roles", json={"role": "auditor", "unit_id": world.unit("B").id})
    assert plain.get_json()["full_data"] is False  # the default
    shown = client.get(f"users/{user_id}").get_json()["roles"]
    assert sorted((role["unit_name"], role["full_data"]) for role in shown) == [("A区总工会", True), ("B区总工会", False)]
    listed = client.get("users", query_string={"q": "full_auditor"}).get_json()["items"]
    assert [role["full_data"] for role in listed[0]["roles"]] == [role["full_data"] for role in shown]


@pytest.mark.parametrize("role", ["reviewer", "applicant", "admin"])
def test_full_data_for_a_role_other_than_auditor_is_422_and_nothing_is_written(api, session, world, role):
    before = count(session, RoleAssignment)
    response = api("admin").post(f"users/{world.users['applicant_A1b'].id}/roles",
                                 json={"role": role, "unit_id": world.unit("A2").id, "full_data": True})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_failed" and set(error["fields"]) == {"full_data"}
    assert count(session, RoleAssignment) == before


def test_full_data_must_be_a_boolean(api, world):
    response = api("admin").post(f"users/{world.users['applicant_A1b'].id}/roles",
                                 json={"role": "auditor", "unit_id": world.unit("A2").id, "full_data": "maybe"})
    assert response.status_code == 422 and set(error_of(response)["fields"]) == {"full_data"}


def test_an_admin_cannot_revoke_their_own_last_admin_role(api, session, world):
    admin = world.users["admin"]
    own = next(a for a in admin.assignments if a.role == "admin")
    refused = api("admin").delete(f"users/{admin.id}/roles/{own.id}")
    assert refused.status_code == 409 and "仅有的管理员角色" in error_of(refused)["message"]
    assert session.get(RoleAssignment, own.id) is not None


def test_the_same_grant_twice_is_409(api, session, world):
    user = world.users["reviewer_A1"]
    before = count(session, RoleAssignment)
    response = api("admin").post(f"users/{user.id}/roles", json={"role": "reviewer", "unit_id": world.unit("A1").id})
    assert response.status_code == 409
    assert error_of(response)["message"] == "该用户在该单位已有此角色"
    assert count(session, RoleAssignment) == before


@pytest.mark.parametrize(("body", "field"), [
    ({"unit_id": "A1"}, "role"), ({"role": "boss", "unit_id": "A1"}, "role"), ({"role": "reviewer"}, "unit_id"),
    ({"role": "reviewer", "unit_id": 999999}, "unit_id"), ({"role": "reviewer", "unit_id": "A1", "x": 1}, "x"),
])
def test_bad_grants_are_422_and_nothing_is_written(api, session, world, body, field):
    if body.get("unit_id") == "A1":
        body = body | {"unit_id": world.unit("A1").id}
    before = count(session, RoleAssignment)
    response = api("admin").post(f"users/{world.users['applicant_A1a'].id}/roles", json=body)
    assert response.status_code == 422
    assert set(error_of(response)["fields"]) == {field}
    assert count(session, RoleAssignment) == before


def test_a_county_admin_cannot_grant_roles_in_another_county(api, session, world, admin_A):
    client = api("admin_A")
    before = count(session, RoleAssignment)
    own = world.users["applicant_A1a"].id
    response = client.post(f"users/{own}/roles", json={"role": "reviewer", "unit_id": world.unit("B1").id})
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"
    response = client.post(f"users/{own}/roles", json={"role": "admin", "unit_id": world.unit("city").id})
    assert response.status_code == 403
    # Nor touch the roles of someone else's person.
    outsider = world.users["reviewer_B1"]
    assignment = outsider.assignments[0]
    assert client.delete(f"users/{outsider.id}/roles/{assignment.id}").status_code == 404
    assert count(session, RoleAssignment) == before
    # Within the county it works.
    response = client.post(f"users/{own}/roles", json={"role": "reviewer", "unit_id": world.unit("A1a").id})
    assert response.status_code == 201
