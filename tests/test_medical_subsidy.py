"""Healthcare subsidy claims: schemes as parameter sets, each formula at its boundaries, the
filing window on the working calendar, the yearly cap under concurrency, the audit trail."""
from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import text

from engine.audit.chain import case_events
from engine.base.errors import ConditionFailed, ValidationFailed
from engine.cases.attachments import FileStore, attach_file
from engine.cases.case import Case
from engine.operations.transitions import create_draft, perform_action, update_draft
from engine.procedures.ledgers import balance
from engine.procedures.parameters import set_parameters
from tests.conftest import NOW, build_world

SCHEMES = "medical_subsidy.schemes"
# The seven tiers of one city's critical-illness scheme (domain.md §3): 1,500 at 10,000 up to 50,000.
TIERS = [("10000.00", "1500.00"), ("20000.00", "3000.00"), ("50000.00", "5000.00"), ("100000.00", "10000.00"),
         ("200000.00", "20000.00"), ("300000.00", "30000.00"), ("500000.00", "50000.00")]
SCHEME_VALUES = {"schemes": {
    "mutual_aid": {
        "label": "职工住院医疗互助", "formula": "ratio", "eligible_parts": ["self_paid_in_catalogue"],
        "deductible": "1000.00", "ratio": "0.5", "cap": "50000.00",
        "filing_working_days": 30, "lapse_months": 24,
    },
    "critical_illness": {
        "label": "职工重大疾病互助", "formula": "tiers",
        "eligible_parts": ["self_paid_in_catalogue", "self_paid_out_of_catalogue"],
        "tiers": [{"threshold": t, "payout": p} for t, p in TIERS], "cap": "50000.00",
        "illnesses": [{"code": "ZJ01", "label": "恶性肿瘤"}, {"code": "ZJ02", "label": "尿毒症"}],
        "filing_working_days": 30, "lapse_months": 24,
    },
}}
DOCUMENTS = ("discharge_summary", "diagnosis_certificate", "settlement_sheet", "itemised_bill")
ID_NUMBER = "32060219900101123X"
OTHER_ID_NUMBER = "320602198505052014"
DISCHARGE = date(2026, 3, 2)


def _form(**overrides) -> dict:
    form = {
        "scheme": "mutual_aid", "patient_name": "王芳", "id_number": ID_NUMBER, "diagnosis": "急性阑尾炎",
        "admission_date": "2026-02-24", "discharge_date": DISCHARGE.isoformat(), "hospital_name": "市第一人民医院",
        "hospital_grade": "tertiary", "total_cost": "200000.00", "pooled_insurance_paid": "18000.00",
        "critical_illness_insurance_paid": "0.00", "self_paid_in_catalogue": "7000.00",
        "self_paid_out_of_catalogue": "2000.00", "bank_account": "6222020200112233445",
    }
    return form | overrides


@pytest.fixture
def schemes(session, world):
    return set_parameters(session, None, SCHEMES, unit=world.unit("city"), valid_from=date(2024, 1, 1),
                          values=SCHEME_VALUES)


@pytest.fixture
def store(tmp_path):
    return FileStore(tmp_path / "files")


@pytest.fixture
def draft(session, world, store):
    """A claim with every required field and document, not yet submitted: draft(**form_overrides)."""
    def make(applicant="applicant_A1a", now=NOW, **overrides):
        actor = world.actor(applicant)
        case = create_draft(session, actor, "medical_subsidy", form=_form(**overrides), now=now)
        attach_documents(session, actor, case, store, now)
        return case
    return make


def attach_documents(session, actor, case, store, now=NOW) -> None:
    """The four documents a claim needs, one small file each."""
    for field in DOCUMENTS:
        attach_file(session, actor, case, field, filename=f"{field}.pdf", content_type="application/pdf",
                    data=f"%PDF {field}".encode(), store=store, expected_version=case.version, now=now)


def _act(session, world, case, actor, trigger, now=NOW, **kwargs):
    return perform_action(session, world.actor(actor), case, trigger, expected_version=case.version, now=now, **kwargs)


