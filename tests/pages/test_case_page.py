"""The case page: what each role reads, the buttons the engine allows, acting with comments and
inputs, quotas when forwarding, records, comments and downloads."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from engine.audit.chain import AuditEvent
from engine.cases.attachments import FileStore, attach_file
from engine.cases.case import Case
from engine.cases.records import CaseRecord
from engine.operations.transitions import comment_on_case
from tests.api_v1.test_cases import ID_NUMBER, MASKED_ID, act, nominate, submitted
from tests.conftest import NOW
from tests.pages.conftest import text_of
from tests.test_honours import Honours

# The decision panel's buttons: each names its transition.
ACTION_BUTTON = re.compile(r'<button type="submit" name="trigger" value="([a-z_]+)"')


@pytest.fixture
def honours(session, world):
    return Honours(session, world)


def written(session) -> tuple[int, int, int]:
    """Cases' versions and the audit events stored: a refused request changes none of them."""
    return (session.scalar(select(func.sum(Case.version))), session.scalar(select(func.count(AuditEvent.id))),
            session.scalar(select(func.count(CaseRecord.id))))


def buttons(page: str) -> list[str]:
    return ACTION_BUTTON.findall(page)


def version_of(session, case) -> int:
    session.refresh(case)
    return case.version


def field_block(page: str, input_id: str) -> str:
    """The HTML of the field wrapper around ``input_id`` (label, input, hint and error)."""
    start = page.rindex('<div class="field', 0, page.index(f'id="{input_id}"'))
    return page[start:page.index("</div>", page.index(f'id="{input_id}"'))]


# --- Reading ----------------------------------------------------------------------------------------

def test_the_applicant_reads_masked_personal_data_and_no_internal_comments(pages, session, world, honours):
    case = honours.submitted(id_number=ID_NUMBER)
    comment_on_case(session, world.actor("reviewer_A1"), case, "请核实候选人近三年的考勤", now=NOW)
    session.flush()

    applicant = text_of(pages("applicant_A1a").get(f"/cases/{case.id}"))
    assert MASKED_ID in applicant and ID_NUMBER not in applicant
    assert "请核实候选人近三年的考勤" not in applicant
    assert "五一劳动荣誉推荐" in applicant and "镇（街道）总工会审核" in applicant and "A1a公司工会" in applicant
    assert "五一劳动奖章" in applicant  # a choice shown by its label

    reviewer = text_of(pages("reviewer_A1").get(f"/cases/{case.id}"))
    assert ID_NUMBER in reviewer and "请核实候选人近三年的考勤" in reviewer
    auditor = text_of(pages("auditor_city").get(f"/cases/{case.id}"))
    assert MASKED_ID in auditor and "请核实候选人近三年的考勤" in auditor


