"""「抄送我的」: the cases copied to the caller (抄送), latest first, read or unread."""
from __future__ import annotations

from marshmallow import fields

from api.blueprint import Blueprint
from api.fields import LocalDateTime
from api.pagination import PageQuerySchema, page_schema
from api.schemas import ApiSchema, ErrorSchema
from engine.base.db import utcnow
from engine.cases.copies import copies_page, copy_entry, mark_copy_read
from web.auth import current_actor
from web.database import request_session, unit_of_work
from web.paging import copies_key_of, done_cursor_key, page

blp = Blueprint("copies", __name__, url_prefix="/api/v1", description="抄送我的")


class CopiesQuerySchema(PageQuerySchema):
    unread = fields.Boolean(load_default=False, metadata={"description": "只看未读的"})


class CopyEntrySchema(ApiSchema):
    id = fields.Integer(metadata={"description": "抄送编号（标为已读时用）"})
    case_id = fields.Integer()
    title = fields.String()
    kind_label = fields.String()
    state_label = fields.String(metadata={"description": "案件现在所在的环节"})
    copied_by = fields.String(attribute="copied_by_name", allow_none=True, metadata={
        "description": "抄送人；null 表示按流程定义自动抄送（见 reason）"})
    reason = fields.String(allow_none=True, metadata={"description": "自动抄送时，触发抄送的办理步骤"})
    note = fields.String(allow_none=True, metadata={"description": "抄送说明"})
    copied_at = LocalDateTime(attribute="copied_dt")
    read = fields.Boolean()


CopyPageSchema = page_schema(CopyEntrySchema, "CopyPage")


@blp.route("/copies", methods=["GET"])
@blp.arguments(CopiesQuerySchema, location="query")
@blp.response(200, CopyPageSchema)
def list_copies(query):
    """抄送我的：抄送给我的案件，最近的在前（再次抄送的回到最前并标为未读），游标分页。"""
    entries = copies_page(request_session(), current_actor(), unread_only=query["unread"],
                          after=done_cursor_key(query["cursor"]), limit=query["limit"] + 1)
    return page(entries, query["limit"], copies_key_of)


@blp.route("/copies/<int:copy_id>/read", methods=["POST"])
@blp.response(200, CopyEntrySchema)
@blp.alt_response(404, schema=ErrorSchema, description="抄送不存在（或不是抄送给您的）")
@unit_of_work
def read_copy(copy_id):
    """把一条抄送标为已读（在页面上打开案件也会标为已读）。"""
    session, actor = request_session(), current_actor()
    mark_copy_read(session, actor, copy_id, utcnow())
    return copy_entry(session, actor, copy_id)
