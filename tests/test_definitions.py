"""Workflow definitions: validation on load, versions in the database, compiled machines.

Bad definitions are built from tests/definitions/basic_nomination.yaml: load it, change one thing, dump it
back and parse it again. Each case names the field path the problem must point at; the
paths are computed from the document, so the tests follow basic_nomination.yaml as it evolves.
"""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from engine.base.errors import ConditionFailed, DefinitionError, InvalidAction, NotFound, PermissionDenied
from engine.cases import machines
from engine.cases.case import Case
from engine.cases.integrity import verify_audit_chain
from engine.cases.machines import available_actions, compiled
from engine.definitions.parse import content_hash, parse_definition
from engine.definitions.rules import load_rule_modules
from engine.definitions.store import (
    DefinitionVersion, WorkflowKind, current_definition, definition_by_hash, sync_definitions,
)
from engine.operations.transitions import (
    approve_case, create_draft, perform_action, return_case, submit_case, update_draft,
)
from tests.conftest import NOW, TEST_DEFINITIONS

HONOURS_PATH = TEST_DEFINITIONS / "basic_nomination.yaml"
HONOURS_TEXT = HONOURS_PATH.read_text(encoding="utf-8")
HONOURS_DOC = yaml.safe_load(HONOURS_TEXT)
FORM = {"award_type": "labour_medal", "nominee_name": "张三", "employer": "A1a公司", "ownership": "public",
        "merits_summary": "十年扎根一线"}


def dump(document: dict) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def state_index(doc: dict, state_id: str) -> int:
    return next(i for i, s in enumerate(doc["states"]) if s["id"] == state_id)


def transition_index(doc: dict, trigger: str, source: str) -> int:
    for i, t in enumerate(doc["transitions"]):
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        if t["trigger"] == trigger and source in sources:
            return i
    raise LookupError((trigger, source))


def field_index(doc: dict, name: str) -> int:
    return next(i for i, f in enumerate(doc["form"]) if f["name"] == name)


def first_index(items: list, predicate) -> int:
    return next(i for i, item in enumerate(items) if predicate(item))


# --- One mutation per problem: each changes the document and returns (field path, word) -----------
# The problem reported must start with "<field path>:" and mention <word>.

def unknown_source_state(doc):
    i = transition_index(doc, "approve", "county_review")
    doc["transitions"][i]["source"] = "nowhere"
    return f"transitions[{i}].source", "nowhere"


def unknown_source_state_in_list(doc):
    i = first_index(doc["transitions"], lambda t: isinstance(t["source"], list))
    doc["transitions"][i]["source"].append("nowhere")
    return f"transitions[{i}].source", "nowhere"


def unknown_dest_state(doc):
    i = transition_index(doc, "approve", "township_review")
    doc["transitions"][i]["dest"] = "nowhere"
    return f"transitions[{i}].dest", "nowhere"


def unknown_key_in_state(doc):
    i = state_index(doc, "township_review")
    doc["states"][i]["colour"] = "red"
    return f"states[{i}].colour", "不认识的字段"


def unreachable_state(doc):
    doc["states"].append({"id": "archived", "label": "已归档", "kind": "final"})
    return f"states[{len(doc['states']) - 1}].id", "unreachable"


def dead_end_state(doc):
    doc["states"].append({"id": "on_hold", "label": "暂缓", "kind": "review", "waits_for": "reviewer@city"})
    doc["transitions"].append({"trigger": "hold", "label": "暂缓", "source": "city_review", "dest": "on_hold",
                               "by": "reviewer@city"})
    return f"states[{len(doc['states']) - 1}].id", "no way out"


def duplicate_trigger_from_one_state(doc):
    doc["transitions"].append({"trigger": "approve", "label": "直接批准", "source": "township_review",
                               "dest": "approved", "by": "reviewer@township"})
    return f"transitions[{len(doc['transitions']) - 1}].trigger", "township_review"


def unknown_role_in_by(doc):
    i = transition_index(doc, "approve", "township_review")
    doc["transitions"][i]["by"] = "clerk@township"
    return f"transitions[{i}].by", "clerk"


def unknown_role_in_waits_for(doc):
    i = state_index(doc, "township_review")
    doc["states"][i]["waits_for"] = "clerk@township"
    return f"states[{i}].waits_for", "clerk"


def auditor_as_acting_role(doc):
    i = transition_index(doc, "approve", "city_review")
    doc["transitions"][i]["by"] = "auditor@city"
    return f"transitions[{i}].by", "auditor"


