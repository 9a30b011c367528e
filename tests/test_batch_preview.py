"""A batch checked before it runs (preview_batch_action): each case acted on with nothing kept, so
the reviewer sees which would be refused and why, and the money the others would be granted."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from engine.audit.chain import AuditEvent
from engine.base import effects
from engine.base.errors import ConditionFailed, Conflict, ValidationFailed
from engine.operations.transitions import perform_batch_action, preview_batch_action
from engine.procedures.ledgers import LedgerEntry, balance
from tests.conftest import NOW
from tests.test_medical_subsidy import ID_NUMBER, draft, schemes, store, submitted  # noqa: F401 - fixtures

CAP = f"medical_subsidy:mutual_aid:{ID_NUMBER}"


def events(session, action: str) -> int:
    return session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == action))


def refs(*cases) -> list[tuple[int, int]]:
    return [(case.id, case.version) for case in cases]


def test_the_preview_computes_each_amount_and_keeps_nothing(session, world, submitted):  # noqa: F811
    """Does the preview grant what the approval will, the second claim cut to what the first leaves?"""
    first = submitted(total_cost="200000.00", self_paid_in_catalogue="81000.00")  # (81000 − 1000) × 50% = 40000
    second = submitted(self_paid_in_catalogue="31000.00")  # computes 15000; 10000 left of the 50000 cap
    reviewer = world.actor("reviewer_A")
    approvals_before = events(session, "approve")
    preview = preview_batch_action(session, reviewer, refs(first, second), "approve", now=NOW)
    assert [(outcome.ok, outcome.to_state, outcome.granted, outcome.label, outcome.event) for outcome in preview] == [
        (True, "disbursement", Decimal("40000.00"), "审核通过，核准补助金额", None),
        (True, "disbursement", Decimal("10000.00"), "审核通过，核准补助金额", None)]
    session.expire_all()
    assert (first.state, second.state) == ("county_review", "county_review")
    assert events(session, "approve") == approvals_before
    assert balance(session, CAP, "2026") is None
    assert session.scalar(select(func.count(LedgerEntry.id))) == 0

    done = perform_batch_action(session, reviewer, refs(first, second), "approve", now=NOW)
    assert [(outcome.ok, outcome.granted) for outcome in done] == [(True, Decimal("40000.00")),
                                                                     (True, Decimal("10000.00"))]
    assert all(outcome.event is not None for outcome in done)
    assert balance(session, CAP, "2026") == (Decimal("50000"), Decimal("50000"))


def test_the_preview_says_why_a_case_would_be_refused(session, world, submitted):  # noqa: F811
    full = submitted(total_cost="200000.00", self_paid_in_catalogue="101000.00")  # the whole cap
    nothing_left = submitted(self_paid_in_catalogue="3000.00")
    stale = submitted(patient_name="李娜", id_number="320602198505052014")
    reviewer = world.actor("reviewer_A")
    preview = preview_batch_action(session, reviewer, [(full.id, full.version), (nothing_left.id, nothing_left.version),
                                                       (stale.id, stale.version - 1)], "approve", now=NOW)
    assert [outcome.ok for outcome in preview] == [True, False, False]
    assert isinstance(preview[1].error, ConditionFailed) and "本次可补助 0 元" in preview[1].error.reasons[0]
    assert isinstance(preview[2].error, Conflict)
    returned = preview_batch_action(session, reviewer, refs(full), "return", now=NOW)
    assert isinstance(returned[0].error, ValidationFailed) and "comment" in returned[0].error.fields
    session.expire_all()
    assert full.state == "county_review" and balance(session, CAP, "2026") is None


def test_an_action_granting_no_money_has_no_amount(session, world, submitted):  # noqa: F811
    case = submitted()
    [outcome] = preview_batch_action(session, world.actor("reviewer_A"), refs(case), "return", comment="请补充发票",
                                     now=NOW)
    assert outcome.ok and outcome.granted is None and outcome.to_state == "returned"


def test_a_preview_announces_nothing_even_when_the_request_commits_later(session, world, submitted):  # noqa: F811
    """The preview's transitions are undone: no one is told of them at the next commit."""
    heard = []

    def handler(**payload):
        heard.append(payload)

    case = submitted()
    session.commit()
    effects.subscribe("case_transitioned", handler)
    try:
        preview_batch_action(session, world.actor("reviewer_A"), refs(case), "approve", now=NOW)
        session.commit()
    finally:
        effects.unsubscribe("case_transitioned", handler)
    assert heard == []
