"""A 409 from a real race carries the version that won, as the README promises for every
conflict: on PostgreSQL, over HTTP, with the app on its own connections (not the test's).

Reviewer 1 has approved (the case row locked, not yet committed) when reviewer 2's request
approves the same version: it passes the version check, waits for the lock at its UPDATE,
matches no row once reviewer 1 commits, and is rolled back. Only then can the version that
won be read, and the answer must carry it.
"""
from __future__ import annotations

import threading
import time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from engine.base.config import Settings
from engine.cases.case import Case
from engine.operations.transitions import approve_case
from engine.org.accounts import create_api_token
from tests.conftest import NOW, SETTINGS
from tests.test_concurrency import WAIT_SECONDS, _submitted_case_id, committed_world  # noqa: F401 (fixture)
from unionflow.app import create_app


@pytest.fixture
def race_app(committed_db, tmp_path):
    engine = committed_db.kw["bind"]
    app = create_app(Settings(
        database_url=engine.url.render_as_string(hide_password=False), workflows_dir=SETTINGS.workflows_dir,
        timezone=ZoneInfo("Asia/Shanghai"), attachments_dir=tmp_path / "attachments",
        signing_key_file=tmp_path / "key.pem"), SECRET_KEY="test-secret", TESTING=True)
    yield app
    app.extensions["unionflow"].engine.dispose()


def _token(committed_db, actor) -> str:
    with committed_db() as session:
        _, token = create_api_token(session, actor, "竞争测试")
        session.commit()
    return token


def _wait_for_a_lock_waiter(committed_db, thread: threading.Thread) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    with committed_db.kw["bind"].connect() as conn:
        while time.monotonic() < deadline and thread.is_alive():
            waiting = conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                       "AND wait_event_type = 'Lock'"))
            conn.rollback()  # pg_stat_activity is a snapshot for the rest of a transaction
            if waiting:
                return
            time.sleep(0.01)
    pytest.fail("the request never waited for the first reviewer's lock")


def _race(committed_db, world, race_app, path: str, body) -> tuple[dict, int]:
    """Reviewer 1 approves and holds the lock while reviewer 2's request ``path`` runs."""
    case_id = _submitted_case_id(committed_db, world)
    token = _token(committed_db, world.actor("reviewer_A1_and_A"))
    answer = {}
    with committed_db() as first:
        case = first.get(Case, case_id)
        version = case.version
        approve_case(first, world.actor("reviewer_A1"), case, expected_version=version, now=NOW)
        request = threading.Thread(target=lambda: answer.update(response=race_app.test_client().post(
            path.format(case_id=case_id), json=body(case_id, version), headers={"Authorization": f"Bearer {token}"})))
        request.start()
        _wait_for_a_lock_waiter(committed_db, request)
        first.commit()
        request.join(WAIT_SECONDS)
    return answer, version


def test_a_race_lost_at_the_update_answers_409_with_the_version_that_won(committed_db, committed_world, race_app):
    answer, version = _race(committed_db, committed_world, race_app, "/api/v1/cases/{case_id}/actions/approve",
                            lambda case_id, version: {"version": version})
    response = answer["response"]
    assert response.status_code == 409, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "conflict"
    assert error["current_version"] == version + 1


def test_a_batch_item_that_lost_a_race_carries_the_version_that_won(committed_db, committed_world, race_app):
    answer, version = _race(committed_db, committed_world, race_app, "/api/v1/batch-actions",
                            lambda case_id, version: {"trigger": "approve",
                                                      "cases": [{"id": case_id, "version": version}]})
    response = answer["response"]
    assert response.status_code == 200, response.get_json()
    [item] = response.get_json()["results"]
    assert (item["ok"], item["status"], item["error"]["code"]) == (False, 409, "conflict")
    assert item["error"]["current_version"] == version + 1
