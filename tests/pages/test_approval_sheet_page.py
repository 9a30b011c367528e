"""The approval sheet page (/cases/<id>/sheet): the form and each level's opinion with signer, unit,
date and a box for the seal, laid out for A4; personal data and internal comments as the case page
shows them to the same reader; reachable from the case page by whoever may see the case."""
from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from engine.operations.holding import claim_task
from engine.operations.transitions import approve_case, perform_action
from engine.org.units import SYSTEM_ACTOR, load_actor
from engine.procedures.juries import cast_vote
from tests.api_v1.test_cases import ID_NUMBER, MASKED_ID, submitted
from tests.conftest import NOW
from tests.pages.conftest import text_of
from tests.test_approval_sheet import passed_three_levels
from tests.test_delegations import away
from tests.test_hardship_aid import ACCOUNT, id_number
from tests.test_honours import Honours

SHEET_CSS = Path(__file__).resolve().parents[2] / "web" / "static" / "sheet.css"


@pytest.fixture
def aid(session, world):
    return passed_three_levels(session, world)


def sheet_of(client, case) -> str:
    response = client.get(f"/cases/{case.id}/sheet")
    assert response.status_code == 200, response.status_code
    return text_of(response)


def test_the_sheet_has_the_form_and_each_levels_opinion_signer_unit_date_and_seal_box(pages, aid):
    page = sheet_of(pages("reviewer_A"), aid)
    assert "困难职工帮扶申请审批表" in page and f"编号：第 {aid.id} 号" in page
    assert "申报单位：A1a公司工会" in page and "提交日期：2026-03-09" in page
    form = page[page.index("申报内容"):page.index("审核意见")]
    for label, value in (("申请人姓名", "职工1"), ("身份证号码", id_number(1)), ("本人银行卡号", ACCOUNT),
                         ("致困原因", "因病"), ("家庭年可支配收入（元）", "9,000.00 元")):
        assert re.search(rf"<th scope=\"row\">{re.escape(label)}</th>\s*<td[^>]*>{re.escape(value)}", form), label
    levels = page[page.index("审核意见"):]
    for expected in ("基层工会入户走访与评议", "两人入户走访，情况属实，评议通过", "reviewer_A1a", "A1a公司工会（基层工会）",
                     "镇（街道）总工会复核", "复核属实，同意上报", "reviewer_A1", "A1街道总工会（镇（街道）总工会）", "2026-03-10",
                     "县（区）帮扶中心审核", "同意帮扶，进入公示", "A区总工会（县（区）总工会）", "2026-03-12",
                     "征求意见：reviewer_city（示范市总工会）：属因病致困，同意", "2026-03-11",
                     "公示", "（尚未办理）"):
        assert expected in levels, expected
    # One box for the seal per level signed or to sign: three decided, the notice still to decide.
    assert levels.count("（盖章）") == 4
    assert re.search(r"打印日期：\d{4}-\d{2}-\d{2}", page)


def test_the_engines_own_step_is_dated_but_neither_signed_nor_stamped(pages, session, world, aid):
    later = NOW + timedelta(days=20)  # past the notice period
    perform_action(session, SYSTEM_ACTOR, aid, "notice_ended", expected_version=aid.version, now=later)
    session.flush()
    page = sheet_of(pages("reviewer_A"), aid)
    levels = page[page.index("审核意见"):]
    notice = levels[levels.index("公示期满无异议"):levels.index("审批帮扶金额")]
    assert "2026-03-29" in notice and "办理人" not in notice and "（盖章）" not in notice
    # Three levels signed, and the approval still to sign.
    assert levels.count("（盖章）") == 4


def test_the_page_prints_on_a4_with_the_screens_furniture_hidden(pages, aid):
    page = sheet_of(pages("reviewer_A"), aid)
    assert 'href="/static/sheet.css"' in page
    # The print button needs script to print: app.js shows it.
    assert re.search(r'<button type="button" class="primary" data-print hidden>打印</button>', page)
    css = SHEET_CSS.read_text(encoding="utf-8")
    assert re.search(r"@page\s*{\s*size:\s*A4;\s*margin:", css)
    hidden = css[css.index("@media print"):]
    assert ".site-header" in hidden and ".sheet-tools" in hidden and "display: none" in hidden
    assert "SimSun" in css and "SimHei" in css


def test_the_applicant_reads_personal_data_masked_as_on_the_case_page(pages, aid):
    page = sheet_of(pages("applicant_A1a"), aid)
    assert id_number(1) not in page and ACCOUNT not in page
    assert id_number(1)[-4:] in page and "职工1" in page
    assert "复核属实，同意上报" in page  # the opinions are not internal in this kind


def test_internal_comments_are_not_printed_for_the_applicant(pages, session, world):
    honours = Honours(session, world)
    case = honours.at_jury(id_number=ID_NUMBER)
    for juror in honours.jurors:
        cast_vote(session, juror, case, "approve", now=NOW)
    honours.act("reviewer_city", case, "pass_jury", comment="评委一致认为事迹突出")
    session.flush()
    applicant = sheet_of(pages("applicant_A1a"), case)
    assert "评委一致认为事迹突出" not in applicant and "（内部意见，不予显示）" in applicant
    assert MASKED_ID in applicant and ID_NUMBER not in applicant
    reviewer = sheet_of(pages("reviewer_city"), case)
    assert "评委一致认为事迹突出" in reviewer and ID_NUMBER in reviewer


def test_a_deputy_signs_on_behalf_of_the_person_away(pages, session, world):
    case = submitted(session, world)
    claim_task(session, world.actor("reviewer_A1"), case, expected_version=case.version, now=NOW)
    away(session, world)
    deputy = load_actor(session, world.users["reviewer_A1_and_A"].id, now=NOW)
    approve_case(session, deputy, case, expected_version=case.version, comment="同意推荐", now=NOW)
    session.flush()
    assert "reviewer_A1_and_A（代 reviewer_A1）" in sheet_of(pages("applicant_A1a"), case)


def test_the_case_page_links_to_its_sheet(pages, session, world):
    case = submitted(session, world)
    for who in ("applicant_A1a", "reviewer_A1", "auditor_city"):
        page = text_of(pages(who).get(f"/cases/{case.id}"))
        assert f'<a href="/cases/{case.id}/sheet">打印审批表</a>' in page, who
        sheet_of(pages(who), case)


@pytest.mark.parametrize("outsider", ["reviewer_B", "applicant_A1b", "auditor_A"])
def test_a_case_out_of_reach_has_no_sheet(pages, session, world, outsider):
    case = submitted(session, world, applicant="applicant_B1a" if outsider == "auditor_A" else "applicant_A1a")
    response = pages(outsider).get(f"/cases/{case.id}/sheet")
    assert response.status_code == 404 and "页面不存在，或您无权查看" in text_of(response)
    assert pages("reviewer_A1").get("/cases/999999/sheet").status_code == 404
    anonymous = pages().get(f"/cases/{case.id}/sheet")
    assert anonymous.status_code == 302 and anonymous.location.startswith("/login?next=")
