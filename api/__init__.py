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
from werkzeug.routing import IntegerConverter, UnicodeConverter

from api.auth import SECURITY, SECURITY_SCHEMES, authenticate_request
from api.docs import ChineseResponses, docs_page
from api.errors import register_error_handlers
from api.schemas import DocumentedSchemaRules, ErrorSchema
from engine.base.db import MAX_ROW_ID
from web.limits import configure_limits

API_PREFIX = "/api/v1"
# One module per resource, each with its flask-smorest blueprint ``blp``.
RESOURCE_MODULES = ("account", "definitions", "attachments", "records", "cases", "inbox", "rounds", "juries", "parameters", "notices", "admin", "audit", "calendar",
                    "notifications", "delegations", "copies")


class UnionflowApi(Api):
    """flask-smorest, documenting and answering errors in unionflow's one format."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        register_error_handlers(self._app)

    def _register_pagination_header(self):
        """Not ours: lists page by keyset (api.pagination), not by flask-smorest's header."""

    def register_blueprint(self, blp, *, parameters=None, **options):
        """Flask knows the API's blueprints as ``api_<name>``, leaving the plain names (cases,
        inbox, admin) to the pages' blueprints; the document keeps the plain name as the tag."""
        for endpoint_docs in blp._docs.values():  # flask-smorest's per-view doc store
            for method, operation in endpoint_docs.items():
                if method != "parameters" and operation.get("tags") is None:
                    operation["tags"] = [blp.name]
        flask_name = f"api_{blp.name}"
        self._app.extensions["flask-smorest"]["blp_name_to_api"][flask_name] = self
        self._app.register_blueprint(blp, name=flask_name, **options)
        blp.register_views_in_doc(self, self._app, self.spec, name=flask_name, parameters=parameters)
        self.spec.tag({"name": blp.name, "description": blp.description})


class RowIdConverter(IntegerConverter):
    """``<int:…>`` in every URL: an id the database's integer columns can hold.

    A larger number reads as 0, which no row has, so the view answers its own 404. Refusing it
    in the converter instead would overflow nothing but confuse werkzeug's matching: a path
    whose GET and POST sit in two views answered 405.
    """

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ROW_ID)  # documented as the parameter's maximum
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if number <= self.max else 0


class PathTextConverter(UnicodeConverter):
    """``<kind>``, ``<trigger>`` in every URL: any text but a NUL, which PostgreSQL's text
    cannot hold; a URL with one matches no route (404) instead of failing in the query."""

    def __init__(self, map, *args, **kwargs):
        super().__init__(map, *args, **kwargs)
        self.regex = self.regex.replace("[^/]", r"[^/\x00]", 1)


def register_api(app: Flask) -> None:
    app.config.update(
        API_TITLE="unionflow API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
    )
    # Before any route is added: a rule takes its converters when it is added.
    app.url_map.converters.update(int=RowIdConverter, default=PathTextConverter, string=PathTextConverter)
    api = UnionflowApi(app, spec_kwargs={
        "extra_plugins": [ChineseResponses(), DocumentedSchemaRules()],
        "info": {"description": "工会评选、帮扶、医疗互助与竞赛审批流程的 JSON 接口。时间为带时区偏移的 ISO 8601，金额为两位小数的字符串。"},
        "security": SECURITY,
    })
    api.spec.components.security_scheme("bearerToken", SECURITY_SCHEMES["bearerToken"])
    api.spec.components.security_scheme("browserSession", SECURITY_SCHEMES["browserSession"])
    for name in RESOURCE_MODULES:
        api.register_blueprint(import_module(f"api.{name}").blp)
    app.register_blueprint(docs_page)
    configure_limits(app)
    app.before_request(authenticate_request)
    app.extensions["unionflow_api"] = api