def test_the_timeline_says_who_when_where_and_what_in_local_time(pages, session, world):
    case = act(session, world, submitted(session, world), ("reviewer_A1", "approve"), comment="材料齐全")
    page = text_of(pages("applicant_A1a").get(f"/cases/{case.id}"))
    local = (NOW + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")  # Asia/Shanghai
    timeline = page[page.index('id="timeline"'):]
    for expected in ("创建", "提交推荐", "审核通过，报县（区）总工会", "reviewer_A1", "A1街道总工会",
                     "镇（街道）总工会", "审核人", "材料齐全", local):
        assert expected in timeline, expected
    assert "县（区）总工会审核" in page


def test_the_due_date_is_shown_and_marked_when_overdue(pages, session, world):
    case = submitted(session, world)  # submitted at NOW, long ago: its five working days have passed
    page = text_of(pages("reviewer_A1").get(f"/cases/{case.id}"))
    assert "办理期限" in page and '<dd class="overdue">' in page and "（已逾期）" in page


@pytest.mark.parametrize("outsider", ["reviewer_B", "reviewer_A2", "applicant_A1b", "applicant_B1a", "auditor_A"])
def test_a_case_out_of_reach_is_404(pages, session, world, outsider):
    case = submitted(session, world)
    if outsider == "auditor_A":  # county A's auditor covers A1a's case; county B's case is another county
        case = submitted(session, world, applicant="applicant_B1a")
    response = pages(outsider).get(f"/cases/{case.id}")
    assert response.status_code == 404 and "页面不存在，或您无权查看" in text_of(response)
    assert pages("reviewer_A1").get("/cases/999999").status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(pages, session, world):
    case = submitted(session, world)
    client = pages()
    for response in (client.get(f"/cases/{case.id}"), client.get("/jury")):
        assert response.status_code == 302 and response.location.startswith("/login?next=")
    assert client.get(f"/cases/{case.id}/attachments/1").status_code == 302


# --- Buttons ----------------------------------------------------------------------------------------

def test_only_the_actions_the_engine_allows_are_offered(pages, session, world):
    case = submitted(session, world)
    assert buttons(text_of(pages("reviewer_A1").get(f"/cases/{case.id}"))) == ["approve", "return", "reject"]
    assert buttons(text_of(pages("applicant_A1a").get(f"/cases/{case.id}"))) == ["withdraw"]
    assert buttons(text_of(pages("reviewer_A").get(f"/cases/{case.id}"))) == []  # not the county's stage yet
    assert buttons(text_of(pages("auditor_city").get(f"/cases/{case.id}"))) == []

    act(session, world, case, ("reviewer_A1", "approve"))
    township = text_of(pages("reviewer_A1").get(f"/cases/{case.id}"))
    assert buttons(township) == [] and "办理意见" not in township
    county = text_of(pages("reviewer_A").get(f"/cases/{case.id}"))
    assert buttons(county) == ["approve", "return", "reject"]
    assert "审核通过，报市总工会" in county and f'name="version" value="{case.version}"' in county


def test_the_acting_grant_decides_the_buttons(pages, session, world):
    case = act(session, world, submitted(session, world), ("reviewer_A1", "approve"))
    client = pages("reviewer_A1_and_A")
    client.submit("/switch-role", {"grant": f"reviewer:{world.unit('A1').id}"})
    assert buttons(text_of(client.get(f"/cases/{case.id}"))) == []
    client.submit("/switch-role", {"grant": f"reviewer:{world.unit('A').id}"})
    assert buttons(text_of(client.get(f"/cases/{case.id}"))) == ["approve", "return", "reject"]


def test_one_opinion_box_says_which_decisions_require_it(pages, session, world):
    case = submitted(session, world)
    page = text_of(pages("reviewer_A1").get(f"/cases/{case.id}"))
    assert page.count('name="comment"') == 2  # the decision's, and the free comment folded below the route
    box = field_block(page, "decision-comment")
    assert "「退回修改」「不予推荐」须填写办理意见" in box
    # The browser is not asked to require it: the same box serves approving, which needs none.
    assert " required" not in box


def test_applicants_of_a_draft_get_the_edit_link(pages, session, world, app):
    case = nominate(session, world)
    page = text_of(pages("applicant_A1a").get(f"/cases/{case.id}"))
    assert buttons(page) == ["submit", "withdraw"]
    if "applicant.edit_case" in app.view_functions:
        assert f'href="/cases/{case.id}/edit"' in page
    assert "/edit" not in text_of(pages("reviewer_A1a").get(f"/cases/{case.id}"))


# --- Acting -----------------------------------------------------------------------------------------

def test_a_reviewer_approves_with_a_comment(pages, session, world, app):
    case = submitted(session, world)
    client = pages("reviewer_A1")
    response = client.submit(f"/cases/{case.id}/actions/approve", {"version": case.version, "comment": "同意上报"})
    assert response.status_code == 302
    expected = "/inbox" if "inbox.inbox" in app.view_functions else f"/cases/{case.id}"
    assert response.location == expected
    session.refresh(case)
    assert case.state == "county_review"
    last = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id)
                           .order_by(AuditEvent.seq.desc())).first()
    assert (last.action, last.comment, last.actor_name) == ("approve", "同意上报", "reviewer_A1")
    assert "已办理：审核通过，报县（区）总工会" in text_of(client.get(f"/cases/{case.id}"))


def test_a_return_reaches_the_applicant_with_its_reason(pages, session, world):
    case = submitted(session, world)
    response = pages("reviewer_A1").submit(f"/cases/{case.id}/actions/return",
                                           {"version": case.version, "comment": "请补充事迹材料"})
    assert response.status_code == 302
    session.refresh(case)
    assert case.state == "returned"
    page = text_of(pages("applicant_A1a").get(f"/cases/{case.id}"))
    assert 'class="returned"' in page and "请补充事迹材料" in page
    assert buttons(page) == ["resubmit", "withdraw"]


