"""Web page test fixtures: the app on the test's connection (see tests/api_v1/conftest.py)
and browser-like clients signed in as one world user.

``pages("reviewer_A1")`` is a test client signed in as that user (its session cookie set as
the login form sets it: the form itself is tested in test_auth.py, and argon2 on every
test would cost minutes); ``pages()`` is anonymous. The user's password is PASSWORD. ``client.csrf`` is the session's CSRF token for form posts, and
``client.submit(url, data)`` posts a form with it.
"""
from __future__ import annotations

import re
import secrets

import pytest
from flask.testing import FlaskClient

from engine.org.accounts import hash_password
from tests.api_v1.conftest import app, opened_sessions  # noqa: F401 (the same app fixtures)
from web.auth import SESSION_CSRF_KEY, SESSION_GENERATION_KEY, SESSION_USER_KEY

PASSWORD = "correct horse 2026"
# argon2 is slow on purpose; one hash serves every test user.
PASSWORD_HASH = hash_password(PASSWORD)
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


class PageClient(FlaskClient):
    """A Flask test client that remembers the session's CSRF token from the pages it reads."""

    csrf: str | None = None

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        if response.mimetype == "text/html":
            found = CSRF_INPUT.search(response.get_data(as_text=True))
            if found:
                self.csrf = found.group(1)
        return response

    def submit(self, url: str, data: dict | None = None, **kwargs):
        """POST a form with the session's CSRF token, as the page's own form would."""
        if self.csrf is None:
            self.get("/login")
        return self.post(url, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)


@pytest.fixture
def pages(app, session, world):  # noqa: F811
    app.test_client_class = PageClient

    def client_for(username: str | None = None) -> PageClient:
        client = app.test_client()
        if username is None:
            return client
        user = world.users[username]
        user.password_hash = PASSWORD_HASH
        session.flush()
        client.csrf = secrets.token_urlsafe(32)
        with client.session_transaction() as cookie:
            cookie.update({SESSION_USER_KEY: user.id, SESSION_GENERATION_KEY: user.session_generation,
                           SESSION_CSRF_KEY: client.csrf})
            cookie.permanent = True
        return client

    return client_for


def text_of(response) -> str:
    return response.get_data(as_text=True)