@pytest.fixture
def submitted(session, world, draft, schemes):
    def make(now=NOW, **overrides):
        case = draft(now=now, **overrides)
        _act(session, world, case, "applicant_A1a", "submit", now=now)
        return case
    return make


def _approve(session, world, case, now=NOW):
    return _act(session, world, case, "reviewer_A", "approve", now=now)


def _grant_figures(event) -> dict:
    [outcome] = event.details["outcomes"]
    assert outcome["action"] == "medical_subsidy_grant"
    return outcome


def _refusal(session, world, case, trigger, actor, now=NOW) -> list[str]:
    """The refusal's reasons. The attempt runs in a savepoint rolled back afterwards, as the
    request around a refused action would be (an action refuses after the state moved)."""
    savepoint = session.begin_nested()
    with pytest.raises(ConditionFailed) as refused:
        _act(session, world, case, actor, trigger, now=now)
    savepoint.rollback()
    return refused.value.reasons


# --- The parameter set ----------------------------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    ({"ratio": None}, "ratio"),
    ({"ratio": 0.5}, "ratio"),
    ({"ratio": "1.5"}, "ratio"),
    ({"formula": "tiers"}, "tiers"),
    ({"formula": "percent"}, "formula"),
    ({"eligible_parts": []}, "eligible_parts"),
    ({"cap": "0"}, "cap"),
])
def test_a_bad_scheme_figure_is_refused_when_entered(session, world, change, field):
    scheme = {k: v for k, v in (SCHEME_VALUES["schemes"]["mutual_aid"] | change).items() if v is not None}
    with pytest.raises(ValidationFailed) as refused:
        set_parameters(session, None, SCHEMES, unit=world.unit("city"), valid_from=date(2026, 1, 1),
                       values={"schemes": {"mutual_aid": scheme}})
    assert field in str(refused.value.fields), refused.value.fields


def test_tiers_must_rise(session, world):
    scheme = SCHEME_VALUES["schemes"]["critical_illness"] | {
        "tiers": [{"threshold": "20000.00", "payout": "3000.00"}, {"threshold": "10000.00", "payout": "1500.00"}]}
    with pytest.raises(ValidationFailed) as refused:
        set_parameters(session, None, SCHEMES, unit=world.unit("city"), valid_from=date(2026, 1, 1),
                       values={"schemes": {"critical_illness": scheme}})
    assert "由低到高" in str(refused.value.fields)


# --- Ratio formula --------------------------------------------------------------------------------

def test_self_paid_exactly_at_the_deductible_computes_nothing_and_approval_says_why(session, world, submitted):
    case = submitted(self_paid_in_catalogue="1000.00")
    reasons = _refusal(session, world, case, "approve", "reviewer_A")
    assert reasons == ["按「职工住院医疗互助」计算补助金额为 0 元：可补助自付费用 1000.00 元未超过起付线 1000.00 元"]
    assert case.state == "county_review"
    # The reviewer closes it with the reason.
    _act(session, world, case, "reviewer_A", "reject", comment=reasons[0])
    assert case.state == "rejected"


def test_one_cent_above_the_deductible_rounds_half_up(session, world, submitted):
    case = submitted(self_paid_in_catalogue="1000.01")
    figures = _grant_figures(_approve(session, world, case))
    assert (figures["above_deductible"], figures["computed"], figures["granted"]) == ("0.01", "0.01", "0.01")
    assert case.outcome["subsidy_amount"] == "0.01"


def test_ratio_counts_only_the_configured_self_paid_parts(session, world, submitted):
    case = submitted(self_paid_in_catalogue="7000.00", self_paid_out_of_catalogue="2000.00")
    figures = _grant_figures(_approve(session, world, case))
    assert figures["eligible_self_paid"] == "7000.00"  # out-of-catalogue is not in mutual_aid's parts
    assert figures["computed"] == "3000.00"             # (7000 − 1000) × 0.5


