"""加签 on the pages: the decider asks from the case page, the decision waits with the names, the asked
person answers from 「征求我意见的」, the decider goes ahead."""
from __future__ import annotations

from tests.api_v1.test_cases import submitted
from tests.pages.conftest import text_of


def test_ask_an_opinion_answer_it_and_decide(pages, session, world):
    case = submitted(session, world)
    session.commit()
    decider, county = pages("reviewer_A1"), pages("reviewer_A")
    page = text_of(decider.get(f"/cases/{case.id}"))
    assert "加签：征求意见" in page
    refused = decider.submit(f"/cases/{case.id}/opinions/ask", {"version": case.version, "note": ""})
    assert refused.status_code == 422 and "请说明需要对方就什么发表意见" in text_of(refused)
    asked = decider.submit(f"/cases/{case.id}/opinions/ask", {
        "version": case.version, "user_id": str(world.users["reviewer_A"].id), "note": "请核实其事迹"})
    assert asked.status_code == 302
    page = text_of(decider.get(f"/cases/{case.id}"))
    assert "正在征求意见，尚未答复：reviewer_A" in page and "撤回征求" in page
    session.refresh(case)
    blocked = decider.submit(f"/cases/{case.id}/actions/approve", {"version": case.version}, follow_redirects=True)
    assert "尚未答复：reviewer_A。请等待答复" in text_of(blocked)
    session.refresh(case)
    assert case.state == "township_review"
    inbox = text_of(county.get("/inbox"))
    assert "征求我意见的" in inbox and f"/cases/{case.id}#my-opinion" in inbox
    assert "发表意见" in text_of(county.get(f"/cases/{case.id}"))
    assert county.submit(f"/cases/{case.id}/opinions", {"opinion": "情况属实"}).status_code == 302
    page = text_of(decider.get(f"/cases/{case.id}"))
    assert "正在征求意见" not in page and "情况属实" in page  # the opinion is on the timeline
    session.refresh(case)
    assert decider.submit(f"/cases/{case.id}/actions/approve", {"version": case.version}).status_code == 302
    session.refresh(case)
    assert case.state == "county_review"
