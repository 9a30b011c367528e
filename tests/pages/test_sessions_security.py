"""Signing out ends the session everywhere: a session is a signed cookie, so a copy of it taken
before signing out (or before a password reset, or a deactivation) must stop working.

Each cookie carries the person's session generation from when it began; signing out, a new
password and a deactivation move the generation on (engine.org.accounts.end_sessions).
"""
from __future__ import annotations

from tests.api_v1.conftest import ApiClient, api  # noqa: F401 (the API's clients by person)
from tests.pages.conftest import PASSWORD, PASSWORD_HASH, text_of

NEW_PASSWORD = "a fresh password 7"


def signed_in(pages, world, session, username: str):
    """A browser signed in through the login form, as a person does."""
    world.users[username].password_hash = PASSWORD_HASH
    session.flush()
    client = pages()
    client.get("/login")
    assert client.submit("/login", {"username": username, "password": PASSWORD}).status_code == 302
    assert client.get("/").status_code == 200
    return client


def copy_of(app, client):
    """Another browser holding a copy of the client's session cookie (what a thief would keep)."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def is_signed_in(client) -> bool:
    return client.get("/").status_code == 200


def test_a_cookie_copied_before_signing_out_on_the_page_no_longer_works(app, pages, world, session):
    client = signed_in(pages, world, session, "reviewer_A1")
    thief = copy_of(app, client)
    assert is_signed_in(thief)
    assert client.submit("/logout").status_code == 302
    assert not is_signed_in(client)
    assert not is_signed_in(thief)
    assert thief.get("/api/v1/session").status_code == 401


def test_a_cookie_copied_before_signing_out_through_the_api_no_longer_works(app, world, session):
    world.users["reviewer_A1"].password_hash = PASSWORD_HASH
    session.flush()
    browser = ApiClient(app)
    signed = browser.post("session", json={"username": "reviewer_A1", "password": PASSWORD})
    assert signed.status_code == 200
    thief = ApiClient(app)
    thief.client.set_cookie("session", browser.client.get_cookie("session").value)
    assert thief.get("session").status_code == 200
    assert browser.delete("session").status_code == 204
    assert thief.get("session").status_code == 401
    assert browser.get("session").status_code == 401


def test_signing_out_on_one_device_ends_the_sessions_on_the_others(pages, world, session):
    office = signed_in(pages, world, session, "auditor_city")
    phone = signed_in(pages, world, session, "auditor_city")
    phone.submit("/logout")
    assert not is_signed_in(office)
    # and signing in again afterwards works as before
    assert is_signed_in(signed_in(pages, world, session, "auditor_city"))


def test_an_admin_password_reset_ends_the_persons_sessions(app, pages, world, session):
    victim = signed_in(pages, world, session, "applicant_A1a")
    thief = copy_of(app, victim)
    admin = pages("admin")
    user_id = world.users["applicant_A1a"].id
    admin.get(f"/admin/users/{user_id}")
    reset = admin.submit(f"/admin/users/{user_id}/password", {"password": NEW_PASSWORD})
    assert reset.status_code == 302, text_of(reset)
    assert not is_signed_in(thief) and not is_signed_in(victim)
    assert is_signed_in(admin)  # another person's reset leaves the admin's own session alone
    fresh = pages()
    fresh.get("/login")
    assert fresh.submit("/login", {"username": "applicant_A1a", "password": NEW_PASSWORD}).status_code == 302


def test_an_admin_resetting_their_own_password_stays_signed_in_here_only(app, pages, world, session):
    admin = signed_in(pages, world, session, "admin")
    elsewhere = copy_of(app, admin)
    user_id = world.users["admin"].id
    admin.get(f"/admin/users/{user_id}")
    assert admin.submit(f"/admin/users/{user_id}/password", {"password": NEW_PASSWORD}).status_code == 302
    assert is_signed_in(admin)
    assert not is_signed_in(elsewhere)


def test_a_deactivated_persons_sessions_stay_ended_after_reactivation(app, pages, world, session):
    client = signed_in(pages, world, session, "reviewer_B1")
    thief = copy_of(app, client)
    admin = pages("admin")
    user_id = world.users["reviewer_B1"].id
    admin.get(f"/admin/users/{user_id}")
    assert admin.submit(f"/admin/users/{user_id}/active", {"is_active": "0"}).status_code == 302
    assert admin.submit(f"/admin/users/{user_id}/active", {"is_active": "1"}).status_code == 302
    assert not is_signed_in(thief)
    assert not is_signed_in(client)


def test_a_cookie_without_a_generation_is_no_session(app, pages, world, session):
    """A cookie from before generations were kept (or one with its generation removed)."""
    from web.auth import SESSION_GENERATION_KEY

    client = pages("reviewer_A1")
    assert is_signed_in(client)
    with client.session_transaction() as cookie:
        del cookie[SESSION_GENERATION_KEY]
    assert not is_signed_in(client)


def test_each_ending_of_sessions_moves_the_generation_on(session, world):
    """Only a session of the current generation stands for the person."""
    from engine.org.accounts import actor_for_session, end_sessions

    user = world.users["reviewer_A2"]
    start = user.session_generation
    end_sessions(session, user)
    end_sessions(session, user)
    session.expire_all()
    assert user.session_generation == start + 2
    assert actor_for_session(session, user.id, start) is None
    assert actor_for_session(session, user.id, start + 2).user_id == user.id


def test_a_password_reset_revokes_the_persons_api_tokens(app, api, world, session):
    """A reset answers a lost or taken-over account: a token made by whoever held it dies too."""
    script = api("applicant_A1b")
    assert script.get("session").status_code == 200
    user_id = world.users["applicant_A1b"].id
    assert api("admin").patch(f"users/{user_id}", json={"password": NEW_PASSWORD}).status_code == 200
    assert script.get("session").status_code == 401
    assert api("applicant_A1b").get("session").status_code == 200  # a token made after it works
