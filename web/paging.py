"""Keyset paging for both faces: the cursor is the sort key of the last item sent, opaque to clients
(base64 of JSON). The next page is "rows after that key", not "skip N rows", so rows inserted
meanwhile neither repeat nor push others off a page, and a deep page costs what the first one does."""
from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from werkzeug.exceptions import UnprocessableEntity

from engine.base.db import MAX_ROW_ID
from engine.base.errors import ValidationFailed

BAD_CURSOR = "游标无效，请从第一页重新获取"


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
        error.data = {"messages": {"query": {"cursor": [BAD_CURSOR]}}}
        raise error
    return key


def id_cursor(cursor: str | None) -> int | None:
    """The row id a cursor of a list ordered by id holds (made by ``page(rows, limit, lambda row: [row.id])``)."""
    key = decode_cursor(cursor, 1)
    if key is None:
        return None
    if isinstance(key[0], bool) or not isinstance(key[0], int) or not 1 <= key[0] <= MAX_ROW_ID:
        raise ValidationFailed({"cursor": [BAD_CURSOR]})
    return key[0]


def page(rows: list, limit: int, key_of) -> dict:
    """Rows fetched with ``limit + 1`` → one page and the cursor of its last row, if more follow."""
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_cursor": encode_cursor(key_of(rows[-1])) if more and rows else None}


def inbox_cursor_key(cursor: str | None) -> tuple[datetime | None, int] | None:
    """The (due_dt, case_id) a cursor holds; anything else is a 422 on ``cursor``."""
    key = decode_cursor(cursor, 2)
    if key is None:
        return None
    due, case_id = key
    try:
        due_dt = None if due is None else datetime.fromisoformat(due)
    except (TypeError, ValueError):
        due_dt = False
    if due_dt is False or (due_dt is not None and due_dt.tzinfo is None) \
            or isinstance(case_id, bool) or not isinstance(case_id, int) or not 0 <= case_id <= MAX_ROW_ID:
        raise ValidationFailed({"cursor": [BAD_CURSOR]})
    return due_dt, case_id


def inbox_key_of(entry) -> list:
    return [entry.due_dt.isoformat() if entry.due_dt else None, entry.case_id]


def done_cursor_key(cursor: str | None) -> tuple[datetime, int] | None:
    """The (closed_dt, task_id) a cursor of 「我已办」 holds; anything else is a 422 on ``cursor``."""
    key = inbox_cursor_key(cursor)
    if key is not None and key[0] is None:
        raise ValidationFailed({"cursor": [BAD_CURSOR]})
    return key


def done_key_of(entry) -> list:
    return [entry.closed_dt.isoformat(), entry.task_id]


def copies_key_of(entry) -> list:
    """The sort key of a line of 「抄送我的」 (read back with ``done_cursor_key``: a moment and an id)."""
    return [entry.copied_dt.isoformat(), entry.id]
