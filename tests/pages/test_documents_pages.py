"""The documents a case needs, on the applicant's form: a checklist of each present or missing,
and a submission missing one refused with its message at the document's own field."""
from __future__ import annotations

import io
import re
from datetime import timedelta

from sqlalchemy import select

from engine.base.db import utcnow
from engine.cases.case import Case
from tests.pages.conftest import text_of
from tests.pages.test_applicant import field_html
from tests.pages.test_forms_first_time import summary_of
from tests.test_medical_subsidy import DOCUMENTS, _form, schemes  # noqa: F401 - a fixture

NEW = "/cases/new/medical_subsidy"


def checklist_of(page: str) -> dict[str, str]:
    """Each document's label → 已上传 / 未上传, as the checklist reads."""
    start = page.index('<section class="documents"')
    section = page[start:page.index("</section>", start)]
    return dict(re.findall(r'<a href="#f-[a-z_]+">([^<]+)</a>：<strong>([^<]+)</strong>', section))


def recent_claim() -> dict:
    """The claim form of a stay that ended a week ago (well within the filing window)."""
    discharged = utcnow().date() - timedelta(days=7)
    return _form(admission_date=(discharged - timedelta(days=5)).isoformat(), discharge_date=discharged.isoformat())


def pdf(name: str):
    return io.BytesIO(b"%PDF-1.4 " + name.encode()), name


def test_a_new_claim_lists_the_four_documents_missing_each_linking_to_its_upload(pages):
    page = text_of(pages("applicant_A1a").get(NEW))
    assert checklist_of(page) == {"出院小结": "未上传", "诊断证明书": "未上传", "医保结算单": "未上传", "费用明细清单": "未上传"}
    assert "还缺 4 项材料" in page
    for name in DOCUMENTS:
        assert f'href="#f-{name}"' in page and f'id="f-{name}"' in field_html(page, name)


def test_a_claim_missing_two_documents_is_refused_naming_each_at_its_field_then_submitted(  # noqa: F811 - schemes
        pages, session, schemes):
    client = pages("applicant_A1a")
    response = client.submit(NEW, {"intent": "submit", **recent_claim(), "discharge_summary": [pdf("出院小结.pdf")],
                                   "itemised_bill": [pdf("费用明细清单.pdf")]}, content_type="multipart/form-data")
    assert response.status_code == 422
    page = text_of(response)
    case = session.scalars(select(Case).where(Case.kind == "medical_subsidy").order_by(Case.id.desc())).first()
    assert case.state == "draft" and len(case.form_data["discharge_summary"]) == 1
    assert checklist_of(page) == {"出院小结": "已上传", "诊断证明书": "未上传", "医保结算单": "未上传", "费用明细清单": "已上传"}
    assert "还缺 2 项材料" in page
    assert "请上传「诊断证明书」" in field_html(page, "diagnosis_certificate")
    assert "请上传「医保结算单」" in field_html(page, "settlement_sheet")
    assert "请上传" not in field_html(page, "discharge_summary")
    summary = summary_of(page)
    assert 'href="#f-diagnosis_certificate"' in summary and 'href="#f-settlement_sheet"' in summary
    assert 'href="#f-discharge_summary"' not in summary

    session.refresh(case)
    kept = {name: [str(i) for i in case.form_data[name]] for name in ("discharge_summary", "itemised_bill")}
    response = client.submit(f"/cases/{case.id}/edit", {
        "intent": "submit", "version": case.version, **recent_claim(), **kept,
        "diagnosis_certificate": [pdf("诊断证明书.pdf")], "settlement_sheet": [pdf("医保结算单.pdf")]},
        content_type="multipart/form-data")
    assert response.status_code == 302, text_of(response)[:3000]
    session.refresh(case)
    assert case.state == "county_review"


def test_a_form_without_required_documents_shows_no_checklist(pages):
    page = text_of(pages("applicant_A1a").get("/cases/new/basic_nomination"))
    assert 'class="documents"' not in page and "所需材料" not in page
