"""Administration pages: org units, people and their roles, rounds with quotas and juries, and
parameter sets, all within the admin's own subtree.

Every change goes through the engine operation the JSON API calls (engine.org.admin, engine.procedures.rounds,
engine.procedures.juries, engine.procedures.parameters), which decides the scope; these views parse the form, call
one operation, and answer with the form and its messages (422) or a redirect with a flash.
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, fields, validate

from engine.base.db import utcnow
from engine.base.errors import Conflict, InvalidAction, ValidationFailed
from engine.base.inputs import load_json, parse_row_id
from engine.definitions.store import current_definition, list_kinds
from engine.org.admin import (
    add_org_unit, add_user, get_org_unit, get_user, grant_role, list_org_units, list_users, revoke_role, update_user,
)
from engine.org.units import (
    LEVEL_LABELS, LEVELS, ROLE_LABELS, ROLES, UNIT_KIND_LABELS, UNIT_KINDS, OrgUnit, path_ids, unit_names,
)
from engine.procedures.juries import form_jury, round_jury
from engine.procedures.notices import NOTICE_CONTACT_FIELDS, notice_contact, set_notice_contact
from engine.procedures.parameters import (
    ParameterKind, existing_unit, parameter_kind, parameter_kinds, parameter_versions, set_parameters,
)
from engine.procedures.rounds import MAX_PLACES, get_round, open_round, quota_table, set_quota, visible_rounds
from pages.calendar_admin import calendar_warning
from web.auth import current_actor, keep_this_session, role_required
from web.database import committing, request_session
from web.localtime import local_timezone

bp = Blueprint("admin", __name__, url_prefix="/admin")

USERS_PER_PAGE = 50
MAX_JURY_CANDIDATES = 200
DATETIME_INPUT = "%Y-%m-%dT%H:%M"

# Parameter schemas name their figures in English; these are the names people read.
PARAMETER_FIELD_LABELS = {
    "minimum_living_standard": _l("最低生活保障标准（元/月）"),
    "deep_multiplier": _l("深度困难：低保标准的倍数"),
    "relative_multiplier": _l("相对困难：低保标准的倍数"),
    "accident_cost_share": _l("意外致困：支出占家庭年收入的比例"),
    "living_aid_months": _l("生活救助月数"),
    "deep": _l("深度困难"),
    "relative": _l("相对困难"),
    "accident": _l("意外致困"),
    "yearly_cap_per_household": _l("每户每年救助上限（元）"),
    "schemes": _l("互助项目"),
    "rules": _l("推荐规则"),
}


# --- Home ------------------------------------------------------------------------------------------

@bp.get("")
@role_required("admin")
def index():
    session, actor = request_session(), current_actor()
    return render_template("admin/index.html", unit_count=len(list_org_units(session, actor)),
                           round_count=len(visible_rounds(session, actor)),
                           parameter_count=len(parameter_kinds()), calendar_warning=calendar_warning())


def _own_unit() -> OrgUnit:
    """The unit of the admin grant one acts in (role_required guarantees there is one)."""
    return request_session().get(OrgUnit, current_actor().grants[0].unit_id)


# --- Messages --------------------------------------------------------------------------------------

# Range and length validators in the settings schemas of the rule modules keep marshmallow's
# English wording (field messages are Chinese, see engine.base.messages); said here in Chinese.
ENGLISH_RANGE = re.compile(r"^Must be greater than or equal to (\S+) and less than or equal to (\S+)\.$")
ENGLISH_AT_LEAST = re.compile(r"^(?:Must be greater than or equal to|Shorter than minimum length) (\S+)\.$")


def _chinese(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    return {name: [_chinese_message(str(message)) for message in messages] for name, messages in errors.items()}


def _chinese_message(message: str) -> str:
    if found := ENGLISH_RANGE.match(message):
        return _("应在 %(low)s 到 %(high)s 之间", low=found[1], high=found[2])
    if found := ENGLISH_AT_LEAST.match(message):
        return _("应不小于 %(low)s", low=found[1])
    return message


# --- Org units -------------------------------------------------------------------------------------

@bp.get("/units")
@role_required("admin")
def units():
    return _units_page()


def _units_page(values=None, errors=None, status: int = 200):
    tree = _unit_tree(list_org_units(request_session(), current_actor()))
    return render_template("admin/units.html", tree=tree, unit_choices=_unit_choices(tree),
                           level_options=[(level, _(LEVEL_LABELS[level])) for level in LEVELS],
                           kind_options=[(kind, _(UNIT_KIND_LABELS[kind])) for kind in UNIT_KINDS],
                           kind_labels=UNIT_KIND_LABELS,
                           values=values or {"kind": "union"}, errors=errors or {}), status


def _unit_tree(units: list[OrgUnit]) -> list[tuple[OrgUnit, int]]:
    """Units in path order (parents first) with their depth below the admin's own unit."""
    top = min((len(path_ids(unit.path)) for unit in units), default=0)
    return [(unit, len(path_ids(unit.path)) - top) for unit in units]


