"""The HTML face: the pages union staff and applicants work in, in Chinese (English as a choice).

One module per area, each with its blueprint ``bp``; ``register_pages`` puts them on the app with
what every page shares (the header, navigation, CSRF checks, filters). It imports nothing of api/."""
from __future__ import annotations

from importlib import import_module

from flask import Flask

from engine.base.sizes import file_size
from engine.definitions.spec import STATE_KIND_LABELS
from pages.forms import checklist_answers, checklist_note_length, limits_text
from pages.nav import header_context, navigation
from pages.start import home
from web.auth import check_csrf, csrf_token
from web.files import preview_kind
from web.i18n import money
from web.localtime import last_day, local_day, local_time

PAGE_MODULES = ("sign_in", "applicant", "cases", "inbox", "public", "auditor", "dashboard", "admin",
                "calendar_admin", "notifications", "delegations", "copies", "about")


def register_pages(app: Flask) -> None:
    for name in PAGE_MODULES:
        app.register_blueprint(import_module(f"pages.{name}").bp)
    app.add_url_rule("/", "home", home)
    # Browsers ask for /favicon.ico whatever the page names (a download, a JSON response).
    app.add_url_rule("/favicon.ico", "favicon", lambda: app.send_static_file("favicon.ico"))
    app.before_request(check_csrf)
    app.context_processor(header_context)
    app.context_processor(lambda: {"navigation": navigation})
    # Globals, not context: imported macros (macros.html) see them too.
    app.jinja_env.filters.update(local_time=local_time, local_day=local_day, last_day=last_day, file_size=file_size,
                                 money=money)
    app.jinja_env.globals.update(STATE_KIND_LABELS=STATE_KIND_LABELS, csrf_token=csrf_token,
                                 local_time=local_time, local_day=local_day, last_day=last_day,
                                 preview_kind=preview_kind,
                                 # used by the fields macros (_fields.html)
                                 field_limits=limits_text, checklist_answers=checklist_answers,
                                 checklist_note_length=checklist_note_length,
                                 has_page=lambda endpoint: endpoint in app.view_functions)
