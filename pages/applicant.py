"""Applicant pages: start a case from its definition's form, fill in and resubmit a draft,
upload files, and follow one's own cases.

Each POST is one unit of work (``committing``): creating a case and submitting it, or saving
a draft, uploading its new files and resubmitting it, either all happen or nothing is
written and the form comes back with the engine's messages next to the fields.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import UnprocessableEntity

from engine.base.db import utcnow
from engine.base.errors import ConditionFailed, Conflict, NotFound, ValidationFailed
from engine.base.inputs import parse_row_id
from engine.cases.attachments import FileTooLarge, UnsupportedFileType, attach_file, attachments_of
from engine.cases.case import Case
from engine.cases.permissions import get_case, sees_personal_data
from engine.definitions.forms import masked_personal_data, missing_in
from engine.definitions.spec import RETURN_POINT, Definition, TransitionSpec
from engine.definitions.store import list_kinds
from engine.operations.transitions import MAX_COMMENT_LENGTH, create_draft, perform_action, update_draft
from engine.org.units import Actor, OrgUnit, unit_chain
from engine.procedures.rounds import Round, listed_items, visible_rounds
from engine.reading.amounts import granted_amount
from engine.reading.case_views import case_view
from engine.reading.my_cases import MyCaseRow, my_case_rows, waiting_for_me_count
from pages.forms import chosen_files, display_values, document_checklist, error_summary, file_lists, read_form
from web.auth import current_actor, role_required
from web.database import committing, request_session
from web.files import file_store, read_upload
from web.localtime import local_time
from web.paging import decode_cursor, encode_cursor

bp = Blueprint("applicant", __name__)

PAGE_SIZE = 20


# --- Starting a case ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Startable:
    definition: Definition
    rounds: list[Round]  # the open rounds a case of a kind with rounds may go into


@bp.route("/cases/new")
@role_required("applicant")
def new_case():
    session, actor = request_session(), current_actor()
    return render_template("applicant/new_case.html", kinds=_startable_kinds(session, actor),
                           unit_name=actor.grants[0].unit_name)


@bp.route("/cases/new/<kind>", methods=["GET", "POST"])
@role_required("applicant")
def start_case(kind: str):
    session, actor = request_session(), current_actor()
    startable = _startable(session, actor, kind)
    definition = startable.definition
    if request.method == "GET":
        return _start_page(startable, values={"round_id": request.args.get("round", "")})
    values = read_form(definition.fields, request.form)
    uploads = chosen_files(definition.fields, request.files)
    submit = request.form.get("intent") == "submit"
    try:
        with committing() as session:
            case = create_draft(session, actor, kind, form=values, round_id=_round_id(request.form.get("round_id")))
            _upload(session, actor, case, uploads)
            if submit:
                _send_on(session, actor, case, expected_version=case.version)
    except (ValidationFailed, ConditionFailed) as err:
        refusal = _Refusal.of(err, definition, values, uploads, submit, _listed(session, definition, request.form))
        case, file_errors = _draft_with_uploads(session, actor, definition, values, refusal.errors, uploads)
        if case is not None:
            return _edit_page(session, actor, case, definition, submitted=request.form,
                              errors=file_errors | refusal.errors, problem=refusal.problem, reasons=refusal.reasons,
                              uploads_kept=True, uploads_lost=bool(file_errors), status=refusal.status)
        return _start_page(startable, values=request.form, errors=file_errors | refusal.errors,
                           problem=refusal.problem, reasons=refusal.reasons, uploads_lost=bool(uploads),
                           status=refusal.status)
    if submit:
        flash(_("已提交：%(title)s", title=case.title), "success")
        return redirect(_case_url(case.id))
    flash(_("草稿已保存，可以继续填写或上传附件"), "success")
    return redirect(url_for("applicant.edit_case", case_id=case.id))


def _start_page(startable: Startable, *, values, errors=None, problem=None, reasons=(), uploads_lost=False,
                status=200):
    definition = startable.definition
    round_id = parse_row_id(str(values.get("round_id") or ""))
    if round_id is None and len(startable.rounds) == 1:
        round_id = startable.rounds[0].id
    return render_template(
        "applicant/case_form.html", definition=definition, case=None, rounds=startable.rounds,
        values=values, errors=errors or {}, problem=problem, reasons=reasons, uploads_lost=uploads_lost,
        files=None, documents=document_checklist(definition, None), notes={}, returned=None,
        forward=_forward_transition(definition, definition.initial_state.id),
        action=url_for("applicant.start_case", kind=definition.kind), comment_required=False,
        max_comment=MAX_COMMENT_LENGTH, checklists=listed_items(request_session(), definition, round_id),
        summary=error_summary(definition.fields, errors or {}, reasons=reasons, labels=_other_labels()),
    ), status


@dataclass(frozen=True)
class _Refusal:
    """A refused save or submission, as the form shows it: every field's message at once."""

    errors: dict
    problem: str
    reasons: list
    status: int

    @classmethod
    def of(cls, err, definition: Definition, values: dict, uploads: dict, submit: bool, listed: dict) -> "_Refusal":
        if isinstance(err, ConditionFailed):
            return cls({}, err.message, err.reasons, 422)
        errors = _with_empty_required(definition, values, uploads, err, listed) if submit else err.fields
        return cls(errors, err.message, [], _status_of(err))


