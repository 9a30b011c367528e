"""Auditor pages: search the audit events of one's subtree, read a case's full trail with its
chain check, and export a search as CSV. Read-only: the search is a GET form, nothing here
changes anything. The queries live in engine.audit_search and engine.trail.
"""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _

from engine.audit import verify_audit_chain
from engine.audit_search import (
    FILTER_ARGS,
    PAGE_SIZE,
    AuditFilter,
    AuditPage,
    Cursor,
    audit_search,
    auditable_units,
    csv_lines,
)
from engine.cases import event_label, get_case
from engine.definitions import definition_by_hash, list_kinds
from engine.errors import ValidationFailed
from engine.notices import case_objections
from engine.org import LEVELS, ROLE_LABELS
from engine.trail import readable_audit_trail
from web import request_session
from web.auth import current_actor, role_required
from web.localtime import local_timezone

bp = Blueprint("auditor", __name__)


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
        "kinds": list_kinds(session), "units": auditable_units(session, actor), "LEVELS": LEVELS,
        "filtered": any(request.args.get(name) for name in FILTER_ARGS),
        "next_url": url_for("auditor.search", **page.filter.as_args(), after=page.next_cursor.token())
        if page.next_cursor else None,
        "export_url": url_for("auditor.export", **page.filter.as_args()) if not errors else None,
    }
    return render_template("auditor/search.html", **context), 422 if errors else 200


@bp.route("/audit/cases/<int:case_id>")
@role_required("auditor")
def case_trail(case_id: int):
    session, actor = request_session(), current_actor()
    events = readable_audit_trail(session, actor, case_id)
    case = get_case(session, actor, case_id)
    definition = definition_by_hash(session, case.definition_hash)
    report = verify_audit_chain(session, [case_id])
    labels = {state.id: state.label for state in definition.states}
    return render_template(
        "auditor/trail.html", case=case, definition=definition, state=definition.state(case.state),
        events=events, report=report, state_labels=labels,
        field_labels={spec.name: spec.label for spec in definition.fields},
        choice_labels={spec.name: dict(spec.choices) for spec in definition.fields if spec.type == "choice"}, event_label=event_label, ROLE_LABELS=ROLE_LABELS,
        objections=case_objections(session, actor, case_id),
    )


@bp.route("/audit/export.csv")
@role_required("auditor")
def export():
    """The current search as CSV, streamed: rows are read in keyset batches as they are sent."""
    session, actor, tz = request_session(), current_actor(), local_timezone()
    try:
        found = audit_search(session, actor, AuditFilter.from_args(request.args), tz=tz)
    except ValidationFailed as err:
        # Only a hand-made link gets here (the page offers export for valid searches only).
        messages = "；".join(message for field in err.fields.values() for message in field)
        return render_template("error.html", status=422, heading=_("查询条件有误"), message=messages), 422
    stamp = datetime.now(tz).strftime("%Y%m%d-%H%M%S")
    lines = (line.encode("utf-8") for line in csv_lines(found.rows(), tz))
    return Response(stream_with_context(lines), mimetype="text/csv", headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="audit-events-{stamp}.csv"',
        "Cache-Control": "no-store",
    })
