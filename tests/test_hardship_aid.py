"""困难职工帮扶 (workflows/hardship_aid.py): categories at their thresholds, exclusions, the
home visit, one open file per person, public notice and objections, the aid amount with
its yearly household cap (also under concurrency on PostgreSQL), disbursement, the yearly
re-check, and the demo seed."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from stdnum.cn import ric

from engine.audit.chain import case_events
from engine.base.errors import ConditionFailed, InvalidAction, NotFound, PermissionDenied, ValidationFailed
from engine.cases.attachments import FileStore
from engine.cases.case import Case
from engine.cases.integrity import verify_audit_chain
from engine.cases.machines import available_actions
from engine.cases.records import add_record
from engine.operations.objections import lodge_objection
from engine.operations.timers import fire_due_timers
from engine.operations.transitions import create_draft, perform_action, update_draft
from engine.org.units import SYSTEM_ACTOR, assign_role, create_user, load_actor
from engine.procedures.ledgers import balance
from engine.procedures.notices import cases_on_notice, objections_of
from engine.procedures.parameters import set_parameters
from tests.conftest import NOW, build_world
from tests.test_concurrency import _in_thread, _wait_until_blocked
from workflows.hardship_aid import STANDARDS, category_of, per_capita_income, record_disbursement, start_yearly_recheck

STANDARD_VALUES = {
    "minimum_living_standard": "820.00", "deep_multiplier": "1", "relative_multiplier": "2",
    "accident_cost_share": "0.8", "living_aid_months": {"deep": 12, "relative": 10, "accident": 12},
    "yearly_cap_per_household": "20000.00",
}
LOADED = {"minimum_living_standard": Decimal("820.00"), "deep_multiplier": Decimal("1"),
          "relative_multiplier": Decimal("2"), "accident_cost_share": Decimal("0.8")}
ACCOUNT = "6222020200112233445"
OBJECTION = {"objector_kind": "person", "objector_name": "李群众", "contact": "13800138000",
             "content": "申请人家里有一辆小轿车经常开，请核实。"}
LATER = NOW + timedelta(days=30)


def id_number(i: int) -> str:
    body = f"320602{1983 + i}0101{100 + i:03d}"
    return body + ric.calc_check_digit(body + "0")


def form(i: int = 1, **overrides) -> dict:
    """A single-person household: per-capita income = (income − rigid) / 12."""
    values = {
        "applicant_name": f"职工{i}", "id_number": id_number(i), "phone": "13800138000", "employer": "A1a公司",
        "household_size": 1, "household_income": "9000.00", "rigid_expenses": "0", "hardship_reason": "illness",
        "exclusion_homes": "no", "exclusion_business": "no", "exclusion_car": "no", "exclusion_schooling": "no",
        "description": "爱人长期透析，家庭收入仅靠本人工资。", "bank_account": ACCOUNT,
    }
    return values | overrides


@pytest.fixture
def standards(session, world):
    return set_parameters(session, None, STANDARDS, unit=world.unit("city"), valid_from=date(2026, 1, 1),
                          valid_to=date(2026, 12, 31), values=STANDARD_VALUES)


class Flow:
    """Drives hardship cases of the world fixture (unit A1a) through the procedure."""

    def __init__(self, session, world):
        self.session, self.world = session, world

    def act(self, who, case, trigger, comment=None, inputs=None, now=NOW):
        actor = SYSTEM_ACTOR if who == "system" else self.world.actor(who)
        return perform_action(self.session, actor, case, trigger, expected_version=case.version, comment=comment,
                              inputs=inputs, now=now)

    def draft(self, i=1, **overrides) -> Case:
        return create_draft(self.session, self.world.actor("applicant_A1a"), "hardship_aid", form=form(i, **overrides),
                            now=NOW)

    def submitted(self, i=1, **overrides) -> Case:
        case = self.draft(i, **overrides)
        self.act("applicant_A1a", case, "submit")
        return case

    def visit(self, case, **overrides):
        data = {"visitor_one": "王干事", "visitor_two": "李委员", "visit_date": "2026-03-09",
                "check_members": "confirmed", "check_income": "confirmed", "check_housing": "confirmed",
                "check_hardship": "confirmed", "notes": "两人入户走访，情况属实。"} | overrides
        return add_record(self.session, self.world.actor("reviewer_A1a"), case, "home_visit", data, now=NOW)

    def to(self, case, target: str) -> Case:
        """Move the case on, stage by stage, until it reaches ``target``."""
        later = NOW + timedelta(days=10)  # past the notice period
        steps = {
            "draft": lambda: self.act("applicant_A1a", case, "submit"),
            "home_visit": lambda: (self.visit(case), self.act("reviewer_A1a", case, "evaluate")),
            "township_review": lambda: self.act("reviewer_A1", case, "approve"),
            "county_review": lambda: self.act("reviewer_A", case, "approve"),
            "public_notice": lambda: self.act("system", case, "notice_ended", now=later),
            "approval": lambda: self.act("reviewer_A", case, "approve", now=later),
        }
        while case.state != target:
            steps[case.state]()
        return case


@pytest.fixture
def flow(session, world):
    return Flow(session, world)


def refused(session, error, attempt):
    """Run ``attempt`` in a savepoint, expect ``error``, and roll the attempt back."""
    session.commit()
    with pytest.raises(error) as info:
        with session.begin_nested():
            attempt()
    session.expire_all()
    return info.value


def outcome_of(session, case, trigger):
    """The action figures of the latest ``trigger`` event of the case's audit trail."""
    events = [e for e in case_events(session, case.id) if e.action == trigger]
    return events[-1].details["outcomes"]


