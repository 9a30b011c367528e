"""The sign-in and objection limits as production serves them: gunicorn with several worker
processes on PostgreSQL, the counters in Redis, one trusted proxy in front (the test sets
X-Forwarded-For as the proxy would), over real HTTP.

Each worker process has its own memory, so only a counter in the shared storage, taken
atomically before the password is evaluated, keeps 20 attempts sent at once to the limit.
Evidence without timing: every wrong password that is evaluated answers 401, every attempt
refused unevaluated answers 429.

Needs PostgreSQL (UNIONFLOW_TEST_DATABASE_URL) and Redis (UNIONFLOW_TEST_REDIS_URL, the
worker tests' database; each server here keeps its counters under a key prefix of its own,
so nothing is flushed): skipped locally without them, a failure under CI=true.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest

from engine.org.accounts import hash_password
from engine.org.units import User
from tests.conftest import build_world, postgres_url
from tests.test_worker_integration import redis_broker  # noqa: F401 - a fixture used here

pytestmark = pytest.mark.postgres_only

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 4
STARTUP_SECONDS = 30
PASSWORD = "gunicorn test 2026"
LIMITS = {"UNIONFLOW_LOGIN_LOCKOUT_LIMIT": "5 per 15 minutes", "UNIONFLOW_LOGIN_RATE_LIMIT": "3 per minute",
          "UNIONFLOW_OBJECTION_RATE_LIMIT": "2 per hour"}
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def limits_storage(redis_broker) -> str:
    """The limit counters live in the test Redis database the worker tests use (flushed)."""
    return redis_broker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log_path: Path

    def request(self, method: str, path: str, *, client: str, body=None, headers=None,
                cookie: str | None = None) -> tuple[int, dict, str]:
        """One request as the proxy passes it on: from 127.0.0.1, the client's address in X-Forwarded-For."""
        sent = {"X-Forwarded-For": client, **(headers or {})}
        if cookie:
            sent["Cookie"] = cookie
        if isinstance(body, dict):
            body, sent["Content-Type"] = json.dumps(body), "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read().decode("utf-8", "replace")
        finally:
            connection.close()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@dataclass