def test_cap_exactly_reached_then_the_next_claim_gets_nothing(session, world, submitted):
    # (101000 − 1000) × 0.5 = 50000: exactly the cap.
    first = submitted(total_cost="200000.00", self_paid_in_catalogue="101000.00")
    figures = _grant_figures(_approve(session, world, first))
    assert (figures["computed"], figures["granted"], figures["used_before"], figures["cap_left"]) == \
        ("50000.00", "50000.00", "0.00", "0.00")
    assert first.outcome["subsidy_capped"] is False
    second = submitted(self_paid_in_catalogue="3000.00")
    assert _refusal(session, world, second, "approve", "reviewer_A") == [
        "该会员本补助周期（2026）「职工住院医疗互助」补助已达上限 50000.00 元（已补助 50000.00 元），本次可补助 0 元"]
    assert balance(session, f"medical_subsidy:mutual_aid:{ID_NUMBER}", "2026") == (Decimal("50000"), Decimal("50000"))


def test_a_claim_beyond_what_is_left_is_cut_to_the_rest(session, world, submitted):
    first = submitted(total_cost="200000.00", self_paid_in_catalogue="81000.00")  # 40000
    _approve(session, world, first)
    second = submitted(self_paid_in_catalogue="21000.00")  # computes 10000, 10000 left
    figures = _grant_figures(_approve(session, world, second))
    assert (figures["computed"], figures["used_before"], figures["granted"], figures["cap_left"]) == \
        ("10000.00", "40000.00", "10000.00", "0.00")
    third = submitted(self_paid_in_catalogue="23000.00")
    assert "已达上限" in _refusal(session, world, third, "approve", "reviewer_A")[0]


def test_cancelling_an_unpaid_approval_gives_the_amount_back_to_the_cap(session, world, submitted):
    first = submitted(total_cost="200000.00", self_paid_in_catalogue="101000.00")  # 50000: the whole cap
    _approve(session, world, first)
    with pytest.raises(ValidationFailed):
        _act(session, world, first, "reviewer_A", "cancel")
    event = _act(session, world, first, "reviewer_A", "cancel", comment="会员账户信息有误，发放前撤销")
    assert first.state == "rejected"
    assert event.details["outcomes"] == [{"action": "release_drawn", "version": "1", "released": [{
        "account": f"medical_subsidy:mutual_aid:{ID_NUMBER}", "period": "2026", "amount": "50000.00",
        "left": "50000.00"}]}]
    assert balance(session, f"medical_subsidy:mutual_aid:{ID_NUMBER}", "2026") == (Decimal("50000"), Decimal("0"))
    second = submitted(self_paid_in_catalogue="3000.00")
    assert _grant_figures(_approve(session, world, second))["granted"] == "1000.00"


def test_the_cap_is_per_person_and_per_cycle(session, world, submitted):
    _approve(session, world, submitted(total_cost="200000.00", self_paid_in_catalogue="101000.00"))
    other_person = submitted(id_number=OTHER_ID_NUMBER, self_paid_in_catalogue="3000.00")
    assert _grant_figures(_approve(session, world, other_person))["granted"] == "1000.00"
    last_year = submitted(admission_date="2025-12-20", discharge_date="2025-12-31", self_paid_in_catalogue="3000.00",
                          late_explanation="住院期间行动不便，出院后在家休养")
    figures = _grant_figures(_approve(session, world, last_year))
    assert (figures["cycle"], figures["granted"]) == ("2025", "1000.00")


def test_a_cycle_starting_mid_year_is_configured_not_coded(session, world, draft):
    values = {"schemes": {"mutual_aid": SCHEME_VALUES["schemes"]["mutual_aid"] | {"cycle_start_month": 7}}}
    set_parameters(session, None, SCHEMES, unit=world.unit("city"), valid_from=date(2024, 1, 1), values=values)
    case = draft()
    _act(session, world, case, "applicant_A1a", "submit")
    assert _grant_figures(_approve(session, world, case))["cycle"] == "2025-07"


