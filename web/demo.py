"""The demo city: an org tree, a person for every role, and honours cases in several states.

Everything goes through engine operations (org units, users, role grants, case
transitions), exactly as real use would; nothing is inserted behind the engine's back.
Each function flushes; the caller commits.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from engine.cases import Case
from engine.db import utcnow
from engine.definitions import WorkflowKind
from engine.operations import create_draft, perform_action
from engine.org import (
    ROLE_LABELS,
    Actor,
    OrgUnit,
    RoleAssignment,
    User,
    assign_role,
    create_org_unit,
    create_user,
    load_actor,
)

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

# username, display name, role, unit key
DEMO_USERS = (
    ("admin", "赵敏", "admin", "city"),
    ("reviewer_city", "钱学明", "reviewer", "city"),
    ("auditor_city", "孙丽", "auditor", "city"),
    ("reviewer_dongcheng", "李伟", "reviewer", "dongcheng"),
    ("auditor_dongcheng", "吴静", "auditor", "dongcheng"),
    ("reviewer_xicheng", "周强", "reviewer", "xicheng"),
    ("reviewer_heping", "郑华", "reviewer", "heping"),
    ("reviewer_anding", "王磊", "reviewer", "anding"),
    ("reviewer_xinhua", "冯雪", "reviewer", "xinhua"),
    ("reviewer_changan", "陈刚", "reviewer", "changan"),
    ("applicant_jixie", "褚红", "applicant", "jixie"),
    ("applicant_weisheng", "卫东", "applicant", "weisheng"),
    ("applicant_shipin", "蒋涛", "applicant", "shipin"),
    ("applicant_xiaoxue", "沈梅", "applicant", "xiaoxue"),
    ("applicant_lianhe", "韩冰", "applicant", "lianhe"),
    ("applicant_wuliu", "杨帆", "applicant", "wuliu"),
    ("applicant_shangchang", "朱琳", "applicant", "shangchang"),
    ("applicant_fangzhi", "秦勇", "applicant", "fangzhi"),
    ("applicant_weishengyuan", "许丹", "applicant", "weishengyuan"),
)

# Honours nominations: (applicant, nominee, award, [(actor, trigger, comment)]).
# Each list of steps leaves the case in a different state of workflows/honours.yaml.
DEMO_HONOURS = (
    ("applicant_jixie", "张建华", "labour_medal", ()),
    ("applicant_shipin", "刘晓燕", "women_model", (
        ("applicant_shipin", "submit", None),
    )),
    ("applicant_wuliu", "新华物流运输一队", "pioneer_team", (
        ("applicant_wuliu", "submit", None),
        ("reviewer_xinhua", "approve", "材料齐全，同意推荐"),
    )),
    ("applicant_fangzhi", "黄志刚", "labour_medal", (
        ("applicant_fangzhi", "submit", None),
        ("reviewer_changan", "approve", "同意推荐"),
        ("reviewer_xicheng", "return", "请补充近三年的主要业绩数据和职代会决议"),
    )),
    ("applicant_weisheng", "马丽", "union_worker", (
        ("applicant_weisheng", "submit", None),
        ("reviewer_heping", "approve", "同意推荐"),
        ("reviewer_dongcheng", "approve", "同意报市总工会"),
    )),
    ("applicant_xiaoxue", "何文", "labour_medal", (
        ("applicant_xiaoxue", "submit", None),
        ("reviewer_anding", "approve", None),
        ("reviewer_dongcheng", "approve", None),
        ("reviewer_city", "approve", "初审通过"),
    )),
    ("applicant_shangchang", "林峰", "labour_medal", (
        ("applicant_shangchang", "submit", None),
        ("reviewer_xinhua", "approve", None),
        ("reviewer_xicheng", "approve", None),
        ("reviewer_city", "approve", "初审通过"),
        ("reviewer_city", "approve", "公示期满无异议"),
    )),
    ("applicant_weishengyuan", "郭强", "labour_medal", (
        ("applicant_weishengyuan", "submit", None),
        ("reviewer_changan", "reject", "推荐材料与实际情况不符"),
    )),
    ("applicant_lianhe", "罗小梅", "women_model", (
        ("applicant_lianhe", "submit", None),
        ("applicant_lianhe", "withdraw", "本人申请暂缓推荐"),
    )),
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
    for username, display_name, role, unit_key in DEMO_USERS:
        user = create_user(session, username=username, display_name=display_name, password_hash=password_hash)
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


def seed_demo_cases(session: Session, now: datetime | None = None) -> int:
    """Honours nominations in several states, through real operations; return how many were created.

    Skipped when the demo city is missing, honours is not loaded, or its cases already exist.
    """
    city = demo_city(session)
    if city is None or session.get(WorkflowKind, "honours") is None:
        return 0
    if session.scalar(select(func.count(Case.id)).where(Case.kind == "honours")):
        return 0
    # Spread the steps over the past days so the trail reads like real work.
    clock = (now or utcnow()) - timedelta(days=len(DEMO_HONOURS) + 1)
    actors = _demo_actors(session)
    for applicant, nominee, award, steps in DEMO_HONOURS:
        clock += timedelta(hours=20)
        form = _honours_form(actors[applicant], nominee, award)
        case = create_draft(session, actors[applicant], "honours", form=form, now=clock)
        for username, trigger, comment in steps:
            clock += timedelta(hours=1)
            perform_action(session, actors[username], case, trigger, expected_version=case.version,
                           comment=comment, now=clock)
    session.flush()
    return len(DEMO_HONOURS)


def _demo_actors(session: Session) -> dict[str, Actor]:
    users = session.execute(select(User.username, User.id).where(User.username.in_([u[0] for u in DEMO_USERS])))
    return {username: load_actor(session, user_id) for username, user_id in users}


def _honours_form(applicant: Actor, nominee: str, award: str) -> dict:
    unit_name = applicant.grants_for("applicant")[0].unit_name
    return {
        "award_type": award,
        "nominee_name": nominee,
        "employer": unit_name.removesuffix("工会"),
        "ownership": "non_public" if "有限公司" in unit_name else "public",
        "merits_summary": f"{nominee}扎根一线多年，爱岗敬业，业绩突出，群众公认。",
    }


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
            tuple((ROLE_LABELS[a.role], a.org_unit.name) for a in user.assignments),
        )
        for user in users
    ]
    return sorted(accounts, key=lambda account: order[account.username])
