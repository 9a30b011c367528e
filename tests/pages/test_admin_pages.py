"""The admin pages: org units, people and roles, rounds with quotas and juries, parameter sets.

Every change goes through the engine's admin operations, so the scope rules hold on the pages
too: a county admin sees and changes only the county's subtree.
"""
from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from engine.org.units import OrgUnit, RoleAssignment, User, assign_role, create_user
from engine.procedures.juries import Jury, JuryMember
from engine.procedures.notices import notice_contact
from engine.procedures.parameters import ParameterSet, set_parameters
from engine.procedures.rounds import Round, RoundQuota, open_round, set_quota
from tests.conftest import NOW
from tests.pages.conftest import PASSWORD, PASSWORD_HASH, text_of
from tests.test_hardship_aid import STANDARD_VALUES
from tests.test_medical_subsidy import SCHEME_VALUES
from workflows.hardship_aid import STANDARDS

AWARDS = ["labour_medal", "labour_award"]
NEW_PASSWORD = "fresh start 2026"


def count(session, model) -> int:
    return session.scalar(select(func.count(model.id)))


def sign_in(pages, username: str, password: str = PASSWORD):
    client = pages()
    client.get("/login")
    response = client.submit("/login", {"username": username, "password": password})
    if response.status_code != 302:
        return None
    client.get("/")
    return client


def county_admin(session, world, pages, county: str = "A"):
    """A person holding the admin role at one county, signed in."""
    user = create_user(session, username=f"admin_{county}", display_name=f"{county}区管理员", password_hash=PASSWORD_HASH)
    assign_role(session, user, "admin", world.unit(county))
    session.flush()
    return sign_in(pages, user.username), user


@pytest.fixture
def city_round(session, world):
    return open_round(session, None, kind="honours", unit=world.unit("city"), title="2026年度五一劳动奖评选", year=2026,
                      opens_dt=NOW - timedelta(days=5), closes_dt=NOW + timedelta(days=30), categories=AWARDS)


def admin_urls(world, round_id: int) -> list[str]:
    return ["/admin", "/admin/units", "/admin/users", f"/admin/users/{world.users['reviewer_A1'].id}",
            "/admin/rounds", f"/admin/rounds/{round_id}", "/admin/parameters", f"/admin/parameters/{STANDARDS}/new",
            f"/admin/units/{world.unit('A').id}/notice-contact"]


# --- Access ------------------------------------------------------------------------------------------

def test_every_admin_page_renders_for_the_city_admin(pages, world, city_round):
    client = pages("admin")
    pages_by_url = {url: client.get(url) for url in admin_urls(world, city_round.id)}
    assert {url: r.status_code for url, r in pages_by_url.items()} == {url: 200 for url in pages_by_url}
    assert "B1a公司工会" in text_of(pages_by_url["/admin/units"])
    assert "reviewer_B1" in text_of(pages_by_url["/admin/users"])
    assert "A1街道总工会" in text_of(pages_by_url[f"/admin/users/{world.users['reviewer_A1'].id}"])
    assert "2026年度五一劳动奖评选" in text_of(pages_by_url["/admin/rounds"])
    assert 'name="places-' in text_of(pages_by_url[f"/admin/rounds/{city_round.id}"])
    assert "困难职工认定及帮扶标准" in text_of(pages_by_url["/admin/parameters"])
    assert 'name="values.living_aid_months.deep"' in text_of(pages_by_url[f"/admin/parameters/{STANDARDS}/new"])
    assert 'href="/admin"' in text_of(client.get("/"))  # the header links here


def test_anonymous_visitors_are_sent_to_the_login_page(pages, world, city_round):
    client = pages()
    for url in admin_urls(world, city_round.id):
        response = client.get(url)
        assert response.status_code == 302 and response.location.startswith("/login"), url