# --- Per-capita income and categories (no database) -------------------------------------------------

def test_per_capita_income_is_rounded_half_up_and_never_negative():
    assert per_capita_income({"household_income": "36000", "rigid_expenses": "12000", "household_size": 3}) \
        == Decimal("666.67")
    assert per_capita_income({"household_income": "100.06", "household_size": 1}) == Decimal("8.34")  # 8.338…
    assert per_capita_income({"household_income": "1000", "rigid_expenses": "5000", "household_size": 2}) \
        == Decimal("0.00")


@pytest.mark.parametrize(("income", "costs", "category"), [
    ("9839.88", None, "deep"),        # 819.99 a month: below 1× 低保
    ("9840.00", None, "relative"),    # exactly 820.00: at 1× is not below it
    ("19679.88", None, "relative"),   # 1639.99: below 2×
    ("19680.00", None, None),         # exactly 1640.00: at 2× is not below it
    ("20000.00", "16000.00", None),   # costs exactly 80% of yearly income do not exceed it
    ("20000.00", "16000.01", "accident"),
])
def test_category_at_each_threshold(income, costs, category):
    data = {"household_income": income, "household_size": 1} | ({"hardship_costs": costs} if costs else {})
    found, thresholds = category_of(data, LOADED)
    assert found == category
    assert thresholds["deep"] == Decimal("820.00") and thresholds["relative"] == Decimal("1640.00")


def test_standards_refuse_a_relative_multiplier_not_above_the_deep_one(session, world):
    with pytest.raises(ValidationFailed) as info:
        set_parameters(session, None, STANDARDS, unit=world.unit("city"), valid_from=date(2026, 1, 1),
                       values=STANDARD_VALUES | {"relative_multiplier": "1"})
    assert "values.relative_multiplier" in info.value.fields


# --- Evaluation by the unit: home visit, category, exclusions ---------------------------------------

def test_income_exactly_at_twice_the_standard_is_refused_with_the_figures(session, flow, standards):
    case = flow.submitted(household_income="19680.00")
    flow.visit(case)
    error = refused(session, ConditionFailed, lambda: flow.act("reviewer_A1a", case, "evaluate"))
    assert error.reasons == ["家庭月人均收入 1640.00 元，不低于相对困难标准 1640.00 元；致困费用 0.00 元，"
                             "未超过家庭年收入的规定比例（15744.00 元），不符合困难职工认定条件"]
    assert case.state == "home_visit"


