"""The case page's 抄送 box (the decider copies, the reviewers see who was copied) and 「抄送我的」:
unread marked, read once the case is opened."""
from __future__ import annotations

from tests.pages.conftest import text_of
from tests.pages.test_inbox_pages import switch_to, waiting  # noqa: F401 (the fixture)


def test_copy_from_the_case_page_then_the_copied_person_opens_it(pages, world, waiting):
    case = waiting(3)
    decider, auditor = pages("reviewer_A1"), pages("auditor_A")
    auditor_id = world.users["auditor_A"].id
    page = text_of(decider.get(f"/cases/{case.id}"))
    assert f"/cases/{case.id}/copy" in page and f'<option value="{auditor_id}"' in page
    assert "尚未抄送给任何人。" in page

    refused = decider.submit(f"/cases/{case.id}/copy", {"version": case.version, "note": "请关注"})
    assert refused.status_code == 422
    page = text_of(refused)
    assert "请选择抄送对象" in page and '<details class="more-tool" id="more-copy" open>' in page and "请关注" in page
    assert '<details class="more" open>' in page  # the panel's 「更多」 opens at the refused form

    done = decider.submit(f"/cases/{case.id}/copy", {"version": case.version, "user_ids": [auditor_id],
                                                      "note": "请关注"})
    assert done.status_code == 302
    page = text_of(decider.get(f"/cases/{case.id}"))
    assert "已抄送，被抄送人已收到通知" in page and "由 reviewer_A1 抄送" in page and "未读" in page

    listed = text_of(auditor.get("/copies"))
    assert "抄送我的" in listed and f"/cases/{case.id}" in listed and "未读" in listed and "请关注" in listed
    assert "/copies" in text_of(auditor.get("/"))  # the header links to it for auditors
    page = text_of(auditor.get(f"/cases/{case.id}"))
    assert f"/cases/{case.id}/copy" not in page  # the copied person does not copy on, nor act
    assert "没有未读的抄送。" in text_of(auditor.get("/copies?unread=1"))  # opening the case read it
    assert "已读" in text_of(decider.get(f"/cases/{case.id}"))


def test_the_county_sees_no_copy_form_while_the_case_is_at_the_township(pages, waiting):
    case = waiting(3)
    page = text_of(pages("reviewer_A").get(f"/cases/{case.id}"))
    assert f"/cases/{case.id}/copy" not in page and "尚未抄送给任何人。" in page
    assert "还没有抄送给您的案件。" in text_of(pages("reviewer_A").get("/copies?cursor=junk"))
