"""Attachments in the browser, at a desktop's and a phone's width: a reviewer previews a claim's
PDF and image in the page; an applicant sees a missing document flagged before submitting."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.base.db import utcnow
from engine.cases.attachments import FileStore, attach_file
from engine.operations.transitions import create_draft, perform_action
from tests.browser.conftest import MEDICAL_DOCUMENTS as DOCUMENTS
from tests.browser.conftest import id_number
from tests.test_medical_subsidy import _form


@pytest.fixture(scope="module")
def real_files(browser) -> dict[str, bytes]:
    """A real PDF and a real PNG, made by chromium itself (nothing fetched)."""
    page = browser.new_page()
    page.set_content("<h1 style='font-family:sans-serif'>出院小结</h1><p>住院 5 天，好转出院。</p>")
    files = {"pdf": page.pdf(format="A5"), "png": page.screenshot(clip={"x": 0, "y": 0, "width": 400, "height": 160})}
    page.close()
    return files


def claim_with_documents(live_db, real_files, serial: int) -> tuple[int, dict[str, str]]:
    """A submitted claim of applicant_A1a: the discharge summary a PDF, the diagnosis a PNG."""
    discharged = utcnow().date() - timedelta(days=7)
    names = {field: f"{field}.pdf" for field in DOCUMENTS} | {"diagnosis_certificate": "诊断证明.png"}
    with live_db.session() as session:
        actor = live_db.actor(session, "applicant_A1a")
        form = _form(patient_name=f"预览{serial}", id_number=id_number(700 + serial), self_paid_in_catalogue="5000.00",
                     admission_date=(discharged - timedelta(days=5)).isoformat(), discharge_date=discharged.isoformat())
        case = create_draft(session, actor, "medical_subsidy", form=form)
        store = FileStore(live_db.directory / "attachments")
        for field, filename in names.items():
            data, content_type = ((real_files["png"], "image/png") if filename.endswith(".png")
                                  else (real_files["pdf"], "application/pdf"))
            attach_file(session, actor, case, field, filename=filename, content_type=content_type, data=data,
                        store=store, expected_version=case.version)
        perform_action(session, actor, case, "submit", expected_version=case.version)
        return case.id, names


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_a_reviewer_previews_a_pdf_and_an_image_of_a_medical_claim(browse, live_db, real_files, viewport):
    live_db.medical_schemes()
    case_id, names = claim_with_documents(live_db, real_files, live_db.next_serial())
    reviewer = browse.signed_in("reviewer_A", viewport)
    reviewer.goto(f"/cases/{case_id}")
    attachments = reviewer.locator("section[aria-labelledby=attachments-heading]")
    assert attachments.locator("details.preview").count() == len(DOCUMENTS)
    browse.shot(reviewer, f"closed-{viewport}")

    pdf_item = attachments.locator("li", has_text=names["discharge_summary"])
    frame = pdf_item.locator("iframe")
    source = frame.get_attribute("src")
    with reviewer.expect_response(lambda r: r.url.endswith(source) and r.status == 200) as framed:
        pdf_item.locator("summary").click()  # the frame loads only when opened and near the view (loading="lazy")
        frame.scroll_into_view_if_needed()
    assert framed.value.headers["content-type"] == "application/pdf"
    box = frame.bounding_box()
    assert box["width"] <= {"phone": 375, "desktop": 1280}[viewport] and box["height"] > 200, box

    image_item = attachments.locator("li", has_text=names["diagnosis_certificate"])
    image = image_item.locator("img")
    source = image.get_attribute("src")
    with reviewer.expect_response(lambda r: r.url.endswith(source) and r.status == 200) as shown:
        # From the keyboard: in headless chromium a click below the open PDF viewer at times left this closed.
        image_item.locator("summary").focus()
        reviewer.keyboard.press("Enter")
        image.scroll_into_view_if_needed()
    assert shown.value.headers["content-type"] == "image/png"
    reviewer.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert image.evaluate("img => img.naturalWidth") > 0
    assert image.bounding_box()["width"] <= {"phone": 375, "desktop": 1280}[viewport]
    assert reviewer.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    # The PDF viewer paints in its own process, with nothing in the page to wait on: give it a moment.
    reviewer.wait_for_timeout(2000)
    browse.shot(reviewer, f"open-{viewport}")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_an_applicant_sees_a_missing_document_flagged_before_submitting(browse, live_db, real_files, tmp_path, viewport):
    live_db.medical_schemes()
    pdf = tmp_path / "出院小结.pdf"
    pdf.write_bytes(real_files["pdf"])
    discharged = utcnow().date() - timedelta(days=7)
    form = _form(patient_name=f"材料{viewport}", id_number=id_number(800 + live_db.next_serial()),
                 admission_date=(discharged - timedelta(days=5)).isoformat(), discharge_date=discharged.isoformat())
    applicant = browse.signed_in("applicant_A1a", viewport)
    applicant.goto("/cases/new/medical_subsidy")
    checklist = applicant.locator("section.documents")
    assert checklist.locator("li.missing").count() == len(DOCUMENTS)
    assert "还缺 4 项材料" in checklist.inner_text()
    browse.shot(applicant, f"new-{viewport}")

    for name, value in form.items():
        field = applicant.locator(f"#f-{name}")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    applicant.locator("#f-discharge_summary").set_input_files(str(pdf))
    with applicant.expect_navigation():
        applicant.get_by_role("button", name="提交申请").click()

    assert applicant.locator("#error-summary").is_visible()
    assert checklist.locator("li.present").count() == 1
    assert "出院小结：已上传" in checklist.locator("#document-discharge_summary").inner_text()
    for name, label in (("diagnosis_certificate", "诊断证明书"), ("settlement_sheet", "医保结算单"),
                        ("itemised_bill", "费用明细清单")):
        assert f"{label}：未上传" in checklist.locator(f"#document-{name}").inner_text()
        assert f"请上传「{label}」" in applicant.locator(f"#f-{name}-error").inner_text()
    assert "还缺 3 项材料" in checklist.inner_text()
    # The checklist's link takes the applicant to the upload it names.
    checklist.get_by_role("link", name="医保结算单").click()
    assert applicant.evaluate("location.hash") == "#f-settlement_sheet"
    assert applicant.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    browse.shot(applicant, f"refused-{viewport}")
