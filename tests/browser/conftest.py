"""Browser test fixtures: the real app served over HTTP, driven by Debian's headless chromium.

One SQLite file per test session, migrated and seeded with engine operations (the test
world's org tree and people with a known password, an honours round with quotas and a
jury); the app (``create_app`` with DEMO off) served by werkzeug in a thread on a free
port of 127.0.0.1; one browser per session, and in each test one context per person
signing in (so each has their own cookies), at a phone's or a desktop's width.

Playwright never downloads a browser here: it drives /usr/bin/chromium (the Debian
package .ci/run installs). Without it the tests are skipped locally and fail under CI=true.
Screenshots go to test-artifacts/screenshots/<test>-<step>.png at the repository root.
"""
from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker
from stdnum.cn import ric
from werkzeug.serving import make_server

from engine.base.config import Settings
from engine.base.db import make_engine, make_session_factory, utcnow
from engine.cases.case import Case
from engine.cases.records import add_record
from engine.cases.tasks import waiting_task
from engine.definitions.store import sync_definitions
from engine.migrate import upgrade
from engine.operations.transitions import create_draft, perform_action
from engine.org.accounts import hash_password
from engine.org.units import Actor, OrgUnit, load_actor
from engine.procedures.juries import cast_vote, form_jury
from engine.procedures.parameters import parameters_for, set_parameters
from engine.procedures.rounds import open_round, set_quota
from tests.conftest import IN_CI, SETTINGS, build_world
from tests.test_medical_subsidy import SCHEME_VALUES
from unionflow.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
PASSWORD = "browser-test-2026"
VIEWPORTS = {"phone": {"width": 375, "height": 812}, "desktop": {"width": 1280, "height": 900}}
JURORS = ("reviewer_city", "reviewer_A", "reviewer_B")
# A round as small as the scenarios need: person awards need an ID number, no veto items
# to declare, and the city asks one body (discipline) about every nominee.
ROUND_SETTINGS = {"person_awards": ["labour_medal"], "veto_items": [], "repeat_years": 5,
                  "background_checks": {"*": ["discipline"]}}
QUOTA = 50
# The medical claim's required documents, and the schemes every walk's claims are granted by (the
# issue's example: (4,000 − 800) × 50% = 1,600 元, under a 50,000 cap): one set, whichever walk runs first.
MEDICAL_DOCUMENTS = ("discharge_summary", "diagnosis_certificate", "settlement_sheet", "itemised_bill")
MEDICAL_SCHEMES = "medical_subsidy.schemes"
MUTUAL_AID = SCHEME_VALUES["schemes"]["mutual_aid"] | {"deductible": "800.00"}


def id_number(serial: int) -> str:
    """A valid 18-digit ID number (checksum included), different for each serial."""
    body = f"11010119{80 + serial % 20:02d}0{1 + serial % 9}{10 + serial % 18:02d}{serial % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


# --- The database and the server ------------------------------------------------------------------

