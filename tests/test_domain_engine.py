"""The engine's extension points for domain rules, tested on their own: definition checks for
records, inputs, actions, timers and objections; ledgers; parameter sets; records; joint
actions."""
from __future__ import annotations

import copy
import threading
from datetime import date
from decimal import Decimal

import pytest
import yaml
from marshmallow import Schema, fields
from sqlalchemy import select

from engine.audit.chain import case_events
from engine.base.errors import (
    ConditionFailed, DefinitionError, InvalidAction, NotFound, PermissionDenied, ValidationFailed,
)
from engine.cases.records import add_record
from engine.definitions.parse import parse_definition
from engine.operations.transitions import create_draft, perform_action, perform_joint_action
from engine.org.units import SYSTEM_ACTOR
from engine.procedures.ledgers import Ledger, balance, draw
from engine.procedures.parameters import parameters_for, register_parameters, require_parameters, set_parameters
from tests.conftest import NOW, TEST_DEFINITIONS, build_world

BASE = yaml.safe_load((TEST_DEFINITIONS / "basic_nomination.yaml").read_text(encoding="utf-8"))
FORM = {"award_type": "labour_medal", "nominee_name": "张三", "employer": "某公司", "ownership": "public",
        "merits_summary": "十年扎根一线"}


def problems_of(change) -> list[str]:
    document = copy.deepcopy(BASE)
    change(document)
    with pytest.raises(DefinitionError) as caught:
        parse_definition(yaml.safe_dump(document, allow_unicode=True), "x.yaml")
    return caught.value.problems


def _transition(document, trigger, source):
    return next(t for t in document["transitions"] if t["trigger"] == trigger and source in (
        t["source"] if isinstance(t["source"], list) else [t["source"]]))


# --- Definition checks ----------------------------------------------------------------------------

def test_unknown_actions_are_refused_with_their_place():
    def change(doc):
        _transition(doc, "approve", "township_review")["actions"] = ["no_such_action"]
    assert any('.actions: unknown action "no_such_action"' in p for p in problems_of(change))


def test_a_timer_transition_is_the_systems_and_needs_a_deadline():
    def change(doc):
        doc["states"].append({"id": "waiting", "label": "等待", "kind": "review", "waits_for": "reviewer@city"})
        doc["transitions"] += [
            {"trigger": "timeout", "label": "超时", "source": "waiting", "dest": "rejected", "by": "system", "timer": True},
            {"trigger": "wait", "label": "等待", "source": "city_review", "dest": "waiting", "by": "reviewer@city"},
            {"trigger": "lapse", "label": "x", "source": "township_review", "dest": "rejected",
             "by": "reviewer@township", "timer": True},
        ]
    problems = problems_of(change)
    assert any('timer: "waiting" has no deadline_working_days' in p for p in problems)
    assert any("timer: a timer transition must be `by: system`" in p for p in problems)


def test_on_objection_must_name_a_system_transition_from_a_notice_state():
    def change(doc):
        doc["states"][2]["on_objection"] = "object"
        next(s for s in doc["states"] if s["id"] == "public_notice")["on_objection"] = "object"
    problems = problems_of(change)
    assert any("on_objection: only a notice state takes objections" in p for p in problems)
    assert any('on_objection: no `by: system` transition "object" leaves "public_notice"' in p for p in problems)


def test_records_and_inputs_are_structure_checked():
    def change(doc):
        doc["records"] = [{"type": "visit", "label": "走访", "by": "reviewer@nowhere", "states": ["draft"],
                           "fields": [{"name": "day", "label": "日期", "type": "date"}]}]
        _transition(doc, "approve", "township_review")["inputs"] = [{"name": "n", "label": "n", "type": "colour"}]
    problems = problems_of(change)
    assert any(p.startswith("records[0].by: unknown level \"nowhere\"") for p in problems), problems
    assert any(".inputs[0].type: Must be one of" in p for p in problems), problems