def admin_as_acting_role_in_list(doc):
    i = transition_index(doc, "approve", "city_review")
    doc["transitions"][i]["by"] = ["reviewer@city", "admin@city"]
    return f"transitions[{i}].by[1]", "admin"


def unknown_level(doc):
    i = state_index(doc, "county_review")
    doc["states"][i]["waits_for"] = "reviewer@province"
    return f"states[{i}].waits_for", "province"


def party_without_level(doc):
    i = state_index(doc, "county_review")
    doc["states"][i]["waits_for"] = "reviewer"
    return f"states[{i}].waits_for", "role@level"


def level_below_origin_level(doc):
    doc["origin_level"] = "county"
    i = state_index(doc, "township_review")
    return f"states[{i}].waits_for", "township"


def deadline(value):
    def mutate(doc):
        i = state_index(doc, "township_review")
        doc["states"][i]["deadline_working_days"] = value
        return f"states[{i}].deadline_working_days", "bad deadline"

    mutate.__name__ = f"deadline_{value!r}"
    return mutate


def deadline_on_final_state(doc):
    i = state_index(doc, "approved")
    doc["states"][i]["deadline_working_days"] = 5
    return f"states[{i}].deadline_working_days", "final"


def bad_field_type(doc):
    i = field_index(doc, "nominee_name")
    doc["form"][i]["type"] = "string"
    return f"form[{i}].type", "Must be one of"


def integer_min_above_max(doc):
    doc["form"].append({"name": "team_size", "label": "人数", "type": "integer", "min": 5, "max": 1})
    return f"form[{len(doc['form']) - 1}].min", "greater than max"


def date_min_above_max(doc):
    i = field_index(doc, "birth_date")
    doc["form"][i].update(min="2000-01-01", max="1990-01-01")
    return f"form[{i}].min", "greater than max"


def money_bound_with_three_decimals(doc):
    doc["form"].append({"name": "bonus", "label": "奖金", "type": "money", "min": 0, "max": 1.234})
    return f"form[{len(doc['form']) - 1}].max", "two decimal places"


def money_bound_infinite(doc):
    doc["form"].append({"name": "bonus", "label": "奖金", "type": "money", "max": float("inf")})
    return f"form[{len(doc['form']) - 1}].max", "not a number"


def bounds_on_a_text_field(doc):
    i = field_index(doc, "nominee_name")
    doc["form"][i]["min"] = 3
    return f"form[{i}].min", "no min/max"


def choice_field_without_choices(doc):
    i = field_index(doc, "award_type")
    del doc["form"][i]["choices"]
    return f"form[{i}].choices", "at least one choice"


def choice_field_with_empty_choices(doc):
    i = field_index(doc, "award_type")
    doc["form"][i]["choices"] = []
    return f"form[{i}].choices", "at least one choice"


def duplicate_field_name(doc):
    doc["form"].append(copy.deepcopy(doc["form"][field_index(doc, "ethnicity")]))
    return f"form[{len(doc['form']) - 1}].name", "ethnicity"


def title_field_is_longtext(doc):
    doc["title_field"] = "merits_summary"
    return "title_field", "merits_summary"


def title_field_is_choice(doc):
    doc["title_field"] = "award_type"
    return "title_field", "award_type"


def title_field_missing_from_form(doc):
    doc["title_field"] = "no_such_field"
    return "title_field", "no_such_field"


def unknown_condition(doc):
    i = transition_index(doc, "approve", "township_review")
    doc["transitions"][i]["conditions"] = ["no_such_rule"]
    return f"transitions[{i}].conditions", "no_such_rule"


def return_point_from_review_state(doc):
    i = transition_index(doc, "approve", "township_review")
    doc["transitions"][i]["dest"] = "$return_point"
    return f"transitions[{i}].dest", "$return_point"


def return_point_with_nothing_returning(doc):
    i = transition_index(doc, "return", "township_review")
    doc["transitions"][i]["dest"] = "draft"
    return f"transitions[{transition_index(doc, 'resubmit', 'returned')}].dest", "no transition returns"


def send_back(doc, source="city_review", dest="county_review", **changes) -> int:
    """Append a send-back (退回重审) to the document; returns its index."""
    doc["transitions"].append({"trigger": "send_back", "label": "退回重新审核", "source": source, "dest": dest,
                               "by": "$assignee", "comment_required": True, "send_back": {"resume_with": "approve"}}
                              | changes)
    return len(doc["transitions"]) - 1


