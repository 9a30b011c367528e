"""Mail for notifications: composed in Chinese with a link to the case, sent over SMTP.

A mail is sent in three steps, each its own transaction: the notification is marked
``sending`` with the Message-ID it will carry (committed before the SMTP call), the mail
is handed to the server, and the notification is marked ``sent``. A worker killed between
the first and the last step leaves ``sending`` behind; see ``claim_mail`` for what the
task that finds it next (a redelivery, the scan's re-queue) does.
"""
from __future__ import annotations

import smtplib
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.base.config import DeliverySettings
from engine.base.db import utcnow
from engine.notify.notifications import Notification
from engine.org.units import User

# A mail marked ``sending`` longer than this was abandoned by a worker that died: its SMTP
# calls time out after 30 s each, so a live one is done long before. The scan re-queues such
# mail after the same time (engine.notify.notifications.pending_email_ids).
SENDING_LEASE = timedelta(minutes=5)
# Tries of one mail before it is given up and stays in the web pages only.
MAIL_TRIES = 9


def compose(notification: Notification, user: User, settings: DeliverySettings) -> EmailMessage:
    """The mail of a notification, under the Message-ID stored on it (``claim_mail``)."""
    message = EmailMessage()
    message["Subject"] = notification.subject
    message["From"] = formataddr(("工会业务审批系统", settings.mail_from))
    message["To"] = formataddr((user.display_name, user.email))
    message["Message-ID"] = notification.email_message_id
    lines = [f"{user.display_name}，您好：", "", notification.body, ""]
    if notification.case_id is not None:
        lines += [f"查看案件：{settings.base_url}/cases/{notification.case_id}", ""]
    lines += ["——", "本邮件由 unionflow 工会业务审批系统自动发送，请勿直接回复。",
              f"不想再收到邮件通知，可在「通知设置」中关闭：{settings.base_url}/notifications/settings"]
    message.set_content("\n".join(lines), charset="utf-8")
    return message


def deliver(message: EmailMessage, settings: DeliverySettings) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        smtp.send_message(message)


def send_notification_mail(factory: sessionmaker, notification_id: int, settings: DeliverySettings) -> str:
    """Mail one notification; returns what became of it.

    "sent"; "none" when there is nothing to send (no SMTP server configured, the person
    turned mail off or has no address); "done" when it was already handled; "busy" when
    another worker began sending it moments ago. A failure to send raises, for the caller
    to count (``failed_attempt``) and retry later.

    Three transactions, not one: a row lock held through the SMTP call is released by a
    worker's death without a trace, and the next task sent the mail again under a new
    Message-ID, though the server may well have had it already.
    """
    with factory() as session:
        outcome, message = claim_mail(session, notification_id, settings)
        session.commit()
    if message is None:
        return outcome
    deliver(message, settings)
    with factory() as session:
        mark_sent(session, notification_id, message["Message-ID"])
        session.commit()
    return "sent"


def claim_mail(session: Session, notification_id: int, settings: DeliverySettings, *,
               now: datetime | None = None) -> tuple[str, EmailMessage | None]:
    """Mark the notification ``sending`` under its Message-ID (made on the first try, kept
    after) and return the mail to send, ("send", message); or what became of it and None.
    The caller commits before sending: from then on the Message-ID is the mail's identity.

    Found ``sending`` already, the mail may or may not have reached the server before its
    worker died (SMTP cannot tell: RFC 1047). Left so for longer than ``SENDING_LEASE``, it is
    sent again under the same Message-ID: a reminder or an escalation lost is worse than one
    shown twice, and the same Message-ID lets the receiving server and mail client drop the
    second copy (most do). Younger than that, another worker is most likely still sending it:
    "busy", nothing sent (should that worker have died, the scan queues the mail again once
    the lease is over).
    """
    now = now or utcnow()
    notification = session.scalar(select(Notification).where(Notification.id == notification_id).with_for_update())
    if notification is None or notification.email_status not in ("pending", "sending"):
        return "done", None
    if notification.email_status == "sending":
        if notification.emailed_dt is not None and notification.emailed_dt > now - SENDING_LEASE:
            return "busy", None
        # The try its dead worker made counts: a mail that kills every worker sending it is given
        # up after as many tries as one the server keeps refusing.
        notification.email_attempts += 1
        if notification.email_attempts >= MAIL_TRIES:
            notification.email_status = "failed"
            return "failed", None
    user = session.get(User, notification.user_id)
    if settings.smtp_host is None or not user.email or not user.email_notifications or not user.is_active:
        notification.email_status = "none"
        return "none", None
    if notification.email_message_id is None:
        domain = settings.mail_from.rpartition("@")[2] or None
        notification.email_message_id = make_msgid(idstring=f"notification-{notification.id}", domain=domain)
    # While sending, emailed_dt says since when (the lease); once sent, when it was.
    notification.email_status, notification.emailed_dt = "sending", now
    return "send", compose(notification, user, settings)


def mark_sent(session: Session, notification_id: int, message_id: str, *, now: datetime | None = None) -> None:
    """The server took the mail under ``message_id``. The caller commits."""
    notification = session.scalar(select(Notification).where(Notification.id == notification_id).with_for_update())
    if notification is None or notification.email_message_id != message_id or notification.email_status == "sent":
        return
    notification.email_attempts += 1
    notification.email_status, notification.emailed_dt = "sent", now or utcnow()


def failed_attempt(session: Session, notification_id: int, *, final_after: int) -> int:
    """Count a failed try; after ``final_after`` tries the notification stays in the web pages
    only (marked failed), else it is pending again (its retry keeps the Message-ID: a failure
    after the mail's data was sent may still have delivered it). Returns the tries so far."""
    notification = session.scalar(select(Notification).where(Notification.id == notification_id).with_for_update())
    if notification is None or notification.email_status not in ("pending", "sending"):
        return 0
    notification.email_attempts += 1
    notification.email_status = "failed" if notification.email_attempts >= final_after else "pending"
    return notification.email_attempts
