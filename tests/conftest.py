"""Test fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from UNIONFLOW_TEST_DATABASE_URL. Without it (or unreachable) the
PostgreSQL half is skipped locally, but fails under CI=true: CI must never go green
on a silently missing service.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from engine.audit.signing import Signer, create_signing_key, load_signer
from engine.base.config import Settings, normalize_database_url
from engine.base.db import Base, make_engine, make_session_factory
from engine.cases.inbox import InboxFilter, inbox_page
from engine.definitions.store import sync_definitions
from engine.migrate import upgrade
from engine.org.units import Actor, assign_role, create_org_unit, create_user, load_actor
from engine.runtime import bootstrap, load_models
from engine.worker import celery_app  # noqa: F401 - as in every process: people told after each commit

# Commands run by the tests (`unionflow demo setup` makes a signing key) never write the
# developer's own key in instance/.
os.environ.setdefault("UNIONFLOW_SIGNING_KEY_FILE", str(Path(tempfile.mkdtemp(prefix="unionflow-key-")) / "key.pem"))
# Nor its attachment store (the demo's claims carry their documents).
os.environ.setdefault("UNIONFLOW_ATTACHMENTS_DIR", tempfile.mkdtemp(prefix="unionflow-files-"))
SETTINGS = Settings.from_env()
bootstrap(SETTINGS)
load_models()
IN_CI = os.environ.get("CI", "").lower() == "true"
# Definitions only the tests use (engine-generic tests run on a plain chain, basic_nomination).
TEST_DEFINITIONS = Path(__file__).parent / "definitions"
# A fixed working Monday, well inside the years chinesecalendar covers.
NOW = datetime(2026, 3, 9, 2, 0, tzinfo=timezone.utc)


def waiting_case_ids(session: Session, actor: Actor, role: str = "reviewer") -> list[int]:
    """The cases in ``actor``'s inbox in ``role``, in the order of its first page."""
    return [entry.case_id for entry in inbox_page(session, actor, InboxFilter(role=role), now=NOW)]


# Set for every process the run starts: xdist workers, pytest runs started by tests.
NESTED_RUN = os.environ.get("UNIONFLOW_TEST_RUN") == "1"
os.environ["UNIONFLOW_TEST_RUN"] = "1"
# Under pytest-xdist (make test runs two processes) each worker process has a PostgreSQL
# database and a Redis database of its own: the fixtures empty them.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ...; empty without xdist
WORKER_INDEX = int(XDIST_WORKER.removeprefix("gw") or 0)


def postgres_url() -> str | None:
    url = os.environ.get("UNIONFLOW_TEST_DATABASE_URL")
    if not url:
        return None
    url = normalize_database_url(url)
    if XDIST_WORKER:
        parsed = make_url(url)
        url = parsed.set(database=f"{parsed.database}_{XDIST_WORKER}").render_as_string(hide_password=False)
    return url


def _create_worker_database(url: str) -> None:
    """The worker's own database, made beside the configured one when it is not there yet."""
    name = make_url(url).database
    server = make_engine(normalize_database_url(os.environ["UNIONFLOW_TEST_DATABASE_URL"]),
                         isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}) is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        server.dispose()


