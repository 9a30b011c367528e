"""API test fixtures: the app served on the test's own connection, and clients per person.

Each request gets its own Session on the test's connection (its commit is a savepoint),
so what a test seeds with ``session`` is visible to the API and everything is rolled back
after the test, on SQLite and on PostgreSQL alike.
"""
from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from engine.base.config import Settings
from engine.org.accounts import create_api_token
from tests.conftest import SETTINGS, SIGNING_KEY_FILE
from unionflow.app import create_app


@pytest.fixture
def app(session, database, tmp_path):
    settings = Settings(
        database_url=database.url.render_as_string(hide_password=False),
        workflows_dir=SETTINGS.workflows_dir,
        timezone=ZoneInfo("Asia/Shanghai"),
        attachments_dir=tmp_path / "attachments",
        signing_key_file=tmp_path / SIGNING_KEY_FILE,
    )
    app = create_app(settings, SECRET_KEY="test-secret", TESTING=True)
    connection = session.connection()
    state = app.extensions["unionflow"]
    app.extensions["unionflow"] = replace(state, session_factory=lambda: Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False))
    yield app
    state.engine.dispose()


@pytest.fixture
def opened_sessions(app) -> list[Session]:
    """Every session the app opens from here on, to see that none is left in a transaction."""
    opened: list[Session] = []
    state = app.extensions["unionflow"]

    def recording() -> Session:
        session = state.session_factory()
        opened.append(session)
        return session

    app.extensions["unionflow"] = replace(state, session_factory=recording)
    return opened


class ApiClient:
    """A test client that speaks JSON under /api/v1, as one person (or anonymously)."""

    def __init__(self, app, token: str | None = None):
        self.client = app.test_client()
        self.token = token

    def _headers(self, headers):
        merged = dict(headers or {})
        if self.token:
            merged.setdefault("Authorization", f"Bearer {self.token}")
        return merged

    def call(self, method: str, path: str, *, headers=None, **kwargs):
        url = path if path.startswith("/") else f"/api/v1/{path}"
        return self.client.open(url, method=method, headers=self._headers(headers), **kwargs)

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.call("POST", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.call("PATCH", path, **kwargs)

    def put(self, path, **kwargs):
        return self.call("PUT", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.call("DELETE", path, **kwargs)


@pytest.fixture
def api(app, session, world):
    """``api("reviewer_A1")`` is a client holding a fresh token of that world user;
    ``api()`` is anonymous."""

    def client_for(username: str | None = None) -> ApiClient:
        if username is None:
            return ApiClient(app)
        _, token = create_api_token(session, world.actor(username), "测试")
        session.flush()
        return ApiClient(app, token)

    return client_for


def error_of(response) -> dict:
    """The error body, after checking the one error format."""
    body = response.get_json()
    assert response.mimetype == "application/json", response.data[:200]
    assert set(body) == {"error"} and {"code", "message", "fields"} <= set(body["error"]), body
    return body["error"]
