"""委托代理: a reviewer names a colleague to stand in for him while away; an admin may for someone
absent. The list shows current and coming delegations with a button to end one early."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.base.errors import InvalidAction, NotFound, PermissionDenied, ValidationFailed
from engine.operations.delegating import (
    cancel_delegation, delegate, delegations_for, deputy_choices, principal_choices,
)
from web.auth import login_required, session_actor
from web.database import committing, request_session

bp = Blueprint("delegations", __name__)


@bp.route("/delegations")
@login_required
def delegations():
    return _page({})


@bp.route("/delegations", methods=["POST"])
@login_required
def create():
    form = request.form
    values = {"grant": form.get("grant", ""), "deputy_id": form.get("deputy_id", ""),
              "starts_on": form.get("starts_on", ""), "ends_on": form.get("ends_on", ""),
              "reason": form.get("reason", "")}
    errors: dict[str, list[str]] = {}
    principal_id, role, unit_id = _grant_of(values["grant"])
    starts_on, ends_on = _day(values["starts_on"]), _day(values["ends_on"])
    for name, day in (("starts_on", starts_on), ("ends_on", ends_on)):
        if values[name] and day is None:
            errors[name] = [_("请按 年-月-日 填写日期")]
    if unit_id is None:
        errors["grant"] = [_("请选择要委托的岗位")]
    if not errors:
        try:
            with committing() as session:
                delegate(session, session_actor(), principal_id=principal_id, deputy_id=_int(values["deputy_id"]),
                         role=role, unit_id=unit_id, starts_on=starts_on, ends_on=ends_on, reason=values["reason"])
        except ValidationFailed as err:
            errors = err.fields
        except (InvalidAction, PermissionDenied) as err:
            errors = {"ends_on": [err.message]}
    if errors:
        return _page(values, errors, 422)
    flash(_("委托已设置，代理人已收到通知"), "success")
    return redirect(url_for(".delegations"))


@bp.route("/delegations/<int:delegation_id>/cancel", methods=["POST"])
@login_required
def cancel(delegation_id: int):
    try:
        with committing() as session:
            cancel_delegation(session, session_actor(), delegation_id)
    except (InvalidAction, NotFound) as err:
        flash(err.message, "error")
    else:
        flash(_("委托已结束"), "success")
    return redirect(url_for(".delegations"))


def _page(values: dict, errors: dict | None = None, status: int = 200):
    session, actor = request_session(), session_actor()
    own = [(f"{actor.user_id}:{grant.role}:{grant.unit_id}", grant, deputies)
           for grant, deputies in deputy_choices(session, actor)]
    return render_template("delegations/delegations.html", items=delegations_for(session, actor), own=own,
                           others=principal_choices(session, actor), values=values, errors=errors or {}), status


def _grant_of(value: str) -> tuple[int | None, str | None, int | None]:
    """「person:role:unit」 as the form's select gives it."""
    parts = value.split(":")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[2].isdigit():
        return None, None, None
    return int(parts[0]), parts[1], int(parts[2])


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _int(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None
