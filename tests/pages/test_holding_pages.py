"""The case page's 办理人 line with 认领 / 释放 / 接手, and the inbox's 「我的待办」."""
from __future__ import annotations

from tests.pages.conftest import text_of
from tests.pages.test_inbox_pages import row_html, shown, switch_to, waiting  # noqa: F401 (the fixture)


def test_claim_from_the_case_page_then_the_inbox_and_a_colleague_see_it(pages, world, waiting):
    case = waiting(3)
    holder, colleague = pages("reviewer_A1"), pages("reviewer_A1_and_A")
    switch_to(colleague, world, "A1")  # the colleague reviews at county A too
    page = text_of(holder.get(f"/cases/{case.id}"))
    assert "尚未认领，由本单位审核人办理" in page and f"/cases/{case.id}/holding/claim" in page

    response = holder.submit(f"/cases/{case.id}/holding/claim", {"version": case.version})
    assert response.status_code == 302
    page = text_of(holder.get(f"/cases/{case.id}"))
    assert "已认领，该案件在「我的待办」中" in page and f"/cases/{case.id}/holding/release" in page
    assert "我的待办" in row_html(text_of(holder.get("/inbox")), case.id)
    assert shown(holder.get("/inbox?mine=1")) == [case.id]

    name = world.users["reviewer_A1"].display_name
    assert f"由{name}办理" in row_html(text_of(colleague.get("/inbox")), case.id)
    assert shown(colleague.get("/inbox?mine=1")) == []
    page = text_of(colleague.get(f"/cases/{case.id}"))
    assert f"/cases/{case.id}/holding/take_over" in page and name in page


def test_a_stale_or_refused_change_is_said_on_the_page(pages, waiting):
    case = waiting(3)
    holder = pages("reviewer_A1")
    holder.submit(f"/cases/{case.id}/holding/claim", {"version": case.version})
    # The page's version is gone: the second click is told, not a 500.
    response = holder.submit(f"/cases/{case.id}/holding/claim", {"version": case.version})
    assert response.status_code == 302
    assert "案件已被他人更新，请刷新后再操作" in text_of(holder.get(f"/cases/{case.id}"))
    assert holder.submit(f"/cases/{case.id}/holding/grab", {"version": case.version}).status_code == 404
    county = pages("reviewer_A")
    assert county.submit(f"/cases/{case.id}/holding/claim", {"version": case.version + 1}).status_code == 403


def test_a_bad_mine_filter_is_explained(pages, waiting):
    waiting(3)
    response = pages("reviewer_A1").get("/inbox?mine=yes")
    assert response.status_code == 422 and "“我的待办”筛选无效" in text_of(response)


def test_transfer_from_the_case_page_says_what_is_missing_then_hands_it_over(pages, world, waiting):
    case = waiting(3)
    holder = pages("reviewer_A1")
    holder.submit(f"/cases/{case.id}/holding/claim", {"version": case.version})
    colleague = world.users["reviewer_A1_and_A"]
    page = text_of(holder.get(f"/cases/{case.id}"))
    assert "转交给同事" in page and f'<option value="{colleague.id}"' in page
    version = case.version + 1
    refused = holder.submit(f"/cases/{case.id}/transfer", {"version": version, "to_user_id": colleague.id, "reason": ""})
    assert refused.status_code == 422
    page = text_of(refused)
    assert "请填写转交理由" in page and '<details class="more-tool" id="more-transfer" open>' in page
    assert '<details class="more" open>' in page
    done = holder.submit(f"/cases/{case.id}/transfer", {"version": version, "to_user_id": colleague.id,
                                                         "reason": "出差一周"})
    assert done.status_code == 302
    page = text_of(holder.get(f"/cases/{case.id}"))
    assert "已转交，接收人已收到通知" in page and colleague.display_name in page
