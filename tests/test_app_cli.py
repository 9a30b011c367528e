"""The HTTP and command-line layer: app factory, home page, JSON API, `unionflow` commands.

These test the layer above the engine, on SQLite files of their own (the engine's
behaviour on both databases is covered by the other test modules).
"""
from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from api.auth import public
from engine.base.config import Settings
from engine.base.errors import Conflict, NotFound, ValidationFailed
from engine.cases.case import Case
from engine.definitions.spec import ASSIGNEE
from engine.definitions.store import WorkflowKind, read_definition_files
from engine.org.units import OrgUnit, RoleAssignment, User, create_org_unit
from tests.conftest import SETTINGS
from unionflow.app import create_app
from unionflow.cli import UnionflowGroup, cli
from unionflow.demo import COUNTIES, DEMO_PASSWORD, DEMO_USERS
from web.database import request_session, unit_of_work

DEFINITIONS = {definition.kind: definition for _, definition in read_definition_files(SETTINGS.workflows_dir)}

BROKEN_DEFINITION = """
kind: broken
label: 有错误的流程
origin_level: grassroots
title_field: name
states:
  - {id: draft, label: 草稿, kind: draft}
  - {id: done, label: 完成, kind: finished}
transitions:
  - {trigger: submit, label: 提交, source: draft, dest: done, by: applicant@origin}
form:
  - {name: name, label: 名称, type: text}
"""


def settings_for(url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=url,
        workflows_dir=SETTINGS.workflows_dir,
        timezone=ZoneInfo("Asia/Shanghai"),
        attachments_dir=tmp_path / "attachments",
    )


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


def assert_clean_failure(result) -> None:
    """Exit status 1 through click, with a message and no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory) -> str:
    """A database prepared by `unionflow demo setup`, shared by this module's read-only tests."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    result = invoke("demo", "setup", "--db", url)
    assert result.exit_code == 0, result.output
    return url


