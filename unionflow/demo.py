"""The demo city: an org tree, a person for every role, and honours cases in several states.

Everything goes through engine operations (org units, users, role grants, case
transitions), exactly as real use would; nothing is inserted behind the engine's back.
Each function flushes; the caller commits.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from engine.base.config import LOCAL_TZ
from engine.base.db import utcnow
from engine.calendar.working_days import last_covered_year
from engine.cases.attachments import FileStore
from engine.cases.case import Case
from engine.definitions.store import WorkflowKind
from engine.org.units import (
    ROLE_LABELS, Actor, OrgUnit, RoleAssignment, User, assign_role, create_org_unit, create_user, load_actor,
)
from unionflow.demo_seeds import SEED_ORDER, DemoWorld

# Shown on the home page in demo mode: every demo account uses it.
DEMO_PASSWORD = "gonghui2026"
CITY_NAME = "示范市总工会"

# county key, name, [(township key, name, [(grassroots key, name, unit kind)])]
COUNTIES = (
    ("dongcheng", "东城区总工会", (
        ("heping", "和平街道总工会", (
            ("jixie", "东城机械厂工会", "union"),
            ("weisheng", "和平社区卫生服务中心工会", "union"),
        )),
        ("anding", "安定镇总工会", (
            ("shipin", "安定食品有限公司工会", "union"),
            ("xiaoxue", "安定镇中心小学工会", "union"),
            ("lianhe", "安定镇小微企业联合工会", "joint_union"),
        )),
    )),
    ("xicheng", "西城区总工会", (
        ("xinhua", "新华街道总工会", (
            ("wuliu", "新华物流有限公司工会", "union"),
            ("shangchang", "新华百货商场工会", "union"),
        )),
        ("changan", "长安镇总工会", (
            ("fangzhi", "长安纺织厂工会", "union"),
            ("weishengyuan", "长安镇卫生院工会", "union"),
        )),
    )),
)

# A township reviewer who is also the county's auditor.
MULTI_ROLE_USER = "reviewer_heping_auditor_dongcheng"
# username, display name, ((role, unit key), ...): one grant each, but for MULTI_ROLE_USER.
DEMO_USERS = (
    ("admin", "赵敏", (("admin", "city"),)),
    ("reviewer_city", "钱学明", (("reviewer", "city"),)),
    ("auditor_city", "孙丽", (("auditor", "city"),)),
    ("reviewer_dongcheng", "李伟", (("reviewer", "dongcheng"),)),
    ("applicant_dongcheng", "田野", (("applicant", "dongcheng"),)),
    ("auditor_dongcheng", "吴静", (("auditor", "dongcheng"),)),
    ("reviewer_xicheng", "周强", (("reviewer", "xicheng"),)),
    ("applicant_xicheng", "石磊", (("applicant", "xicheng"),)),
    ("reviewer_heping", "郑华", (("reviewer", "heping"),)),
    ("reviewer_anding", "王磊", (("reviewer", "anding"),)),
    ("reviewer_xinhua", "冯雪", (("reviewer", "xinhua"),)),
    ("reviewer_changan", "陈刚", (("reviewer", "changan"),)),
    ("reviewer_jixie", "严敏", (("reviewer", "jixie"),)),
    ("reviewer_weisheng", "华英", (("reviewer", "weisheng"),)),
    ("reviewer_shipin", "金浩", (("reviewer", "shipin"),)),
    ("reviewer_xiaoxue", "魏芳", (("reviewer", "xiaoxue"),)),
    ("reviewer_lianhe", "陶然", (("reviewer", "lianhe"),)),
    ("reviewer_wuliu", "姜宁", (("reviewer", "wuliu"),)),
    ("reviewer_shangchang", "戚云", (("reviewer", "shangchang"),)),
    ("reviewer_fangzhi", "谢军", (("reviewer", "fangzhi"),)),
    ("reviewer_weishengyuan", "邹燕", (("reviewer", "weishengyuan"),)),
    ("applicant_jixie", "褚红", (("applicant", "jixie"),)),
    ("applicant_weisheng", "卫东", (("applicant", "weisheng"),)),
    ("applicant_shipin", "蒋涛", (("applicant", "shipin"),)),
    ("applicant_xiaoxue", "沈梅", (("applicant", "xiaoxue"),)),
    ("applicant_lianhe", "韩冰", (("applicant", "lianhe"),)),
    ("applicant_wuliu", "杨帆", (("applicant", "wuliu"),)),
    ("applicant_shangchang", "朱琳", (("applicant", "shangchang"),)),
    ("applicant_fangzhi", "秦勇", (("applicant", "fangzhi"),)),
    ("applicant_weishengyuan", "许丹", (("applicant", "weishengyuan"),)),
    # One person, two hats: the header's switcher changes which of them the pages act in.
    (MULTI_ROLE_USER, "蔡明", (("reviewer", "heping"), ("auditor", "dongcheng"))),
)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    grants: tuple[tuple[str, str], ...]  # (role label, unit name)


def demo_city(session: Session) -> OrgUnit | None:
    return session.scalar(select(OrgUnit).where(OrgUnit.name == CITY_NAME, OrgUnit.level == "city"))


def seed_demo_org(session: Session) -> tuple[int, int]:
    """Create the demo city and its people unless present; return (units, users) created."""
    if demo_city(session) is not None:
        return 0, 0
    units = _create_units(session)
    # One published password, so one hash: argon2 is slow on purpose, and salting
    # each copy of a password printed on the home page would protect nothing.
    password_hash = PasswordHasher().hash(DEMO_PASSWORD)
    for username, display_name, grants in DEMO_USERS:
        user = create_user(session, username=username, display_name=display_name, password_hash=password_hash)
        for role, unit_key in grants:
            assign_role(session, user, role, units[unit_key])
    session.flush()
    return len(units), len(DEMO_USERS)


def _create_units(session: Session) -> dict[str, OrgUnit]:
    city = create_org_unit(session, name=CITY_NAME, level="city", kind="federation")
    units = {"city": city}
    for county_key, county_name, townships in COUNTIES:
        county = units[county_key] = create_org_unit(
            session, name=county_name, level="county", parent=city, kind="federation"
        )
        for township_key, township_name, grassroots in townships:
            township = units[township_key] = create_org_unit(
                session, name=township_name, level="township", parent=county, kind="federation"
            )
            for key, name, kind in grassroots:
                units[key] = create_org_unit(session, name=name, level="grassroots", parent=township, kind=kind)
    return units


def seed_demo_cases(session: Session, store: FileStore, now: datetime | None = None) -> int:
    """Cases of every kind in every state, through real operations; return how many were created.

    Skipped when the demo city is missing or demo cases already exist; a kind whose
    definition is not loaded is left out.
    """
    if demo_city(session) is None or session.scalar(select(func.count(Case.id))):
        return 0
    demo = demo_world(session, store, now)
    created = 0
    for kind in SEED_ORDER:
        if session.get(WorkflowKind, kind) is not None:
            created += importlib.import_module(f"unionflow.demo_seeds.{kind}").seed(session, demo)
    session.flush()
    return created


def demo_world(session: Session, store: FileStore, now: datetime | None = None) -> DemoWorld:
    """The demo city's units by COUNTIES key and its people by username, for the seed modules."""
    city = demo_city(session)
    names = {"city": CITY_NAME}
    for county_key, county_name, townships in COUNTIES:
        names[county_key] = county_name
        for township_key, township_name, grassroots in townships:
            names[township_key] = township_name
            names.update({key: name for key, name, _kind in grassroots})
    by_name = {unit.name: unit for unit in session.scalars(
        select(OrgUnit).where(OrgUnit.path.startswith(city.path), OrgUnit.name.in_(names.values())))}
    units = {key: by_name[name] for key, name in names.items()}
    return DemoWorld(units=units, actors=_demo_actors(session), now=demo_now(session, now or utcnow()), store=store)


