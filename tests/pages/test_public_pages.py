"""The public notice pages: no login, only the public fields, and the objection form
(validated by the engine's schema, CSRF-protected, rate-limited)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from engine.cases.case import Case
from engine.operations.transitions import perform_action
from engine.procedures.notices import Objection, case_objections, set_notice_contact
from tests.api_v1.test_cases import FORM, ID_NUMBER, act, nominate
from tests.api_v1.test_notices import hardship_case_on_notice
from tests.pages.conftest import text_of
from tests.test_hardship_aid import ACCOUNT, OBJECTION


@pytest.fixture
def notice(session, world) -> Case:
    """A hardship aid decision of unit A1a under notice now (objections accepted)."""
    return hardship_case_on_notice(session, world)


@pytest.fixture
def nomination_on_notice(session, world) -> Case:
    """A basic nomination under notice: its definition lists no public fields and takes no objections."""
    case = nominate(session, world, form=FORM | {"id_number": ID_NUMBER})
    return act(session, world, case, ("applicant_A1a", "submit"), ("reviewer_A1", "approve"),
               ("reviewer_A", "approve"), ("reviewer_city", "approve"))


def objection_count(session) -> int:
    return session.scalar(select(func.count(Objection.id)))


def notice_url(case: Case) -> str:
    return f"/notices/{case.id}"


def objection_url(case: Case) -> str:
    return f"/notices/{case.id}/objections"


def opened(pages, case: Case):
    """An anonymous visitor who has read the notice page (and so holds its CSRF token)."""
    client = pages()
    assert client.get(notice_url(case)).status_code == 200
    return client


# --- Reading ---------------------------------------------------------------------------------------

def test_anyone_reads_the_list_of_notices_without_signing_in(pages, notice, nomination_on_notice):
    response = pages().get("/notices")
    assert response.status_code == 200
    page = text_of(response)
    assert "困难职工帮扶申请" in page and "基础推荐流程（测试用）" in page
    assert "申请人姓名：职工1" in page
    assert "A1a公司工会" in page  # the unit
    assert f'href="/notices/{notice.id}"' in page and f'href="/notices/{nomination_on_notice.id}"' in page
    # the notice period as local dates
    assert re.search(r"\d{4}-\d{2}-\d{2} 至 (\d{4}-\d{2}-\d{2}|待定)", page)
    for private in (notice.form_data["id_number"], ACCOUNT, "13800138000", "9000", ID_NUMBER, "张三"):
        assert private not in page


def test_the_list_filters_by_kind(pages, notice, nomination_on_notice):
    client = pages()
    only_aid = text_of(client.get("/notices?kind=hardship_aid"))
    assert f"/notices/{notice.id}\"" in only_aid and f"/notices/{nomination_on_notice.id}\"" not in only_aid
    none = text_of(client.get("/notices?kind=honours"))
    assert "目前没有正在公示的事项" in none and f"/notices/{notice.id}\"" not in none
    unknown = client.get("/notices?kind=no_such_kind")
    assert unknown.status_code == 422
    assert 'id="kind-error">未知的业务种类' in text_of(unknown)


def test_a_notice_shows_only_its_public_fields_and_the_objection_form(pages, notice):
    response = pages().get(notice_url(notice))
    assert response.status_code == 200
    page = text_of(response)
    assert "职工1" in page and "A1a公司" in page
    for private in (notice.form_data["id_number"], ACCOUNT, "13800138000", "9000", "身份证", "透析"):
        assert private not in page
    for name in ("objector_name", "unit_name", "contact", "content"):
        assert f'<label for="objection-{name}"' in page and f'id="objection-{name}" name="{name}"' in page
    assert 'name="objector_kind" value="person" checked' in page and 'value="unit"' in page
    assert 'name="csrf_token" value="' in page
    assert f'action="/notices/{notice.id}/objections#objection"' in page


def test_a_notice_without_public_fields_shows_no_personal_data_and_takes_no_objection(pages, nomination_on_notice):
    page = text_of(pages().get(notice_url(nomination_on_notice)))
    assert "A1a公司工会" in page
    for private in (ID_NUMBER, ID_NUMBER[-4:] + "<", "张三", "十年扎根一线"):
        assert private not in page
    assert "不再受理异议" in page and "<form class=\"stacked\"" not in page


def test_a_case_not_on_notice_is_a_404_saying_the_notice_is_over(pages, session, world):
    draft = nominate(session, world)
    for case_id in (draft.id, 999999):
        response = pages().get(f"/notices/{case_id}")
        assert response.status_code == 404
        assert "公示已结束或不存在" in text_of(response) and "张三" not in text_of(response)


# --- Lodging an objection --------------------------------------------------------------------------

def test_anyone_lodges_an_objection_and_gets_a_receipt_number(pages, session, world, notice):
    client = opened(pages, notice)
    response = client.submit(objection_url(notice), OBJECTION)
    assert response.status_code == 302 and response.location.endswith(f"/notices/{notice.id}/objections/received")
    objection = session.scalar(select(Objection))
    assert (objection.case_id, objection.objector_name, objection.contact) == (notice.id, "李群众", "13800138000")
    receipt = text_of(client.get(response.location))
    assert "异议已受理" in receipt and f'<strong id="receipt" class="receipt">{objection.receipt}</strong>' in receipt
    assert f'href="/public/objections/{objection.receipt}"' in receipt
    session.refresh(notice)
    assert notice.state == "objection_investigation"
    # The case's reviewers read it through the engine; the notice stays on display (below).
    [seen] = case_objections(session, world.actor("reviewer_A1a"), notice.id)
    assert (seen["objector_name"], seen["contact"]) == ("李群众", "13800138000")
    assert client.get(notice_url(notice)).status_code == 200


def test_a_notice_stays_listed_as_under_investigation_during_its_period(pages, session, notice):
    """An objection does not end the notice: the list and the page still show it, marked
    「异议核查中」, and a second objection meanwhile is refused with the reason, not a 404."""
    client = opened(pages, notice)
    assert client.submit(objection_url(notice), OBJECTION).status_code == 302
    listing = text_of(client.get("/notices"))
    assert f'href="/notices/{notice.id}"' in listing and "申请人姓名：职工1" in listing and "异议核查中" in listing
    response = client.get(notice_url(notice))
    assert response.status_code == 200
    page = text_of(response)
    assert "异议核查中" in page and "暂不受理新的异议" in page and "公示期已结束" not in page
    assert f'action="/notices/{notice.id}/objections' not in page
    again = client.submit(objection_url(notice), OBJECTION | {"objector_name": "王群众"})
    assert again.status_code == 409
    assert "该公示收到的异议正在调查核实，暂不受理新的异议" in text_of(again)
    assert objection_count(session) == 1


def test_a_unit_objects_under_its_name(pages, session, notice):
    data = OBJECTION | {"objector_kind": "unit", "unit_name": "某某公司", "objector_name": "张联系"}
    response = opened(pages, notice).submit(objection_url(notice), data)
    assert response.status_code == 302
    assert session.scalar(select(Objection.unit_name)) == "某某公司"


def test_the_receipt_page_needs_an_objection_from_this_browser(pages, notice):
    response = pages().get(f"/notices/{notice.id}/objections/received")
    assert response.status_code == 302 and response.location.endswith("/notices")


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"contact": ""}, "contact", "请填写联系电话"),
    ({"contact": "12345"}, "contact", "请填写11位手机号或带区号的固定电话"),
    ({"objector_name": " "}, "objector_name", "请填写真实姓名"),
    ({"objector_kind": ""}, "objector_kind", "请选择以个人或单位名义提出"),
    ({"objector_kind": "unit"}, "unit_name", "以单位名义提出异议须写明单位名称"),
    ({"content": "太短了"}, "content", "异议内容应为10至2000个字"),
])
def test_a_bad_objection_is_422_with_the_message_at_its_field_and_nothing_written(
        pages, session, notice, change, field, message):
    data = OBJECTION | change
    response = opened(pages, notice).submit(objection_url(notice), data)
    assert response.status_code == 422
    page = text_of(response)
    assert f'<p class="field-error" id="objection-{field}-error">{message}</p>' in page
    assert "has-error" in page
    # what was typed is still there
    if field != "content":
        assert "申请人家里有一辆小轿车经常开，请核实。</textarea>" in page
    if field != "objector_name":
        assert f'value="{data["objector_name"]}"' in page
    assert objection_count(session) == 0
    session.refresh(notice)
    assert notice.state == "public_notice"


def test_an_objection_to_a_case_not_on_notice_is_a_404(pages, session, world, notice):
    draft = nominate(session, world)
    client = opened(pages, notice)
    for case_id in (draft.id, 999999):
        response = client.submit(f"/notices/{case_id}/objections", OBJECTION)
        assert response.status_code == 404 and "公示已结束或不存在" in text_of(response)
    assert objection_count(session) == 0


def test_objections_are_rate_limited_with_a_chinese_page(app, pages, session, notice):
    app.config["OBJECTION_RATE_LIMIT"] = "2 per hour"
    client = opened(pages, notice)
    bad = OBJECTION | {"contact": "1"}  # refused ones count too: the limit is on attempts
    statuses = [client.submit(objection_url(notice), bad).status_code for _ in range(2)]
    limited = client.submit(objection_url(notice), OBJECTION)
    assert statuses + [limited.status_code] == [422, 422, 429]
    assert "提交异议过于频繁" in text_of(limited) and "操作过于频繁" in text_of(limited)
    assert objection_count(session) == 0


def test_an_objection_without_the_csrf_token_is_refused_and_nothing_written(pages, session, notice):
    client = opened(pages, notice)
    for token in (None, "forged"):
        data = OBJECTION if token is None else OBJECTION | {"csrf_token": token}
        response = client.post(objection_url(notice), data=data)
        assert response.status_code == 400 and "CSRF" in text_of(response)
    # a fresh visitor who never opened a page has no token at all
    assert pages().post(objection_url(notice), data=OBJECTION).status_code == 400
    assert objection_count(session) == 0
    session.refresh(notice)
    assert notice.state == "public_notice"


def test_a_signed_in_person_reads_notices_too_and_finds_the_link_in_the_header(pages, notice):
    page = text_of(pages("reviewer_B").get("/notices"))
    assert f'href="/notices/{notice.id}"' in page and 'href="/notices"' in page



# --- What is proposed, whom to contact, and following an objection by its receipt -------------------

ANSWER = "经核实该车为其兄弟所有，申请人未使用。"


def test_a_notice_says_what_is_proposed_and_whom_to_contact(pages, session, world, notice):
    set_notice_contact(session, world.actor("admin"), world.unit("A").id,
                       {"person": "王主任", "phone": "0571-87654321", "address": "县总工会三楼信访室"})
    for page in (text_of(pages().get("/notices")), text_of(pages().get(notice_url(notice)))):
        assert "拟给予帮扶" in page and "困难职工生活救助" in page
        assert "A区总工会" in page and "王主任" in page and 'href="tel:0571-87654321"' in page
        assert "县总工会三楼信访室" in page and 'href="/public/objections"' in page


def lodged_receipt(pages, session, notice) -> str:
    assert opened(pages, notice).submit(objection_url(notice), OBJECTION).status_code == 302
    return session.scalar(select(Objection.receipt))


def test_the_receipt_page_follows_the_objection_to_its_result_and_tells_nothing_private(pages, session, world,
                                                                                        notice):
    receipt = lodged_receipt(pages, session, notice)
    response = pages().get(f"/public/objections/{receipt}")
    assert response.status_code == 200
    page = text_of(response)
    assert receipt in page and 'id="status">核查中<' in page and 'aria-current="step"' in page
    assert f'href="/notices/{notice.id}"' in page  # still listed, 「异议核查中」
    session.refresh(notice)
    perform_action(session, world.actor("reviewer_A1a"), notice, "answer", expected_version=notice.version,
                   inputs={"answer": ANSWER})
    assert 'id="status">已答复，待裁定<' in text_of(pages().get(f"/public/objections/{receipt}"))
    perform_action(session, world.actor("reviewer_A"), notice, "dismiss", expected_version=notice.version,
                   comment="车辆登记在他人名下")
    page = text_of(pages().get(f"/public/objections/{receipt}"))
    assert 'id="status">异议不成立<' in page
    for private in (OBJECTION["objector_name"], OBJECTION["contact"], OBJECTION["content"], ANSWER, "车辆登记在他人名下",
                    "职工1", notice.form_data["id_number"], ACCOUNT):
        assert private not in page


def test_the_lookup_form_takes_a_receipt_as_typed(pages, session, notice):
    receipt = lodged_receipt(pages, session, notice)
    client = pages()
    assert 'id="receipt" name="receipt"' in text_of(client.get("/public/objections"))
    typed = client.get("/public/objections", query_string={"receipt": f" {receipt.lower()} "})
    assert typed.status_code == 302 and typed.location.endswith(f"/public/objections/{receipt}")
    malformed = client.get("/public/objections", query_string={"receipt": "12345"})
    assert malformed.status_code == 422
    assert '<p class="field-error" id="receipt-error">受理编号的格式应为 YY2026-XXXX-XXXX' in text_of(malformed)
    unknown = client.get("/public/objections/YY2026-ABCD-EFGH")
    assert unknown.status_code == 404 and "没有这一受理编号的异议" in text_of(unknown)


def test_lookups_are_rate_limited_with_a_chinese_page(app, pages, session, notice):
    app.config["OBJECTION_LOOKUP_RATE_LIMIT"] = "2 per hour"
    receipt = lodged_receipt(pages, session, notice)
    client = pages()
    statuses = [client.get(url).status_code for url in ("/public/objections/YY2026-ABCD-EFGH",
                                                         f"/public/objections/{receipt}", f"/public/objections/{receipt}")]
    assert statuses == [404, 200, 429]
