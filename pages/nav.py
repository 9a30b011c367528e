"""The header's links, by the role one is acting in.

An entry shows only when its page exists, so each area of web/views adds its own link
here and nothing links to a page that is not there.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request
from flask_babel import lazy_gettext as _l

from engine.org.units import LEVEL_LABELS, ROLE_LABELS
from web.auth import active_grant, grant_key, grant_label, session_actor
from web.i18n import selected_language


@dataclass(frozen=True)
class NavEntry:
    endpoint: str
    label: str
    roles: tuple[str, ...] | None  # None: everyone, signed in or not


NAVIGATION = (
    NavEntry("applicant.new_case", _l("新建申报"), ("applicant",)),
    NavEntry("applicant.my_cases", _l("我的申报"), ("applicant",)),
    NavEntry("inbox.inbox", _l("待办"), ("reviewer",)),
    NavEntry("cases.jury_duties", _l("评审投票"), ("reviewer", "applicant", "auditor", "admin")),
    NavEntry("auditor.search", _l("审计查询"), ("auditor",)),
    NavEntry("auditor.system_log", _l("审计操作记录"), ("auditor",)),
    NavEntry("dashboard.dashboard", _l("统计"), ("reviewer", "admin", "auditor")),
    NavEntry("admin.index", _l("管理"), ("admin",)),
    NavEntry("delegations.delegations", _l("委托代理"), ("reviewer", "admin")),
    NavEntry("copies.copies", _l("抄送我的"), ("reviewer", "auditor")),
    NavEntry("public.notices", _l("公示"), None),
)


def navigation(role: str | None) -> list[NavEntry]:
    views = current_app.view_functions
    return [entry for entry in NAVIGATION
            if entry.endpoint in views and (entry.roles is None or role in entry.roles)]


def header_context() -> dict:
    """What the header of every page shows: who is signed in, the chosen grant and the others."""
    actor = session_actor() if request.endpoint != "static" else None
    grant = active_grant(actor) if actor else None
    return {
        "signed_in": actor,
        "active_grant": grant,
        "grant_key": grant_key,
        "grant_label": grant_label,
        "current_role": grant.role if grant else None,
        "language": selected_language(),
        "LEVEL_LABELS": LEVEL_LABELS,
        "ROLE_LABELS": ROLE_LABELS,
    }
