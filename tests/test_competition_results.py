"""Competition results (workflows/competition_results.yaml + .py): ranks checked before
submission, review up the chain, public notice with objections, and winners fed to honours."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.audit.chain import case_events
from engine.base.errors import ConditionFailed, InvalidAction, PermissionDenied, ValidationFailed
from engine.cases.attachments import FileStore
from engine.cases.case import Case
from engine.cases.integrity import verify_audit_chain
from engine.cases.tasks import Task
from engine.definitions.forms import clean_fields
from engine.definitions.parse import parse_definition
from engine.operations.objections import lodge_objection
from engine.operations.timers import fire_due_timers
from engine.operations.transitions import perform_action
from engine.org.units import SYSTEM_ACTOR
from engine.procedures.notices import cases_on_notice, objections_of
from engine.procedures.parameters import set_parameters
from engine.procedures.rounds import open_round
from tests.conftest import NOW, SETTINGS
from tests.test_tabular_import import competition, csv_file, id_number, organiser, result_row, run_import
from workflows.competition_results import FEED_PARAMETERS

DEFINITION = parse_definition((SETTINGS.workflows_dir / "competition_results.yaml").read_text(encoding="utf-8"),
                              "competition_results.yaml")
CITY_MEDAL = {"competition_level": "city", "competition_class": "class_one", "max_rank": 1,
              "award_type": "labour_medal", "round_level": "city", "note": "市级一类竞赛第一名，可推荐市五一劳动奖章"}
OBJECTION = {"objector_kind": "person", "objector_name": "李群众", "contact": "13800138000",
             "content": "第一名选手的实操项目据反映由他人代为完成，请核实。"}
DECISION = {"decision_number": "示工发〔2026〕20号", "decision_date": "2026-03-30"}


def act(session, world, case, who, trigger, *, now=NOW, comment=None, inputs=None):
    actor = SYSTEM_ACTOR if who == "system" else organiser(session, world) if who == "organiser" else world.actor(who)
    return perform_action(session, actor, case, trigger, expected_version=case.version, comment=comment,
                          inputs=inputs, now=now)


def due(session, case):
    return session.scalar(select(Task.due_dt).where(Task.closed_dt.is_(None), Task.case_id == case.id))


def submitted(session, world, rows=None, **form):
    case = competition(session, world, **form)
    run_import(session, world, case, csv_file(rows or [
        result_row(1, "张三"), result_row(2, "李四"), result_row(1, "王五", trade="电工", serial=3, union="A2a公司工会"),
        result_row(2, "赵六", trade="电工", serial=4, union="B1a公司工会"),
    ]))
    act(session, world, case, "organiser", "submit")
    return case


def on_notice(session, world, **form):
    case = submitted(session, world, **form)
    act(session, world, case, "reviewer_A", "approve")
    act(session, world, case, "reviewer_city", "approve")
    assert case.state == "public_notice"
    return case


def notice_over(session, case):
    return due(session, case) + timedelta(minutes=1)


# --- Before submission ---------------------------------------------------------------------------

def test_a_report_without_results_cannot_be_submitted(session, world):
    case = competition(session, world)
    with pytest.raises(ConditionFailed, match="请先导入竞赛成绩排名表"):
        act(session, world, case, "organiser", "submit")


@pytest.mark.parametrize(("rows", "reason"), [
    ([result_row(1, "张三"), result_row(3, "李四")], "「焊工·职工组」名次应从1起连续排列（共 2 人），现为 1、3"),
    ([result_row(2, "张三")], "「焊工·职工组」名次应从1起连续排列（共 1 人），现为 2"),
    ([result_row(1, "张三", total="90"), result_row(2, "李四", total="90.01")],
     "「焊工·职工组」第2名的总成绩（90.01）高于第1名（90.00）"),
    ([result_row(1, "张三", group=""), result_row(3, "李四", group="")], "「焊工」名次应从1起连续排列（共 2 人），现为 1、3"),
])
def test_ranks_must_run_from_one_and_follow_the_totals(session, world, rows, reason):
    case = competition(session, world)
    run_import(session, world, case, csv_file(rows))
    with pytest.raises(ConditionFailed) as caught:
        act(session, world, case, "organiser", "submit")
    assert caught.value.reasons == [reason]
    assert case.state == "draft"


def test_equal_totals_may_hold_consecutive_ranks_and_groups_are_checked_apart(session, world):
    case = competition(session, world)
    run_import(session, world, case, csv_file([
        result_row(1, "张三", total="90"), result_row(2, "李四", total="90"),
        result_row(1, "王五", group="学生组", total="70", serial=3),
    ]))
    act(session, world, case, "organiser", "submit")
    assert case.state == "county_review"


def test_the_competition_cannot_end_before_it_starts(session, world):
    case = competition(session, world, start_date="2026-03-03", end_date="2026-03-02")
    run_import(session, world, case, csv_file([result_row(1, "张三")]))
    with pytest.raises(ConditionFailed, match=r"竞赛结束日期（2026-03-02）不能早于开始日期（2026-03-03）"):
        act(session, world, case, "organiser", "submit")


@pytest.mark.parametrize(("score", "message"), [
    ("85.555", "最多保留 2 位小数"), ("-1", "不能小于 0"), ("九十", "请填写数字，例如 85.5"), ("NaN", "请填写数字，例如 85.5"),
    (85.5, "数字请以字符串或整数提交，例如 \"85.5\""),
])
def test_scores_are_non_negative_decimals_with_at_most_two_places(score, message):
    fields = DEFINITION.record("result").fields
    assert clean_fields(fields, {"total_score": "85.5"}, partial=True)["total_score"] == Decimal("85.50")
    with pytest.raises(ValidationFailed) as caught:
        clean_fields(fields, {"total_score": score}, partial=True)
    assert caught.value.fields == {"total_score": [message]}


def test_a_returned_report_takes_corrected_rows_and_goes_back_to_the_city(session, world):
    case = submitted(session, world, rows=[result_row(1, "张三")])
    act(session, world, case, "reviewer_A", "approve")
    act(session, world, case, "reviewer_city", "return", comment="请补充第二名")
    run_import(session, world, case, csv_file([result_row(2, "李四")]))
    act(session, world, case, "organiser", "resubmit")
    assert case.state == "city_review"


# --- Review, notice, objections ------------------------------------------------------------------

def test_end_to_end_through_the_notice(session, world):
    """County signs off, the city reviews, the notice shows no ID numbers and ends by the clock."""
    case = on_notice(session, world)
    [entry] = cases_on_notice(session, "competition_results")
    assert dict(entry["fields"])["竞赛名称"] == "2026年A区职工焊工技能竞赛"
    assert dict(entry["fields"])["竞赛类别"] == "一类竞赛"
    assert not any("身份证" in label for label, _ in entry["fields"])
    assert fire_due_timers(session, due(session, case) - timedelta(minutes=1)) == []
    [fired] = fire_due_timers(session, notice_over(session, case))
    assert (fired.trigger, fired.fired, case.state) == ("end_notice", True, "final_approval")
    with pytest.raises(ValidationFailed) as caught:
        act(session, world, case, "reviewer_city", "approve", now=notice_over(session, case))
    assert set(caught.value.fields) == {"decision_number", "decision_date"}
    act(session, world, case, "reviewer_city", "approve", inputs=DECISION, now=notice_over(session, case))
    assert case.state == "approved" and case.closed_dt is not None
    assert case.outcome["decision_number"] == "示工发〔2026〕20号"
    assert verify_audit_chain(session, [case.id]).ok


def test_objection_answered_and_dismissed_returns_to_the_notice(session, world):
    case = on_notice(session, world)
    lodge_objection(session, case.id, OBJECTION, now=NOW + timedelta(hours=1))
    assert case.state == "investigation"
    act(session, world, case, "organiser", "answer", now=NOW + timedelta(hours=2),
        inputs={"answer": "经调阅现场录像，实操由选手本人完成。"})
    assert case.state == "objection_ruling"
    act(session, world, case, "reviewer_city", "dismiss", comment="反映情况不属实", now=NOW + timedelta(hours=3))
    assert case.state == "public_notice"
    [objection] = objections_of(session, case)
    assert (objection.status, objection.answer) == ("dismissed", "经调阅现场录像，实操由选手本人完成。")
    [fired] = fire_due_timers(session, notice_over(session, case))
    assert fired.fired and case.state == "final_approval"


def test_objection_upheld_rejects_the_results(session, world):
    case = on_notice(session, world)
    lodge_objection(session, case.id, OBJECTION, now=NOW + timedelta(hours=1))
    act(session, world, case, "organiser", "answer", inputs={"answer": "已核实。"}, now=NOW + timedelta(hours=2))
    with pytest.raises(ValidationFailed):
        act(session, world, case, "reviewer_city", "uphold", now=NOW + timedelta(hours=3))
    act(session, world, case, "reviewer_city", "uphold", comment="评分记录不完整", now=NOW + timedelta(hours=3))
    assert case.state == "rejected"
    assert [o.status for o in objections_of(session, case)] == ["upheld"]


def test_an_unanswered_objection_lapses_by_the_clock_and_rejects_the_results(session, world):
    case = on_notice(session, world)
    lodge_objection(session, case.id, OBJECTION, now=NOW + timedelta(hours=1))
    with pytest.raises(InvalidAction, match="期限未到"):
        act(session, world, case, "system", "lapse", now=NOW + timedelta(hours=2))
    deadline = due(session, case)
    assert fire_due_timers(session, deadline - timedelta(minutes=1)) == []
    [fired] = fire_due_timers(session, deadline)
    assert (fired.trigger, case.state) == ("lapse", "rejected")
    assert [o.status for o in objections_of(session, case)] == ["lapsed"]


def test_only_the_organiser_answers_and_only_the_city_judges(session, world):
    case = on_notice(session, world)
    lodge_objection(session, case.id, OBJECTION, now=NOW + timedelta(hours=1))
    with pytest.raises(PermissionDenied, match="只有申报单位申报人可以执行"):
        act(session, world, case, "reviewer_A", "answer", inputs={"answer": "x"})
    act(session, world, case, "organiser", "answer", inputs={"answer": "已核实。"})
    with pytest.raises(PermissionDenied, match="只有市总工会审核人可以执行"):
        act(session, world, case, "reviewer_A", "dismiss", comment="x")


# --- Feeding honours -----------------------------------------------------------------------------

@pytest.fixture
def feed(session, world):
    set_parameters(session, None, FEED_PARAMETERS, unit=world.unit("city"), valid_from=date(2026, 1, 1),
                   values={"rules": [CITY_MEDAL]})


def honours_round(session, world, *, categories=("labour_medal", "union_worker"), unit="city", closes_days=30):
    return open_round(session, None, kind="honours", unit=world.unit(unit), title="2026年五一劳动奖章评选", year=2026,
                      opens_dt=NOW - timedelta(days=10), closes_dt=NOW + timedelta(days=closes_days),
                      categories=list(categories))


def approved(session, world, **form):
    case = on_notice(session, world, **form)
    when = notice_over(session, case)
    act(session, world, case, "system", "end_notice", now=when)
    event = act(session, world, case, "reviewer_city", "approve", inputs=DECISION, now=when)
    return case, event, when


def test_winners_become_prefilled_nominations_linked_to_the_competition_in_the_open_round(session, world, feed):
    round_ = honours_round(session, world)
    case, event, _ = approved(session, world)
    drafts = session.scalars(select(Case).where(Case.kind == "honours").order_by(Case.id)).all()
    assert [d.form_data["nominee_name"] for d in drafts] == ["张三", "王五"]  # first places only (max_rank 1)
    zhang = drafts[0]
    assert (zhang.linked_case_id, zhang.link_relation, zhang.round_id) == (case.id, "competition_result", round_.id)
    assert zhang.origin_unit_id == world.unit("A1a").id and zhang.applicant_id is None and zhang.state == "draft"
    assert drafts[1].origin_unit_id == world.unit("A2a").id
    assert zhang.form_data == {
        "award_type": "labour_medal", "nominee_name": "张三", "id_number": id_number(1), "sex": "male",
        "birth_date": "1990-01-01",  # sex and birth date from the ID number (honours: derived_from)
        "employer": "A1a公司", "post": "焊工", "skill_grade": "高级工",
        "merits_summary": "在2026年A区职工焊工技能竞赛（市级一类竞赛）焊工（职工组）中获得第1名，总成绩99.50分。",
    }
    assert case.outcome["honours_nominations"] == [d.id for d in drafts]
    [outcome] = event.details["outcomes"]
    assert outcome["action"] == "competition_results_feed_honours" and outcome["version"] == "1"
    assert outcome["parameters"]["name"] == FEED_PARAMETERS
    assert outcome["nominations"][0] == {"participant": "张三", "trade": "焊工", "group": "职工组", "rank": 1,
                                         "rule": 1, "note": CITY_MEDAL["note"], "award_type": "labour_medal",
                                         "case_id": zhang.id, "round_id": round_.id, "unit": "A1a公司工会"}
    assert outcome["not_put_forward"] == []
    assert [e.details.get("link_relation") for e in case_events(session, zhang.id)][0] == "competition_result"


def test_the_rank_limit_is_inclusive_and_each_person_is_put_forward_once(session, world):
    set_parameters(session, None, FEED_PARAMETERS, unit=world.unit("city"), valid_from=date(2026, 1, 1),
                   values={"rules": [CITY_MEDAL | {"max_rank": 2}]})
    honours_round(session, world)
    rows = [result_row(1, "张三"), result_row(2, "李四"), result_row(3, "钱七", serial=7),
            result_row(1, "张三", trade="电工")]  # the same person first in a second trade
    case = competition(session, world)
    run_import(session, world, case, csv_file(rows))
    act(session, world, case, "organiser", "submit")
    act(session, world, case, "reviewer_A", "approve")
    act(session, world, case, "reviewer_city", "approve")
    when = notice_over(session, case)
    act(session, world, case, "system", "end_notice", now=when)
    event = act(session, world, case, "reviewer_city", "approve", inputs=DECISION, now=when)
    [outcome] = event.details["outcomes"]
    assert [(n["participant"], n["rank"]) for n in outcome["nominations"]] == [("张三", 1), ("李四", 2)]


@pytest.mark.parametrize("form", [{"competition_level": "county"}, {"competition_class": "class_two"}])
def test_placings_no_rule_selects_are_not_put_forward(session, world, feed, form):
    honours_round(session, world)
    case, event, _ = approved(session, world, **form)
    [outcome] = event.details["outcomes"]
    assert outcome["nominations"] == [] and outcome["not_put_forward"] == []
    assert session.scalar(select(Case.id).where(Case.kind == "honours")) is None


def test_without_an_open_round_the_approval_stands_and_says_why(session, world, feed):
    honours_round(session, world, categories=("union_worker",))  # no medal in this round
    honours_round(session, world, unit="A")                          # not at the level the rule names
    case, event, _ = approved(session, world)
    assert case.state == "approved"
    [outcome] = event.details["outcomes"]
    assert outcome["nominations"] == []
    assert outcome["not_put_forward"] == [
        {"participant": "张三", "trade": "焊工", "group": "职工组", "rank": 1, "rule": 1, "note": CITY_MEDAL["note"],
         "award_type": "labour_medal", "reason": "市总工会没有正在接受「五一劳动奖章」推荐的评选批次"},
        {"participant": "王五", "trade": "电工", "group": "职工组", "rank": 1, "rule": 1, "note": CITY_MEDAL["note"],
         "award_type": "labour_medal", "reason": "市总工会没有正在接受「五一劳动奖章」推荐的评选批次"},
    ]
    assert case.outcome["honours_nominations"] == []


def test_a_closed_round_takes_no_nominations(session, world, feed):
    honours_round(session, world, closes_days=1)
    case, event, when = approved(session, world)
    assert when > NOW + timedelta(days=1)
    assert len(event.details["outcomes"][0]["not_put_forward"]) == 2


def test_without_feed_rules_the_approval_stands_and_says_so(session, world):
    honours_round(session, world)
    case, event, _ = approved(session, world)
    [outcome] = event.details["outcomes"]
    assert outcome["note"] == "未配置2026年适用的「竞赛获奖推荐荣誉规则」，未生成推荐"
    assert case.state == "approved"


def test_feed_rules_are_validated_when_set(session, world):
    with pytest.raises(ValidationFailed) as caught:
        set_parameters(session, None, FEED_PARAMETERS, unit=world.unit("city"), valid_from=date(2026, 1, 1),
                       values={"rules": [CITY_MEDAL | {"award_type": "gold_star", "max_rank": 0}]})
    assert any(name.startswith("values.rules.") for name in caught.value.fields)


# --- Demo ----------------------------------------------------------------------------------------

def test_demo_seed_reaches_every_state_and_feeds_the_open_honours_round(session, tmp_path):
    from engine.definitions.store import current_definition
    from unionflow.demo import demo_world, seed_demo_org
    from unionflow.demo_seeds.competition_results import seed

    seed_demo_org(session)
    demo = demo_world(session, FileStore(tmp_path / "files"), NOW + timedelta(days=40))
    round_ = open_round(session, None, kind="honours", unit=demo.units["city"], title="2026年五一劳动奖章评选",
                        year=2026, opens_dt=demo.now - timedelta(days=90), closes_dt=demo.now + timedelta(days=10),
                        categories=["labour_medal"])
    assert seed(session, demo) == 11
    cases = session.scalars(select(Case).where(Case.kind == "competition_results")).all()
    definition = current_definition(session, "competition_results")
    assert {c.state for c in cases} == {s.id for s in definition.states}
    [winner] = [c for c in cases if c.state == "approved"]
    nominations = session.scalars(select(Case).where(Case.linked_case_id == winner.id)).all()
    assert {(n.form_data["nominee_name"], n.round_id) for n in nominations} == {("王建国", round_.id), ("李娟", round_.id)}
    assert all(c.created_dt <= demo.now for c in cases)
    assert all(d is None or d > demo.now for d in session.scalars(select(Task.due_dt).where(
        Task.closed_dt.is_(None), Task.case_id.in_([c.id for c in cases if c.state in ("public_notice", "investigation")]))))
    assert verify_audit_chain(session).ok


def test_demo_seed_works_without_an_open_honours_round(session, tmp_path):
    from unionflow.demo import demo_world, seed_demo_org
    from unionflow.demo_seeds.competition_results import seed

    seed_demo_org(session)
    assert seed(session, demo_world(session, FileStore(tmp_path / "files"), NOW + timedelta(days=40))) == 11
    [winner] = session.scalars(select(Case).where(Case.kind == "competition_results", Case.state == "approved")).all()
    assert winner.outcome["honours_nominations"] == []
    [event] = [e for e in case_events(session, winner.id) if e.to_state == "approved"]
    assert {item["participant"] for item in event.details["outcomes"][0]["not_put_forward"]} == {"王建国", "李娟"}
