"""The amount on the pages: does the reviewer read the amount and how it is computed before
approving, the confirmation name it, the applicant read it after (on his case and in 我的申报),
and a lowered aid its reason?"""
from __future__ import annotations

import re
from datetime import timedelta

from tests.conftest import NOW
from tests.pages.conftest import text_of
from tests.test_hardship_aid import Flow, standards  # noqa: F401 - the fixture
from tests.test_medical_subsidy import _act, draft, schemes, store, submitted  # noqa: F401 - the fixtures


def _section(page: str) -> str:
    found = re.search(r'<section id="amount".*?</section>', page, re.DOTALL)
    return found.group(0) if found else ""


def test_the_reviewer_reads_the_amount_and_how_before_approving(pages, session, world, submitted):
    earlier = submitted(total_cost="200000.00", self_paid_in_catalogue="97000.00")  # 48,000 of the 50,000 cap
    _act(session, world, earlier, "reviewer_A", "approve")
    case = submitted(self_paid_in_catalogue="9000.00")  # computes 4,000; 2,000 left
    session.flush()
    amount = _section(text_of(pages("reviewer_A").get(f"/cases/{case.id}")))
    assert "拟核定金额（批准前按规则计算）" in amount and "<strong>2,000.00 元</strong>" in amount
    for shown in ("（可补助自付费用 − 起付线）× 补助比例", "(9,000.00 − 1,000.00) × 50% = 4,000.00 元",
                  "按规则计算 4,000.00 元，超出本期剩余额度，核定 2,000.00 元", "上限（2026）", "50,000.00 元",
                  "本次前已用 48,000.00 元，本次后剩余 0.00 元", "职工住院医疗互助", "medical_subsidy_grant</code> v1"):
        assert shown in amount, shown
    # The page shows it above the actions: the amount is read before the button.
    page = text_of(pages("reviewer_A").get(f"/cases/{case.id}"))
    assert page.index('id="amount"') < page.index('id="actions"')
    # The applicant reads nothing yet: no amount is decided.
    assert _section(text_of(pages("applicant_A1a").get(f"/cases/{case.id}"))) == ""


def test_the_confirmation_names_the_amount_and_the_applicant_reads_it_after(pages, session, world, submitted):
    case = submitted(self_paid_in_catalogue="4200.00")  # (4,200 − 1,000) × 50% = 1,600
    session.flush()
    reviewer = pages("reviewer_A")
    reviewer.get(f"/cases/{case.id}")
    response = reviewer.submit(f"/cases/{case.id}/actions/approve", {"version": case.version, "comment": "同意"},
                               follow_redirects=True)
    assert "已批准，核定金额 1,600.00 元" in text_of(response)
    applicant = pages("applicant_A1a")
    amount = _section(text_of(applicant.get(f"/cases/{case.id}")))
    assert "核定给您的金额" in amount and "<strong>1,600.00 元</strong>" in amount
    assert "(4,200.00 − 1,000.00) × 50% = 1,600.00 元" in amount
    assert "规则版本" not in amount  # the rule's name is for the reviewers and auditors
    listing = text_of(applicant.get("/my/cases?kind=medical_subsidy"))
    assert '<th scope="col">核定金额</th>' in listing
    assert re.search(rf'href="/cases/{case.id}">王芳</a>.*?class="amount-cell">1,600.00 元</td>', listing, re.DOTALL)


def test_a_lowered_aid_shows_its_reason_to_the_applicant(pages, session, world, standards):  # noqa: F811
    flow = Flow(session, world)
    case = flow.to(flow.draft(), "approval")
    flow.act("reviewer_A", case, "approve", inputs={"approved_amount": "6000.00", "reason": "已获民政临时救助"},
             now=NOW + timedelta(days=10))
    session.flush()
    amount = _section(text_of(pages("applicant_A1a").get(f"/cases/{case.id}")))
    assert "<strong>6,000.00 元</strong>" in amount
    assert "12 个月 × 820.00 = 9,840.00 元；审核调低为 6,000.00 元" in amount
    assert "调低理由</dt><dd class=\"longtext\">已获民政临时救助" in amount


def test_an_approval_refused_by_the_rules_is_said_before_the_button(pages, session, world, submitted):
    case = submitted(self_paid_in_catalogue="1000.00")
    session.flush()
    amount = _section(text_of(pages("reviewer_A").get(f"/cases/{case.id}")))
    assert "按规则不能核定金额" in amount and "未超过起付线 1000.00 元" in amount
