"""The API's blueprint: flask-smorest's, with an argument parser that reads a JSON body once.

Every JSON body is parsed before any view runs, through the bounded parser (web.bodies); webargs
would parse the raw bytes again with ``json.loads``. This parser takes the document Flask keeps
instead: one parse per request, and one parser that decides what a malformed body is.
"""
from __future__ import annotations

from flask_smorest import Blueprint as SmorestBlueprint
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request


class JSONOnceParser(FlaskParser):
    def _raw_load_json(self, req):
        # No JSON body (another type, or an empty one) is "missing", as webargs has it; a malformed
        # one was already refused (400) before the view.
        if not is_json_request(req) or not req.get_data(cache=True):
            return core.missing
        return req.get_json(cache=True)


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = JSONOnceParser()
