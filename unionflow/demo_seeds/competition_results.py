"""Demo competitions: the honours-feed rules, and competitions in every state of
workflows/competition_results.yaml, their results imported from generated files.

Results files are built in memory (CSV with a BOM as Excel writes it, or .xlsx) and go
through engine.cases.results_import like an upload. The approved city-level first-class contest
feeds its winners into the open honours round the honours seed made, if there is one.
"""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from sqlalchemy.orm import Session
from stdnum.cn import ric

from engine.base.config import LOCAL_TZ
from engine.cases.case import Case
from engine.cases.results_import import import_table
from engine.cases.tasks import due_of
from engine.operations.objections import lodge_objection
from engine.operations.transitions import create_draft, perform_action
from engine.org.units import SYSTEM_ACTOR, Actor
from engine.procedures.parameters import set_parameters
from unionflow.demo_seeds import Clock, DemoWorld
from workflows.competition_results import FEED_PARAMETERS

FEED_RULES = [
    {"competition_level": "provincial", "competition_class": "class_one", "max_rank": 1,
     "award_type": "labour_medal", "note": "省级一类竞赛第一名，可推荐省五一劳动奖章"},
    {"competition_level": "city", "competition_class": "class_one", "max_rank": 1, "award_type": "labour_medal",
     "round_level": "city", "note": "市级一类竞赛第一名，可推荐市五一劳动奖章"},
]
# The county federations that organise competitions (their applicants report the results).
ORGANISERS = ("dongcheng", "xicheng")
HEADER = ("工种", "组别", "名次", "姓名", "身份证号码", "工作单位", "所在基层工会", "理论成绩", "实操成绩", "总成绩",
          "技能等级", "本工种工作年限", "证书编号")
# Participants: (name, grassroots unit key, employer, skill grade)
PEOPLE = (
    ("王建国", "jixie", "东城机械厂", "高级工"), ("李娟", "shipin", "安定食品有限公司", "中级工"),
    ("陈卫东", "wuliu", "新华物流有限公司", "技师"), ("刘芳", "fangzhi", "长安纺织厂", "高级工"),
    ("张伟", "shangchang", "新华百货商场", "中级工"), ("赵磊", "jixie", "东城机械厂", "技师"),
)
# (county, name, level, class, trades, state the competition is left in, file type)
COMPETITIONS = (
    ("dongcheng", "东城区职工电工技能竞赛", "county", "class_two", ("电工",), "draft", "csv"),
    ("xicheng", "西城区物流行业叉车司机技能竞赛", "county", "class_two", ("叉车司机",), "returned", "xlsx"),
    ("dongcheng", "东城区食品检验员技能竞赛", "county", "class_two", ("食品检验员",), "county_review", "csv"),
    ("xicheng", "西城区纺织行业挡车工技能竞赛", "county", "class_one", ("挡车工",), "city_review", "xlsx"),
    ("dongcheng", "东城区“工匠杯”钳工技能竞赛", "county", "class_one", ("钳工",), "public_notice", "csv"),
    ("xicheng", "西城区营业员岗位技能竞赛", "county", "class_two", ("营业员",), "investigation", "xlsx"),
    ("dongcheng", "东城区焊工技能竞赛", "county", "class_two", ("焊工",), "objection_ruling", "csv"),
    ("xicheng", "西城区数控车工技能竞赛", "county", "class_one", ("数控车工",), "final_approval", "xlsx"),
    ("dongcheng", "示范市职工职业技能大赛", "city", "class_one", ("钳工", "电工"), "approved", "xlsx"),
    ("xicheng", "西城区快递员技能竞赛", "county", "class_two", ("快递员",), "rejected", "csv"),
    ("dongcheng", "东城区厨师技能竞赛", "county", "class_two", ("中式烹调师",), "withdrawn", "csv"),
)
# The happy path; each competition follows it up to its own state.
ROUTE = ("draft", "county_review", "city_review", "public_notice", "final_approval", "approved")
# How long ago each competition started: past notices have ended, open ones end after "now".
DAYS_BACK = {"public_notice": 1.5, "investigation": 3, "objection_ruling": 3, "final_approval": 40, "approved": 40,
             "rejected": 40}
OBJECTION = {"objector_kind": "person", "objector_name": "李群众", "contact": "13800138000",
             "content": "第一名选手的实操项目据反映由他人代为完成，请核实。"}


def seed(session: Session, demo: DemoWorld) -> int:
    year = demo.now.astimezone(LOCAL_TZ).year
    set_parameters(session, None, FEED_PARAMETERS, unit=demo.units["city"], valid_from=date(year, 1, 1),
                   values={"rules": FEED_RULES})
    organisers = {county: demo.actors[f"applicant_{county}"] for county in ORGANISERS}
    for i, (county, name, level, class_, trades, state, file_type) in enumerate(COMPETITIONS):
        clock = Clock(demo.now - timedelta(days=DAYS_BACK.get(state, 12)) + timedelta(hours=3 * i))
        _compete(session, demo, organisers[county], clock, i, county, f"{year}年{name}", level, class_, trades,
                 state, file_type)
    session.flush()
    return len(COMPETITIONS)