@pytest.mark.parametrize("username", ["reviewer_A1", "applicant_A1a", "auditor_city", "reviewer_city"])
def test_people_not_acting_as_admin_get_403(pages, world, city_round, username):
    client = pages(username)
    for url in admin_urls(world, city_round.id):
        response = client.get(url)
        assert response.status_code == 403 and "管理员" in text_of(response), url
    refused = client.submit("/admin/units", {"parent_id": world.unit("A1").id, "name": "新工会", "level": "grassroots",
                                             "kind": "union"})
    assert refused.status_code == 403


def test_a_form_without_the_csrf_token_is_refused_and_writes_nothing(pages, session, world):
    client = pages("admin")
    before = count(session, OrgUnit), count(session, User)
    response = client.post("/admin/units", data={"parent_id": world.unit("A1").id, "name": "伪造工会",
                                                  "level": "grassroots", "kind": "union"})
    assert response.status_code == 400 and "CSRF" in text_of(response)
    forged = client.post("/admin/users", data={"csrf_token": "forged", "username": "x", "display_name": "x"})
    assert forged.status_code == 400
    assert (count(session, OrgUnit), count(session, User)) == before


# --- Org units ---------------------------------------------------------------------------------------

def test_an_admin_sets_a_units_contact_point_for_its_notices(pages, session, world):
    """Can the city admin set the county's 联系人/电话/地址, shown on its notices, from the unit list?"""
    client = pages("admin")
    county = world.unit("A")
    url = f"/admin/units/{county.id}/notice-contact"
    assert f'href="{url}"' in text_of(client.get("/admin/units"))
    form = text_of(client.get(url))
    assert 'id="person" name="person" value=""' in form and "None" not in form
    saved = client.submit(url, {"person": "王主任", "phone": "0571-87654321", "address": "县总工会三楼信访室"})
    assert saved.status_code == 302 and saved.location.endswith(url)
    page = text_of(client.get(url))
    assert "已保存公示异议受理联系方式" in page and 'value="0571-87654321"' in page
    assert notice_contact(session, county)["person"] == "王主任"


def test_a_bad_contact_phone_is_422_at_its_field_and_nothing_saved(pages, session, world):
    client = pages("admin")
    url = f"/admin/units/{world.unit('A').id}/notice-contact"
    client.get(url)
    response = client.submit(url, {"person": "王主任", "phone": "12345", "address": ""})
    assert response.status_code == 422
    page = text_of(response)
    assert '<p class="field-error" id="phone-error">请填写11位手机号或带区号的固定电话</p>' in page
    assert 'value="王主任"' in page
    assert notice_contact(session, world.unit("A"))["person"] is None


def test_a_units_contact_outside_the_admins_subtree_is_not_found(pages, session, world):
    user = create_user(session, username="admin_b", display_name="B区管理员")
    assign_role(session, user, "admin", world.unit("B"))
    world.users["admin_b"] = user
    session.flush()
    client = pages("admin_b")
    url = f"/admin/units/{world.unit('A').id}/notice-contact"
    assert client.get(url).status_code == 404
    client.get(f"/admin/units/{world.unit('B').id}/notice-contact")
    assert client.submit(url, {"person": "冒名"}).status_code == 404
    assert notice_contact(session, world.unit("A"))["person"] is None


