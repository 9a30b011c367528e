"""The English catalog: complete, compiled, and covering the engine's labels."""
from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from engine.audit.system_log import SYSTEM_EVENT_LABELS
from engine.cases.case import EVENT_LABELS
from engine.definitions.spec import STATE_KIND_LABELS
from engine.org.units import LEVEL_LABELS, ROLE_LABELS, UNIT_KIND_LABELS
from engine.procedures.notices import OBJECTOR_KINDS, STATUS_LABELS
from web.i18n import ENGINE_LABELS

CATALOG = Path(__file__).resolve().parents[2] / "web/translations/en/LC_MESSAGES/messages"


def test_every_engine_label_shown_on_pages_is_marked_for_translation():
    engine_labels = {*ROLE_LABELS.values(), *LEVEL_LABELS.values(), *UNIT_KIND_LABELS.values(),
                     *STATE_KIND_LABELS.values(), *EVENT_LABELS.values(), *OBJECTOR_KINDS.values(),
                     *STATUS_LABELS.values(), *SYSTEM_EVENT_LABELS.values()}
    assert engine_labels - set(ENGINE_LABELS) == set()


def test_every_message_has_an_english_translation_and_the_compiled_catalog_is_current():
    with open(f"{CATALOG}.po", "rb") as file:
        source = read_po(file, locale="en")
    untranslated = [message.id for message in source if message.id and not message.string]
    assert untranslated == [], "translate these in messages.po (make translations extracts new ones)"
    with open(f"{CATALOG}.mo", "rb") as file:
        compiled = read_mo(file)
    stale = [message.id for message in source
             if message.id and (compiled.get(message.id) is None or compiled[message.id].string != message.string)]
    assert stale == [], "messages.mo is older than messages.po: run make"


def test_every_text_marked_in_the_pages_is_in_the_catalog():
    root = CATALOG.parents[3].parent
    method_map = [("pages/**.py", "python"), ("web/**.py", "python"), ("unionflow/**.py", "python"),
                  ("web/templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "_l": None, "N_": None}
    marked = {message for _file, _line, message, _comments, _context in
              extract_from_dir(root, method_map, keywords=keywords, directory_filter=_only_web)}
    assert "登录" in marked  # the extraction found the templates
    with open(f"{CATALOG}.po", "rb") as file:
        known = {message.id for message in read_po(file, locale="en") if message.id}
    assert sorted(marked - known) == [], "run make translations and translate the new entries"


def _only_web(dirpath: str) -> bool:
    return "/." not in dirpath and "node_modules" not in dirpath