def _compete(session: Session, demo: DemoWorld, organiser: Actor, clock: Clock, index: int, county: str, name: str,
             level: str, class_: str, trades: tuple[str, ...], target: str, file_type: str) -> Case:
    county_name = demo.units[county].name
    start = (clock.now - timedelta(days=20)).astimezone(LOCAL_TZ).date()
    form = {"competition_name": name, "competition_class": class_, "competition_level": level,
            "organiser": county_name, "approval_document_number": f"{county_name[:2]}工发〔{start.year}〕{index + 3}号",
            "start_date": start.isoformat(), "end_date": (start + timedelta(days=2)).isoformat(),
            "trades": "、".join(trades),
            "summary": f"本次竞赛共设{'、'.join(trades)}等项目，经理论考试和实操比赛，决出各项目名次。"}
    case = create_draft(session, organiser, "competition_results", form=form, now=clock.tick())
    filename, data = _results_file(demo, trades, index, file_type)
    import_table(session, organiser, case, "result", filename=filename, data=data, expected_version=case.version,
                 now=clock.tick(0.5))
    county_reviewer, city = f"reviewer_{county}", demo.actors["reviewer_city"]

    def act(actor: Actor, trigger: str, comment: str | None = None, inputs: dict | None = None) -> None:
        perform_action(session, actor, case, trigger, expected_version=case.version, comment=comment,
                       inputs=inputs, now=clock.tick())

    if target == "withdrawn":
        act(organiser, "withdraw", "竞赛成绩需重新核对，暂不报备")
    if target in ("draft", "withdrawn"):
        return case
    for state in ROUTE[1:]:
        if state == "county_review":
            act(organiser, "submit")
        elif state == "city_review":
            if target == "returned":
                act(demo.actors[county_reviewer], "return", "请补充各工种的理论成绩")
                return case
            act(demo.actors[county_reviewer], "approve", "成绩排名与评分记录一致，同意上报")
        elif state == "public_notice":
            act(city, "approve", "同意公示")
        elif state == "final_approval":
            if target in ("investigation", "objection_ruling", "rejected"):
                _object(session, demo, organiser, case, clock, target)
                return case
            clock.now = due_of(session, case) + timedelta(minutes=5)
            act(SYSTEM_ACTOR, "end_notice")
        elif state == "approved":
            act(city, "approve", "认定竞赛结果", inputs={
                "decision_number": f"示工发〔{clock.now.year}〕{20 + index}号",
                "decision_date": clock.now.astimezone(LOCAL_TZ).date().isoformat()})
        if state == target:
            return case
    return case


def _object(session: Session, demo: DemoWorld, organiser: Actor, case: Case, clock: Clock, target: str) -> None:
    lodge_objection(session, case.id, OBJECTION, now=clock.tick(24))
    if target == "investigation":
        return
    perform_action(session, organiser, case, "answer", expected_version=case.version, now=clock.tick(), inputs={
        "answer": "经调阅现场录像和裁判记录，实操项目由选手本人独立完成，反映情况不属实。"})
    if target == "rejected":
        perform_action(session, demo.actors["reviewer_city"], case, "uphold", expected_version=case.version,
                       comment="经复核，该项目评分记录不完整，成绩不予认定", now=clock.tick())


def _results_file(demo: DemoWorld, trades: tuple[str, ...], index: int, file_type: str) -> tuple[str, bytes]:
    rows = []
    for t, trade in enumerate(trades):
        first = t % 2  # four participants per trade, a different winner in each
        for rank, person in enumerate(range(first, first + 4), start=1):
            name, unit_key, employer, grade = PEOPLE[person]
            theory = 95 - 3 * rank - t
            practical = 96 - 4 * rank
            total = round(theory * 0.3 + practical * 0.7, 2)
            rows.append((trade, "职工组", rank, name, _id_number(person, female=name in ("李娟", "刘芳")),
                         employer, demo.units[unit_key].name, theory, practical, total, grade, 5 + rank,
                         f"JS{index:02d}{t}{rank:02d}"))
    if file_type == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerows(rows)
        return "竞赛成绩.csv", out.getvalue().encode("utf-8-sig")
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return "竞赛成绩.xlsx", out.getvalue()


def _id_number(serial: int, *, female: bool) -> str:
    """A valid made-up ID number (region 110105, born 1985-1994); the 17th digit gives the sex."""
    body = f"110105{1985 + serial % 10}0{1 + serial % 9}1{serial % 10}{serial % 50:02d}{2 * (serial % 5) + (0 if female else 1)}"
    return body + ric.calc_check_digit(body + "0")  # the digit passed last is ignored
