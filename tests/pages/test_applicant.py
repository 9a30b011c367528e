"""Applicant pages: the form generated from a definition, drafts, submission in one unit of
work, a returned case corrected and resubmitted, uploads and their limits, my cases, and who
may use these pages at all."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from flask import render_template_string
from sqlalchemy import event, select

from engine.audit.chain import AuditEvent
from engine.base.db import utcnow
from engine.cases.attachments import Attachment
from engine.cases.case import Case
from engine.definitions.spec import FIELD_TYPES, FieldSpec
from engine.operations.holding import claim_task
from engine.operations.transitions import create_draft, perform_action
from engine.procedures.rounds import open_round
from pages.forms import chosen_files, read_form
from tests.api_v1.test_cases import FORM, ID_NUMBER, MASKED_ID, written
from tests.pages.conftest import text_of
from web.paging import encode_cursor

NEW = "/cases/new/basic_nomination"


def field_html(page: str, name: str) -> str:
    """The markup of one field's block (``<div class="field …">`` … up to the next field)."""
    start = page.index(f'id="f-{name}"')
    start = page.rindex('<div class="field', 0, start)
    end = page.find('<div class="field', start + 1)
    return page[start:end if end != -1 else len(page)]


def draft(session, world, applicant="applicant_A1a", form=FORM, kind="basic_nomination") -> Case:
    case = create_draft(session, world.actor(applicant), kind, form=form)
    session.flush()
    return case


def act(session, world, case, person, trigger, comment=None) -> Case:
    perform_action(session, world.actor(person), case, trigger, expected_version=case.version, comment=comment)
    session.flush()
    return case


def edit_form(case: Case, **changes) -> dict:
    """What the edit page posts back: every field as shown, plus the version."""
    return {"version": str(case.version), **{k: v for k, v in FORM.items()}, **changes}


# --- The form macro and its reader ----------------------------------------------------------------

SPECS = {
    "text": FieldSpec("name", "姓名", "text", True, max_length=50, help="与身份证一致"),
    "longtext": FieldSpec("story", "事迹", "longtext", False, max_length=500),
    "integer": FieldSpec("size", "家庭人口数", "integer", True, min=1, max=30),
    "decimal": FieldSpec("score", "成绩", "decimal", False, places=1),
    "money": FieldSpec("income", "年收入（元）", "money", True),
    "date": FieldSpec("born", "出生日期", "date", False),
    "choice": FieldSpec("sex", "性别", "choice", True, choices=(("male", "男"), ("female", "女"))),
    "id_number": FieldSpec("idno", "身份证号码", "id_number", True),
    "phone": FieldSpec("tel", "联系电话", "phone", False),
    "file": FieldSpec("docs", "证明材料", "file", False, max_files=3, max_size_mb=5, accept=("pdf", "jpg")),
    "checklist": FieldSpec("vetoes", "否决事项声明", "checklist", True,
                           choices=(("arrears", "拖欠工资"), ("accident", "安全事故"))),
}


def test_the_specs_cover_every_field_type():
    assert set(SPECS) == set(FIELD_TYPES)


@pytest.mark.parametrize("field_type", FIELD_TYPES)
def test_each_field_type_renders_a_labelled_input_with_its_error_beside_it(app, field_type):
    spec = SPECS[field_type]
    template = '{% import "_fields.html" as f %}{{ f.fields(specs, values, errors) }}'
    with app.test_request_context():
        html = render_template_string(template, specs=(spec,), values={spec.name: "上次填的"},
                                      errors={spec.name: ["这里填错了"]})
    assert spec.label in html
    if field_type == "checklist":  # a group of radios: a fieldset named by its legend, one yes/no per item
        assert re.search(rf'<fieldset class="field field-checklist has-error" id="f-{spec.name}"', html)
        assert "<legend" in html and html.count('type="radio"') == 4 and 'name="vetoes.arrears.note"' in html
    else:
        assert f'<label for="f-{spec.name}"' in html
        assert re.search(rf'<(input|select|textarea)[^>]* id="f-{spec.name}"', html)
    assert 'class="field field-' + field_type + ' has-error"' in html
    assert f'<p class="field-error" id="f-{spec.name}-error">这里填错了</p>' in html
    described = re.search(rf'id="f-{spec.name}"[^>]*aria-describedby="([^"]+)"', html).group(1).split()
    assert f"f-{spec.name}-error" in described
    assert ('class="required"' in html) == spec.required
    if field_type in ("text", "longtext", "integer", "decimal", "money", "date", "id_number", "phone"):
        assert "上次填的" in html  # the value is kept
    if field_type == "file":
        assert 'type="file"' in html and "multiple" in html and 'accept=".pdf,.jpg"' in html
        assert "最多 3 个文件" in html and "每个不超过 5 MB" in html and "pdf、jpg" in html
    if field_type == "text":
        assert 'maxlength="50"' in html and "与身份证一致" in html and "最多 50 个字" in html
    if field_type == "integer":
        assert "范围：1 至 30" in html
    if field_type == "choice":
        assert '<option value="male">男</option>' in html