@pytest.mark.parametrize("trigger", ["return", "reject"])
def test_a_missing_required_comment_is_422_next_to_the_comment_and_writes_nothing(pages, session, world, trigger):
    case = submitted(session, world)
    before = written(session)
    response = pages("reviewer_A1").submit(f"/cases/{case.id}/actions/{trigger}",
                                           {"version": case.version, "comment": "   "})
    assert response.status_code == 422
    page = text_of(response)
    block = field_block(page, "decision-comment")
    assert "has-error" in block and "请填写意见或理由" in block
    assert 'aria-describedby="decision-comment-error"' in block
    assert written(session) == before and version_of(session, case) == case.version
    assert buttons(page) == ["approve", "return", "reject"]  # the page is whole again


def test_a_stale_version_is_flashed_and_writes_nothing(pages, session, world):
    case = submitted(session, world)
    seen = case.version
    comment_on_case(session, world.actor("applicant_A1a"), case, "补充说明", now=NOW)  # someone acted meanwhile
    session.flush()
    before = written(session)
    client = pages("reviewer_A1")
    response = client.submit(f"/cases/{case.id}/actions/approve", {"version": seen, "comment": "同意"})
    assert response.status_code == 302 and response.location == f"/cases/{case.id}"
    assert "案件已被他人更新，请刷新后再操作" in text_of(client.get(response.location))
    assert written(session) == before and case.state == "township_review"
    garbled = client.submit(f"/cases/{case.id}/actions/approve", {"version": "x"})
    assert garbled.status_code == 302 and written(session) == before


def test_an_action_not_offered_is_refused(pages, session, world):
    case = submitted(session, world)
    before = written(session)
    assert pages("reviewer_A").submit(f"/cases/{case.id}/actions/approve",
                                      {"version": case.version}).status_code == 403
    assert pages("reviewer_A1").submit(f"/cases/{case.id}/actions/resubmit",
                                       {"version": case.version}).status_code == 409
    assert pages("reviewer_B").submit(f"/cases/{case.id}/actions/approve",
                                      {"version": case.version}).status_code == 404
    assert pages("auditor_city").submit(f"/cases/{case.id}/actions/approve",
                                        {"version": case.version}).status_code == 403
    assert written(session) == before


def test_an_action_without_the_csrf_token_is_refused(pages, session, world):
    case = submitted(session, world)
    before = written(session)
    client = pages("reviewer_A1")
    response = client.post(f"/cases/{case.id}/actions/approve", data={"version": case.version})
    assert response.status_code == 400 and "CSRF" in text_of(response)
    forged = client.post(f"/cases/{case.id}/comments", data={"comment": "x", "csrf_token": "forged"})
    assert forged.status_code == 400
    assert written(session) == before


def _at_final_approval(honours):
    case = honours.on_notice()
    honours.act(None, case, "close_notice", now=honours.notice_due(case) + timedelta(minutes=1))
    return case


def test_transition_inputs_are_validated_next_to_their_fields(pages, session, honours):
    case = _at_final_approval(honours)
    client = pages("reviewer_city")
    page = text_of(client.get(f"/cases/{case.id}"))
    assert "approve" in buttons(page)
    assert 'id="f-action-approve-decision_number"' in page and 'id="f-action-approve-decision_date"' in page
    before = written(session)
    response = client.submit(f"/cases/{case.id}/actions/approve", {
        "version": case.version, "action-approve-decision_number": "示工发〔2026〕12号",
        "action-approve-decision_date": "四月", "comment": "同意授予"})
    assert response.status_code == 422
    page = text_of(response)
    assert "请按 年-月-日 填写日期" in field_block(page, "f-action-approve-decision_date")
    assert 'value="四月"' in page and 'value="示工发〔2026〕12号"' in page  # values kept
    assert "同意授予" in field_block(page, "decision-comment")
    assert '<fieldset class="action-inputs" id="inputs-approve" data-open>' in page  # shown, with its errors
    response = client.submit(f"/cases/{case.id}/actions/approve", {
        "version": case.version, "action-approve-decision_number": " ",
        "action-approve-decision_date": "2026-04-28"})
    assert response.status_code == 422
    assert "请填写「表彰决定文号」" in field_block(text_of(response), "f-action-approve-decision_number")
    assert written(session) == before

    response = client.submit(f"/cases/{case.id}/actions/approve", {
        "version": case.version, "action-approve-decision_number": "示工发〔2026〕12号",
        "action-approve-decision_date": "2026-04-28"})
    assert response.status_code == 302
    session.refresh(case)
    assert case.state == "approved" and case.outcome["decision_number"] == "示工发〔2026〕12号"
    page = text_of(client.get(f"/cases/{case.id}"))
    assert "表彰决定文号" in page and "示工发〔2026〕12号" in page and "2026-04-28" in page


