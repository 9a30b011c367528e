"""What unionflow accepts from outside, whichever face it came through: ids, text, JSON documents.

Both faces (the API and the pages) and the engine's own operations call these, so a rule
about input is stated once: an id too large for the integer columns, or a JSON document
nested deeper than any of ours, is refused here as bad input instead of failing further in
(a 500 from PostgreSQL, a RecursionError from the parser).
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime

from engine.base.db import MAX_ROW_ID
from engine.base.errors import ValidationFailed

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


# --- Text ------------------------------------------------------------------------------------------

# NUL (PostgreSQL's text cannot hold it) and lone UTF-16 surrogates (no UTF-8 encoding exists).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "不能包含无法保存的字符"
# Characters that are not text but instructions to whatever shows it, in no field at all: the C0
# controls but tab, newline and carriage return (ESC starts terminal sequences), DEL and the C1
# controls; the bidirectional marks, embeddings, overrides and isolates (U+202E shows "txt.exe"
# as "exe.txt"); line and paragraph separators; the byte order mark inside text, the invisible
# operators and deprecated format characters; interlinear annotations.
CONTROL = re.compile(r"[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e"
                     r"\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]")
CONTROL_MESSAGE = "不能包含控制字符"
# Allowed in multi-line text only (comments, opinions, objections, longtext fields).
LINE_BREAK = re.compile(r"[\t\n\r]")
LINE_BREAK_MESSAGE = "不能包含换行符或制表符"


def text_problem(text: str, *, multiline: bool = False) -> str | None:
    """Why ``text`` cannot be taken as a field's value, or None. Multi-line text may hold
    newlines and tabs; a single-line one (a name, a title, a number) may not."""
    if UNSTORABLE.search(text):
        return UNSTORABLE_MESSAGE
    if CONTROL.search(text):
        return CONTROL_MESSAGE
    if not multiline and LINE_BREAK.search(text):
        return LINE_BREAK_MESSAGE
    return None


def check_text(values: dict[str, str | None], *, multiline: bool = False) -> None:
    """Refuse, with a message on each field, the texts of ``values`` (field name → text)
    that ``text_problem`` finds fault with."""
    problems = {name: [problem] for name, text in values.items()
                if isinstance(text, str) and (problem := text_problem(text, multiline=multiline))}
    if problems:
        raise ValidationFailed(problems)


def clean_note(text: str | None, *, field: str, label: str, max_length: int,
               required_message: str | None = None) -> str | None:
    """A free text written to the trail (an opinion, a reason, an urge's note), stripped; None when
    empty. Refused with a message on ``field`` when empty but required (``required_message``),
    when it holds what cannot be stored, or when longer than ``max_length``."""
    value = (text or "").strip()
    if required_message and not value:
        raise ValidationFailed({field: [required_message]})
    check_text({field: value}, multiline=True)
    if len(value) > max_length:
        raise ValidationFailed({field: [f"{label}不能超过 {max_length} 个字"]})
    return value or None


# --- Dates ----------------------------------------------------------------------------------------

# No date a union's work can mean lies outside these: 9999-12-31 is a typing slip, not a
# birth date or the start of a standard. Fields may name a narrower range (engine.definitions.forms).
DATE_FLOOR = date(1900, 1, 1)
DATE_CEILING = date(2099, 12, 31)
DATE_RANGE_MESSAGE = f"日期应在 {DATE_FLOOR} 至 {DATE_CEILING} 之间"


def check_dates(values: dict[str, date | datetime | None]) -> None:
    """Refuse, on each field, the dates (or moments) of ``values`` outside DATE_FLOOR..DATE_CEILING."""
    problems = {name: [DATE_RANGE_MESSAGE] for name, value in values.items() if value is not None
                and not DATE_FLOOR <= (value.date() if isinstance(value, datetime) else value) <= DATE_CEILING}
    if problems:
        raise ValidationFailed(problems)


# --- JSON ------------------------------------------------------------------------------------------

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
