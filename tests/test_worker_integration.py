"""The production profile end to end: a real Celery worker process on Redis, a real SMTP server.

The fixtures start an SMTP server on loopback (aiosmtpd) and ``celery -A engine.worker worker``
as a subprocess on PostgreSQL (the worker must see what the test commits) and on a Redis
database of its own (UNIONFLOW_TEST_REDIS_URL, flushed before and after). The test process
sends tasks through that broker, as the beat would, and reads the mail the server received.

Redis missing: skipped locally, a failure under CI=true (like PostgreSQL in tests/conftest.py).
"""
from __future__ import annotations

import email
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from email import policy
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from aiosmtpd.controller import Controller
from sqlalchemy import select

from engine import worker
from engine.base.config import DeliverySettings
from engine.cases.case import Case
from engine.cases.tasks import Task, waiting_task
from engine.notify.notifications import Notification, set_preferences
from engine.operations.telling import tell_about_events
from engine.operations.transitions import approve_case, create_draft, submit_case
from engine.org.units import User, load_actor
from tests.conftest import IN_CI, NOW, WORKER_INDEX, build_world, postgres_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
BASE_URL = "https://gonghui.example.org"
STARTUP_SECONDS = 30
WAIT_SECONDS = 20
NOMINEE = "王晓红"
FORM = {"award_type": "labour_medal", "nominee_name": NOMINEE, "employer": "A1a公司", "ownership": "public",
        "merits_summary": "扎根一线十年，带出徒弟三十余名。"}
# Who gets mail, and what each is told of the overdue case: the township reviewer it waits for,
# the county reviewer one level up, the applicant. (reviewer_A1_and_A, at both, has no address.)
ADDRESSES = {"reviewer_A1": "a1@example.org", "reviewer_A": "county-a@example.org",
             "applicant_A1a": "applicant@example.org"}
SUBJECTS = {"reviewer_A1": "【已逾期】", "reviewer_A": "【逾期督办】", "applicant_A1a": "【进度提示】"}


def redis_url() -> str:
    """The configured test Redis database; under pytest-xdist, the one WORKER_INDEX after it."""
    configured = urlsplit(os.environ.get("UNIONFLOW_TEST_REDIS_URL", DEFAULT_REDIS_URL))
    number = int(configured.path.strip("/") or 0) + WORKER_INDEX
    return urlunsplit(configured._replace(path=f"/{number}"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Redis, the SMTP server and the worker ---------------------------------------------------------

@pytest.fixture(scope="session")
def redis_broker() -> str:
    """The test Redis database, flushed; skipped when unreachable, but a failure in CI."""
    url = redis_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.flushdb()
        unreachable = None
    except redis.RedisError as err:
        client.close()
        unreachable = f"cannot reach Redis at {url}: {err}"
    if unreachable:  # outside the except block: the report shows the reason, not a traceback chain
        if IN_CI:
            pytest.fail(f"Redis is required in CI: {unreachable}", pytrace=False)
        pytest.skip(unreachable)
    yield url
    client.flushdb()
    client.close()


class Mailbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content,
                                                                                      policy=policy.default)))
        return "250 OK"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        with self._lock:
            return [message for recipients, message in self.messages if address in recipients]

    def count(self) -> int:
        with self._lock:
            return len(self.messages)


class SmtpServer:
    """The loopback SMTP server on a port fixed before the worker starts; it may start later."""

    def __init__(self, port: int):
        self.port, self.mailbox, self._controller = port, Mailbox(), None

    def start(self) -> Mailbox:
        self.mailbox = Mailbox()
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self.mailbox

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class Worker:
    def __init__(self, process: subprocess.Popen, name: str, log_path: Path):
        self.process, self.name, self.log_path = process, name, log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def inspect(self):
        return worker.celery_app.control.inspect(destination=[self.name], timeout=1)

    def wait_until_idle(self, timeout: float = WAIT_SECONDS) -> dict[str, int]:
        """Until the queue is empty and the worker has nothing running, reserved or scheduled,
        twice in a row with no task started in between; returns the tasks run, by name."""
        broker = redis.Redis.from_url(redis_url())
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                before = self._busy_or_totals()
                if before is not None and broker.llen("celery") == 0:
                    after = self._busy_or_totals()
                    if after is not None and after == before:
                        return after
                time.sleep(0.2)
        finally:
            broker.close()
        raise AssertionError(f"worker still busy after {timeout} s\n{self.log()}")

    def _busy_or_totals(self) -> dict[str, int] | None:
        inspect = self.inspect()
        for queue in (inspect.active(), inspect.reserved(), inspect.scheduled()):
            if not queue or queue.get(self.name):
                return None
        stats = inspect.stats() or {}
        return dict(stats.get(self.name, {}).get("total", {}))


