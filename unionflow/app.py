"""The app factory: one Flask app serving both faces (the JSON API under /api/v1 and the pages)
over the shared web layer, on the engine's database and settings."""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask, request
from flask_babel import Babel
from werkzeug.middleware.proxy_fix import ProxyFix

from api import register_api
from engine.base.config import Settings
from engine.base.db import make_engine, make_session_factory
from engine.runtime import bootstrap
from engine.worker import use_database
from pages import register_pages
from unionflow.demo import DEMO_PASSWORD, demo_accounts
from web.bodies import BoundedJSONProvider, BoundedJSONRequest, read_json_body
from web.database import UnionflowState, close_request_session
from web.i18n import LANGUAGES, selected_language

SECRET_KEY_FILE = "secret_key"


def create_app(settings: Settings | None = None, **overrides) -> Flask:
    """Build the app on ``settings`` (default: the environment); ``overrides`` go into app.config."""
    settings = settings or Settings.from_env()
    bootstrap(settings)
    # Named after the shared web package, whose folder holds templates/, static/ and translations/;
    # instance/ beside the working directory, where the default SQLite database lives too.
    app = Flask("web", instance_path=str(Path.cwd() / "instance"))
    app.config.update(
        DEMO=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Behind TLS in production; the embedded demo serves plain http on loopback.
        SESSION_COOKIE_SECURE=os.environ.get("UNIONFLOW_SECURE_COOKIES", "").lower() == "true",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
    )
    app.config.update(overrides)
    app.config["SECRET_KEY"] = _secret_key(app)
    trust_proxies(app)
    app.request_class = BoundedJSONRequest
    app.json = BoundedJSONProvider(app)
    app.json.ensure_ascii = False  # Chinese stays readable in JSON responses
    app.json.sort_keys = False  # keep the schemas' field order
    app.jinja_env.trim_blocks = app.jinja_env.lstrip_blocks = True
    engine = make_engine(settings.database_url)
    demo_sign_in = (DEMO_PASSWORD, demo_accounts) if app.config["DEMO"] else None
    app.extensions["unionflow"] = UnionflowState(settings, engine, make_session_factory(engine), demo_sign_in)
    use_database(engine)  # deadline tasks and notification mail run against the app's database
    app.teardown_appcontext(close_request_session)
    app.before_request(read_json_body)  # first: before the rate limits read the body too
    app.config.setdefault("LANGUAGES", LANGUAGES)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", LANGUAGES[0])
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    Babel(app, locale_selector=selected_language)
    register_api(app)
    register_pages(app)
    app.after_request(_security_headers)
    return app


# Scripts only from our own static files, nothing framed elsewhere, forms post only here.
# Inline style attributes stay allowed: they cannot run code.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


# Browsers that reached the site over TLS keep to it for a year (not subdomains: other sites of
# the union's domain may not serve TLS).
STRICT_TRANSPORT_SECURITY = "max-age=31536000"


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    # Only over TLS (browsers ignore it over plain http): directly, or as a trusted proxy says.
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    return response


def trust_proxies(app: Flask) -> None:
    """Behind reverse proxies, take the client's address and scheme from the X-Forwarded-For and
    X-Forwarded-Proto headers they add, from as many hops as are configured, and no further.

    ``TRUSTED_PROXIES`` (app config, else ``UNIONFLOW_TRUSTED_PROXIES``): how many proxies stand
    in front of the app, 0 by default. Trusting a header no proxy of ours sets would let any client
    pick its own address (and escape its rate limits); trusting none behind a proxy makes every
    client the proxy, so one client's failed sign-ins would lock out everyone else's.
    """
    configured = app.config.get("TRUSTED_PROXIES", os.environ.get("UNIONFLOW_TRUSTED_PROXIES", "0"))
    try:
        hops = int(configured)
    except (TypeError, ValueError):
        hops = -1
    if hops < 0:
        raise RuntimeError(f"UNIONFLOW_TRUSTED_PROXIES must be a whole number of proxies (0 or more), not {configured!r}")
    app.config["TRUSTED_PROXIES"] = hops
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


def _secret_key(app: Flask) -> str:
    """Explicit config, then UNIONFLOW_SECRET_KEY; only the demo may generate (and keep) its own."""
    if app.config.get("SECRET_KEY"):
        return app.config["SECRET_KEY"]
    from_env = os.environ.get("UNIONFLOW_SECRET_KEY")
    if from_env:
        return from_env
    if not app.config["DEMO"]:
        raise RuntimeError("UNIONFLOW_SECRET_KEY is not set (only the demo generates a key of its own)")
    path = Path(app.instance_path) / SECRET_KEY_FILE
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # Readable by the owner only; the key signs session cookies.
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="ascii") as file:
        file.write(key)
    return key


# --- One database session per request -------------------------------------------------------------


