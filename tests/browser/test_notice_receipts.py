"""The public follows an objection by its receipt number (受理编号): a visitor reads what the
notice proposes and whom to contact, objects, keeps the number, and after the nominating unit
answers and the city rules, finds the result by it — at a phone's and a desktop's width."""
from __future__ import annotations

import pytest

from engine.procedures.notices import RECEIPT_PATTERN, set_notice_contact
from tests.browser.test_scenarios import act, follow, labelled, lodge_through_the_notice_page, nomination_on_notice

ANSWER = "经核实，该处分已于前年依规撤销，不影响推荐。"


def city_contact(live_db) -> None:
    """The city federation, which runs the honours notices, has set its contact point."""
    with live_db.session() as session:
        city = live_db.actor(session, "reviewer_city").grants[0].unit_id
        set_notice_contact(session, live_db.actor(session, "admin"), city,
                           {"person": "市总工会权益保障部 王老师", "phone": "0571-87654321", "address": "示范市人民路1号工会大厦501室"})


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_an_objection_is_followed_by_its_receipt_number_to_the_citys_ruling(browse, live_db, viewport):
    nominee = f"编号{viewport}"
    case_id = nomination_on_notice(live_db, nominee)
    city_contact(live_db)

    visitor = browse.anonymous(viewport)
    visitor.goto("/notices")
    row = visitor.get_by_role("row").filter(has_text=nominee)
    text = row.inner_text()
    assert "拟授予荣誉：五一劳动奖章" in text and "王老师" in text and "0571-87654321" in text
    browse.shot(visitor, f"notices-{viewport}")

    lodge_through_the_notice_page(visitor, case_id)
    receipt = visitor.locator("#receipt").inner_text().strip()
    assert RECEIPT_PATTERN.match(receipt), receipt
    browse.shot(visitor, f"received-{viewport}")

    applicant = browse.signed_in("applicant_A1a", viewport)
    applicant.goto(f"/cases/{case_id}")
    labelled(applicant, "调查核实情况及答复意见").fill(ANSWER)
    act(applicant, "提交异议调查答复")
    assert live_db.case(case_id).state == "objection_answered"

    city = browse.signed_in("reviewer_city", viewport)
    city.goto(f"/cases/{case_id}")
    act(city, "异议不成立，恢复公示")
    assert live_db.case(case_id).state == "public_notice"

    visitor.goto("/notices")
    follow(visitor, visitor.get_by_role("link", name="凭受理编号查询异议办理进度"))
    visitor.get_by_label("受理编号").fill(receipt.lower())
    follow(visitor, visitor.get_by_role("button", name="查询"))
    assert visitor.url.endswith(f"/public/objections/{receipt}")
    main = visitor.locator("main").inner_text()
    assert "异议不成立" in main and "已受理" in main and "核查中" in main and "已答复" in main
    for private in ("李群众", "13800138000", "被推荐人去年曾因违规操作受到处分", ANSWER, nominee):
        assert private not in main
    browse.shot(visitor, f"progress-{viewport}")