def test_the_reader_turns_blanks_into_none_and_keeps_file_ids():
    from werkzeug.datastructures import FileStorage, MultiDict

    specs = tuple(SPECS.values())
    form = MultiDict([("name", " 张三 "), ("story", "第一行\r\n第二行"), ("size", ""), ("docs", ""), ("docs", "7"),
                      ("in-name", "别的")])
    assert read_form(specs, form) == {"name": "张三", "story": "第一行\n第二行", "size": None, "docs": [7]}
    assert read_form(specs, form, prefix="in-") == {"name": "别的"}
    files = MultiDict([("docs", FileStorage(io.BytesIO(b"x"), "a.pdf")), ("docs", FileStorage(io.BytesIO(b""), ""))])
    assert [f.filename for f in chosen_files(specs, files)["docs"]] == ["a.pdf"]


# --- Starting a case ------------------------------------------------------------------------------

def test_the_applicant_sees_the_kinds_their_unit_may_start(pages):
    page = text_of(pages("applicant_A1a").get("/cases/new"))
    assert "A1a公司工会" in page
    assert "基础推荐流程（测试用）" in page and "困难职工帮扶申请" in page and "职工医疗互助申请" in page
    assert 'href="/cases/new/basic_nomination"' in page
    # A county's kind, and a kind started from a nomination, are not offered.
    assert "劳动和技能竞赛结果报备" not in page and "撤销五一劳动荣誉" not in page
    # Honours need an open round; there is none.
    honours = page[page.index("五一劳动荣誉推荐"):]
    assert "目前没有开放的评选批次" in honours[:300]


def test_an_open_round_is_offered_and_preselected(pages, session, world):
    now = utcnow()
    round_ = open_round(session, None, kind="honours", unit=world.unit("city"), title="本年度五一劳动奖评选",
                        year=now.year, opens_dt=now - timedelta(days=1), closes_dt=now + timedelta(days=9),
                        categories=["labour_medal"])
    session.flush()
    client = pages("applicant_A1a")
    page = text_of(client.get("/cases/new"))
    assert f'href="/cases/new/honours?round={round_.id}"' in page and "本年度五一劳动奖评选" in page
    form = text_of(client.get(f"/cases/new/honours?round={round_.id}"))
    assert f'<option value="{round_.id}" selected>本年度五一劳动奖评选</option>' in form


def test_the_new_form_shows_every_field_of_the_definition(pages):
    page = text_of(pages("applicant_A1a").get(NEW))
    for name, label in (("award_type", "推荐荣誉"), ("nominee_name", "姓名（集体名称）"), ("birth_date", "出生日期"),
                        ("id_number", "身份证号码"), ("phone", "联系电话"), ("merits_summary", "主要事迹摘要"),
                        ("attachments", "附件")):
        assert f'<label for="f-{name}"' in page and label in page
    assert 'enctype="multipart/form-data"' in page
    assert 'name="intent" value="save"' in page and "保存草稿" in page
    assert 'name="intent" value="submit"' in page and "提交推荐" in page