# --- Quotas -----------------------------------------------------------------------------------------

def test_forwarding_shows_the_quota_left_and_an_exhausted_quota_is_refused(pages, session, world):
    honours = Honours(session, world, places=1)
    first, second = honours.submitted(), honours.submitted()
    client = pages("reviewer_A1")
    page = text_of(client.get(f"/cases/{first.id}"))
    assert "剩余名额 1 / 1" in page and "A1街道总工会" in page
    assert client.submit(f"/cases/{first.id}/actions/approve", {"version": first.version}).status_code == 302

    page = text_of(client.get(f"/cases/{second.id}"))
    assert "剩余名额 0 / 1" in page
    assert buttons(page) == ["return", "reject"]  # approving is not offered, and the page says why
    assert "名额已用完（共 1 个）" in page and "（暂不能办理）" in page
    before = written(session)
    response = client.submit(f"/cases/{second.id}/actions/approve", {"version": version_of(session, second)})
    assert response.status_code == 422
    refused = text_of(response)  # the alert points at the reason, said once, with the action below
    assert re.search(r'role="alert">[^<]*未能办理「[^」]+」，原因见下', refused) and refused.count("名额已用完（共 1 个）") == 1
    assert written(session) == before and second.state == "township_review"
    # The county has its own places: it sees its quota, not the township's.
    county = text_of(pages("reviewer_A").get(f"/cases/{first.id}"))
    assert "剩余名额 1 / 1" in county and "A区总工会" in county


# --- Records ----------------------------------------------------------------------------------------

def test_a_reviewer_adds_a_record_from_the_page(pages, session, world, honours):
    case = honours.submitted()
    honours.act("reviewer_A1", case, "approve")
    client = pages("reviewer_A")
    page = text_of(client.get(f"/cases/{case.id}"))
    assert "登记「征求意见」" in page and "登记「否决事项声明」" in page
    assert 'id="f-record-background_opinion-body"' in page
    data = {"record-background_opinion-body": "tax", "record-background_opinion-opinion": "positive",
            "record-background_opinion-signer": "王会计", "record-background_opinion-opinion_date": "2026-03-10"}
    response = client.submit(f"/cases/{case.id}/records/background_opinion", data)
    assert response.status_code == 302, text_of(response)[:2000]
    record = session.scalars(select(CaseRecord).where(CaseRecord.case_id == case.id,
                                                      CaseRecord.record_type == "background_opinion")).one()
    assert record.data["signer"] == "王会计" and record.author_name == "reviewer_A"
    page = text_of(client.get(f"/cases/{case.id}"))
    assert f'id="record-{record.id}"' in page and "税务部门" in page and "王会计" in page
    assert "已登记：征求意见" in page


def test_a_bad_record_is_422_with_its_messages_and_writes_nothing(pages, session, world, honours):
    case = honours.submitted()
    honours.act("reviewer_A1", case, "approve")
    honours.opinions(case, bodies=("tax",))
    client = pages("reviewer_A")
    before = written(session)
    response = client.submit(f"/cases/{case.id}/records/background_opinion", {
        "record-background_opinion-body": "tax", "record-background_opinion-opinion": "positive",
        "record-background_opinion-signer": "", "record-background_opinion-opinion_date": "2026-03-10"})
    assert response.status_code == 422
    page = text_of(response)
    assert "请填写「经办人」" in field_block(page, "f-record-background_opinion-signer")
    assert 'value="2026-03-10"' in page
    duplicate = client.submit(f"/cases/{case.id}/records/background_opinion", {
        "record-background_opinion-body": "tax", "record-background_opinion-opinion": "positive",
        "record-background_opinion-signer": "王会计", "record-background_opinion-opinion_date": "2026-03-10"})
    assert duplicate.status_code == 422
    assert "已有「征求意见部门」相同的「征求意见」" in field_block(text_of(duplicate), "f-record-background_opinion-body")
    assert written(session) == before


