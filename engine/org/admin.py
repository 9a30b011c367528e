"""Administration of the org tree, accounts and role grants, within the admin's own subtree.

An admin holds the ``admin`` role at a unit and manages that unit and everything below
it: a county admin adds townships and grassroots unions under the county, and grants roles
only there. A person is managed by an admin when every role they hold lies inside the
admin's subtree (a person without any role yet is managed by any admin): so a county admin
can never reset the password of, or deactivate, someone who also holds a role elsewhere.
Units and people outside the subtree are reported as missing, never shown.
"""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import exists, not_, or_, select
from sqlalchemy.orm import Session, selectinload

from engine.base.errors import Conflict, InvalidAction, NotFound, PermissionDenied, ValidationFailed
from engine.base.inputs import check_text
from engine.org.accounts import end_sessions, set_password
from engine.org.units import (
    Actor, OrgUnit, RoleAssignment, User, assign_role, create_org_unit, create_user, subtree_clause,
)

UNIT_NOT_FOUND = "单位不存在或不在您的管理范围内"
USER_NOT_FOUND = "用户不存在或不在您的管理范围内"


# --- An account's fields: one set of rules for every way in ---------------------------------------
# The API's schemas derive from these; a password's rules are engine.org.accounts.set_password's.

def _display_name(required: bool) -> fields.String:
    return fields.String(required=required, validate=validate.Length(min=1, max=64, error="应为 1 到 64 个字"))


def _email() -> fields.Email:
    return fields.Email(allow_none=True, validate=validate.Length(max=254, error="不能超过 254 个字符"))


class NewPersonSchema(Schema):
    username = fields.String(required=True, validate=[
        validate.Length(min=1, max=64, error="应为 1 到 64 个字符"),
        validate.Regexp(r"^[A-Za-z0-9_.@-]+$", error="用户名只能包含字母、数字和 _ . @ -")])
    display_name = _display_name(required=True)
    email = _email()


class PersonChangesSchema(Schema):
    display_name = _display_name(required=False)
    email = _email()


def _checked(schema: Schema, values: dict) -> dict:
    """The values as the schema loads them, or its messages as the engine's ValidationFailed."""
    try:
        return schema.load(values)
    except ValidationError as err:
        raise ValidationFailed({name: list(map(str, messages)) if isinstance(messages, list) else [str(messages)]
                                for name, messages in err.normalized_messages().items()}) from None


# --- Scope -----------------------------------------------------------------------------------------

def admin_paths(actor: Actor) -> list[str]:
    """The paths of the units the actor administers; refused outright for non-admins."""
    paths = [grant.unit_path for grant in actor.grants_for("admin")]
    if not paths:
        raise PermissionDenied("只有管理员可以管理单位和用户")
    return paths


def _in_scope(column, paths: list[str]):
    return or_(*(subtree_clause(column, path) for path in paths))


def _unit_in_scope(session: Session, paths: list[str], unit_id: int) -> OrgUnit | None:
    return session.scalar(select(OrgUnit).where(OrgUnit.id == unit_id, _in_scope(OrgUnit.path, paths)))


def _managed_users(paths: list[str]):
    """Users none of whose role assignments lies outside the admin's subtrees."""
    outside = (
        select(RoleAssignment.id)
        .join(OrgUnit, OrgUnit.id == RoleAssignment.org_unit_id)
        .where(RoleAssignment.user_id == User.id, not_(_in_scope(OrgUnit.path, paths)))
    )
    return select(User).where(not_(exists(outside))).options(
        selectinload(User.assignments).selectinload(RoleAssignment.org_unit))


# --- Org units -------------------------------------------------------------------------------------

def list_org_units(session: Session, actor: Actor, *, parent_id: int | None = None) -> list[OrgUnit]:
    """The units the actor administers, parents before children (path order); or the
    direct children of one of them."""
    paths = admin_paths(actor)
    query = select(OrgUnit).where(_in_scope(OrgUnit.path, paths))
    if parent_id is not None:
        if _unit_in_scope(session, paths, parent_id) is None:
            raise NotFound(UNIT_NOT_FOUND)
        query = query.where(OrgUnit.parent_id == parent_id)
    return list(session.scalars(query.order_by(OrgUnit.path)))


def get_org_unit(session: Session, actor: Actor, unit_id: int) -> OrgUnit:
    unit = _unit_in_scope(session, admin_paths(actor), unit_id)
    if unit is None:
        raise NotFound(UNIT_NOT_FOUND)
    return unit


def add_org_unit(session: Session, actor: Actor, *, name: str, level: str, kind: str, parent_id: int) -> OrgUnit:
    """A new unit under a unit the actor administers (the top of the tree is not made here)."""
    paths = admin_paths(actor)
    check_text({"name": name})
    parent = session.get(OrgUnit, parent_id)
    if parent is None:
        raise ValidationFailed({"parent_id": ["上级单位不存在"]})
    if _unit_in_scope(session, paths, parent_id) is None:
        raise PermissionDenied("只能在您管理的单位之下新建单位")
    return create_org_unit(session, name=name, level=level, parent=parent, kind=kind)


