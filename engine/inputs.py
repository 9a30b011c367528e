"""What unionflow accepts from outside, whichever face it came through: ids, JSON documents.

Both faces (the API and the pages) and the engine's own operations call these, so a rule
about input is stated once: an id too large for the integer columns, or a JSON document
nested deeper than any of ours, is refused here as bad input instead of failing further in
(a 500 from PostgreSQL, a RecursionError from the parser).
"""
from __future__ import annotations

import json
import re

from engine.db import MAX_ROW_ID

# No document unionflow reads nests deeper than a few levels (a form inside a request, a
# parameter set's table); 32 leaves room and stays far below Python's recursion limit.
MAX_JSON_DEPTH = 32


def parse_row_id(text: str | None) -> int | None:
    """An id that came from outside as text (a token, a query parameter, a form field): the
    number when it is ASCII digits naming an id the columns can hold (1 to MAX_ROW_ID), else
    None, which finds no row. ``str.isdigit`` alone is not enough: "²" is a digit to it and
    an error to ``int``, and "99999999999" fails in PostgreSQL's query."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > len(str(MAX_ROW_ID)):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ROW_ID else None


# A JSON string (skipped: brackets inside it do not nest) or one bracket.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]++|\\.)*+"?|[\[\]{}]')


class JSONTooDeep(json.JSONDecodeError):
    """A document nested deeper than MAX_JSON_DEPTH: invalid input like any malformed JSON."""

    def __init__(self, document: str, position: int = 0):
        super().__init__(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", document, position)


def load_json(document: str | bytes, **kwargs):
    """``json.loads`` that refuses a document nested deeper than MAX_JSON_DEPTH (JSONTooDeep,
    a ``ValueError`` as every malformed document raises)."""
    text = document.decode("utf-8") if isinstance(document, (bytes, bytearray)) else document
    too_deep = _depth_beyond(text, MAX_JSON_DEPTH)
    if too_deep is not None:
        raise JSONTooDeep(text, too_deep)
    return json.loads(text, **kwargs)


def _depth_beyond(text: str, limit: int) -> int | None:
    """Where brackets outside strings first open past ``limit`` levels, or None. Checked before
    parsing: the parser itself recurses, and fails with RecursionError near 1,000 levels."""
    depth = 0
    for token in _STRING_OR_BRACKET.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth > limit:
                return token.start()
        elif char in "]}":
            depth -= 1
    return None
