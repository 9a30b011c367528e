"""Who is calling: a personal API token (``Authorization: Bearer uf_…``) or the browser
session of the web pages.

Every API view needs a signed-in caller unless it is marked ``@public``; the check runs
before the view, so a view cannot forget it. A browser session's writes must also carry
the session's CSRF token in ``X-CSRF-Token`` (a token in a header cannot be forged by
another site, a cookie can be sent by one).
"""
from __future__ import annotations

import secrets
from typing import Callable

from flask import current_app, g, request
from flask import session as cookie_session
from werkzeug.exceptions import Forbidden, Unauthorized

from api.blueprint import Blueprint
from engine.org.accounts import actor_for_token
from engine.org.units import Actor
from web.auth import SESSION_CSRF_KEY, session_actor
from web.database import request_session

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
# Blueprints open to anyone: the OpenAPI document and its page.
PUBLIC_BLUEPRINTS = frozenset({"api-docs", "api-docs-page"})

# Described once in the OpenAPI document; every operation requires one of them unless public.
SECURITY_SCHEMES = {
    "bearerToken": {"type": "http", "scheme": "bearer", "description": "个人 API 令牌（在「令牌」接口创建，只显示一次）"},
    "browserSession": {"type": "apiKey", "in": "cookie", "name": "session",
                       "description": "网页登录后的会话；写操作还须在 X-CSRF-Token 头中带上会话的 CSRF 令牌"},
}
SECURITY = [{"bearerToken": []}, {"browserSession": []}]


def public(view: Callable) -> Callable:
    """Mark a view as open to anyone (public notices, objections, signing in).

    Put it directly under ``@blp.route`` so the mark is on the function Flask calls.
    """
    view.public = True
    return Blueprint.doc(security=[])(view)


def authenticate_request() -> None:
    """Before every /api/ request: find the caller (kept in ``g.actor``, which web.auth.current_actor
    returns); refuse anonymous calls to non-public views."""
    if not request.path.startswith("/api/"):
        return
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    g.actor = _token_actor() if "Authorization" in request.headers else _session_actor()
    if view is None or getattr(view, "public", False) or request.blueprint in PUBLIC_BLUEPRINTS:
        return
    if g.actor is None:
        raise Unauthorized()
    if g.get("signed_in_by") == "session" and request.method not in SAFE_METHODS:
        expected = cookie_session.get(SESSION_CSRF_KEY)
        if not expected or not secrets.compare_digest(request.headers.get(CSRF_HEADER, ""), expected):
            raise Forbidden(description="缺少或错误的 CSRF 令牌（请求头 X-CSRF-Token）")


def _token_actor() -> Actor | None:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthorized(description="Authorization 头应为「Bearer 令牌」")
    session = request_session()
    actor = actor_for_token(session, presented.strip())
    if actor is None:
        raise Unauthorized(description="令牌无效、已过期或已吊销")
    session.commit()  # the token's last use, recorded on its own
    g.signed_in_by = "token"
    return actor


def _session_actor() -> Actor | None:
    actor = session_actor()
    if actor is not None:
        g.signed_in_by = "session"
    return actor
