"""Demo honours: a city round with quotas, ratio limits and a jury, and nominations in every
state of workflows/honours.yaml, plus revocations in every state of honours_revocation.yaml.

Everything goes through the engine's operations with an explicit clock that starts two
months back, so deadlines, notices and timers play out as they would in real use.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session
from stdnum.cn import ric

from engine.base.config import LOCAL_TZ
from engine.cases.case import Case
from engine.cases.records import add_record
from engine.cases.tasks import due_of
from engine.operations.objections import lodge_objection
from engine.operations.transitions import create_draft, perform_action
from engine.org.units import SYSTEM_ACTOR
from engine.procedures.juries import cast_vote, form_jury
from engine.procedures.rounds import open_round, set_quota
from unionflow.demo_seeds import Clock, DemoWorld
from workflows.honours import VETO_FIELD, request_revocation

AWARDS = ("labour_medal", "labour_award", "pioneer_team", "women_model", "model_home", "union_worker")
JURORS = ("reviewer_city", "reviewer_dongcheng", "reviewer_xicheng")
VETO_ITEMS = ("wage_arrears", "social_insurance_arrears", "safety_accident")
ROUND_SETTINGS = {
    "over_nomination_percent": 120,
    "ratio_limits": [
        {"label": "一线职工和技术人员", "field": "person_category",
         "values": ["frontline_technician", "industrial_worker", "migrant_worker"], "min_percent": "60", "applies_from": 5},
        {"label": "企业负责人", "field": "person_category", "values": ["enterprise_head"], "max_percent": "15",
         "applies_from": 10},
        {"label": "女性", "field": "sex", "values": ["female"], "min_percent": "20", "applies_from": 5},
    ],
    "repeat_years": 5,
    "person_awards": ["labour_medal", "women_model", "union_worker"],
    "veto_items": list(VETO_ITEMS),
    "background_checks": {"enterprise_head": ["tax", "labour_inspection", "safety", "environment"],
                          "civil_servant": ["personnel", "discipline"], "*": ["discipline"]},
}

# (applicant, nominee, award, sex, person category, the state the nomination is left in)
NOMINATIONS = (
    ("applicant_jixie", "张建华", "labour_medal", "male", "frontline_technician", "draft"),
    ("applicant_fangzhi", "黄志刚", "labour_medal", "male", "industrial_worker", "returned"),
    ("applicant_shipin", "刘晓燕", "women_model", "female", "frontline_technician", "township_review"),
    ("applicant_wuliu", "新华物流运输一队", "pioneer_team", None, None, "county_review"),
    ("applicant_weisheng", "马丽", "union_worker", "female", "science_education", "city_review"),
    ("applicant_xiaoxue", "何文", "labour_medal", "male", "science_education", "jury_vote"),
    ("applicant_shangchang", "林峰", "labour_medal", "male", "enterprise_head", "public_notice"),
    ("applicant_jixie", "陈国强", "labour_medal", "male", "frontline_technician", "under_investigation"),
    ("applicant_weishengyuan", "赵春梅", "women_model", "female", "frontline_technician", "objection_answered"),
    ("applicant_shipin", "周立新", "labour_medal", "male", "migrant_worker", "final_approval"),
    ("applicant_fangzhi", "吴秀英", "women_model", "female", "industrial_worker", "approved"),
    ("applicant_wuliu", "孙海波", "labour_medal", "male", "new_form_worker", "approved"),
    ("applicant_xiaoxue", "郑晓东", "labour_medal", "male", "frontline_technician", "approved"),
    ("applicant_shangchang", "钱丽华", "women_model", "female", "frontline_technician", "approved"),
    ("applicant_weisheng", "王秀兰", "labour_medal", "female", "frontline_technician", "approved"),
    ("applicant_jixie", "东城机械厂装配车间", "labour_award", None, None, "approved"),
    ("applicant_weishengyuan", "郭强", "labour_medal", "male", "frontline_technician", "rejected"),
    ("applicant_lianhe", "罗小梅", "women_model", "female", "migrant_worker", "withdrawn"),
)
# Revocations: (nominee of an approved nomination above, state left in). Open ones need
# distinct honours: only one revocation of an honour may be open at a time.
REVOCATIONS = (
    ("吴秀英", "draft"), ("孙海波", "returned"), ("郑晓东", "township_review"), ("钱丽华", "county_review"),
    ("王秀兰", "city_review"), ("东城机械厂装配车间", "refused"), ("东城机械厂装配车间", "withdrawn"),
    ("东城机械厂装配车间", "revoked"),
)
TIMED_STATES = ("public_notice", "under_investigation", "objection_answered")
# The route to each state: the steps of the ones before it, and its own.
ROUTE = ("township_review", "county_review", "city_review", "jury_vote", "public_notice", "final_approval", "approved")


def seed(session: Session, demo: DemoWorld) -> int:
    round_ = _open_round(session, demo)
    nominations = {}
    for i, (applicant, nominee, award, sex, category, state) in enumerate(NOMINATIONS):
        # Cases left in a timed state start recently, so their clock has not run out at demo time.
        back = timedelta(days=3 if state in TIMED_STATES else 60)
        clock = Clock(demo.now - back + timedelta(hours=3 * i))
        nominations[nominee] = _nominate(session, demo, round_, clock, i, applicant, nominee, award, sex, category, state)
    for i, (nominee, state) in enumerate(REVOCATIONS):
        clock = Clock(demo.now - timedelta(days=12) + timedelta(hours=5 * i))
        _revoke(session, demo, clock, nominations[nominee], state)
    _lapsed_draft(session, demo)
    session.flush()
    return len(NOMINATIONS) + len(REVOCATIONS) + 1


def _lapsed_draft(session: Session, demo: DemoWorld) -> None:
    """An earlier, closed round: a nomination left as a draft was locked when it closed."""
    year = demo.now.astimezone(LOCAL_TZ).year
    closed = open_round(
        session, None, kind="honours", unit=demo.units["city"], title=f"{year}年度示范市模范职工之家补充推荐", year=year,
        opens_dt=demo.now - timedelta(days=60), closes_dt=demo.now - timedelta(days=20), categories=["model_home"],
        settings=ROUND_SETTINGS,
    )
    case = create_draft(session, demo.actors["applicant_lianhe"], "honours", round_id=closed.id,
                        form={"award_type": "model_home", "nominee_name": "城南联合工会职工之家",
                              "employer": "城南联合工会", "ownership": "non_public"},
                        now=demo.now - timedelta(days=30))
    perform_action(session, SYSTEM_ACTOR, case, "lock_draft", expected_version=case.version, now=closed.closes_dt,
                   comment="期限届满，系统自动处理")


def _open_round(session: Session, demo: DemoWorld):
    year = demo.now.astimezone(LOCAL_TZ).year
    round_ = open_round(
        session, None, kind="honours", unit=demo.units["city"],
        title=f"{year}年度示范市五一劳动奖和工人先锋号评选", year=year,
        opens_dt=demo.now - timedelta(days=90), closes_dt=demo.now + timedelta(days=10),
        categories=list(AWARDS), settings=ROUND_SETTINGS,
    )
    for county in ("dongcheng", "xicheng"):
        for award in AWARDS:
            set_quota(session, None, round_, demo.units[county], award, 6)
    for township in ("heping", "anding", "xinhua", "changan"):
        for award in AWARDS:
            set_quota(session, None, round_, demo.units[township], award, 3)
    form_jury(session, None, round_, title="示范市五一劳动奖评审委员会",
              member_ids=[demo.actors[name].user_id for name in JURORS])
    return round_


def _id_number(i: int, sex: str | None) -> str:
    body = f"110101{1975 + i % 20}{(i % 12) + 1:02d}{(i % 27) + 1:02d}{10 + i:02d}{1 if sex == 'male' else 2}"
    return body + ric.calc_check_digit(body + "0")


def _form(demo: DemoWorld, applicant: str, i: int, nominee: str, award: str, sex: str | None, category: str | None):
    unit = demo.actors[applicant].grants_for("applicant")[0].unit_name
    form = {
        "award_type": award, "nominee_name": nominee, "employer": unit.removesuffix("工会"),
        "ownership": "non_public" if "有限公司" in unit else "public",
        "merits_summary": f"{nominee}扎根一线多年，爱岗敬业，业绩突出，群众公认。",
    }
    if sex:
        form |= {"sex": sex, "id_number": _id_number(i, sex), "person_category": category, "post": "一线岗位"}
    return form


def _nominate(session, demo, round_, clock, i, applicant, nominee, award, sex, category, target) -> Case:
    actors = demo.actors
    form = _form(demo, applicant, i, nominee, award, sex, category)
    if target != "draft":  # drafts are left for the demo's visitor to declare
        form[VETO_FIELD] = {item: {"answer": "no"} for item in VETO_ITEMS}
    case = create_draft(session, actors[applicant], "honours", form=form, round_id=round_.id, now=clock.tick())
    if target == "draft":
        return case

    def act(actor, trigger, comment=None, inputs=None):
        perform_action(session, actors[actor] if actor else SYSTEM_ACTOR, case, trigger, expected_version=case.version,
                       comment=comment, inputs=inputs, now=clock.tick())

    act(applicant, "submit")
    township, county = demo.reviewer_at(case, "township"), demo.reviewer_at(case, "county")
    if target == "withdrawn":
        return act(applicant, "withdraw", "本人申请暂缓推荐") or case
    if target == "returned":
        act(township, "approve", "同意推荐")
        return act(county, "return", "请补充近三年的主要业绩数据和职代会决议") or case
    if target == "rejected":
        return act(township, "reject", "推荐材料与实际情况不符") or case
    for state in ROUTE:
        if case.state == target:
            return case
        if state == "township_review":
            act(township, "approve", "材料齐全，同意推荐")
        elif state == "county_review":
            act(county, "approve", "同意报市总工会")
        elif state == "city_review":
            for body in _bodies(case):
                add_record(session, actors["reviewer_city"], case, "background_opinion",
                           {"body": body, "opinion": "positive", "signer": "刘明", "opinion_date": clock.now.date().isoformat()},
                           now=clock.tick(0.5))
            act("reviewer_city", "approve", "初审通过")
        elif state == "jury_vote":
            for juror in JURORS:
                cast_vote(session, actors[juror], case, "approve", now=clock.tick(0.2))
            act("reviewer_city", "pass_jury")
        elif state == "public_notice":
            if target in ("under_investigation", "objection_answered"):
                lodge_objection(session, case.id, {"objector_kind": "person", "objector_name": "李群众",
                                                   "contact": "13800138000",
                                                   "content": "据了解被推荐人所在班组去年发生过安全事故，请核实。"}, now=clock.tick(24))
                if target == "under_investigation":
                    return case
                act(applicant, "answer_objection",
                    inputs={"answer": "经核实，所反映事故发生在其他班组，与被推荐人无关，附安全部门证明。"})
                return case
            clock.now = due_of(session, case) + timedelta(minutes=5)
            act(None, "close_notice")
        elif state == "final_approval":
            act("reviewer_city", "approve", "批准授予", inputs={
                "decision_number": f"示工发〔{round_.year}〕12号", "decision_date": clock.now.date().isoformat()})
    return case


def _bodies(case: Case) -> list[str]:
    checks = ROUND_SETTINGS["background_checks"]
    return checks.get(case.form_data.get("person_category"), checks["*"])


def _revoke(session, demo, clock, nomination: Case, target: str) -> None:
    applicant = next(name for name, actor in demo.actors.items()
                     if any(g.role == "applicant" and g.unit_id == nomination.origin_unit_id for g in actor.grants))
    actors = demo.actors
    ground = "faked_merits" if target == "revoked" else "conviction"
    case = request_revocation(session, actors[applicant], nomination, {
        "ground": ground, "reason": "经核查，推荐材料中所列主要业绩与实际情况不符。"}, now=clock.tick())

    def act(actor, trigger, comment=None, inputs=None):
        perform_action(session, actors[actor], case, trigger, expected_version=case.version, comment=comment,
                       inputs=inputs, now=clock.tick())

    steps = {
        "draft": [],
        "withdrawn": [(applicant, "withdraw", "经研究暂不提出撤销")],
        "returned": [(applicant, "submit", None), (demo.reviewer_at(case, "township"), "return", "请补充司法文书")],
        "township_review": [(applicant, "submit", None)],
        "county_review": [(applicant, "submit", None), (demo.reviewer_at(case, "township"), "approve", "同意")],
        "city_review": [(applicant, "submit", None), (demo.reviewer_at(case, "township"), "approve", "同意"),
                        (demo.reviewer_at(case, "county"), "approve", "同意")],
        "refused": [(applicant, "submit", None), (demo.reviewer_at(case, "township"), "reject", "所述情况不属于撤销情形")],
        "revoked": [(applicant, "submit", None), (demo.reviewer_at(case, "township"), "approve", "同意"),
                    (demo.reviewer_at(case, "county"), "approve", "同意")],
    }[target]
    for actor, trigger, comment in steps:
        act(actor, trigger, comment)
    if target == "revoked":
        act("reviewer_city", "approve", "决定撤销", inputs={
            "decision_number": "示工发〔撤〕1号", "decision_date": clock.now.date().isoformat()})
