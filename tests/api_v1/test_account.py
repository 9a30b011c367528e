"""Signing in (browser session, CSRF) and personal API tokens: the whole lifecycle."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.base.db import utcnow
from engine.org.accounts import ApiToken, hash_password
from tests.api_v1.conftest import ApiClient, error_of


@pytest.fixture
def password(session, world):
    world.users["applicant_A1a"].password_hash = hash_password("correct horse")
    session.flush()
    return "correct horse"


def test_anonymous_calls_are_401_in_the_one_format(api):
    response = api().get("definitions")
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer uf_1_wrong", "Basic dXNlcjpwYXNz", "Bearer "])
def test_bad_authorization_is_401(api, header):
    response = api().get("definitions", headers={"Authorization": header})
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_token_lifecycle(api, session, world):
    applicant = api("applicant_A1a")
    created = applicant.post("tokens", json={"name": "报表脚本", "expires_in_days": 30})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["token"].startswith("uf_") and body["name"] == "报表脚本"
    assert body["expires_at"].endswith("+08:00")
    stored = session.get(ApiToken, body["id"])
    assert body["token"].split("_", 2)[2] not in stored.secret_hash  # only a hash is kept

    script = ApiClient(applicant.client.application, body["token"])
    assert script.get("session").get_json()["name"] == "applicant_A1a"
    listed = script.get("tokens").get_json()["tokens"]
    assert body["id"] in [token["id"] for token in listed]
    assert all("token" not in token for token in listed)  # never shown again
    session.expire_all()
    assert session.get(ApiToken, body["id"]).last_used_dt is not None

    assert script.delete(f"tokens/{body['id']}").status_code == 204
    assert script.get("session").status_code == 401
    assert applicant.delete(f"tokens/{body['id']}").status_code == 404


def test_someone_elses_token_cannot_be_revoked(api):
    owner = api("applicant_A1a")
    token_id = owner.post("tokens", json={"name": "mine"}).get_json()["id"]
    response = api("reviewer_city").delete(f"tokens/{token_id}")
    assert response.status_code == 404
    assert owner.get("session").status_code == 200


def test_expired_token_is_refused(api, session):
    client = api("applicant_A1a")
    token = session.scalars(select(ApiToken)).all()[-1]
    token.expires_dt = utcnow() - timedelta(seconds=1)
    session.flush()
    assert client.get("session").status_code == 401


def test_deactivated_person_loses_token_access(api, session, world):
    client = api("applicant_A1a")
    world.users["applicant_A1a"].is_active = False
    session.flush()
    assert client.get("session").status_code == 401


@pytest.mark.parametrize("body, field", [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"name": "ok", "expires_in_days": 0}, "expires_in_days"),
    ({"name": "ok", "expires_in_days": "soon"}, "expires_in_days"),
    ({"name": "ok", "scope": "all"}, "scope"),
])
def test_bad_token_requests_name_the_field_and_write_nothing(api, session, body, field):
    client = api("applicant_A1a")
    before = len(session.scalars(select(ApiToken)).all())
    response = client.post("tokens", json=body)
    assert response.status_code == 422
    assert field in error_of(response)["fields"]
    assert len(session.scalars(select(ApiToken)).all()) == before


def test_browser_session_login_csrf_and_logout(api, password):
    browser = api()
    assert browser.post("session", json={"username": "applicant_A1a", "password": "wrong one"}).status_code == 401
    signed_in = browser.post("session", json={"username": "applicant_A1a", "password": password})
    assert signed_in.status_code == 200
    me = signed_in.get_json()
    assert me["grants"][0]["role"] == "applicant" and me["csrf_token"]
    assert browser.get("definitions").status_code == 200

    # A write from the session needs the CSRF token in a header: another site cannot send it.
    refused = browser.post("tokens", json={"name": "x"})
    assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"
    assert "CSRF" in error_of(refused)["message"]
    accepted = browser.post("tokens", json={"name": "x"}, headers={"X-CSRF-Token": me["csrf_token"]})
    assert accepted.status_code == 201

    assert browser.delete("session").status_code == 204
    assert browser.get("definitions").status_code == 401


def test_unknown_user_and_wrong_password_read_the_same(api, password):
    unknown = api().post("session", json={"username": "nobody", "password": password})
    wrong = api().post("session", json={"username": "applicant_A1a", "password": "nope"})
    assert unknown.status_code == wrong.status_code == 401
    assert error_of(unknown)["message"] == error_of(wrong)["message"]


def test_repeated_failed_logins_are_rate_limited(app, api, password):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    client = api()
    statuses = [client.post("session", json={"username": "applicant_A1a", "password": "bad"}).status_code
                for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    limited = client.post("session", json={"username": "applicant_A1a", "password": password})
    assert limited.status_code == 429
    assert error_of(limited)["code"] == "too_many_requests"


def test_failures_for_one_username_lock_it_whatever_the_address(app, api, password):
    app.config["LOGIN_LOCKOUT_LIMIT"] = "2 per 15 minutes"
    for address in ("10.0.0.1", "10.0.0.2"):
        failed = api().post("session", json={"username": "applicant_A1a", "password": "bad"},
                            environ_base={"REMOTE_ADDR": address})
        assert failed.status_code == 401
    locked = api().post("session", json={"username": "applicant_A1a", "password": password},
                        environ_base={"REMOTE_ADDR": "10.0.0.3"})
    assert locked.status_code == 429 and "锁定" in error_of(locked)["message"]
    assert api().post("session", json={"username": "reviewer_A1", "password": password},
                      environ_base={"REMOTE_ADDR": "10.0.0.3"}).status_code != 429


@pytest.mark.parametrize("method, path, status, code", [
    ("GET", "/api/v1/no-such-thing", 404, "not_found"),
    ("GET", "/api/no-version", 404, "not_found"),
    ("PUT", "/api/v1/definitions", 405, "method_not_allowed"),
    ("DELETE", "/api/v1/session/extra", 404, "not_found"),
])
def test_unknown_routes_and_wrong_methods_answer_json(api, method, path, status, code):
    response = api("applicant_A1a").call(method, path)
    assert response.status_code == status
    assert error_of(response)["code"] == code


def test_malformed_json_is_400(api):
    response = api("applicant_A1a").post("tokens", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_request"


def test_a_crash_is_a_json_500_without_traceback(app, api, monkeypatch):
    import api.definitions as module

    def explode(_session):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(module, "list_kinds", explode)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = api("applicant_A1a").get("definitions")
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal_error" and "secret" not in response.get_data(as_text=True)