def send_back_to_a_later_level(doc):
    return f"transitions[{send_back(doc, source='county_review', dest='city_review')}].dest", "does not come before"


def send_back_to_the_same_level(doc):
    return f"transitions[{send_back(doc, dest='city_review')}].dest", "does not come before"


def send_back_to_a_draft_state(doc):
    return f"transitions[{send_back(doc, dest='returned')}].dest", "earlier review state"


def send_back_from_a_notice_state(doc):
    return f"transitions[{send_back(doc, source='public_notice')}].source", "only a review state"


def send_back_without_a_reason(doc):
    return f"transitions[{send_back(doc, comment_required=False)}].comment_required", "reason"


def send_back_resumed_by_an_unknown_trigger(doc):
    i = send_back(doc, send_back={"resume_with": "forward"})
    return f"transitions[{i}].send_back.resume_with", 'no transition "forward" leaves "county_review"'


def send_back_by_the_system(doc):
    return f"transitions[{send_back(doc, by='system')}].by", "reviewer's decision"


def send_back_with_an_unknown_key(doc):
    return f"transitions[{send_back(doc, send_back={'resume_with': 'approve', 'skip': True})}].send_back.skip", "不认识"


def first_state_not_draft(doc):
    doc["states"].insert(0, doc["states"].pop(state_index(doc, "township_review")))
    return "states[0].kind", "draft"


def unknown_top_level_key(doc):
    doc["quota"] = 20
    return "quota", "不认识的字段"


def missing_label(doc):
    del doc["label"]
    return "label", "必填"


def notice_proposed(value, path, word):
    def mutate(doc):
        doc["notice_proposed"] = value
        return path, word
    mutate.__name__ = f"notice_proposed_{path.replace('.', '_')}_{word.replace(' ', '_')}"
    return mutate


def notice_proposed_without_a_notice_state(doc):
    doc["states"][state_index(doc, "public_notice")]["kind"] = "review"
    doc["notice_proposed"] = {"label": "拟授予荣誉", "field": "award_type"}
    return "notice_proposed", "no state of kind notice"


BAD_NOTICE_PROPOSALS = [
    notice_proposed({"label": "拟授予荣誉", "field": "no_such_field"}, "notice_proposed.field", "unknown field"),
    notice_proposed({"label": "拟授予荣誉", "field": "id_number"}, "notice_proposed.field", "may not be shown publicly"),
    notice_proposed({"label": "拟授予荣誉", "field": "merits_summary"}, "notice_proposed.field", "longtext"),
    notice_proposed({"label": "拟授予荣誉", "field": "award_type", "text": "五一劳动奖章"}, "notice_proposed",
                    "either field"),
    notice_proposed({"label": "拟授予荣誉"}, "notice_proposed", "not both or neither"),
    notice_proposed({"field": "award_type"}, "notice_proposed.label", ""),
    notice_proposed({"label": "拟授予荣誉", "text": "奖章", "contact": "12345"}, "notice_proposed.contact", ""),
    notice_proposed({"label": "", "text": "奖章"}, "notice_proposed.label", ""),
    notice_proposed_without_a_notice_state,
]


BAD_DEFINITIONS = [
    unknown_source_state, unknown_source_state_in_list, unknown_dest_state, unknown_key_in_state,
    unreachable_state, dead_end_state, duplicate_trigger_from_one_state,
    unknown_role_in_by, unknown_role_in_waits_for, auditor_as_acting_role, admin_as_acting_role_in_list,
    unknown_level, party_without_level, level_below_origin_level,
    deadline(0), deadline(-3), deadline(2.5), deadline("5"), deadline(True), deadline(251), deadline_on_final_state,
    bad_field_type, integer_min_above_max, date_min_above_max, money_bound_with_three_decimals,
    money_bound_infinite, bounds_on_a_text_field, choice_field_without_choices, choice_field_with_empty_choices,
    duplicate_field_name, title_field_is_longtext, title_field_is_choice, title_field_missing_from_form,
    unknown_condition, return_point_from_review_state, return_point_with_nothing_returning,
    send_back_to_a_later_level, send_back_to_the_same_level, send_back_to_a_draft_state, send_back_from_a_notice_state,
    send_back_without_a_reason, send_back_resumed_by_an_unknown_trigger, send_back_by_the_system,
    send_back_with_an_unknown_key,
    first_state_not_draft, unknown_top_level_key, missing_label, *BAD_NOTICE_PROPOSALS,
]