def start_worker(broker_url: str, smtp_port: int, log_path: Path) -> Worker:
    name = f"uf-test-{os.getpid()}@{socket.gethostname()}"
    environment = {
        **os.environ,
        "UNIONFLOW_DATABASE_URL": postgres_url(), "UNIONFLOW_BROKER_URL": broker_url,
        "UNIONFLOW_SMTP_HOST": "127.0.0.1", "UNIONFLOW_SMTP_PORT": str(smtp_port),
        "UNIONFLOW_BASE_URL": BASE_URL, "UNIONFLOW_MAIL_RETRY_SECONDS": "1",
    }
    for variable in ("UNIONFLOW_SMTP_USER", "UNIONFLOW_SMTP_PASSWORD", "UNIONFLOW_SMTP_STARTTLS"):
        environment.pop(variable, None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "engine.worker", "worker", "--pool=solo", "--loglevel=INFO",
             "-n", name, "--without-mingle", "--without-gossip", "--without-heartbeat"],
            cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    handle = Worker(process, name, log_path)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"the worker exited with {process.returncode}\n{handle.log()}")
            if worker.celery_app.control.ping(destination=[name], timeout=0.5):
                return handle
        raise AssertionError(f"the worker did not answer within {STARTUP_SECONDS} s\n{handle.log()}")
    except BaseException:  # never leave the process behind, whatever stopped the wait
        stop_worker(handle)
        raise


def stop_worker(handle: Worker) -> None:
    if handle.process.poll() is None:
        handle.process.send_signal(signal.SIGTERM)
        try:
            handle.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            handle.process.kill()
            handle.process.wait(timeout=10)


@pytest.fixture(scope="module")
def smtp_server():
    server = SmtpServer(free_port())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def celery_worker(redis_broker, database, smtp_server, tmp_path_factory):
    """A worker process on the test Redis and PostgreSQL; the test process sends through Redis too."""
    if database.dialect.name != "postgresql":
        pytest.skip("the worker process needs a database the test process shares: PostgreSQL")
    previous = worker.delivery_settings()
    worker.configure(DeliverySettings(broker_url=redis_broker))
    try:
        handle = start_worker(redis_broker, smtp_server.port, tmp_path_factory.mktemp("worker") / "worker.log")
    except BaseException:
        worker.configure(previous)
        raise
    try:
        yield handle
    finally:
        stop_worker(handle)
        worker.configure(previous)
        print(f"--- worker log ({handle.log_path}) ---\n{handle.log()}")


@pytest.fixture
def fresh_queue(celery_worker):
    """Nothing left over from an earlier test in the broker or the worker. (The Redis database
    is not flushed while the worker runs: it holds the worker's queue and control bindings.)"""
    celery_worker.wait_until_idle()
    return celery_worker


# --- Helpers --------------------------------------------------------------------------------------

def seed_overdue_case(factory, addresses: dict[str, str]) -> tuple[int, Task]:
    """A nomination waiting at township A1 since NOW; the given people have mail addresses, set
    once the reviewers were told of the new task (so that only what the deadline tells is mailed;
    the worker's telling after the commit finds it told)."""
    with factory() as session:
        world = build_world(session)
        case = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
        submitted = submit_case(session, world.actor("applicant_A1a"), case, expected_version=case.version, now=NOW)
        tell_about_events(session, [submitted.id], NOW)
        for username, address in addresses.items():
            set_preferences(session, world.actor(username), email=address, email_notifications=True)
        deadline = waiting_task(session, case.id)
        session.commit()
        assert case.state == "township_review" and deadline is not None and deadline.due_dt is not None
        return case.id, deadline


def wait_for(condition, what: str, handle: Worker, timeout: float = WAIT_SECONDS):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{handle.log()}")


def notifications_of(factory, username: str, kind: str | None = None) -> list[Notification]:
    """The person's notifications of ``kind``; without one, all but the seed's new task."""
    query = (select(Notification).join(User, User.id == Notification.user_id)
             .where(User.username == username,
                    Notification.kind != "new_task" if kind is None else Notification.kind == kind))
    with factory() as session:
        return list(session.scalars(query.order_by(Notification.id)))


