"""Text as people type it, in every field of every face: no control or bidi-override character
(ESC sequences, U+202E, a byte order mark) anywhere, newlines and tabs only in multi-line text
(longtext fields, comments, objections); dates within a sensible range. The rule lives once in
the engine (engine.base.inputs.text_problem, engine.definitions.forms.DateRange), so the API and the pages agree."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from engine.base.config import LOCAL_TZ
from engine.base.errors import ValidationFailed
from engine.base.inputs import CONTROL_MESSAGE, LINE_BREAK_MESSAGE, text_problem
from engine.definitions.forms import clean_form_input
from engine.operations.transitions import comment_on_case, create_draft
from engine.org.accounts import create_api_token
from engine.org.admin import add_org_unit, add_user, update_user
from engine.procedures.rounds import open_round
from tests.conftest import NOW
from tests.test_forms import HONOURS, HONOURS_FORM, SYNTHETIC
from tests.test_hardship_aid import standards  # noqa: F401 (fixture)

CONTROLS = ["\u0001", "\x1b[31m红字\x1b[0m", "\u202e", "\ufeff", "\x7f", "\x85", "\u2066", "\u200f", "\u2028"]
IDS = ["SOH", "ESC", "RLO", "BOM", "DEL", "NEL", "LRI", "RLM", "LSEP"]


def refused(call) -> dict:
    with pytest.raises(ValidationFailed) as caught:
        call()
    return caught.value.fields


@pytest.mark.parametrize("control", CONTROLS, ids=IDS)
def test_a_control_character_is_refused_in_single_and_multi_line_text(control):
    assert text_problem(f"张{control}三") == CONTROL_MESSAGE
    assert text_problem(f"张{control}三", multiline=True) == CONTROL_MESSAGE


@pytest.mark.parametrize("text", ["第一行\n第二行", "甲\t乙", "回车\r\n换行"])
def test_newlines_and_tabs_are_for_multi_line_text_only(text):
    assert text_problem(text) == LINE_BREAK_MESSAGE
    assert text_problem(text, multiline=True) is None


@pytest.mark.parametrize("text", ["张三", "O'Brien & Co. <工会>", "👩‍🔧 技师", "（第 1 批）", "Ünïcödé"])
def test_ordinary_text_passes(text):
    assert text_problem(text) is None


# --- Definition forms (both faces reach these through the engine) ---------------------------------

@pytest.mark.parametrize("control", CONTROLS, ids=IDS)
def test_a_definition_text_field_refuses_control_characters(control):
    assert refused(lambda: clean_form_input(HONOURS, {"nominee_name": f"张{control}三"})) == {
        "nominee_name": [CONTROL_MESSAGE]}
    assert refused(lambda: clean_form_input(HONOURS, {"merits_summary": f"事迹{control}"})) == {
        "merits_summary": [CONTROL_MESSAGE]}


def test_a_single_line_field_refuses_a_newline_and_a_longtext_keeps_it():
    assert refused(lambda: clean_form_input(HONOURS, {"nominee_name": "张\n三"})) == {
        "nominee_name": [LINE_BREAK_MESSAGE]}
    values = clean_form_input(HONOURS, {"merits_summary": "一、节能降耗\n二、\t带徒传艺"})
    assert values["merits_summary"] == "一、节能降耗\n二、\t带徒传艺"


def _today() -> date:
    return datetime.now(LOCAL_TZ).date()


@pytest.mark.parametrize("born", ["9999-12-31", "tomorrow", "1939-12-31"])
def test_a_birth_date_lies_between_its_floor_and_today(born):
    value = (_today() + timedelta(days=1)).isoformat() if born == "tomorrow" else born
    assert refused(lambda: clean_form_input(HONOURS, {"birth_date": value})) == {
        "birth_date": ["应在 1940-01-01 至 今天 之间"]}


def test_a_birth_date_of_today_or_earlier_is_taken():
    assert clean_form_input(HONOURS, {"birth_date": _today().isoformat()})["birth_date"] == _today()
    assert clean_form_input(HONOURS, {"birth_date": "1975-06-01"})["birth_date"] == date(1975, 6, 1)


def test_a_date_field_without_bounds_still_has_a_sensible_range():
    """A definition that names no range still refuses a year no union's work can mean."""
    from engine.definitions.parse import parse_definition
    from tests.test_forms import SYNTHETIC_YAML

    unbounded = parse_definition(SYNTHETIC_YAML.replace(", min: 2020-01-01, max: 2030-12-31", ""), "x.yaml")
    for value in ("9999-12-31", "0001-01-01", "1899-12-31", "2100-01-01"):
        assert refused(lambda: clean_form_input(unbounded, {"visit_date": value})) == {
            "visit_date": ["应在 1900-01-01 至 2099-12-31 之间"]}
    assert clean_form_input(unbounded, {"visit_date": "2026-03-09"})["visit_date"] == date(2026, 3, 9)
    assert clean_form_input(SYNTHETIC, {"visit_date": "2030-12-31"})["visit_date"] == date(2030, 12, 31)