def test_unmodified_dump_loads_with_the_files_hash():
    """The round trip the bad-definition tests rely on changes nothing by itself."""
    definition = parse_definition(dump(copy.deepcopy(HONOURS_DOC)), "basic_nomination.yaml")
    assert definition.content_hash == parse_definition(HONOURS_TEXT, "basic_nomination.yaml").content_hash


@pytest.mark.parametrize("mutate", BAD_DEFINITIONS, ids=lambda m: m.__name__)
def test_bad_definition_is_rejected_naming_file_and_field(mutate):
    document = copy.deepcopy(HONOURS_DOC)
    field_path, word = mutate(document)
    with pytest.raises(DefinitionError) as caught:
        parse_definition(dump(document), "basic_nomination.yaml")
    error = caught.value
    assert error.path == "basic_nomination.yaml"
    assert str(error).startswith("basic_nomination.yaml: ")
    matching = [p for p in error.problems if p.startswith(f"{field_path}:")]
    assert matching, f"no problem names {field_path}: {error.problems}"
    assert any(word in p for p in matching), error.problems


def test_a_send_back_names_the_levels_that_may_send_a_case_back_and_the_trigger_that_resumes():
    document = copy.deepcopy(HONOURS_DOC)
    send_back(document, source="city_review", dest="township_review")
    send_back(document, source="county_review", dest="township_review",
              send_back={"resume_with": "approve", "resume_label": "重新审核通过，报回县（区）总工会"})
    definition = parse_definition(dump(document), "basic_nomination.yaml")
    assert definition.resume_points("township_review", "approve") == ("city_review", "county_review")
    assert definition.resume_points("township_review", "reject") == ()
    assert definition.resume_label("county_review", "township_review", "approve") == "重新审核通过，报回县（区）总工会"
    assert definition.resume_label("city_review", "township_review", "approve") == "重新审核通过，送回「市总工会初审」"


def test_every_problem_in_one_file_is_reported():
    document = copy.deepcopy(HONOURS_DOC)
    expected = [unknown_dest_state(document), unknown_condition(document), duplicate_field_name(document)]
    with pytest.raises(DefinitionError) as caught:
        parse_definition(dump(document), "basic_nomination.yaml")
    for field_path, _ in expected:
        assert any(p.startswith(f"{field_path}:") for p in caught.value.problems), (field_path, caught.value.problems)


def test_yaml_syntax_error_names_file_and_line():
    broken = HONOURS_TEXT.replace("source: [draft, returned]", "source: [draft, returned")
    assert broken != HONOURS_TEXT
    with pytest.raises(DefinitionError) as caught:
        parse_definition(broken, "basic_nomination.yaml")
    assert caught.value.path == "basic_nomination.yaml"
    assert len(caught.value.problems) == 1
    assert "not valid YAML" in caught.value.problems[0] and "line" in caught.value.problems[0]


@pytest.mark.parametrize("text", ["", "- just\n- a list\n", "plain words"])
def test_document_that_is_not_a_mapping_is_rejected(text):
    with pytest.raises(DefinitionError) as caught:
        parse_definition(text, "odd.yaml")
    assert caught.value.path == "odd.yaml"
    assert "mapping" in caught.value.problems[0]


def test_comments_and_layout_do_not_change_the_hash():
    relaid = "# 说明：仅调整注释与排版\n\n" + HONOURS_TEXT.replace("\n\n", "\n\n\n") + "\n# 结束\n"
    assert content_hash(yaml.safe_load(relaid)) == content_hash(HONOURS_DOC)
    edited = HONOURS_TEXT.replace("label: 已批准", "label: 已批准授予")
    assert content_hash(yaml.safe_load(edited)) != content_hash(HONOURS_DOC)


# --- Versions in the database ---------------------------------------------------------------------

def copy_workflows(tmp_path: Path) -> Path:
    directory = tmp_path / "workflows"
    directory.mkdir()
    for path in TEST_DEFINITIONS.glob("*.yaml"):
        shutil.copy(path, directory / path.name)
    return directory


def nomination_versions(session) -> int:
    query = select(func.count()).select_from(DefinitionVersion).where(DefinitionVersion.kind == "basic_nomination")
    return session.scalar(query)


def current_hash(session, kind: str) -> str:
    return session.scalar(select(WorkflowKind.current_hash).where(WorkflowKind.kind == kind))


def test_syncing_an_unchanged_copy_adds_no_version(session, tmp_path):
    before = current_hash(session, "basic_nomination")
    versions = nomination_versions(session)
    results = sync_definitions(session, copy_workflows(tmp_path))
    assert [r.is_new_version for r in results] == [False] * len(results)
    assert current_hash(session, "basic_nomination") == before
    assert nomination_versions(session) == versions