def demo_now(session: Session, now: datetime) -> datetime:
    """The demo's "now": today, unless the working-day calendar does not reach this year yet.

    Deadlines are never guessed, so a demo seeded in a year the calendar lacks is dated in
    the last year it covers (mid-November, so that every deadline it sets stays covered).
    """
    last_year = last_covered_year(session)
    if now.astimezone(LOCAL_TZ).year <= last_year:
        return now
    return datetime(last_year, 11, 16, 10, 0, tzinfo=LOCAL_TZ).astimezone(now.tzinfo)


def _demo_actors(session: Session) -> dict[str, Actor]:
    users = session.execute(select(User.username, User.id).where(User.username.in_([u[0] for u in DEMO_USERS])))
    return {username: load_actor(session, user_id) for username, user_id in users}


def demo_accounts(session: Session) -> list[DemoAccount]:
    """The demo users that exist, in the order of DEMO_USERS, with their roles and units."""
    order = {username: i for i, (username, *_rest) in enumerate(DEMO_USERS)}
    users = session.scalars(
        select(User)
        .where(User.username.in_(order))
        .options(selectinload(User.assignments).selectinload(RoleAssignment.org_unit))
    )
    accounts = [
        DemoAccount(
            user.username, user.display_name,
            # In the order of the header's switcher (engine.org.units.load_actor's).
            tuple((ROLE_LABELS[a.role], a.org_unit.name)
                  for a in sorted(user.assignments, key=lambda a: (a.role, a.org_unit_id))),
        )
        for user in users
    ]
    return sorted(accounts, key=lambda account: order[account.username])