def _listed(session: Session, definition: Definition, form) -> dict:
    """The checklist items a new case answers: those of the round chosen in ``form``."""
    return listed_items(session, definition, parse_row_id(str(form.get("round_id") or "")))


def _draft_with_uploads(session: Session, actor: Actor, definition: Definition, values: dict, errors: dict,
                        uploads: dict) -> tuple[Case | None, dict]:
    """A new form refused with files chosen: saved as a draft anyway (the applicant's own, with
    what passed) so the files are kept, not chosen again. Returns the draft (None when no file
    could be kept, or no draft made: then nothing is written) and the files' own errors."""
    if not uploads:
        return None, {}
    passed = {name: value for name, value in values.items() if name not in errors}
    try:
        with committing() as session:
            case = create_draft(session, actor, definition.kind, form=passed,
                                round_id=_round_id(request.form.get("round_id")))
            kept, file_errors = _attach_each(session, actor, case, uploads)
            if not kept:
                raise _NothingKept(file_errors)
    except _NothingKept as nothing:
        return None, nothing.errors
    except (ValidationFailed, ConditionFailed):
        return None, {}
    return case, file_errors


def _keep_uploads(actor: Actor, case: Case, uploads: dict[str, list[FileStorage]]) -> tuple[dict, dict]:
    """Attach the files chosen in a refused save to the draft it was refused for (one unit of
    work after the refusal's rollback)."""
    if not uploads:
        return {}, {}
    with committing() as session:
        return _attach_each(session, actor, case, uploads)


class _NothingKept(Exception):
    def __init__(self, errors: dict):
        super().__init__()
        self.errors = errors


def _attach_each(session: Session, actor: Actor, case: Case,
                 uploads: dict[str, list[FileStorage]]) -> tuple[dict[str, list[int]], dict[str, list[str]]]:
    """Attach each file in its own savepoint: one refused for its size or type is reported by
    name, the others are kept. Returns the kept ids and the errors, by field."""
    kept: dict[str, list[int]] = {}
    errors: dict[str, list[str]] = {}
    for field_name, files in uploads.items():
        for upload in files:
            upload.stream.seek(0)  # read once already by the refused attempt
            filename, content_type, data = read_upload(upload)
            try:
                with session.begin_nested():
                    attachment = attach_file(session, actor, case, field_name, filename=filename,
                                             content_type=content_type, data=data, store=file_store(),
                                             expected_version=case.version)
            except ValidationFailed as err:
                errors.setdefault(field_name, []).extend(
                    f"{upload.filename}：{message}" for messages in err.fields.values() for message in messages)
                continue
            kept.setdefault(field_name, []).append(attachment.id)
    return kept, errors


def _startable_kinds(session: Session, actor: Actor) -> list[Startable]:
    grant = actor.grants[0]
    unit = session.get(OrgUnit, grant.unit_id)
    levels = set(unit_chain(session, unit))
    kinds = []
    for definition in list_kinds(session):
        if definition.started_from_case or definition.origin_level != grant.unit_level:
            continue
        # create_draft refuses a kind whose chain needs a level this unit has no superior at.
        if not definition.levels_used() <= levels:
            continue
        kinds.append(Startable(definition, _open_rounds(session, actor, definition, unit)))
    return kinds


def _startable(session: Session, actor: Actor, kind: str) -> Startable:
    for startable in _startable_kinds(session, actor):
        if startable.definition.kind == kind:
            return startable
    raise NotFound(_("没有这种业务，或您当前的身份不能发起它"))


