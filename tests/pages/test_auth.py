"""Signing in and out, CSRF on forms, the role switcher, the language, error pages."""
from __future__ import annotations

import pytest

from tests.pages.conftest import PASSWORD, text_of


def test_anonymous_visitors_are_sent_to_the_login_page_and_back(pages):
    client = pages()
    response = client.get("/")
    assert response.status_code == 302 and response.location.startswith("/login")
    page = text_of(client.get("/login"))
    assert "<label for=\"username\">用户名</label>" in page and 'lang="zh-CN"' in page


def test_signing_in_with_the_right_password_opens_the_start_page(pages, world):
    client = pages()
    client.get("/login")
    response = client.submit("/login?next=/", {"username": "reviewer_A1", "password": PASSWORD})
    # no password set yet for this user: refused
    assert response.status_code == 401 and "用户名或密码不正确" in text_of(response)
    client = pages("reviewer_A1")
    page = text_of(client.get("/"))
    assert "您好，reviewer_A1" in page and "A1街道总工会 · 审核人" in page


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(pages, world):
    pages("applicant_A1a").submit("/logout")
    client = pages()
    client.get("/login")
    wrong = client.submit("/login", {"username": "applicant_A1a", "password": "nope-nope"})
    unknown = client.submit("/login", {"username": "nobody", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码不正确" in text_of(wrong) and "用户名或密码不正确" in text_of(unknown)
    assert 'value="applicant_A1a"' in text_of(wrong)  # the username is kept


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(pages):
    client = pages("reviewer_A1_and_A")
    response = client.post("/switch-role", data={"grant": "reviewer:999"})
    assert response.status_code == 400 and "CSRF" in text_of(response)
    forged = client.post("/logout", data={"csrf_token": "forged"})
    assert forged.status_code == 400
    assert client.get("/").status_code == 200  # still signed in


def test_the_next_parameter_cannot_send_people_to_another_site(pages, world):
    pages("reviewer_A1")  # sets the password
    client = pages()
    client.get("/login")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.submit(f"/login?next={target}", {"username": "reviewer_A1", "password": PASSWORD})
        assert response.status_code == 302 and response.location == "/", target
        client.submit("/logout")


def test_a_person_with_two_roles_switches_between_them_in_the_header(pages, world):
    client = pages("reviewer_A1_and_A")
    page = text_of(client.get("/"))
    assert 'id="grant-switcher"' in page and "A区总工会 · 审核人" in page
    county = world.unit("A")
    response = client.submit("/switch-role", {"grant": f"reviewer:{county.id}"})
    assert response.status_code == 302
    assert "当前身份：A区总工会 · 审核人" in text_of(client.get("/"))
    refused = client.submit("/switch-role", {"grant": f"admin:{county.id}"})
    assert "您没有这个身份" in text_of(client.get(refused.location))


def test_signing_out_ends_the_session(pages):
    client = pages("auditor_city")
    assert client.submit("/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_english_can_be_chosen_and_chinese_is_the_default(pages):
    client = pages("reviewer_A1")
    assert "您好" in text_of(client.get("/"))
    client.submit("/language", {"language": "en", "next": "/"})
    page = text_of(client.get("/"))
    assert 'lang="en"' in page and "Hello, reviewer_A1" in page
    client.submit("/language", {"language": "xx", "next": "/"})
    assert 'lang="en"' in text_of(client.get("/"))


def test_repeated_failures_lock_the_username_even_for_the_right_password(app, pages, world):
    app.config["LOGIN_LOCKOUT_LIMIT"] = "3 per 15 minutes"
    app.config["LOGIN_RATE_LIMIT"] = "100 per minute"
    pages("applicant_A1b").submit("/logout")
    client = pages()
    client.get("/login")
    for _ in range(3):
        assert client.submit("/login", {"username": "applicant_A1b", "password": "wrong-wrong"}).status_code == 401
    locked = client.submit("/login", {"username": "applicant_A1b", "password": PASSWORD})
    assert locked.status_code == 429 and "锁定" in text_of(locked)
    # another username from the same address is not locked
    assert client.submit("/login", {"username": "reviewer_B1", "password": "x-wrong"}).status_code == 401


@pytest.mark.parametrize("path", ["/no-such-page", "/login/extra"])
def test_unknown_pages_answer_a_chinese_404_page(pages, path):
    response = pages().get(path)
    assert response.status_code == 404 and "页面不存在" in text_of(response)
    assert response.mimetype == "text/html"


def test_the_session_cookie_is_http_only_and_same_site(pages, world):
    pages("reviewer_A1").submit("/logout")
    client = pages()
    client.get("/login")
    response = client.submit("/login", {"username": "reviewer_A1", "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_the_start_page_lists_every_loaded_kind_with_its_states(pages):
    from engine.definitions.store import read_definition_files
    from tests.conftest import SETTINGS

    page = text_of(pages("applicant_A1a").get("/"))
    for _path, definition in read_definition_files(SETTINGS.workflows_dir):
        assert definition.label in page
        assert all(state.label in page for state in definition.states)


def test_pages_forbid_framing_and_foreign_scripts(pages):
    response = pages().get("/login")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_body_over_the_limit_is_refused_with_the_limit_named(app, pages):
    client = pages("applicant_A1a")
    app.config["MAX_CONTENT_LENGTH"] = 2048
    response = client.submit("/logout", {"filler": "x" * 4096})
    assert response.status_code == 413 and "单次上传不能超过 2 KB" in text_of(response)