def _unit_choices(tree: list[tuple[OrgUnit, int]]) -> list[tuple[int, str]]:
    """(id, name indented by depth) for a select: the tree reads in the list too."""
    return [(unit.id, "\u3000" * depth + unit.name) for unit, depth in tree]


@bp.post("/units")
@role_required("admin")
def create_unit():
    form = request.form
    try:
        parent_id = _whole_number(form.get("parent_id"), "parent_id", _("请选择上级单位"))
        with committing() as session:
            unit = add_org_unit(session, current_actor(), name=form.get("name", ""), level=form.get("level", ""),
                                kind=form.get("kind", ""), parent_id=parent_id)
    except ValidationFailed as err:
        errors = dict(err.fields)
        if "parent" in errors:
            errors["parent_id"] = errors.pop("parent")
        return _units_page(form, errors, 422)
    flash(_("已新建单位「%(name)s」", name=unit.name), "success")
    return redirect(url_for("admin.units"))


@bp.get("/units/<int:unit_id>/notice-contact")
@role_required("admin")
def notice_contact_form(unit_id: int):
    session = request_session()
    unit = get_org_unit(session, current_actor(), unit_id)
    shown = {name: value or "" for name, value in notice_contact(session, unit).items()}
    return _notice_contact_page(unit, shown, {})


@bp.post("/units/<int:unit_id>/notice-contact")
@role_required("admin")
def change_notice_contact(unit_id: int):
    """The unit's contact point for the public on its notices (公示异议受理): person, phone, address."""
    form = {name: request.form.get(name, "") for name in NOTICE_CONTACT_FIELDS}
    try:
        with committing() as session:
            set_notice_contact(session, current_actor(), unit_id, form)
    except ValidationFailed as err:
        unit = get_org_unit(request_session(), current_actor(), unit_id)
        return _notice_contact_page(unit, form, err.fields, 422)
    flash(_("已保存公示异议受理联系方式"), "success")
    return redirect(url_for("admin.notice_contact_form", unit_id=unit_id))


def _notice_contact_page(unit: OrgUnit, values, errors, status: int = 200):
    return render_template("admin/notice_contact.html", unit=unit, values=values, errors=errors), status


def _whole_number(raw: str | None, field: str, message: str) -> int:
    raw = (raw or "").strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise ValidationFailed({field: [message]})
    return int(raw)


# --- People ----------------------------------------------------------------------------------------

@bp.get("/users")
@role_required("admin")
def users():
    return _users_page()