def _open_rounds(session: Session, actor: Actor, definition: Definition, unit: OrgUnit) -> list[Round]:
    """The rounds open now that a case started at ``unit`` may go into (see rounds.round_open_for)."""
    if not definition.uses_rounds:
        return []
    now = utcnow()
    rounds = []
    for round_ in visible_rounds(session, actor, definition.kind):
        opener = session.get(OrgUnit, round_.unit_id)
        if unit.path.startswith(opener.path) and round_.opens_dt <= now < round_.closes_dt:
            rounds.append(round_)
    return rounds


def _round_id(raw: str | None) -> int | None:
    text = (raw or "").strip()
    if not text:
        return None
    round_id = parse_row_id(text)
    if round_id is None:
        raise ValidationFailed({"round_id": [_("请选择评选批次")]})
    return round_id


# --- Editing a draft or a returned case -----------------------------------------------------------

@bp.route("/cases/<int:case_id>/edit", methods=["GET", "POST"])
@role_required("applicant")
def edit_case(case_id: int):
    session, actor = request_session(), current_actor()
    case = get_case(session, actor, case_id)
    definition = case.definition
    if not _editable(definition, case):
        flash(_("案件处于「%(state)s」，不能再修改", state=definition.state(case.state).label), "warning")
        return redirect(_case_url(case.id))
    if request.method == "GET":
        return _edit_page(session, actor, case, definition)
    return _save(session, actor, case, definition, submit=request.form.get("intent") == "submit")


@bp.route("/cases/<int:case_id>/attachments", methods=["POST"])
@role_required("applicant")
def upload(case_id: int):
    """Upload into a draft's file field(s): the edit form's 上传 button posts here (its other
    changes are saved with it); a bare ``field``, ``version`` and files work as well."""
    session, actor = request_session(), current_actor()
    case = get_case(session, actor, case_id)
    definition = case.definition
    if not _editable(definition, case):
        flash(_("案件处于「%(state)s」，不能再上传附件", state=definition.state(case.state).label), "warning")
        return redirect(_case_url(case.id))
    field = request.form.get("field", "")
    if not any(spec.name == field and spec.type == "file" for spec in definition.fields):
        flash(_("请选择要上传到哪一项附件"), "error")
        return redirect(url_for("applicant.edit_case", case_id=case.id))
    if not chosen_files(definition.fields, request.files):
        return _edit_page(session, actor, case, definition, submitted=request.form,
                          errors={field: [_("请选择要上传的文件")]}, status=422)
    return _save(session, actor, case, definition, submit=False, anchor=f"f-{field}")


def _save(session: Session, actor: Actor, case: Case, definition: Definition, *, submit: bool, anchor: str = ""):
    values = _kept_personal_data(actor, case, definition, read_form(definition.fields, request.form))
    uploads = chosen_files(definition.fields, request.files)
    comment = request.form.get("comment")
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        abort(400, description=_("表单缺少案件版本号，请刷新页面后重新填写"))
    try:
        with committing() as session:
            update_draft(session, actor, case, values, expected_version=version)
            _upload(session, actor, case, uploads)
            if submit:
                _send_on(session, actor, case, expected_version=case.version, comment=comment)
    except (ValidationFailed, ConditionFailed) as err:
        refusal = _Refusal.of(err, definition, values, uploads, submit,
                              listed_items(session, definition, case.round_id))
        kept, file_errors = _keep_uploads(actor, case, uploads)
        submitted = MultiDict(request.form)
        for field_name, ids in kept.items():
            submitted.setlist(field_name, [*submitted.getlist(field_name), *map(str, ids)])
        return _edit_page(session, actor, case, definition, submitted=submitted,
                          errors=file_errors | refusal.errors, problem=refusal.problem, reasons=refusal.reasons,
                          uploads_kept=bool(kept), uploads_lost=bool(file_errors), status=refusal.status)
    except Conflict as err:
        # Shown again with what they typed; saving once more applies it to the current version.
        return _edit_page(session, actor, case, definition, submitted=request.form,
                          problem=err.message + _("。您填写的内容仍在下面，请核对后重新保存。"),
                          uploads_lost=bool(uploads), status=409)
    if submit:
        flash(_("已提交：%(title)s", title=case.title), "success")
        return redirect(_case_url(case.id))
    if uploads:
        flash(_("已保存，上传了 %(n)s 个文件", n=sum(len(files) for files in uploads.values())), "success")
    else:
        flash(_("草稿已保存"), "success")
    target = url_for("applicant.edit_case", case_id=case.id)
    return redirect(f"{target}#{anchor}" if anchor else target)