def test_the_unit_tree_is_indented_and_a_child_unit_is_created(pages, session, world):
    client = pages("admin")
    page = text_of(client.get("/admin/units"))
    assert page.index("A区总工会") < page.index("A1街道总工会") < page.index("A1a公司工会") < page.index("B区总工会")
    assert 'style="padding-left: 3.0em"' in page  # grassroots sit two steps in
    response = client.submit("/admin/units", {"parent_id": world.unit("A1").id, "name": " 新星公司工会 ",
                                              "level": "grassroots", "kind": "joint_union"})
    assert response.status_code == 302 and response.location == "/admin/units"
    unit = session.scalar(select(OrgUnit).where(OrgUnit.name == "新星公司工会"))
    assert (unit.parent_id, unit.level, unit.kind) == (world.unit("A1").id, "grassroots", "joint_union")
    assert unit.path == f"{world.unit('A1').path}{unit.id}/"
    after = text_of(client.get(response.location))
    assert "已新建单位「新星公司工会」" in after and "新星公司工会" in after


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"level": "county"}, "level", "县（区）总工会不能设在镇（街道）总工会之下"),
    ({"name": "  "}, "name", "请填写单位名称"),
    ({"kind": "company"}, "kind", "未知单位类型「company」"),
    ({"parent_id": ""}, "parent_id", "请选择上级单位"),
])
def test_a_bad_unit_is_422_with_the_message_next_to_the_field(pages, session, world, change, field, message):
    client = pages("admin")
    before = count(session, OrgUnit)
    data = {"parent_id": world.unit("A1").id, "name": "保留的名称", "level": "grassroots", "kind": "union"} | change
    response = client.submit("/admin/units", data)
    page = text_of(response)
    assert response.status_code == 422
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in page
    assert f'aria-describedby="{field}-error"' in page or f'aria-describedby="{field}-hint {field}-error"' in page
    if field != "name":
        assert 'value="保留的名称"' in page
    assert count(session, OrgUnit) == before


# --- People and roles --------------------------------------------------------------------------------

def test_an_admin_creates_a_user_grants_a_role_and_revokes_it(pages, session, world):
    client = pages("admin")
    response = client.submit("/admin/users", {"username": "li.ming", "display_name": "李明", "email": "li@example.cn",
                                              "password": "initial pass 1"})
    person = session.scalar(select(User).where(User.username == "li.ming"))
    assert response.status_code == 302 and response.location == f"/admin/users/{person.id}"
    assert person.display_name == "李明" and person.password_hash.startswith("$argon2")
    assert "已新建账号「li.ming」" in text_of(client.get(response.location))

    granted = client.submit(f"/admin/users/{person.id}/roles", {"role": "reviewer", "unit_id": world.unit("A1").id})
    assert granted.status_code == 302
    session.refresh(person)
    [assignment] = person.assignments
    assert (assignment.role, assignment.org_unit_id) == ("reviewer", world.unit("A1").id)
    page = text_of(client.get(granted.location))
    assert "已授予角色" in page and "A1街道总工会" in page

    again = client.submit(f"/admin/users/{person.id}/roles", {"role": "reviewer", "unit_id": world.unit("A1").id})
    assert again.status_code == 422 and "该用户在该单位已有此角色" in text_of(again)

    revoked = client.submit(f"/admin/users/{person.id}/roles/{assignment.id}/revoke")
    assert revoked.status_code == 302 and "已收回角色" in text_of(client.get(revoked.location))
    assert session.scalar(select(RoleAssignment).where(RoleAssignment.id == assignment.id)) is None

    reviewer = sign_in(pages, "li.ming", "initial pass 1")
    assert reviewer is not None and "李明" in text_of(reviewer.get("/"))


