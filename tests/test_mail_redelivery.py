"""A notification's mail across a worker's death: marked sending under its Message-ID (committed)
before the SMTP call, sent after. Whatever finds it again (the broker's redelivery, the scan's
re-queue) sends nothing twice under two Message-IDs.

The steps on both databases, then the real thing: ``celery -A engine.worker worker`` on Redis
(the fixtures of tests/test_worker_integration.py) killed with SIGKILL while the SMTP server
holds the DATA of one mail, and a new worker started.
"""
from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text

from engine import worker
from engine.base.config import DeliverySettings
from engine.base.db import utcnow
from engine.notify.mail import MAIL_TRIES, SENDING_LEASE, claim_mail, failed_attempt, mark_sent, send_notification_mail
from engine.notify.notifications import Message, Notification, notify, pending_email_ids, set_preferences
from tests.conftest import build_world
from tests.test_worker_integration import (  # noqa: F401 - redis_broker is a fixture used here
    ADDRESSES, WAIT_SECONDS, Mailbox, free_port, notifications_of, redis_broker, seed_overdue_case, start_worker,
    stop_worker, wait_for,
)

SMTP = DeliverySettings(smtp_host="127.0.0.1", mail_from="unionflow@gonghui.example.org")


def message_id(message) -> str:
    """The Message-ID as received: a long one is folded onto a line of its own, which Python's
    parser leaves with the fold's leading space."""
    return message["Message-ID"].strip()


def pending_mail(session, username="reviewer_A") -> Notification:
    world = build_world(session)
    actor = world.actor(username)
    set_preferences(session, actor, email=ADDRESSES[username], email_notifications=True)
    [notification_id] = notify(session, [(actor.user_id, Message("reminder", "test:1", "【提醒】请审核", "请审核。"))],
                               utcnow())
    session.flush()
    return session.get(Notification, notification_id)


# --- The steps --------------------------------------------------------------------------------------

def test_the_message_id_is_stored_before_sending_and_kept_by_a_late_second_try(session):
    notification = pending_mail(session)
    outcome, message = claim_mail(session, notification.id, SMTP)
    assert outcome == "send" and notification.email_status == "sending"
    assert message["Message-ID"] == notification.email_message_id
    assert notification.email_message_id.endswith("@gonghui.example.org>")

    # The worker died here, the mail perhaps delivered. A task finding it moments later leaves it
    # to the one most likely still sending it ...
    assert claim_mail(session, notification.id, SMTP) == ("busy", None)
    # ... one finding it after the lease sends it again, under the same Message-ID.
    later = utcnow() + SENDING_LEASE + timedelta(seconds=1)
    outcome, again = claim_mail(session, notification.id, SMTP, now=later)
    assert outcome == "send" and again["Message-ID"] == message["Message-ID"]

    mark_sent(session, notification.id, again["Message-ID"])
    # Two tries: the one its worker died in, and this one.
    assert (notification.email_status, notification.email_attempts) == ("sent", 2)
    assert claim_mail(session, notification.id, SMTP, now=later) == ("done", None)


def test_a_mail_that_kills_every_worker_sending_it_is_given_up_after_the_tries(session):
    """Is a mail whose sending dies each time re-sent for ever, every lease?"""
    notification = pending_mail(session)
    moment = utcnow()
    for _ in range(MAIL_TRIES):
        outcome, _message = claim_mail(session, notification.id, SMTP, now=moment)
        assert outcome == "send"  # ... and its worker dies: the row stays sending
        moment += SENDING_LEASE + timedelta(seconds=1)
    assert claim_mail(session, notification.id, SMTP, now=moment) == ("failed", None)
    assert (notification.email_status, notification.email_attempts) == ("failed", MAIL_TRIES)
    assert notification.id not in pending_email_ids(session, stored_before=moment + timedelta(hours=1),
                                                    tried_too=True)


def test_a_failed_try_is_pending_again_and_the_retry_keeps_the_message_id(session):
    notification = pending_mail(session)
    _, message = claim_mail(session, notification.id, SMTP)
    assert failed_attempt(session, notification.id, final_after=3) == 1
    assert notification.email_status == "pending"
    _, retry = claim_mail(session, notification.id, SMTP)
    assert retry["Message-ID"] == message["Message-ID"]
    assert failed_attempt(session, notification.id, final_after=2) == 2
    assert notification.email_status == "failed"


def test_the_scan_requeues_mail_abandoned_while_sending(session):
    notification = pending_mail(session)
    claim_mail(session, notification.id, SMTP)
    session.flush()
    now = utcnow()
    assert notification.id not in pending_email_ids(session, stored_before=now - SENDING_LEASE)
    assert notification.id in pending_email_ids(session, stored_before=now + SENDING_LEASE)


def test_nothing_to_send_without_a_server(session):
    notification = pending_mail(session)
    assert claim_mail(session, notification.id, DeliverySettings()) == ("none", None)
    assert notification.email_status == "none" and notification.email_message_id is None


