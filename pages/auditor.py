"""Auditor pages: search the audit events of one's subtree, read a case's full trail with its
chain check, export a search (CSV, XLSX, signed JSON Lines) and read the system log of
exports. The search and the trail are read-only; an export is recorded in the system log
(engine.reading.audit_export) and committed before its first byte is sent. The queries live in
engine.reading.audit_search, engine.reading.audit_export, engine.audit.system_log and engine.reading.trail.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine.audit.signing import SigningKeyMissing, current_signer
from engine.audit.system_log import SYSTEM_EVENT_LABELS, system_log_page
from engine.base.db import utcnow
from engine.base.errors import ValidationFailed
from engine.base.inputs import parse_row_id
from engine.cases.case import event_label
from engine.cases.integrity import verify_audit_chain
from engine.cases.permissions import get_case
from engine.definitions.store import list_kinds
from engine.org.units import LEVELS, ROLE_LABELS
from engine.procedures.notices import case_objections
from engine.procedures.rounds import visible_rounds
from engine.reading.audit_export import FORMATS, MEDIA_TYPES, begin_audit_export, download_chunks, xlsx_file
from engine.reading.audit_search import (
    FILTER_ARGS, PAGE_SIZE, AuditFilter, AuditPage, Cursor, audit_search, auditable_units, auditor_paths,
)
from engine.reading.trail import readable_audit_trail
from web.auth import current_actor, role_required
from web.database import committing, request_session, streamed_body
from web.localtime import local_timezone

bp = Blueprint("auditor", __name__)

LOG_PAGE_SIZE = 50
# The export buttons, in the order the page offers them.
EXPORT_BUTTONS = {
    "csv": _l("导出 CSV"),
    "xlsx": _l("导出 Excel（XLSX）"),
    "jsonl": _l("导出 JSON Lines（可验证）"),
}
# The search's query arguments as the system log names them.
FILTER_LABELS = {
    "date_from": _l("开始日期"), "date_to": _l("结束日期"), "kind": _l("业务种类"), "round": _l("评选批次"),
    "unit": _l("案件所属单位"), "actor": _l("操作人"), "case_id": _l("案件编号"),
}


def _filter_choices(session, actor) -> dict:
    """The pickers of the search form (and the names the system log shows for filter values)."""
    kinds = list_kinds(session)
    known = {definition.kind for definition in kinds}
    return {"kinds": kinds, "units": auditable_units(session, actor),
            "rounds": [round_ for round_ in visible_rounds(session, actor) if round_.kind in known]}


@bp.route("/audit")
@role_required("auditor")
def search():
    session, actor = request_session(), current_actor()
    errors: dict = {}
    page = AuditPage(rows=[])
    try:
        flt = AuditFilter.from_args(request.args)
        page = audit_search(session, actor, flt, tz=local_timezone()).page(
            Cursor.parse(request.args.get("after")), limit=PAGE_SIZE)
    except ValidationFailed as err:
        errors = err.fields
    context = {
        "values": {name: request.args.get(name, "") for name in FILTER_ARGS}, "errors": errors, "page": page,
        **_filter_choices(session, actor), "LEVELS": LEVELS,
        "filtered": any(request.args.get(name) for name in FILTER_ARGS),
        "next_url": url_for("auditor.search", **page.filter.as_args(), after=page.next_cursor.token())
        if page.next_cursor else None,
        # The export form repeats the checked search; none while the search has errors.
        "export_args": page.filter.as_args() if not errors else None,
        "export_buttons": [(fmt, EXPORT_BUTTONS[fmt]) for fmt in EXPORT_BUTTONS if fmt in FORMATS],
        "may_export_full_data": any(grant.full_data for grant in actor.grants_for("auditor")),
    }
    return render_template("auditor/search.html", **context), 422 if errors else 200


@bp.route("/audit/cases/<int:case_id>")
@role_required("auditor")
def case_trail(case_id: int):
    session, actor = request_session(), current_actor()
    events = readable_audit_trail(session, actor, case_id)
    case = get_case(session, actor, case_id)
    definition = case.definition
    report = verify_audit_chain(session, [case_id])
    labels = {state.id: state.label for state in definition.states}
    return render_template(
        "auditor/trail.html", case=case, definition=definition, state=definition.state(case.state),
        events=events, report=report, state_labels=labels,
        field_labels={spec.name: spec.label for spec in definition.fields},
        choice_labels={spec.name: dict(spec.choices) for spec in definition.fields if spec.type == "choice"}, event_label=event_label, ROLE_LABELS=ROLE_LABELS,
        objections=case_objections(session, actor, case_id),
    )


# --- Exports -----------------------------------------------------------------------------------------

@bp.route("/audit/export.<any(csv, xlsx, jsonl):fmt>")
@role_required("auditor")
def export(fmt: str):
    """The current search, whole, in one format. The export is checked and recorded in the
    system log, and that committed, before anything is sent; then CSV and JSON Lines stream
    from the database in batches, and XLSX is written to a temporary file and sent from it."""
    actor, tz = current_actor(), local_timezone()
    full_data = request.args.get("full_data") == "1"
    try:
        flt = AuditFilter.from_args(request.args)
        with committing() as session:
            signer = current_signer(session, _settings().signing_key_file) if fmt == "jsonl" else None
            started = begin_audit_export(session, actor, flt, fmt=fmt, full_data=full_data, now=utcnow(), tz=tz,
                                         signer=signer)
    except ValidationFailed as err:
        # Only a hand-made link gets here (the page offers export for valid searches only).
        messages = "；".join(message for field in err.fields.values() for message in field)
        return render_template("error.html", status=422, heading=_("查询条件有误"), message=messages), 422
    except SigningKeyMissing as err:
        current_app.logger.warning("JSON Lines audit export refused: %s", err.message)
        message = err.message + " " + _("CSV 和 Excel 格式不需要签名密钥，仍可导出。")
        return render_template("error.html", status=503, heading=_("暂不能导出可验证的 JSON Lines 文件"),
                               message=message), 503
    # PermissionDenied (full personal data without the permission) is the app's 403 page.
    headers = {"Content-Disposition": f'attachment; filename="{started.filename}"', "Cache-Control": "no-store"}
    if fmt == "xlsx":
        response = send_file(xlsx_file(request_session(), started), mimetype=MEDIA_TYPES[fmt], as_attachment=True,
                             download_name=started.filename, etag=False, max_age=0)
        response.headers["Cache-Control"] = "no-store"
        return response
    return Response(streamed_body(lambda session: download_chunks(session, started)), content_type=MEDIA_TYPES[fmt],
                    headers=headers)


def _settings():
    return current_app.extensions["unionflow"].settings


# --- The system log ------------------------------------------------------------------------------------

@bp.route("/audit/log")
@role_required("auditor")
def system_log():
    """审计操作记录: exports, signing keys and purges within one's scope, newest first."""
    session, actor = request_session(), current_actor()
    before = _sequence(request.args.get("before"))
    found = system_log_page(session, auditor_paths(actor), before_seq=before, limit=LOG_PAGE_SIZE)
    choices = _filter_choices(session, actor)
    names = {
        "kind": {definition.kind: definition.label for definition in choices["kinds"]},
        "unit": {str(unit.id): unit.name for unit in choices["units"]},
        "round": {str(round_.id): round_.title for round_ in choices["rounds"]},
    }
    return render_template(
        "auditor/log.html", events=found.events, labels=SYSTEM_EVENT_LABELS, names=names,
        filter_labels=FILTER_LABELS, ROLE_LABELS=ROLE_LABELS,
        next_url=url_for("auditor.system_log", before=found.next_before) if found.next_before else None,
        first_url=url_for("auditor.system_log") if before is not None else None,
    )


def _sequence(value: str | None) -> int | None:
    """A page link's ``before``; anything else starts from the newest."""
    return parse_row_id(value)