def test_who_may_not_add_a_record(pages, session, world, honours):
    case = honours.submitted()
    before = written(session)
    data = {"record-background_opinion-body": "tax", "record-background_opinion-opinion": "positive",
            "record-background_opinion-signer": "王", "record-background_opinion-opinion_date": "2026-03-10"}
    assert "登记「征求意见」" not in text_of(pages("reviewer_A1").get(f"/cases/{case.id}"))
    assert pages("reviewer_A1").submit(f"/cases/{case.id}/records/background_opinion", data).status_code == 409
    honours.act("reviewer_A1", case, "approve")
    before = written(session)
    assert pages("applicant_A1a").submit(f"/cases/{case.id}/records/background_opinion", data).status_code == 403
    assert pages("auditor_city").submit(f"/cases/{case.id}/records/background_opinion", data).status_code == 403
    assert pages("reviewer_A").submit(f"/cases/{case.id}/records/no_such_type", data).status_code == 404
    assert written(session) == before


# --- Comments ---------------------------------------------------------------------------------------

def test_participants_comment_and_others_may_not(pages, session, world):
    case = submitted(session, world)
    client = pages("applicant_A1a")
    response = client.submit(f"/cases/{case.id}/comments", {"comment": "已补交职代会决议"})
    assert response.status_code == 302
    timeline = text_of(client.get(f"/cases/{case.id}"))
    assert "已补交职代会决议" in timeline[timeline.index('id="timeline"'):] and "意见已发表" in timeline

    before = written(session)
    empty = client.submit(f"/cases/{case.id}/comments", {"comment": ""})
    assert empty.status_code == 422
    assert "请填写意见或理由" in field_block(text_of(empty), "new-comment")
    auditor = pages("auditor_city")
    assert 'id="comment-form"' not in text_of(auditor.get(f"/cases/{case.id}"))
    refused = auditor.submit(f"/cases/{case.id}/comments", {"comment": "审计意见"})
    assert refused.status_code == 403 and "只有申报单位和审核单位的人员可以发表意见" in text_of(refused)
    assert pages("reviewer_B").submit(f"/cases/{case.id}/comments", {"comment": "x"}).status_code == 404
    assert written(session) == before


# --- Downloads --------------------------------------------------------------------------------------

def test_attachments_download_with_their_chinese_name_for_those_who_see_the_case(pages, session, world, tmp_path):
    case = nominate(session, world)
    attachment = attach_file(session, world.actor("applicant_A1a"), case, "attachments", filename="推荐表.pdf",
                             content_type="application/pdf", data=b"%PDF-1.4 test",
                             store=FileStore(tmp_path / "attachments"),
                             expected_version=case.version, now=NOW)
    act(session, world, case, ("applicant_A1a", "submit"))
    url = f"/cases/{case.id}/attachments/{attachment.id}"

    page = text_of(pages("reviewer_A1").get(f"/cases/{case.id}"))
    assert f'href="{url}"' in page and "推荐表.pdf" in page
    for who in ("applicant_A1a", "reviewer_A1", "auditor_city"):
        response = pages(who).get(url)
        assert response.status_code == 200 and response.data == b"%PDF-1.4 test", who
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment;") and quote("推荐表.pdf") in disposition
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    for who in ("reviewer_B", "applicant_A1b"):
        assert pages(who).get(url).status_code == 404, who
    other = submitted(session, world)
    assert pages("applicant_A1a").get(f"/cases/{other.id}/attachments/{attachment.id}").status_code == 404


