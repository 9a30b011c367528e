"""Mail for notifications: composed in Chinese with a link to the case, sent over SMTP.

``send_notification_mail`` holds the notification's row lock while it sends, so two
workers handed the same id (a retry, a re-queue after downtime) mail it once.
"""
from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.config import DeliverySettings
from engine.db import utcnow
from engine.notifications import Notification
from engine.org import User


def compose(notification: Notification, user: User, settings: DeliverySettings) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = notification.subject
    message["From"] = formataddr(("工会业务审批系统", settings.mail_from))
    message["To"] = formataddr((user.display_name, user.email))
    message["Message-ID"] = make_msgid(idstring=f"notification-{notification.id}")
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


def send_notification_mail(session: Session, notification_id: int, settings: DeliverySettings) -> str:
    """Mail one pending notification; returns what became of it. The caller commits.

    "sent"; "none" when there is nothing to send (no SMTP server configured, the person
    turned mail off or has no address); "done" when another worker already handled it.
    A failure to send raises, for the caller to count (``failed_attempt``) and retry later.
    """
    notification = session.scalar(select(Notification).where(Notification.id == notification_id).with_for_update())
    if notification is None or notification.email_status != "pending":
        return "done"
    user = session.get(User, notification.user_id)
    if settings.smtp_host is None or not user.email or not user.email_notifications or not user.is_active:
        notification.email_status = "none"
        return "none"
    deliver(compose(notification, user, settings), settings)
    notification.email_attempts += 1
    notification.email_status, notification.emailed_dt = "sent", utcnow()
    return "sent"


def failed_attempt(session: Session, notification_id: int, *, final_after: int) -> int:
    """Count a failed try; after ``final_after`` tries the notification stays in the web pages
    only (marked failed). Returns the tries so far."""
    notification = session.get(Notification, notification_id)
    if notification is None or notification.email_status != "pending":
        return 0
    notification.email_attempts += 1
    if notification.email_attempts >= final_after:
        notification.email_status = "failed"
    return notification.email_attempts
