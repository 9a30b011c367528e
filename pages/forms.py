"""Forms generated from definition fields: reading a submitted HTML form into the raw values
the engine validates, and showing stored values (and uploaded files) in inputs again.

The engine does all checking (engine.definitions.forms): this module only turns browser strings into
the shape the API would send. An emptied input is ``None``, so the engine clears the field
on a draft and reports a required one with its own message.

Naming in the HTML (templates/_fields.html): the input of field ``name`` is called
``prefix + name``; a file field's new files come in ``request.files`` under that name, and
the files it keeps are checkboxes of that name carrying attachment ids.

Usage in a view (a transition's inputs, a record, a case form)::

    values = read_form(spec.inputs, request.form, prefix="in-")
    uploads = chosen_files(spec.inputs, request.files, prefix="in-")
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage, MultiDict

from engine.base.inputs import parse_row_id
from engine.definitions.forms import resolved_bound
from engine.definitions.spec import CHECKLIST_ANSWERS, CHECKLIST_NOTE_LENGTH, Definition, FieldSpec


def read_form(specs: Iterable[FieldSpec], form: Mapping, files: Mapping | None = None, *,
              prefix: str = "") -> dict:
    """The submitted values of ``specs`` as the engine's ``form`` / ``inputs`` expect them.

    Scalar fields: the stripped string, ``None`` when blank, absent when the form does not
    carry the input at all (so a partial form changes only what it shows). File fields: the
    attachment ids the form keeps (its checkboxes), ``[]`` when every file was unticked,
    absent when the form listed none; ``files`` is not read here (see ``chosen_files``:
    new files become ids only once uploaded into a case).
    """
    form = form if isinstance(form, MultiDict) else MultiDict(form)
    values: dict = {}
    for spec in specs:
        key = prefix + spec.name
        if key not in form:
            continue
        if spec.type == "file":
            values[spec.name] = [_attachment_id(raw) for raw in form.getlist(key) if raw.strip()]
            continue
        if spec.type == "checklist":
            values[spec.name] = _checklist(spec, form, key)
            continue
        text = form.get(key, "")
        # Browsers send CRLF in textareas; stored text uses plain newlines.
        text = text.replace("\r\n", "\n").strip()
        values[spec.name] = text or None
    return values


def chosen_files(specs: Iterable[FieldSpec], files: Mapping | None, *,
                 prefix: str = "") -> dict[str, list[FileStorage]]:
    """The new files picked in each file field's ``<input type=file multiple>`` (empty picks left out)."""
    if not files:
        return {}
    chosen = {}
    for spec in specs:
        if spec.type != "file":
            continue
        picked = [upload for upload in files.getlist(prefix + spec.name) if upload and upload.filename]
        if picked:
            chosen[spec.name] = picked
    return chosen


def display_values(specs: Iterable[FieldSpec], stored: Mapping | None, *, prefix: str = "") -> dict[str, str]:
    """Stored form data (JSON: strings, numbers, ISO dates) as the strings inputs show, keyed
    by input name like a submitted form. File fields are left out (see ``file_lists``)."""
    stored = stored or {}
    shown = {}
    for spec in specs:
        value = stored.get(spec.name)
        if spec.type == "file" or value is None:
            continue
        if spec.type == "checklist":
            for item, entry in value.items():
                shown[f"{prefix}{spec.name}.{item}"] = entry.get("answer") or ""
                shown[f"{prefix}{spec.name}.{item}.note"] = entry.get("note") or ""
            continue
        shown[prefix + spec.name] = str(value)
    return shown


def _checklist(spec: FieldSpec, form: MultiDict, key: str) -> dict | None:
    """A checklist's answers: ``key.item`` is the item's answer (a radio), ``key.item.note`` its note."""
    answers = {}
    for item, _label in spec.choices:
        answer = form.get(f"{key}.{item}", "").strip()
        note = form.get(f"{key}.{item}.note", "").replace("\r\n", "\n").strip()
        if answer or note:
            answers[item] = {"answer": answer or None} | ({"note": note} if note else {})
    return answers or None


@dataclass(frozen=True)
class ListedFile:
    """A file already in a file field, shown as a ticked checkbox (untick to take it out)."""

    id: int
    filename: str
    size_bytes: int
    kept: bool


@dataclass(frozen=True)
class RequiredDocument:
    """One line of the checklist of documents a case needs: present once a file is kept in its field."""

    spec: FieldSpec
    present: bool


def document_checklist(definition: Definition, files: Mapping[str, list[ListedFile]] | None) -> list[RequiredDocument]:
    """The definition's required documents, each present or missing in ``files`` (``file_lists``;
    None for a case not saved yet: nothing uploaded)."""
    files = files or {}
    return [RequiredDocument(spec, any(file.kept for file in files.get(spec.name, ())))
            for spec in definition.required_documents]


