"""Translations of the pages (Flask-Babel). Chinese is the source language; the English
catalog is web/translations/en/LC_MESSAGES/messages.po, compiled by ``make``.

The engine names roles, levels and states in Chinese dictionaries that the extractor
cannot read, so their values are listed here once, as literals, to be extracted
(``N_`` marks without translating). tests/pages/test_i18n.py checks this list against the
engine's dictionaries. Labels written in workflow definitions stay as the definition says.
"""
from __future__ import annotations

from flask import current_app
from flask import session as cookie_session
from flask_babel import gettext

from engine.base.money import format_money
from web.auth import SESSION_LANGUAGE_KEY


def N_(text: str) -> str:  # noqa: N802 (the gettext convention for "mark only")
    return text


# The first is the default.
LANGUAGES = ("zh_CN", "en")


ENGINE_LABELS = (
    # engine.org.units.ROLE_LABELS
    N_("申报人"), N_("审核人"), N_("审计人员"), N_("管理员"), N_("评委"),
    # engine.org.units.LEVEL_LABELS
    N_("市总工会"), N_("县（区）总工会"), N_("镇（街道）总工会"), N_("基层工会"),
    # engine.org.units.UNIT_KIND_LABELS
    N_("总工会"), N_("工会"), N_("联合工会"),
    # engine.definitions.spec.STATE_KIND_LABELS
    N_("填报"), N_("审核"), N_("公示"), N_("办结"),
    # engine.cases.case.EVENT_LABELS
    N_("创建"), N_("修改表单"), N_("发表意见"), N_("上传附件"), N_("添加记录"), N_("作废记录"),
    N_("导入表格"), N_("评审投票"), N_("收到异议"), N_("撤销荣誉"), N_("催办"), N_("认领"), N_("释放"), N_("接手"),
    N_("转交"), N_("征求意见"), N_("答复意见"), N_("撤回征求意见"), N_("抄送"),
    # engine.procedures.notices.OBJECTOR_KINDS and STATUS_LABELS
    N_("个人"), N_("单位"),
    N_("调查中"), N_("已答复待裁定"), N_("异议成立"), N_("异议不成立"), N_("逾期未答复"),
    # engine.procedures.notices.PUBLIC_STATUS_LABELS and the steps of objection_progress
    N_("核查中"), N_("已答复，待裁定"), N_("逾期未答复，该事项已终止"), N_("已受理"), N_("已答复"), N_("裁定结果"),
    # engine.audit.system_log.SYSTEM_EVENT_LABELS
    N_("导出审计记录"), N_("创建签名密钥"), N_("依法销毁到期案件"), N_("设置委托代理"), N_("结束委托代理"),
)


def selected_language() -> str:
    """Flask-Babel's locale: the visitor's choice, else Chinese."""
    language = cookie_session.get(SESSION_LANGUAGE_KEY)
    return language if language in current_app.config["LANGUAGES"] else current_app.config["BABEL_DEFAULT_LOCALE"]


def money(amount) -> str:
    """An amount as every page shows it (the ``money`` filter, the confirmations): "1,600.00 元"."""
    return format_money(amount, unit=gettext("元"))