def _edit_page(session: Session, actor: Actor, case: Case, definition: Definition, *, submitted=None,
               errors=None, problem=None, reasons=(), uploads_lost=False, uploads_kept=False, status=200):
    view = case_view(session, actor, case)
    full = sees_personal_data(actor, case)
    stored = case.form_data if full else masked_personal_data(definition.fields, case.form_data)
    notes = {}
    if not full:
        # The applicant reads ID numbers back masked: the input stays empty and keeps the stored value.
        for spec in definition.fields:
            if spec.is_personal and case.form_data.get(spec.name):
                stored = {name: value for name, value in stored.items() if name != spec.name}
                notes[spec.name] = _("已填写：%(masked)s；留空则保持不变", masked=view["form"][spec.name])
    values = submitted if submitted is not None else display_values(definition.fields, stored)
    files = file_lists(definition.fields, case.form_data, attachments_of(session, actor, case), submitted)
    forward = _forward_transition(definition, case.state)
    return render_template(
        "applicant/case_form.html", definition=definition, case=case, view=view, rounds=[],
        values=values, errors=errors or {}, problem=problem, reasons=reasons, uploads_lost=uploads_lost,
        files=files, documents=document_checklist(definition, files), notes=notes, returned=_returned(view, case),
        forward=forward, uploads_kept=uploads_kept,
        action=url_for("applicant.edit_case", case_id=case.id),
        comment_required=bool(forward and forward.comment_required), max_comment=MAX_COMMENT_LENGTH,
        checklists=listed_items(session, definition, case.round_id),
        summary=error_summary(definition.fields, errors or {}, reasons=reasons, labels=_other_labels()),
    ), status


def _editable(definition: Definition, case: Case) -> bool:
    return definition.state(case.state).kind == "draft"


def _kept_personal_data(actor: Actor, case: Case, definition: Definition, values: dict) -> dict:
    """A masked field left empty keeps its stored value (the applicant never saw it in full)."""
    if sees_personal_data(actor, case):
        return values
    return {name: value for name, value in values.items()
            if not (value is None and definition.field(name).is_personal and case.form_data.get(name))}


@dataclass(frozen=True)
class Returned:
    reason: str | None
    by: str
    at: datetime
    state_label: str


def _returned(view: dict, case: Case) -> Returned | None:
    """Why a returned case is back with the applicant: the transition that sent it back."""
    if view["state_kind"] != "draft" or case.return_state is None:
        return None
    arrival = next((entry for entry in reversed(view["timeline"])
                    if entry["to_state"] == case.state and entry["from_state"] != case.state), None)
    if arrival is None:
        return None
    who = "".join(part for part in (arrival["unit_name"], arrival["actor_role_label"]) if part)
    if arrival["actor_name"]:
        who = f"{who} {arrival['actor_name']}".strip()
    return Returned(arrival["comment"], who, local_time(arrival["at"]), arrival["from_state_label"] or "")


def _other_labels() -> dict[str, str]:
    """The form's own inputs that are no definition field, as the error summary names them."""
    return {"round_id": _("评选批次"), "comment": _("修改说明")}


# --- Engine calls shared by the forms -------------------------------------------------------------

def _forward_transition(definition: Definition, state_id: str) -> TransitionSpec | None:
    """The transition by which the applicant sends a draft on for review (submit, resubmit...):
    from this draft state, fired by an applicant, to a review state rather than a final one."""
    for spec in definition.transitions:
        if state_id not in spec.sources or spec.timer:
            continue
        if not any(getattr(party, "role", None) == "applicant" for party in definition.parties_for(spec, state_id)):
            continue
        if spec.dest == RETURN_POINT or definition.state(spec.dest).kind in ("review", "notice"):
            return spec
    return None


def _send_on(session: Session, actor: Actor, case: Case, *, expected_version: int, comment: str | None = None) -> None:
    definition = case.definition
    forward = _forward_transition(definition, case.state)
    if forward is None:
        raise ValidationFailed({"_form": [_("此案件在当前环节不能提交")]})
    perform_action(session, actor, case, forward.trigger, expected_version=expected_version, comment=comment)