def test_an_admin_grants_an_auditor_the_full_data_permission(pages, session, world):
    person = world.users["reviewer_A2"]
    client = pages("admin")
    form = text_of(client.get(f"/admin/users/{person.id}"))
    assert '<input type="checkbox" id="full_data" name="full_data" value="1"' in form
    assert "可导出完整个人信息（仅限审计人员）" in form and "可导出完整个人信息</span>" not in form

    granted = client.submit(f"/admin/users/{person.id}/roles",
                            {"role": "auditor", "unit_id": world.unit("A").id, "full_data": "1"})
    assert granted.status_code == 302
    plain = client.submit(f"/admin/users/{person.id}/roles", {"role": "auditor", "unit_id": world.unit("B").id})
    assert plain.status_code == 302
    session.refresh(person)
    held = {(a.role, a.org_unit_id): a.full_data for a in person.assignments}
    assert held == {("reviewer", world.unit("A2").id): False, ("auditor", world.unit("A").id): True,
                    ("auditor", world.unit("B").id): False}
    page = text_of(client.get(granted.location))
    rows = re.findall(r"<tr>\s*<td data-label=\"角色\">.*?</tr>", page, re.S)
    marked = [row for row in rows if "可导出完整个人信息</span>" in row]
    assert len(marked) == 1 and "A区总工会" in marked[0]

    refused = client.submit(f"/admin/users/{person.id}/roles",
                            {"role": "reviewer", "unit_id": world.unit("A1").id, "full_data": "1"})
    page = text_of(refused)
    assert refused.status_code == 422
    assert 'id="full_data-error">只有审计人员可以授予查看完整个人信息的权限</p>' in page
    assert re.search(r'name="full_data" value="1"\s*checked', page)  # the choice is kept
    session.refresh(person)
    assert len(person.assignments) == 3


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"username": "li ming"}, "username", "用户名只能包含字母、数字和 _ . @ -"),
    ({"username": "reviewer_A1"}, "username", "该用户名已被使用"),
    ({"display_name": ""}, "display_name", "应为 1 到 64 个字"),
    ({"email": "not-an-email"}, "email", "电子邮箱格式不正确"),
    ({"password": "short"}, "password", "密码至少 8 位"),
])
def test_a_bad_user_is_422_and_nothing_is_written(pages, session, world, change, field, message):
    client = pages("admin")
    before = count(session, User)
    data = {"username": "wang.fang", "display_name": "王芳", "email": "", "password": "long enough 1"} | change
    response = client.submit("/admin/users", data)
    page = text_of(response)
    assert response.status_code == 422 and f'id="{field}-error">{message}</p>' in page
    if field != "display_name":
        assert 'value="王芳"' in page
    assert 'value="long enough 1"' not in page  # a password is never echoed
    assert count(session, User) == before


def test_a_persons_name_and_email_are_changed_and_a_bad_email_is_refused(pages, session, world):
    user = world.users["reviewer_A2"]
    client = pages("admin")
    bad = client.submit(f"/admin/users/{user.id}", {"display_name": "赵敏", "email": "zhao@"})
    assert bad.status_code == 422 and 'id="email-error">电子邮箱格式不正确</p>' in text_of(bad)
    assert 'value="赵敏"' in text_of(bad)
    session.refresh(user)
    assert user.display_name == "reviewer_A2"
    response = client.submit(f"/admin/users/{user.id}", {"display_name": "赵敏", "email": "zhao@example.cn"})
    assert response.status_code == 302 and "已保存基本信息" in text_of(client.get(response.location))
    session.refresh(user)
    assert (user.display_name, user.email) == ("赵敏", "zhao@example.cn")


def test_a_reset_password_lets_the_person_sign_in_with_it(pages, session, world):
    user = world.users["reviewer_A2"]
    user.password_hash = PASSWORD_HASH
    session.flush()
    client = pages("admin")
    short = client.submit(f"/admin/users/{user.id}/password", {"password": "1234"})
    assert short.status_code == 422 and 'id="password-error">密码至少 8 位</p>' in text_of(short)
    assert sign_in(pages, "reviewer_A2") is not None  # unchanged
    response = client.submit(f"/admin/users/{user.id}/password", {"password": NEW_PASSWORD})
    assert response.status_code == 302 and "已重设「reviewer_A2」的密码" in text_of(client.get(response.location))
    assert sign_in(pages, "reviewer_A2") is None
    signed_in = sign_in(pages, "reviewer_A2", NEW_PASSWORD)
    assert signed_in is not None and "您好，reviewer_A2" in text_of(signed_in.get("/"))


def test_a_deactivated_person_cannot_sign_in_until_reactivated(pages, session, world):
    user = world.users["reviewer_A2"]
    user.password_hash = PASSWORD_HASH
    session.flush()
    client = pages("admin")
    response = client.submit(f"/admin/users/{user.id}/active", {"is_active": "0"})
    assert response.status_code == 302 and "已停用账号「reviewer_A2」" in text_of(client.get(response.location))
    assert sign_in(pages, "reviewer_A2") is None
    assert "已停用" in text_of(client.get("/admin/users?q=reviewer_A2"))
    client.submit(f"/admin/users/{user.id}/active", {"is_active": "1"})
    assert sign_in(pages, "reviewer_A2") is not None