def test_a_draft_is_saved_and_opens_for_editing(pages, session):
    client = pages("applicant_A1a")
    response = client.submit(NEW, {"intent": "save", "nominee_name": "张三", "award_type": "labour_medal"})
    assert response.status_code == 302
    case = session.scalars(select(Case).order_by(Case.id.desc())).first()
    assert response.headers["Location"] == f"/cases/{case.id}/edit"
    assert (case.state, case.form_data) == ("draft", {"nominee_name": "张三", "award_type": "labour_medal"})
    page = text_of(client.get(response.headers["Location"]))
    assert "草稿已保存" in page
    assert 'value="张三"' in field_html(page, "nominee_name")
    assert '<option value="labour_medal" selected>' in field_html(page, "award_type")
    assert f'name="version" value="{case.version}"' in page


def test_bad_input_answers_422_with_messages_beside_the_fields_values_kept_nothing_written(pages, session):
    client = pages("applicant_A1a")
    before = written(session)
    response = client.submit(NEW, {"intent": "save", "nominee_name": "张三", "id_number": ID_NUMBER[:-1] + "0"
                                   if ID_NUMBER[-1] != "0" else ID_NUMBER[:-1] + "1", "birth_date": "1930-01-01",
                                   "merits_summary": "事迹" * 300})
    assert response.status_code == 422
    page = text_of(response)
    assert "身份证号码校验位不正确" in field_html(page, "id_number")
    assert "应在" in field_html(page, "birth_date") or "不能小于" in field_html(page, "birth_date")
    assert "不能超过 500 个字" in field_html(page, "merits_summary")
    assert 'aria-describedby="f-id_number-hint f-id_number-error"' in field_html(page, "id_number")
    assert 'aria-invalid="true"' in field_html(page, "id_number") and "has-error" in field_html(page, "id_number")
    assert 'value="张三"' in field_html(page, "nominee_name")  # kept
    assert "事迹事迹" in field_html(page, "merits_summary")
    assert written(session) == before


def test_submit_on_the_new_form_creates_and_submits_in_one_go(pages, session):
    client = pages("applicant_A1a")
    response = client.submit(NEW, {"intent": "submit", **FORM})
    assert response.status_code == 302
    case = session.scalars(select(Case).order_by(Case.id.desc())).first()
    assert case.state == "township_review" and case.submitted_dt is not None
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.case_id == case.id).order_by(AuditEvent.seq))
    assert list(actions) == ["create", "submit"]


def test_a_refused_submit_writes_nothing_and_names_each_missing_field(pages, session):
    client = pages("applicant_A1a")
    before = written(session)
    response = client.submit(NEW, {"intent": "submit", "nominee_name": "张三", "merits_summary": "十年扎根一线"})
    assert response.status_code == 422
    page = text_of(response)
    assert "表单还有必填项未填写，不能提交" in page
    assert "请填写「推荐荣誉」" in field_html(page, "award_type")
    assert "请填写「工作单位」" in field_html(page, "employer")
    assert "请填写「单位所有制」" in field_html(page, "ownership")
    assert "请填写" not in field_html(page, "nominee_name")
    assert 'value="张三"' in field_html(page, "nominee_name")
    assert written(session) == before  # not even the draft


def test_draft_edited_then_submitted(pages, session, world):
    case = draft(session, world, form={"nominee_name": "张三"})
    client = pages("applicant_A1a")
    page = text_of(client.get(f"/cases/{case.id}/edit"))
    assert "修改申报" in page and 'value="张三"' in page
    response = client.submit(f"/cases/{case.id}/edit", {"intent": "save", "version": case.version,
                                                        "nominee_name": "李四", "employer": "A1a公司"})
    assert response.status_code == 302 and response.headers["Location"] == f"/cases/{case.id}/edit"
    session.refresh(case)
    assert case.form_data == {"nominee_name": "李四", "employer": "A1a公司"} and case.title == "李四"
    # A field emptied on the form is cleared.
    client.submit(f"/cases/{case.id}/edit", {"intent": "save", "version": case.version, "nominee_name": "李四",
                                             "employer": ""})
    session.refresh(case)
    assert case.form_data == {"nominee_name": "李四"}
    # Submitting with required fields missing: messages per field, still a draft.
    response = client.submit(f"/cases/{case.id}/edit", {"intent": "submit", "version": case.version,
                                                        "nominee_name": "李四"})
    assert response.status_code == 422
    assert "请填写「主要事迹摘要」" in field_html(text_of(response), "merits_summary")
    session.refresh(case)
    assert case.state == "draft"
    response = client.submit(f"/cases/{case.id}/edit", edit_form(case, intent="submit", nominee_name="李四"))
    assert response.status_code == 302
    session.refresh(case)
    assert case.state == "township_review" and case.form_data["nominee_name"] == "李四"
    # Once submitted it is no longer editable: back to the case.
    response = client.get(f"/cases/{case.id}/edit")
    assert response.status_code == 302 and f"/edit" not in response.headers["Location"]


