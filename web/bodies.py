"""Request bodies in JSON, parsed once and bounded: a document nested past MAX_JSON_DEPTH is malformed
input (400, in Chinese), not a RecursionError in the parser."""
from __future__ import annotations

from flask import Request, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest

from engine.base.inputs import MAX_JSON_DEPTH, JSONTooDeep, load_json


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


def read_json_body() -> None:
    """Every JSON body is parsed once, through the bounded parser, before any view, extension
    or argument parser reads it; the API's argument parser (api.blueprint) takes the document
    Flask keeps from here instead of parsing the bytes again."""
    if request.is_json and request.get_data(cache=True):
        request.get_json()
