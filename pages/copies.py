"""「抄送我的」: the cases copied to me (抄送), latest first, the unread ones marked; opening one reads it
(the case page marks the copy read)."""
from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from werkzeug.exceptions import UnprocessableEntity

from engine.base.errors import ValidationFailed
from engine.cases.copies import copies_page
from web.auth import login_required, session_actor
from web.database import request_session
from web.paging import copies_key_of, done_cursor_key, encode_cursor

bp = Blueprint("copies", __name__)
PAGE_SIZE = 50


@bp.route("/copies")
@login_required
def copies():
    unread_only = request.args.get("unread") == "1"
    cursor = request.args.get("cursor")
    try:
        after = done_cursor_key(cursor)
    except (ValidationFailed, UnprocessableEntity):  # a cursor typed by hand: the first page
        after = cursor = None
    rows = copies_page(request_session(), session_actor(), unread_only=unread_only, after=after, limit=PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    filters = {"unread": "1"} if unread_only else {}
    return render_template(
        "copies/copies.html", rows=rows, unread_only=unread_only,
        next_url=url_for(".copies", **filters, cursor=encode_cursor(copies_key_of(rows[-1]))) if more else None,
        first_url=url_for(".copies", **filters) if cursor else None,
    )
