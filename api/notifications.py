"""One's notifications (newest first, paged by id), the unread count, marking read, and the
email preferences. Notifications belong to the caller as a person, whatever their roles."""
from __future__ import annotations

from flask import current_app, url_for
from marshmallow import fields, validate

from api.blueprint import Blueprint
from api.fields import LocalDateTime
from api.pagination import PageQuerySchema, page_schema
from api.schemas import ApiSchema, ErrorSchema
from engine.definitions.forms import PlainText
from engine.notify.notifications import (
    KINDS, MAX_EMAIL_LENGTH, Notification, mark_all_read, notifications_for, open_notification, preferences_of,
    set_preferences, unread_count,
)
from web.auth import current_actor
from web.database import request_session, unit_of_work
from web.paging import id_cursor, page

blp = Blueprint("notifications", __name__, url_prefix="/api/v1", description="站内通知与通知设置")


class NotificationQuerySchema(PageQuerySchema):
    unread = fields.Boolean(load_default=False, metadata={"description": "true：只列未读的"})


LINKS_DOC = {"type": "object", "properties": {
    "case": {"type": ["string", "null"], "description": "相关案件（API）；无案件时为 null"},
    "web": {"type": ["string", "null"], "description": "在网页中打开（标为已读并转到案件）"},
}}


class NotificationSchema(ApiSchema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "、".join(KINDS)})
    subject = fields.String()
    body = fields.String()
    case_id = fields.Integer(allow_none=True)
    created_at = LocalDateTime(attribute="created_dt")
    read_at = LocalDateTime(attribute="read_dt", allow_none=True, metadata={"description": "未读时为 null"})
    links = fields.Function(lambda notification: _links(notification), metadata=LINKS_DOC)


NotificationPageSchema = page_schema(NotificationSchema, "NotificationPage")


class UnreadCountSchema(ApiSchema):
    unread = fields.Integer()


class MarkedSchema(ApiSchema):
    marked = fields.Integer(metadata={"description": "这次标为已读的条数"})


class PreferencesSchema(ApiSchema):
    email = PlainText(required=True, allow_none=True, validate=validate.Length(
        max=MAX_EMAIL_LENGTH, error=f"电子邮箱不能超过 {MAX_EMAIL_LENGTH} 个字符"),
        metadata={"description": "接收通知邮件的地址；空字符串或 null 表示不填"})
    email_notifications = fields.Boolean(required=True, metadata={"description": "是否把通知也发到邮箱（须填写邮箱）"})


def _links(notification: Notification) -> dict:
    web = "notifications.open_one"
    return {
        "case": url_for("api_cases.get_one_case", case_id=notification.case_id) if notification.case_id else None,
        "web": url_for(web, notification_id=notification.id) if web in current_app.view_functions else None,
    }


@blp.route("/notifications")
@blp.arguments(NotificationQuerySchema, location="query")
@blp.response(200, NotificationPageSchema)
def list_notifications(query):
    """我的通知：最新的在前，游标分页；可只列未读的。"""
    rows = notifications_for(request_session(), current_actor(), unread_only=query["unread"],
                             before_id=id_cursor(query["cursor"]), limit=query["limit"] + 1)
    return page(rows, query["limit"], lambda notification: [notification.id])


@blp.route("/notifications/unread-count")
@blp.response(200, UnreadCountSchema)
def count_unread():
    """我的未读通知数。"""
    return {"unread": unread_count(request_session(), current_actor())}


@blp.route("/notifications/<int:notification_id>/read", methods=["POST"])
@blp.response(200, NotificationSchema)
@blp.alt_response(404, schema=ErrorSchema, description="通知不存在或不是您的")
@unit_of_work
def read_notification(notification_id):
    """把我的一条通知标为已读（已读的不变）。"""
    return open_notification(request_session(), current_actor(), notification_id)


@blp.route("/notifications/read-all", methods=["POST"])
@blp.response(200, MarkedSchema)
@unit_of_work
def read_all_notifications():
    """把我的全部未读通知标为已读。"""
    return {"marked": mark_all_read(request_session(), current_actor())}


@blp.route("/account/notification-settings")
@blp.response(200, PreferencesSchema)
def get_preferences():
    """我的通知设置：邮箱与是否发送邮件通知。"""
    return preferences_of(request_session(), current_actor())


@blp.route("/account/notification-settings", methods=["PUT"])
@blp.arguments(PreferencesSchema)
@blp.response(200, PreferencesSchema)
@blp.alt_response(422, schema=ErrorSchema, description="邮箱无效，或开启邮件通知而未填邮箱")
@unit_of_work
def put_preferences(data):
    """修改我的通知设置。"""
    return set_preferences(request_session(), current_actor(), email=data["email"],
                           email_notifications=data["email_notifications"])
