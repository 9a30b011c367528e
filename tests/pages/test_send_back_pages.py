"""Sending a case back to an earlier review level (退回重审) from the case page: a button asking for
the reason and confirmation, refused without a reason, and the earlier level told on its page where
its approval will take the case."""
from __future__ import annotations

import re

import pytest

from tests.pages.conftest import text_of
from tests.pages.test_case_page import buttons, version_of
from tests.test_honours import Honours

REASON = "推荐材料中的事迹与单位证明不一致，请重新核实"


@pytest.fixture
def honours(session, world):
    return Honours(session, world)


def test_the_city_sends_back_from_the_page_and_the_township_reads_why(pages, session, honours):
    case = honours.at_city()
    city = pages("reviewer_city")
    page = text_of(city.get(f"/cases/{case.id}"))
    assert {"send_back_to_county", "send_back_to_township"} <= set(buttons(page))
    send_backs = page[page.index('<details class="send-backs"'):]
    send_backs = send_backs[:send_backs.index("</details>")]
    button = re.search(r'<button[^>]*value="send_back_to_township"[^>]*>', send_backs).group(0)
    assert 'class="secondary"' in button and 'data-confirm="确定「退回镇（街道）总工会重新审核」？"' in button
    assert "「退回县（区）总工会重新审核」「退回镇（街道）总工会重新审核」" in page  # their opinion is required
    refused = city.submit(f"/cases/{case.id}/actions/send_back_to_township", {"version": case.version})
    assert refused.status_code == 422 and "请填写意见或理由" in text_of(refused)
    assert version_of(session, case) == case.version and case.state == "city_review"
    done = city.submit(f"/cases/{case.id}/actions/send_back_to_township", {"version": case.version, "comment": REASON})
    assert done.status_code == 302
    session.refresh(case)
    assert case.state == "township_review"
    township = text_of(pages("reviewer_A1").get(f"/cases/{case.id}"))
    assert 'id="sent-back"' in township and REASON in township
    assert "本环节审核通过后，案件将直接送回「市总工会初审及征求意见」" in township
    assert "重新审核通过，直接报回市总工会" in township and "approve" in buttons(township)