def text_of(message: email.message.EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


# --- Tests ----------------------------------------------------------------------------------------

def test_overdue_case_is_mailed_once_by_the_worker(redis_broker, committed_db, smtp_server, fresh_queue):
    handle = fresh_queue
    mailbox = smtp_server.start()
    try:
        case_id, deadline = seed_overdue_case(committed_db, ADDRESSES)
        moment = (deadline.due_dt + timedelta(hours=1)).isoformat()

        worker.scan_deadlines.delay(moment)
        wait_for(lambda: all(mailbox.to(address) for address in ADDRESSES.values()), "the escalation mail", handle)
        handle.wait_until_idle()

        link = f"{BASE_URL}/cases/{case_id}"
        for username, address in ADDRESSES.items():
            [message] = mailbox.to(address)
            assert message["Subject"].startswith(SUBJECTS[username])
            assert NOMINEE in message["Subject"]
            assert message.get_body(preferencelist=("plain",)).get_content_charset() == "utf-8"
            body = text_of(message)
            assert f"「{NOMINEE}」（编号 {case_id}）" in body and "期限" in body
            assert f"查看案件：{link}" in body.splitlines()
            [notification] = notifications_of(committed_db, username)
            assert (notification.email_status, notification.email_attempts) == ("sent", 1)
        assert mailbox.count() == len(ADDRESSES)
        # The one without an address is told in the web pages only.
        assert {n.email_status for n in notifications_of(committed_db, "reviewer_A1_and_A")} == {"none"}
        with committed_db() as session:
            row = session.get(Task, deadline.id)
            assert row.overdue_dt is not None and row.next_check_dt is None

        # A second beat, a redelivered batch and a duplicated mail task change nothing.
        escalation = notifications_of(committed_db, "reviewer_A")[0]
        before = handle.wait_until_idle()
        worker.scan_deadlines.delay(moment)
        worker.process_deadlines_task.delay([deadline.id], moment)
        worker.send_notification_email.delay(escalation.id)
        after = handle.wait_until_idle()
        ran = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
        assert ran == {"unionflow.scan_deadlines": 1, "unionflow.process_deadlines": 1,
                       "unionflow.send_notification_email": 1}
        assert mailbox.count() == len(ADDRESSES)
        for username in ADDRESSES:
            assert [(n.email_status, n.email_attempts) for n in notifications_of(committed_db, username)] == [("sent", 1)]
    finally:
        smtp_server.stop()


def test_mail_is_retried_until_the_server_answers_and_sent_once(redis_broker, committed_db, smtp_server,
                                                                fresh_queue):
    handle = fresh_queue
    address = ADDRESSES["reviewer_A"]
    try:
        _case_id, deadline = seed_overdue_case(committed_db, {"reviewer_A": address})
        worker.scan_deadlines.delay((deadline.due_dt + timedelta(hours=1)).isoformat())

        # The SMTP server is down: the first try fails and is counted, the mail stays pending.
        [failed] = wait_for(lambda: [n for n in notifications_of(committed_db, "reviewer_A") if n.email_attempts],
                            "a failed mail attempt", handle)
        assert failed.email_status == "pending"
        mailbox = smtp_server.start()

        wait_for(lambda: mailbox.to(address), "the retried mail", handle)
        handle.wait_until_idle()
        [message] = mailbox.to(address)
        assert message["Subject"].startswith("【逾期督办】")
        assert mailbox.count() == 1
        [notification] = notifications_of(committed_db, "reviewer_A")
        assert notification.email_status == "sent" and notification.email_attempts >= 2
        assert "Retry in 1s" in handle.log()
    finally:
        smtp_server.stop()


def test_an_approval_is_told_to_the_next_level_by_the_worker_and_mailed_once(redis_broker, committed_db,
                                                                            smtp_server, fresh_queue):
    handle = fresh_queue
    address = ADDRESSES["reviewer_A"]
    mailbox = smtp_server.start()
    try:
        case_id, _deadline = seed_overdue_case(committed_db, {"reviewer_A": address})
        with committed_db() as session:
            township = load_actor(session, session.scalar(select(User.id).where(User.username == "reviewer_A1")))
            case = session.get(Case, case_id)
            event_id = approve_case(session, township, case, expected_version=case.version, now=NOW).id
            session.commit()  # the telling goes to the worker through Redis

        wait_for(lambda: mailbox.to(address), "the new task's mail", handle)
        before = handle.wait_until_idle()
        [message] = mailbox.to(address)
        assert message["Subject"] == f"【待办】{NOMINEE}：县（区）总工会审核"
        assert f"查看案件：{BASE_URL}/cases/{case_id}" in text_of(message).splitlines()
        [told] = notifications_of(committed_db, "reviewer_A", kind="new_task")
        assert (told.key, told.email_status) == (f"event:{event_id}:new_task", "sent")

        # The same telling again (a redelivery) tells nobody twice and mails nothing.
        worker.tell_people.delay([event_id])
        after = handle.wait_until_idle()
        ran = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
        assert ran == {"unionflow.tell_people": 1}
        assert mailbox.count() == 1
        assert len(notifications_of(committed_db, "reviewer_A", kind="new_task")) == 1
    finally:
        smtp_server.stop()