def _users_page(values=None, errors=None, status: int = 200):
    text = request.args.get("q", "").strip()[:64]
    after = request.args.get("after", "")
    after_id = parse_row_id(after)
    rows = list_users(request_session(), current_actor(), text=text or None, after_id=after_id,
                      limit=USERS_PER_PAGE + 1)
    more = len(rows) > USERS_PER_PAGE
    rows = rows[:USERS_PER_PAGE]
    return render_template("admin/users.html", people=rows, q=text, paged=after_id is not None,
                           next_after=rows[-1].id if more and rows else None,
                           values=values or {}, errors=errors or {}), status


@bp.post("/users")
@role_required("admin")
def create_user():
    form = request.form
    data = {"username": form.get("username", "").strip(), "display_name": form.get("display_name", "").strip(),
            "email": form.get("email", "").strip() or None, "password": form.get("password") or None}
    try:
        with committing() as session:
            user = add_user(session, current_actor(), **data)
    except ValidationFailed as err:
        return _users_page(form, err.fields, 422)
    flash(_("已新建账号「%(username)s」，请为其授予角色", username=user.username), "success")
    return redirect(url_for("admin.user", user_id=user.id))


@bp.get("/users/<int:user_id>")
@role_required("admin")
def user(user_id: int):
    return _user_page(user_id)


def _user_page(user_id: int, values=None, errors=None, status: int = 200):
    session, actor = request_session(), current_actor()
    person = get_user(session, actor, user_id)
    return render_template("admin/user.html", person=person,
                           unit_choices=_unit_choices(_unit_tree(list_org_units(session, actor))),
                           role_options=[(role, _(ROLE_LABELS[role])) for role in ROLES],
                           values=values or {}, errors=errors or {},
                           is_self=person.id == actor.user_id), status


@bp.post("/users/<int:user_id>")
@role_required("admin")
def change_user(user_id: int):
    form = request.form
    changes = {"display_name": form.get("display_name", ""), "email": form.get("email", "").strip() or None}
    try:
        with committing() as session:
            update_user(session, current_actor(), user_id, changes)
    except ValidationFailed as err:
        return _user_page(user_id, form, err.fields, 422)
    flash(_("已保存基本信息"), "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/password")
@role_required("admin")
def reset_password(user_id: int):
    password = request.form.get("password", "")
    try:
        if len(password) > 256:
            raise ValidationFailed({"password": [_("不能超过 256 个字符")]})
        with committing() as session:
            person = update_user(session, current_actor(), user_id, {"password": password})
    except ValidationFailed as err:
        return _user_page(user_id, {}, err.fields, 422)
    if person.id == current_actor().user_id:  # one's own: other sessions end, this one goes on
        keep_this_session()
    flash(_("已重设「%(username)s」的密码", username=person.username), "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/active")
@role_required("admin")
def set_active(user_id: int):
    active = request.form.get("is_active") == "1"
    try:
        with committing() as session:
            person = update_user(session, current_actor(), user_id, {"is_active": active})
    except ValidationFailed as err:
        return _user_page(user_id, {}, err.fields, 422)
    if active:
        flash(_("已启用账号「%(username)s」", username=person.username), "success")
    else:
        flash(_("已停用账号「%(username)s」，其登录会话立即失效", username=person.username), "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/roles")
@role_required("admin")
def grant(user_id: int):
    form = request.form
    try:
        unit_id = _whole_number(form.get("unit_id"), "unit_id", _("请选择单位"))
        with committing() as session:
            grant_role(session, current_actor(), user_id, role=form.get("role", ""), unit_id=unit_id,
                       full_data=form.get("full_data") == "1")
    except ValidationFailed as err:
        return _user_page(user_id, form, err.fields, 422)
    except Conflict as err:
        return _user_page(user_id, form, {"role": [err.message]}, 422)
    flash(_("已授予角色"), "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/roles/<int:assignment_id>/revoke")
@role_required("admin")
def revoke(user_id: int, assignment_id: int):
    try:
        with committing() as session:
            revoke_role(session, current_actor(), user_id, assignment_id)
    except InvalidAction as err:
        flash(err.message, "error")
    else:
        flash(_("已收回角色"), "success")
    return redirect(url_for("admin.user", user_id=user_id))


