"""JSON API, version 1, mounted at /api/v1.

Views are thin: read the request, call the engine, dump with a marshmallow schema.
Every /api/ URL (unknown routes and wrong methods included) answers errors in one
JSON format; see api.errors.
"""
from __future__ import annotations

from flask import Blueprint, Flask

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")

from api import definitions  # noqa: E402,F401 - registers the views on the blueprint
from api.errors import register_error_handlers  # noqa: E402


def register_api(app: Flask) -> None:
    app.register_blueprint(blueprint)
    register_error_handlers(app)
