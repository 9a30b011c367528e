"""A medical claim approved with its amount shown: the county reviewer reads, before approving,
what the rules will grant and how (formula, figures, scheme, cap used and left, rule version),
approves, and reads the amount in the confirmation; the applicant then reads it on the claim and
in 我的申报 — at a phone's and a desktop's width."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from engine.base.db import utcnow
from engine.cases.attachments import FileStore, attach_file
from engine.cases.case import Case
from engine.operations.transitions import create_draft, perform_action
from tests.browser.conftest import MEDICAL_DOCUMENTS, id_number
from tests.browser.test_scenarios import act, assert_flash, follow


def claim(live_db, patient: str, id_no: str, self_paid: str) -> int:
    """A claim entered and submitted by the grassroots union, discharged three days ago."""
    discharged = utcnow().date() - timedelta(days=3)
    # The insurance paid and the parts paid by the patient stay within the total cost.
    total_cost = f"{max(Decimal('20000.00'), Decimal('13000.00') + Decimal(self_paid)):.2f}"
    form = {"scheme": "mutual_aid", "patient_name": patient, "id_number": id_no, "diagnosis": "急性阑尾炎",
            "admission_date": (discharged - timedelta(days=5)).isoformat(), "discharge_date": discharged.isoformat(),
            "hospital_name": "市第一人民医院", "hospital_grade": "tertiary", "total_cost": total_cost,
            "pooled_insurance_paid": "12000.00", "critical_illness_insurance_paid": "0.00",
            "self_paid_in_catalogue": self_paid, "self_paid_out_of_catalogue": "1000.00",
            "bank_account": "6222020200112233445"}
    live_db.medical_schemes()
    with live_db.session() as session:
        applicant = live_db.actor(session, "applicant_A1a")
        case = create_draft(session, applicant, "medical_subsidy", form=form)
        store = FileStore(live_db.directory / "attachments")
        for field in MEDICAL_DOCUMENTS:
            attach_file(session, applicant, case, field, filename=f"{field}.pdf", content_type="application/pdf",
                        data=f"%PDF {field}".encode(), store=store, expected_version=case.version)
        perform_action(session, applicant, case, "submit", expected_version=case.version)
        return case.id


def approved(live_db, case_id: int) -> None:
    with live_db.session() as session:
        case = session.get(Case, case_id)
        perform_action(session, live_db.actor(session, "reviewer_A"), case, "approve", expected_version=case.version)


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_a_medical_claim_is_approved_with_its_amount_shown_before_and_after(browse, live_db, viewport):
    id_no = id_number(900 + (viewport == "phone"))
    approved(live_db, claim(live_db, f"赵敏{viewport}", id_no, "2400.00"))  # an earlier claim: 800 of the cap
    case_id = claim(live_db, f"赵敏{viewport}", id_no, "4000.00")

    reviewer = browse.signed_in("reviewer_A", viewport)
    reviewer.goto(f"/cases/{case_id}")
    amount = reviewer.locator("#amount")
    text = amount.inner_text()
    for shown in ("拟核定金额", "1,600.00 元", "(4,000.00 − 800.00) × 50% = 1,600.00 元", "职工住院医疗互助",
                  "50,000.00 元", "本次前已用 800.00 元，本次后剩余 47,600.00 元", "medical_subsidy_grant"):
        assert shown in text, (shown, text)
    amount.scroll_into_view_if_needed()
    browse.shot(reviewer, f"reviewer-before-{viewport}")

    act(reviewer, "审核通过，核准补助金额", comment="材料齐全，同意补助")
    assert_flash(reviewer, "已批准，核定金额 1,600.00 元")
    assert live_db.case(case_id).outcome["subsidy_amount"] == "1600.00"
    browse.shot(reviewer, f"reviewer-confirmed-{viewport}")

    applicant = browse.signed_in("applicant_A1a", viewport)
    applicant.goto(f"/cases/{case_id}")
    text = applicant.locator("#amount").inner_text()
    assert "核定给您的金额" in text and "1,600.00 元" in text and "(4,000.00 − 800.00) × 50%" in text
    assert "medical_subsidy_grant" not in text
    applicant.locator("#amount").scroll_into_view_if_needed()
    browse.shot(applicant, f"applicant-after-{viewport}")
    applicant.goto("/my/cases?kind=medical_subsidy")
    assert "核定金额" in applicant.locator("table thead").inner_text()
    assert "1,600.00 元" in applicant.locator(f'tr:has(a[href="/cases/{case_id}"])').first.inner_text()
    browse.shot(applicant, f"my-cases-{viewport}")

    # The county's dashboard counts the money, and the figure leads to the claims.
    reviewer.goto("/dashboard?kind=medical_subsidy")
    money = reviewer.locator("#money")
    money.scroll_into_view_if_needed()
    browse.shot(reviewer, f"dashboard-{viewport}")
    follow(reviewer, reviewer.locator("#money-medical_subsidy-table a").first)
    assert "/dashboard/cases?" in reviewer.url
    assert reviewer.locator(f'#behind-table a[href="/cases/{case_id}"]').count() == 1
    browse.shot(reviewer, f"dashboard-cases-{viewport}")