def test_income_exactly_at_the_standard_is_relative_and_the_audit_shows_why(session, flow, standards):
    case = flow.submitted(household_income="9840.00")
    flow.visit(case)
    flow.act("reviewer_A1a", case, "evaluate")
    assert case.state == "township_review"
    assert case.outcome["category"] == "relative" and case.outcome["per_capita_income"] == "820.00"
    [figures] = outcome_of(session, case, "evaluate")
    assert figures["action"] == "hardship_aid_assess" and figures["version"] == "1"
    assert (figures["per_capita_income"], figures["deep_threshold"], figures["relative_threshold"]) == \
        ("820.00", "820.00", "1640.00")
    assert figures["category_label"] == "相对困难"
    assert figures["standards"]["parameter_set"] == standards.id
    assert figures["standards"]["hash"] == standards.content_hash[:16]


def test_evaluation_without_standards_for_the_year_names_what_is_missing(session, flow):
    case = flow.submitted()
    flow.visit(case)
    error = refused(session, ConditionFailed, lambda: flow.act("reviewer_A1a", case, "evaluate"))
    assert error.reasons == ["尚未配置2026年适用的「困难职工认定及帮扶标准」，请联系管理员"]


@pytest.mark.parametrize(("field", "label"), [
    ("exclusion_homes", "家庭拥有两套及以上住房"),
    ("exclusion_business", "家庭成员开办企业并雇用他人"),
    ("exclusion_car", "家庭拥有并经常使用机动车辆"),
    ("exclusion_schooling", "子女就读高收费民办学校或自费出国留学"),
])
def test_each_exclusion_refuses_submission_by_name(session, flow, standards, field, label):
    case = flow.draft(**{field: "yes"})
    error = refused(session, ConditionFailed, lambda: flow.act("applicant_A1a", case, "submit"))
    assert error.reasons == [f"不符合困难职工认定条件：{label}"]
    assert case.state == "draft"


def test_two_exclusions_are_both_named(session, flow, standards):
    case = flow.draft(exclusion_homes="yes", exclusion_car="yes")
    error = refused(session, ConditionFailed, lambda: flow.act("applicant_A1a", case, "submit"))
    assert error.reasons == ["不符合困难职工认定条件：家庭拥有两套及以上住房；家庭拥有并经常使用机动车辆"]


def test_evaluation_needs_a_home_visit(session, flow, world, standards):
    case = flow.submitted()
    assert "evaluate" not in [a.trigger for a in available_actions(session, world.actor("reviewer_A1a"), case, NOW)]
    error = refused(session, ConditionFailed, lambda: flow.act("reviewer_A1a", case, "evaluate"))
    assert error.reasons == ["尚未登记入户走访记录，须由两名工作人员入户走访后方可评议上报"]
    flow.visit(case)
    assert "evaluate" in [a.trigger for a in available_actions(session, world.actor("reviewer_A1a"), case, NOW)]


@pytest.mark.parametrize(("visit", "reason"), [
    ({"visitor_two": "王干事"}, "入户走访须由两名不同的工作人员进行"),
    ({"visit_date": "2026-03-10"}, "走访日期不能晚于今天"),
    ({"visit_date": "2026-03-08"}, "走访日期不能早于申请提交日期"),
    ({"check_income": "mismatch", "check_housing": "mismatch"}, "入户走访核实与申报不符：家庭收入情况、住房及家庭财产情况"),
])
def test_a_home_visit_that_does_not_count(session, flow, standards, visit, reason):
    case = flow.submitted()
    flow.visit(case, **visit)
    error = refused(session, ConditionFailed, lambda: flow.act("reviewer_A1a", case, "evaluate"))
    assert error.reasons == [reason]