def test_an_admin_cannot_lock_themselves_out(pages, session, world):
    client = pages("admin")
    me = world.users["admin"]
    [grant] = me.assignments
    response = client.submit(f"/admin/users/{me.id}/roles/{grant.id}/revoke")
    assert response.status_code == 302
    assert "不能收回您自己仅有的管理员角色" in text_of(client.get(response.location))
    assert session.scalar(select(RoleAssignment).where(RoleAssignment.id == grant.id)) is not None
    deactivated = client.submit(f"/admin/users/{me.id}/active", {"is_active": "0"})
    assert deactivated.status_code == 422 and "不能停用自己的账号" in text_of(deactivated)
    session.refresh(me)
    assert me.is_active and client.get("/admin").status_code == 200


def test_users_are_searched_by_name_and_paged(pages, session, world, monkeypatch):
    monkeypatch.setattr("pages.admin.USERS_PER_PAGE", 3)
    client = pages("admin")
    found = text_of(client.get("/admin/users?q=applicant"))
    assert "applicant_A1a" in found and "applicant_B1a" in found and "reviewer_A1" not in found
    first = text_of(client.get("/admin/users"))
    assert first.count('href="/admin/users/') == 3 and "下一页" in first
    after = world.users["reviewer_A1a"].id  # the third by id
    second = text_of(client.get(f"/admin/users?after={after}"))
    assert "reviewer_A1<" not in first and "reviewer_A1<" in second and "回到第一页" in second


# --- Scope: a county admin ---------------------------------------------------------------------------

def test_a_county_admin_sees_and_changes_only_their_county(pages, session, world):
    client, _admin = county_admin(session, world, pages, "A")
    units = text_of(client.get("/admin/units"))
    assert "A1a公司工会" in units and "B区总工会" not in units and "B1a公司工会" not in units
    people = text_of(client.get("/admin/users"))
    assert "reviewer_A1" in people and "reviewer_B1" not in people and "reviewer_city" not in people
    assert client.get(f"/admin/users/{world.users['reviewer_B1'].id}").status_code == 404
    # reviewer_A1_and_A holds roles only in A; the city admin is outside
    assert client.get(f"/admin/users/{world.users['admin'].id}").status_code == 404

    before = count(session, OrgUnit), count(session, RoleAssignment)
    under_b = client.submit("/admin/units", {"parent_id": world.unit("B1").id, "name": "越界工会",
                                             "level": "grassroots", "kind": "union"})
    assert under_b.status_code == 403 and "只能在您管理的单位之下新建单位" in text_of(under_b)
    grant_in_b = client.submit(f"/admin/users/{world.users['reviewer_A1'].id}/roles",
                               {"role": "reviewer", "unit_id": world.unit("B").id})
    assert grant_in_b.status_code == 403
    reset_b = client.submit(f"/admin/users/{world.users['reviewer_B1'].id}/password", {"password": NEW_PASSWORD})
    assert reset_b.status_code == 404
    revoke_b = client.submit(f"/admin/users/{world.users['reviewer_B1'].id}/roles/"
                             f"{world.users['reviewer_B1'].assignments[0].id}/revoke")
    assert revoke_b.status_code == 404
    assert (count(session, OrgUnit), count(session, RoleAssignment)) == before

    inside = client.submit("/admin/units", {"parent_id": world.unit("A2").id, "name": "A2新工会",
                                            "level": "grassroots", "kind": "union"})
    assert inside.status_code == 302


# --- Rounds, quotas, juries --------------------------------------------------------------------------

ROUND_FORM = {"kind": "honours", "title": "2027年度五一劳动奖评选", "year": "2027", "opens_at": "2027-03-01T09:00",
              "closes_at": "2027-04-30T17:00", "categories": AWARDS, "settings.over_nomination_percent": "120",
              "settings": json.dumps({"person_awards": ["labour_medal"], "repeat_years": 5})}


