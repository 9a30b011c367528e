"""The approval sheet (审批表) in a real browser: opened from the case page, printed by chromium to
an A4 PDF whose text holds each level's opinion and signer, and shown on a desk and a phone
without anything cut off."""
from __future__ import annotations

import io

from pypdf import PdfReader

from engine.cases.case import Case
from engine.operations.transitions import perform_action
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_scenarios import follow

TOWNSHIP_OPINION = "经审核，推荐材料齐全，事迹属实，同意推荐。"
COUNTY_OPINION = "经县（区）总工会审核，同意报市总工会。"
# A4 in PostScript points (210 × 297 mm); chromium rounds the page to whole pixels.
A4_POINTS = (595.28, 841.89)


def approved_by_township_and_county(live_db, nominee: str) -> int:
    case_id = live_db.submitted_nomination(nominee)
    with live_db.session() as session:
        case = session.get(Case, case_id)
        for reviewer, opinion in (("reviewer_A1", TOWNSHIP_OPINION), ("reviewer_A", COUNTY_OPINION)):
            perform_action(session, live_db.actor(session, reviewer), case, "approve", expected_version=case.version,
                           comment=opinion)
    return case_id


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_the_sheet_prints_to_an_a4_pdf_with_each_levels_opinion_and_signer(browse, live_db):
    case_id = approved_by_township_and_county(live_db, "审批表甲")

    page = browse.signed_in("reviewer_city")
    page.goto(f"/cases/{case_id}")
    browse.shot(page, "case-page")
    follow(page, page.get_by_role("link", name="打印审批表"))
    assert page.url.endswith(f"/cases/{case_id}/sheet")
    assert page.get_by_role("heading", name="五一劳动荣誉推荐审批表").is_visible()
    assert page.get_by_role("button", name="打印").is_visible()  # app.js shows it: only script can print
    assert no_sideways_scroll(page)
    browse.shot(page, "desktop")
    page.locator(".sheet-levels").screenshot(path=str(SCREENSHOTS / f"{browse.test_name}-desktop-levels.png"))

    pdf = PdfReader(io.BytesIO(page.pdf(format="A4")))
    box = pdf.pages[0].mediabox
    assert all(abs(float(size) - a4) < 2 for size, a4 in zip((box.width, box.height), A4_POINTS)), box
    text = "".join(pdf_page.extract_text() for pdf_page in pdf.pages)
    flat = "".join(text.split())  # the PDF's text lines break where the page's lines do
    for expected in ("五一劳动荣誉推荐审批表", "审批表甲", "镇（街道）总工会审核", TOWNSHIP_OPINION, "reviewer_A1",
                     "县（区）总工会审核", COUNTY_OPINION, "reviewer_A", "A区总工会", "（盖章）", f"第{case_id}号"):
        assert "".join(expected.split()) in flat, (expected, text[:2000])
    # The screen's furniture is not printed.
    for screen_only in ("返回案件", "退出", "打印审批表"):
        assert screen_only not in flat, screen_only

    page.emulate_media(media="print")
    assert not page.get_by_role("button", name="打印").is_visible()
    assert not page.locator(".site-header").is_visible()
    browse.shot(page, "print")


def test_the_sheet_reads_on_a_phone(browse, live_db):
    case_id = approved_by_township_and_county(live_db, "审批表乙")
    page = browse.signed_in("applicant_A1a", "phone")
    page.goto(f"/cases/{case_id}/sheet")
    assert page.get_by_text(COUNTY_OPINION).is_visible()
    assert no_sideways_scroll(page)
    browse.shot(page, "phone")
    # The levels, as the screen shows them (the full page is too tall to read at once).
    page.locator(".sheet-levels").screenshot(path=str(SCREENSHOTS / f"{browse.test_name}-phone-levels.png"))
