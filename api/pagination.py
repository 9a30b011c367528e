"""Keyset pagination in the API: ``?limit=&cursor=`` in, ``{"items": [...], "next_cursor": ...}`` out
(the cursors themselves: web.paging)."""
from __future__ import annotations

from marshmallow import fields, validate

from api.schemas import ApiSchema

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class PageQuerySchema(ApiSchema):
    limit = fields.Integer(load_default=DEFAULT_PAGE_SIZE, validate=validate.Range(
        min=1, max=MAX_PAGE_SIZE, error=f"每页条数应在 1 到 {MAX_PAGE_SIZE} 之间"))
    cursor = fields.String(load_default=None, metadata={"description": "上一页响应中的 next_cursor；首页不填或留空"})


def page_schema(item_schema: type[ApiSchema], name: str) -> type[ApiSchema]:
    """The response schema of a page of ``item_schema`` items (named for the OpenAPI document)."""
    return type(name, (ApiSchema,), {
        "items": fields.List(fields.Nested(item_schema)),
        "next_cursor": fields.String(allow_none=True, metadata={"description": "下一页的游标；没有下一页时为 null"}),
    })