def test_sending_commits_the_message_id_before_the_smtp_call(committed_db, monkeypatch):
    """What the server is handed is already stored, committed, as the notification's Message-ID."""
    # An app made by an earlier test subscribed the after-commit mail hook: here the test mails.
    monkeypatch.setattr(worker, "send_notification_email", SimpleNamespace(delay=lambda _notification_id: None))
    with committed_db() as session:
        notification_id = pending_mail(session).id
        session.commit()
    seen = []

    def deliver(message, _settings):
        with committed_db() as other:
            stored = other.get(Notification, notification_id)
            seen.append((stored.email_status, stored.email_message_id, message["Message-ID"]))

    monkeypatch.setattr("engine.notify.mail.deliver", deliver)
    assert send_notification_mail(committed_db, notification_id, SMTP) == "sent"
    [(status, stored_id, sent_id)] = seen
    assert status == "sending" and stored_id == sent_id
    with committed_db() as session:
        notification = session.get(Notification, notification_id)
        assert (notification.email_status, notification.email_message_id) == ("sent", sent_id)


# --- A real worker killed mid-send --------------------------------------------------------------------

class StallingMailbox(Mailbox):
    """Keeps every message; the first one to ``address`` is kept and then not answered until
    released, as a server that had the whole mail when its sender died (RFC 1047)."""

    def __init__(self, address: str):
        super().__init__()
        self.address, self.stalled, self.released = address, threading.Event(), threading.Event()

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        if self.address in envelope.rcpt_tos and not self.stalled.is_set():
            self.stalled.set()
            while not self.released.is_set():
                await asyncio.sleep(0.05)
        return reply


@pytest.fixture
def broker_in_test_process(redis_broker, database):
    if database.dialect.name != "postgresql":
        pytest.skip("the worker process needs a database the test process shares: PostgreSQL")
    previous = worker.delivery_settings()
    worker.configure(DeliverySettings(broker_url=redis_broker))
    yield redis_broker
    worker.configure(previous)


def test_a_worker_killed_mid_send_mails_each_notification_under_one_message_id(
        broker_in_test_process, committed_db, tmp_path):
    stalled_address = ADDRESSES["reviewer_A"]
    mailbox = StallingMailbox(stalled_address)
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    workers = []
    try:
        workers.append(start_worker(broker_in_test_process, smtp.port, tmp_path / "first.log"))
        _case_id, deadline = seed_overdue_case(committed_db, ADDRESSES)
        worker.scan_deadlines.delay((deadline.due_dt + timedelta(hours=1)).isoformat())
        assert mailbox.stalled.wait(WAIT_SECONDS), workers[0].log()

        workers[0].process.kill()  # SIGKILL, the server holding the mail's DATA
        workers[0].process.wait(timeout=10)
        mailbox.released.set()
        # Ten minutes pass: the broker still holds the killed task (unacknowledged, redelivered
        # after an hour); the scan finds the mail lost or abandoned and queues it again.
        with committed_db() as session:
            session.execute(text("UPDATE notifications SET created_dt = created_dt - interval '10 minutes', "
                                 "emailed_dt = emailed_dt - interval '10 minutes'"))
            session.commit()

        workers.append(start_worker(broker_in_test_process, smtp.port, tmp_path / "second.log"))
        worker.scan_deadlines.delay()
        wait_for(lambda: all(n.email_status == "sent" for username in ADDRESSES
                             for n in notifications_of(committed_db, username)), "every mail sent", workers[1])
        workers[1].wait_until_idle()

        for address in ADDRESSES.values():
            message_ids = {message_id(message) for message in mailbox.to(address)}
            assert len(message_ids) == 1, (address, message_ids)
        # The one the server held when its sender died went again, under the same Message-ID.
        assert len(mailbox.to(stalled_address)) == 2
        assert mailbox.count() == len(ADDRESSES) + 1
        for username, address in ADDRESSES.items():
            [notification] = notifications_of(committed_db, username)
            assert {message_id(message) for message in mailbox.to(address)} == {notification.email_message_id}
    finally:
        mailbox.released.set()
        for handle in workers:
            stop_worker(handle)
        smtp.stop()
        for handle in workers:
            print(f"--- worker log ({handle.log_path}) ---\n{handle.log()}")



def test_in_process_mail_goes_once_under_its_stored_message_id_and_the_scan_resends_abandoned_mail(
        committed_db, database):
    """The embedded profile (no broker: tasks run eagerly after the commit, the scan is the retry)."""
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    previous = worker.delivery_settings()
    worker.configure(DeliverySettings(smtp_host="127.0.0.1", smtp_port=smtp.port))
    worker.use_database(database)
    try:
        assert worker.celery_app.conf.task_always_eager
        with committed_db() as session:
            notification_id = pending_mail(session).id
            session.commit()  # the mail task runs here, in-process
        [message] = mailbox.to(ADDRESSES["reviewer_A"])
        with committed_db() as session:
            notification = session.get(Notification, notification_id)
            assert (notification.email_status, notification.email_message_id) == ("sent", message_id(message))

        # The process died mid-send an hour ago: the next scan sends it again, same Message-ID.
        with committed_db() as session:
            session.execute(text("UPDATE notifications SET email_status = 'sending', "
                                 "emailed_dt = now() - interval '1 hour'"))
            session.commit()
        worker.scan_deadlines.delay()
        assert [message_id(m) for m in mailbox.to(ADDRESSES["reviewer_A"])] == [message_id(message)] * 2
        worker.scan_deadlines.delay()  # sent now: nothing more
        assert mailbox.count() == 2
    finally:
        worker.configure(previous)
        smtp.stop()