def test_edited_label_creates_a_version_and_moves_the_current_one(session, tmp_path):
    directory = copy_workflows(tmp_path)
    old_hash = current_hash(session, "basic_nomination")
    versions = nomination_versions(session)
    edited = HONOURS_TEXT.replace("label: 基础推荐流程（测试用）", "label: 基础推荐流程（测试用）（2026年度）")
    assert edited != HONOURS_TEXT
    (directory / "basic_nomination.yaml").write_text(edited, encoding="utf-8")

    results = {r.kind: r for r in sync_definitions(session, directory)}

    assert results["basic_nomination"].is_new_version
    new_hash = results["basic_nomination"].content_hash
    assert new_hash != old_hash
    assert current_hash(session, "basic_nomination") == new_hash
    assert nomination_versions(session) == versions + 1
    assert session.get(DefinitionVersion, new_hash).source_text == edited
    assert session.get(DefinitionVersion, old_hash) is not None  # old versions are kept for running cases
    assert current_definition(session, "basic_nomination").label == "基础推荐流程（测试用）（2026年度）"


def test_comment_only_change_creates_no_version(session, tmp_path):
    directory = copy_workflows(tmp_path)
    old_hash = current_hash(session, "basic_nomination")
    versions = nomination_versions(session)
    (directory / "basic_nomination.yaml").write_text("# 2026 年度：仅补充注释\n" + HONOURS_TEXT, encoding="utf-8")

    results = {r.kind: r for r in sync_definitions(session, directory)}

    assert not results["basic_nomination"].is_new_version
    assert results["basic_nomination"].content_hash == old_hash
    assert current_hash(session, "basic_nomination") == old_hash
    assert nomination_versions(session) == versions


def without_county_review(document: dict) -> dict:
    """A later version: the township forwards straight to the city."""
    doc = copy.deepcopy(document)
    doc["states"] = [s for s in doc["states"] if s["id"] != "county_review"]
    kept = []
    for t in doc["transitions"]:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        sources = [s for s in sources if s != "county_review"]
        if not sources:
            continue
        t["source"] = sources
        if t["dest"] == "county_review":
            t["dest"] = "city_review"
            t["label"] = "审核通过，报市总工会"
        kept.append(t)
    doc["transitions"] = kept
    return doc


def test_running_case_keeps_its_version_and_new_cases_start_on_the_new_one(session, world, tmp_path):
    applicant = world.actor("applicant_A1a")
    old_case = create_draft(session, applicant, "basic_nomination", form=FORM, now=NOW)
    submit_case(session, applicant, old_case, expected_version=old_case.version, now=NOW)
    approve_case(session, world.actor("reviewer_A1"), old_case, expected_version=old_case.version, now=NOW)
    assert old_case.state == "county_review"
    old_hash = old_case.definition_hash

    directory = copy_workflows(tmp_path)
    (directory / "basic_nomination.yaml").write_text(dump(without_county_review(HONOURS_DOC)), encoding="utf-8")
    new_hash = {r.kind: r for r in sync_definitions(session, directory)}["basic_nomination"].content_hash
    assert new_hash != old_hash
    with pytest.raises(KeyError):
        current_definition(session, "basic_nomination").state("county_review")

    # The old case still moves through the state the new version removed.
    assert old_case.definition_hash == old_hash
    offered = available_actions(session, world.actor("reviewer_A"), old_case, NOW)
    assert "approve" in [a.trigger for a in offered]
    approve_case(session, world.actor("reviewer_A"), old_case, expected_version=old_case.version, now=NOW)
    assert old_case.state == "city_review"
    for _ in range(2):
        approve_case(session, world.actor("reviewer_city"), old_case, expected_version=old_case.version, now=NOW)
    assert old_case.state == "approved"
    assert old_case.definition_hash == old_hash

    # A new case starts on the new version: the township forwards straight to the city.
    new_case = create_draft(session, applicant, "basic_nomination", form=FORM, now=NOW)
    assert new_case.definition_hash == new_hash
    submit_case(session, applicant, new_case, expected_version=new_case.version, now=NOW)
    approve_case(session, world.actor("reviewer_A1"), new_case, expected_version=new_case.version, now=NOW)
    assert new_case.state == "city_review"
    session.commit()
    assert verify_audit_chain(session, [old_case.id, new_case.id]).ok