def test_an_admin_opens_a_round_and_sets_the_quotas(pages, session, world):
    client = pages("admin")
    response = client.submit("/admin/rounds", ROUND_FORM)
    round_ = session.scalar(select(Round).where(Round.title == "2027年度五一劳动奖评选"))
    assert response.status_code == 302 and response.location == f"/admin/rounds/{round_.id}"
    assert (round_.unit_id, round_.year, round_.categories) == (world.unit("city").id, 2027, AWARDS)
    assert round_.settings["over_nomination_percent"] == 120 and round_.settings["repeat_years"] == 5
    assert round_.opens_dt.hour == 1  # 09:00 in Beijing
    page = text_of(client.get(response.location))
    assert "已发布评选批次" in page and 'name="places-{}-labour_medal"'.format(world.unit("A").id) in page

    a, b = world.unit("A").id, world.unit("B").id
    saved = client.submit(f"/admin/rounds/{round_.id}/quotas", {
        f"places-{a}-labour_medal": "5", f"places-{a}-labour_award": "3", f"places-{b}-labour_medal": "4"})
    assert saved.status_code == 302
    quotas = {(q.unit_id, q.category): q.places for q in session.scalars(
        select(RoundQuota).where(RoundQuota.round_id == round_.id))}
    assert quotas == {(a, "labour_medal"): 5, (a, "labour_award"): 3, (b, "labour_medal"): 4}
    page = text_of(client.get(saved.location))
    assert "已保存名额（3 项）" in page and f'id="places-{a}-labour_medal"' in page
    assert f'name="places-{a}-labour_medal" min="0"' in page
    # allowed = 5 × 120% = 6, shown in the usage table
    assert "<td data-label=\"可报送\">6</td>" in page


def test_a_county_admin_splits_the_county_quota_among_its_townships(pages, session, world, city_round):
    set_quota(session, None, city_round, world.unit("A"), "labour_medal", 5)
    client, _admin = county_admin(session, world, pages, "A")
    page = text_of(client.get(f"/admin/rounds/{city_round.id}"))
    a1, b1 = world.unit("A1").id, world.unit("B1").id
    assert f'name="places-{a1}-labour_medal"' in page and f"places-{b1}-" not in page
    assert "尚未组建。评审委员会由批次发布单位（示范市总工会）组建。" in page
    response = client.submit(f"/admin/rounds/{city_round.id}/quotas", {f"places-{a1}-labour_medal": "2",
                                                                        f"places-{b1}-labour_medal": "9"})
    assert response.status_code == 302
    quotas = {(q.unit_id, q.places) for q in session.scalars(select(RoundQuota).where(
        RoundQuota.round_id == city_round.id))}
    assert quotas == {(world.unit("A").id, 5), (a1, 2)}  # B1's cell is not on A's page


def test_a_bad_quota_cell_is_422_and_no_quota_is_saved(pages, session, world, city_round):
    client = pages("admin")
    a, b = world.unit("A").id, world.unit("B").id
    response = client.submit(f"/admin/rounds/{city_round.id}/quotas", {
        f"places-{a}-labour_medal": "5", f"places-{b}-labour_medal": "-1", f"places-{b}-labour_award": "20000"})
    page = text_of(response)
    assert response.status_code == 422 and "本次未保存任何名额" in page
    assert f'id="places-{b}-labour_medal-error">名额应为不小于 0 的整数</p>' in page
    assert f'id="places-{b}-labour_award-error">名额应在 0 到 10000 之间</p>' in page
    assert 'value="-1"' in page  # what was typed stays
    assert count(session, RoundQuota) == 0


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"closes_at": "2027-02-01T09:00"}, "closes_at", "截止时间应晚于开始时间"),
    ({"categories": []}, "categories", "请至少选择一个类别"),
    ({"title": " "}, "title", "请填写批次名称"),
    ({"opens_at": "明天"}, "opens_at", "请填写日期和时间，例如 2026-05-01 09:00"),
    ({"year": "1999"}, "year", "应在 2000 到 2100 之间"),
    ({"kind": "hardship_aid"}, "kind", "不分批次"),
    ({"settings.over_nomination_percent": "400"}, "settings.over_nomination_percent", "应在 100 到 300 之间"),
])
def test_a_bad_round_is_422_with_the_message_and_nothing_is_written(pages, session, world, change, field, message):
    client = pages("admin")
    response = client.submit("/admin/rounds", ROUND_FORM | change)
    page = text_of(response)
    assert response.status_code == 422
    assert f'id="{field}-error">' in page and message in page.split(f'id="{field}-error">', 1)[1].split("</p>")[0]
    assert 'value="2027年度五一劳动奖评选"' in page or field == "title"
    assert count(session, Round) == 0


