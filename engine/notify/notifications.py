"""Notifications: what the engine tells people (reminders, escalations, urges, automatic steps).

Each notification is a row for one person, read in the web header's list; it is also mailed
when the person wants email and has an address. A notification carries a **key** naming the
occasion ("deadline:17:reminder:2"): one person gets one notification per key, however often
a scan or a worker retries, because the insert skips an existing (user, key).
Mail goes out after the commit, by id, through engine.worker (see ``pending_email_ids``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, and_, func, or_, select, true, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.base import effects
from engine.base.db import Base, UTCDateTime, insert_for, utcnow
from engine.base.errors import NotFound, PermissionDenied, ValidationFailed
from engine.base.inputs import text_problem
from engine.org.units import Actor, RoleAssignment, User

KINDS = ("reminder", "overdue", "escalation", "urge", "automatic", "taken_over", "transferred", "new_task", "returned",
         "sent_back", "decided", "objection", "delegated",
         "opinion_asked", "opinion_given", "copied")
MAX_EMAIL_LENGTH = 254


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index("ix_notifications_user_unread", "user_id", "read_dt"),
        Index("ix_notifications_email_status", "email_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(120))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    read_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # none: no mail wanted; pending: to be mailed; sending: handed to the SMTP server, not yet
    # confirmed (engine.notify.mail); sent; failed: given up after the retries.
    email_status: Mapped[str] = mapped_column(String(10), default="none")
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Sending: since when (a worker's lease on the mail); sent: when.
    emailed_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The Message-ID of the mail, stored (committed) before it is handed to the SMTP server: a
    # task that sends it again after a worker died mid-send uses the same one.
    email_message_id: Mapped[str | None] = mapped_column(String(255))


@dataclass(frozen=True)
class Message:
    """One notification to be sent to several people."""

    kind: str
    key: str
    subject: str
    body: str
    case_id: int | None = None


# --- Who is told ----------------------------------------------------------------------------------

def holders_of(session: Session, role: str, unit_id: int) -> list[int]:
    """Active people holding ``role`` at the unit."""
    return list(session.scalars(
        select(RoleAssignment.user_id).join(User, User.id == RoleAssignment.user_id)
        .where(RoleAssignment.role == role, RoleAssignment.org_unit_id == unit_id, User.is_active == true())
        .order_by(RoleAssignment.user_id)
    ))


# --- Sending --------------------------------------------------------------------------------------

def notify(session: Session, deliveries: list[tuple[int, Message]], now: datetime) -> list[int]:
    """Store each (person, message) once per key, in one statement; returns the new rows' ids.

    Rows to be mailed are announced after the commit (``notification_emails``), by id.
    """
    if not deliveries:
        return []
    user_ids = sorted({user_id for user_id, _ in deliveries})
    mailable = set(session.scalars(select(User.id).where(
        User.id.in_(user_ids), User.email_notifications == true(), User.email.is_not(None), User.email != "")))
    rows = [{
        "user_id": user_id, "case_id": message.case_id, "kind": message.kind, "key": message.key,
        "subject": message.subject, "body": message.body, "created_dt": now,
        "email_status": "pending" if user_id in mailable else "none", "email_attempts": 0,
    } for user_id, message in deliveries]
    # The rows go as parameters of one cached statement (batched by the driver), not as a
    # VALUES list compiled afresh for every batch.
    statement = (insert_for(session, Notification).on_conflict_do_nothing(index_elements=["user_id", "key"])
                 .returning(Notification.id, Notification.email_status))
    inserted = session.execute(statement, rows).all()
    to_mail = [row_id for row_id, status in inserted if status == "pending"]
    if to_mail:
        effects.publish(session, "notification_emails", notification_ids=to_mail)
    return [row_id for row_id, _ in inserted]


def pending_email_ids(session: Session, *, stored_before: datetime, tried_too: bool = False,
                      limit: int = 500) -> list[int]:
    """Mail never tried for notifications stored before ``stored_before``: queued while the broker
    was down, so lost. The scan hands them to the worker again. Mail that failed is retried by
    its own task, with backoff, where a broker holds the retry; ``tried_too`` includes it.

    Also mail marked sending since before ``stored_before``: its worker died mid-send (a live
    one is done in a minute); the task sends it again under the Message-ID it was marked with
    (engine.notify.mail.claim_mail), so a receiving server can drop the copy should the first have arrived."""
    never_tried = [] if tried_too else [Notification.email_attempts == 0]
    lost = and_(Notification.email_status == "pending", Notification.created_dt < stored_before, *never_tried)
    abandoned = and_(Notification.email_status == "sending", Notification.emailed_dt < stored_before)
    return list(session.scalars(
        select(Notification.id).where(or_(lost, abandoned)).order_by(Notification.id).limit(limit)
    ))


# --- Reading --------------------------------------------------------------------------------------

def _own(actor: Actor):
    if actor.user_id is None:
        raise PermissionDenied("只有登录用户有通知")
    return Notification.user_id == actor.user_id


def unread_count(session: Session, actor: Actor) -> int:
    return session.scalar(select(func.count(Notification.id)).where(_own(actor), Notification.read_dt.is_(None)))


def notifications_for(session: Session, actor: Actor, *, unread_only: bool = False, before_id: int | None = None,
                      limit: int = 50) -> list[Notification]:
    """The actor's notifications, newest first."""
    query = select(Notification).where(_own(actor))
    if unread_only:
        query = query.where(Notification.read_dt.is_(None))
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def open_notification(session: Session, actor: Actor, notification_id: int, now: datetime | None = None) -> Notification:
    """The actor's notification, marked read (it was opened)."""
    notification = session.scalar(select(Notification).where(_own(actor), Notification.id == notification_id))
    if notification is None:
        raise NotFound("通知不存在")
    if notification.read_dt is None:
        notification.read_dt = now or utcnow()
        session.flush()
    return notification


def mark_all_read(session: Session, actor: Actor, now: datetime | None = None) -> int:
    result = session.execute(update(Notification).where(_own(actor), Notification.read_dt.is_(None))
                             .values(read_dt=now or utcnow()))
    return result.rowcount


# --- Preferences ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Preferences:
    email: str | None
    email_notifications: bool


def preferences_of(session: Session, actor: Actor) -> Preferences:
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None:
        raise PermissionDenied("只有登录用户可以设置通知")
    return Preferences(user.email, user.email_notifications)


def set_preferences(session: Session, actor: Actor, *, email: str | None, email_notifications: bool) -> Preferences:
    """The actor's own email address and whether notifications are mailed to it."""
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None:
        raise PermissionDenied("只有登录用户可以设置通知")
    email = (email or "").strip() or None
    if email is not None and (len(email) > MAX_EMAIL_LENGTH or "@" not in email.strip("@") or " " in email
                              or text_problem(email)):
        raise ValidationFailed({"email": ["请填写有效的电子邮箱地址，例如 name@example.org"]})
    if email_notifications and email is None:
        raise ValidationFailed({"email": ["开启邮件通知需要填写电子邮箱地址"]})
    user.email, user.email_notifications = email, email_notifications
    session.flush()
    return Preferences(user.email, user.email_notifications)

