"""Organisation tree, people and role assignments.

Org units form a tree (city → county/district → township/street → grassroots).
Each unit stores a materialized path of ancestor ids ("/1/4/9/"), so "everything
under this county" is one range scan on an indexed column.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, and_, false, select, true,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, selectinload

from engine.base.config import LOCAL_TZ
from engine.base.db import Base, PathString, UTCDateTime, utcnow
from engine.base.errors import NotFound, ValidationFailed
from engine.org.delegations import Delegation, StandIn, running_on

# From the top of the hierarchy down; "origin" in definitions means the case's own unit.
LEVELS = ("city", "county", "township", "grassroots")
LEVEL_LABELS = {"city": "市总工会", "county": "县（区）总工会", "township": "镇（街道）总工会", "grassroots": "基层工会"}
ROLES = ("applicant", "reviewer", "auditor", "admin")
# "juror" is no assignable role: it is what a jury member votes as (engine.procedures.juries.juror_grant).
ROLE_LABELS = {"applicant": "申报人", "reviewer": "审核人", "auditor": "审计人员", "admin": "管理员", "juror": "评委"}
UNIT_KINDS = ("federation", "union", "joint_union")
UNIT_KIND_LABELS = {"federation": "总工会", "union": "工会", "joint_union": "联合工会"}


class OrgUnit(Base):
    __tablename__ = "org_units"
    __table_args__ = (
        CheckConstraint(f"level IN {LEVELS}", name="level_known"),
        CheckConstraint(f"kind IN {UNIT_KINDS}", name="kind_known"),
        Index("ix_org_units_path", "path"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20), default="union")
    # Filled right after insert, once the id is known.
    path: Mapped[str] = mapped_column(PathString)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped[OrgUnit | None] = relationship(remote_side=[id])

    def ancestor_ids(self) -> list[int]:
        return path_ids(self.path)

    def __repr__(self) -> str:
        return f"<OrgUnit {self.id} {self.name} {self.level}>"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Notifications are also mailed (to ``email``) unless the person turned it off.
    email_notifications: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Every browser session carries the generation it began in; signing out, a password change or
    # a reset moves it on, which ends every session begun before (the cookies are signed, not stored).
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    assignments: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )


class RoleAssignment(Base):
    __tablename__ = "role_assignments"
    __table_args__ = (
        UniqueConstraint("user_id", "role", "org_unit_id"),
        CheckConstraint(f"role IN {ROLES}", name="role_known"),
        CheckConstraint("role = 'auditor' OR NOT full_data", name="full_data_for_auditors"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    # An auditor who may export ID numbers and bank accounts in full (each use is logged).
    full_data: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    user: Mapped[User] = relationship(back_populates="assignments")
    org_unit: Mapped[OrgUnit] = relationship()


def path_ids(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part]


def subtree_clause(column, path: str):
    """SQL condition "column holds a path at or below ``path``", as an index range scan.

    Paths end with "/", and "0" is the byte after "/", so every descendant path
    sorts in [path, path[:-1] + "0").
    """
    return and_(column >= path, column < path[:-1] + "0")


# --- The acting person, as a snapshot ----------------------------------------------------------

@dataclass(frozen=True)
class Grant:
    """One role held at one unit, with what permission checks and the audit trail need."""

    role: str
    unit_id: int
    unit_level: str
    unit_path: str
    unit_name: str
    # Auditors only: may export personal data unmasked (RoleAssignment.full_data).
    full_data: bool = False


@dataclass(frozen=True)
class Actor:
    """Who is acting: identity and grants, detached from any session.

    Engine operations take an Actor, not an ORM User, so one can be built once per
    request (or per worker) and the audit trail records the grants as they were.
    """

    user_id: int | None
    name: str
    grants: tuple[Grant, ...]
    # Whom the person stands in for today (engine.org.delegations).
    stands_in: tuple[StandIn, ...] = ()

    def grants_for(self, role: str) -> list[Grant]:
        return [grant for grant in self.grants if grant.role == role]


SYSTEM_ACTOR = Actor(user_id=None, name="系统", grants=())


def load_actor(session: Session, user_id: int, now: datetime | None = None) -> Actor:
    user = session.scalar(
        select(User)
        .where(User.id == user_id, User.is_active.is_(True))
        .options(selectinload(User.assignments).selectinload(RoleAssignment.org_unit))
    )
    if user is None:
        raise NotFound("用户不存在或已停用")
    grants = tuple(
        Grant(a.role, a.org_unit_id, a.org_unit.level, a.org_unit.path, a.org_unit.name, a.full_data)
        for a in sorted(user.assignments, key=lambda a: (a.role, a.org_unit_id))
    )
    today = (now or utcnow()).astimezone(LOCAL_TZ).date()
    return Actor(user_id=user.id, name=user.display_name, grants=grants,
                 stands_in=stand_ins_of(session, user.id, today))


def stand_ins_of(session: Session, deputy_id: int, day: date) -> tuple[StandIn, ...]:
    """Whom the person stands in for on ``day``."""
    rows = session.execute(
        select(Delegation.principal_id, User.display_name, Delegation.role, Delegation.unit_id)
        .join(User, User.id == Delegation.principal_id)
        .where(Delegation.deputy_id == deputy_id, running_on(day)).order_by(Delegation.id)).all()
    return tuple(StandIn(*row) for row in rows)


# --- Operations ----------------------------------------------------------------------------------

def create_org_unit(
    session: Session, *, name: str, level: str, parent: OrgUnit | None = None, kind: str = "union"
) -> OrgUnit:
    """Add a unit under ``parent``; a child sits strictly lower in the hierarchy than its parent."""
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = ["请填写单位名称"]
    if level not in LEVELS:
        errors["level"] = [f"未知层级「{level}」"]
    elif parent is None and level != LEVELS[0]:
        errors["parent"] = ["只有市总工会可以没有上级单位"]
    elif parent is not None and LEVELS.index(level) <= LEVELS.index(parent.level):
        errors["level"] = [f"{LEVEL_LABELS[level]}不能设在{LEVEL_LABELS[parent.level]}之下"]
    if kind not in UNIT_KINDS:
        errors["kind"] = [f"未知单位类型「{kind}」"]
    if errors:
        raise ValidationFailed(errors)
    unit = OrgUnit(name=name.strip(), level=level, kind=kind, parent=parent, path="")
    session.add(unit)
    session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    session.flush()
    return unit


def create_user(
    session: Session, *, username: str, display_name: str, email: str | None = None,
    password_hash: str | None = None,
) -> User:
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ValidationFailed({"username": ["该用户名已被使用"]})
    user = User(username=username, display_name=display_name, email=email, password_hash=password_hash)
    session.add(user)
    session.flush()
    return user


def assign_role(session: Session, user: User, role: str, unit: OrgUnit, *, full_data: bool = False) -> RoleAssignment:
    if role not in ROLES:
        raise ValidationFailed({"role": [f"未知角色「{role}」"]})
    if full_data and role != "auditor":
        raise ValidationFailed({"full_data": ["只有审计人员可以授予查看完整个人信息的权限"]})
    assignment = RoleAssignment(user=user, role=role, org_unit=unit, full_data=full_data)
    session.add(assignment)
    session.flush()
    return assignment


def unit_names(session: Session) -> dict[int, str]:
    """Every unit's name by id, for lists that name units of any part of the tree (not a scope)."""
    return dict(session.execute(select(OrgUnit.id, OrgUnit.name)).all())


def unit_chain(session: Session, unit: OrgUnit) -> dict[str, int]:
    """The unit and its ancestors, keyed by level: {"city": 1, "county": 4, ...}."""
    rows = session.execute(select(OrgUnit.id, OrgUnit.level).where(OrgUnit.id.in_(unit.ancestor_ids())))
    return {level: unit_id for unit_id, level in rows}