def test_a_home_visit_is_recorded_with_its_photos(pages, session, world, tmp_path):
    from io import BytesIO

    from tests.test_hardship_aid import Flow

    case = Flow(session, world).submitted()
    session.flush()
    client = pages("reviewer_A1a")
    page = text_of(client.get(f"/cases/{case.id}"))
    assert 'id="record-form-home_visit" enctype="multipart/form-data"' in page
    assert 'type="file" id="f-record-home_visit-attachments"' in page
    data = {"record-home_visit-visitor_one": "王干事", "record-home_visit-visitor_two": "李委员",
            "record-home_visit-visit_date": "2026-03-09", "record-home_visit-check_members": "confirmed",
            "record-home_visit-check_income": "confirmed", "record-home_visit-check_housing": "confirmed",
            "record-home_visit-check_hardship": "confirmed", "record-home_visit-notes": "两人入户走访，情况属实。"}
    before = written(session)
    refused = client.submit(f"/cases/{case.id}/records/home_visit",
                            data | {"record-home_visit-attachments": (BytesIO(b"MZ"), "tool.exe")},
                            content_type="multipart/form-data")
    assert refused.status_code == 422
    assert "不支持此文件类型" in field_block(text_of(refused), "f-record-home_visit-attachments")
    assert written(session) == before

    response = client.submit(f"/cases/{case.id}/records/home_visit",
                             data | {"record-home_visit-attachments": (BytesIO(b"\xff\xd8photo"), "走访照片.jpg")},
                             content_type="multipart/form-data")
    assert response.status_code == 302, text_of(response)[:3000]
    record = session.scalars(select(CaseRecord).where(CaseRecord.case_id == case.id)).one()
    [photo_id] = record.data["attachments"]
    page = text_of(client.get(f"/cases/{case.id}"))
    assert f'href="/cases/{case.id}/attachments/{photo_id}">走访照片.jpg</a>' in page
    assert client.get(f"/cases/{case.id}/attachments/{photo_id}").data == b"\xff\xd8photo"


def test_the_applicant_reads_the_objection_without_the_objector_and_answers_from_the_page(
        pages, session, world, honours):
    from engine.operations.objections import lodge_objection
    from tests.test_honours import OBJECTION

    case = honours.on_notice()
    lodge_objection(session, case.id, OBJECTION, now=NOW)
    session.flush()
    reviewer = text_of(pages("reviewer_city").get(f"/cases/{case.id}"))
    assert "异议" in reviewer and OBJECTION["content"] in reviewer and "13800138000" in reviewer
    auditor = text_of(pages("auditor_city").get(f"/cases/{case.id}"))
    assert OBJECTION["content"] in auditor and "13800138000" not in auditor and "*******8000" in auditor
    client = pages("applicant_A1a")
    applicant = text_of(client.get(f"/cases/{case.id}"))
    # The nominating unit must answer it: it reads what it says and when, never who said it.
    objections = applicant[applicant.index('id="objections"'):applicant.index('id="timeline"')]
    assert OBJECTION["content"] in objections and "提出于 2026-03-09 10:00" in objections
    assert "依规定不向被异议单位公开" in objections
    assert OBJECTION["objector_name"] not in applicant and OBJECTION["contact"][-4:] not in applicant
    assert '<a href="#objections">待调查答复的异议 1 件' in applicant
    assert buttons(applicant) == ["answer_objection"] and 'id="f-action-answer_objection-answer"' in applicant

    response = client.submit(f"/cases/{case.id}/actions/answer_objection",
                             {"version": version_of(session, case), "action-answer_objection-answer": ""})
    assert response.status_code == 422
    assert "请填写「调查核实情况及答复意见」" in field_block(text_of(response), "f-action-answer_objection-answer")
    response = client.submit(f"/cases/{case.id}/actions/answer_objection",
                             {"version": case.version, "action-answer_objection-answer": "经核实，处分已于前年撤销。"})
    assert response.status_code == 302 and response.location == f"/cases/{case.id}"
    session.refresh(case)
    assert case.state == "objection_answered"
    assert "经核实，处分已于前年撤销。" in text_of(pages("reviewer_city").get(f"/cases/{case.id}"))


def test_the_route_shows_the_step_held_and_the_steps_ahead(pages, session, world):
    case = submitted(session, world)
    page = text_of(pages("applicant_A1a").get(f"/cases/{case.id}"))
    route = page[page.index('<ol class="timeline route">'):page.index("</ol>", page.index('<ol class="timeline route">'))]
    current = route[route.index('<li class="current"'):route.index("</li>", route.index('<li class="current"'))]
    assert "当前：" in current and "待" in current and 'class="deadline"' in current
    assert route.count('<li class="ahead">') >= 1  # the applicant sees the way ahead too
