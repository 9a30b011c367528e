"""The demo as `make demo` builds it: `unionflow demo setup` and `unionflow run` in a working
directory of their own, every setting at its default (relative paths, a SQLite file, tasks
in-process with the embedded scheduler).

Other tests configure absolute paths and never start the embedded scheduler; these start the
real command, as a user does, and use it over HTTP.
"""
from __future__ import annotations

import logging
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from engine import worker
from unionflow.demo import DEMO_PASSWORD

UNIONFLOW = Path(sys.executable).with_name("unionflow")
WAIT_SECONDS = 60


def _demo_environment() -> dict[str, str]:
    """The environment of a user's shell: none of the settings the test session configures."""
    return {name: value for name, value in os.environ.items() if not name.startswith("UNIONFLOW_")}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(predicate, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    pytest.fail(f"not within {WAIT_SECONDS} s: {what}")


def _query(database: Path, sql: str):
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchone()[0]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`unionflow demo setup` then `unionflow run`, in a fresh directory away from the checkout."""
    directory = tmp_path_factory.mktemp("demo-home")
    environment = _demo_environment()
    setup = subprocess.run([str(UNIONFLOW), "demo", "setup"], cwd=directory, env=environment,
                           capture_output=True, text=True, timeout=300)
    assert setup.returncode == 0, setup.stderr
    database = directory / "instance" / "unionflow.db"
    overdue_before = _query(database, "SELECT count(*) FROM tasks WHERE closed_dt IS NULL "
                                      "AND next_check_dt < datetime('now')")
    port = _free_port()
    log_file = (directory / "run.log").open("w")
    server = subprocess.Popen([str(UNIONFLOW), "run", "--port", str(port)], cwd=directory, env=environment,
                              stdout=log_file, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def serving():
        try:
            return requests.get(f"{base}/login", timeout=2).status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            return server.poll() is not None  # ended: the assertion below says why

    try:
        _wait_for(serving, "the demo serves its login page")
        assert server.poll() is None, (directory / "run.log").read_text()
        yield {"base": base, "directory": directory, "database": database, "overdue_before": overdue_before}
    finally:
        server.terminate()
        server.wait(timeout=10)
        log_file.close()


def test_the_demos_own_scheduler_acts_on_the_deadlines_that_are_due(demo):
    """Does the demo's every-minute scan, on its SQLite file, send the reminders and escalations due?"""
    assert demo["overdue_before"] > 0  # the demo city has work overdue the moment it starts
    database = demo["database"]
    _wait_for(lambda: _query(database, "SELECT count(*) FROM tasks WHERE closed_dt IS NULL "
                                       "AND next_check_dt < datetime('now')") == 0,
              "every due deadline acted on")
    assert _query(database, "SELECT count(*) FROM notifications WHERE kind IN ('reminder', 'overdue', "
                            "'escalation')") > 0
    log = (demo["directory"] / "run.log").read_text()
    assert "database is locked" not in log and "Traceback" not in log
    # Nothing the operator should have to look at: no error, no warning (kombu once warned of
    # the in-process broker's missing host name on every start).
    assert " ERROR " not in log and " WARNING " not in log, log


def test_an_attachment_uploaded_in_the_demo_downloads_from_the_api_and_the_page(demo):
    """Can an applicant of the demo download the file she uploaded (stored under a relative path)?"""
    base, browser = demo["base"], requests.Session()
    signed_in = browser.post(f"{base}/api/v1/session",
                             json={"username": "applicant_jixie", "password": DEMO_PASSWORD}, timeout=10)
    assert signed_in.status_code == 200, signed_in.text
    browser.headers["X-CSRF-Token"] = signed_in.json()["csrf_token"]
    draft = browser.post(f"{base}/api/v1/cases", json={"kind": "hardship_aid"}, timeout=10)
    assert draft.status_code == 201, draft.text
    case = draft.json()
    content = b"%PDF-1.4\n" + "申请书\n".encode() * 100 + b"%%EOF\n"
    uploaded = browser.post(f"{base}/api/v1/cases/{case['id']}/attachments",
                            data={"field": "attachments", "version": case["version"]},
                            files={"file": ("申请书.pdf", content, "application/pdf")}, timeout=10)
    assert uploaded.status_code == 201, uploaded.text
    attachment = uploaded.json()
    assert (demo["directory"] / "instance" / "attachments").is_dir()

    from_api = browser.get(f"{base}/api/v1/cases/{case['id']}/attachments/{attachment['id']}", timeout=10)
    from_page = browser.get(f"{base}/cases/{case['id']}/attachments/{attachment['id']}", timeout=10)
    for response in (from_api, from_page):
        assert response.status_code == 200, response.text[:500]
        assert response.content == content


def test_a_task_that_fails_in_process_is_logged_with_its_traceback(caplog, monkeypatch):
    """In the embedded profile nobody reads a task's result: does its failure reach the log?"""
    assert worker.celery_app.conf.task_always_eager

    def broken(*_args, **_kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(worker, "process_deadlines", broken)
    with caplog.at_level(logging.ERROR, logger="engine.worker"):
        worker.process_deadlines_task.delay([1], "2026-03-09T02:00:00+00:00")
    failures = [record for record in caplog.records if record.name == "engine.worker"]
    assert len(failures) == 1
    assert "unionflow.process_deadlines" in failures[0].getMessage()
    assert "the database went away" in failures[0].getMessage()
    assert failures[0].exc_info is not None
