"""The Flask application: factory, request-scoped database session, units of work.

The engine knows nothing of Flask; this package wires it to HTTP. Views that read use
``request_session()``; a view that writes is wrapped in ``unit_of_work`` so the request
commits exactly once, after the view returned, and rolls back on any error.
"""
from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from importlib import import_module
from pathlib import Path
from typing import Callable, Iterator

from flask import Flask, Request, current_app, g, request
from flask.json.provider import DefaultJSONProvider
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import BadRequest
from werkzeug.middleware.proxy_fix import ProxyFix

from engine.base.config import Settings
from engine.base.db import make_engine, make_session_factory
from engine.base.inputs import MAX_JSON_DEPTH, JSONTooDeep, load_json
from engine.definitions.spec import STATE_KIND_LABELS
from engine.runtime import bootstrap
from engine.worker import use_database

SECRET_KEY_FILE = "secret_key"
# The first is the default.
LANGUAGES = ("zh_CN", "en")
# One module per area under web/views, each with its blueprint ``bp``.
PAGE_MODULES = ("applicant", "cases", "inbox", "public", "auditor", "dashboard", "admin", "calendar_admin",
                "notifications", "about")


@dataclass(frozen=True)
class UnionflowState:
    """What the app keeps in ``app.extensions["unionflow"]``."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]


def create_app(settings: Settings | None = None, **overrides) -> Flask:
    """Build the app on ``settings`` (default: the environment); ``overrides`` go into app.config."""
    settings = settings or Settings.from_env()
    bootstrap(settings)
    # instance/ beside the working directory, where the default SQLite database lives too.
    app = Flask(__name__, instance_path=str(Path.cwd() / "instance"))
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
    app.extensions["unionflow"] = UnionflowState(settings, engine, make_session_factory(engine))
    use_database(engine)  # deadline tasks and notification mail run against the app's database
    app.teardown_appcontext(_close_request_session)
    app.before_request(_read_json_body)  # first: before the rate limits read the body too

    from api import register_api  # imported here: api imports request_session from this module

    register_api(app)
    _register_pages(app)
    return app


# --- Request bodies in JSON ----------------------------------------------------------------------

class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, read through engine.base.inputs.load_json: a document nested past
    MAX_JSON_DEPTH is malformed input, not a RecursionError (500) in the parser."""

    def loads(self, s, **kwargs):
        return load_json(s, **kwargs)


class BoundedJSONRequest(Request):
    """A body that is not JSON, or nests too deep, answered in Chinese (the API's 400 shows it)."""

    def on_json_loading_failed(self, e: ValueError | None):
        if isinstance(e, JSONTooDeep):
            raise BadRequest(description=f"请求体的 JSON 嵌套过深（最多 {MAX_JSON_DEPTH} 层）")
        raise BadRequest(description="请求体不是有效的 JSON")


def _read_json_body() -> None:
    """Every JSON body is parsed once, through the bounded parser, before any view, extension
    or argument parser reads it: webargs parses the raw body again with ``json.loads``, which
    only a document already refused here could make fail by recursion."""
    if request.is_json and request.get_data(cache=True):
        request.get_json()


def _register_pages(app: Flask) -> None:
    from flask_babel import Babel

    from web import auth
    from web.forms import file_size, limits_text
    from web.localtime import last_day, local_day, local_time
    from web.nav import navigation
    from web.views.start import home

    app.config.setdefault("LANGUAGES", LANGUAGES)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", LANGUAGES[0])
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    Babel(app, locale_selector=auth.selected_language)
    app.register_blueprint(auth.bp)
    for name in PAGE_MODULES:
        app.register_blueprint(import_module(f"web.views.{name}").bp)
    app.add_url_rule("/", "home", home)
    # Browsers ask for /favicon.ico whatever the page names (a download, a JSON response).
    app.add_url_rule("/favicon.ico", "favicon", lambda: app.send_static_file("favicon.ico"))
    app.before_request(auth.check_csrf)
    app.after_request(_security_headers)
    app.context_processor(auth.header_context)
    app.context_processor(lambda: {"navigation": navigation})
    # Globals, not context: imported macros (macros.html) see them too.
    app.jinja_env.filters.update(local_time=local_time, local_day=local_day, last_day=last_day, file_size=file_size)
    app.jinja_env.globals.update(STATE_KIND_LABELS=STATE_KIND_LABELS, csrf_token=auth.csrf_token,
                                 local_time=local_time, local_day=local_day, last_day=last_day,
                                 field_limits=limits_text,  # used by the fields macro (_fields.html)
                                 has_page=lambda endpoint: endpoint in app.view_functions)


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

def request_session() -> Session:
    """The request's session, opened on first use and closed when the request ends."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["unionflow"].session_factory()
    return g.db_session


def streamed_body(body: Callable[[Session], Iterator[bytes]]) -> Iterator[bytes]:
    """A response body read from the database while it is sent, in a session of its own.

    The request's session is closed by its teardown before a streamed body is sent; a body
    reading through it would open a transaction nobody ends (on SQLite, one that holds the
    database's write lock). This one is closed when the body ends or the client goes away.
    """
    session = current_app.extensions["unionflow"].session_factory()

    def chunks() -> Iterator[bytes]:
        try:
            yield from body(session)
        finally:
            session.close()

    return chunks()


def _close_request_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()  # rolls back whatever was not committed


def unit_of_work(view: Callable) -> Callable:
    """The request's one commit point: commit after the view returns, roll back on any error.

    Side effects that engine operations queued run only after this commit succeeds.
    """

    @wraps(view)
    def run_and_commit(*args, **kwargs):
        with committing():
            return view(*args, **kwargs)

    return run_and_commit


@contextmanager
def committing() -> Iterator[Session]:
    """One unit of work inside a view: commit when the block ends, roll back on any error.

    Pages use it around the engine operation so that a refused operation can still answer
    with the form and its messages, after the rollback.
    """
    session = request_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