def _upload(session: Session, actor: Actor, case: Case, uploads: dict[str, list[FileStorage]]) -> None:
    store = file_store()
    for field_name, files in uploads.items():
        for upload in files:
            filename, content_type, data = read_upload(upload)
            attach_file(session, actor, case, field_name, filename=filename, content_type=content_type,
                        data=data, store=store, expected_version=case.version)


def _with_empty_required(definition: Definition, values: dict, uploads: dict, err: ValidationFailed,
                         listed: dict) -> dict:
    """A submission refused for its formats names its empty required fields too: the draft is
    checked whole only once it saved, so they would come in a second round."""
    filled = {name: value for name, value in values.items() if value not in (None, "", [])}
    return missing_in(definition.fields, filled | dict.fromkeys(uploads, True), listed) | err.fields


def _status_of(err: ValidationFailed) -> int:
    if isinstance(err, FileTooLarge):
        return 413
    if isinstance(err, UnsupportedFileType):
        return 415
    return 422


# --- My cases -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CaseRow:
    """A row of 「我的申报」: the engine's row (engine.reading.my_cases) with its labels."""

    mine: MyCaseRow
    kind_label: str
    state_label: str
    state_kind: str
    updated: str
    editable: bool
    returned: bool
    amount: Decimal | None = None  # granted on approval (aid, subsidy)

    @property
    def case(self) -> Case:
        return self.mine.case


@bp.route("/my/cases", endpoint="my_cases")
@role_required("applicant")
def my_cases_page():
    """The applicant's cases, those waiting for him first (``todo=1``: only those)."""
    session, actor = request_session(), current_actor()
    kinds = {definition.kind: definition for definition in list_kinds(session)}
    kind = request.args.get("kind") or None
    state = request.args.get("state") or None
    if kind is not None and kind not in kinds:
        kind = None
    todo = request.args.get("todo") == "1"
    filters = {name: value for name, value in (("kind", kind), ("state", state), ("todo", "1" if todo else None))
               if value}
    error = None
    try:
        found = my_case_rows(session, actor, kind=kind, state=state, waiting_for_me=todo,
                             after=_my_cases_after(request.args.get("after")), limit=PAGE_SIZE + 1)
    except ValidationFailed:
        found, error = [], _("分页参数无效，请从第一页重新查看")
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    next_url = url_for("applicant.my_cases", **filters, after=encode_cursor(list(found[-1].sort_key))) if more else None
    rows = [_row(row) for row in found]
    return render_template(
        "applicant/my_cases.html", rows=rows, kinds=kinds, shows_amount=any(row.amount is not None for row in rows),
        states=_state_choices([kinds[kind]] if kind else list(kinds.values())), kind=kind, state=state, todo=todo,
        waiting_count=waiting_for_me_count(session, actor), error=error, next_url=next_url,
        first_page=not request.args.get("after"), first_url=url_for("applicant.my_cases", **filters),
    ), 422 if error else 200


def _my_cases_after(cursor: str | None) -> tuple[int, int] | None:
    try:
        key = decode_cursor(cursor, 2)
    except UnprocessableEntity:
        raise ValidationFailed({"after": [_("分页参数无效，请从第一页重新查看")]}) from None
    return tuple(key) if key is not None else None


def _row(row: MyCaseRow) -> CaseRow:
    definition = row.case.definition
    state = definition.state(row.case.state)
    return CaseRow(row, definition.label, state.label, state.kind, local_time(row.case.updated_dt),
                   state.kind == "draft", state.kind == "draft" and row.case.return_state is not None,
                   granted_amount(row.case))


def _state_choices(definitions: list[Definition]) -> dict[str, str]:
    """The stages to filter by, id -> label. A state id shared by kinds (draft) is one choice; two
    ids with one label (异议裁定 of hardship aid and of competition results) name their kinds."""
    owners: dict[str, tuple[str, str]] = {}
    for definition in definitions:
        for spec in definition.states:
            owners.setdefault(spec.id, (spec.label, definition.label))
    uses = Counter(label for label, _kind in owners.values())
    return {state_id: f"{label}（{kind}）" if uses[label] > 1 else label for state_id, (label, kind) in owners.items()}


# --- Helpers --------------------------------------------------------------------------------------

def _case_url(case_id: int) -> str:
    if "cases.case" in current_app.view_functions:
        return url_for("cases.case", case_id=case_id)
    return url_for("applicant.my_cases")
