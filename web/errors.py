"""Error pages for people (the API answers its own paths in JSON, see api.errors).

Every error a page can meet ends here: werkzeug's (404, 403, 400 for a failed CSRF check,
413, 429) and the engine's (a case one may not see, an action no longer possible). A
signed-out visitor who reaches a page that needs signing in is sent to the login page.
"""
from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from engine.base.sizes import file_size

GENERIC_MESSAGES = {
    400: _l("请求有误"),
    403: _l("没有权限访问此页面"),
    404: _l("页面不存在，或您无权查看"),
    405: _l("此页面不支持该操作"),
    409: _l("操作与案件当前状态冲突"),
    413: _l("上传的内容过大"),
    415: _l("不支持的文件类型"),
    422: _l("提交的内容有误"),
    429: _l("操作过于频繁，请稍后再试"),
    500: _l("服务器内部错误，请稍后再试；如果问题持续，请联系管理员"),
    503: _l("服务暂时不可用"),
}


def request_too_large_message() -> str:
    """What a 413 for the whole request says: the app-wide limit, in MB or KB."""
    return _l("请求内容过大，单次上传不能超过 %(limit)s", limit=file_size(current_app.config["MAX_CONTENT_LENGTH"]))


def error_page(status: int, message: str | None = None):
    """The HTML page for an error: a heading by status, the specific message when there is one."""
    if status == 401:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    heading = str(GENERIC_MESSAGES.get(status, _l("出错了")))
    return render_template("error.html", status=status, heading=heading,
                           message=message if message and message != heading else None), status


def http_error_page(err: HTTPException):
    description = err.description if err.description != type(err).description else None
    if description and not _is_chinese(description) and err.code != 429:
        description = None  # werkzeug's English defaults say nothing the heading does not
    return error_page(err.code or 500, description)


def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= char <= "\u9fff" for char in text)