# --- Rounds and quotas -----------------------------------------------------------------------------

def _round_kinds() -> list:
    return [definition for definition in list_kinds(request_session()) if definition.uses_rounds]


def _category_labels(definition) -> dict[str, str]:
    return dict(definition.field(definition.round_category_field).choices)


@bp.get("/rounds")
@role_required("admin")
def rounds():
    return _rounds_page()


def _rounds_page(values=None, errors=None, status: int = 200):
    errors = _chinese(errors or {})
    session, actor = request_session(), current_actor()
    kinds = {definition.kind: definition for definition in list_kinds(session)}
    names = unit_names(session)
    round_kinds = _round_kinds()
    if values is None:
        values = {"year": str(utcnow().astimezone(local_timezone()).year), "settings.over_nomination_percent": "100",
                  "settings": "{}"}
    return render_template(
        "admin/rounds.html", rounds=visible_rounds(session, actor), kinds=kinds, unit_names=names,
        round_kinds=round_kinds, kind_options=[(d.kind, d.label) for d in round_kinds],
        category_labels={d.kind: _category_labels(d) for d in round_kinds},
        own_unit=_own_unit(), now=utcnow(), tz=local_timezone(), values=values, errors=errors,
        checked=values.getlist("categories") if hasattr(values, "getlist") else [],
        settings_errors=_errors_under(errors, "settings", exclude=("settings.over_nomination_percent",)),
    ), status


@bp.post("/rounds")
@role_required("admin")
def open_new_round():
    form = request.form
    try:
        errors: dict[str, list[str]] = {}
        year = _collect(errors, "year", lambda: _year(form.get("year")))
        opens = _collect(errors, "opens_at", lambda: _local_datetime(form.get("opens_at")))
        closes = _collect(errors, "closes_at", lambda: _local_datetime(form.get("closes_at")))
        settings = _collect(errors, "settings", lambda: _json_object(form.get("settings")))
        percent = form.get("settings.over_nomination_percent", "").strip()
        if settings is not None and percent:
            settings["over_nomination_percent"] = _collect(
                errors, "settings.over_nomination_percent",
                lambda: _whole_number(percent, "settings.over_nomination_percent", _("应为整数")))
        if errors:
            raise ValidationFailed(errors)
        with committing() as session:
            round_ = open_round(session, current_actor(), kind=form.get("kind", ""), unit=_own_unit(),
                                title=form.get("title", ""), year=year, opens_dt=opens, closes_dt=closes,
                                categories=form.getlist("categories"), settings=settings)
    except ValidationFailed as err:
        # the engine names the stored columns; the form, like the API, the times people enter
        renamed = {"opens_dt": "opens_at", "closes_dt": "closes_at"}
        return _rounds_page(form, {renamed.get(key, key): messages for key, messages in err.fields.items()}, 422)
    flash(_("已发布评选批次「%(title)s」，请分配名额", title=round_.title), "success")
    return redirect(url_for("admin.round", round_id=round_.id))


def _collect(errors: dict, field: str, parse):
    """``parse()``'s value, or None with its message kept under ``field``."""
    try:
        return parse()
    except ValidationFailed as err:
        for messages in err.fields.values():
            errors.setdefault(field, []).extend(messages)
        return None


def _year(raw: str | None) -> int:
    year = _whole_number(raw, "year", _("请填写年度，例如 2026"))
    if not 2000 <= year <= 2100:
        raise ValidationFailed({"year": [_("应在 2000 到 2100 之间")]})
    return year


def _local_datetime(raw: str | None) -> datetime:
    try:
        moment = datetime.strptime((raw or "").strip(), DATETIME_INPUT)
    except ValueError:
        raise ValidationFailed({"time": [_("请填写日期和时间，例如 2026-05-01 09:00")]}) from None
    return moment.replace(tzinfo=local_timezone())