def file_lists(specs: Iterable[FieldSpec], stored: Mapping | None, attachments: Iterable,
               submitted: Mapping | None = None, *, prefix: str = "") -> dict[str, list[ListedFile]]:
    """Per file field, the files it holds now (``stored`` ids, described by ``attachments``,
    e.g. engine.cases.attachments.attachments_of). With ``submitted`` (a form shown again after an
    error), a file is ticked only if that form kept it."""
    stored = stored or {}
    by_id = {attachment.id: attachment for attachment in attachments}
    if submitted is not None and not isinstance(submitted, MultiDict):
        submitted = MultiDict(submitted)
    lists = {}
    for spec in specs:
        if spec.type != "file":
            continue
        kept = None
        if submitted is not None and prefix + spec.name in submitted:
            kept = {raw.strip() for raw in submitted.getlist(prefix + spec.name)}
        lists[spec.name] = [
            ListedFile(attachment.id, attachment.filename, attachment.size_bytes,
                       kept is None or str(attachment.id) in kept)
            for attachment_id in stored.get(spec.name) or []
            if (attachment := by_id.get(attachment_id)) is not None
        ]
    return lists


@dataclass(frozen=True)
class SummaryEntry:
    """One place to mend in a refused form: the input it links to (None: the form as a whole)."""

    anchor: str | None
    label: str | None
    message: str


def error_summary(specs: Iterable[FieldSpec], errors: Mapping[str, list[str]], *, prefix: str = "",
                  labels: Mapping[str, str] | None = None, reasons: Iterable[str] = ()) -> list[SummaryEntry]:
    """Everything a refused form must mend, in the order the form shows it: each field with its
    messages (linking to its input, ``#f-<prefix><name>``), the form's own inputs named in
    ``labels`` (a round, a comment), then messages about the form as a whole and the reasons a
    rule gave."""
    labels = labels or {}
    entries = [SummaryEntry(f"f-{prefix}{name}", label, "；".join(errors[name]))
               for name, label in labels.items() if name == "round_id" and name in errors]
    known = set(labels)
    for spec in specs:
        known.add(spec.name)
        if spec.name in errors:
            entries.append(SummaryEntry(f"f-{prefix}{spec.name}", spec.label, "；".join(errors[spec.name])))
    entries += [SummaryEntry(f"f-{prefix}{name}", label, "；".join(errors[name]))
                for name, label in labels.items() if name != "round_id" and name in errors]
    entries += [SummaryEntry(None, None, message) for name, messages in errors.items() if name not in known
                for message in messages]
    entries += [SummaryEntry(None, None, reason) for reason in reasons]
    return entries


def limits_text(spec: FieldSpec) -> list[str]:
    """What the field accepts, in words: format, length, range, file limits (for the hint line)."""
    shown = []
    if spec.type in ("text", "longtext") and spec.max_length:
        shown.append(_("最多 %(n)s 个字", n=spec.max_length))
    elif spec.type == "id_number":
        shown.append(_("18 位居民身份证号码，最后一位可为 X"))
    elif spec.type == "phone":
        shown.append(_("11 位手机号，或带区号的固定电话"))
    elif spec.type == "date":
        shown.append(_("格式：年-月-日，例如 2026-05-01"))
    elif spec.type == "integer":
        shown.append(_("整数"))
    elif spec.type == "money":
        shown.append(_("单位：元，最多两位小数"))
    elif spec.type == "decimal":
        shown.append(_("最多 %(n)s 位小数", n=spec.places))
    elif spec.type == "file":
        shown += [_("最多 %(n)s 个文件", n=spec.max_files), _("每个不超过 %(mb)s MB", mb=spec.max_size_mb),
                  _("格式：%(types)s", types="、".join(spec.accept))]
    if spec.derived_from:
        shown.append(_("留空则按身份证号码自动填写"))
    low, high = (None if bound is None else resolved_bound(bound) for bound in (spec.min, spec.max))
    if low is not None and high is not None:
        shown.append(_("范围：%(low)s 至 %(high)s", low=low, high=high))
    elif low is not None:
        shown.append(_("不小于 %(low)s", low=low))
    elif high is not None:
        shown.append(_("不大于 %(high)s", high=high))
    return shown


def checklist_answers() -> list[tuple[str, str]]:
    """A checklist item's answers (engine.definitions.spec.CHECKLIST_ANSWERS) in the page's language."""
    labels = {"no": _("否"), "yes": _("是")}
    return [(value, labels[value]) for value, _label in CHECKLIST_ANSWERS]


def checklist_note_length() -> int:
    return CHECKLIST_NOTE_LENGTH


def _attachment_id(raw: str):
    text = raw.strip()
    # A non-number (or one no id column holds) goes to the engine as it is, which answers
    # "附件编号不正确".
    return parse_row_id(text) or text
