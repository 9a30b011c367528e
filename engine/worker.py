"""The one Celery app: the deadline scan every minute, and notification mail.

Production: UNIONFLOW_BROKER_URL names Redis; run ``celery -A engine.worker worker`` (as many
as wanted) and one ``celery -A engine.worker beat``. The beat's scan passes ids of the cases'
tasks due for a look to ``process_deadlines``; those lock them (FOR UPDATE SKIP LOCKED), act
once per task and mail after their commit by notification id, retried with backoff.

After each commit, the people its audit events concern are told by ``tell_people``
(engine.operations.telling); the scan also catches up on any telling that was lost.

Embedded (no broker, the demo): the same tasks run in-process (``task_always_eager``), and
``unionflow run`` calls the scan every minute from a thread.

Tasks find the database through ``use_database`` (the web app and the CLI call it with
theirs); a worker process opens the one in UNIONFLOW_DATABASE_URL.
"""
from __future__ import annotations

import logging
import smtplib
import threading
import time
from datetime import datetime, timedelta
from typing import Callable, TypeVar

from celery import Celery
from celery.signals import task_failure, worker_process_init
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.base import effects
from engine.base.config import DeliverySettings, Settings
from engine.base.db import make_engine, make_session_factory, read_only, utcnow
from engine.notify.mail import MAIL_TRIES, failed_attempt, send_notification_mail
from engine.notify.notifications import pending_email_ids
from engine.operations.deadline_scan import due_task_ids, process_deadlines
from engine.operations.telling import CATCH_UP_BATCH, PUBLISHED_AS, catch_up_telling, tell_about_events
from engine.runtime import bootstrap, load_models

log = logging.getLogger(__name__)
T = TypeVar("T")

SCAN_EVERY_SECONDS = 60
IDS_PER_TASK = 200
# Mail never tried this long after its notification was stored was lost on the way to the
# broker (down at the time): the scan queues it again.
REQUEUE_MAIL_AFTER = timedelta(minutes=5)
MAIL_RETRIES = MAIL_TRIES - 1

celery_app = Celery("unionflow")
_state: dict = {"factory": None, "delivery": None, "mail_subscribed": False}
_state_lock = threading.Lock()


def configure(delivery: DeliverySettings) -> Celery:
    _state["delivery"] = delivery
    _forget_broker_connections()
    if delivery.broker_url:
        celery_app.conf.update(
            broker_url=delivery.broker_url, task_always_eager=False, task_ignore_result=True,
            task_acks_late=True, worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True,
            beat_schedule={"scan-deadlines": {"task": "unionflow.scan_deadlines", "schedule": SCAN_EVERY_SECONDS}},
        )
    else:
        celery_app.conf.update(broker_url="memory://localhost/", task_always_eager=True, task_ignore_result=True,
                               task_eager_propagates=False)
    return celery_app