def test_records_subject_and_public_fields_are_checked():
    def change(doc):
        doc["public_fields"] = ["nominee_name", "attachments", "nope"]
        doc["subject_field"] = "nominee_name"
        doc["records"] = [{"type": "visit", "label": "走访", "by": "reviewer@city", "states": ["approved", "zzz"],
                           "fields": [{"name": "day", "label": "日期", "type": "date"}], "unique_by": ["when"]}]
    problems = problems_of(change)
    for expected in ('public_fields: "attachments" (file) may never be shown publicly', 'public_fields: unknown field "nope"',
                     'subject_field: "nominee_name" is not an id_number field', 'records[0].states: unknown state "zzz"',
                     'records[0].states: "approved" is final', 'records[0].unique_by: unknown field "when"'):
        assert any(expected in p for p in problems), (expected, problems)


# --- Ledgers --------------------------------------------------------------------------------------

@pytest.fixture
def cases(session, world):
    return [create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW) for _ in range(3)]


def test_partial_draws_stop_exactly_at_the_cap(session, cases):
    first, second, third = cases
    assert draw(session, "cap:x", "2026", cap=Decimal("100"), wanted=Decimal("60"), case_id=first.id, partial=True) == (
        Decimal("60"), Decimal("40"))
    assert draw(session, "cap:x", "2026", cap=Decimal("100"), wanted=Decimal("60"), case_id=second.id, partial=True) == (
        Decimal("40"), Decimal("0"))
    assert draw(session, "cap:x", "2026", cap=Decimal("100"), wanted=Decimal("1"), case_id=third.id, partial=True)[0] == 0
    assert balance(session, "cap:x", "2026") == (Decimal("100"), Decimal("100"))
    # Another period has its own cap.
    assert draw(session, "cap:x", "2027", cap=Decimal("100"), wanted=Decimal("1"), case_id=third.id, partial=True)[0] == 1


def test_all_or_nothing_draws_and_a_case_draws_once(session, cases):
    first, second, _ = cases
    assert draw(session, "q", "r", cap=Decimal(1), wanted=Decimal(1), case_id=first.id, partial=False)[0] == 1
    assert draw(session, "q", "r", cap=Decimal(1), wanted=Decimal(1), case_id=first.id, partial=False)[0] == 1
    assert draw(session, "q", "r", cap=Decimal(1), wanted=Decimal(1), case_id=second.id, partial=False)[0] == 0
    assert balance(session, "q", "r")[1] == 1