def test_home_visit_is_recorded_by_the_unit_only_while_visiting(session, flow, world, standards):
    case = flow.submitted()
    with pytest.raises(PermissionDenied):
        add_record(session, world.actor("reviewer_A1"), case, "home_visit", {}, now=NOW)
    with pytest.raises(ValidationFailed) as info:
        flow.visit(case, visitor_two=None)
    assert set(info.value.fields) == {"visitor_two"}
    flow.to(case, "township_review")
    with pytest.raises(InvalidAction):
        flow.visit(case)


# --- One open file per person ---------------------------------------------------------------------

def test_a_second_open_file_for_the_same_person_is_refused(session, flow, standards):
    first = flow.submitted(1)
    second = flow.draft(1)
    error = refused(session, ConditionFailed, lambda: flow.act("applicant_A1a", second, "submit"))
    assert error.reasons == [f"申请人已有未办结的困难职工帮扶档案（第 {first.id} 号），同一人只能有一份在办档案"]
    flow.submitted(2)  # another person is not affected
    flow.act("applicant_A1a", first, "withdraw")
    flow.act("applicant_A1a", second, "submit")
    assert second.state == "home_visit"


# --- Public notice and objections -----------------------------------------------------------------

def test_notice_ends_by_the_clock_only_once_its_deadline_passed(session, flow, standards):
    case = flow.to(flow.draft(), "public_notice")
    [shown] = cases_on_notice(session, "hardship_aid")
    assert shown["fields"] == [("申请人姓名", "职工1"), ("工作单位", "A1a公司")]  # never the ID number or income
    assert fire_due_timers(session, NOW + timedelta(days=2)) == []
    assert case.state == "public_notice"
    [result] = fire_due_timers(session, NOW + timedelta(days=10))
    assert (result.trigger, result.fired, case.state) == ("notice_ended", True, "approval")


def test_objection_answered_and_dismissed_returns_to_a_full_notice(session, flow, standards):
    case = flow.to(flow.draft(), "public_notice")
    objection = lodge_objection(session, case.id, OBJECTION, now=NOW + timedelta(days=1))
    assert case.state == "objection_investigation"
    error = refused(session, ValidationFailed, lambda: flow.act("reviewer_A1a", case, "answer",
                                                                now=NOW + timedelta(days=2)))
    assert set(error.fields) == {"answer"}
    flow.act("reviewer_A1a", case, "answer", inputs={"answer": "经核实该车为其兄弟所有，申请人未使用。"},
             now=NOW + timedelta(days=2))
    assert (case.state, objection.status) == ("objection_judgement", "answered")
    flow.act("reviewer_A", case, "dismiss", comment="车辆登记在他人名下，异议不成立", now=NOW + timedelta(days=3))
    assert (case.state, objection.status) == ("public_notice", "dismissed")
    # The notice runs its full period again from the dismissal.
    assert fire_due_timers(session, NOW + timedelta(days=8)) == []
    fire_due_timers(session, NOW + timedelta(days=12))
    assert case.state == "approval"


def test_objection_upheld_rejects_the_case(session, flow, standards):
    case = flow.to(flow.draft(), "public_notice")
    objection = lodge_objection(session, case.id, OBJECTION, now=NOW + timedelta(days=1))
    flow.act("reviewer_A1a", case, "answer", inputs={"answer": "经核实申请人确有车辆并经常使用。"},
             now=NOW + timedelta(days=2))
    error = refused(session, ValidationFailed,
                    lambda: flow.act("reviewer_A", case, "uphold", now=NOW + timedelta(days=3)))
    assert set(error.fields) == {"comment"}
    flow.act("reviewer_A", case, "uphold", comment="申请人经常使用车辆，属排除情形", now=NOW + timedelta(days=3))
    assert (case.state, objection.status) == ("rejected", "upheld")
    assert case.closed_dt is not None


