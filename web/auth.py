"""Signing in, the person a request acts for, the role one is acting in, and CSRF protection of forms
(the sign-in page itself: pages.sign_in).

The browser session (a signed cookie) holds the user's id, their session generation when
it began, a CSRF token and the grant they chose in the header's switcher. A cookie is
signed, not stored, so a copy of it would work until it expires: each request checks that
the generation is still the person's, and signing out, a new password or a deactivation
moves it on (engine.org.accounts.end_sessions), ending every session they had, everywhere.

A person with several roles or units acts on the pages in one of them at a time:
``current_actor()`` is the signed-in person narrowed to that grant, so the inbox, the buttons
and the engine's checks all follow the switcher. Through the JSON API (a token, or the same
session) the same function returns the caller with all of the person's grants.

Every form that changes something carries the session's CSRF token in a hidden
``csrf_token`` field, checked before any view runs.
"""
from __future__ import annotations

import secrets
from dataclasses import replace
from functools import wraps
from typing import Callable

from flask import g, redirect, request
from flask import session as cookie_session
from flask import url_for
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest, Forbidden, RequestEntityTooLarge

from engine.org.accounts import actor_for_session, authenticate, session_generation, sign_out_everywhere
from engine.org.units import ROLE_LABELS, Actor, Grant
from web.database import request_session
from web.errors import request_too_large_message
from web.limits import forget_sign_in_failures, take_sign_in_attempt

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_USER_KEY = "user_id"
SESSION_GENERATION_KEY = "generation"
SESSION_CSRF_KEY = "csrf_token"
SESSION_GRANT_KEY = "grant"
SESSION_LANGUAGE_KEY = "language"
CSRF_FIELD = "csrf_token"


# --- The session ---------------------------------------------------------------------------------


def sign_in(actor: Actor) -> str:
    """Start a browser session for the actor (a fresh cookie, against fixation); returns its CSRF token."""
    language = cookie_session.get(SESSION_LANGUAGE_KEY)
    cookie_session.clear()
    if language:
        cookie_session[SESSION_LANGUAGE_KEY] = language
    cookie_session[SESSION_USER_KEY] = actor.user_id
    cookie_session[SESSION_GENERATION_KEY] = session_generation(request_session(), actor.user_id)
    cookie_session[SESSION_CSRF_KEY] = secrets.token_urlsafe(32)
    cookie_session.permanent = True
    return cookie_session[SESSION_CSRF_KEY]


def sign_out() -> None:
    """Forget the session in this browser only (see ``end_session`` for signing out)."""
    language = cookie_session.get(SESSION_LANGUAGE_KEY)
    cookie_session.clear()
    g.session_actor = None
    if language:
        cookie_session[SESSION_LANGUAGE_KEY] = language


def end_session() -> None:
    """Sign out: every session of the person ends, a copy of this cookie or another device's
    included; the caller commits. Without a session only this browser's cookie is cleared."""
    actor = session_actor()
    if actor is not None:
        sign_out_everywhere(request_session(), actor)
    sign_out()


def keep_this_session() -> None:
    """The person set their own password in this browser: it stays signed in (it takes the new
    generation), while every other session of theirs, copies of this cookie included, has ended."""
    actor = session_actor()
    if actor is not None:
        cookie_session[SESSION_GENERATION_KEY] = session_generation(request_session(), actor.user_id)


def sign_in_with_password(username: str, password: str) -> Actor | None:
    """The person these credentials are for, or None; every sign-in path comes here, so the
    lockout per username is one counter, taken before the password is evaluated (429 when locked)."""
    take_sign_in_attempt(username)
    actor = authenticate(request_session(), username, password)
    if actor is not None:
        forget_sign_in_failures(username)
    return actor


def session_csrf_token() -> str | None:
    return cookie_session.get(SESSION_CSRF_KEY)


def session_actor() -> Actor | None:
    """The person signed in with this browser session, with all their grants (None if nobody)."""
    if "session_actor" in g:
        return g.session_actor
    actor = None
    user_id = cookie_session.get(SESSION_USER_KEY)
    if user_id is not None:
        actor = actor_for_session(request_session(), user_id, cookie_session.get(SESSION_GENERATION_KEY))
        if actor is None:  # deactivated, or the session was ended since it began
            sign_out()
    g.session_actor = actor
    return actor


# --- The grant one acts in -----------------------------------------------------------------------


def grant_key(grant: Grant) -> str:
    return f"{grant.role}:{grant.unit_id}"


def grant_label(grant: Grant) -> str:
    return f"{grant.unit_name} · {_(ROLE_LABELS[grant.role])}"


def active_grant(actor: Actor) -> Grant | None:
    """The grant chosen in the switcher, else the person's first; None for someone with no role."""
    chosen = cookie_session.get(SESSION_GRANT_KEY)
    for grant in actor.grants:
        if grant_key(grant) == chosen:
            return grant
    return actor.grants[0] if actor.grants else None


def current_actor() -> Actor:
    """The person this request acts for, one function for both faces. A JSON API call (a bearer
    token or the browser session: api.auth finds the caller and keeps it in ``g.actor``) acts with
    every grant the person holds; a page acts in the grant chosen in the header's switcher only,
    so the inbox, the buttons and the engine's checks all follow it (pages need ``login_required``)."""
    if "actor" in g:
        return g.actor
    actor = session_actor()
    grant = active_grant(actor)
    return replace(actor, grants=(grant,) if grant else ())


def current_role() -> str | None:
    actor = session_actor()
    grant = active_grant(actor) if actor else None
    return grant.role if grant else None


def login_required(view: Callable) -> Callable:
    """Send anonymous visitors to the login page, and back here afterwards."""

    @wraps(view)
    def checked(*args, **kwargs):
        if session_actor() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return checked


def role_required(*roles: str) -> Callable:
    """A page for people acting in one of ``roles``; others get a 403 that says which role to switch to."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def checked(*args, **kwargs):
            if current_role() not in roles:
                needed = "、".join(_(ROLE_LABELS[role]) for role in roles)
                held = [grant for grant in session_actor().grants if grant.role in roles]
                hint = _("请在页面顶部切换身份。") if held else ""
                raise Forbidden(description=_("此页面需要以%(roles)s身份使用。", roles=needed) + hint)
            return view(*args, **kwargs)

        return login_required(checked)

    return decorate


# --- CSRF -----------------------------------------------------------------------------------------


def csrf_token() -> str:
    """The session's CSRF token (created for anonymous visitors too: the login and objection forms)."""
    token = cookie_session.get(SESSION_CSRF_KEY)
    if not token:
        token = cookie_session[SESSION_CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Before every page request that changes something: the form must carry the session's token.

    The API checks its own header (api.auth); its paths are left to it.
    """
    if request.method in SAFE_METHODS or request.path.startswith("/api/"):
        return
    expected = cookie_session.get(SESSION_CSRF_KEY)
    try:
        presented = request.form.get(CSRF_FIELD, "")
    except RequestEntityTooLarge:  # the body is refused unread: say what the limit is
        raise RequestEntityTooLarge(description=str(request_too_large_message())) from None
    if not expected or not secrets.compare_digest(presented, expected):
        raise BadRequest(description=_("页面已过期或来源不明（CSRF 校验失败）。请返回上一页刷新后重新提交。"))


# --- Pages ----------------------------------------------------------------------------------------


