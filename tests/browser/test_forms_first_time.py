"""An honours nomination filled in one form, as an applicant would (issue 20): the veto items
declared in the form, a mistake or two made with a file chosen, every error listed at once with
links, mended without choosing the file again, and submitted. At a phone's and a desktop's width."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.base.db import utcnow
from engine.cases.attachments import Attachment
from engine.org.units import OrgUnit
from engine.procedures.rounds import open_round, set_quota
from tests.browser.conftest import SCREENSHOTS, id_number
from tests.browser.test_scenarios import case_id_of, follow

VETO_ITEMS = ["wage_arrears", "social_insurance_arrears", "safety_accident"]
PDF = {"name": "推荐表.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n% nomination form\n"}


@pytest.fixture(scope="module")
def declaring_round(live_db) -> int:
    """A round of its own that lists veto items (the shared one lists none), with places for A1."""
    with live_db.session() as session:
        now = utcnow()
        city = session.scalars(select(OrgUnit).where(OrgUnit.level == "city")).one()
        round_ = open_round(session, None, kind="honours", unit=city, title="否决事项声明评选", year=now.year,
                            opens_dt=now - timedelta(days=1), closes_dt=now + timedelta(days=30),
                            categories=["labour_medal"],
                            settings={"person_awards": ["labour_medal"], "veto_items": VETO_ITEMS})
        for name in ("A1街道总工会", "A区总工会"):
            unit = session.scalars(select(OrgUnit).where(OrgUnit.name == name)).one()
            set_quota(session, None, round_, unit, "labour_medal", 10)
        return round_.id


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_a_nomination_with_its_declarations_mended_after_one_refusal_keeps_its_file(browse, live_db,
                                                                                    declaring_round, viewport):
    nominee, id_no = f"声明{viewport}", id_number(880 + len(viewport))  # born 1980-0x-xx
    applicant = browse.signed_in("applicant_A1a", viewport)
    applicant.goto(f"/cases/new/honours?round={declaring_round}")
    form = applicant.locator("form.case-form")
    legends = form.locator("fieldset.form-group > legend").all_inner_texts()
    assert legends == ["基本情况", "工作单位", "事迹", "否决事项声明", "附件"]

    applicant.locator("#f-award_type").select_option("labour_medal")
    applicant.locator("#f-nominee_name").fill(nominee)
    applicant.locator("#f-id_number").fill(id_no)
    derived = applicant.locator("#f-birth_date").input_value()  # app.js read it from the ID number
    assert derived == f"{id_no[6:10]}-{id_no[10:12]}-{id_no[12:14]}"
    assert applicant.locator("#f-sex").input_value() == ("male" if int(id_no[16]) % 2 else "female")
    applicant.locator("#f-birth_date").fill("1990-06-15")  # mistake 1: disagrees with the ID number
    # mistake 2: 工作单位 (required) left empty
    applicant.locator("#f-ownership").select_option("public")
    applicant.locator("#f-merits_summary").fill("扎根一线二十年，带出徒弟三十余名。")
    checklist = applicant.locator("#f-veto_declarations")
    assert checklist.locator("fieldset.check-item > legend").all_inner_texts() == [
        "拖欠职工工资", "未足额缴纳社会保险", "近三年发生较大以上生产安全事故"]
    for item in VETO_ITEMS:
        applicant.locator(f"#f-veto_declarations-{item}-no").check()
    applicant.locator("#f-veto_declarations-safety_accident-note").fill("近三年无安全事故")
    applicant.locator("#f-attachments").set_input_files([PDF])
    browse.shot(applicant, "filled")
    follow(applicant, applicant.get_by_role("button", name="提交推荐"))

    # Refused: one summary, focused, linking to both fields; the file kept in a draft.
    summary = applicant.locator("#error-summary")
    assert summary.get_attribute("role") == "alert"
    assert "有 2 处需要修改" in summary.inner_text()
    assert applicant.evaluate("document.activeElement.id") == "error-summary"
    hrefs = summary.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs == ["#f-birth_date", "#f-employer"]
    assert "与身份证号码不一致" in applicant.locator("#f-birth_date-error").inner_text()
    assert "f-birth_date-error" in applicant.locator("#f-birth_date").get_attribute("aria-describedby")
    kept = applicant.locator(".field-file fieldset.uploaded")
    assert "推荐表.pdf" in kept.inner_text() and kept.locator("input[type=checkbox]").is_checked()
    assert "无需重新选择" in applicant.locator(".flash.info").inner_text()
    assert applicant.locator("#f-veto_declarations-safety_accident-no").is_checked()  # declarations kept
    browse.shot(applicant, "refused")
    for part, locator in (("summary", summary), ("declarations", checklist), ("files", kept)):
        locator.screenshot(path=str(SCREENSHOTS / f"{browse.test_name}-refused-{part}.png"))

    # Mend from the summary's links; the file is not chosen again.
    summary.get_by_role("link", name="出生日期").click()
    assert applicant.evaluate("location.hash") == "#f-birth_date"
    applicant.locator("#f-birth_date").fill(derived)
    summary.get_by_role("link", name="工作单位").click()
    applicant.locator("#f-employer").fill("A1a机械厂")
    assert applicant.locator("#f-attachments").evaluate("input => input.files.length") == 0
    follow(applicant, applicant.get_by_role("button", name="提交推荐"))
    assert "已提交" in applicant.locator(".flash.success").inner_text()
    case_id = case_id_of(applicant)
    case = live_db.case(case_id)
    assert case.state == "township_review"
    assert case.form_data["veto_declarations"]["safety_accident"] == {"answer": "no", "note": "近三年无安全事故"}
    with live_db.factory() as session:
        files = session.query(Attachment).filter(Attachment.case_id == case_id).all()
    assert [f.filename for f in files] == ["推荐表.pdf"] and case.form_data["attachments"] == [files[0].id]
    titles = applicant.locator("section[aria-labelledby=form-heading] h3").all_inner_texts()
    assert titles[:4] == ["基本情况", "工作单位", "事迹", "否决事项声明"]
    browse.shot(applicant, "submitted")
    applicant.locator("section[aria-labelledby=form-heading]").screenshot(
        path=str(SCREENSHOTS / f"{browse.test_name}-submitted-form.png"))


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_the_medical_claim_form_reads_in_titled_groups(browse, viewport):
    applicant = browse.signed_in("applicant_A1a", viewport)
    applicant.goto("/cases/new/medical_subsidy")
    legends = applicant.locator("form.case-form fieldset.form-group > legend").all_inner_texts()
    assert legends == ["基本情况", "就诊情况", "费用及领取账户", "附件及说明"]
    width = applicant.evaluate("document.documentElement.scrollWidth")
    assert width <= applicant.viewport_size["width"], width  # no group overflows the phone
    browse.shot(applicant, "form")
