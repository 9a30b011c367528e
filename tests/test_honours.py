"""The "五一" honours as practised: rounds and quotas, ratio limits, eligibility, veto
declarations, background checks, the jury, public notice with objections, the award
decision and its revocation."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select
from stdnum.cn import ric

from engine.audit.chain import case_events
from engine.base.errors import ConditionFailed, InvalidAction, NotFound, PermissionDenied, ValidationFailed
from engine.cases.case import Case
from engine.cases.integrity import verify_audit_chain
from engine.cases.machines import available_actions
from engine.cases.records import CaseRecord, add_record
from engine.cases.rule_context import RuleContext
from engine.cases.tasks import Task
from engine.operations.objections import lodge_objection
from engine.operations.timers import fire_due_timers
from engine.operations.transitions import create_draft, perform_action, perform_joint_action, update_draft
from engine.org.units import SYSTEM_ACTOR, assign_role, create_user, load_actor
from engine.procedures.juries import cast_vote, form_jury, tally
from engine.procedures.notices import Objection, cases_on_notice
from engine.procedures.rounds import open_round, quota_status, set_quota
from tests.conftest import NOW, build_world
from workflows.honours import VETO_FIELD, no_veto, request_revocation

AWARDS = ["labour_medal", "labour_award", "pioneer_team", "women_model"]
BASE_SETTINGS = {"person_awards": ["labour_medal", "women_model"], "veto_items": ["wage_arrears"],
                 "background_checks": {"enterprise_head": ["tax", "safety"], "*": ["discipline"]}, "repeat_years": 5}
OBJECTION = {"objector_kind": "person", "objector_name": "李群众", "contact": "13800138000",
             "content": "被推荐人去年曾因违规操作受到处分，请核实。"}


def id_number(n: int, sex: str = "male") -> str:
    body = f"11010119{70 + n % 30}0101{n % 100:02d}{1 if sex == 'male' else 2}"
    return body + ric.calc_check_digit(body + "0")


class Honours:
    """A city round in the test world, and shortcuts that drive nominations through it."""

    def __init__(self, session, world, *, settings=None, places=3, year=2026, opens=None, closes=None):
        self.session, self.world = session, world
        self.round = open_round(session, None, kind="honours", unit=world.unit("city"), title=f"{year}年度五一劳动奖评选",
                                year=year, opens_dt=opens or NOW - timedelta(days=30),
                                closes_dt=closes or NOW + timedelta(days=30), categories=AWARDS,
                                settings=BASE_SETTINGS | (settings or {}))
        for unit in ("A", "B", "A1", "A2", "B1"):
            for award in AWARDS:
                set_quota(session, None, self.round, world.unit(unit), award, places)
        jurors = ["reviewer_city", "reviewer_A", "reviewer_B"]
        self.jury = form_jury(session, None, self.round, title="评审委员会",
                              member_ids=[world.users[name].id for name in jurors])
        self.jurors = [world.actor(name) for name in jurors]
        self.n = 0

    def act(self, actor, case, trigger, *, now=None, **kwargs):
        actor = SYSTEM_ACTOR if actor is None else self.world.actor(actor)
        return perform_action(self.session, actor, case, trigger, expected_version=case.version, now=now or NOW, **kwargs)

    def draft(self, *, applicant="applicant_A1a", award="labour_medal", declare=True, **form):
        self.n += 1
        values = {"award_type": award, "nominee_name": f"候选人{self.n}", "employer": "某公司", "ownership": "public",
                  "merits_summary": "扎根一线，业绩突出", "sex": "male", "person_category": "frontline_technician",
                  "id_number": id_number(self.n)} | form
        if declare:
            values.setdefault(VETO_FIELD, {"wage_arrears": {"answer": "no"}})
        return create_draft(self.session, self.world.actor(applicant), "honours", form=values, round_id=self.round.id,
                            now=NOW)

    def submitted(self, **kwargs):
        case = self.draft(**kwargs)
        applicant = kwargs.get("applicant", "applicant_A1a")
        self.act(applicant, case, "submit")
        return case

    def at_city(self, **kwargs):
        case = self.submitted(**kwargs)
        self.act("reviewer_A1", case, "approve")
        self.act("reviewer_A", case, "approve")
        return case

    def opinions(self, case, bodies=("discipline",), opinion="positive"):
        for body in bodies:
            add_record(self.session, self.world.actor("reviewer_city"), case, "background_opinion",
                       {"body": body, "opinion": opinion, "signer": "刘明", "opinion_date": "2026-03-09"}, now=NOW)

    def at_jury(self, **kwargs):
        case = self.at_city(**kwargs)
        self.opinions(case)
        self.act("reviewer_city", case, "approve")
        return case

    def on_notice(self, **kwargs):
        case = self.at_jury(**kwargs)
        for juror in self.jurors:
            cast_vote(self.session, juror, case, "approve", now=NOW)
        self.act("reviewer_city", case, "pass_jury")
        return case

    def notice_due(self, case):
        return self.session.scalar(select(Task.due_dt).where(Task.closed_dt.is_(None), Task.case_id == case.id))

    def awarded(self, **kwargs):
        case = self.on_notice(**kwargs)
        later = self.notice_due(case) + timedelta(minutes=1)
        self.act(None, case, "close_notice", now=later)
        self.act("reviewer_city", case, "approve", now=later,
                 inputs={"decision_number": "示工发〔2026〕12号", "decision_date": "2026-04-28"})
        return case


@pytest.fixture
def honours(session, world):
    return Honours(session, world)


def refusal(call) -> str:
    with pytest.raises(ConditionFailed) as caught:
        call()
    return caught.value.message


# --- Rounds ---------------------------------------------------------------------------------------

def test_no_nomination_into_a_closed_round(session, world):
    rounds = Honours(session, world, closes=NOW - timedelta(minutes=1))
    with pytest.raises(ValidationFailed) as caught:
        rounds.draft()
    assert "截止" in caught.value.fields["round_id"][0]


def test_a_draft_left_past_the_window_cannot_be_submitted(honours):
    case = honours.draft()
    late = honours.round.closes_dt
    message = refusal(lambda: honours.act("applicant_A1a", case, "submit", now=late))
    assert "截止" in message and "不再接受" in message


def test_nominations_need_a_round_of_their_own_kind(session, world):
    with pytest.raises(ValidationFailed) as caught:
        create_draft(session, world.actor("applicant_A1a"), "honours", form={"nominee_name": "x"}, now=NOW)
    assert caught.value.fields == {"round_id": ["请选择评选批次"]}


# --- Quotas ---------------------------------------------------------------------------------------

def test_forwarding_draws_the_forwarding_units_quota_until_exactly_used(session, world):
    rounds = Honours(session, world, places=2)
    first, second, third = (rounds.submitted() for _ in range(3))
    rounds.act("reviewer_A1", first, "approve")
    assert quota_status(session, rounds.round, world.unit("A1").id, "labour_medal").left == 1
    rounds.act("reviewer_A1", second, "approve")
    status = quota_status(session, rounds.round, world.unit("A1").id, "labour_medal")
    assert (status.allowed, status.used, status.left) == (2, 2, 0)
    message = refusal(lambda: rounds.act("reviewer_A1", third, "approve"))
    assert message == "「五一劳动奖章」名额已用完（共 2 个）"
    assert "approve" not in {a.trigger for a in available_actions(session, world.actor("reviewer_A1"), third, NOW)}
    # Another award type has its own places; the county's places are its own too.
    woman = rounds.submitted(award="women_model", sex="female", id_number=id_number(40, "female"))
    rounds.act("reviewer_A1", woman, "approve")
    assert quota_status(session, rounds.round, world.unit("A").id, "labour_medal").used == 0


def test_outcome_of_the_draw_is_in_the_audit_event(honours):
    case = honours.submitted()
    event = honours.act("reviewer_A1", case, "approve")
    outcome = event.details["outcomes"][0]
    assert outcome | {"left": None} == {"action": "consume_quota", "version": "1", "round_id": honours.round.id,
                                         "unit": "A1街道总工会", "category": "labour_medal", "places": 3,
                                         "allowed": 3, "left": None}
    assert outcome["left"] == 2
    assert {"rule": "quota_available", "version": "1"} in event.details["rules"]


def test_a_return_and_second_forward_does_not_draw_twice(honours):
    case = honours.submitted()
    honours.act("reviewer_A1", case, "approve")
    honours.act("reviewer_A", case, "return", comment="请补充材料")
    honours.act("applicant_A1a", case, "resubmit")
    assert case.state == "county_review"
    assert quota_status(honours.session, honours.round, honours.world.unit("A1").id, "labour_medal").used == 1


def test_over_nomination_is_a_round_setting(session, world):
    rounds = Honours(session, world, places=2, settings={"over_nomination_percent": 150})
    status = quota_status(session, rounds.round, world.unit("A1").id, "labour_medal")
    assert (status.places, status.allowed) == (2, 3)


def test_a_unit_without_places_cannot_forward(session, world):
    rounds = Honours(session, world, places=0)
    message = refusal(lambda: rounds.act("reviewer_A1", rounds.submitted(), "approve"))
    assert "名额已用完（共 0 个）" in message


def test_quota_only_for_units_below_the_round(session, world, honours):
    with pytest.raises(ValidationFailed):
        set_quota(session, None, honours.round, world.unit("city"), "labour_medal", 2)
    with pytest.raises(PermissionDenied):
        set_quota(session, world.actor("reviewer_B"), honours.round, world.unit("A1"), "labour_medal", 2)
    set_quota(session, world.actor("reviewer_A"), honours.round, world.unit("A1"), "labour_medal", 5)


def test_the_last_place_cannot_be_taken_twice_at_the_same_moment(committed_db):
    with committed_db() as session:
        world = build_world(session)
        second_reviewer = create_user(session, username="reviewer_A1_b", display_name="second")
        assign_role(session, second_reviewer, "reviewer", world.unit("A1"))
        rounds = Honours(session, world, places=1)
        cases = [rounds.submitted().id for _ in range(2)]
        reviewers = [world.actor("reviewer_A1"), load_actor(session, second_reviewer.id)]
        session.commit()
    barrier = threading.Barrier(2)
    outcomes = []

    def forward(actor, case_id):
        with committed_db() as s:
            case = s.get(Case, case_id)
            barrier.wait()
            try:
                perform_action(s, actor, case, "approve", expected_version=case.version, now=NOW)
                s.commit()
                outcomes.append("forwarded")
            except ConditionFailed as err:
                s.rollback()
                outcomes.append(err.message)

    threads = [threading.Thread(target=forward, args=args) for args in zip(reviewers, cases)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["forwarded", "「五一劳动奖章」名额已用完（共 1 个）"]
    with committed_db() as s:
        assert sorted(s.scalars(select(Case.state).where(Case.id.in_(cases)))) == ["county_review", "township_review"]


# --- Ratio limits ---------------------------------------------------------------------------------

RATIOS = {"ratio_limits": [
    {"label": "一线职工", "field": "person_category", "values": ["frontline_technician"], "min_percent": "60"},
    {"label": "企业负责人", "field": "person_category", "values": ["enterprise_head"], "max_percent": "20"},
]}


def _set(rounds, categories):
    return [(rounds.submitted(person_category=c), None) for c in categories]


def _forward_together(rounds, cases):
    return perform_joint_action(rounds.session, rounds.world.actor("reviewer_A1"),
                                [(case, case.version) for case, _ in cases], "approve", now=NOW)


def test_ratio_exactly_met_on_the_set_forwarded_together(session, world):
    rounds = Honours(session, world, places=5, settings=RATIOS)
    cases = _set(rounds, ["frontline_technician"] * 3 + ["enterprise_head", "science_education"])
    _forward_together(rounds, cases)
    assert {case.state for case, _ in cases} == {"county_review"}


def test_ratio_violation_names_ratio_required_and_actual_and_forwards_none(session, world):
    rounds = Honours(session, world, places=5, settings=RATIOS)
    cases = _set(rounds, ["frontline_technician"] * 2 + ["enterprise_head"] * 2 + ["science_education"])
    message = refusal(lambda: _forward_together(rounds, cases))
    assert "「一线职工」占比 40.0%（2/5），要求不低于 60%" in message
    assert "「企业负责人」占比 40.0%（2/5），要求不高于 20%" in message


def test_ratio_counts_what_the_unit_forwarded_before(session, world):
    rounds = Honours(session, world, places=5, settings=RATIOS)
    rounds.act("reviewer_A1", rounds.submitted(person_category="frontline_technician"), "approve")
    message = refusal(lambda: rounds.act("reviewer_A1", rounds.submitted(person_category="enterprise_head"), "approve"))
    assert "（1/2）" in message


def test_teams_do_not_count_in_person_ratios(session, world):
    rounds = Honours(session, world, places=5, settings=RATIOS)
    rounds.act("reviewer_A1", rounds.submitted(person_category="frontline_technician"), "approve")
    team = rounds.submitted(award="pioneer_team", sex=None, person_category=None, id_number=None)
    rounds.act("reviewer_A1", team, "approve")
    assert team.state == "county_review"


def test_bad_ratio_settings_are_refused(session, world):
    with pytest.raises(ValidationFailed) as caught:
        Honours(session, world, settings={"ratio_limits": [{"label": "x", "field": "sex", "values": ["female"]}]})
    assert any("最低或最高" in m for ms in caught.value.fields.values() for m in ms)


# --- Eligibility and veto -------------------------------------------------------------------------

def test_a_person_award_needs_the_id_number(honours):
    case = honours.draft(id_number=None)
    assert "身份证号码" in refusal(lambda: honours.act("applicant_A1a", case, "submit"))


def test_no_repeat_of_the_same_honour_at_the_same_level_within_the_years(session, world):
    earlier = Honours(session, world, year=2022, opens=NOW - timedelta(days=60))
    earlier.awarded(id_number=id_number(77))
    current = Honours(session, world, year=2026)
    message = refusal(lambda: current.submitted(id_number=id_number(77)))
    assert message == "被推荐人已于 2022 年获得同级「五一劳动奖章」，5 年内不得重复推荐"
    # Another honour, or the same one once the years have run, is fine.
    assert current.submitted(id_number=id_number(77), award="women_model").state == "township_review"
    after = Honours(session, world, year=2027)
    assert after.submitted(id_number=id_number(77)).state == "township_review"


def test_a_revoked_honour_does_not_block_a_new_nomination(session, world):
    earlier = Honours(session, world, year=2024)
    awarded = earlier.awarded(id_number=id_number(78))
    awarded.record_outcome(revoked={"decision_number": "x"})
    assert Honours(session, world, year=2026).submitted(id_number=id_number(78)).state == "township_review"


def test_an_undeclared_veto_item_is_refused_on_the_form_field(honours):
    """The round's items are answered in the nomination form: a missing one is the field's error."""
    case = honours.draft(declare=False)
    with pytest.raises(ValidationFailed) as caught:
        honours.act("applicant_A1a", case, "submit")
    assert caught.value.fields[VETO_FIELD] == ["请逐项声明：拖欠职工工资"]


def test_a_veto_item_declared_to_apply_blocks(honours):
    case = honours.draft(**{VETO_FIELD: {"wage_arrears": {"answer": "no"},
                                         "safety_accident": {"answer": "yes", "note": "2025年发生较大事故"}}})
    message = refusal(lambda: honours.act("applicant_A1a", case, "submit"))
    assert message == "存在否决事项「近三年发生较大以上生产安全事故」，不能推荐"


def test_only_the_items_the_round_lists_must_be_answered(session, world):
    rounds = Honours(session, world, settings={"veto_items": ["labour_dispute", "wage_arrears"]})
    case = rounds.draft(declare=False, **{VETO_FIELD: {"wage_arrears": {"answer": "no"}}})
    with pytest.raises(ValidationFailed) as caught:
        rounds.act("applicant_A1a", case, "submit")
    assert caught.value.fields[VETO_FIELD] == ["请逐项声明：发生严重劳动争议或群体性事件"]
    update_draft(session, world.actor("applicant_A1a"), case,
                 {VETO_FIELD: {"wage_arrears": {"answer": "no"}, "labour_dispute": {"answer": "no"}}},
                 expected_version=case.version, now=NOW)
    assert rounds.act("applicant_A1a", case, "submit") is not None
    assert case.state == "township_review"


def test_records_made_before_the_checklist_still_count(honours):
    """A nomination on the definition before the checklist declared by records: they still count."""
    case = honours.draft(declare=False)
    honours.session.add(CaseRecord(case_id=case.id, record_type="veto_declaration",
                                   data={"item": "wage_arrears", "applies": "yes"}, author_name="申报人", created_dt=NOW))
    honours.session.flush()
    ctx = RuleContext(honours.session, honours.world.actor("applicant_A1a"), case, NOW, None, {})
    assert no_veto(ctx) == "存在否决事项「拖欠职工工资」，不能推荐"
    case.form_data = {**case.form_data, VETO_FIELD: {"wage_arrears": {"answer": "no"}}}
    assert no_veto(ctx) == "存在否决事项「拖欠职工工资」，不能推荐"  # a "yes" anywhere applies


def test_a_veto_item_declared_later_by_a_reviewer_blocks_forwarding(honours):
    case = honours.submitted()
    add_record(honours.session, honours.world.actor("reviewer_A1"), case, "veto_declaration",
               {"item": "social_insurance_arrears", "applies": "yes"}, now=NOW)
    assert "未足额缴纳社会保险" in refusal(lambda: honours.act("reviewer_A1", case, "approve"))


def test_one_declaration_per_item(honours):
    case = honours.submitted()
    add_record(honours.session, honours.world.actor("reviewer_A1"), case, "veto_declaration",
               {"item": "wage_arrears", "applies": "no"}, now=NOW)
    with pytest.raises(ValidationFailed) as caught:
        add_record(honours.session, honours.world.actor("reviewer_A1"), case, "veto_declaration",
                   {"item": "wage_arrears", "applies": "yes"}, now=NOW)
    assert "已有" in caught.value.fields["item"][0]


def test_the_nominating_unit_declares_in_the_form_not_in_records(honours):
    case = honours.draft()
    with pytest.raises((PermissionDenied, InvalidAction, ValidationFailed)):
        add_record(honours.session, honours.world.actor("applicant_A1a"), case, "veto_declaration",
                   {"item": "wage_arrears", "applies": "no"}, now=NOW)


# --- Background checks ----------------------------------------------------------------------------

def test_the_jury_waits_for_every_body_the_round_consults(honours):
    case = honours.at_city(person_category="enterprise_head")
    assert refusal(lambda: honours.act("reviewer_city", case, "approve")) == "尚未收到税务部门、应急管理（安全生产）部门的意见"
    honours.opinions(case, ["tax"])
    honours.opinions(case, ["safety"], opinion="negative")
    assert refusal(lambda: honours.act("reviewer_city", case, "approve")) == "应急管理（安全生产）部门意见为不同意"


def test_opinions_are_recorded_with_signer_in_the_trail(honours):
    case = honours.at_city()
    honours.opinions(case)
    honours.act("reviewer_city", case, "approve")
    record = [e for e in case_events(honours.session, case.id) if e.action == "record"][-1]
    assert record.details["data"]["signer"] == "刘明" and record.actor_role == "reviewer"
    assert case.state == "jury_vote"


def test_opinions_only_from_the_levels_that_gather_them(honours):
    case = honours.submitted()
    with pytest.raises(InvalidAction):
        honours.opinions(case)


# --- Jury -----------------------------------------------------------------------------------------

def test_two_thirds_of_members_present_passes(honours):
    case = honours.at_jury()
    a, b, c = honours.jurors
    cast_vote(honours.session, a, case, "approve", now=NOW)
    actions = {x.trigger for x in available_actions(honours.session, honours.world.actor("reviewer_city"), case, NOW)}
    assert not actions & {"pass_jury", "fail_jury"}  # 1 of 3 voted: no quorum yet
    cast_vote(honours.session, b, case, "approve", now=NOW)
    cast_vote(honours.session, c, case, "reject", now=NOW)
    event = honours.act("reviewer_city", case, "pass_jury")
    assert case.state == "public_notice"
    assert event.details["outcomes"][0] | {"rule": ""} == {
        "action": "record_tally", "version": "1", "members": 3, "present": 3, "approve": 2, "reject": 1,
        "abstain": 0, "rule": "", "quorum_met": True, "passed": True}


def test_short_of_two_thirds_fails(honours):
    case = honours.at_jury()
    for juror, choice in zip(honours.jurors, ("approve", "reject", "abstain")):
        cast_vote(honours.session, juror, case, choice, now=NOW)
    assert tally(honours.session, case).passed is False
    assert "未达到通过票数" in refusal(lambda: honours.act("reviewer_city", case, "pass_jury"))
    honours.act("reviewer_city", case, "fail_jury")
    assert case.state == "rejected"


def test_a_member_votes_once_and_only_members_vote(honours):
    case = honours.at_jury()
    cast_vote(honours.session, honours.jurors[0], case, "approve", now=NOW)
    with pytest.raises(ValidationFailed):
        cast_vote(honours.session, honours.jurors[0], case, "reject", now=NOW)
    with pytest.raises(PermissionDenied):
        cast_vote(honours.session, honours.world.actor("reviewer_A1"), case, "approve", now=NOW)
    votes = [e for e in case_events(honours.session, case.id) if e.action == "vote"]
    assert [(v.actor_name, v.details["choice"]) for v in votes] == [("reviewer_city", "approve")]


def test_votes_only_while_the_case_is_before_the_jury(honours):
    case = honours.at_city()
    with pytest.raises(InvalidAction):
        cast_vote(honours.session, honours.jurors[0], case, "approve", now=NOW)


# --- Public notice and objections -----------------------------------------------------------------

def test_the_notice_shows_only_name_unit_and_post(honours):
    case = honours.on_notice(post="焊工")
    entry = next(e for e in cases_on_notice(honours.session) if e["case_id"] == case.id)
    assert entry["fields"] == [("姓名（集体名称）", case.title), ("工作单位", "某公司"), ("岗位（工种）", "焊工")]
    assert case.form_data["id_number"] not in str(entry)


def test_notice_end_without_objection_is_ready_for_final_approval(honours):
    case = honours.on_notice()
    due = honours.notice_due(case)
    assert fire_due_timers(honours.session, due - timedelta(minutes=1)) == []
    with pytest.raises(InvalidAction):
        honours.act(None, case, "close_notice", now=due - timedelta(minutes=1))
    results = fire_due_timers(honours.session, due)
    assert [(r.case_id, r.trigger, r.fired) for r in results] == [(case.id, "close_notice", True)]
    assert case.state == "final_approval"
    assert case_events(honours.session, case.id)[-1].actor_name == "系统"


def test_objection_answered_and_dismissed_goes_back_to_notice(honours):
    case = honours.on_notice()
    objection = lodge_objection(honours.session, case.id, OBJECTION, now=NOW)
    assert case.state == "under_investigation"
    honours.act("applicant_A1a", case, "answer_objection", inputs={"answer": "经核实，所反映情况不属实。"})
    assert case.state == "objection_answered"
    honours.act("reviewer_city", case, "dismiss_objection")
    assert (case.state, objection.status) == ("public_notice", "dismissed")
    assert objection.answer == "经核实，所反映情况不属实。"


def test_objection_upheld_rejects_the_nomination(honours):
    case = honours.on_notice()
    objection = lodge_objection(honours.session, case.id, OBJECTION, now=NOW)
    honours.act("applicant_A1a", case, "answer_objection", inputs={"answer": "情况属实。"})
    with pytest.raises(ValidationFailed):
        honours.act("reviewer_city", case, "uphold_objection")
    honours.act("reviewer_city", case, "uphold_objection", comment="经调查异议成立")
    assert (case.state, objection.status) == ("rejected", "upheld")


def test_no_answer_in_time_withdraws_the_nomination(honours):
    case = honours.on_notice()
    objection = lodge_objection(honours.session, case.id, OBJECTION, now=NOW)
    due = honours.notice_due(case)
    results = fire_due_timers(honours.session, due)
    assert [(r.trigger, r.fired) for r in results] == [("answer_overdue", True)]
    assert (case.state, objection.status) == ("withdrawn", "lapsed")


def test_an_answer_is_required_text(honours):
    case = honours.on_notice()
    lodge_objection(honours.session, case.id, OBJECTION, now=NOW)
    with pytest.raises(ValidationFailed) as caught:
        honours.act("applicant_A1a", case, "answer_objection", inputs={})
    assert caught.value.fields == {"answer": ["请填写「调查核实情况及答复意见」"]}


@pytest.mark.parametrize("change, field", [
    ({"contact": ""}, "contact"),
    ({"contact": "12345"}, "contact"),
    ({"objector_name": ""}, "objector_name"),
    ({"objector_kind": "unit"}, "unit_name"),
    ({"content": "太短"}, "content"),
])
def test_objection_needs_a_real_name_and_contact(honours, change, field):
    case = honours.on_notice()
    with pytest.raises(ValidationFailed) as caught:
        lodge_objection(honours.session, case.id, OBJECTION | change, now=NOW)
    assert field in caught.value.fields
    assert case.state == "public_notice"


def test_a_unit_objection_names_the_unit(honours):
    case = honours.on_notice()
    objection = lodge_objection(honours.session, case.id, OBJECTION | {"objector_kind": "unit", "unit_name": "某某公司"},
                                now=NOW)
    assert objection.unit_name == "某某公司"


def test_objections_only_against_cases_on_notice(honours):
    case = honours.at_city()
    with pytest.raises(NotFound):
        lodge_objection(honours.session, case.id, OBJECTION, now=NOW)
    with pytest.raises(NotFound):
        lodge_objection(honours.session, 999999, OBJECTION, now=NOW)


def test_objections_only_while_the_notice_runs(honours):
    case = honours.on_notice()
    due = honours.notice_due(case)
    with pytest.raises(NotFound):
        lodge_objection(honours.session, case.id, OBJECTION, now=due)
    lodge_objection(honours.session, case.id, OBJECTION, now=due - timedelta(minutes=1))
    # Under investigation the nomination stays on display (past its period too, until the
    # objection is decided) but a further objection waits for the notice to resume: refused with the reason.
    for when in (NOW, due):
        with pytest.raises(InvalidAction, match="正在调查核实"):
            lodge_objection(honours.session, case.id, OBJECTION | {"objector_name": "王群众"}, now=when)
    statuses = honours.session.scalars(select(Objection.status).where(Objection.case_id == case.id)).all()
    assert statuses == ["open"]


# --- Final approval and revocation ----------------------------------------------------------------

def test_final_approval_records_decision_number_and_date(honours):
    case = honours.on_notice()
    later = honours.notice_due(case) + timedelta(minutes=1)
    honours.act(None, case, "close_notice", now=later)
    with pytest.raises(ValidationFailed) as caught:
        honours.act("reviewer_city", case, "approve", now=later, inputs={"decision_date": "2026-04-28"})
    assert "decision_number" in caught.value.fields
    event = honours.act("reviewer_city", case, "approve", now=later,
                        inputs={"decision_number": "示工发〔2026〕12号", "decision_date": "2026-04-28"})
    assert case.outcome["award"] == {"decision_number": "示工发〔2026〕12号", "decision_date": "2026-04-28",
                                     "award_type": "labour_medal", "level": "city", "year": 2026}
    assert event.details["inputs"] == {"decision_number": "示工发〔2026〕12号", "decision_date": "2026-04-28"}


def test_revocation_is_its_own_reviewed_case_and_leaves_the_trail_intact(honours):
    session, world = honours.session, honours.world
    nomination = honours.awarded()
    trail_before = [(e.seq, e.hash) for e in case_events(session, nomination.id)]
    with pytest.raises(PermissionDenied):
        request_revocation(session, world.actor("reviewer_A1"), nomination, {}, now=NOW)
    revocation = request_revocation(session, world.actor("applicant_A1a"), nomination,
                                    {"ground": "faked_merits", "reason": "事迹材料弄虚作假"}, now=NOW)
    assert (revocation.linked_case_id, revocation.link_relation) == (nomination.id, "revocation")
    with pytest.raises(InvalidAction):
        request_revocation(session, world.actor("applicant_A1a"), nomination, {}, now=NOW)
    for actor in ("applicant_A1a", "reviewer_A1", "reviewer_A"):
        perform_action(session, world.actor(actor), revocation, "submit" if actor.startswith("applicant") else "approve",
                       expected_version=revocation.version, now=NOW)
    perform_action(session, world.actor("reviewer_city"), revocation, "approve", expected_version=revocation.version,
                   now=NOW, inputs={"decision_number": "示工发〔2026〕30号", "decision_date": "2026-09-01"})
    assert revocation.state == "revoked" and nomination.state == "approved"
    assert nomination.outcome["revoked"]["quota_place_forfeited"] is True
    trail_after = case_events(session, nomination.id)
    assert [(e.seq, e.hash) for e in trail_after[:len(trail_before)]] == trail_before
    assert trail_after[-1].action == "revoke" and trail_after[-1].actor_name == "reviewer_city"
    assert verify_audit_chain(session, [nomination.id, revocation.id]).ok
    with pytest.raises(InvalidAction):
        request_revocation(session, world.actor("applicant_A1a"), nomination, {}, now=NOW)


def test_only_awarded_honours_can_be_revoked(honours):
    case = honours.at_city()
    with pytest.raises(InvalidAction):
        request_revocation(honours.session, honours.world.actor("applicant_A1a"), case, {}, now=NOW)


def test_the_whole_procedure_leaves_a_verifiable_trail(honours):
    case = honours.awarded()
    actions = [e.action for e in case_events(honours.session, case.id)]
    assert actions == ["create", "submit", "approve", "approve", "record", "approve", "vote", "vote", "vote",
                       "pass_jury", "close_notice", "approve"]
    assert verify_audit_chain(honours.session, [case.id]).ok
