"""JSON API, version 1, mounted at /api/v1.

Views are thin: parse and validate with a marshmallow schema, check who is calling, call
one engine operation, commit once, dump with a schema. The OpenAPI 3.1 document is
generated from the same schemas (flask-smorest) and served at /api/v1/openapi.json, with
a page for people at /api/v1/docs. Every /api/ URL (unknown routes and wrong methods
included) answers errors in one JSON format; see api.errors.
"""
from __future__ import annotations

from importlib import import_module

from flask import Flask
from flask_smorest import Api

from api.auth import SECURITY, SECURITY_SCHEMES, authenticate_request
from api.errors import register_error_handlers
from api.limits import limiter
from api.schemas import ErrorSchema

API_PREFIX = "/api/v1"
# One module per resource, each with its flask-smorest blueprint ``blp``.
RESOURCE_MODULES = ("account", "definitions")


class UnionflowApi(Api):
    """flask-smorest, documenting and answering errors in unionflow's one format."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        register_error_handlers(self._app)


def register_api(app: Flask) -> None:
    app.config.update(
        API_TITLE="unionflow API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
    )
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.extensions["unionflow"].settings.rate_limit_storage)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    api = UnionflowApi(app, spec_kwargs={
        "info": {"description": "工会评选、帮扶、医疗互助与竞赛审批流程的 JSON 接口。时间为带时区偏移的 ISO 8601，金额为两位小数的字符串。"},
        "security": SECURITY,
    })
    api.spec.components.security_scheme("bearerToken", SECURITY_SCHEMES["bearerToken"])
    api.spec.components.security_scheme("browserSession", SECURITY_SCHEMES["browserSession"])
    for name in RESOURCE_MODULES:
        api.register_blueprint(import_module(f"api.{name}").blp)
    limiter.init_app(app)
    app.before_request(authenticate_request)
    app.extensions["unionflow_api"] = api
