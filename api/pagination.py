"""Keyset pagination: ``?limit=&cursor=`` in, ``{"items": [...], "next_cursor": ...}`` out.

The cursor is the sort key of the last item sent, opaque to clients (base64 of JSON). The
next page is "rows after that key", not "skip N rows", so rows inserted meanwhile neither
repeat nor push others off a page, and a deep page costs what the first one does.
"""
from __future__ import annotations

import base64
import binascii
import json

from marshmallow import fields, validate
from werkzeug.exceptions import UnprocessableEntity

from api.schemas import MAX_ROW_ID, ApiSchema
from engine.base.errors import ValidationFailed

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


def encode_cursor(key: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, length: int) -> list | None:
    """The sort key a cursor holds; a cursor not made by ``encode_cursor`` is a 422 on ``cursor``.
    No cursor, or an empty one (``?cursor=``, as a form leaves it), asks for the first page."""
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        key = None
    if not isinstance(key, list) or len(key) != length:
        error = UnprocessableEntity()
        error.data = {"messages": {"query": {"cursor": ["游标无效，请从第一页重新获取"]}}}
        raise error
    return key


def id_cursor(cursor: str | None) -> int | None:
    """The row id a cursor of a list ordered by id holds (made by ``page(rows, limit, lambda row: [row.id])``)."""
    key = decode_cursor(cursor, 1)
    if key is None:
        return None
    if isinstance(key[0], bool) or not isinstance(key[0], int) or not 1 <= key[0] <= MAX_ROW_ID:
        raise ValidationFailed({"cursor": ["游标无效，请从第一页重新获取"]})
    return key[0]


def page(rows: list, limit: int, key_of) -> dict:
    """Rows fetched with ``limit + 1`` → one page and the cursor of its last row, if more follow."""
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_cursor": encode_cursor(key_of(rows[-1])) if more and rows else None}
