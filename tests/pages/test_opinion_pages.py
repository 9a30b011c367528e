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
    # Nothing waits at the county itself: the header's 待办 count is the opinion asked, on every page.
    assert 'aria-label="1 件待办"' in inbox and 'aria-label="1 件待办"' in text_of(county.get("/"))
    assert "发表意见" in text_of(county.get(f"/cases/{case.id}"))
    assert county.submit(f"/cases/{case.id}/opinions", {"opinion": "情况属实"}).status_code == 302
    page = text_of(decider.get(f"/cases/{case.id}"))
    assert "正在征求意见" not in page and "情况属实" in page  # the opinion is on the timeline
    session.refresh(case)
    assert decider.submit(f"/cases/{case.id}/actions/approve", {"version": case.version}).status_code == 302
    session.refresh(case)
    assert case.state == "county_review"


def test_the_city_sees_the_bodies_to_hear_from_and_records_their_replies(pages, session, world):
    from tests.test_honours import Honours
    honours = Honours(session, world)
    case = honours.at_city(person_category="enterprise_head")
    session.commit()
    city = pages("reviewer_city")
    page = text_of(city.get(f"/cases/{case.id}"))
    assert "按流程须征求以下部门意见" in page and "<li>税务部门 <span class=\"muted\">· 尚未回复" in page
    assert 'href="#record-form-background_opinion"' in city.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "尚未收到税务部门、应急管理（安全生产）部门的意见</li>" in page  # approving is shown refused, and why
    blocked = city.submit(f"/cases/{case.id}/actions/approve", {"version": case.version})
    assert blocked.status_code == 422
    for body in ("tax", "safety"):
        recorded = city.submit(f"/cases/{case.id}/records/background_opinion", {
            "record-background_opinion-body": body, "record-background_opinion-opinion": "positive",
            "record-background_opinion-signer": "王会计", "record-background_opinion-opinion_date": "2026-03-10"})
        assert recorded.status_code == 302
    page = text_of(city.get(f"/cases/{case.id}"))
    assert "按流程须征求以下部门意见" not in page
    session.refresh(case)
    assert city.submit(f"/cases/{case.id}/actions/approve", {"version": case.version}).status_code == 302
    session.refresh(case)
    assert case.state == "jury_vote"
    assert "按流程须征求以下部门意见" not in text_of(pages("applicant_A1a").get(f"/cases/{case.id}"))