def pytest_sessionstart(session):
    """Screenshots of an earlier run go, once: in the run's first process, not in its xdist
    workers nor in the pytest runs some tests start (they would take the others' pictures)."""
    if not NESTED_RUN:
        shutil.rmtree(Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots", ignore_errors=True)


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _fresh_postgres_engine():
    url = postgres_url()
    if not url:
        _unavailable("UNIONFLOW_TEST_DATABASE_URL is not set")
    try:
        if XDIST_WORKER:
            _create_worker_database(url)
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    except Exception as err:  # noqa: BLE001 - any connection failure means "unavailable"
        _unavailable(f"cannot reach PostgreSQL at {url}: {err}")
    return engine


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database(request, tmp_path_factory):
    """A migrated database with the definitions loaded, shared by the whole session."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}")
    else:
        engine = _fresh_postgres_engine()
    with engine.begin() as conn:
        upgrade(conn)
    factory = make_session_factory(engine)
    with factory() as session:
        sync_definitions(session, SETTINGS.workflows_dir)
        sync_definitions(session, TEST_DEFINITIONS)
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def backend(database) -> str:
    return database.dialect.name


@pytest.fixture
def session(database):
    """A session whose commits are savepoints inside a transaction rolled back after the test."""
    connection = database.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield session
    session.close()
    outer.rollback()
    connection.close()


@pytest.fixture
def committed_db(database):
    """For tests that need real commits from several connections; wipes what they wrote."""
    if database.dialect.name != "postgresql":
        pytest.skip("runs on PostgreSQL only: commits from several connections or processes at once")
    yield make_session_factory(database)
    wipe(database)


def wipe(engine) -> None:
    keep = {"definition_versions", "workflow_kinds", "alembic_version", "case_ledger_heads", "system_log_head",
            "telling_marks"}
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in keep:
                conn.execute(table.delete())
        conn.execute(text("UPDATE case_ledger_heads SET seq = 0, hash = :h"), {"h": "0" * 64})
        conn.execute(text("UPDATE system_log_head SET seq = 0, hash = :h"), {"h": "0" * 64})
        conn.execute(text("UPDATE telling_marks SET event_id = 0"))


# --- Organisation factory -------------------------------------------------------------------------

@dataclass
class World:
    """A city with two counties: A (townships A1, A2) and B (township B1), each with grassroots unions."""

    units: dict
    users: dict
    actors: dict

    def unit(self, name):
        return self.units[name]

    def actor(self, name) -> Actor:
        return self.actors[name]


def build_world(session: Session) -> World:
    units = {}
    units["city"] = create_org_unit(session, name="示范市总工会", level="city", kind="federation")
    for county in ("A", "B"):
        units[county] = create_org_unit(session, name=f"{county}区总工会", level="county", parent=units["city"], kind="federation")
    for township, county in (("A1", "A"), ("A2", "A"), ("B1", "B")):
        units[township] = create_org_unit(session, name=f"{township}街道总工会", level="township",
                                          parent=units[county], kind="federation")
    for grassroots, township in (("A1a", "A1"), ("A1b", "A1"), ("A2a", "A2"), ("B1a", "B1")):
        units[grassroots] = create_org_unit(session, name=f"{grassroots}公司工会", level="grassroots",
                                            parent=units[township])
    grants = {
        "applicant_A1a": [("applicant", "A1a")],
        "applicant_A1b": [("applicant", "A1b")],
        "applicant_B1a": [("applicant", "B1a")],
        "reviewer_A1a": [("reviewer", "A1a")],
        "reviewer_A1": [("reviewer", "A1")],
        "reviewer_A2": [("reviewer", "A2")],
        "reviewer_B1": [("reviewer", "B1")],
        "reviewer_A": [("reviewer", "A")],
        "reviewer_B": [("reviewer", "B")],
        "reviewer_city": [("reviewer", "city")],
        "auditor_city": [("auditor", "city")],
        "auditor_A": [("auditor", "A")],
        "admin": [("admin", "city")],
        # One person, two hats: township reviewer and county reviewer of county A.
        "reviewer_A1_and_A": [("reviewer", "A1"), ("reviewer", "A")],
    }
    users = {}
    for username, roles in grants.items():
        user = create_user(session, username=username, display_name=username)
        for role, unit in roles:
            assign_role(session, user, role, units[unit])
        users[username] = user
    session.flush()
    actors = {name: load_actor(session, user.id) for name, user in users.items()}
    return World(units, users, actors)


@pytest.fixture
def world(session) -> World:
    return build_world(session)


# Where the app fixture (tests/api_v1/conftest.py) looks for the signing key, under tmp_path.
SIGNING_KEY_FILE = "audit-signing-key.pem"


@pytest.fixture
def signer(session, tmp_path) -> Signer:
    """The deployment's audit-export signing key: published in the test's database, its private
    half in the file the test app reads."""
    create_signing_key(session, None, tmp_path / SIGNING_KEY_FILE, now=NOW)
    session.flush()
    return load_signer(tmp_path / SIGNING_KEY_FILE)