def test_objection_left_unanswered_closes_the_case_when_the_clock_runs_out(session, flow, standards):
    case = flow.to(flow.draft(), "public_notice")
    objection = lodge_objection(session, case.id, OBJECTION, now=NOW + timedelta(days=1))
    assert fire_due_timers(session, NOW + timedelta(days=3)) == []
    [result] = fire_due_timers(session, NOW + timedelta(days=15))
    assert (result.trigger, result.fired) == ("answer_lapsed", True)
    assert (case.state, objection.status) == ("rejected", "lapsed")
    assert objections_of(session, case) == [objection]
    assert verify_audit_chain(session, [case.id]).ok


# --- The aid amount ---------------------------------------------------------------------------------

def test_approval_grants_the_rule_amount_and_audits_the_figures(session, flow, standards):
    case = flow.to(flow.draft(), "disbursement")
    assert case.outcome["aid_amount"] == "9840.00" and case.outcome["rule_amount"] == "9840.00"
    [figures] = outcome_of(session, case, "approve")
    assert figures["action"] == "hardship_aid_award"
    assert {k: figures[k] for k in ("category", "months", "rule_amount", "requested_amount", "aid_amount",
                                    "yearly_cap", "cap_left", "aid_year", "lowered", "capped")} == {
        "category": "deep", "months": 12, "rule_amount": "9840.00", "requested_amount": "9840.00",
        "aid_amount": "9840.00", "yearly_cap": "20000.00", "cap_left": "10160.00", "aid_year": 2026,
        "lowered": False, "capped": False}
    assert figures["standards"]["parameter_set"] == standards.id
    assert balance(session, f"hardship_aid:household:{id_number(1)}", "2026") == \
        (Decimal("20000.00"), Decimal("9840.00"))


def test_relative_hardship_gets_its_own_months(session, flow, standards):
    case = flow.to(flow.draft(household_income="12000.00"), "disbursement")  # 1000.00 a month
    assert (case.outcome["category"], case.outcome["aid_amount"]) == ("relative", "8200.00")


def test_reviewer_may_lower_with_a_reason_but_never_raise(session, flow, standards):
    case = flow.to(flow.draft(), "approval")
    later = NOW + timedelta(days=10)
    error = refused(session, ValidationFailed, lambda: flow.act(
        "reviewer_A", case, "approve", inputs={"approved_amount": "9840.01", "reason": "多给一点"}, now=later))
    assert error.fields == {"approved_amount": ["核定金额不能高于按标准计算的 9840.00 元"]}
    error = refused(session, ValidationFailed, lambda: flow.act(
        "reviewer_A", case, "approve", inputs={"approved_amount": "6000.00"}, now=later))
    assert error.fields == {"reason": ["核定金额低于按标准计算的 9840.00 元，请说明调低理由"]}
    assert case.state == "approval" and balance(session, f"hardship_aid:household:{id_number(1)}", "2026") is None
    flow.act("reviewer_A", case, "approve", inputs={"approved_amount": "6000.00", "reason": "已获民政临时救助"}, now=later)
    assert case.outcome["aid_amount"] == "6000.00"
    [figures] = outcome_of(session, case, "approve")
    assert (figures["rule_amount"], figures["aid_amount"], figures["lowered"], figures["reason"]) == \
        ("9840.00", "6000.00", True, "已获民政临时救助")


def test_the_rule_amount_itself_needs_no_reason(session, flow, standards):
    case = flow.to(flow.draft(), "approval")
    flow.act("reviewer_A", case, "approve", inputs={"approved_amount": "9840.00"}, now=NOW + timedelta(days=10))
    assert case.outcome["aid_amount"] == "9840.00"