def test_the_nearest_units_figures_apply_and_are_cited(session, world, submitted, schemes):
    county = {"schemes": {"mutual_aid": SCHEME_VALUES["schemes"]["mutual_aid"] | {"deductible": "2000.00"}}}
    county_set = set_parameters(session, None, SCHEMES, unit=world.unit("A"), valid_from=date(2026, 1, 1), values=county)
    figures = _grant_figures(_approve(session, world, submitted()))
    assert (figures["deductible"], figures["computed"]) == ("2000.00", "2500.00")
    assert figures["parameters"]["parameter_set"] == county_set.id != schemes.id


# --- Tier formula and illness list ----------------------------------------------------------------

@pytest.mark.parametrize("in_catalogue, out_of_catalogue, payout", [
    ("8000.00", "2000.00", "1500.00"),     # exactly the first threshold, counting both parts
    ("19999.99", "0.00", "1500.00"),
    ("20000.00", "0.00", "3000.00"),       # exactly the second threshold
    ("400000.00", "100000.00", "50000.00"),  # the top tier
])
def test_tier_payout_at_each_threshold(session, world, submitted, in_catalogue, out_of_catalogue, payout):
    case = submitted(scheme="critical_illness", illness_code="ZJ01", total_cost="600000.00",
                     self_paid_in_catalogue=in_catalogue, self_paid_out_of_catalogue=out_of_catalogue)
    figures = _grant_figures(_approve(session, world, case))
    assert (figures["formula"], figures["tier_payout"], figures["granted"]) == ("tiers", payout, payout)


def test_below_the_first_tier_computes_nothing(session, world, submitted):
    case = submitted(scheme="critical_illness", illness_code="尿毒症", self_paid_in_catalogue="7999.99",
                     self_paid_out_of_catalogue="2000.00")
    assert _refusal(session, world, case, "approve", "reviewer_A") == [
        "按「职工重大疾病互助」计算补助金额为 0 元：可补助自付费用 9999.99 元未达到最低档 10000.00 元"]


def test_an_illness_not_on_the_list_is_refused_on_submit(session, world, draft, schemes):
    case = draft(scheme="critical_illness", illness_code="高血压")
    assert _refusal(session, world, case, "submit", "applicant_A1a") == [
        "病种「高血压」不在「职工重大疾病互助」病种目录内（目录共 2 种）"]
    update_draft(session, world.actor("applicant_A1a"), case, {"illness_code": ""}, expected_version=case.version)
    assert _refusal(session, world, case, "submit", "applicant_A1a") == ["「职工重大疾病互助」须填写病种（病种目录共 2 种）"]
    update_draft(session, world.actor("applicant_A1a"), case, {"illness_code": "ZJ02"}, expected_version=case.version)
    _act(session, world, case, "applicant_A1a", "submit")
    assert case.state == "county_review"


def test_an_unconfigured_scheme_is_refused_naming_it(session, world, draft):
    set_parameters(session, None, SCHEMES, unit=world.unit("city"), valid_from=date(2024, 1, 1),
                   values={"schemes": {"mutual_aid": SCHEME_VALUES["schemes"]["mutual_aid"]}})
    case = draft(scheme="critical_illness", illness_code="ZJ01")
    assert _refusal(session, world, case, "submit", "applicant_A1a") == [
        "出院日期 2026-03-02 适用的参数中没有「职工重大疾病互助」项目，请联系管理员"]


# --- Form consistency -----------------------------------------------------------------------------

def test_discharge_before_admission_is_refused_and_same_day_is_fine(session, world, draft, schemes):
    case = draft(admission_date="2026-03-03")
    assert _refusal(session, world, case, "submit", "applicant_A1a") == ["出院日期 2026-03-02 不能早于入院日期 2026-03-03"]
    update_draft(session, world.actor("applicant_A1a"), case, {"admission_date": "2026-03-02"}, expected_version=case.version)
    _act(session, world, case, "applicant_A1a", "submit")
    assert case.state == "county_review"


