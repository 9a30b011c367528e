"""The documents a case needs (issue 20): a definition's required file fields, checked at load,
listed to the applicant, and a case missing one is not sent on — each missing document named at
its own field."""
from __future__ import annotations

import copy

import pytest
import yaml

from engine.base.errors import ValidationFailed
from engine.cases.attachments import FileStore, attach_file
from engine.definitions.parse import parse_definition
from engine.operations.transitions import create_draft, perform_action, update_draft
from tests.conftest import NOW
from tests.test_forms_first_time import BASIC_DOC, MEDICAL_TEXT, problems_of
from tests.test_medical_subsidy import DOCUMENTS, _form, schemes  # noqa: F401 - a fixture

LABELS = {"discharge_summary": "出院小结", "diagnosis_certificate": "诊断证明书", "settlement_sheet": "医保结算单",
          "itemised_bill": "费用明细清单"}


def with_documents(doc: dict, *documents: tuple[str, str]) -> dict:
    """``doc`` with required file fields (name, label) added at the end of its form."""
    doc = copy.deepcopy(doc)
    doc["form"] += [{"name": name, "label": label, "type": "file", "required": True} for name, label in documents]
    return doc


# --- Loading ------------------------------------------------------------------------------------------

def test_a_medical_claim_needs_its_four_documents_in_form_order():
    definition = parse_definition(MEDICAL_TEXT, "medical_subsidy.yaml")
    assert [(spec.name, spec.label) for spec in definition.required_documents] == list(LABELS.items())


def test_any_definition_declares_its_documents_as_required_file_fields_with_no_engine_change():
    """A fifth kind needs only its YAML: required file fields are its checklist."""
    doc = with_documents(BASIC_DOC, ("recommendation", "推荐表"), ("resolution", "职代会决议"))
    doc["form"].append({"name": "photos", "label": "照片（可选）", "type": "file"})
    definition = parse_definition(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "fifth.yaml")
    assert [spec.label for spec in definition.required_documents] == ["推荐表", "职代会决议"]


def test_two_required_documents_with_one_label_are_refused_at_load_naming_both():
    doc = with_documents(BASIC_DOC, ("summary", "出院小结"), ("summary_copy", "出院小结"))
    index = len(doc["form"]) - 1
    [problem] = [p for p in problems_of(doc) if "share the label" in p]
    assert problem.startswith(f"form[{index}].label:") and '"summary"' in problem and '"summary_copy"' in problem


def test_an_optional_file_may_share_a_required_document_s_label():
    doc = with_documents(BASIC_DOC, ("summary", "出院小结"))
    doc["form"].append({"name": "summary_extra", "label": "出院小结", "type": "file"})
    parse_definition(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "b.yaml")


# --- Submission ---------------------------------------------------------------------------------------

@pytest.fixture
def claim(session, world, tmp_path, schemes):  # noqa: F811
    """A complete claim form holding the documents named: claim(*fields)."""
    def make(*fields):
        actor = world.actor("applicant_A1a")
        case = create_draft(session, actor, "medical_subsidy", form=_form(), now=NOW)
        for field in fields:
            attach_file(session, actor, case, field, filename=f"{LABELS[field]}.pdf", content_type="application/pdf",
                        data=b"%PDF-1.4 " + field.encode(), store=FileStore(tmp_path / "files"),
                        expected_version=case.version, now=NOW)
        return case
    return make


def submit(session, world, case):
    return perform_action(session, world.actor("applicant_A1a"), case, "submit", expected_version=case.version,
                          now=NOW)


def test_a_claim_missing_documents_is_refused_naming_each_at_its_field(session, world, claim):
    case = claim("discharge_summary", "itemised_bill")
    version = case.version
    with pytest.raises(ValidationFailed) as refused:
        submit(session, world, case)
    assert refused.value.fields == {"diagnosis_certificate": ["请上传「诊断证明书」"],
                                    "settlement_sheet": ["请上传「医保结算单」"]}
    assert (case.state, case.version) == ("draft", version)


def test_a_claim_with_every_document_goes_to_the_county(session, world, claim):
    case = claim(*DOCUMENTS)
    submit(session, world, case)
    assert case.state == "county_review"


def test_a_document_taken_out_of_its_field_is_missing_again(session, world, claim):
    case = claim(*DOCUMENTS)
    update_draft(session, world.actor("applicant_A1a"), case, {"settlement_sheet": []}, expected_version=case.version,
                 now=NOW)
    with pytest.raises(ValidationFailed) as refused:
        submit(session, world, case)
    assert refused.value.fields == {"settlement_sheet": ["请上传「医保结算单」"]}


def test_missing_documents_come_with_the_other_empty_fields_at_once(session, world, schemes):  # noqa: F811
    form = {name: value for name, value in _form().items() if name != "diagnosis"}
    case = create_draft(session, world.actor("applicant_A1a"), "medical_subsidy", form=form, now=NOW)
    with pytest.raises(ValidationFailed) as refused:
        submit(session, world, case)
    assert set(refused.value.fields) == {"diagnosis", *DOCUMENTS}
    assert refused.value.fields["diagnosis"] == ["请填写「出院诊断」"]
