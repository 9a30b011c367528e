"""The amount shown before approving and after (engine.reading.amounts): is what the reviewer reads
before approving what the approval then grants and records, on a cap nearly used, for a medical
claim and a hardship aid? Does the preview write nothing, in a small fixed number of reads?"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import event

from engine.cases.machines import available_actions
from engine.operations.transitions import create_draft
from engine.procedures.ledgers import balance
from engine.reading.amounts import amount_explanation, granted_amount, granted_by
from tests.conftest import NOW
from tests.test_approval_statements import FORM, _summary
from tests.test_hardship_aid import Flow, standards  # noqa: F401 - the fixture
from tests.test_medical_subsidy import ID_NUMBER, _act, draft, schemes, store, submitted  # noqa: F401 - the fixtures

LATER = NOW + timedelta(days=10)  # past the hardship notice period


def _read(session, world, case, who, now=NOW):
    actor = world.actor(who)
    return amount_explanation(session, actor, case, now, available_actions(session, actor, case, now))


def _statements(session, database, world, case, who, now=NOW):
    """The explanation, and the statements reading it cost once the page has the case and its actions."""
    actor = world.actor(who)
    offered = available_actions(session, actor, case, now)
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(_summary(statement))

    event.listen(database, "before_cursor_execute", record)
    try:
        result = amount_explanation(session, actor, case, now, offered)
    finally:
        event.remove(database, "before_cursor_execute", record)
    return result, [s for s in statements if "SAVEPOINT" not in s]


def test_a_medical_preview_on_a_nearly_used_cap_is_what_the_approval_grants(session, world, submitted, database):
    first = submitted(total_cost="200000.00", self_paid_in_catalogue="97000.00")  # 48,000 of the 50,000 cap
    _act(session, world, first, "reviewer_A", "approve")
    case = submitted(self_paid_in_catalogue="5000.00")  # computes (5000 − 1000) × 50% = 2,000, 2,000 left
    session.commit()
    session.expire_all()
    before, statements = _statements(session, database, world, case, "reviewer_A")
    # The parameter set, the ledger: nothing written, nothing locked.
    assert statements == ["SELECT parameter_sets", "SELECT ledgers"]
    assert before.stage == "preview"
    assert (before.amount, before.computed, before.cap, before.used_before, before.left_after, before.period) == (
        Decimal("2000.00"), Decimal("2000.00"), Decimal("50000.00"), Decimal("48000.00"), Decimal("0.00"), "2026")
    assert before.worked == "(5,000.00 − 1,000.00) × 50% = 2,000.00 元"
    assert (before.scheme, before.rule, before.rule_version) == ("职工住院医疗互助", "medical_subsidy_grant", "1")
    assert balance(session, f"medical_subsidy:mutual_aid:{ID_NUMBER}", "2026")[1] == Decimal("48000.00")

    approval = _act(session, world, case, "reviewer_A", "approve")
    assert granted_by(approval) == before.amount == Decimal(case.outcome["subsidy_amount"])
    after = _read(session, world, case, "applicant_A1a")
    assert after.stage == "granted"
    assert after == _same_but_stage(before, "granted")


def test_a_claim_cut_to_what_is_left_of_the_cap_says_so_before_and_after(session, world, submitted):
    first = submitted(total_cost="200000.00", self_paid_in_catalogue="97000.00")  # 48,000
    _act(session, world, first, "reviewer_A", "approve")
    case = submitted(self_paid_in_catalogue="9000.00")  # computes 4,000, 2,000 left
    before = _read(session, world, case, "reviewer_A")
    assert (before.amount, before.computed, before.capped) == (Decimal("2000.00"), Decimal("4000.00"), True)
    _act(session, world, case, "reviewer_A", "approve")
    assert _read(session, world, case, "reviewer_A") == _same_but_stage(before, "granted")


def test_a_preview_says_why_approving_would_be_refused(session, world, submitted):
    below = submitted(self_paid_in_catalogue="1000.00")
    refused = _read(session, world, below, "reviewer_A")
    assert refused.amount is None
    assert refused.refusal == "按「职工住院医疗互助」计算补助金额为 0 元：可补助自付费用 1000.00 元未超过起付线 1000.00 元"
    full = submitted(total_cost="200000.00", self_paid_in_catalogue="101000.00")  # the whole cap
    _act(session, world, full, "reviewer_A", "approve")
    nothing_left = _read(session, world, submitted(self_paid_in_catalogue="3000.00"), "reviewer_A")
    assert nothing_left.amount is None and nothing_left.left_after == Decimal("0.00")
    assert "已达上限 50000.00 元" in nothing_left.refusal


def test_only_the_reviewer_offered_the_approval_sees_a_preview(session, world, submitted):
    case = submitted()
    assert _read(session, world, case, "applicant_A1a") is None
    assert _read(session, world, case, "reviewer_A").amount == Decimal("3000.00")


def test_a_cancelled_approval_reads_as_cancelled_and_grants_nothing(session, world, submitted):
    case = submitted()
    _act(session, world, case, "reviewer_A", "approve")
    assert granted_amount(case) == Decimal("3000.00")
    _act(session, world, case, "reviewer_A", "cancel", comment="发放前发现重复申请")
    read = _read(session, world, case, "reviewer_A")
    assert (read.stage, read.amount) == ("cancelled", Decimal("3000.00"))
    assert granted_amount(case) is None


def test_a_tier_claim_names_the_tier_reached(session, world, submitted):
    case = submitted(scheme="critical_illness", illness_code="ZJ01", self_paid_in_catalogue="15000.00",
                     self_paid_out_of_catalogue="6000.00")
    before = _read(session, world, case, "reviewer_A")
    assert before.worked == "21,000.00 元 达到 20,000.00 元 档，给付 3,000.00 元"
    _act(session, world, case, "reviewer_A", "approve")
    assert _read(session, world, case, "reviewer_A") == _same_but_stage(before, "granted")


def test_a_hardship_preview_is_what_the_approval_grants(session, world, standards, database):
    flow = Flow(session, world)
    case = flow.to(flow.draft(), "approval")
    session.commit()
    session.expire_all()
    before, statements = _statements(session, database, world, case, "reviewer_A", LATER)
    assert statements == ["SELECT parameter_sets", "SELECT ledgers"]
    assert (before.amount, before.cap, before.used_before, before.left_after, before.period) == (
        Decimal("9840.00"), Decimal("20000.00"), Decimal("0.00"), Decimal("10160.00"), "2026")
    assert before.worked == "12 个月 × 820.00 = 9,840.00 元"
    assert before.parameters["parameter_set"] == standards.id
    flow.act("reviewer_A", case, "approve", now=LATER)
    assert Decimal(case.outcome["aid_amount"]) == before.amount
    assert _read(session, world, case, "applicant_A1a", LATER) == _same_but_stage(before, "granted")


def test_a_lowered_hardship_aid_shows_its_reason(session, world, standards):
    flow = Flow(session, world)
    case = flow.to(flow.draft(), "approval")
    flow.act("reviewer_A", case, "approve", inputs={"approved_amount": "6000.00", "reason": "已获民政临时救助"}, now=LATER)
    after = _read(session, world, case, "applicant_A1a", LATER)
    assert (after.amount, after.computed, after.lowered_reason) == (
        Decimal("6000.00"), Decimal("9840.00"), "已获民政临时救助")
    assert after.worked == "12 个月 × 820.00 = 9,840.00 元；审核调低为 6,000.00 元"
    assert granted_amount(case) == Decimal("6000.00")


def test_a_kind_without_an_amount_has_none(session, world):
    from engine.operations.transitions import create_draft
    from tests.test_approval_statements import FORM
    case = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
    assert _read(session, world, case, "applicant_A1a") is None and granted_amount(case) is None


def _same_but_stage(explanation, stage):
    return replace(explanation, stage=stage)
