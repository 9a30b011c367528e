"""The limits on signing in and on objections are one counter each, whichever door is used
(the web form or the JSON API), and the lockout per username is taken before the password
is evaluated. Behind a reverse proxy the client's address is the one the trusted proxies
report, and HSTS is sent over TLS. (Several gunicorn workers on Redis: tests/test_gunicorn_limits.py.)
"""
from __future__ import annotations

import threading

import pytest
from limits import parse

from tests.api_v1.conftest import ApiClient
from tests.pages.conftest import PASSWORD, PASSWORD_HASH, text_of


@pytest.fixture
def password_of(world, session):
    """Give world users the test password (they have none)."""

    def give(*usernames: str) -> str:
        for username in usernames:
            world.users[username].password_hash = PASSWORD_HASH
        session.flush()
        return PASSWORD

    return give


def form_sign_in(client, username: str, password: str, **kwargs):
    if client.csrf is None:
        client.get("/login", **kwargs)
    return client.submit("/login", {"username": username, "password": password}, **kwargs)


def api_sign_in(app, username: str, password: str, **kwargs):
    return ApiClient(app).post("session", json={"username": username, "password": password}, **kwargs)


# --- The lockout per username: one counter for the form and the API --------------------------------

def test_locked_on_the_web_form_the_api_refuses_the_right_password(app, pages, password_of):
    app.config["LOGIN_LOCKOUT_LIMIT"] = "3 per 15 minutes"
    password = password_of("applicant_A1a")
    client = pages()
    for _ in range(3):
        assert form_sign_in(client, "applicant_A1a", "wrong-wrong").status_code == 401
    locked = api_sign_in(app, "applicant_A1a", password)
    assert locked.status_code == 429
    assert "锁定" in locked.get_json()["error"]["message"] and int(locked.headers["Retry-After"]) > 0


def test_locked_through_the_api_the_web_form_refuses_the_right_password(app, pages, password_of):
    app.config["LOGIN_LOCKOUT_LIMIT"] = "3 per 15 minutes"
    password = password_of("applicant_A1a")
    for _ in range(3):
        assert api_sign_in(app, "applicant_A1a", "wrong-wrong").status_code == 401
    locked = form_sign_in(pages(), "applicant_A1a", password)
    assert locked.status_code == 429 and "锁定" in text_of(locked)


def test_failures_from_both_doors_add_up(app, pages, password_of):
    app.config["LOGIN_LOCKOUT_LIMIT"] = "4 per 15 minutes"
    password = password_of("applicant_A1a")
    client = pages()
    statuses = []
    for door in range(4):
        if door % 2:
            statuses.append(api_sign_in(app, "applicant_A1a", "wrong-wrong").status_code)
        else:
            statuses.append(form_sign_in(client, "applicant_A1a", "wrong-wrong").status_code)
    assert statuses == [401, 401, 401, 401]
    assert api_sign_in(app, "applicant_A1a", password).status_code == 429
    assert form_sign_in(client, "Applicant_A1a ", password).status_code == 429  # the same name, written otherwise


def test_the_attempt_is_counted_before_the_password_is_evaluated(app, pages, password_of, monkeypatch):
    """Counting after the evaluation lets every attempt in flight pass the test first."""
    import web.auth
    from web.limits import limiter

    app.config["LOGIN_LOCKOUT_LIMIT"] = "5 per 15 minutes"
    password_of("applicant_A1a")
    seen_by_evaluation = []
    evaluate = web.auth.authenticate

    def counting(session, username, password):
        stats = limiter.limiter.get_window_stats(parse("5 per 15 minutes"), "sign-in-lockout", username.lower())
        seen_by_evaluation.append(5 - stats.remaining)
        return evaluate(session, username, password)

    monkeypatch.setattr(web.auth, "authenticate", counting)
    for _ in range(2):
        assert api_sign_in(app, "applicant_A1a", "wrong-wrong").status_code == 401
    assert seen_by_evaluation == [1, 2]


def test_of_many_attempts_at_once_only_the_limit_is_let_through(app):
    """The counter is taken atomically: 20 threads at once, exactly 5 pass, the rest are refused."""
    from werkzeug.exceptions import TooManyRequests

    from web.limits import take_sign_in_attempt

    app.config["LOGIN_LOCKOUT_LIMIT"] = "5 per 15 minutes"
    start = threading.Barrier(20)
    outcomes = []

    def attempt():
        with app.test_request_context("/login", method="POST"):
            start.wait()
            try:
                take_sign_in_attempt("applicant_A1a")
                outcomes.append("evaluated")
            except TooManyRequests:
                outcomes.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("evaluated") == 5 and outcomes.count("refused") == 15


