"""One's notifications: the list (newest first, unread marked), opening one, marking all read,
and the email preferences; and the unread count the header shows on every page.

Notifications belong to the person, not to the grant they act in: every signed-in person
has them, whichever role the header's switcher shows. Opening one marks it read
(``open_notification``) and leads to its case.
"""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import SQLAlchemyError

from engine.base.errors import ValidationFailed
from engine.base.inputs import UNSTORABLE_MESSAGE, parse_row_id
from engine.definitions.forms import has_unstorable_characters
from engine.notify.notifications import (
    KINDS, mark_all_read, notifications_for, open_notification, preferences_of, set_preferences, unread_count,
)
from web.auth import login_required, session_actor
from web.database import committing, request_session

bp = Blueprint("notifications", __name__)

PAGE_SIZE = 30
# What the list calls each kind of notification (engine.notify.notifications.KINDS).
KIND_LABELS = {"reminder": _l("待办提醒"), "overdue": _l("已逾期"), "escalation": _l("逾期督办"), "urge": _l("催办"),
               "automatic": _l("系统自动处理"), "taken_over": _l("已被接手"),
               "transferred": _l("转交给我"), "new_task": _l("新待办"), "returned": _l("退回修改"),
               "sent_back": _l("退回重审"), "decided": _l("办理结果"), "objection": _l("收到异议"),
               "delegated": _l("委托代理"), "opinion_asked": _l("征求意见"), "opinion_given": _l("意见已答复"),
               "copied": _l("抄送我的")}
if KIND_LABELS.keys() != set(KINDS):
    raise RuntimeError("a notification kind of engine.notify.notifications has no label on the list")


@bp.app_context_processor
def unread_notifications() -> dict:
    """The header's count, once per request; None for visitors (no link then)."""
    if "unread_notifications" not in g:
        g.unread_notifications = _unread_of_signed_in()
    return {"unread_notifications": g.unread_notifications}


def _unread_of_signed_in() -> int | None:
    actor = session_actor() if request.endpoint != "static" else None
    if actor is None:
        return None
    try:
        return unread_count(request_session(), actor)
    except SQLAlchemyError:
        # The page being drawn is the error page of a failed transaction: it must still render.
        return None


# --- The list ---------------------------------------------------------------------------------------

@bp.route("/notifications")
@login_required
def notifications():
    unread_only = request.args.get("unread") == "1"
    before_id = _row_id(request.args.get("before"))
    rows = notifications_for(request_session(), session_actor(), unread_only=unread_only, before_id=before_id,
                             limit=PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    filters = {"unread": "1"} if unread_only else {}
    return render_template(
        "notifications/list.html", rows=rows, unread_only=unread_only, kind_labels=KIND_LABELS,
        next_url=url_for(".notifications", **filters, before=rows[-1].id) if more else None,
        first_url=url_for(".notifications", **filters) if before_id is not None else None,
    )


def _row_id(value: str | None) -> int | None:
    """A page link's ``before``; anything else starts from the newest."""
    return parse_row_id(value)


@bp.route("/notifications/<int:notification_id>")
@login_required
def open_one(notification_id: int):
    """Opening marks it read; one about a case leads to the case."""
    with committing() as session:
        notification = open_notification(session, session_actor(), notification_id)
    if notification.case_id is not None:
        return redirect(url_for("cases.case", case_id=notification.case_id))
    return render_template("notifications/notification.html", notification=notification, kind_labels=KIND_LABELS)


@bp.route("/notifications/read-all", methods=["POST"])
@login_required
def read_all():
    with committing() as session:
        marked = mark_all_read(session, session_actor())
    flash(_("已将 %(count)s 条通知标为已读", count=marked), "success")
    return redirect(url_for(".notifications"))


# --- Preferences ------------------------------------------------------------------------------------

@bp.route("/notifications/settings")
@login_required
def settings():
    preferences = preferences_of(request_session(), session_actor())
    # Mail goes only to an address: without one the box shows what the person gets (none), so
    # saving the page unchanged is not refused for "on without an address".
    values = {"email": preferences.email or "",
              "email_notifications": preferences.email_notifications and preferences.email is not None}
    return _settings_page(values)


@bp.route("/notifications/settings", methods=["POST"])
@login_required
def save_settings():
    values = {"email": request.form.get("email", "").strip(),
              "email_notifications": bool(request.form.get("email_notifications"))}
    try:
        if has_unstorable_characters(values["email"]):
            raise ValidationFailed({"email": [UNSTORABLE_MESSAGE]})
        with committing() as session:
            set_preferences(session, session_actor(), email=values["email"],
                            email_notifications=values["email_notifications"])
    except ValidationFailed as err:
        return _settings_page(values, err.fields, 422)
    flash(_("通知设置已保存"), "success")
    return redirect(url_for(".settings"))


def _settings_page(values: dict, errors: dict[str, list[str]] | None = None, status: int = 200):
    return render_template("notifications/settings.html", values=values, errors=errors or {}), status