def test_cost_parts_beyond_the_total_are_refused(session, world, draft, schemes):
    case = draft(total_cost="26999.99")  # 18000 + 0 + 7000 + 2000 = 27000
    assert _refusal(session, world, case, "submit", "applicant_A1a") == [
        "统筹支付、大病保险支付与个人自付、自费合计 27000.00 元，超过医疗总费用 26999.99 元，请核对"]


# --- Filing window and lapse ----------------------------------------------------------------------

# Discharged Wed 1 April 2026: the 30 working days run over 清明 (4–6 April) and 劳动节 (1–5 May)
# and count the make-up Saturday 9 May, ending Mon 18 May (weekdays alone would end 13 May).
HOLIDAY_DISCHARGE = {"admission_date": "2026-03-25", "discharge_date": "2026-04-01"}
ON_DEADLINE = datetime(2026, 5, 18, 15, 59, tzinfo=timezone.utc)  # 23:59 in Beijing
NEXT_WORKING_DAY = datetime(2026, 5, 18, 16, 0, tzinfo=timezone.utc)  # 00:00 on 19 May in Beijing


def test_filed_on_the_last_working_day_needs_no_explanation(session, world, draft, schemes):
    case = draft(now=ON_DEADLINE, **HOLIDAY_DISCHARGE)
    event = _act(session, world, case, "applicant_A1a", "submit", now=ON_DEADLINE)
    assert case.outcome["filing_deadline"] == "2026-05-18" and case.outcome["filed_late"] is False
    [filing] = event.details["outcomes"]
    assert (filing["filed_on"], filing["filing_working_days"]) == ("2026-05-18", 30)


def test_filed_one_working_day_late_needs_an_explanation_naming_the_deadline(session, world, draft, schemes):
    case = draft(now=NEXT_WORKING_DAY, **HOLIDAY_DISCHARGE)
    assert _refusal(session, world, case, "submit", "applicant_A1a", now=NEXT_WORKING_DAY) == [
        "应在出院后 30 个工作日内（2026-05-18 前）申请，已逾期，请填写「逾期申请说明」"]
    update_draft(session, world.actor("applicant_A1a"), case, {"late_explanation": "出院后转康复机构治疗，无法及时办理"},
                 expected_version=case.version, now=NEXT_WORKING_DAY)
    _act(session, world, case, "applicant_A1a", "submit", now=NEXT_WORKING_DAY)
    assert case.outcome["filed_late"] is True


def test_a_resubmission_keeps_the_first_filing_date(session, world, submitted):
    case = submitted()
    _act(session, world, case, "reviewer_A", "return", comment="费用明细清单不清晰，请重新上传")
    later = NOW + timedelta(days=90)
    _act(session, world, case, "applicant_A1a", "resubmit", now=later)
    assert case.state == "county_review"


def test_a_claim_lapses_after_the_configured_months(session, world, draft, schemes):
    explained = {"late_explanation": "长期住院治疗", "admission_date": "2024-02-20", "discharge_date": "2024-02-29"}
    on_last_day = datetime(2026, 2, 28, 2, 0, tzinfo=timezone.utc)  # 24 months after 29 Feb 2024
    case = draft(now=on_last_day, **explained)
    _act(session, world, case, "applicant_A1a", "submit", now=on_last_day)
    assert case.state == "county_review"
    one_day_later = on_last_day + timedelta(days=1)
    lapsed = draft(now=one_day_later, **explained)
    assert _refusal(session, world, lapsed, "submit", "applicant_A1a", now=one_day_later) == [
        "出院已超过 24 个月（申请时效截至 2026-02-28），不予受理"]