RETIREE_VISIT_YAML = """\
# 离退休职工走访慰问: a kind the engine has never heard of, with its own rule.
kind: retiree_visit
label: 离退休职工走访慰问
origin_level: grassroots
title_field: retiree_name
states:
  - {id: draft, label: 草稿, kind: draft}
  - {id: township_review, label: 镇（街道）总工会审核, kind: review, waits_for: reviewer@township, deadline_working_days: 5}
  - {id: approved, label: 已批准, kind: final}
  - {id: rejected, label: 未通过, kind: final}
transitions:
  - trigger: submit
    label: 提交走访记录
    source: draft
    dest: township_review
    by: applicant@origin
    conditions: [retiree_visit_two_visitors]
  - {trigger: approve, label: 审核通过, source: township_review, dest: approved, by: $assignee}
  - {trigger: reject, label: 不予通过, source: township_review, dest: rejected, by: $assignee, comment_required: true}
  - {trigger: return, label: 退回修改, source: township_review, dest: draft, by: $assignee, comment_required: true}
form:
  - {name: retiree_name, label: 走访对象, type: text, max_length: 50, required: true}
  - {name: visit_date, label: 走访日期, type: date, required: true}
  - {name: visitor_count, label: 走访人数, type: integer, min: 1, max: 10, required: true}
  - {name: gift_amount, label: 慰问金, type: money, min: 0, max: 2000}
"""

RETIREE_VISIT_RULES = '''\
from engine.definitions.rules import rule

TWO_VISITORS = "走访须由两人共同进行，请核实走访人数"


@rule("retiree_visit_two_visitors")
def two_visitors(context):
    """Home visits are made by two people."""
    if (context.case.form_data.get("visitor_count") or 0) < 2:
        return TWO_VISITORS
    return None
'''


@pytest.fixture(scope="module")
def retiree_visit_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("fifth_kind")
    (directory / "retiree_visit.yaml").write_text(RETIREE_VISIT_YAML, encoding="utf-8")
    (directory / "retiree_visit_rules.py").write_text(RETIREE_VISIT_RULES, encoding="utf-8")
    load_rule_modules(directory)
    return directory


def test_new_kind_with_its_own_rule_runs_without_engine_changes(session, world, retiree_visit_dir):
    results = sync_definitions(session, retiree_visit_dir)
    assert [(r.kind, r.is_new_version) for r in results] == [("retiree_visit", True)]
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "retiree_visit", now=NOW, form={
        "retiree_name": "李四", "visit_date": "2026-03-06", "visitor_count": 1, "gift_amount": "500",
    })
    session.commit()  # the refused submission below rolls back to here

    with pytest.raises(ConditionFailed) as caught:
        submit_case(session, applicant, case, expected_version=case.version, now=NOW)
    assert caught.value.reasons == ["走访须由两人共同进行，请核实走访人数"]
    assert "走访须由两人共同进行" in caught.value.message
    session.rollback()

    update_draft(session, applicant, case, {"visitor_count": 2}, expected_version=case.version, now=NOW)
    submit_case(session, applicant, case, expected_version=case.version, now=NOW)
    assert case.state == "township_review"
    approve_case(session, world.actor("reviewer_A1"), case, expected_version=case.version, now=NOW)
    assert case.state == "approved"
    assert case.form_data["gift_amount"] == "500.00"
    session.commit()
    assert verify_audit_chain(session, [case.id]).ok


def test_two_files_declaring_one_kind_are_refused(session, tmp_path):
    directory = copy_workflows(tmp_path)
    shutil.copy(directory / "basic_nomination.yaml", directory / "basic_nomination_2026.yaml")
    before = current_hash(session, "basic_nomination")
    with pytest.raises(DefinitionError) as caught:
        sync_definitions(session, directory)
    assert "basic_nomination.yaml" in caught.value.path and "basic_nomination_2026.yaml" in caught.value.path
    assert any('"basic_nomination"' in p and "basic_nomination.yaml" in p and "basic_nomination_2026.yaml" in p for p in caught.value.problems)
    assert current_hash(session, "basic_nomination") == before


