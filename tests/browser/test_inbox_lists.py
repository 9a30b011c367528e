"""The lists a reviewer and an applicant use every day, at a phone's and a desktop's width: the
county reviewer finds three healthcare claims by the patient's name, ticks them all with 「全选本页」,
reads the check (two would be granted, the second cut to what is left of the cap, the third
refused with the reason), confirms and reads the amounts granted; the applicant reads who holds
each of his cases in 「我的申报」, those waiting for him first."""
from __future__ import annotations

import re

import pytest

from engine.operations.transitions import create_draft
from tests.browser.conftest import id_number
from tests.browser.test_amounts import claim
from tests.browser.test_scenarios import follow
from tests.test_medical_subsidy import ID_NUMBER, OTHER_ID_NUMBER

PATIENT_ID = {"phone": ID_NUMBER, "desktop": OTHER_ID_NUMBER}


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_a_reviewer_finds_checks_confirms_and_reads_the_amounts(browse, live_db, viewport):
    patient = f"陈静{viewport}"
    # The walks' schemes (tests/browser/conftest.py MUTUAL_AID): 50% above 800 yuan, 50,000 a year.
    big = claim(live_db, patient, PATIENT_ID[viewport], "80800.00")  # (80,800 − 800) × 50% = 40,000
    cut = claim(live_db, patient, PATIENT_ID[viewport], "31000.00")  # 15,100, but 10,000 left of the cap
    nothing_left = claim(live_db, patient, PATIENT_ID[viewport], "3000.00")  # the cap is used up
    other = claim(live_db, f"王芳{viewport}", id_number(900 + len(viewport)), "5000.00")

    reviewer = browse.signed_in("reviewer_A", viewport)
    reviewer.goto("/inbox")
    reviewer.get_by_label("查找姓名或编号").fill(patient)
    follow(reviewer, reviewer.get_by_role("button", name="筛选"))
    rows = reviewer.locator("tbody tr[id^=case-]")
    assert sorted(int(row_id.split("-")[1]) for row_id in rows.evaluate_all("rows => rows.map(r => r.id)")) == [
        big, cut, nothing_left]
    assert reviewer.locator(f"#case-{other}").count() == 0
    browse.shot(reviewer, f"search-{viewport}")

    select_all = reviewer.get_by_label("全选本页")
    assert select_all.is_visible()
    select_all.check()
    boxes = reviewer.locator("input[name=case_id]")
    assert boxes.count() == 3 and all(boxes.nth(n).is_checked() for n in range(3))
    box = boxes.first.bounding_box()
    assert box["width"] >= 24 and box["height"] >= 24, box  # large enough to tap
    reviewer.get_by_label("操作", exact=True).select_option("approve")
    browse.shot(reviewer, f"selected-{viewport}")
    follow(reviewer, reviewer.get_by_role("button", name="检查并批量办理"))

    assert reviewer.get_by_role("heading", name="确认批量办理").is_visible()
    assert "40,000.00 元" in reviewer.locator(f"#check-{big}").inner_text()
    assert "10,000.00 元" in reviewer.locator(f"#check-{cut}").inner_text()
    refused = reviewer.locator(f"#check-{nothing_left}").inner_text()
    assert "不能办理" in refused and "本次可补助 0 元" in refused
    assert reviewer.get_by_text("金额以批准时核定为准").is_visible()
    assert live_db.case(big).state == "county_review"  # nothing done yet
    browse.shot(reviewer, f"check-{viewport}")

    follow(reviewer, reviewer.get_by_role("button", name="确认办理这 2 件"))
    assert reviewer.get_by_role("heading", name="批量办理结果").is_visible()
    assert "已办理 2 件，未办理 0 件" in reviewer.locator("main").inner_text()
    assert "40,000.00 元" in reviewer.locator(f"#result-{big}").inner_text()
    assert "10,000.00 元" in reviewer.locator(f"#result-{cut}").inner_text()
    assert (live_db.case(big).state, live_db.case(cut).state, live_db.case(nothing_left).state) == (
        "disbursement", "disbursement", "county_review")
    browse.shot(reviewer, f"results-{viewport}")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_the_applicant_reads_who_holds_each_case_and_what_waits_for_him(browse, live_db, viewport):
    at_township = live_db.submitted_nomination(f"当前办理{viewport}")
    with live_db.session() as session:
        actor = live_db.actor(session, "applicant_A1a")
        waiting = create_draft(session, actor, "honours", form=live_db.nomination_form(f"草稿{viewport}"),
                               round_id=live_db.round_id).id
    applicant = browse.signed_in("applicant_A1a", viewport)
    applicant.goto("/my/cases")
    first = applicant.locator("tbody tr").first
    assert first.get_attribute("id") == f"case-{waiting}" and "待我处理" in first.inner_text()
    holder = applicant.locator(f"#case-{at_township} td[data-label=当前办理]").inner_text()
    assert "A1街道总工会 · 审核人" in holder
    browse.shot(applicant, f"my-cases-{viewport}")
    follow(applicant, applicant.get_by_role("link", name=re.compile(r"^待我处理 \d+$")))
    assert applicant.locator(f"#case-{at_township}").count() == 0
    assert applicant.locator(f"#case-{waiting}").count() == 1
