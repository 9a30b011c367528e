"""The defects of issue 16 walked in a real browser, at a phone's width and a desktop's: the
deadline read as its last day, 我的申报's links apart, 撤回 asking first, a refused record form
reloading at its message, the objection box labelled, the site's icon."""
from __future__ import annotations

import re

import pytest

from engine.cases.case import Case
from engine.operations.transitions import create_draft, perform_action
from tests.browser.test_scenarios import act, follow

VIEWPORTS = ["phone", "desktop"]


def a_draft(live_db, nominee: str) -> int:
    with live_db.session() as session:
        case = create_draft(session, live_db.actor(session, "applicant_A1a"), "honours",
                            form=live_db.nomination_form(nominee), round_id=live_db.round_id)
        return case.id


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_my_cases_and_the_case_page_read_the_deadline_and_lay_out_at_the_width(browse, live_db, viewport):
    """我的申报 shows the last day to act, 继续填写 and 查看 apart; the case page's 申报内容 reads in lines."""
    waiting = live_db.submitted_nomination(f"期限{viewport}")
    draft = a_draft(live_db, f"草稿{viewport}")
    applicant = browse.signed_in("applicant_A1a", viewport)
    applicant.goto("/my/cases")
    browse.shot(applicant, "my-cases")
    row = applicant.locator("tr").filter(has=applicant.locator(f'a[href="/cases/{waiting}"]')).first
    assert re.search(r"最迟办理日 \d{4}-\d{2}-\d{2}", row.inner_text())
    links = applicant.locator("tr").filter(has=applicant.locator(f'a[href="/cases/{draft}/edit"]')) \
        .first.locator("ul.inline-actions a")
    assert links.count() == 2
    first, second = links.nth(0).bounding_box(), links.nth(1).bounding_box()
    apart = second["x"] - (first["x"] + first["width"]) >= 8 or second["y"] >= first["y"] + first["height"]
    assert apart, (first, second)

    applicant.goto(f"/cases/{waiting}")
    browse.shot(applicant, "case-page")
    assert re.search(r"最迟办理日 \d{4}-\d{2}-\d{2}", applicant.locator("dl.case-head").inner_text())
    for value in applicant.locator("section[aria-labelledby=form-heading] dl.fields dd").all():
        box = value.bounding_box()
        assert box is None or box["width"] >= 120, box  # never a column one character wide


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_withdrawing_asks_first_and_only_a_yes_withdraws(browse, live_db, viewport):
    draft = a_draft(live_db, f"撤回{viewport}")
    applicant = browse.signed_in("applicant_A1a", viewport)
    applicant.goto(f"/cases/{draft}")
    button = applicant.locator("#decision-form button", has_text="撤回推荐")
    asked = []
    applicant.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    button.click()
    applicant.wait_for_timeout(300)  # a dismissed question leaves the page where it is
    assert asked and "撤回推荐" in asked[0] and "不能撤销" in asked[0]
    assert live_db.case(draft).state == "draft"
    browse.shot(applicant, "withdraw-asked")
    act(applicant, "撤回推荐")
    assert live_db.case(draft).state == "withdrawn"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_refused_record_form_reloads_at_its_message(browse, live_db, viewport):
    case_id = live_db.nomination_at_city(f"记录{viewport}")
    city = browse.signed_in("reviewer_city", viewport)
    city.goto(f"/cases/{case_id}")
    record_form = city.locator("#record-form-background_opinion")
    city.locator("details.record-form", has=record_form).locator("summary").click()
    follow(city, record_form.get_by_role("button", name="登记"))
    assert city.url.endswith("#record-form-background_opinion")
    alert = city.locator("#record-form-background_opinion [role=alert]")
    assert alert.is_visible()
    box, height = alert.bounding_box(), city.viewport_size["height"]
    assert 0 <= box["y"] < height, (box, height)  # on screen, not 2,000 px below
    assert city.evaluate("window.scrollY") > 0
    browse.shot(city, "record-refused")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_objection_box_is_labelled_and_the_site_has_an_icon(browse, live_db, viewport):
    case_id = live_db.nomination_at_city(f"公示{viewport}")
    live_db.add_background_opinion(case_id)
    with live_db.session() as session:
        case = session.get(Case, case_id)
        perform_action(session, live_db.actor(session, "reviewer_city"), case, "approve",
                       expected_version=case.version)
    live_db.jury_votes(case_id)
    with live_db.session() as session:
        case = session.get(Case, case_id)
        perform_action(session, live_db.actor(session, "reviewer_city"), case, "pass_jury",
                       expected_version=case.version)
    visitor = browse.anonymous(viewport)
    visitor.goto(f"/notices/{case_id}")
    visitor.get_by_label("异议内容").fill("该同志的事迹材料与实际不符，请核实。")
    assert visitor.evaluate("document.activeElement.name") == "content"
    assert visitor.locator("#content").count() == 1  # the page's <main> only
    browse.shot(visitor, "notice-form")
    icon = visitor.request.get("/favicon.ico")
    assert icon.ok and icon.headers["content-type"] in ("image/x-icon", "image/vnd.microsoft.icon")