def test_every_bad_file_is_reported_at_once(session, tmp_path):
    directory = copy_workflows(tmp_path)
    bad_dest = copy.deepcopy(HONOURS_DOC)
    bad_dest["kind"] = "honours_bad_dest"
    dest_path, _ = unknown_dest_state(bad_dest)
    (directory / "a_bad_dest.yaml").write_text(dump(bad_dest), encoding="utf-8")
    (directory / "b_broken.yaml").write_text("kind: [unclosed\n", encoding="utf-8")
    bad_level = copy.deepcopy(HONOURS_DOC)
    bad_level["kind"] = "honours_bad_level"
    level_path, _ = unknown_level(bad_level)
    (directory / "c_bad_level.yaml").write_text(dump(bad_level), encoding="utf-8")

    with pytest.raises(DefinitionError) as caught:
        sync_definitions(session, directory)

    problems = caught.value.problems
    for name in ("a_bad_dest.yaml", "b_broken.yaml", "c_bad_level.yaml"):
        assert name in caught.value.path
    assert "basic_nomination.yaml" not in caught.value.path.split(", ")
    assert any(p.startswith(f"a_bad_dest.yaml: {dest_path}:") for p in problems), problems
    assert any(p.startswith("b_broken.yaml: not valid YAML") for p in problems), problems
    assert any(p.startswith(f"c_bad_level.yaml: {level_path}:") for p in problems), problems
    stored = select(func.count()).select_from(WorkflowKind).where(WorkflowKind.kind.like("honours_bad%"))
    assert session.scalar(stored) == 0


# --- Compiled machines ----------------------------------------------------------------------------

def test_machine_is_compiled_once_per_version(monkeypatch):
    builds = []
    real_compile = machines.compile_definition
    monkeypatch.setattr(machines, "compile_definition", lambda d: builds.append(d.content_hash) or real_compile(d))
    document = copy.deepcopy(HONOURS_DOC)
    document["label"] = "五一劳动荣誉推荐（编译缓存测试）"  # a version no other test compiles
    text = dump(document)
    first, again = parse_definition(text, "basic_nomination.yaml"), parse_definition(text, "basic_nomination.yaml")
    assert first is not again

    workflow = compiled(first)

    assert compiled(first) is workflow
    assert compiled(again) is workflow  # same content hash, same machine
    assert builds == [first.content_hash]
    assert compiled(parse_definition(HONOURS_TEXT, "basic_nomination.yaml")) is not workflow


def test_machine_has_exactly_the_definitions_triggers():
    definition = parse_definition(HONOURS_TEXT, "basic_nomination.yaml")
    machine = compiled(definition).machine
    declared = {t.trigger for t in definition.transitions}
    assert set(machine.events) == declared
    for state in definition.states:
        triggers = machine.get_triggers(state.id)
        assert not [t for t in triggers if t.startswith("to_")], state.id
        expected = {t.trigger for t in definition.transitions if state.id in t.sources}
        assert set(triggers) == expected, state.id


def nomination_case_in(session, world, state: str) -> Case:
    """A basic_nomination case from A1a, moved by the right people into ``state``."""
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "basic_nomination", form=FORM, now=NOW)
    if state == "draft":
        return case
    submit_case(session, applicant, case, expected_version=case.version, now=NOW)
    if state == "returned":
        return_case(session, world.actor("reviewer_A1"), case, expected_version=case.version, comment="请补充事迹",
                    now=NOW)
    for reviewer in ("reviewer_A1", "reviewer_A", "reviewer_city"):
        if case.state == state:
            break
        approve_case(session, world.actor(reviewer), case, expected_version=case.version, now=NOW)
    assert case.state == state
    return case


def fires(session, actor, case, trigger: str) -> bool:
    """Whether perform_action accepts the trigger; whatever it does is rolled back."""
    savepoint = session.begin_nested()
    try:
        perform_action(session, actor, case, trigger, expected_version=case.version, comment="意见", now=NOW)
        return True
    except (NotFound, PermissionDenied, InvalidAction, ConditionFailed):
        return False
    finally:
        savepoint.rollback()


@pytest.mark.parametrize("state", ["draft", "township_review", "county_review", "public_notice", "returned"])
def test_offered_actions_are_exactly_the_accepted_ones(session, world, state):
    """Inbox buttons and the engine never disagree: for every actor and trigger, fires iff offered."""
    case = nomination_case_in(session, world, state)
    definition = definition_by_hash(session, case.definition_hash)
    triggers = sorted({t.trigger for t in definition.transitions})
    accepted = set()
    for name, actor in world.actors.items():
        offered = {a.trigger for a in available_actions(session, actor, case, NOW)}
        for trigger in triggers:
            accepted_now = fires(session, actor, case, trigger)
            assert case.state == state
            assert accepted_now == (trigger in offered), (name, trigger, offered)
            if accepted_now:
                accepted.add((name, trigger))
    expected_somebody = {
        "draft": ("applicant_A1a", "submit"),
        "township_review": ("reviewer_A1", "approve"),
        "county_review": ("reviewer_A", "return"),
        "public_notice": ("reviewer_city", "approve"),
        "returned": ("applicant_A1a", "resubmit"),
    }[state]
    assert expected_somebody in accepted
    assert not any(name.startswith(("auditor", "admin")) for name, _ in accepted)