class LiveDatabase:
    """The served database, for steps a test does with engine operations instead of pages."""

    def __init__(self, url: str, directory: Path, factory: sessionmaker[Session], user_ids: dict[str, int],
                 round_id: int):
        self.url = url
        self.directory = directory
        self.factory = factory
        self.user_ids = user_ids
        self.round_id = round_id
        self._serial = 0

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.factory() as session:
            yield session
            session.commit()

    def actor(self, session: Session, username: str) -> Actor:
        return load_actor(session, self.user_ids[username])

    def next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def nomination_form(self, nominee: str, serial: int | None = None) -> dict:
        serial = self.next_serial() if serial is None else serial
        # Sex and birth date follow from the ID number (derived_from in workflows/honours.yaml).
        return {"award_type": "labour_medal", "nominee_name": nominee,
                "id_number": id_number(500 + serial), "employer": "A1a公司", "ownership": "public",
                "merits_summary": f"{nominee}扎根一线多年，爱岗敬业，业绩突出。"}

    def submitted_nomination(self, nominee: str, applicant: str = "applicant_A1a") -> int:
        """A nomination filled in and submitted by ``applicant``: it waits for the township."""
        with self.session() as session:
            actor = self.actor(session, applicant)
            case = create_draft(session, actor, "honours", form=self.nomination_form(nominee), round_id=self.round_id)
            perform_action(session, actor, case, "submit", expected_version=case.version)
            return case.id

    def nomination_at_city(self, nominee: str) -> int:
        """A nomination the township and the county forwarded: it waits for the city's review."""
        case_id = self.submitted_nomination(nominee)
        with self.session() as session:
            case = session.get(Case, case_id)
            for reviewer in ("reviewer_A1", "reviewer_A"):
                perform_action(session, self.actor(session, reviewer), case, "approve", expected_version=case.version)
        return case_id

    def medical_schemes(self) -> None:
        """The city's healthcare subsidy schemes (MUTUAL_AID), set once for the whole browser session."""
        with self.session() as session:
            city = session.get(OrgUnit, self.actor(session, "reviewer_city").grants[0].unit_id)
            if parameters_for(session, MEDICAL_SCHEMES, city.path, utcnow().date()) is None:
                set_parameters(session, None, MEDICAL_SCHEMES, unit=city, valid_from=date(2024, 1, 1),
                               values={"schemes": {"mutual_aid": MUTUAL_AID}})

    def case(self, case_id: int) -> Case:
        with self.factory() as session:
            return session.get(Case, case_id)

    def holder_of(self, case_id: int) -> int | None:
        """Who holds the task the case waits on (None: its unit)."""
        with self.factory() as session:
            return waiting_task(session, case_id).assignee_id

    def add_background_opinion(self, case_id: int) -> None:
        """The city's consultation of the discipline body, answered without objection."""
        with self.session() as session:
            add_record(session, self.actor(session, "reviewer_city"), session.get(Case, case_id), "background_opinion",
                       {"body": "discipline", "opinion": "positive", "signer": "刘明",
                        "opinion_date": utcnow().date().isoformat()})

    def jury_votes(self, case_id: int, jurors: tuple[str, ...] = JURORS, choice: str = "approve") -> None:
        with self.session() as session:
            case = session.get(Case, case_id)
            for juror in jurors:
                cast_vote(session, self.actor(session, juror), case, choice)


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (Debian package chromium; .ci/run installs it)"
        if IN_CI:
            pytest.fail(f"chromium is required in CI: {reason}", pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def live_db(tmp_path_factory) -> Iterator[LiveDatabase]:
    directory = tmp_path_factory.mktemp("browser")
    engine = make_engine(f"sqlite:///{directory / 'browser.db'}")
    with engine.begin() as connection:
        upgrade(connection)
    factory = make_session_factory(engine)
    with factory() as session:
        sync_definitions(session, SETTINGS.workflows_dir)
        world = build_world(session)
        password_hash = hash_password(PASSWORD)  # argon2 is slow on purpose: one hash for all
        for user in world.users.values():
            user.password_hash = password_hash
        now = utcnow()
        round_ = open_round(session, None, kind="honours", unit=world.unit("city"), title="浏览器测试评选",
                            year=now.year, opens_dt=now - timedelta(days=30), closes_dt=now + timedelta(days=30),
                            categories=["labour_medal"], settings=ROUND_SETTINGS)
        for unit in ("A", "B", "A1", "A2", "B1"):
            set_quota(session, None, round_, world.unit(unit), "labour_medal", QUOTA)
        form_jury(session, None, round_, title="浏览器测试评审委员会",
                  member_ids=[world.users[name].id for name in JURORS])
        session.commit()
        user_ids, round_id = {name: user.id for name, user in world.users.items()}, round_.id
    yield LiveDatabase(str(engine.url), directory, factory, user_ids, round_id)
    engine.dispose()


@pytest.fixture(scope="session")
def live_server(live_db) -> Iterator[str]:
    """The app on the live database, over real HTTP on a free port."""
    settings = Settings(database_url=live_db.url, workflows_dir=SETTINGS.workflows_dir,
                        timezone=ZoneInfo("Asia/Shanghai"), attachments_dir=live_db.directory / "attachments")
    # Every walk signs in and objects from 127.0.0.1: the per-address limits would stop the later walks.
    app = create_app(settings, DEMO=False, SECRET_KEY="browser-test-secret",
                     LOGIN_RATE_LIMIT="1000 per minute", OBJECTION_RATE_LIMIT="1000 per minute")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    app.extensions["unionflow"].engine.dispose()


@pytest.fixture(scope="session")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True)
        yield browser
        browser.close()


# --- Per test: people signing in, screenshots -----------------------------------------------------

class Browse:
    """Opens pages as one person or another, each in a context (cookie jar) of their own."""

    def __init__(self, browser, base_url: str, test_name: str):
        self.browser = browser
        self.base_url = base_url
        self.test_name = re.sub(r"[^\w.-]+", "_", test_name).strip("_")
        self.contexts = []

    def anonymous(self, viewport: str = "desktop"):
        context = self.browser.new_context(base_url=self.base_url, viewport=VIEWPORTS[viewport], locale="zh-CN")
        context.set_default_timeout(15_000)  # a loaded CI machine; a missing element still fails
        self.contexts.append(context)
        return context.new_page()

    def signed_in(self, username: str, viewport: str = "desktop"):
        """A page of ``username``, signed in through the login form."""
        page = self.anonymous(viewport)
        page.goto("/login")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="登录").click()
        assert "/login" not in page.url, f"{username} could not sign in: {page.url}"
        return page

    def shot(self, page, step: str) -> Path:
        path = SCREENSHOTS / f"{self.test_name}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """The screenshot folder (emptied of an earlier run's pictures at the start, tests/conftest.py)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def browse(browser, live_server, screenshots, request) -> Iterator[Browse]:
    helper = Browse(browser, live_server, request.node.name)
    yield helper
    helper.close()
