"""The sign-in page, signing out, the header's role switcher and language choice."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request
from flask import session as cookie_session
from flask import url_for
from flask_babel import gettext as _

from web.auth import (
    SESSION_GRANT_KEY, SESSION_LANGUAGE_KEY, end_session, grant_key, grant_label, login_required, session_actor,
    sign_in, sign_in_with_password,
)
from web.database import request_session, unit_of_work
from web.limits import sign_in_limits

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: a ``next`` pointing elsewhere would make the login page an open redirect."""
    if not target:
        return url_for("home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("home")
    return target


@bp.route("/login", methods=["GET"])
def login():
    if session_actor() is not None:
        return redirect(_safe_next(request.args.get("next")))
    return _login_page()


def _login_page(username: str = "", error: str | None = None, status: int = 200):
    # Handed over by the app factory, which alone knows the demo (None outside it).
    demo = current_app.extensions["unionflow"].demo_sign_in
    page = render_template(
        "login.html", username=username, error=error, next=request.args.get("next", ""),
        accounts=demo[1](request_session()) if demo else [],
        demo_password=demo[0] if demo else None,
    )
    return page, status


@bp.route("/login", methods=["POST"])
@sign_in_limits
@unit_of_work
def login_submit():
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if not username or not password:
        return _login_page(username, _("请输入用户名和密码"), 422)
    actor = sign_in_with_password(username, password)
    if actor is None:
        return _login_page(username, _("用户名或密码不正确"), 401)
    sign_in(actor)
    return redirect(_safe_next(request.args.get("next")))


@bp.route("/logout", methods=["POST"])
@unit_of_work
def logout():
    end_session()
    flash(_("您已退出登录"), "info")
    return redirect(url_for("auth.login"))


@bp.route("/switch-role", methods=["POST"])
@login_required
def switch_role():
    """Act in another of one's grants (the header's switcher)."""
    wanted = request.form.get("grant", "")
    grant = next((grant for grant in session_actor().grants if grant_key(grant) == wanted), None)
    if grant is None:
        flash(_("您没有这个身份"), "error")
    else:
        cookie_session[SESSION_GRANT_KEY] = wanted
        flash(_("已切换为：%(grant)s", grant=grant_label(grant)), "info")
    return redirect(url_for("home"))


@bp.route("/language", methods=["POST"])
def switch_language():
    language = request.form.get("language", "")
    if language in current_app.config["LANGUAGES"]:
        cookie_session[SESSION_LANGUAGE_KEY] = language
    return redirect(_safe_next(request.form.get("next")))