def test_a_stale_version_keeps_what_was_typed(pages, session, world):
    case = draft(session, world, form={"nominee_name": "张三"})
    seen = case.version
    client = pages("applicant_A1a")
    client.get(f"/cases/{case.id}/edit")
    client.submit(f"/cases/{case.id}/edit", {"intent": "save", "version": seen, "nominee_name": "王五"})
    response = client.submit(f"/cases/{case.id}/edit", {"intent": "save", "version": seen, "nominee_name": "赵六"})
    assert response.status_code == 409
    page = text_of(response)
    assert "案件已被他人更新" in page and 'value="赵六"' in field_html(page, "nominee_name")
    session.refresh(case)
    assert case.form_data["nominee_name"] == "王五"
    assert f'name="version" value="{case.version}"' in page


def test_a_masked_id_number_left_empty_is_kept(pages, session, world):
    case = draft(session, world, form={"nominee_name": "张三", "id_number": ID_NUMBER})
    client = pages("applicant_A1a")
    page = text_of(client.get(f"/cases/{case.id}/edit"))
    block = field_html(page, "id_number")
    assert MASKED_ID in block and ID_NUMBER not in page and 'value=""' in block
    client.submit(f"/cases/{case.id}/edit", {"intent": "save", "version": case.version, "nominee_name": "张三",
                                             "id_number": ""})
    session.refresh(case)
    assert case.form_data["id_number"] == ID_NUMBER


# --- A returned case ------------------------------------------------------------------------------

def test_a_returned_case_shows_the_reason_and_is_corrected_and_resubmitted(pages, session, world):
    case = act(session, world, draft(session, world), "applicant_A1a", "submit")
    act(session, world, case, "reviewer_A1", "approve")
    act(session, world, case, "reviewer_A", "return", comment="事迹摘要过于简单，请补充具体业绩")
    assert case.state == "returned"
    client = pages("applicant_A1a")
    mine = text_of(client.get("/my/cases"))
    assert "请修改后重新提交" in mine and f'href="/cases/{case.id}/edit"' in mine
    page = text_of(client.get(f"/cases/{case.id}/edit"))
    box = page[page.index('class="returned"'):]
    box = box[:box.index("</section>")]
    assert "事迹摘要过于简单，请补充具体业绩" in box
    assert "A区总工会" in box and "reviewer_A" in box and "县（区）总工会审核" in box
    assert page.index('class="returned"') < page.index('class="stacked case-form"')
    assert "修改后重新提交" in page  # the definition's resubmit label
    response = client.submit(f"/cases/{case.id}/edit", edit_form(case, intent="submit",
                                                                 merits_summary="十年扎根一线，完成技改项目12项",
                                                                 comment="已补充业绩"))
    assert response.status_code == 302
    session.refresh(case)
    assert case.state == "county_review" and case.revision_round == 1  # back where it was returned from
    assert case.form_data["merits_summary"] == "十年扎根一线，完成技改项目12项"
    last = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id)
                           .order_by(AuditEvent.seq.desc())).first()
    assert (last.action, last.comment) == ("resubmit", "已补充业绩")


# --- Files ----------------------------------------------------------------------------------------

def upload(name: str, data: bytes):
    return (io.BytesIO(data), name)