def test_withdraw_is_neither_offered_nor_accepted_once_review_started(session, world):
    """A guard that depends on the trail: after a comment by the township, withdrawing stops."""
    from engine.operations.transitions import comment_on_case

    case = nomination_case_in(session, world, "township_review")
    applicant = world.actor("applicant_A1a")
    assert "withdraw" in {a.trigger for a in available_actions(session, applicant, case, NOW)}
    comment_on_case(session, world.actor("reviewer_A1"), case, "材料已收到，正在审核", now=NOW)
    assert "withdraw" not in {a.trigger for a in available_actions(session, applicant, case, NOW)}
    with pytest.raises(ConditionFailed) as caught:
        perform_action(session, applicant, case, "withdraw", expected_version=case.version, now=NOW)
    assert caught.value.reasons == ["审核已经开始，不能撤回"]


def test_state_waiting_for_someone_who_cannot_move_it_is_refused():
    """Would a case sit in an inbox whose owner has no button to press?"""
    document = yaml.safe_load(HONOURS_TEXT)
    assert document["states"][0]["id"] == "draft"
    document["states"][0]["waits_for"] = "reviewer@township"  # only the applicant can submit a draft
    with pytest.raises(DefinitionError) as err:
        parse_definition(yaml.safe_dump(document, allow_unicode=True), "basic_nomination.yaml")
    assert any(p.startswith("states[0].waits_for:") and "reviewer@township" in p for p in err.value.problems)


def test_reviewer_acting_on_a_state_that_waits_for_another_is_refused():
    """Could a county reviewer approve a case that only sits in the township's inbox?"""
    document = yaml.safe_load(HONOURS_TEXT)
    assert document["states"][3]["id"] == "county_review"
    document["states"][3]["waits_for"] = "reviewer@township"
    with pytest.raises(DefinitionError) as err:
        parse_definition(yaml.safe_dump(document, allow_unicode=True), "basic_nomination.yaml")
    assert any("reviewer@county acts on \"county_review\"" in p for p in err.value.problems)


def test_a_stored_version_that_todays_checks_refuse_still_runs_its_cases(session):
    """A check added after a version was loaded must not strand the cases pinned to it."""
    document = yaml.safe_load(HONOURS_TEXT)
    document["states"][0]["waits_for"] = "reviewer@township"  # refused by today's waiting-party check
    text = yaml.safe_dump(document, allow_unicode=True)
    with pytest.raises(DefinitionError):
        parse_definition(text, "basic_nomination.yaml")
    lenient = parse_definition(text, "basic_nomination.yaml", enforce_policy=False)
    session.add(DefinitionVersion(content_hash=lenient.content_hash, kind="basic_nomination", label=lenient.label,
                                  source_name="basic_nomination.yaml", source_text=text))
    session.flush()
    assert definition_by_hash(session, lenient.content_hash).state("draft").waits_for.level == "township"


def test_stored_text_that_does_not_match_its_hash_is_refused(session):
    session.add(DefinitionVersion(content_hash="e" * 64, kind="basic_nomination", label="x",
                                  source_name="basic_nomination.yaml", source_text=HONOURS_TEXT))
    session.flush()
    with pytest.raises(DefinitionError, match="does not match its version"):
        definition_by_hash(session, "e" * 64)


def test_two_different_rules_under_one_name_are_refused():
    from engine.definitions.rules import rule

    @rule("lead_test_unique_rule")
    def first(context):
        return None

    rule("lead_test_unique_rule")(first)  # the same function again (a reload) is accepted
    with pytest.raises(ValueError, match="registered twice"):
        @rule("lead_test_unique_rule")
        def second(context):
            return "不同的规则"


def test_money_bound_beyond_storage_is_a_definition_error_not_a_crash():
    document = yaml.safe_load(HONOURS_TEXT)
    document["form"].append({"name": "huge", "label": "巨额", "type": "money", "min": 1e30})
    with pytest.raises(DefinitionError) as err:
        parse_definition(yaml.safe_dump(document, allow_unicode=True), "basic_nomination.yaml")
    assert any(p.startswith(f"form[{len(document['form']) - 1}].min:") for p in err.value.problems)