def _json_object(raw: str | None) -> dict:
    try:
        document = load_json(raw or "{}")
    except ValueError:
        raise ValidationFailed({"json": [_("不是有效的 JSON")]}) from None
    if not isinstance(document, dict):
        raise ValidationFailed({"json": [_("应为 JSON 对象，例如 {}")]})
    return document


def _errors_under(errors: dict, name: str, exclude: tuple[str, ...] = ()) -> list[str]:
    """Messages of ``name`` and of every field inside it, the inner ones prefixed with their path."""
    found = []
    for key, messages in errors.items():
        if key in exclude:
            continue
        if key == name:
            found.extend(messages)
        elif key.startswith(name + "."):
            found.extend(f"{key[len(name) + 1:]}：{message}" for message in messages)
    return found


@bp.get("/rounds/<int:round_id>", endpoint="round")
@role_required("admin")
def show_round(round_id: int):
    return _round_page(round_id)


def _round_page(round_id: int, values=None, errors=None, status: int = 200, quota_values=None):
    session, actor = request_session(), current_actor()
    round_ = get_round(session, actor, round_id)
    opener = session.get(OrgUnit, round_.unit_id)
    own = _own_unit()
    definition = current_definition(session, round_.kind)
    jury, members = round_jury(session, round_.id)
    candidates = [] if jury or own.id != opener.id else [
        person for person in list_users(session, actor, limit=MAX_JURY_CANDIDATES) if person.is_active]
    return render_template(
        "admin/round.html", round=round_, opener=opener, own_unit=own, definition=definition,
        category_labels=_category_labels(definition), quota_rows=quota_table(session, actor, round_),
        quota_units=_quota_units(round_, opener, own),
        quota_values=quota_values if quota_values is not None else _current_places(session, actor, round_),
        jury=jury, members=members, candidates=candidates, tz=local_timezone(),
        values=values if values is not None else {"title": _("%(title)s评审委员会", title=round_.title),
                                                  "pass_numerator": "2", "pass_denominator": "3",
                                                  "quorum_numerator": "2", "quorum_denominator": "3"},
        chosen=values.getlist("member_ids") if hasattr(values, "getlist") else [],
        errors=errors or {}, quota_failed=any(key.startswith("places-") for key in errors or {}),
    ), status


def _quota_units(round_, opener: OrgUnit, own: OrgUnit) -> list[OrgUnit]:
    """The units whose quotas the admin sets here: their own unit's direct children, when the
    own unit is the round's or below it (engine.procedures.rounds.set_quota: the opener or the parent)."""
    if not own.path.startswith(opener.path):
        return []
    return list_org_units(request_session(), current_actor(), parent_id=own.id)


def _current_places(session, actor, round_) -> dict[str, int]:
    return {_quota_input(row.unit_id, row.category): row.status.places
            for row in quota_table(session, actor, round_)}


def _quota_input(unit_id: int, category: str) -> str:
    return f"places-{unit_id}-{category}"


@bp.post("/rounds/<int:round_id>/quotas")
@role_required("admin")
def set_quotas(round_id: int):
    form = request.form
    try:
        with committing() as session:
            actor = current_actor()
            round_ = get_round(session, actor, round_id)
            opener = session.get(OrgUnit, round_.unit_id)
            errors: dict[str, list[str]] = {}
            changed = 0
            for unit in _quota_units(round_, opener, _own_unit()):
                for category in round_.categories:
                    name = _quota_input(unit.id, category)
                    raw = form.get(name, "").strip()
                    if not raw:
                        continue
                    places = _collect(errors, name, lambda: _places(raw, name))
                    if places is None:
                        continue
                    try:
                        set_quota(session, actor, round_, unit, category, places)
                        changed += 1
                    except ValidationFailed as err:
                        errors.setdefault(name, []).extend(m for ms in err.fields.values() for m in ms)
            if errors:
                raise ValidationFailed(errors)  # rolls back every cell: the table is saved whole or not at all
    except ValidationFailed as err:
        return _round_page(round_id, None, err.fields, 422, quota_values=form)
    flash(_("已保存名额（%(n)s 项）", n=changed), "success")
    return redirect(url_for("admin.round", round_id=round_id))


