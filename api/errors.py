"""One error format for every /api/ URL, whatever went wrong:

    {"error": {"code": "not_found", "message": "……", "fields": {"name": ["……"]}}}

``code`` is stable and machine-readable, ``message`` is Chinese for people, ``fields``
maps form fields to their messages (empty unless the input was invalid). A conflict
adds ``current_version``; a refused rule adds ``reasons``.

The handlers sit on the app, not the blueprint: an unknown /api/ URL or a wrong method
matches no blueprint route, and must still answer JSON, never HTML.
"""
from __future__ import annotations

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

from engine.audit.signing import SigningKeyMissing
from engine.base.errors import (
    CalendarNotCovered, ConditionFailed, Conflict, InvalidAction, NotFound, PermissionDenied, UnionflowError,
    ValidationFailed,
)
from engine.cases.attachments import FileTooLarge, UnsupportedFileType
from engine.cases.case import case_version
from web.database import request_session
from web.errors import error_page, http_error_page

API_PREFIX = "/api/"

# Most specific first: the first matching class decides.
DOMAIN_ERRORS: tuple[tuple[type[UnionflowError], int, str], ...] = (
    (NotFound, 404, "not_found"),
    (PermissionDenied, 403, "permission_denied"),
    (Conflict, 409, "conflict"),
    (InvalidAction, 409, "invalid_action"),
    (FileTooLarge, 413, "payload_too_large"),
    (UnsupportedFileType, 415, "unsupported_media_type"),
    (ValidationFailed, 422, "validation_failed"),
    (ConditionFailed, 422, "condition_failed"),
    (CalendarNotCovered, 503, "calendar_not_covered"),
    (SigningKeyMissing, 503, "signing_key_missing"),
    (UnionflowError, 400, "bad_request"),
)

HTTP_ERRORS = {
    400: ("bad_request", "请求格式不正确"),
    401: ("unauthorized", "请先登录"),
    403: ("forbidden", "没有权限访问"),
    404: ("not_found", "请求的地址不存在"),
    405: ("method_not_allowed", "此地址不支持该请求方法"),
    409: ("conflict", "请求与当前状态冲突"),
    413: ("payload_too_large", "提交的内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    422: ("unprocessable", "提交的内容无法处理"),
    429: ("too_many_requests", "请求过于频繁，请稍后再试"),
    500: ("internal_error", "服务器内部错误，请稍后再试"),
}


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX)


def error_response(status: int, code: str, message: str, fields: dict | None = None, **extra) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "fields": fields or {}, **extra}})
    response.status_code = status
    return response


def handle_http_error(err: HTTPException):
    """Werkzeug's errors (404, 405, 400 for bad JSON, 500 for crashes) and webargs' parsing
    errors (422 with field messages) as JSON on /api/ paths."""
    if not is_api_request():
        return http_error_page(err)
    status = err.code or 500
    code, message = HTTP_ERRORS.get(status, (f"http_{status}", err.name))
    if err.description and err.description != type(err).description and _is_chinese(err.description):
        message = err.description  # a message of ours, given where the error was raised
    fields = _field_messages(getattr(err, "data", None) or {})
    if status == 422 and fields:
        code, message = "validation_failed", "提交的内容有误，请按提示修改"
    elif status == 400 and fields.get("json"):
        code, message, fields = "bad_request", "请求体不是有效的 JSON", {}
    response = error_response(status, code, message, fields)
    allow = dict(err.get_headers()).get("Allow")
    if allow:
        response.headers["Allow"] = allow
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="unionflow"'
    retry_after = dict(err.get_headers()).get("Retry-After")
    if retry_after:
        response.headers["Retry-After"] = retry_after
    return response


def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= char <= "\u9fff" for char in text)


def _field_messages(data: dict) -> dict[str, list[str]]:
    """webargs' {"json": {"form": {"name": ["…"]}}, "query": {...}} as {"form.name": ["…"]}.

    The location level is dropped (a field's name says where it is); nested names are dotted.
    """
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        elif isinstance(node, list):
            flat.setdefault(prefix or "_schema", []).extend(str(item) for item in node)
        else:
            flat.setdefault(prefix or "_schema", []).append(str(node))

    for location, messages in (data.get("messages") or {}).items():
        if isinstance(messages, dict):
            walk("", messages)
        else:
            walk(location, messages)
    return flat


def domain_error_body(err: UnionflowError) -> tuple[int, dict]:
    """A domain error's status and the inside of its ``{"error": …}`` body (also one batch item's)."""
    status, code = next((status, code) for cls, status, code in DOMAIN_ERRORS if isinstance(err, cls))
    body = {"code": code, "message": err.message, "fields": err.fields if isinstance(err, ValidationFailed) else {}}
    if isinstance(err, Conflict):
        current_version = _current_version(err)
        if current_version is not None:
            body["current_version"] = current_version
    if isinstance(err, ConditionFailed):
        body["reasons"] = err.reasons
    return status, body


def _current_version(err: Conflict) -> int | None:
    """The version a conflict reports: the one the engine saw was newer than the caller's, or,
    when the caller lost a race at the flush, the one that won. That is read here, after the
    request's unit of work (or the batch item's savepoint) rolled back: the failed transaction
    could not read it."""
    if err.current_version is None and err.case_id is not None:
        err.current_version = case_version(request_session(), err.case_id)
    return err.current_version


def handle_domain_error(err: UnionflowError):
    status, body = domain_error_body(err)
    if not is_api_request():
        return error_page(status, err.message)
    return error_response(status, **body)


def handle_unexpected_error(err: Exception):
    """A crash: logged with its traceback, answered as a plain 500 (JSON on /api/ paths)."""
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    if not is_api_request():
        return error_page(500)
    return handle_http_error(InternalServerError())


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(UnionflowError, handle_domain_error)
    app.register_error_handler(Exception, handle_unexpected_error)