def test_bad_round_settings_are_shown_under_the_settings_box(pages, session, world):
    client = pages("admin")
    broken = client.submit("/admin/rounds", ROUND_FORM | {"settings": "{not json"})
    assert broken.status_code == 422 and 'id="settings-error">不是有效的 JSON</p>' in text_of(broken)
    unknown = client.submit("/admin/rounds", ROUND_FORM | {"settings": json.dumps({"colour": "red"})})
    assert unknown.status_code == 422 and 'id="settings-error">colour：' in text_of(unknown)
    assert count(session, Round) == 0


def test_an_admin_forms_the_jury_of_their_round(pages, session, world, city_round):
    client = pages("admin")
    jurors = [world.users[name].id for name in ("reviewer_city", "reviewer_A", "reviewer_B")]
    empty = client.submit(f"/admin/rounds/{city_round.id}/jury", {"title": "评审委员会", "pass_numerator": "2",
                                                                   "pass_denominator": "3", "quorum_numerator": "2",
                                                                   "quorum_denominator": "3"})
    assert empty.status_code == 422 and 'id="member_ids-error">请至少选择一名评委</p>' in text_of(empty)
    bad_fraction = client.submit(f"/admin/rounds/{city_round.id}/jury", {
        "title": "评审委员会", "member_ids": jurors, "pass_numerator": "4", "pass_denominator": "3",
        "quorum_numerator": "2", "quorum_denominator": "3"})
    assert bad_fraction.status_code == 422 and "通过比例应在0到1之间" in text_of(bad_fraction)
    assert count(session, Jury) == 0
    response = client.submit(f"/admin/rounds/{city_round.id}/jury", {
        "title": "2026年度评审委员会", "member_ids": jurors, "pass_numerator": "2", "pass_denominator": "3",
        "quorum_numerator": "1", "quorum_denominator": "2"})
    assert response.status_code == 302
    jury = session.scalar(select(Jury).where(Jury.round_id == city_round.id))
    assert (jury.title, jury.quorum_numerator, jury.quorum_denominator) == ("2026年度评审委员会", 1, 2)
    assert set(session.scalars(select(JuryMember.user_id).where(JuryMember.jury_id == jury.id))) == set(jurors)
    page = text_of(client.get(response.location))
    assert "已组建评审委员会" in page and "评委（3 人）" in page and "reviewer_B" in page


# --- Parameter sets ----------------------------------------------------------------------------------

def standards_form(unit_id: int, **changes) -> dict:
    months = STANDARD_VALUES["living_aid_months"]
    form = {"unit_id": unit_id, "valid_from": "2027-01-01", "valid_to": "",
            **{f"values.{key}": value for key, value in STANDARD_VALUES.items() if key != "living_aid_months"},
            **{f"values.living_aid_months.{key}": str(value) for key, value in months.items()}}
    return form | changes