def _places(raw: str, name: str) -> int:
    places = _whole_number(raw, name, _("名额应为不小于 0 的整数"))
    if places > MAX_PLACES:
        raise ValidationFailed({name: [_("名额应在 0 到 %(max)s 之间", max=MAX_PLACES)]})
    return places


@bp.post("/rounds/<int:round_id>/jury")
@role_required("admin")
def create_jury(round_id: int):
    form = request.form
    try:
        errors: dict[str, list[str]] = {}
        title = form.get("title", "").strip()
        if not title or len(title) > 200:
            errors["title"] = [_("请填写名称（200 字以内）")]
        member_ids = _collect(errors, "member_ids", lambda: [
            _whole_number(raw, "member_ids", _("评委选择有误")) for raw in form.getlist("member_ids")])
        pass_fraction = _collect(errors, "pass_fraction", lambda: _fraction(form, "pass"))
        quorum = _collect(errors, "quorum", lambda: _fraction(form, "quorum"))
        if errors:
            raise ValidationFailed(errors)
        with committing() as session:
            actor = current_actor()
            form_jury(session, actor, get_round(session, actor, round_id), title=title, member_ids=member_ids,
                      pass_fraction=pass_fraction, quorum=quorum)
    except ValidationFailed as err:
        return _round_page(round_id, form, err.fields, 422)
    flash(_("已组建评审委员会"), "success")
    return redirect(url_for("admin.round", round_id=round_id))


def _fraction(form, prefix: str) -> tuple[int, int]:
    message = _("请填写两个整数，例如 2 / 3")
    numerator = _whole_number(form.get(f"{prefix}_numerator"), prefix, message)
    denominator = _whole_number(form.get(f"{prefix}_denominator"), prefix, message)
    return numerator, denominator


# --- Parameter sets --------------------------------------------------------------------------------

@bp.get("/parameters")
@role_required("admin")
def parameters():
    session, actor = request_session(), current_actor()
    names = unit_names(session)
    listing = [(kind, parameter_versions(session, actor, kind.name)) for kind in parameter_kinds()]
    return render_template("admin/parameters.html", listing=listing, unit_names=names,
                           pretty=lambda values: json.dumps(values, ensure_ascii=False, indent=2))


@bp.get("/parameters/<name>/new")
@role_required("admin")
def new_parameters(name: str):
    kind = parameter_kind(name)
    versions = parameter_versions(request_session(), current_actor(), name)
    values = {"unit_id": str(_own_unit().id)}
    if versions:
        values |= _flatten(kind.schema(), versions[0].values, "values")
    return _parameter_page(kind, values, {})


def _parameter_page(kind: ParameterKind, values, errors, status: int = 200):
    errors = _chinese(errors)
    inputs = _schema_inputs(kind.schema(), "values")
    placed = {item["name"] for item in inputs if "name" in item}
    unplaced = [f"{key}：{message}" if key != "values" else message
                for key, messages in errors.items() if key.startswith("values")
                and not any(key == name or key.startswith(name + ".") for name in placed)
                for message in messages]
    field_errors = {**errors, **{name: _errors_under(errors, name) for name in placed}}
    return render_template("admin/parameter_form.html", kind=kind, inputs=inputs, values=values,
                           errors=field_errors, unplaced=unplaced,
                           unit_choices=_unit_choices(_unit_tree(list_org_units(request_session(), current_actor())))
                           ), status