def test_household_cap_exactly_reached_then_refused(session, flow, world, standards):
    """Three workers of one household: 9840 + 8200 fill a cap of 18040 exactly; the third gets nothing."""
    set_parameters(session, None, STANDARDS, unit=world.unit("A"), valid_from=date(2026, 1, 1),
                   values=STANDARD_VALUES | {"yearly_cap_per_household": "18040.00"})
    head = id_number(9)
    deep = flow.to(flow.draft(1, household_head_id_number=head), "disbursement")
    relative = flow.to(flow.draft(2, household_head_id_number=head, household_income="12000.00"), "disbursement")
    assert (deep.outcome["aid_amount"], relative.outcome["aid_amount"]) == ("9840.00", "8200.00")
    assert outcome_of(session, relative, "approve")[0]["cap_left"] == "0.00"
    third = flow.to(flow.draft(3, household_head_id_number=head), "approval")
    error = refused(session, ConditionFailed, lambda: flow.act("reviewer_A", third, "approve",
                                                               now=NOW + timedelta(days=10)))
    assert error.message == "本户 2026 年度帮扶金额已达上限 18040.00 元，不能再批准帮扶"
    assert balance(session, f"hardship_aid:household:{head}", "2026") == (Decimal("18040.00"), Decimal("18040.00"))


def test_what_is_left_of_the_cap_is_granted_and_marked_capped(session, flow, world, standards):
    set_parameters(session, None, STANDARDS, unit=world.unit("A"), valid_from=date(2026, 1, 1),
                   values=STANDARD_VALUES | {"yearly_cap_per_household": "12000.00"})
    head = id_number(9)
    flow.to(flow.draft(1, household_head_id_number=head), "disbursement")
    second = flow.to(flow.draft(2, household_head_id_number=head), "disbursement")
    [figures] = outcome_of(session, second, "approve")
    assert (figures["aid_amount"], figures["capped"], figures["cap_left"]) == ("2160.00", True, "0.00")


# --- Disbursement -----------------------------------------------------------------------------------

def test_disbursement_needs_a_record_within_the_approved_amount(session, flow, world, standards):
    case = flow.to(flow.draft(), "disbursement")
    county = world.actor("reviewer_A")
    error = refused(session, ConditionFailed, lambda: flow.act("reviewer_A", case, "disburse"))
    assert error.reasons == ["尚未登记帮扶资金发放记录"]
    with pytest.raises(ValidationFailed) as info:
        record_disbursement(session, county, case, {"amount": "9840.01", "paid_on": "2026-03-20"}, now=NOW)
    assert info.value.fields == {"amount": ["发放金额不能超过尚未发放的核定金额 9840.00 元"]}
    record_disbursement(session, county, case, {"amount": "9840.00", "paid_on": "2026-03-20",
                                                "voucher_number": "ZZ0001"}, now=NOW)
    with pytest.raises(ValidationFailed):
        record_disbursement(session, county, case, {"amount": "0.01", "paid_on": "2026-03-21"}, now=NOW)
    event = flow.act("reviewer_A", case, "disburse", now=NOW + timedelta(days=12))
    assert case.state == "aided"
    assert case.outcome["paid_to"] == "***************3445" and case.outcome["disbursed_amount"] == "9840.00"
    [figures] = event.details["outcomes"]
    assert figures["paid_to"] == "***************3445"
    assert ACCOUNT not in str(event.details)


def test_a_record_beyond_the_approved_amount_blocks_disbursement(session, flow, world, standards):
    """A record added past the helper (add_record directly) is caught when paying out."""
    case = flow.to(flow.draft(), "disbursement")
    add_record(session, world.actor("reviewer_A"), case, "disbursement", {"amount": "9900.00", "paid_on": "2026-03-20"},
               now=NOW)
    error = refused(session, ConditionFailed, lambda: flow.act("reviewer_A", case, "disburse"))
    assert error.reasons == ["已登记发放 9900.00 元，超过核定帮扶金额 9840.00 元"]


