"""A password must be hard to guess wherever it is set: the engine's ``set_password`` (which every
path goes through: an admin creating a person or resetting a password, on the pages or the API)
refuses common passwords, the username, repeats and keyboard walks, with a Chinese message on the
password field."""
from __future__ import annotations

import pytest

from engine.base.errors import ValidationFailed
from engine.org.admin import add_user, update_user
from tests.api_v1.conftest import api, error_of  # noqa: F401 (the API's clients by person)
from tests.pages.conftest import text_of

WEAK = ["12345678", "password", " " * 8, "qwertyuiop", "1qaz2wsx", "woaini1314", "Passw0rd!",
        "applicant_A1a", "applicant_A1a2026"]


@pytest.mark.parametrize("password", WEAK)
def test_the_engine_refuses_a_guessable_password(session, world, password):
    person = world.users["applicant_A1a"]
    before = person.password_hash
    with pytest.raises(ValidationFailed) as refused:
        update_user(session, world.actor("admin"), person.id, {"password": password})
    (message,) = refused.value.fields["password"]
    assert message.startswith(("密码太容易被猜到", "密码不能包含")), message
    assert person.password_hash == before


def test_a_password_built_on_the_persons_name_is_refused(session, world):
    with pytest.raises(ValidationFailed) as refused:
        add_user(session, world.actor("admin"), username="wang.fang", display_name="王芳",
                 email="fang.wang@example.org", password="fang.wang@example.org")
    assert refused.value.fields == {"password": ["密码不能包含用户名、姓名或邮箱"]}


@pytest.mark.parametrize(("password", "message"), [
    ("short", "密码至少 8 位"),
    ("long and unguessable " * 13, "密码不能超过 256 个字符"),
])
def test_too_short_and_too_long_passwords_are_refused(session, world, password, message):
    with pytest.raises(ValidationFailed) as refused:
        update_user(session, world.actor("admin"), world.users["applicant_A1a"].id, {"password": password})
    assert refused.value.fields == {"password": [message]}


def test_a_long_strong_password_is_accepted(session, world):
    """zxcvbn reads the first 72 characters; a longer password whose start is strong is fine."""
    person = world.users["applicant_A1a"]
    update_user(session, world.actor("admin"), person.id, {"password": "violet tram under 7 bridges " * 8})
    assert person.password_hash


def test_the_demo_and_the_test_fixtures_passwords_pass_for_their_users():
    """The demo's published password and the suites' fixtures are strong enough for every account
    they are given to (the check is not weakened for them)."""
    from engine.org.accounts import password_problem
    from tests.browser.conftest import PASSWORD as BROWSER_PASSWORD
    from tests.pages.conftest import PASSWORD as PAGES_PASSWORD
    from tests.pages.test_admin_pages import NEW_PASSWORD
    from unionflow.demo import DEMO_PASSWORD, DEMO_USERS

    for username, display_name, _grants in DEMO_USERS:
        assert password_problem(DEMO_PASSWORD, personal=(username, display_name)) is None, username
    for password in (BROWSER_PASSWORD, PAGES_PASSWORD, NEW_PASSWORD, "correct horse", "initial pass 1",
                     "long enough 1", "taken over!", "new password 2026"):
        assert password_problem(password, personal=("reviewer_A1", "applicant_A1a", "li.ming")) is None, password


def test_the_api_answers_a_weak_password_with_a_field_message(api, world):
    created = api("admin").post("users", json={"username": "wang.fang", "display_name": "王芳",
                                               "password": "password"})
    assert created.status_code == 422
    assert "太容易被猜到" in error_of(created)["fields"]["password"][0]
    changed = api("admin").patch(f"users/{world.users['applicant_A1a'].id}", json={"password": "12345678"})
    assert changed.status_code == 422
    assert error_of(changed)["fields"]["password"] == ["密码太容易被猜到：这是常用密码。请换一个更长、不常见的密码，例如几个不相关的词加上数字"]


def test_the_reset_form_shows_why_a_password_is_refused(pages, world):
    admin = pages("admin")
    user_id = world.users["applicant_A1a"].id
    admin.get(f"/admin/users/{user_id}")
    refused = admin.submit(f"/admin/users/{user_id}/password", {"password": "applicant_A1a"})
    assert refused.status_code == 422
    assert "密码不能包含用户名、姓名或邮箱" in text_of(refused)
    refused = admin.submit(f"/admin/users/{user_id}/password", {"password": " " * 8})
    assert refused.status_code == 422 and "密码太容易被猜到" in text_of(refused)
