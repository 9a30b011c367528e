"""Forms right the first time (issue 20), in the engine: titled groups, fields derived from the
ID number, checklists answered per round, and what a definition may declare about them."""
from __future__ import annotations

import copy

import pytest
import yaml

from engine.base.errors import DefinitionError, ValidationFailed
from engine.definitions.forms import clean_form_input, id_facts, missing_in
from engine.definitions.parse import parse_definition
from engine.definitions.store import current_definition
from engine.operations.transitions import create_draft, perform_action, update_draft
from engine.procedures.rounds import listed_items
from tests.conftest import NOW, SETTINGS, TEST_DEFINITIONS
from tests.test_honours import Honours, id_number
from workflows.honours import VETO_FIELD

BASIC_DOC = yaml.safe_load((TEST_DEFINITIONS / "basic_nomination.yaml").read_text(encoding="utf-8"))
HONOURS_TEXT = (SETTINGS.workflows_dir / "honours.yaml").read_text(encoding="utf-8")
MEDICAL_TEXT = (SETTINGS.workflows_dir / "medical_subsidy.yaml").read_text(encoding="utf-8")
FEMALE = id_number(5, "female")  # born 1975-01-01, 17th digit even


def field(doc: dict, name: str) -> tuple[int, dict]:
    index = next(i for i, item in enumerate(doc["form"]) if item["name"] == name)
    return index, doc["form"][index]


def problems_of(doc: dict) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "basic_nomination.yaml")
    return caught.value.problems


def grouped(doc: dict, first: str = "基本情况", rest: str = "事迹") -> dict:
    for i, item in enumerate(doc["form"]):
        item["group"] = first if i < 5 else rest
    return doc


# --- Loading: what a definition may declare ------------------------------------------------------------

def test_a_grouped_form_loads_its_groups_in_order():
    definition = parse_definition(yaml.safe_dump(grouped(copy.deepcopy(BASIC_DOC)), allow_unicode=True), "b.yaml")
    groups = definition.field_groups()
    assert [title for title, _specs in groups] == ["基本情况", "事迹"]
    assert sum(len(specs) for _title, specs in groups) == len(definition.fields)


def test_an_ungrouped_form_is_one_untitled_group():
    definition = parse_definition(yaml.safe_dump(BASIC_DOC, allow_unicode=True), "b.yaml")
    assert [(title, len(specs)) for title, specs in definition.field_groups()] == [(None, len(definition.fields))]


def test_the_shipped_long_forms_are_grouped():
    honours = parse_definition(HONOURS_TEXT, "honours.yaml")
    medical = parse_definition(MEDICAL_TEXT, "medical_subsidy.yaml")
    assert [title for title, _ in honours.field_groups()] == ["基本情况", "工作单位", "事迹", "否决事项声明", "附件"]
    assert [title for title, _ in medical.field_groups()] == ["基本情况", "就诊情况", "费用及领取账户", "附件及说明"]


def split_group(doc):
    grouped(doc)
    doc["form"][-1]["group"] = "基本情况"
    return f"form[{len(doc['form']) - 1}].group", "must stand together"


def partly_grouped(doc):
    grouped(doc)
    del doc["form"][2]["group"]
    return "form[2].group", "has no group"


def derived_from_a_text_field(doc):
    i, _ = field(doc, "birth_date")
    doc["form"][i]["derived_from"] = "nominee_name"
    return f"form[{i}].derived_from", "is not an id_number field"


def derived_into_a_text_field(doc):
    i, _ = field(doc, "ethnicity")
    doc["form"][i]["derived_from"] = "id_number"
    return f"form[{i}].derived_from", "only a date (birth date) or choice (sex)"


def sex_without_male_and_female(doc):
    i, item = field(doc, "sex")
    item["choices"] = [{"value": "m", "label": "男"}, {"value": "f", "label": "女"}]
    item["derived_from"] = "id_number"
    return f"form[{i}].derived_from", "male and female"