def test_an_admin_adds_a_version_of_the_hardship_standards(pages, session, world):
    set_parameters(session, None, STANDARDS, unit=world.unit("city"), valid_from=date(2026, 1, 1),
                   values=STANDARD_VALUES)
    client = pages("admin")
    form_page = text_of(client.get(f"/admin/parameters/{STANDARDS}/new"))
    assert 'name="values.minimum_living_standard" value="820.00"' in form_page  # starts from the last version
    response = client.submit(f"/admin/parameters/{STANDARDS}/new", standards_form(
        world.unit("A").id, **{"values.minimum_living_standard": "900"}))
    assert response.status_code == 302 and response.location == "/admin/parameters"
    row = session.scalar(select(ParameterSet).where(ParameterSet.unit_id == world.unit("A").id))
    assert row.valid_from == date(2027, 1, 1) and row.valid_to is None
    assert row.values["minimum_living_standard"] == "900.00" and row.values["living_aid_months"]["relative"] == 10
    page = text_of(client.get("/admin/parameters"))
    assert "已新增一版「困难职工认定及帮扶标准」，自 2027-01-01 起适用" in page and "A区总工会" in page


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"values.minimum_living_standard": "八百"}, "values.minimum_living_standard", "应为数字"),
    ({"values.living_aid_months.deep": "13"}, "values.living_aid_months.deep", "应在 0 到 12 之间"),
    ({"values.living_aid_months.deep": "十二"}, "values.living_aid_months.deep", "应为整数"),
    ({"values.relative_multiplier": "1"}, "values.relative_multiplier", "相对困难的倍数应高于深度困难的倍数"),
    ({"values.yearly_cap_per_household": ""}, "values.yearly_cap_per_household", "此项为必填项"),
    ({"valid_to": "2026-12-31"}, "valid_to", "结束日期不能早于开始日期"),
    ({"valid_from": ""}, "valid_from", "请填写日期"),
])
def test_a_bad_parameter_set_is_422_naming_the_field_and_writes_nothing(pages, session, world, change, field,
                                                                         message):
    client = pages("admin")
    response = client.submit(f"/admin/parameters/{STANDARDS}/new", standards_form(world.unit("city").id, **change))
    page = text_of(response)
    assert response.status_code == 422 and f'<p class="field-error" id="{field}-error">{message}' in page
    assert 'value="20000.00"' in page or field == "values.yearly_cap_per_household"
    assert count(session, ParameterSet) == 0


def test_a_medical_scheme_table_is_entered_as_json_and_checked_by_the_engine(pages, session, world):
    client = pages("admin")
    name = "medical_subsidy.schemes"
    assert 'name="values.schemes"' in text_of(client.get(f"/admin/parameters/{name}/new"))
    bad = dict(SCHEME_VALUES["schemes"])
    bad["mutual_aid"] = bad["mutual_aid"] | {"formula": "percent"}
    response = client.submit(f"/admin/parameters/{name}/new", {
        "unit_id": world.unit("city").id, "valid_from": "2026-01-01", "values.schemes": json.dumps(bad)})
    assert response.status_code == 422
    assert "mutual_aid.value.formula：补助方式应为 ratio（按比例）或 tiers（分档）" in text_of(response)
    assert count(session, ParameterSet) == 0
    response = client.submit(f"/admin/parameters/{name}/new", {
        "unit_id": world.unit("city").id, "valid_from": "2026-01-01",
        "values.schemes": json.dumps(SCHEME_VALUES["schemes"], ensure_ascii=False)})
    assert response.status_code == 302
    row = session.scalar(select(ParameterSet).where(ParameterSet.name == name))
    assert row.values["schemes"]["mutual_aid"]["cap"] == "50000.00"


def test_a_county_admin_cannot_set_parameters_for_the_city_or_another_county(pages, session, world):
    client, _admin = county_admin(session, world, pages, "A")
    for unit in ("city", "B"):
        response = client.submit(f"/admin/parameters/{STANDARDS}/new", standards_form(world.unit(unit).id))
        assert response.status_code == 403, unit
    assert count(session, ParameterSet) == 0
    assert client.get("/admin/parameters/no.such.set/new").status_code == 404