def test_files_chosen_on_the_new_form_are_uploaded_with_the_draft(pages, session):
    client = pages("applicant_A1a")
    response = client.submit(NEW, {"intent": "save", "nominee_name": "张三",
                                   "attachments": [upload("推荐表.pdf", b"%PDF-1.4 a"), upload("照片.jpg", b"jpeg")]},
                             content_type="multipart/form-data")
    assert response.status_code == 302
    case = session.scalars(select(Case).order_by(Case.id.desc())).first()
    files = session.scalars(select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.id)).all()
    assert [f.filename for f in files] == ["推荐表.pdf", "照片.jpg"]
    assert case.form_data["attachments"] == [f.id for f in files]
    page = text_of(client.get(f"/cases/{case.id}/edit"))
    block = field_html(page, "attachments")
    assert "推荐表.pdf" in block and "照片.jpg" in block and f'value="{files[0].id}" checked' in block


def test_an_unsupported_file_is_refused_with_415_and_nothing_written(pages, session):
    client = pages("applicant_A1a")
    before = written(session)
    response = client.submit(NEW, {"intent": "save", "nominee_name": "张三",
                                   "attachments": [upload("病毒.exe", b"MZ")]}, content_type="multipart/form-data")
    assert response.status_code == 415
    page = text_of(response)
    assert "不支持此文件类型，请上传 pdf、jpg、jpeg、png、doc、docx、xls、xlsx 格式的文件" in field_html(page, "attachments")
    assert "所选的文件没有上传" in page and 'value="张三"' in page
    assert written(session) == before


def test_a_file_over_the_field_limit_is_refused_with_413(pages, session, world):
    case = draft(session, world)
    client = pages("applicant_A1a")
    client.get(f"/cases/{case.id}/edit")
    big = b"x" * (10 * 1024 * 1024 + 1)
    response = client.submit(f"/cases/{case.id}/attachments", {"field": "attachments", "version": case.version,
                                                                "attachments": [upload("扫描件.pdf", big)]},
                             content_type="multipart/form-data")
    assert response.status_code == 413
    assert "文件不能超过 10 MB" in field_html(text_of(response), "attachments")
    assert session.scalars(select(Attachment).where(Attachment.case_id == case.id)).all() == []


def test_a_request_over_the_app_limit_gets_a_413_page(app, pages, session, world):
    case = draft(session, world)
    client = pages("applicant_A1a")
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = client.submit(f"/cases/{case.id}/attachments", {"field": "attachments", "version": case.version,
                                                                "attachments": [upload("a.pdf", b"x" * 4096)]},
                             content_type="multipart/form-data")
    assert response.status_code == 413 and "上传的内容过大" in text_of(response)


def test_upload_then_take_a_file_out(pages, session, world):
    case = draft(session, world)
    client = pages("applicant_A1a")
    client.get(f"/cases/{case.id}/edit")
    response = client.submit(f"/cases/{case.id}/attachments", {"field": "attachments", "version": case.version,
                                                                "attachments": [upload("a.pdf", b"one"),
                                                                                upload("b.pdf", b"two")]},
                             content_type="multipart/form-data")
    assert response.status_code == 302 and response.headers["Location"].endswith("/edit#f-attachments")
    session.refresh(case)
    first, second = case.form_data["attachments"]
    # Untick the first: the edit form posts the kept ids only.
    response = client.submit(f"/cases/{case.id}/edit", edit_form(case, intent="save", attachments=["", str(second)]))
    assert response.status_code == 302
    session.refresh(case)
    assert case.form_data["attachments"] == [second]
    # Untick all.
    client.submit(f"/cases/{case.id}/edit", edit_form(case, intent="save", attachments=[""]))
    session.refresh(case)
    assert "attachments" not in case.form_data


def test_upload_without_a_file_says_so(pages, session, world):
    case = draft(session, world)
    client = pages("applicant_A1a")
    response = client.submit(f"/cases/{case.id}/attachments", {"field": "attachments", "version": case.version},
                             content_type="multipart/form-data")
    assert response.status_code == 422
    assert "请选择要上传的文件" in field_html(text_of(response), "attachments")


