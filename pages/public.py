"""Public notice pages (公示), open to anyone without signing in, and the objection form (异议).

Only what engine.procedures.notices lets the public see is shown: a definition's public fields, masked
where sensitive, the unit and the notice period. Objections go through the engine's own
schema and operation; the form is CSRF-protected (anonymous visitors have a session token)
and rate-limited per address like the API's.
"""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, redirect, render_template, request
from flask import session as cookie_session
from flask import url_for
from flask_babel import gettext as _

from engine.base.errors import InvalidAction, NotFound, ValidationFailed
from engine.definitions.store import list_kinds
from engine.operations.objections import lodge_objection
from engine.procedures.notices import (
    OBJECTOR_KINDS, ObjectionSchema, cases_on_notice, normalized_receipt, notice_of, objection_progress,
)
from web.database import committing, request_session
from web.limits import objection_limits, objection_lookup_limits
from web.localtime import local_time

bp = Blueprint("public", __name__)

OBJECTION_FIELDS = tuple(ObjectionSchema().fields)
RECEIPT_KEY = "objection_receipt"


def _notice_kinds():
    """The kinds that have a public notice in their procedure (the list's filter)."""
    return [definition for definition in list_kinds(request_session())
            if any(state.kind == "notice" for state in definition.states)]


@bp.route("/notices")
def notices():
    kind = request.args.get("kind") or None
    errors: dict = {}
    try:
        entries = cases_on_notice(request_session(), kind)
    except ValidationFailed as err:
        entries, errors = [], err.fields
    page = render_template("public/notices.html", entries=entries, kinds=_notice_kinds(), kind=kind or "",
                           errors=errors)
    return page, 422 if errors else 200


@bp.route("/notices/<int:case_id>")
def notice(case_id: int):
    try:
        entry = notice_of(request_session(), case_id)
    except NotFound:
        return _notice_gone(case_id)
    return _notice_page(entry, values={"objector_kind": "person"}, errors={})


@bp.route("/notices/<int:case_id>/objections", methods=["POST"], endpoint="object")
@objection_limits
def lodge(case_id: int):
    # Only the schema's fields; a blank one counts as not given, so its "required" message shows.
    data = {name: request.form[name] for name in OBJECTION_FIELDS if request.form.get(name, "").strip()}
    try:
        with committing() as session:
            objection = lodge_objection(session, case_id, data)
    except ValidationFailed as err:  # rolled back: nothing was written
        try:
            entry = notice_of(request_session(), case_id)
        except NotFound:
            return _notice_gone(case_id)
        return _notice_page(entry, values=request.form, errors=err.fields, status=422)
    except NotFound:
        return _notice_gone(case_id)
    except InvalidAction as err:  # an objection already under investigation: the notice says so
        return _notice_page(notice_of(request_session(), case_id), values=request.form, errors={},
                            refused=err.message, status=409)
    cookie_session[RECEIPT_KEY] = {"case_id": case_id, "receipt": objection.receipt,
                                   "received": objection.lodged_dt.isoformat()}
    return redirect(url_for("public.received", case_id=case_id))


@bp.route("/notices/<int:case_id>/objections/received")
def received(case_id: int):
    """The confirmation after lodging (POST/redirect/GET): the receipt number, kept in this browser's session."""
    receipt = cookie_session.get(RECEIPT_KEY)
    if not receipt or receipt.get("case_id") != case_id or "receipt" not in receipt:
        return redirect(url_for("public.notices"))
    return render_template("public/received.html", case_id=case_id, receipt=receipt["receipt"],
                           received=local_time(datetime.fromisoformat(receipt["received"])))


@bp.route("/public/objections")
def find_objection():
    """The lookup form: a receipt number as typed leads to its page, or is refused at the field."""
    typed = request.args.get("receipt")
    if typed is None:
        return render_template("public/find_objection.html", typed="", errors={})
    receipt = normalized_receipt(typed)
    if receipt is None:
        errors = {"receipt": [_("受理编号的格式应为 YY2026-XXXX-XXXX，请核对后重新输入")]}
        return render_template("public/find_objection.html", typed=typed, errors=errors), 422
    return redirect(url_for("public.objection", receipt=receipt))


@bp.route("/public/objections/<receipt>")
@objection_lookup_limits
def objection(receipt: str):
    """Where an objection stands, for whoever holds its receipt: steps and dates, nothing private."""
    try:
        progress = objection_progress(request_session(), receipt)
    except NotFound as err:
        page = render_template("public/find_objection.html", typed=receipt, errors={"receipt": [err.message]})
        return page, 404
    return render_template("public/objection.html", progress=progress)


def _notice_page(entry: dict, *, values, errors: dict, refused: str | None = None, status: int = 200):
    page = render_template("public/notice.html", entry=entry, values=values, errors=errors,
                           objector_kinds=OBJECTOR_KINDS, refused=refused)
    return page, status


def _notice_gone(case_id: int):
    message = _("该公示不存在或公示期已结束，不再受理异议。")
    return render_template("public/gone.html", case_id=case_id, message=message), 404