def test_a_definition_may_bound_a_date_by_today_only_in_date_fields():
    from engine.base.errors import DefinitionError
    from engine.definitions.parse import parse_definition
    from tests.test_forms import SYNTHETIC_YAML

    with pytest.raises(DefinitionError, match="not a whole number"):
        parse_definition(SYNTHETIC_YAML.replace("min: 1, max: 10", "min: 1, max: today"), "x.yaml")
    with pytest.raises(DefinitionError, match="YYYY-MM-DD or today"):
        parse_definition(SYNTHETIC_YAML.replace("max: 2030-12-31", "max: yesterday"), "x.yaml")


# --- Operations that take text from either face ---------------------------------------------------

def test_a_comment_keeps_its_lines_and_refuses_control_characters(session, world):
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "basic_nomination", form=HONOURS_FORM, now=NOW)
    assert refused(lambda: comment_on_case(session, applicant, case, "意见\x1b[2J", now=NOW)) == {
        "comment": [CONTROL_MESSAGE]}
    event = comment_on_case(session, applicant, case, "第一，材料齐全。\n第二，同意推荐。", now=NOW)
    assert event.comment == "第一，材料齐全。\n第二，同意推荐。"


@pytest.mark.parametrize("control", ["\u202e", "\x1b", "\n"], ids=["RLO", "ESC", "LF"])
def test_names_of_units_and_people_are_single_line_text(session, world, control):
    admin = world.actor("admin")
    problem = LINE_BREAK_MESSAGE if control == "\n" else CONTROL_MESSAGE
    assert refused(lambda: add_org_unit(session, admin, name=f"新{control}工会", level="grassroots", kind="union",
                                        parent_id=world.unit("A1").id)) == {"name": [problem]}
    assert refused(lambda: add_user(session, admin, username="newbie", display_name=f"新{control}人")) == {
        "display_name": [problem]}
    assert refused(lambda: update_user(session, admin, world.users["applicant_A1a"].id,
                                       {"display_name": f"改{control}名"})) == {"display_name": [problem]}
    assert refused(lambda: create_api_token(session, world.actor("applicant_A1a"), f"令{control}牌")) == {
        "name": [problem]}


def test_a_round_title_is_single_line_text(session, world):
    assert refused(lambda: open_round(
        session, world.actor("reviewer_city"), kind="honours", unit=world.unit("city"), title="第一批\u202e",
        year=2026, opens_dt=NOW, closes_dt=NOW + timedelta(days=30), categories=["labour_medal"])) == {
        "title": [CONTROL_MESSAGE]}


# --- Dates the operations take from either face --------------------------------------------------

def test_a_parameter_set_starts_and_ends_within_the_sensible_range(session, world):
    from engine.procedures.parameters import set_parameters
    from tests.test_hardship_aid import STANDARD_VALUES
    from workflows.hardship_aid import STANDARDS

    admin = world.actor("admin")
    assert refused(lambda: set_parameters(session, admin, STANDARDS, unit=world.unit("city"),
                                          valid_from=date(9999, 12, 31), values=STANDARD_VALUES)) == {
        "valid_from": ["日期应在 1900-01-01 至 2099-12-31 之间"]}
    assert refused(lambda: set_parameters(session, admin, STANDARDS, unit=world.unit("city"),
                                          valid_from=date(2026, 1, 1), valid_to=date(9999, 12, 31),
                                          values=STANDARD_VALUES)) == {
        "valid_to": ["日期应在 1900-01-01 至 2099-12-31 之间"]}


def test_a_round_closes_within_the_sensible_range(session, world):
    assert refused(lambda: open_round(
        session, world.actor("reviewer_city"), kind="honours", unit=world.unit("city"), title="第一批",
        year=2026, opens_dt=NOW, closes_dt=NOW.replace(year=9999), categories=["labour_medal"])) == {
        "closes_at": ["日期应在 1900-01-01 至 2099-12-31 之间"]}


def test_a_void_reason_is_single_line_text(session, world, standards):  # noqa: F811
    from engine.cases.records import add_record, void_record
    from tests.api_v1.test_notices import VISIT
    from tests.test_hardship_aid import Flow

    case = Flow(session, world).submitted()
    reviewer = world.actor("reviewer_A1a")
    record = add_record(session, reviewer, case, "home_visit", VISIT | {"visit_date": "2026-03-09"}, now=NOW)
    assert refused(lambda: void_record(session, reviewer, case, record.id, "日期\x1b[2K填错", now=NOW)) == {
        "reason": [CONTROL_MESSAGE]}
    assert void_record(session, reviewer, case, record.id, "走访日期填错", now=NOW).void_reason == "走访日期填错"