# --- My cases -------------------------------------------------------------------------------------

def test_my_cases_lists_state_due_date_and_filters(pages, session, world):
    waiting = act(session, world, draft(session, world, form=FORM | {"nominee_name": "已提交的"}),
                  "applicant_A1a", "submit")
    draft(session, world, form={"nominee_name": "草稿一件"})
    draft(session, world, applicant="applicant_A1b", form={"nominee_name": "别人的"})
    client = pages("applicant_A1a")
    page = text_of(client.get("/my/cases"))
    assert "已提交的" in page and "草稿一件" in page and "别人的" not in page
    row = page[page.index("已提交的"):]
    row = row[:row.index("</tr>")]
    assert '<span class="tag review">镇（街道）总工会审核</span>' in row
    assert re.search(r"最迟办理日 \d{4}-\d{2}-\d{2}<", row.split("办理期限")[-1])  # its last day to act
    assert f'href="/cases/{waiting.id}/edit"' not in page
    filtered = text_of(client.get("/my/cases?state=draft"))
    assert "草稿一件" in filtered and "已提交的" not in filtered
    assert "草稿一件" not in text_of(client.get("/my/cases?kind=hardship_aid"))


def test_my_cases_pages_by_keyset(pages, session, world):
    for n in range(22):
        draft(session, world, form={"nominee_name": f"第{n:02d}件"})
    client = pages("applicant_A1a")
    first = text_of(client.get("/my/cases"))
    assert "第21件" in first and "第02件" in first and "第01件" not in first
    next_url = re.search(r'<a href="([^"]+)">下一页</a>', first).group(1).replace("&amp;", "&")
    second = text_of(client.get(next_url))
    assert "第01件" in second and "第00件" in second and "第02件" not in second and "下一页" not in second


def my_row(page: str, case_id: int) -> str:
    start = page.index(f'<tr id="case-{case_id}"')
    return page[start:page.index("</tr>", start)]


MY_ROW = re.compile(r'<tr id="case-(\d+)"')


def test_my_cases_name_the_holder_and_put_what_waits_for_me_first(pages, session, world):
    at_township = act(session, world, draft(session, world, form=FORM | {"nominee_name": "在街道"}),
                      "applicant_A1a", "submit")
    claimed = act(session, world, draft(session, world, form=FORM | {"nominee_name": "已认领"}), "applicant_A1a",
                  "submit")
    claim_task(session, world.actor("reviewer_A1"), claimed, expected_version=claimed.version)
    returned = act(session, world, act(session, world, draft(session, world, form=FORM | {"nominee_name": "被退回"}),
                                       "applicant_A1a", "submit"), "reviewer_A1", "return", comment="请补充事迹")
    closed = act(session, world, draft(session, world, form=FORM | {"nominee_name": "已撤回"}), "applicant_A1a",
                 "withdraw")
    client = pages("applicant_A1a")
    page = text_of(client.get("/my/cases"))
    assert [int(case_id) for case_id in MY_ROW.findall(page)] == [returned.id, closed.id, claimed.id, at_township.id]
    assert '<th scope="col">当前办理</th>' in page
    assert "A1街道总工会 · 审核人" in my_row(page, at_township.id)
    assert "reviewer_A1" in my_row(page, claimed.id)
    assert '<span class="muted">—</span></td>' in my_row(page, closed.id).split('data-label="当前办理">')[1][:40]
    returned_row = my_row(page, returned.id)
    assert '<span class="tag todo">待我处理</span>' in returned_row and 'data-label="当前办理">我</td>' in returned_row
    assert "待我处理" not in my_row(page, at_township.id)
    assert re.search(r"待我处理 <strong>1</strong>", page)
    only = text_of(client.get("/my/cases?todo=1"))
    assert [int(case_id) for case_id in MY_ROW.findall(only)] == [returned.id]
    assert "目前没有等待您处理的申报。" in text_of(pages("applicant_A1b").get("/my/cases?todo=1"))


