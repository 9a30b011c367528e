"""Forms right the first time (issue 20), on the applicant's pages: every error at once in a
summary that links to each field, chosen files kept after a refusal, birth date and sex checked
against the ID number, the veto declarations answered inside the nomination form, titled groups."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from engine.base.db import utcnow
from engine.cases.attachments import Attachment
from engine.cases.case import Case
from engine.definitions.spec import FieldSpec
from pages.forms import error_summary, read_form
from tests.api_v1.test_cases import FORM, written
from tests.pages.conftest import text_of
from tests.pages.test_applicant import draft, field_html
from tests.test_honours import Honours, id_number
from workflows.honours import VETO_FIELD

NEW = "/cases/new/basic_nomination"
FEMALE = id_number(5, "female")  # born 1975-01-01


def summary_of(page: str) -> str:
    start = page.index('class="flash error error-summary"')
    return page[start:page.index("</div>", start)]


def pdf(name: str = "推荐表.pdf"):
    return io.BytesIO(b"%PDF-1.4 nomination"), name


def attachments_of(session, case_id: int) -> list[Attachment]:
    return session.scalars(select(Attachment).where(Attachment.case_id == case_id).order_by(Attachment.id)).all()


# --- Every error at once, with a summary ------------------------------------------------------------

def test_a_refused_form_sums_up_every_error_with_a_link_to_its_field(pages):
    response = pages("applicant_A1a").submit(NEW, {"intent": "submit", "nominee_name": "张三", "birth_date": "去年",
                                                   "phone": "12345"})
    assert response.status_code == 422
    page = text_of(response)
    summary = summary_of(page)
    assert 'role="alert"' in summary and "data-focus-on-load" in summary and 'tabindex="-1"' in summary
    links = re.findall(r'<a href="#(f-[a-z_]+)">', summary)
    assert {"f-birth_date", "f-phone", "f-award_type", "f-employer", "f-ownership", "f-merits_summary"} <= set(links)
    assert f"有 {len(re.findall('<li>', summary))} 处需要修改" in summary
    for anchor in links:  # each link lands on its input, which names its message
        name = anchor.removeprefix("f-")
        block = field_html(page, name)
        assert f'id="{anchor}"' in block
        assert re.search(rf'id="{anchor}"[^>]*aria-describedby="[^"]*{anchor}-error', block), name
    # In the order the form shows them.
    assert links.index("f-award_type") < links.index("f-birth_date") < links.index("f-employer")


def test_the_summary_links_the_round_too(pages, session, world):
    Honours(session, world, closes=utcnow() + timedelta(days=30))
    Honours(session, world, year=2025, closes=utcnow() + timedelta(days=30))  # two open rounds: none preselected
    response = pages("applicant_A1a").submit("/cases/new/honours", {"intent": "save", "nominee_name": "张三"})
    assert response.status_code == 422
    summary = summary_of(text_of(response))
    assert '<a href="#f-round_id">评选批次：请选择评选批次</a>' in summary


def test_a_form_refused_by_a_rule_lists_its_reasons_in_the_summary(pages, session, world):
    honours = Honours(session, world, closes=utcnow() + timedelta(days=30))
    case = honours.draft()
    client = pages("applicant_A1a")
    client.get(f"/cases/{case.id}/edit")
    response = client.submit(f"/cases/{case.id}/edit", {
        "intent": "submit", "version": case.version, "veto_declarations": "",
        "veto_declarations.wage_arrears": "yes", "veto_declarations.wage_arrears.note": "欠薪三个月",
        **{name: value for name, value in case.form_data.items() if name not in ("id_number", VETO_FIELD)}})
    assert response.status_code == 422
    summary = summary_of(text_of(response))
    assert "有 1 处需要修改" in summary and "存在否决事项「拖欠职工工资」，不能推荐" in summary


def test_the_summary_orders_fields_then_the_form_as_a_whole_then_reasons():
    specs = (FieldSpec("a", "甲", "text", True), FieldSpec("b", "乙", "text", False))
    entries = error_summary(specs, {"b": ["太长"], "_form": ["整体有误"], "comment": ["请填写"], "a": ["请填写「甲」"]},
                            labels={"comment": "修改说明"}, reasons=["不满足条件"])
    assert [(e.anchor, e.label, e.message) for e in entries] == [
        ("f-a", "甲", "请填写「甲」"), ("f-b", "乙", "太长"), ("f-comment", "修改说明", "请填写"),
        (None, None, "整体有误"), (None, None, "不满足条件")]


# --- Chosen files kept after an error -----------------------------------------------------------------

def test_a_file_chosen_in_a_refused_submit_is_kept_and_need_not_be_chosen_again(pages, session, world):
    case = draft(session, world, form={"nominee_name": "张三"})
    client = pages("applicant_A1a")
    client.get(f"/cases/{case.id}/edit")
    response = client.submit(f"/cases/{case.id}/edit", {"intent": "submit", "version": case.version,
                                                        "nominee_name": "张三", "attachments": [pdf()]},
                             content_type="multipart/form-data")
    assert response.status_code == 422
    page = text_of(response)
    [kept] = attachments_of(session, case.id)
    session.refresh(case)
    assert case.form_data["attachments"] == [kept.id] and case.state == "draft"
    assert "无需重新选择" in page and "所选的文件没有上传" not in page
    assert f'name="attachments" value="{kept.id}" checked' in field_html(page, "attachments")
    assert f'name="version" value="{case.version}"' in page  # the next save applies to the draft as it is now
    # Mended without choosing the file again: submitted with it.
    response = client.submit(f"/cases/{case.id}/edit", {"intent": "submit", "version": case.version,
                                                        **FORM, "attachments": ["", str(kept.id)]})
    assert response.status_code == 302, text_of(response)[:3000]
    session.refresh(case)
    assert case.state == "township_review" and case.form_data["attachments"] == [kept.id]


def test_a_file_chosen_in_a_refused_new_form_is_kept_in_a_draft(pages, session):
    client = pages("applicant_A1a")
    response = client.submit(NEW, {"intent": "submit", "nominee_name": "张三", "birth_date": "去年",
                                   "attachments": [pdf()]}, content_type="multipart/form-data")
    assert response.status_code == 422
    case = session.scalars(select(Case).order_by(Case.id.desc())).first()
    page = text_of(response)
    assert case.state == "draft" and case.form_data["nominee_name"] == "张三" and "birth_date" not in case.form_data
    [kept] = attachments_of(session, case.id)
    assert case.form_data["attachments"] == [kept.id]
    assert f'action="/cases/{case.id}/edit"' in page  # the form now saves that draft
    assert 'value="去年"' in field_html(page, "birth_date")  # what was typed is still there to mend
    assert "有 " in summary_of(page) and 'href="#f-birth_date"' in summary_of(page)
    assert f'value="{kept.id}" checked' in field_html(page, "attachments")


def test_a_refused_new_form_with_only_a_bad_file_writes_nothing(pages, session):
    before = written(session)
    response = pages("applicant_A1a").submit(NEW, {"intent": "submit", "nominee_name": "张三",
                                                   "attachments": [(io.BytesIO(b"MZ"), "程序.exe")]},
                                             content_type="multipart/form-data")
    assert response.status_code == 415
    assert written(session) == before
    assert "不支持此文件类型" in field_html(text_of(response), "attachments")


def test_of_two_files_the_good_one_is_kept_and_the_bad_one_named(pages, session, world):
    case = draft(session, world, form={"nominee_name": "张三"})
    client = pages("applicant_A1a")
    client.get(f"/cases/{case.id}/edit")
    response = client.submit(f"/cases/{case.id}/edit", {
        "intent": "submit", "version": case.version, "nominee_name": "张三",
        "attachments": [pdf(), (io.BytesIO(b"MZ"), "程序.exe")]}, content_type="multipart/form-data")
    assert response.status_code == 415
    assert [a.filename for a in attachments_of(session, case.id)] == ["推荐表.pdf"]
    block = field_html(text_of(response), "attachments")
    assert "推荐表.pdf" in block and "不支持此文件类型" in block


# --- The honours nomination: groups, ID number, declarations in one form -------------------------------

@pytest.fixture
def round_(session, world):
    return Honours(session, world, closes=utcnow() + timedelta(days=30),
                   settings={"veto_items": ["wage_arrears", "safety_accident"]}).round


def nomination(round_id: int, **changes) -> dict:
    return {"intent": "submit", "round_id": str(round_id), "award_type": "women_model", "nominee_name": "李红",
            "id_number": FEMALE, "employer": "A1a纺织厂", "ownership": "public", "merits_summary": "扎根一线",
            "veto_declarations": "", "veto_declarations.wage_arrears": "no",
            "veto_declarations.safety_accident": "no", "veto_declarations.safety_accident.note": "近三年无事故",
            **changes}


def test_the_nomination_form_shows_titled_groups_and_the_rounds_veto_items(pages, round_):
    page = text_of(pages("applicant_A1a").get("/cases/new/honours"))
    legends = re.findall(r'<fieldset class="form-group">\s*<legend>([^<]+)</legend>', page)
    assert legends == ["基本情况", "工作单位", "事迹", "否决事项声明", "附件"]
    checklist = page[page.index(f'id="f-{VETO_FIELD}"'):]
    checklist = checklist[:checklist.index("</ol>")]
    items = re.findall(r"<legend>([^<]+)</legend>", checklist)
    assert items == ["拖欠职工工资", "近三年发生较大以上生产安全事故"]  # only what this round lists
    assert 'name="veto_declarations.wage_arrears" value="no"' in checklist
    assert 'name="veto_declarations.wage_arrears.note"' in checklist
    assert 'data-derived-from="f-id_number" data-derived="date"' in field_html(page, "birth_date")


def test_a_nomination_with_its_declarations_is_submitted_in_one_post(pages, session, round_):
    response = pages("applicant_A1a").submit("/cases/new/honours", nomination(round_.id))
    assert response.status_code == 302, text_of(response)[:3000]
    case = session.scalars(select(Case).order_by(Case.id.desc())).first()
    assert case.state == "township_review"
    assert case.form_data[VETO_FIELD] == {"wage_arrears": {"answer": "no"},
                                          "safety_accident": {"answer": "no", "note": "近三年无事故"}}
    assert (case.form_data["birth_date"], case.form_data["sex"]) == ("1975-01-01", "female")  # from the ID number


def test_an_unanswered_item_is_the_checklists_own_error(pages, round_):
    response = pages("applicant_A1a").submit("/cases/new/honours", nomination(round_.id, **{
        "veto_declarations.safety_accident": "", "veto_declarations.safety_accident.note": "",
        "veto_declarations.wage_arrears.note": "无欠薪"}))
    assert response.status_code == 422
    page = text_of(response)
    assert '<a href="#f-veto_declarations">被推荐人（单位）是否存在下列情形：请逐项声明：近三年发生较大以上生产安全事故</a>' in summary_of(page)
    assert 'class="field field-checklist has-error" id="f-veto_declarations"' in page
    assert 'value="无欠薪"' in page  # the note typed is kept


def test_a_note_without_its_answer_is_refused(pages, round_):
    response = pages("applicant_A1a").submit("/cases/new/honours",
                                             nomination(round_.id, **{"veto_declarations.safety_accident": ""}))
    assert response.status_code == 422
    assert "「近三年发生较大以上生产安全事故」：请选择否或是" in summary_of(text_of(response))


def test_a_birth_date_or_sex_that_disagrees_with_the_id_number_is_refused_beside_it(pages, round_):
    response = pages("applicant_A1a").submit("/cases/new/honours",
                                             nomination(round_.id, birth_date="1980-02-03", sex="male"))
    assert response.status_code == 422
    page = text_of(response)
    assert "与身份证号码不一致（按身份证号码应为 1975-01-01）" in field_html(page, "birth_date")
    assert "与身份证号码不一致（按身份证号码应为 女）" in field_html(page, "sex")
    assert 'href="#f-birth_date"' in summary_of(page) and 'href="#f-sex"' in summary_of(page)


def test_the_case_page_shows_the_groups_and_the_declarations(pages, session, round_):
    pages("applicant_A1a").submit("/cases/new/honours", nomination(round_.id))
    case = session.scalars(select(Case).order_by(Case.id.desc())).first()
    page = text_of(pages("reviewer_A1").get(f"/cases/{case.id}"))
    titles = re.findall(r'<h3 class="form-group-title">([^<]+)</h3>', page)
    assert titles == ["基本情况", "工作单位", "事迹", "否决事项声明", "附件"]
    assert re.search(r"近三年发生较大以上生产安全事故：<strong>否</strong>\s*<span class=\"muted\">（近三年无事故）", page)


def test_the_reader_gathers_a_checklist_from_its_radios_and_notes():
    spec = FieldSpec("vetoes", "否决事项", "checklist", True, choices=(("a", "甲"), ("b", "乙"), ("c", "丙")))
    form = MultiDict([("vetoes", ""), ("vetoes.a", "no"), ("vetoes.b.note", " 待核实 "), ("vetoes.c.note", "")])
    assert read_form((spec,), form) == {"vetoes": {"a": {"answer": "no"}, "b": {"answer": None, "note": "待核实"}}}
    assert read_form((spec,), MultiDict([("vetoes", "")])) == {"vetoes": None}
    assert read_form((spec,), MultiDict()) == {}  # a form without the checklist leaves it alone
