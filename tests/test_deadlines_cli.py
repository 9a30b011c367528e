"""`unionflow deadlines scan [--now]`: the operator's scan on a copy of the demo database."""
from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.base.db import make_engine, make_session_factory
from engine.cases.case import Case
from engine.cases.tasks import Task
from engine.notify.notifications import Notification
from tests.test_app_cli import assert_clean_failure, invoke


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    result = invoke("demo", "setup", "--db", f"sqlite:///{path}")
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def demo_copy(demo_file, tmp_path) -> str:
    """A fresh copy per test: a scan changes the database."""
    copy = tmp_path / "scanned.db"
    source, target = sqlite3.connect(demo_file), sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.close()
    return f"sqlite:///{copy}"


def figures(url: str):
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            states = dict(session.execute(select(Case.id, Case.state)).all())
            notifications = session.scalar(select(func.count(Notification.id)))
            overdue = session.scalar(select(func.count(Task.id)).where(Task.overdue_dt.is_not(None)))
        return states, notifications, overdue
    finally:
        engine.dispose()


def last_due(url: str) -> str:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return (session.scalar(select(func.max(Task.due_dt)).where(Task.closed_dt.is_(None)))
                    + timedelta(minutes=1)).isoformat()
    finally:
        engine.dispose()


def test_a_scan_in_the_future_acts_once_and_a_second_scan_finds_nothing(demo_copy):
    before, _, _ = figures(demo_copy)
    moment = last_due(demo_copy)  # every open deadline of the demo has passed
    result = invoke("deadlines", "scan", "--now", moment, "--db", demo_copy)
    assert result.exit_code == 0, result.output
    after, notifications, overdue = figures(demo_copy)
    moved = {case_id: (before[case_id], state) for case_id, state in after.items() if state != before[case_id]}
    assert {change for change in moved.values()} >= {("public_notice", "final_approval"), ("draft", "lapsed")}
    for case_id in moved:
        assert f"case {case_id}: " in result.output
    assert notifications > 0 and overdue > 0
    assert f"{len(moved)} automatic steps" in result.output

    again = invoke("deadlines", "scan", "--now", moment, "--db", demo_copy)
    assert again.exit_code == 0, again.output
    assert "0 reminders, 0 automatic steps, 0 escalations, 0 notifications" in again.output
    assert figures(demo_copy) == (after, notifications, overdue)


def test_a_bad_moment_is_a_usage_error(demo_copy):
    result = invoke("deadlines", "scan", "--now", "next tuesday", "--db", demo_copy)
    assert result.exit_code == 2 and "is not a date and time" in result.output


def test_a_database_not_upgraded_is_refused(tmp_path):
    result = invoke("deadlines", "scan", "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    assert_clean_failure(result)
    assert "unionflow db upgrade" in result.output