def test_an_approval_is_cancelled_only_before_any_money_went_out(session, flow, world, standards):
    case = flow.to(flow.draft(), "disbursement")
    account = f"hardship_aid:household:{id_number(1)}"
    assert balance(session, account, "2026")[1] == Decimal("9840.00")
    flow.act("reviewer_A", case, "cancel", comment="核实发现申请人已就业，发放前撤销")
    assert case.state == "rejected" and balance(session, account, "2026")[1] == 0
    paid = flow.to(flow.draft(2), "disbursement")
    record_disbursement(session, world.actor("reviewer_A"), paid, {"amount": "100.00", "paid_on": "2026-03-20"}, now=NOW)
    error = refused(session, ConditionFailed, lambda: flow.act("reviewer_A", paid, "cancel", comment="撤销"))
    assert error.reasons == ["已登记发放 100.00 元，不能撤销核准"]


# --- Yearly re-check --------------------------------------------------------------------------------

def aided_file(flow, i=1) -> Case:
    case = flow.to(flow.draft(i, household_members="本人"), "disbursement")
    record_disbursement(flow.session, flow.world.actor("reviewer_A"), case, {"amount": "9840.00",
                                                                             "paid_on": "2026-03-20"}, now=NOW)
    flow.act("reviewer_A", case, "disburse", now=NOW + timedelta(days=12))
    return case


def test_yearly_recheck_opens_a_linked_prefilled_file(session, flow, world, standards):
    old = aided_file(flow)
    next_year = NOW + timedelta(days=365)
    recheck = start_yearly_recheck(session, world.actor("applicant_A1a"), old, next_year)
    assert (recheck.state, recheck.linked_case_id, recheck.link_relation) == ("draft", old.id, "yearly_recheck")
    assert recheck.subject_key == old.subject_key
    assert recheck.form_data["household_members"] == "本人" and recheck.form_data["bank_account"] == ACCOUNT
    assert not any(name.startswith("exclusion_") for name in recheck.form_data)  # declared afresh each year
    with pytest.raises(InvalidAction, match="2027 年度的复核已经发起"):
        start_yearly_recheck(session, world.actor("applicant_A1a"), old, next_year)
    # The old file is closed: the re-check is the person's one open file and may be submitted...
    update_draft(session, world.actor("applicant_A1a"), recheck, {k: "no" for k in (
        "exclusion_homes", "exclusion_business", "exclusion_car", "exclusion_schooling")},
        expected_version=recheck.version, now=next_year)
    flow.act("applicant_A1a", recheck, "submit", now=next_year)
    assert recheck.state == "home_visit"
    # ...and a fresh application by the same person meanwhile is a second open file.
    fresh = flow.draft(1)
    error = refused(session, ConditionFailed, lambda: flow.act("applicant_A1a", fresh, "submit", now=next_year))
    assert error.reasons == [f"申请人已有未办结的困难职工帮扶档案（第 {recheck.id} 号），同一人只能有一份在办档案"]


def test_recheck_by_a_reviewer_is_prepared_for_the_unit_and_signed_in_the_trail(session, flow, world, standards):
    old = aided_file(flow)
    recheck = start_yearly_recheck(session, world.actor("reviewer_A1"), old, NOW + timedelta(days=365))
    assert recheck.applicant_id is None and recheck.origin_unit_id == old.origin_unit_id
    comment = [e for e in case_events(session, recheck.id) if e.action == "comment"][0]
    assert comment.actor_id == world.actor("reviewer_A1").user_id
    assert f"原档案第 {old.id} 号" in comment.comment
    user = create_user(session, username="reviewer_A1b", display_name="reviewer_A1b")
    assign_role(session, user, "reviewer", world.unit("A1b"))  # a sibling unit's reviewer cannot even see it
    with pytest.raises(NotFound):
        start_yearly_recheck(session, load_actor(session, user.id), old, NOW + timedelta(days=366))
    with pytest.raises(PermissionDenied):
        start_yearly_recheck(session, world.actor("auditor_city"), old, NOW + timedelta(days=366))