def test_my_cases_cost_the_same_queries_for_one_row_or_a_full_page(pages, session, world, database):
    act(session, world, draft(session, world, form=FORM | {"nominee_name": "第一件"}), "applicant_A1a", "submit")
    client = pages("applicant_A1a")
    client.get("/my/cases")  # warms the definition and calendar caches
    statements = []

    def count(*_args):
        statements.append(1)

    def queries() -> int:
        statements.clear()
        event.listen(database, "before_cursor_execute", count)
        try:
            assert client.get("/my/cases").status_code == 200
        finally:
            event.remove(database, "before_cursor_execute", count)
        return len(statements)

    one_row = queries()
    for n in range(12):
        case = act(session, world, draft(session, world, form=FORM | {"nominee_name": f"又一件{n}"}),
                   "applicant_A1a", "submit")
        if n % 3 == 0:
            claim_task(session, world.actor("reviewer_A1"), case, expected_version=case.version)
        if n % 4 == 0:
            act(session, world, case, "reviewer_A1", "return", comment="请补充")
    draft(session, world, form={"nominee_name": "草稿"})
    assert queries() == one_row, one_row


def test_a_my_cases_page_link_not_made_by_the_page_is_explained(pages):
    response = pages("applicant_A1a").get("/my/cases", query_string={"after": encode_cursor([1, 2**31])})
    assert response.status_code == 422 and "分页参数无效，请从第一页重新查看" in text_of(response)


# --- Who may use these pages ----------------------------------------------------------------------

def applicant_urls(case_id: int) -> list[str]:
    return ["/cases/new", NEW, f"/cases/{case_id}/edit", "/my/cases"]


@pytest.mark.parametrize("user", ["reviewer_A1a", "reviewer_A1", "auditor_city", "admin"])
def test_other_roles_are_refused(pages, session, world, user):
    case = draft(session, world)
    client = pages(user)
    for url in applicant_urls(case.id):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "申报人" in text_of(response) or "此页面需要" in text_of(response)
    before = written(session)
    assert client.submit(NEW, {"intent": "save", "nominee_name": "x"}).status_code == 403
    assert client.submit(f"/cases/{case.id}/attachments", {"field": "attachments", "version": case.version}) \
        .status_code == 403
    assert written(session) == before


def test_anonymous_visitors_are_sent_to_login(pages, session, world):
    case = draft(session, world)
    client = pages()
    for url in applicant_urls(case.id):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login?next="), url


@pytest.mark.parametrize("user", ["applicant_A1b", "applicant_B1a"])
def test_another_units_case_is_not_found(pages, session, world, user):
    case = draft(session, world)
    client = pages(user)
    assert client.get(f"/cases/{case.id}/edit").status_code == 404
    response = client.submit(f"/cases/{case.id}/edit", {"intent": "save", "version": case.version, "nominee_name": "x"})
    assert response.status_code == 404
    response = client.submit(f"/cases/{case.id}/attachments", {"field": "attachments", "version": case.version,
                                                                "attachments": [upload("a.pdf", b"x")]},
                             content_type="multipart/form-data")
    assert response.status_code == 404
    session.refresh(case)
    assert case.form_data == FORM
    assert "张三" not in text_of(client.get("/my/cases"))


def test_a_kind_the_unit_may_not_start_is_not_found(pages):
    client = pages("applicant_A1a")
    assert client.get("/cases/new/competition_results").status_code == 404
    assert client.get("/cases/new/no_such_kind").status_code == 404


def test_posts_without_the_csrf_token_are_refused(pages, session, world):
    case = draft(session, world)
    client = pages("applicant_A1a")
    before = written(session)
    assert client.post(NEW, data={"intent": "submit", **FORM}).status_code == 400
    response = client.post(f"/cases/{case.id}/edit", data=edit_form(case, intent="save", nominee_name="改了"))
    assert response.status_code == 400 and "CSRF" in text_of(response)
    assert client.post(f"/cases/{case.id}/attachments",
                       data={"field": "attachments", "version": case.version,
                             "attachments": [upload("a.pdf", b"x")]}).status_code == 400
    assert written(session) == before
    session.refresh(case)
    assert case.form_data["nominee_name"] == "张三"
