"""Rate limits (flask-limiter): on signing in (per address, and a lockout per username) and
on the public objection form and the lookup of an objection by its receipt.

Each limit is one counter whichever door is used: the web form and the JSON API count
together (flask-limiter's shared limits, one scope each), so a second door never doubles
an allowance. The figures are configuration (``UNIONFLOW_LOGIN_RATE_LIMIT``,
``UNIONFLOW_LOGIN_LOCKOUT_LIMIT``, ``UNIONFLOW_OBJECTION_RATE_LIMIT`` and
``UNIONFLOW_OBJECTION_LOOKUP_RATE_LIMIT`` in the environment,
or the same names without the prefix in app config); the counters live in memory in the
embedded profile and in Redis in production, where several web processes must share them
(``UNIONFLOW_RATELIMIT_STORAGE_URI``). The address is the client's as the trusted proxies
report it (``UNIONFLOW_TRUSTED_PROXIES``, web.trust_proxies), never a header anyone can send.
"""
from __future__ import annotations

import math
import os
import time

from typing import Callable

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

DEFAULT_LIMITS = {
    "LOGIN_RATE_LIMIT": "10 per minute",
    # Sign-in attempts per username, wherever they come from: past it the account is locked
    # for the rest of the window, even to the right password.
    "LOGIN_LOCKOUT_LIMIT": "5 per 15 minutes",
    "OBJECTION_RATE_LIMIT": "5 per hour",
    # Looking an objection up by its receipt number: enough for anyone following theirs, far too
    # few to guess someone else's.
    "OBJECTION_LOOKUP_RATE_LIMIT": "30 per hour",
}
LOCKED_MESSAGE = "该账号登录失败次数过多，已暂时锁定，请稍后再试"
# Usernames are at most 64 characters; a longer name is nobody's, and its counter need not be longer.
USERNAME_KEY_LENGTH = 64

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


# Per address, one counter for the sign-in form and POST /api/v1/session.
sign_in_limits: Callable[[Callable], Callable] = limiter.shared_limit(
    configured_limit("LOGIN_RATE_LIMIT"), scope="sign-in", error_message="登录尝试过于频繁，请稍后再试")

# Per address, one counter for the public objection form and POST /api/v1/notices/<id>/objections.
objection_limits: Callable[[Callable], Callable] = limiter.shared_limit(
    configured_limit("OBJECTION_RATE_LIMIT"), scope="objection", error_message="提交异议过于频繁，请一小时后再试")

# Per address, one counter for /public/objections/<receipt> and GET /api/v1/public/objections/<receipt>.
objection_lookup_limits: Callable[[Callable], Callable] = limiter.shared_limit(
    configured_limit("OBJECTION_LOOKUP_RATE_LIMIT"), scope="objection-lookup",
    error_message="查询过于频繁，请一小时后再试")


# --- The lockout per username ---------------------------------------------------------------------
#
# The attempt is counted before the password is evaluated, by one atomic increment of the
# shared counter (INCR in Redis): of any number of attempts sent at once, only the first
# ``LOGIN_LOCKOUT_LIMIT`` are evaluated, the rest are refused unevaluated. (Counting failures
# after the evaluation, as a response-based limit does, lets every attempt in flight through
# the test before the first one is counted.) A successful sign-in clears the username's count:
# the person has shown the password, and their earlier typos should not lock them out the next
# time; an attacker, who cannot sign in, never clears it.

def _lockout_counter() -> tuple[FixedWindowRateLimiter, object]:
    return FixedWindowRateLimiter(limiter.storage), parse(current_app.config["LOGIN_LOCKOUT_LIMIT"])


def _username_key(username: str) -> tuple[str, ...]:
    """The counter's identifiers; under the deployment's key prefix, as flask-limiter's own are
    (several deployments may share one Redis)."""
    key = ("sign-in-lockout", username.strip().lower()[:USERNAME_KEY_LENGTH])
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX")
    return (prefix, *key) if prefix else key


def take_sign_in_attempt(username: str) -> None:
    """Count an attempt to sign in as ``username``; refuse it (429) when the username is locked."""
    if not limiter.enabled:
        return
    strategy, limit = _lockout_counter()
    key = _username_key(username)
    if not strategy.hit(limit, *key):
        reset = strategy.get_window_stats(limit, *key).reset_time
        raise TooManyRequests(description=LOCKED_MESSAGE, retry_after=max(1, math.ceil(reset - time.time())))


def forget_sign_in_failures(username: str) -> None:
    """The person signed in: their username's count starts again."""
    if not limiter.enabled:
        return
    strategy, limit = _lockout_counter()
    strategy.clear(limit, *_username_key(username))
