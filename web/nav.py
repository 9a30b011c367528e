"""The header's links, by the role one is acting in.

An entry shows only when its page exists, so each area of web/views adds its own link
here and nothing links to a page that is not there.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l


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
    NavEntry("public.notices", _l("公示"), None),
)


def navigation(role: str | None) -> list[NavEntry]:
    views = current_app.view_functions
    return [entry for entry in NAVIGATION
            if entry.endpoint in views and (entry.roles is None or role in entry.roles)]