def test_only_an_aided_file_is_rechecked(session, flow, world, standards):
    case = flow.submitted()
    with pytest.raises(InvalidAction, match="只有已帮扶"):
        start_yearly_recheck(session, world.actor("applicant_A1a"), case, NOW)


# --- Concurrency: the household cap under two simultaneous approvals (PostgreSQL) ------------------

WAIT_SECONDS = 15


def _two_members_awaiting_approval(committed_db, head: str):
    with committed_db() as session:
        world = build_world(session)
        set_parameters(session, None, STANDARDS, unit=world.unit("city"), valid_from=date(2026, 1, 1),
                       values=STANDARD_VALUES | {"yearly_cap_per_household": "12000.00"})
        flow = Flow(session, world)
        ids = [flow.to(flow.draft(i, household_head_id_number=head), "approval").id for i in (1, 2)]
        session.commit()
    return world, ids


def _approve(session, world, case_id):
    case = session.get(Case, case_id)
    perform_action(session, world.actor("reviewer_A"), case, "approve", expected_version=case.version,
                   now=NOW + timedelta(days=10))
    return case


def _assert_cap_used_exactly(committed_db, head, ids):
    with committed_db() as session:
        assert balance(session, f"hardship_aid:household:{head}", "2026") == (Decimal("12000.00"), Decimal("12000.00"))
        assert {session.get(Case, i).state for i in ids} == {"disbursement"}
        assert verify_audit_chain(session).ok


def test_household_cap_holds_when_two_members_are_approved_at_once(committed_db):
    head = id_number(9)
    world, ids = _two_members_awaiting_approval(committed_db, head)
    start = threading.Barrier(len(ids))

    def approve(case_id):
        with committed_db() as session:
            start.wait(WAIT_SECONDS)
            case = _approve(session, world, case_id)
            session.commit()
            return Decimal(case.outcome["aid_amount"])

    with ThreadPoolExecutor(len(ids)) as pool:
        granted = sorted(pool.map(approve, ids))
    assert granted == [Decimal("2160.00"), Decimal("9840.00")]
    _assert_cap_used_exactly(committed_db, head, ids)


def test_second_approval_waits_for_the_first_and_gets_what_is_left(committed_db):
    """The first approval holds the household ledger row; the second waits on it, then is cut
    to the 2,160 left of the 12,000 cap."""
    head = id_number(9)
    world, (first_id, second_id) = _two_members_awaiting_approval(committed_db, head)
    with committed_db() as first, committed_db() as second:
        _approve(first, world, first_id)
        second_pid = second.scalar(text("SELECT pg_backend_pid()"))
        approved = []
        thread, outcome = _in_thread(second, lambda: approved.append(_approve(second, world, second_id)))
        _wait_until_blocked(committed_db, second_pid, thread)
        first.commit()
        thread.join(WAIT_SECONDS)
    assert outcome["result"] == "committed", outcome["result"]
    assert approved[0].outcome["aid_amount"] == "2160.00"
    _assert_cap_used_exactly(committed_db, head, [first_id, second_id])


# --- Demo -------------------------------------------------------------------------------------------

def test_demo_seed_reaches_every_state(session, tmp_path):
    from engine.definitions.store import current_definition
    from unionflow.demo import demo_world, seed_demo_org
    from unionflow.demo_seeds.hardship_aid import seed

    seed_demo_org(session)
    demo = demo_world(session, FileStore(tmp_path / "files"), NOW)
    created = seed(session, demo)
    cases = session.scalars(select(Case).where(Case.kind == "hardship_aid")).all()
    assert len(cases) == created
    definition = current_definition(session, "hardship_aid")
    assert {c.state for c in cases} == {s.id for s in definition.states}
    assert any(c.link_relation == "yearly_recheck" for c in cases)
    assert fire_due_timers(session, NOW) == []  # nothing the demo shows as running is already due
    assert verify_audit_chain(session, [c.id for c in cases]).ok