def test_a_successful_sign_in_clears_the_usernames_failures(app, pages, password_of):
    """The person showed the password: their earlier typos do not lock them out later on."""
    app.config["LOGIN_LOCKOUT_LIMIT"] = "3 per 15 minutes"
    password = password_of("applicant_A1a")
    for _ in range(2):
        assert api_sign_in(app, "applicant_A1a", "wrong-wrong").status_code == 401
    assert form_sign_in(pages(), "applicant_A1a", password).status_code == 302
    for _ in range(2):
        assert api_sign_in(app, "applicant_A1a", "wrong-wrong").status_code == 401
    assert api_sign_in(app, "applicant_A1a", password).status_code == 200


def test_a_locked_username_leaves_other_usernames_alone(app, pages, password_of):
    app.config["LOGIN_LOCKOUT_LIMIT"] = "2 per 15 minutes"
    password = password_of("applicant_A1a", "reviewer_A1")
    for _ in range(2):
        api_sign_in(app, "applicant_A1a", "wrong-wrong")
    assert api_sign_in(app, "applicant_A1a", password).status_code == 429
    assert form_sign_in(pages(), "reviewer_A1", password).status_code == 302


# --- Per address: one counter for both doors ------------------------------------------------------

def test_sign_in_attempts_per_address_count_across_the_form_and_the_api(app, pages):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    client = pages()
    client.get("/login")
    statuses = [form_sign_in(client, "nobody", "wrong-wrong").status_code,
                api_sign_in(app, "nobody", "wrong-wrong").status_code,
                form_sign_in(client, "nobody", "wrong-wrong").status_code]
    assert statuses == [401, 401, 401]
    assert api_sign_in(app, "nobody", "wrong-wrong").status_code == 429
    assert form_sign_in(client, "nobody", "wrong-wrong").status_code == 429


def test_objections_per_address_count_across_the_form_and_the_api(app, pages):
    app.config["OBJECTION_RATE_LIMIT"] = "2 per hour"
    client = pages()
    client.get("/login")  # the form's CSRF token
    anonymous = ApiClient(app)
    # No such notice: refused, but counted all the same (the limit is on submitting).
    assert client.submit("/notices/999999/objections", {}).status_code != 429
    assert anonymous.post("public/notices/999999/objections", json={}).status_code != 429
    limited = anonymous.post("public/notices/999999/objections", json={})
    assert limited.status_code == 429
    assert client.submit("/notices/999999/objections", {}).status_code == 429


# --- Behind a reverse proxy -----------------------------------------------------------------------

def trusting(app, hops: int):
    from unionflow.app import trust_proxies

    app.config["TRUSTED_PROXIES"] = hops
    trust_proxies(app)
    return app


def test_behind_a_trusted_proxy_each_client_has_its_own_address(app, pages):
    """Every request comes from the proxy's address; the client's is in X-Forwarded-For."""
    trusting(app, 1)
    app.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for _ in range(2):
        assert api_sign_in(app, "nobody", "wrong-wrong", environ_base=proxy,
                           headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 401
    assert api_sign_in(app, "nobody", "wrong-wrong", environ_base=proxy,
                       headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 429
    # another client behind the same proxy is not limited by the first one's attempts
    assert api_sign_in(app, "nobody", "wrong-wrong", environ_base=proxy,
                       headers={"X-Forwarded-For": "198.51.100.9"}).status_code == 401


def test_without_trusted_proxies_x_forwarded_for_is_ignored(app):
    """Otherwise anyone could escape the limit per address by making up a new address each time."""
    app.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    statuses = [api_sign_in(app, "nobody", "wrong-wrong", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
                for n in range(3)]
    assert statuses == [401, 401, 429]


def test_only_the_configured_number_of_hops_is_trusted(app):
    """With one proxy, a client's own X-Forwarded-For entry is not believed, only the proxy's."""
    trusting(app, 1)
    app.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    statuses = [api_sign_in(app, "nobody", "wrong-wrong", environ_base={"REMOTE_ADDR": "10.0.0.1"},
                            headers={"X-Forwarded-For": f"192.0.2.{n}, 203.0.113.7"}).status_code
                for n in range(3)]
    assert statuses == [401, 401, 429]


@pytest.mark.parametrize("configured", ["-1", "two", "1.5"])
def test_a_wrong_number_of_trusted_proxies_stops_the_app(app, configured):
    from unionflow.app import create_app

    settings = app.extensions["unionflow"].settings
    with pytest.raises(RuntimeError, match="UNIONFLOW_TRUSTED_PROXIES"):
        create_app(settings, SECRET_KEY="test-secret", TRUSTED_PROXIES=configured)


# --- HSTS -----------------------------------------------------------------------------------------

def test_hsts_is_sent_over_tls_only(pages):
    assert "Strict-Transport-Security" not in pages().get("/login").headers
    secure = pages().get("/login", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
    api = pages().get("/api/v1/openapi.json", base_url="https://localhost")
    assert "Strict-Transport-Security" in api.headers


def test_hsts_follows_x_forwarded_proto_from_a_trusted_proxy_only(app, pages):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    assert "Strict-Transport-Security" not in pages().get("/login", headers=forwarded).headers
    trusting(app, 1)
    assert "Strict-Transport-Security" in pages().get("/login", headers=forwarded).headers
