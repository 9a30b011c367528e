"""Rate limits (flask-limiter): on signing in and on the public objection form.

The figures are configuration (``UNIONFLOW_LOGIN_RATE_LIMIT`` and
``UNIONFLOW_OBJECTION_RATE_LIMIT`` in the environment, or the same names without the prefix
in app config);
the counters live in memory in the embedded profile and in Redis in production, where
several web processes must share them (``UNIONFLOW_RATELIMIT_STORAGE_URI``).
"""
from __future__ import annotations

import os

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

DEFAULT_LIMITS = {
    "LOGIN_RATE_LIMIT": "10 per minute",
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