@pytest.fixture(scope="module")
def demo_auth(demo_url) -> dict:
    """An Authorization header for a demo reviewer's personal API token."""
    from engine.base.db import make_engine, make_session_factory
    from engine.org.accounts import create_api_token
    from engine.org.units import load_actor

    engine = make_engine(demo_url)
    try:
        with make_session_factory(engine)() as session:
            user_id = session.scalar(select(User.id).where(User.username == DEMO_USERS[0][0]))
            _, token = create_api_token(session, load_actor(session, user_id), "测试")
            session.commit()
    finally:
        engine.dispose()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def fresh_url(tmp_path) -> str:
    """An upgraded database with nothing loaded."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert invoke("db", "upgrade", "--db", url).exit_code == 0
    return url


@pytest.fixture
def make_app(tmp_path):
    apps = []

    def make(url: str, **overrides):
        app = create_app(settings_for(url, tmp_path), SECRET_KEY="test-secret", TESTING=True, **overrides)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["unionflow"].engine.dispose()


def count(url: str, model) -> int:
    from engine.base.db import make_engine, make_session_factory

    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return session.scalar(select(func.count()).select_from(model))
    finally:
        engine.dispose()


# --- App factory and home page --------------------------------------------------------------------

def test_app_keeps_engine_and_session_factory_for_the_configured_database(make_app, demo_url):
    state = make_app(demo_url).extensions["unionflow"]
    assert str(state.engine.url) == demo_url
    assert state.session_factory.kw["bind"] is state.engine


def test_the_home_page_sends_visitors_to_the_chinese_login_page(make_app, demo_url):
    client = make_app(demo_url).test_client()
    assert client.get("/").location == "/login?next=/"
    html = client.get("/login").get_data(as_text=True)
    assert 'lang="zh-CN"' in html and 'name="viewport"' in html and "用户名" in html


def test_demo_accounts_and_password_are_shown_only_in_demo_mode(make_app, demo_url):
    demo_html = make_app(demo_url, DEMO=True).test_client().get("/login").get_data(as_text=True)
    plain_html = make_app(demo_url).test_client().get("/login").get_data(as_text=True)
    for username, display_name, _grants in DEMO_USERS:
        assert username in demo_html and display_name in demo_html
        assert username not in plain_html
    assert DEMO_PASSWORD in demo_html and DEMO_PASSWORD not in plain_html


def test_the_demo_person_with_two_roles_is_listed_with_both(make_app, demo_url):
    from unionflow.demo import MULTI_ROLE_USER

    html = make_app(demo_url, DEMO=True).test_client().get("/login").get_data(as_text=True)
    row = html[html.index(f"<code>{MULTI_ROLE_USER}</code>"):].split("</tr>")[0]
    assert "和平街道总工会 · 审核人" in row and "东城区总工会 · 审计人员" in row


def test_every_juror_of_the_demo_jury_is_a_demo_account_who_can_sign_in(make_app, demo_url):
    import re

    from engine.procedures.juries import JuryMember

    app = make_app(demo_url, DEMO=True)
    with app.extensions["unionflow"].session_factory() as session:
        jurors = set(session.scalars(select(User.username).join(JuryMember, JuryMember.user_id == User.id)))
    assert jurors and jurors <= {username for username, *_rest in DEMO_USERS}
    for username in sorted(jurors):
        client = app.test_client()
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))[1]
        response = client.post("/login", data={"csrf_token": token, "username": username, "password": DEMO_PASSWORD})
        assert response.status_code == 302, username


def test_demo_mode_generates_a_secret_key_once_and_keeps_it_in_instance(tmp_path, monkeypatch, demo_url):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNIONFLOW_SECRET_KEY", raising=False)
    first = create_app(settings_for(demo_url, tmp_path), DEMO=True)
    second = create_app(settings_for(demo_url, tmp_path), DEMO=True)
    assert len(first.secret_key) >= 32 and first.secret_key == second.secret_key
    assert (tmp_path / "instance" / "secret_key").read_text() == first.secret_key
    for app in (first, second):
        app.extensions["unionflow"].engine.dispose()


def test_outside_demo_mode_a_missing_secret_key_is_refused(tmp_path, monkeypatch, demo_url):
    monkeypatch.delenv("UNIONFLOW_SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="UNIONFLOW_SECRET_KEY"):
        create_app(settings_for(demo_url, tmp_path))


# --- JSON API -------------------------------------------------------------------------------------

def test_api_lists_the_loaded_kinds_with_labels(make_app, demo_url, demo_auth):
    response = make_app(demo_url).test_client().get("/api/v1/definitions", headers=demo_auth)
    assert response.status_code == 200
    listed = {item["kind"]: item for item in response.get_json()["definitions"]}
    assert {kind: item["label"] for kind, item in listed.items()} == {k: d.label for k, d in DEFINITIONS.items()}
    assert all(listed[k]["content_hash"] == d.content_hash for k, d in DEFINITIONS.items())


def _bound(value):
    if isinstance(value, Decimal):
        return str(value)
    return value.isoformat() if isinstance(value, date) else value


@pytest.mark.parametrize("kind", sorted(DEFINITIONS))
def test_api_describes_states_transitions_and_form_fields_of_a_kind(make_app, demo_url, demo_auth, kind):
    definition = DEFINITIONS[kind]
    response = make_app(demo_url).test_client().get(f"/api/v1/definitions/{kind}", headers=demo_auth)
    assert response.status_code == 200
    body = response.get_json()
    assert [(s["id"], s["label"], s["kind"]) for s in body["states"]] == [
        (s.id, s.label, s.kind) for s in definition.states
    ]
    assert [(t["trigger"], t["sources"], t["dest"], t["comment_required"]) for t in body["transitions"]] == [
        (t.trigger, list(t.sources), t.dest, t.comment_required) for t in definition.transitions
    ]
    assert [[p["party"] for p in t["by"]] for t in body["transitions"]] == [
        [ASSIGNEE if p == ASSIGNEE else str(p) for p in t.by] for t in definition.transitions
    ]
    assert [
        (f["name"], f["label"], f["type"], f["required"], f["max_length"], f["min"], f["max"],
         [(c["value"], c["label"]) for c in f["choices"]])
        for f in body["form"]
    ] == [
        (f.name, f.label, f.type, f.required, f.max_length, _bound(f.min), _bound(f.max), list(f.choices))
        for f in definition.fields
    ]


def test_api_unknown_kind_is_a_json_404(make_app, demo_url, demo_auth):
    response = make_app(demo_url).test_client().get("/api/v1/definitions/no_such_kind", headers=demo_auth)
    assert response.status_code == 404 and response.is_json
    error = response.get_json()["error"]
    assert error["code"] == "not_found" and "no_such_kind" in error["message"] and error["fields"] == {}


def test_api_unknown_route_is_a_json_404_while_pages_keep_html(make_app, demo_url):
    client = make_app(demo_url).test_client()
    response = client.get("/api/v1/no/such/route")
    assert response.status_code == 404 and response.is_json
    assert response.get_json()["error"]["code"] == "not_found"
    page = client.get("/no-such-page")
    assert page.status_code == 404 and not page.is_json


def test_api_wrong_method_is_a_json_405_naming_the_allowed_ones(make_app, demo_url):
    response = make_app(demo_url).test_client().post("/api/v1/definitions", json={})
    assert response.status_code == 405 and response.is_json
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("error, status, code", [
    (ValidationFailed({"nominee_name": ["此项为必填项"]}), 422, "validation_failed"),
    (Conflict("案件已被他人更新，请刷新后再操作", current_version=3), 409, "conflict"),
    (NotFound("案件不存在或您无权查看"), 404, "not_found"),
])
def test_domain_errors_from_api_views_share_the_one_error_format(make_app, demo_url, error, status, code):
    app = make_app(demo_url)

    @public
    def failing_view():
        raise error

    app.add_url_rule("/api/v1/test-failure", "failing_view", failing_view)
    response = app.test_client().get("/api/v1/test-failure")
    assert response.status_code == status and response.is_json
    body = response.get_json()["error"]
    assert body["code"] == code and body["message"] == error.message
    assert body["fields"] == getattr(error, "fields", {})
    if isinstance(error, Conflict):
        assert body["current_version"] == error.current_version


def test_unit_of_work_commits_a_writing_view_once_and_rolls_back_a_failing_one(make_app, fresh_url):
    app = make_app(fresh_url)

    @public
    @unit_of_work
    def create_city():
        create_org_unit(request_session(), name="提交成功的市总工会", level="city", kind="federation")
        return {"ok": True}

    @public
    @unit_of_work
    def create_city_then_fail():
        create_org_unit(request_session(), name="应当回滚的市总工会", level="city", kind="federation")
        raise ValidationFailed({"name": ["故意失败"]})

    app.add_url_rule("/api/v1/test-write", "create_city", create_city, methods=["POST"])
    app.add_url_rule("/api/v1/test-write-fail", "create_city_then_fail", create_city_then_fail, methods=["POST"])
    client = app.test_client()
    assert client.post("/api/v1/test-write").status_code == 200
    assert client.post("/api/v1/test-write-fail").status_code == 422
    with app.extensions["unionflow"].session_factory() as session:
        names = set(session.scalars(select(OrgUnit.name)))
    assert names == {"提交成功的市总工会"}


# --- Command line ---------------------------------------------------------------------------------

def test_db_upgrade_creates_the_sqlite_directory_and_can_run_again(tmp_path):
    path = tmp_path / "not" / "yet" / "there.db"
    for _ in range(2):
        result = invoke("db", "upgrade", "--db", f"sqlite:///{path}")
        assert result.exit_code == 0, result.output
    assert path.exists()


def test_definitions_load_reports_new_versions_then_unchanged(fresh_url):
    for expected in ("new", "unchanged"):
        result = invoke("definitions", "load", "--db", fresh_url)
        assert result.exit_code == 0, result.output
        lines = sorted(result.output.split("\n")[:-1])
        assert lines == sorted(
            f"{kind:<20} {definition.content_hash[:12]}  {expected}" for kind, definition in DEFINITIONS.items()
        )
    assert count(fresh_url, WorkflowKind) == len(DEFINITIONS)


def test_bad_definition_fails_cleanly_naming_file_and_field_and_loads_nothing(tmp_path, fresh_url):
    broken_dir = tmp_path / "broken"
    broken_dir.mkdir()
    (broken_dir / "broken.yaml").write_text(BROKEN_DEFINITION, encoding="utf-8")
    for args in (("definitions", "load", "--db", fresh_url, "--dir", str(broken_dir)),
                 ("definitions", "check", str(broken_dir))):
        result = invoke(*args)
        assert_clean_failure(result)
        assert "broken.yaml: states[1].kind:" in result.output
    assert count(fresh_url, WorkflowKind) == 0


def test_definitions_check_accepts_the_bundled_workflows():
    result = invoke("definitions", "check", str(SETTINGS.workflows_dir))
    assert result.exit_code == 0, result.output
    assert all(f"{kind} {d.content_hash[:12]} ok" in result.output for kind, d in DEFINITIONS.items())


def test_demo_setup_seeds_every_unit_user_and_case_through_the_engine(demo_url):
    grassroots = sum(len(units) for _k, _n, townships in COUNTIES for _t, _tn, units in townships)
    townships = sum(len(townships) for _k, _n, townships in COUNTIES)
    assert count(demo_url, OrgUnit) == 1 + len(COUNTIES) + townships + grassroots
    assert count(demo_url, User) == len(DEMO_USERS)
    assert count(demo_url, RoleAssignment) == sum(len(grants) for _u, _n, grants in DEMO_USERS)


@pytest.mark.parametrize("kind", sorted(DEFINITIONS))
def test_demo_has_cases_of_every_kind_in_every_state(make_app, demo_url, kind):
    app = make_app(demo_url)
    with app.extensions["unionflow"].session_factory() as session:
        states = set(session.scalars(select(Case.state).where(Case.kind == kind)))
    assert states == {s.id for s in DEFINITIONS[kind].states}


def test_demo_setup_run_again_duplicates_nothing(demo_url):
    before = [count(demo_url, model) for model in (OrgUnit, User, RoleAssignment, Case)]
    result = invoke("demo", "setup", "--db", demo_url)
    assert result.exit_code == 0, result.output
    assert "already present" in result.output
    assert [count(demo_url, model) for model in (OrgUnit, User, RoleAssignment, Case)] == before


def test_audit_verify_passes_on_the_demo_database(demo_url):
    result = invoke("audit", "verify", "--db", demo_url)
    assert result.exit_code == 0, result.output
    assert f"checked {count(demo_url, Case)} cases" in result.output and "problem" not in result.output


def test_audit_verify_exits_1_and_names_an_edited_event(demo_url, tmp_path):
    copy_path = tmp_path / "tampered.db"
    source, target = sqlite3.connect(demo_url.removeprefix("sqlite:///")), sqlite3.connect(copy_path)
    source.backup(target)
    target.execute("UPDATE audit_events SET comment = '改过的意见' WHERE id = (SELECT max(id) FROM audit_events)")
    target.commit()
    source.close(), target.close()
    result = invoke("audit", "verify", "--db", f"sqlite:///{copy_path}")
    assert result.exit_code == 1
    assert "problem:" in result.output and "edited" in result.output


def test_run_refuses_a_database_without_the_schema(tmp_path):
    result = invoke("run", "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    assert_clean_failure(result)
    assert "unionflow db upgrade" in result.output


def test_domain_errors_end_a_command_with_their_message_not_a_traceback():
    @click.group(cls=UnionflowGroup)
    def group():
        pass

    @group.command()
    def lookup():
        raise NotFound("单位不存在")

    result = CliRunner().invoke(group, ["lookup"])
    assert_clean_failure(result)
    assert "单位不存在" in result.output


def test_demo_is_dated_inside_the_working_day_calendar(session):
    from datetime import datetime, timezone

    from engine.calendar.working_days import last_covered_year
    from unionflow.demo import demo_now

    covered = datetime(last_covered_year(session), 3, 9, 2, 0, tzinfo=timezone.utc)
    assert demo_now(session, covered) == covered
    later = demo_now(session, datetime(last_covered_year(session) + 3, 1, 5, tzinfo=timezone.utc))
    assert (later.year, later.month, later.day) == (last_covered_year(session), 11, 16)
