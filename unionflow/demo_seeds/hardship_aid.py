"""Demo hardship aid: the city's standards for this year and the last, and applications in
every state of workflows/hardship_aid.yaml, plus last year's aided file with its re-check.

Everything goes through the engine's operations with an explicit clock before demo.now;
notices and investigations still running at demo.now were entered in its last day, so no
timer is due yet when the demo starts.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy.orm import Session
from stdnum.cn import ric

from engine.base.config import LOCAL_TZ
from engine.cases.case import Case
from engine.cases.records import add_record
from engine.cases.tasks import due_of
from engine.operations.objections import lodge_objection
from engine.operations.transitions import create_draft, perform_action
from engine.org.units import SYSTEM_ACTOR
from engine.procedures.parameters import set_parameters
from unionflow.demo_seeds import Clock, DemoWorld
from workflows.hardship_aid import STANDARDS, record_disbursement, start_yearly_recheck

# One Jiangsu city's 2024 figures (shared/domain.md §2): 低保 820 a month, 1× / 2×, 80%.
STANDARD_VALUES = {
    "minimum_living_standard": "820.00", "deep_multiplier": "1", "relative_multiplier": "2",
    "accident_cost_share": "0.8", "living_aid_months": {"deep": 12, "relative": 10, "accident": 12},
    "yearly_cap_per_household": "20000.00",
}
# The grassroots unions visit homes; the demo org has no reviewer there, so the seed adds one
# per unit it uses (same demo password) unless web/demo.py already has them.
# (applicant's unit, worker, household size, yearly income, rigid expenses, hardship costs, reason, state)
APPLICATIONS = (
    ("jixie", "孙大勇", 3, "30000.00", "6000.00", None, "illness", "draft"),
    ("fangzhi", "李秀珍", 4, "52000.00", "14000.00", None, "disability", "returned"),
    ("shipin", "王建国", 3, "28000.00", "4000.00", None, "unemployment", "home_visit"),
    ("wuliu", "赵宏", 2, "30000.00", "8000.00", None, "illness", "township_review"),
    ("weisheng", "钱芳", 3, "46000.00", "12000.00", None, "education", "county_review"),
    ("xiaoxue", "周平", 4, "36000.00", "6000.00", None, "illness", "public_notice"),
    ("shangchang", "吴刚", 3, "33000.00", "9000.00", None, "disability", "objection_investigation"),
    ("weishengyuan", "郑丽", 2, "26000.00", "5000.00", None, "illness", "objection_judgement"),
    ("lianhe", "冯军", 3, "80000.00", "10000.00", "70000.00", "accident", "approval"),
    ("jixie", "陈静", 2, "22000.00", "3000.00", None, "illness", "disbursement"),
    ("fangzhi", "褚强", 3, "29000.00", "5000.00", None, "disability", "aided"),
    ("wuliu", "卫红", 3, "150000.00", "10000.00", None, "other", "rejected"),
    ("shipin", "蒋明", 2, "24000.00", "2000.00", None, "illness", "withdrawn"),
)
ROUTE = ("home_visit", "township_review", "county_review", "public_notice", "approval", "disbursement", "aided")
OBJECTION = {"objector_kind": "person", "objector_name": "刘群众", "contact": "13900139000",
             "content": "据了解申请人家庭有一辆小轿车经常使用，请核实。"}


def seed(session: Session, demo: DemoWorld) -> int:
    year = demo.now.astimezone(LOCAL_TZ).year
    for each in (year - 1, year):
        set_parameters(session, None, STANDARDS, unit=demo.units["city"], valid_from=date(each, 1, 1),
                       valid_to=date(each, 12, 31), values=STANDARD_VALUES)
    actors = demo.actors
    for i, application in enumerate(APPLICATIONS):
        clock = Clock(demo.now - timedelta(days=40) + timedelta(hours=3 * i))
        _apply(session, demo, actors, clock, i, *application)
    last_year = Clock(datetime(year - 1, 6, 1, 1, 0, tzinfo=timezone.utc))
    old_file = _apply(session, demo, actors, last_year, len(APPLICATIONS), "weishengyuan", "许建华", 3, "27000.00",
                      "6000.00", None, "illness", "aided")
    start_yearly_recheck(session, actors["reviewer_weishengyuan"], old_file, demo.now - timedelta(days=2))
    session.flush()
    return len(APPLICATIONS) + 2


def _id_number(i: int) -> str:
    body = f"320602{1983 + i}{(i % 12) + 1:02d}{(i % 27) + 1:02d}{30 + i:02d}{i % 10}"
    return body + ric.calc_check_digit(body + "0")


def _form(i, unit_name, worker, size, income, rigid, costs, reason) -> dict:
    form = {
        "applicant_name": worker, "id_number": _id_number(i), "phone": f"139{i:08d}",
        "employer": unit_name.removesuffix("工会"), "household_size": size, "household_income": income,
        "rigid_expenses": rigid, "hardship_reason": reason, "bank_account": f"622202020011{i:07d}",
        "household_members": "本人、配偶及子女", "exclusion_homes": "no", "exclusion_business": "no",
        "exclusion_car": "no", "exclusion_schooling": "no",
        "description": f"{worker}家庭收入低，{'家人患病长期治疗' if reason == 'illness' else '生活困难'}，特申请帮扶。",
    }
    return form | ({"hardship_costs": costs} if costs else {})


def _apply(session, demo, actors, clock, i, unit, worker, size, income, rigid, costs, reason, target) -> Case:
    applicant, visitor = f"applicant_{unit}", f"reviewer_{unit}"
    form = _form(i, demo.units[unit].name, worker, size, income, rigid, costs, reason)
    case = create_draft(session, actors[applicant], "hardship_aid", form=form, now=clock.tick())

    def act(actor, trigger, comment=None, inputs=None):
        perform_action(session, actors[actor] if actor else SYSTEM_ACTOR, case, trigger,
                       expected_version=case.version, comment=comment, inputs=inputs, now=clock.tick())

    if target == "draft":
        return case
    act(applicant, "submit")
    township, county = demo.reviewer_at(case, "township"), demo.reviewer_at(case, "county")
    if target == "withdrawn":
        act(applicant, "withdraw", "家庭情况好转，撤回申请")
        return case
    if target == "returned":
        act(visitor, "return", "请补充家庭成员收入证明和病残证明")
        return case
    if target == "rejected":
        act(visitor, "reject", "家庭月人均收入高于困难职工认定标准")
        return case
    for state in ROUTE:
        if case.state == target:
            return case
        if state == "home_visit":
            _visit(session, actors[visitor], case, clock)
            act(visitor, "evaluate", "经入户走访和评议，情况属实")
        elif state == "township_review":
            act(township, "approve", "复核属实")
        elif state == "county_review":
            if target in ("public_notice", "objection_investigation", "objection_judgement"):
                clock.now = max(clock.now, demo.now - timedelta(hours=20))  # the notice still runs at demo.now
            act(county, "approve", "审核通过，进入公示")
        elif state == "public_notice":
            if target in ("objection_investigation", "objection_judgement"):
                lodge_objection(session, case.id, OBJECTION, now=clock.tick(1))
                if target == "objection_judgement":
                    act(visitor, "answer", inputs={"answer": "经入户核实，该车辆为其亲属所有，申请人未使用，附车辆登记证明。"})
                return case
            clock.now = due_of(session, case) + timedelta(minutes=5)
            act(None, "notice_ended")
        elif state == "approval":
            act(county, "approve", "批准帮扶")
        elif state == "disbursement":
            record_disbursement(session, actors[county], case, {
                "amount": case.outcome["aid_amount"], "paid_on": clock.now.astimezone(LOCAL_TZ).date().isoformat(),
                "voucher_number": f"ZZ{case.id:08d}"}, now=clock.tick())
            act(county, "disburse", "已打卡发放")
    return case


def _visit(session, visitor, case: Case, clock: Clock) -> None:
    visited = clock.now.astimezone(LOCAL_TZ).date().isoformat()
    add_record(session, visitor, case, "home_visit", {
        "visitor_one": visitor.name, "visitor_two": "工会委员 张明", "visit_date": visited,
        "check_members": "confirmed", "check_income": "confirmed", "check_housing": "confirmed",
        "check_hardship": "confirmed", "notes": "两人入户走访，家庭成员、收入、住房情况与申报一致，无排除情形。",
    }, now=clock.tick(20))