def test_a_deadline_in_a_year_the_calendar_lacks_does_not_block_a_timely_claim(session, world, draft, schemes):
    """Discharged mid-December 2026: the 30th working day falls in 2027, which the calendar does
    not cover yet; filed in 2026 the claim is in time whatever 2027's holidays will be."""
    now = datetime(2026, 12, 21, 2, 0, tzinfo=timezone.utc)
    case = draft(now=now, admission_date="2026-12-10", discharge_date="2026-12-18")
    _act(session, world, case, "applicant_A1a", "submit", now=now)
    assert (case.outcome["filing_deadline"], case.outcome["filed_late"]) == (None, False)


# --- The whole path and its audit -----------------------------------------------------------------

def test_approval_records_every_figure_in_the_audit_event_and_payment_closes(session, world, submitted, schemes):
    case = submitted()
    event = _approve(session, world, case)
    assert case.state == "disbursement"
    figures = _grant_figures(event)
    assert figures == {
        "action": "medical_subsidy_grant", "version": "1", "scheme": "mutual_aid", "scheme_label": "职工住院医疗互助",
        "formula": "ratio", "cycle": "2026",
        "eligible_parts": ["self_paid_in_catalogue"], "eligible_self_paid": "7000.00", "deductible": "1000.00",
        "ratio": "0.5", "above_deductible": "6000.00", "computed": "3000.00", "cap": "50000.00",
        "used_before": "0.00", "granted": "3000.00", "cap_left": "47000.00",
        "parameters": schemes.citation(),
    }
    with pytest.raises(ValidationFailed) as refused:
        _act(session, world, case, "reviewer_A", "disburse")
    assert set(refused.value.fields) == {"paid_on", "payment_reference"}
    _act(session, world, case, "reviewer_A", "disburse", inputs={"paid_on": "2026-03-12", "payment_reference": "YLHZ-2026-0031"})
    assert case.state == "paid"
    assert (case.outcome["subsidy_amount"], case.outcome["paid_on"]) == ("3000.00", "2026-03-12")
    assert [e.action for e in case_events(session, case.id)][-3:] == ["submit", "approve", "disburse"]


def test_only_the_origin_countys_reviewer_approves(session, world, submitted):
    from engine.base.errors import NotFound

    case = submitted()
    with pytest.raises(NotFound):
        _act(session, world, case, "reviewer_B", "approve")


# --- The cap under concurrency (PostgreSQL) -------------------------------------------------------

WAIT_SECONDS = 15


def _two_submitted_claims(committed_db, tmp_path, earlier_grant: bool = False) -> tuple[list[int], object]:
    """Two claims of one person computing 30,000 each (cap 50,000), committed; with
    ``earlier_grant`` an earlier claim of 5,000 was approved first, so the cap's ledger row exists."""
    with committed_db() as session:
        world = build_world(session)
        set_parameters(session, None, SCHEMES, unit=world.unit("city"), valid_from=date(2024, 1, 1),
                       values=SCHEME_VALUES)
        store, applicant, case_ids = FileStore(tmp_path / "files"), world.actor("applicant_A1a"), []
        for _ in range(2):
            case = create_draft(session, applicant, "medical_subsidy", form=_form(self_paid_in_catalogue="61000.00"),
                                now=NOW)
            attach_documents(session, applicant, case, store)
            perform_action(session, applicant, case, "submit", expected_version=case.version, now=NOW)
            case_ids.append(case.id)
        if earlier_grant:
            earlier = create_draft(session, applicant, "medical_subsidy", form=_form(self_paid_in_catalogue="11000.00"),
                                   now=NOW)
            attach_documents(session, applicant, earlier, store)
            perform_action(session, applicant, earlier, "submit", expected_version=earlier.version, now=NOW)
            perform_action(session, world.actor("reviewer_A"), earlier, "approve", expected_version=earlier.version,
                           now=NOW)
        session.commit()
    return case_ids, world