def items_setting_without_rounds(doc):
    doc["form"].append({"name": "vetoes", "label": "否决事项", "type": "checklist", "items_setting": "veto_items",
                        "choices": [{"value": "a", "label": "甲"}]})
    return f"form[{len(doc['form']) - 1}].items_setting", "no rounds"


def items_setting_on_a_choice(doc):
    i, item = field(doc, "sex")
    item["items_setting"] = "veto_items"
    return f"form[{i}].items_setting", "only checklist fields"


def checklist_without_items(doc):
    doc["form"].append({"name": "vetoes", "label": "否决事项", "type": "checklist"})
    return f"form[{len(doc['form']) - 1}].choices", "a checklist field needs at least one choice"


def checklist_in_a_transitions_inputs(doc):
    doc["transitions"][0]["inputs"] = [{"name": "vetoes", "label": "否决事项", "type": "checklist",
                                        "choices": [{"value": "a", "label": "甲"}]}]
    return "transitions[0].inputs[0].type", "belong to the case form"


def group_in_a_transitions_inputs(doc):
    doc["transitions"][0]["inputs"] = [{"name": "note", "label": "说明", "type": "text", "group": "甲"}]
    return "transitions[0].inputs[0].group", "only fields of the case form"


def public_checklist(doc):
    doc["form"].append({"name": "vetoes", "label": "否决事项", "type": "checklist",
                        "choices": [{"value": "a", "label": "甲"}]})
    doc["public_fields"] = ["nominee_name", "vetoes"]
    return "public_fields", "may never be shown publicly"


@pytest.mark.parametrize("mutate", [
    split_group, partly_grouped, derived_from_a_text_field, derived_into_a_text_field, sex_without_male_and_female,
    items_setting_without_rounds, items_setting_on_a_choice, checklist_without_items,
    checklist_in_a_transitions_inputs, group_in_a_transitions_inputs, public_checklist,
], ids=lambda m: m.__name__)
def test_a_bad_form_declaration_is_refused_naming_the_field(mutate):
    document = copy.deepcopy(BASIC_DOC)
    path, words = mutate(document)
    problems = problems_of(document)
    assert any(p.startswith(f"{path}:") and words in p for p in problems), problems


# --- The ID number says the birth date and sex ------------------------------------------------------

def test_the_id_number_gives_birth_date_and_sex():
    assert id_facts(FEMALE) == {"date": "1975-01-01", "choice": "female"}
    assert id_facts(id_number(6, "male")) == {"date": "1976-01-01", "choice": "male"}


@pytest.fixture
def honours(session, world):
    return Honours(session, world)


def test_empty_derived_fields_are_filled_in_from_the_id_number(honours):
    case = honours.draft(id_number=FEMALE, sex=None, award="women_model")
    assert (case.form_data["birth_date"], case.form_data["sex"]) == ("1975-01-01", "female")


def test_a_typed_birth_date_or_sex_that_disagrees_is_refused_on_its_field(honours):
    with pytest.raises(ValidationFailed) as caught:
        honours.draft(id_number=FEMALE, sex="male", birth_date="1980-05-01")
    assert caught.value.fields["birth_date"] == ["与身份证号码不一致（按身份证号码应为 1975-01-01）"]
    assert caught.value.fields["sex"] == ["与身份证号码不一致（按身份证号码应为 女）"]


def test_a_disagreement_comes_with_the_other_errors_at_once(honours):
    definition = current_definition(honours.session, "honours")
    with pytest.raises(ValidationFailed) as caught:
        clean_form_input(definition, {"id_number": FEMALE, "sex": "male", "phone": "12345"})
    assert set(caught.value.fields) == {"sex", "phone"}