class Browser:
    """A browser behind the proxy: its session cookie and the form's CSRF token."""

    server: Server
    client: str
    cookie: str | None = None
    csrf: str | None = None

    def open_login_page(self) -> None:
        status, headers, page = self.server.request("GET", "/login", client=self.client)
        assert status == 200
        self.cookie = headers["Set-Cookie"].split(";", 1)[0]
        self.csrf = CSRF_INPUT.search(page).group(1)

    def submit(self, path: str, form: dict) -> int:
        body = urlencode({"csrf_token": self.csrf, **form})
        status, _headers, _page = self.server.request(
            "POST", path, client=self.client, body=body, cookie=self.cookie,
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        return status


def start_server(database_url: str, storage_url: str, tmp_path: Path) -> Server:
    port = free_port()
    environment = {
        **os.environ, **LIMITS,
        "UNIONFLOW_DATABASE_URL": database_url, "UNIONFLOW_RATELIMIT_STORAGE_URI": storage_url,
        "UNIONFLOW_SECRET_KEY": secrets.token_hex(32), "UNIONFLOW_TRUSTED_PROXIES": "1",
        "UNIONFLOW_ATTACHMENTS_DIR": str(tmp_path / "attachments"),
    }
    # Counters of this server only: earlier runs' counters in the same Redis database stay apart.
    prefix = f"uf-test-{secrets.token_hex(4)}"
    log_path = tmp_path / "gunicorn.log"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(gunicorn), "-w", str(WORKERS), "-b", f"127.0.0.1:{port}", "--timeout", "60",
             f"unionflow.app:create_app(RATELIMIT_KEY_PREFIX={prefix!r})"],
            cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = Server(port, process, log_path)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {process.returncode}\n{server.log()}")
        try:
            if server.request("GET", "/login", client="192.0.2.1")[0] == 200:
                return server
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    raise AssertionError(f"gunicorn did not answer within {STARTUP_SECONDS} s\n{server.log()}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


@pytest.fixture
def server(limits_storage, committed_db, tmp_path):
    """gunicorn with several workers on the test's PostgreSQL database (the world's people, with
    PASSWORD) and Redis-backed limits."""
    with committed_db() as session:
        world = build_world(session)
        password_hash = hash_password(PASSWORD)
        for user in world.users.values():
            session.get(User, user.id).password_hash = password_hash
        session.commit()
    handle = start_server(postgres_url(), limits_storage, tmp_path)
    try:
        yield handle
    finally:
        stop_server(handle)


def sign_in_by_api(server: Server, username: str, password: str, client: str) -> int:
    return server.request("POST", "/api/v1/session", client=client,
                          body={"username": username, "password": password})[0]


def test_twenty_wrong_passwords_at_once_get_at_most_the_limit_evaluated(server):
    """Twenty attempts at once, from twenty addresses (so the limit per address stays out of it),
    through several workers: five are evaluated (401), the other fifteen refused unevaluated (429);
    then the right password is refused too, on the web form and through the API."""
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(
            lambda n: sign_in_by_api(server, "applicant_A1a", f"wrong guess {n}", f"203.0.113.{n + 1}"),
            range(20)))
    assert sorted(statuses) == [401] * 5 + [429] * 15, statuses

    browser = Browser(server, "198.51.100.50")
    browser.open_login_page()
    assert browser.submit("/login", {"username": "applicant_A1a", "password": PASSWORD}) == 429
    assert sign_in_by_api(server, "applicant_A1a", PASSWORD, "198.51.100.51") == 429
    # another person is not locked
    assert sign_in_by_api(server, "reviewer_A1", PASSWORD, "198.51.100.52") == 200


def test_a_lockout_on_the_web_form_holds_for_the_api_across_workers(server):
    for n in range(5):
        browser = Browser(server, f"198.51.100.{n + 10}")
        browser.open_login_page()
        assert browser.submit("/login", {"username": "reviewer_B1", "password": "wrong-wrong"}) == 401
    assert sign_in_by_api(server, "reviewer_B1", PASSWORD, "198.51.100.30") == 429


def test_objections_from_one_address_count_across_the_form_and_the_api(server):
    """The limit (2 per hour here) is one counter for both doors, in every worker."""
    client = "198.51.100.77"
    browser = Browser(server, client)
    browser.open_login_page()
    # No such notice: refused, but counted all the same (the limit is on submitting).
    assert browser.submit("/notices/999999/objections", {"name": "王五"}) == 404
    status, _, _ = server.request("POST", "/api/v1/public/notices/999999/objections", client=client, body={})
    assert status != 429
    assert server.request("POST", "/api/v1/public/notices/999999/objections", client=client, body={})[0] == 429
    assert browser.submit("/notices/999999/objections", {"name": "王五"}) == 429
    # another client behind the same proxy still may
    other = Browser(server, "198.51.100.78")
    other.open_login_page()
    assert other.submit("/notices/999999/objections", {"name": "赵六"}) == 404


def test_behind_the_proxy_each_client_has_its_own_sign_in_limit(server):
    """3 attempts per minute per address: one client's failures do not limit another's, and a
    client cannot escape by putting an address of its own in front of the proxy's entry."""
    statuses = [sign_in_by_api(server, f"nobody{n}", "wrong-wrong", "198.51.100.90") for n in range(3)]
    assert statuses == [401, 401, 401]
    assert sign_in_by_api(server, "nobody9", "wrong-wrong", "198.51.100.90") == 429
    assert sign_in_by_api(server, "nobody9", "wrong-wrong", "10.9.9.9, 198.51.100.90") == 429
    assert sign_in_by_api(server, "nobody9", "wrong-wrong", "198.51.100.91") == 401