def _forget_broker_connections() -> None:
    """Once a task was sent, Celery keeps its connection and producer pools for the broker of that
    moment: without this, a second ``configure`` would still send to the first broker."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def use_database(engine: Engine) -> None:
    """Tasks run against ``engine``; mail for new notifications is queued after each commit."""
    with _state_lock:
        _state["factory"] = make_session_factory(engine)
        if not _state["mail_subscribed"]:
            effects.subscribe("notification_emails", _queue_mail)
            _state["mail_subscribed"] = True


def session_factory() -> sessionmaker:
    if _state["factory"] is None:
        settings = Settings.from_env()
        bootstrap(settings)
        load_models()
        use_database(make_engine(settings.database_url))
    return _state["factory"]


def delivery_settings() -> DeliverySettings:
    return _state["delivery"]


@worker_process_init.connect
def _open_database(**_kwargs) -> None:
    session_factory()


def _queue_mail(notification_ids: list[int]) -> None:
    for notification_id in notification_ids:
        send_notification_email.delay(notification_id)


def _tell_after_commit(bind: Engine | Connection, payloads: list[dict]) -> None:
    """The people concerned by a unit of work's events are told by a worker; in-process, at once,
    on the database the events were written to (the caller's connection in a test's transaction)."""
    event_ids = [payload["event_id"] for payload in payloads]
    for start in range(0, len(event_ids), IDS_PER_TASK):
        chunk = event_ids[start:start + IDS_PER_TASK]
        if celery_app.conf.task_always_eager:
            with Session(bind=bind, join_transaction_mode="create_savepoint", expire_on_commit=False) as session:
                tell_about_events(session, chunk, utcnow())
                session.commit()
        else:
            tell_people.delay(chunk)


effects.subscribe(PUBLISHED_AS, _tell_after_commit, gathered=True)


# --- Tasks ----------------------------------------------------------------------------------------

@celery_app.task(name="unionflow.scan_deadlines")
def scan_deadlines(now: str | None = None) -> dict:
    """Hand every task due for a look to ``process_deadlines`` by id, and lost mail to the mailer."""
    moment = datetime.fromisoformat(now) if now else utcnow()
    queued, after_id = 0, 0
    # Each read ends before its tasks are queued: in-process they run at once, in this thread,
    # and on SQLite a transaction still open here would hold the lock they wait for.
    while ids := _read(lambda session: due_task_ids(session, moment, limit=IDS_PER_TASK, after_id=after_id)):
        process_deadlines_task.delay(ids, moment.isoformat())
        queued, after_id = queued + len(ids), ids[-1]
    # In-process there is no broker to hold a retry: the scan is the retry, once a minute.
    lost_mail = _read(lambda session: pending_email_ids(session, stored_before=moment - REQUEUE_MAIL_AFTER,
                                                         tried_too=celery_app.conf.task_always_eager))
    _queue_mail(lost_mail)
    events = _catch_up_telling(moment)
    return {"deadlines": queued, "mail": len(lost_mail), "events": events}


def _catch_up_telling(moment: datetime) -> int:
    """Events whose telling was lost (a kick that never reached a worker), told now."""
    total = 0
    while True:
        with session_factory()() as session:
            passed = catch_up_telling(session, moment)
            session.commit()
        total += passed
        if passed < CATCH_UP_BATCH:
            return total


def _read(query: Callable[[Session], T]) -> T:
    """``query``'s answer, read in a transaction of its own that takes no write lock."""
    with session_factory()() as session:
        read_only(session)
        return query(session)


@celery_app.task(name="unionflow.process_deadlines")
def process_deadlines_task(task_ids: list[int], now: str) -> dict:
    with session_factory()() as session:
        report = process_deadlines(session, task_ids, datetime.fromisoformat(now))
        session.commit()
    return {"reminders": report.reminders, "escalations": report.escalations,
            "transitions": len(report.transitions), "skipped": report.skipped}


@celery_app.task(name="unionflow.tell_people")
def tell_people(event_ids: list[int]) -> int:
    """Notifications for the people the events concern (each once, however often this runs)."""
    with session_factory()() as session:
        told = tell_about_events(session, event_ids, utcnow())
        session.commit()
    return told


@celery_app.task(name="unionflow.send_notification_email", bind=True, max_retries=MAIL_RETRIES)
def send_notification_email(self, notification_id: int) -> str:
    factory = session_factory()
    try:
        # Marked sending (committed) before the SMTP call, sent after: a redelivery of this task
        # after the worker died mid-send finds the Message-ID the first try used (engine.notify.mail).
        return send_notification_mail(factory, notification_id, delivery_settings())
    except (OSError, smtplib.SMTPException) as err:
        with factory() as session:
            attempts = failed_attempt(session, notification_id, final_after=MAIL_TRIES)
            session.commit()
        if attempts > MAIL_RETRIES:
            log.error("mail for notification %s given up: %s", notification_id, err)
            return "failed"
        if celery_app.conf.task_always_eager:  # in-process: never block the caller; the next scan retries
            return "retry"
        # 30 s, 1 min, 2 min ... up to an hour between tries.
        countdown = min(3600, delivery_settings().mail_retry_seconds * 2 ** self.request.retries)
        raise self.retry(exc=err, countdown=countdown) from None


def start_embedded_beat() -> threading.Thread:
    """The embedded profile's beat: the scan task every minute, in-process, from a daemon thread."""
    def beat() -> None:
        while True:
            try:
                scan_deadlines.delay()
            except Exception:  # a failed scan must not stop the next one
                log.exception("deadline scan failed")
            time.sleep(SCAN_EVERY_SECONDS)

    thread = threading.Thread(target=beat, name="unionflow-beat", daemon=True)
    thread.start()
    return thread


@task_failure.connect
def _log_failed_in_process_task(sender=None, task_id=None, exception=None, einfo=None, **_kwargs) -> None:
    """In-process, Celery keeps a task's failure in its result, which nobody reads: say it in the
    log. A worker process logs its failures itself."""
    if celery_app.conf.task_always_eager:
        log.error("task %s failed: %r", getattr(sender, "name", sender), exception,
                  exc_info=(type(exception), exception, einfo.tb) if einfo else None)


configure(DeliverySettings.from_env())