def test_changing_the_id_number_is_checked_against_what_is_stored(honours, world):
    case = honours.draft(id_number=FEMALE, sex=None, award="women_model")
    with pytest.raises(ValidationFailed) as caught:  # a birth date typed in with the new number
        update_draft(honours.session, world.actor("applicant_A1a"), case,
                     {"id_number": id_number(9, "female"), "birth_date": "1975-02-01"},
                     expected_version=case.version, now=NOW)
    assert set(caught.value.fields) == {"birth_date"}
    # Emptying the birth date with it takes the new number's.
    update_draft(honours.session, world.actor("applicant_A1a"), case,
                 {"id_number": id_number(9, "female"), "birth_date": None}, expected_version=case.version, now=NOW)
    assert case.form_data["birth_date"] == "1979-01-01"


@pytest.mark.parametrize("posted_back", [False, True], ids=["patch", "whole_form"])
def test_a_corrected_id_number_takes_the_fields_it_gave_along(honours, world, posted_back):
    case = honours.draft(id_number=FEMALE, sex=None, award="women_model")
    shown = {"birth_date": "1975-01-01", "sex": "female"} if posted_back else {}  # a form posts what it shows
    update_draft(honours.session, world.actor("applicant_A1a"), case, {"id_number": id_number(9, "male"), **shown},
                 expected_version=case.version, now=NOW)
    assert (case.form_data["birth_date"], case.form_data["sex"]) == ("1979-01-01", "male")


def test_a_bad_id_number_derives_nothing_and_says_why_once(honours):
    definition = current_definition(honours.session, "honours")
    with pytest.raises(ValidationFailed) as caught:
        clean_form_input(definition, {"id_number": FEMALE[:-1] + ("0" if FEMALE[-1] != "0" else "1"),
                                      "birth_date": "1990-01-01"})
    assert set(caught.value.fields) == {"id_number"}


# --- A checklist answered per round ------------------------------------------------------------------

def test_a_round_lists_the_items_its_cases_answer_in_its_order(session, world):
    rounds = Honours(session, world, settings={"veto_items": ["labour_dispute", "wage_arrears", "not_an_item"]})
    definition = current_definition(session, "honours")
    assert listed_items(session, definition, rounds.round.id) == {
        VETO_FIELD: (("labour_dispute", "发生严重劳动争议或群体性事件"), ("wage_arrears", "拖欠职工工资"))}
    assert listed_items(session, definition, None)[VETO_FIELD] == definition.field(VETO_FIELD).choices


def test_a_required_checklist_names_the_items_left_unanswered():
    definition = parse_definition(HONOURS_TEXT, "honours.yaml")
    listed = {VETO_FIELD: (("wage_arrears", "拖欠职工工资"), ("labour_dispute", "发生严重劳动争议或群体性事件"))}
    stored = {VETO_FIELD: {"wage_arrears": {"answer": "yes"}}}
    assert missing_in(definition.fields, stored, listed)[VETO_FIELD] == ["请逐项声明：发生严重劳动争议或群体性事件"]
    assert VETO_FIELD not in missing_in(definition.fields, stored, {VETO_FIELD: listed[VETO_FIELD][:1]})


def test_a_round_that_lists_no_items_asks_none(session, world):
    rounds = Honours(session, world, settings={"veto_items": []})
    case = rounds.submitted(declare=False)
    assert case.state == "township_review"


def test_one_save_declares_every_item_and_the_nomination_goes_through(session, world):
    rounds = Honours(session, world, settings={"veto_items": ["wage_arrears", "safety_accident"]})
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "honours", round_id=rounds.round.id, now=NOW, form={
        "award_type": "labour_medal", "nominee_name": "王建国", "employer": "某厂", "ownership": "public",
        "merits_summary": "扎根一线", "id_number": id_number(3),
        VETO_FIELD: {"wage_arrears": {"answer": "no"}, "safety_accident": {"answer": "no", "note": "近三年无事故"}}})
    perform_action(session, applicant, case, "submit", expected_version=case.version, now=NOW)
    assert case.state == "township_review"
    assert case.form_data[VETO_FIELD]["safety_accident"] == {"answer": "no", "note": "近三年无事故"}