@bp.post("/parameters/<name>/new")
@role_required("admin")
def add_parameters(name: str):
    kind = parameter_kind(name)
    form = request.form
    try:
        errors: dict[str, list[str]] = {}
        unit_id = _collect(errors, "unit_id", lambda: _whole_number(form.get("unit_id"), "unit_id", _("请选择单位")))
        valid_from = _collect(errors, "valid_from", lambda: _date(form.get("valid_from"), required=True))
        valid_to = _collect(errors, "valid_to", lambda: _date(form.get("valid_to"), required=False))
        values = _schema_values(kind.schema(), form, "values", errors)
        if errors:
            raise ValidationFailed(errors)
        with committing() as session:
            row = set_parameters(session, current_actor(), name, unit=existing_unit(session, unit_id),
                                 valid_from=valid_from, valid_to=valid_to, values=values)
    except ValidationFailed as err:
        return _parameter_page(kind, form, err.fields, 422)
    flash(_("已新增一版「%(label)s」，自 %(day)s 起适用", label=kind.label, day=row.valid_from.isoformat()), "success")
    return redirect(url_for("admin.parameters"))


def _date(raw: str | None, *, required: bool) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        if required:
            raise ValidationFailed({"date": [_("请填写日期")]})
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed({"date": [_("应为 YYYY-MM-DD 格式的日期")]}) from None


def _is_group(field: fields.Field) -> bool:
    return isinstance(field, fields.Nested) and not field.many


def _is_number(field: fields.Field) -> bool:
    return isinstance(field, fields.Integer)


def _choices(field: fields.Field) -> list[str]:
    for validator in field.validators:
        if isinstance(validator, validate.OneOf):
            return list(validator.choices)
    return []


def _schema_inputs(schema: Schema, prefix: str, depth: int = 0) -> list[dict]:
    """The form for a parameter schema: one input per figure, a fieldset per nested group, a JSON
    textarea for lists and tables (their structure is the engine's to check)."""
    inputs = []
    for key, field in schema.fields.items():
        name = f"{prefix}.{key}"
        label = str(PARAMETER_FIELD_LABELS.get(key, key))
        if _is_group(field):
            inputs.append({"group": label, "depth": depth})
            inputs.extend(_schema_inputs(field.schema, name, depth + 1))
            inputs.append({"end": True})
        elif isinstance(field, (fields.List, fields.Dict, fields.Nested)):
            inputs.append({"name": name, "label": label, "type": "json", "required": field.required})
        else:
            inputs.append({"name": name, "label": label, "required": field.required,
                           "choices": [(choice, choice) for choice in _choices(field)],
                           "type": "number" if _is_number(field) else "text"})
    return inputs


def _schema_values(schema: Schema, form, prefix: str, errors: dict) -> dict:
    """The form's inputs as the document the schema loads; blanks are left out (the schema says
    whether that is allowed)."""
    values = {}
    for key, field in schema.fields.items():
        name = f"{prefix}.{key}"
        if _is_group(field):
            values[key] = _schema_values(field.schema, form, name, errors)
            continue
        raw = form.get(name, "").strip()
        if not raw:
            continue
        if isinstance(field, (fields.List, fields.Dict, fields.Nested)):
            try:
                values[key] = load_json(raw)
            except ValueError:
                errors.setdefault(name, []).append(_("不是有效的 JSON"))
        elif _is_number(field):
            try:
                values[key] = int(raw)
            except ValueError:
                errors.setdefault(name, []).append(_("应为整数"))
        else:
            values[key] = raw
    return values


def _flatten(schema: Schema, document: dict, prefix: str) -> dict[str, str]:
    """A stored set as the form's input values (to start the next version from the last one)."""
    flat = {}
    for key, field in schema.fields.items():
        if key not in document:
            continue
        name = f"{prefix}.{key}"
        value = document[key]
        if _is_group(field) and isinstance(value, dict):
            flat |= _flatten(field.schema, value, name)
        elif isinstance(value, (dict, list)):
            flat[name] = json.dumps(value, ensure_ascii=False, indent=2)
        elif value is not None:
            flat[name] = str(value)
    return flat