def _approve_in_thread(committed_db, session, reviewer, case) -> tuple[threading.Thread, dict]:
    outcome = {}

    def run():
        try:
            event = perform_action(session, reviewer, case, "approve", expected_version=case.version, now=NOW)
            session.commit()
            outcome["granted"] = _grant_figures(event)["granted"]
        except Exception as err:  # noqa: BLE001 - the assertion shows whatever was raised
            session.rollback()
            outcome["granted"] = err

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _wait_until_blocked(committed_db, pid: int, thread: threading.Thread) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    with committed_db.kw["bind"].connect() as conn:
        while time.monotonic() < deadline and thread.is_alive():
            if conn.scalar(text("SELECT count(*) FROM pg_locks WHERE pid = :pid AND NOT granted"), {"pid": pid}):
                return
            time.sleep(0.01)
    pytest.fail("the second approval never waited for the first one's lock on the cap")


def test_an_approval_waits_for_the_one_drawing_on_the_same_cap(committed_db, tmp_path):
    """5,000 of the person's cap is used. The first approval has drawn 30,000 (not yet
    committed) when the second starts: it waits for the first's lock on the cap's row, then
    gets the 15,000 left."""
    (first_id, second_id), world = _two_submitted_claims(committed_db, tmp_path, earlier_grant=True)
    with committed_db() as first, committed_db() as second:
        first_event = perform_action(first, world.actor("reviewer_A"), first.get(Case, first_id), "approve",
                                     expected_version=first.get(Case, first_id).version, now=NOW)
        pid = second.scalar(text("SELECT pg_backend_pid()"))
        thread, outcome = _approve_in_thread(committed_db, second, world.actor("reviewer_A1_and_A"),
                                             second.get(Case, second_id))
        _wait_until_blocked(committed_db, pid, thread)
        first.commit()
        thread.join(WAIT_SECONDS)
    assert _grant_figures(first_event)["granted"] == "30000.00"
    assert outcome["granted"] == "15000.00", outcome
    with committed_db() as session:
        assert balance(session, f"medical_subsidy:mutual_aid:{ID_NUMBER}", "2026") == (Decimal("50000"), Decimal("50000"))


def test_two_claims_approved_at_the_same_moment_never_pass_the_cap(committed_db, tmp_path):
    """Both reviewers approve at once: one claim gets 30,000, the other the 20,000 left; never 60,000."""
    case_ids, world = _two_submitted_claims(committed_db, tmp_path)
    reviewers = [world.actor("reviewer_A"), world.actor("reviewer_A1_and_A")]
    start, results = threading.Barrier(2), {}

    def approve(reviewer, case_id):
        with committed_db() as session:
            case = session.get(Case, case_id)
            start.wait(WAIT_SECONDS)
            thread, outcome = _approve_in_thread(committed_db, session, reviewer, case)
            thread.join(WAIT_SECONDS * 2)
            results[case_id] = outcome["granted"]

    threads = [threading.Thread(target=approve, args=pair) for pair in zip(reviewers, case_ids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS * 3)
    assert sorted(results.values()) == ["20000.00", "30000.00"], results
    with committed_db() as session:
        assert balance(session, f"medical_subsidy:mutual_aid:{ID_NUMBER}", "2026") == (Decimal("50000"), Decimal("50000"))
        assert {session.get(Case, i).state for i in case_ids} == {"disbursement"}


# --- Demo -----------------------------------------------------------------------------------------

def test_demo_seed_reaches_every_state(session, store):
    from sqlalchemy import select

    from engine.definitions.store import current_definition
    from unionflow.demo import demo_world, seed_demo_org
    from unionflow.demo_seeds import medical_subsidy as demo_seed

    seed_demo_org(session)
    count = demo_seed.seed(session, demo_world(session, store, NOW))
    claims = session.scalars(select(Case).where(Case.kind == "medical_subsidy")).all()
    assert count == len(claims)
    assert {c.state for c in claims} == {state.id for state in current_definition(session, "medical_subsidy").states}
    # The demo shows a late claim with its explanation and a second claim cut to the cap's rest.
    assert any(c.outcome.get("filed_late") for c in claims)
    assert [c.outcome["subsidy_amount"] for c in claims if c.outcome.get("subsidy_capped")] == ["8000.00"]