# --- People ----------------------------------------------------------------------------------------

def list_users(
    session: Session, actor: Actor, *, unit_id: int | None = None, text: str | None = None,
    after_id: int | None = None, limit: int = 50,
) -> list[User]:
    """People the actor manages, by id; ``unit_id``: those holding a role at that unit;
    ``text``: a part of the username or display name. ``limit`` rows after ``after_id``."""
    paths = admin_paths(actor)
    query = _managed_users(paths)
    if unit_id is not None:
        if _unit_in_scope(session, paths, unit_id) is None:
            raise NotFound(UNIT_NOT_FOUND)
        query = query.where(User.assignments.any(RoleAssignment.org_unit_id == unit_id))
    if text:
        pattern = f"%{_escape_like(text)}%"
        query = query.where(or_(User.username.ilike(pattern, escape="\\"),
                                User.display_name.ilike(pattern, escape="\\")))
    if after_id is not None:
        query = query.where(User.id > after_id)
    return list(session.scalars(query.order_by(User.id).limit(limit)))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_user(session: Session, actor: Actor, user_id: int) -> User:
    user = session.scalar(_managed_users(admin_paths(actor)).where(User.id == user_id))
    if user is None:
        raise NotFound(USER_NOT_FOUND)
    return user


def add_user(
    session: Session, actor: Actor, *, username: str, display_name: str, email: str | None = None,
    password: str | None = None,
) -> User:
    """A new account, without roles yet (grant them with ``grant_role``). Without a password
    the person cannot sign in until one is set."""
    admin_paths(actor)
    given = {"username": username, "display_name": display_name, "email": email}
    _checked(NewPersonSchema(), {name: value for name, value in given.items() if value is not None})
    errors: dict[str, list[str]] = {}
    if not username.strip():
        errors["username"] = ["请填写用户名"]
    if not display_name.strip():
        errors["display_name"] = ["请填写姓名"]
    if errors:
        raise ValidationFailed(errors)
    check_text({"username": username, "display_name": display_name, "email": email})
    user = create_user(session, username=username.strip(), display_name=display_name.strip(), email=email)
    if password is not None:
        set_password(session, user, password)
    return user


def update_user(session: Session, actor: Actor, user_id: int, changes: dict) -> User:
    """Change a managed person's name, email, password or whether the account is active.

    Deactivating takes effect at once: sessions and tokens stop working (engine.org.accounts), and the
    sessions stay ended if the account is reactivated. A new password ends every session too."""
    user = get_user(session, actor, user_id)
    _checked(PersonChangesSchema(), {name: changes[name] for name in ("display_name", "email") if name in changes})
    check_text({name: changes[name] for name in ("display_name", "email") if name in changes})
    if "display_name" in changes:
        if not changes["display_name"].strip():
            raise ValidationFailed({"display_name": ["请填写姓名"]})
        user.display_name = changes["display_name"].strip()
    if "email" in changes:
        user.email = changes["email"]
    if "is_active" in changes:
        if not changes["is_active"] and user.id == actor.user_id:
            raise ValidationFailed({"is_active": ["不能停用自己的账号"]})
        if user.is_active and not changes["is_active"]:
            end_sessions(session, user)  # a reactivation later does not bring old sessions back
        user.is_active = changes["is_active"]
    if changes.get("password") is not None:
        set_password(session, user, changes["password"])
    session.flush()
    return user


def grant_role(session: Session, actor: Actor, user_id: int, *, role: str, unit_id: int,
               full_data: bool = False) -> RoleAssignment:
    """Give a managed person a role at a unit the actor administers; the same grant twice is a
    conflict. ``full_data`` (auditors only) lets them export personal data unmasked."""
    paths = admin_paths(actor)
    user = get_user(session, actor, user_id)
    unit = session.get(OrgUnit, unit_id)
    if unit is None:
        raise ValidationFailed({"unit_id": ["单位不存在"]})
    if _unit_in_scope(session, paths, unit_id) is None:
        raise PermissionDenied("只能在您管理的单位授予角色")
    if any(a.role == role and a.org_unit_id == unit_id for a in user.assignments):
        raise Conflict("该用户在该单位已有此角色")
    return assign_role(session, user, role, unit, full_data=full_data)


def revoke_role(session: Session, actor: Actor, user_id: int, assignment_id: int) -> None:
    """Take back one of a managed person's roles; never an admin's own last admin role, which
    would leave them unable to manage their unit (a higher admin does that)."""
    user = get_user(session, actor, user_id)
    assignment = next((a for a in user.assignments if a.id == assignment_id), None)
    if assignment is None:
        raise NotFound("该角色授予不存在")
    if user.id == actor.user_id and assignment.role == "admin" \
            and sum(a.role == "admin" for a in user.assignments) == 1:
        raise InvalidAction("不能收回您自己仅有的管理员角色，否则将无法再管理本单位；请由上级管理员办理")
    user.assignments.remove(assignment)  # delete-orphan: the row goes
    session.flush()