def test_concurrent_draws_never_exceed_the_cap(committed_db):
    with committed_db() as session:
        world = build_world(session)
        ids = [create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW).id
               for _ in range(6)]
        session.commit()
    barrier, granted = threading.Barrier(len(ids)), []

    def take(case_id):
        with committed_db() as s:
            barrier.wait()
            amount, _ = draw(s, "cap:race", "2026", cap=Decimal("250"), wanted=Decimal("100"), case_id=case_id,
                             partial=True)
            s.commit()
            granted.append(amount)

    threads = [threading.Thread(target=take, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(granted, reverse=True) == [100, 100, 50, 0, 0, 0]
    with committed_db() as s:
        assert s.scalar(select(Ledger.used).where(Ledger.account == "cap:race")) == Decimal("250")


# --- Parameter sets -------------------------------------------------------------------------------

class StandardSchema(Schema):
    monthly = fields.Decimal(required=True, places=2, as_string=True)


register_parameters("test.standard", "测试标准", StandardSchema)


def test_the_nearest_unit_and_the_set_in_force_win(session, world):
    set_parameters(session, None, "test.standard", unit=world.unit("city"), valid_from=date(2025, 1, 1),
                   values={"monthly": "800"})
    set_parameters(session, None, "test.standard", unit=world.unit("city"), valid_from=date(2026, 1, 1),
                   values={"monthly": "820"})
    county = set_parameters(session, None, "test.standard", unit=world.unit("A"), valid_from=date(2026, 1, 1),
                            valid_to=date(2026, 12, 31), values={"monthly": "850"})
    a1a, b1a = world.unit("A1a"), world.unit("B1a")
    assert parameters_for(session, "test.standard", a1a.path, date(2026, 6, 1)).values == {"monthly": "850.00"}
    assert parameters_for(session, "test.standard", b1a.path, date(2026, 6, 1)).values == {"monthly": "820.00"}
    assert parameters_for(session, "test.standard", b1a.path, date(2025, 6, 1)).values == {"monthly": "800.00"}
    assert parameters_for(session, "test.standard", a1a.path, date(2027, 1, 1)).values == {"monthly": "820.00"}
    row, values = require_parameters(session, "test.standard", a1a.path, date(2026, 6, 1))
    assert values == {"monthly": Decimal("850.00")} and row.citation()["parameter_set"] == county.id
    with pytest.raises(ConditionFailed) as caught:
        require_parameters(session, "test.standard", a1a.path, date(2024, 6, 1))
    assert "尚未配置2024年适用的「测试标准」" in caught.value.message


def test_bad_figures_and_strangers_are_refused(session, world):
    with pytest.raises(ValidationFailed) as caught:
        set_parameters(session, None, "test.standard", unit=world.unit("city"), valid_from=date(2026, 1, 1),
                       values={"monthly": "很多"})
    assert "values.monthly" in caught.value.fields
    with pytest.raises(PermissionDenied):
        set_parameters(session, world.actor("reviewer_city"), "test.standard", unit=world.unit("city"),
                       valid_from=date(2026, 1, 1), values={"monthly": "1"})
    with pytest.raises(NotFound):  # a set nobody registered: the API's path names it, so 404
        set_parameters(session, None, "test.unknown", unit=world.unit("city"), valid_from=date(2026, 1, 1), values={})


# --- Joint actions and the system party -----------------------------------------------------------

def test_a_joint_action_moves_all_or_none(session, world, cases):
    applicant = world.actor("applicant_A1a")
    for case in cases:
        perform_action(session, applicant, case, "submit", expected_version=case.version, now=NOW)
    stale = [(case, case.version) for case in cases[:2]] + [(cases[2], cases[2].version - 1)]
    with pytest.raises(Exception):
        with session.begin_nested():
            perform_joint_action(session, world.actor("reviewer_A1"), stale, "approve", now=NOW)
    assert {case.state for case in cases} == {"township_review"}
    events = perform_joint_action(session, world.actor("reviewer_A1"), [(c, c.version) for c in cases], "approve", now=NOW)
    assert len(events) == 3 and {case.state for case in cases} == {"county_review"}
    with pytest.raises(ValidationFailed):
        perform_joint_action(session, world.actor("reviewer_A"), [(cases[0], cases[0].version)] * 2, "approve", now=NOW)


def test_people_cannot_fire_system_transitions_nor_the_system_act_for_people(session, world, cases):
    case = cases[0]
    with pytest.raises(PermissionDenied):
        perform_action(session, SYSTEM_ACTOR, case, "submit", expected_version=case.version, now=NOW)


# --- Records --------------------------------------------------------------------------------------

VISIT_KIND = """\
kind: visit_check
label: 走访核查（测试用）
origin_level: grassroots
title_field: name
states:
  - {id: draft, label: 草稿, kind: draft}
  - {id: review, label: 审核, kind: review, waits_for: reviewer@township}
  - {id: done, label: 办结, kind: final}
transitions:
  - {trigger: submit, label: 提交, source: draft, dest: review, by: applicant@origin}
  - {trigger: approve, label: 通过, source: review, dest: done, by: reviewer@township}
form:
  - {name: name, label: 姓名, type: text, required: true}
records:
  - type: visit
    label: 入户走访
    by: reviewer@township
    states: [review]
    unique_by: [day]
    fields:
      - {name: day, label: 走访日期, type: date, required: true}
      - {name: visitors, label: 走访人, type: text, required: true}
      - {name: photos, label: 照片, type: file, max_files: 2, accept: [jpg]}
"""


@pytest.fixture
def visit_case(session, world, tmp_path):
    from engine.definitions.store import sync_definitions

    (tmp_path / "visit_check.yaml").write_text(VISIT_KIND, encoding="utf-8")
    sync_definitions(session, tmp_path)
    case = create_draft(session, world.actor("applicant_A1a"), "visit_check", form={"name": "张三"}, now=NOW)
    perform_action(session, world.actor("applicant_A1a"), case, "submit", expected_version=case.version, now=NOW)
    return case


def test_a_record_is_validated_kept_and_audited(session, world, visit_case, tmp_path):
    from engine.cases.attachments import FileStore, attach_file

    reviewer = world.actor("reviewer_A1")
    photo = attach_file(session, reviewer, visit_case, "visit.photos", filename="a.jpg", content_type="image/jpeg",
                        data=b"\xff\xd8photo", store=FileStore(tmp_path / "files"), expected_version=visit_case.version,
                        now=NOW)
    record = add_record(session, reviewer, visit_case, "visit",
                        {"day": "2026-03-09", "visitors": "王磊、郑华", "photos": [photo.id]}, now=NOW)
    assert record.data == {"day": "2026-03-09", "visitors": "王磊、郑华", "photos": [photo.id]}
    event = case_events(session, visit_case.id)[-1]
    assert (event.action, event.details["record_type"], event.details["data"]["visitors"]) == ("record", "visit", "王磊、郑华")
    with pytest.raises(ValidationFailed) as caught:
        add_record(session, reviewer, visit_case, "visit", {"day": "2026-03-09", "visitors": "别人"}, now=NOW)
    assert "day" in caught.value.fields


def test_record_refusals(session, world, visit_case):
    with pytest.raises(ValidationFailed) as caught:
        add_record(session, world.actor("reviewer_A1"), visit_case, "visit", {"day": "2026-03-09"}, now=NOW)
    assert caught.value.fields == {"visitors": ["请填写「走访人」"]}
    with pytest.raises(PermissionDenied):
        add_record(session, world.actor("reviewer_A"), visit_case, "visit", {"day": "2026-03-09", "visitors": "x"}, now=NOW)
    with pytest.raises(ValidationFailed):
        add_record(session, world.actor("reviewer_A1"), visit_case, "visit",
                   {"day": "2026-03-10", "visitors": "x", "photos": [12345]}, now=NOW)
    with pytest.raises(ValidationFailed):
        add_record(session, world.actor("reviewer_A1"), visit_case, "nothing", {}, now=NOW)
    perform_action(session, world.actor("reviewer_A1"), visit_case, "approve", expected_version=visit_case.version, now=NOW)
    with pytest.raises(InvalidAction):
        add_record(session, world.actor("reviewer_A1"), visit_case, "visit", {"day": "2026-03-11", "visitors": "x"}, now=NOW)


def test_a_voided_record_stays_marked_frees_its_key_and_is_in_the_trail(session, world, visit_case):
    from engine.base.errors import NotFound
    from engine.cases.records import records_of, void_record

    reviewer = world.actor("reviewer_A1")
    wrong = add_record(session, reviewer, visit_case, "visit", {"day": "2026-03-09", "visitors": "王磊"}, now=NOW)
    with pytest.raises(ValidationFailed):
        void_record(session, reviewer, visit_case, wrong.id, "  ", now=NOW)
    with pytest.raises(PermissionDenied):
        void_record(session, world.actor("reviewer_A"), visit_case, wrong.id, "走访人填写错误", now=NOW)
    void_record(session, reviewer, visit_case, wrong.id, "走访人填写错误", now=NOW)
    right = add_record(session, reviewer, visit_case, "visit", {"day": "2026-03-09", "visitors": "王磊、郑华"}, now=NOW)
    assert records_of(session, visit_case, "visit") == [right]
    assert [r.id for r in records_of(session, visit_case, "visit", include_voided=True)] == [wrong.id, right.id]
    assert (wrong.void_reason, wrong.data["visitors"]) == ("走访人填写错误", "王磊")
    event = [e for e in case_events(session, visit_case.id) if e.action == "void_record"][0]
    assert (event.comment, event.details["record_id"]) == ("走访人填写错误", wrong.id)
    with pytest.raises(NotFound):
        void_record(session, reviewer, visit_case, wrong.id, "再次作废", now=NOW)


def test_a_joint_action_takes_one_kind_stage_and_round(session, world, cases):
    applicant = world.actor("applicant_A1a")
    perform_action(session, applicant, cases[0], "submit", expected_version=cases[0].version, now=NOW)
    with pytest.raises(ValidationFailed) as caught:
        perform_joint_action(session, world.actor("reviewer_A1"), [(c, c.version) for c in cases[:2]], "approve", now=NOW)
    assert caught.value.fields == {"cases": ["一起处理的案件须属于同一业务、同一环节和同一批次"]}
    assert cases[0].state == "township_review"
