"""Rate limits (flask-limiter): on signing in (per address, and a lockout per username) and
on the public objection form.

The figures are configuration (``UNIONFLOW_LOGIN_RATE_LIMIT`` and
``UNIONFLOW_OBJECTION_RATE_LIMIT`` in the environment, or the same names without the prefix
in app config);
the counters live in memory in the embedded profile and in Redis in production, where
several web processes must share them (``UNIONFLOW_RATELIMIT_STORAGE_URI``).
"""
from __future__ import annotations

import os

from typing import Callable

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

DEFAULT_LIMITS = {
    "LOGIN_RATE_LIMIT": "10 per minute",
    # Failed sign-ins per username, wherever they come from: past it the account is locked
    # for the rest of the window, even to the right password.
    "LOGIN_LOCKOUT_LIMIT": "5 per 15 minutes",
    "OBJECTION_RATE_LIMIT": "5 per hour",
}

limiter = Limiter(key_func=get_remote_address, default_limits=[])


def configure_limits(app: Flask) -> None:
    for name, default in DEFAULT_LIMITS.items():
        app.config.setdefault(name, os.environ.get(f"UNIONFLOW_{name}", default))
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.extensions["unionflow"].settings.rate_limit_storage)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)


def configured_limit(name: str):
    """A limit read from app config when the request comes, so each deployment sets its own."""
    return lambda: current_app.config.get(name, DEFAULT_LIMITS[name])


def _attempted_username() -> str:
    """The username a sign-in tries, from the web form or the API's JSON body."""
    body = request.get_json(silent=True) if request.is_json else None
    name = request.form.get("username") or (body.get("username") if isinstance(body, dict) else None) or ""
    return "login:" + str(name).strip().lower()


def _failed_sign_in(response) -> bool:
    return response.status_code == 401


def sign_in_limits(view: Callable) -> Callable:
    """The limits on every sign-in view: attempts per address, and failures per username."""
    view = limiter.limit(configured_limit("LOGIN_LOCKOUT_LIMIT"), key_func=_attempted_username,
                         deduct_when=_failed_sign_in,
                         error_message="该账号登录失败次数过多，已暂时锁定，请稍后再试")(view)
    return limiter.limit(configured_limit("LOGIN_RATE_LIMIT"),
                         error_message="登录尝试过于频繁，请稍后再试")(view)
