"""Public notice (公示): what is proposed and whom to contact, and the receipt number (受理编号) by
which an objector follows the objection — random, unique, and telling nothing private."""
from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine.base.errors import NotFound, PermissionDenied, ValidationFailed
from engine.operations.objections import lodge_objection
from engine.org.units import assign_role, create_user, load_actor
from engine.procedures.notices import (
    RECEIPT_PATTERN, RECEIPT_UNKNOWN, Objection, cases_on_notice, normalized_receipt, notice_of, objection_progress,
    set_notice_contact,
)
from engine.procedures.parameters import set_parameters
from tests.conftest import NOW
from tests.test_hardship_aid import OBJECTION, STANDARD_VALUES, Flow
from workflows.hardship_aid import STANDARDS

ANSWER = "经核实该车为其兄弟所有，申请人未使用。"
RULING = "车辆登记在他人名下，异议不成立"


@pytest.fixture
def standards(session, world):
    return set_parameters(session, None, STANDARDS, unit=world.unit("city"), valid_from=date(2026, 1, 1),
                          valid_to=date(2026, 12, 31), values=STANDARD_VALUES)


@pytest.fixture
def flow(session, world) -> Flow:
    return Flow(session, world)


@pytest.fixture
def on_notice(flow, standards):
    return flow.to(flow.draft(), "public_notice")


def lodged(session, case, data=OBJECTION, days=1) -> Objection:
    return lodge_objection(session, case.id, data, now=NOW + timedelta(days=days))


def step_dates(progress: dict) -> dict:
    return {step["step"]: step["at"] for step in progress["steps"] if step["reached"]}


# --- Receipts --------------------------------------------------------------------------------------

def test_each_objection_gets_a_random_receipt_of_the_year(session, flow, on_notice):
    """Is the receipt in the documented form, and a new one for each objection?"""
    first = lodged(session, on_notice)
    flow.act("reviewer_A1a", on_notice, "answer", inputs={"answer": ANSWER}, now=NOW + timedelta(days=2))
    flow.act("reviewer_A", on_notice, "dismiss", comment=RULING, now=NOW + timedelta(days=3))
    second = lodged(session, on_notice, days=4)
    for objection in (first, second):
        assert RECEIPT_PATTERN.match(objection.receipt) and objection.receipt.startswith("YY2026-")
    assert first.receipt != second.receipt


def test_a_receipt_is_unique_in_the_database(session, on_notice):
    objection = lodged(session, on_notice)
    twin = Objection(case_id=on_notice.id, objector_kind="person", objector_name="王群众", contact="13800138001",
                     content=OBJECTION["content"], status="open", lodged_dt=NOW, receipt=objection.receipt)
    session.add(twin)
    with pytest.raises(IntegrityError):
        with session.begin_nested():
            session.flush()


@pytest.mark.parametrize(("typed", "canonical"), [
    ("YY2026-ABCD-EF23", "YY2026-ABCD-EF23"),
    (" yy2026-abcd-ef23 ", "YY2026-ABCD-EF23"),
    ("YY2026ABCDEF23", "YY2026-ABCD-EF23"),
    ("YY2026 - ABCD - EF23", "YY2026-ABCD-EF23"),
    ("YY2026-ABCD-EF2", None),
    ("YY2026-ABCD-EF20", None),  # 0 is not in the alphabet
    ("1", None),
    ("", None),
    (None, None),
])
def test_a_receipt_is_read_as_people_type_it(typed, canonical):
    assert normalized_receipt(typed) == canonical


# --- Following an objection ------------------------------------------------------------------------

def test_the_receipt_follows_the_objection_through_investigation_answer_and_dismissal(session, flow, on_notice):
    objection = lodged(session, on_notice)
    progress = objection_progress(session, objection.receipt.lower())
    assert (progress["receipt"], progress["status"], progress["status_label"]) == (objection.receipt, "open", "核查中")
    assert progress["kind_label"] == "困难职工帮扶申请" and progress["notice_case_id"] == on_notice.id
    assert [(step["step"], step["reached"], step["current"]) for step in progress["steps"]] == [
        ("received", True, False), ("investigating", True, True), ("answered", False, False),
        ("decided", False, False)]
    flow.act("reviewer_A1a", on_notice, "answer", inputs={"answer": ANSWER}, now=NOW + timedelta(days=2))
    progress = objection_progress(session, objection.receipt)
    assert (progress["status"], progress["status_label"]) == ("answered", "已答复，待裁定")
    assert step_dates(progress)["answered"] == NOW + timedelta(days=2)
    flow.act("reviewer_A", on_notice, "dismiss", comment=RULING, now=NOW + timedelta(days=3))
    progress = objection_progress(session, objection.receipt)
    assert (progress["status"], progress["status_label"]) == ("dismissed", "异议不成立")
    assert step_dates(progress) == {"received": NOW + timedelta(days=1), "investigating": NOW + timedelta(days=1),
                                    "answered": NOW + timedelta(days=2), "decided": NOW + timedelta(days=3)}
    assert progress["steps"][-1] | {"at": None} == {"step": "decided", "label": "异议不成立", "reached": True,
                                                     "at": None, "current": True, "skipped": False}


def test_an_upheld_objection_reads_upheld_and_the_notice_is_gone(session, flow, on_notice):
    objection = lodged(session, on_notice)
    flow.act("reviewer_A1a", on_notice, "answer", inputs={"answer": ANSWER}, now=NOW + timedelta(days=2))
    flow.act("reviewer_A", on_notice, "uphold", comment="属排除情形", now=NOW + timedelta(days=3))
    progress = objection_progress(session, objection.receipt, now=NOW + timedelta(days=3))
    assert (progress["status_label"], progress["notice_case_id"]) == ("异议成立", None)


def test_an_unanswered_objection_reads_lapsed_with_the_answer_skipped(session, on_notice):
    from engine.operations.timers import fire_due_timers
    objection = lodged(session, on_notice)
    fire_due_timers(session, NOW + timedelta(days=15))
    progress = objection_progress(session, objection.receipt)
    assert progress["status"] == "lapsed" and progress["status_label"] == "逾期未答复，该事项已终止"
    answered = progress["steps"][2]
    assert (answered["reached"], answered["skipped"]) == (False, True)


def test_the_progress_tells_nothing_of_the_objector_the_answer_or_the_person_noticed(session, flow, on_notice):
    objection = lodged(session, on_notice, OBJECTION | {"objector_kind": "unit", "unit_name": "某某公司"})
    flow.act("reviewer_A1a", on_notice, "answer", inputs={"answer": ANSWER}, now=NOW + timedelta(days=2))
    flow.act("reviewer_A", on_notice, "dismiss", comment=RULING, now=NOW + timedelta(days=3))
    shown = json.dumps(objection_progress(session, objection.receipt), default=str, ensure_ascii=False)
    form = on_notice.form_data
    for private in (OBJECTION["objector_name"], OBJECTION["contact"], OBJECTION["content"], "某某公司", ANSWER,
                    RULING, form["applicant_name"], form["id_number"], form["bank_account"], form["phone"],
                    "objector", "content", "answer\""):
        assert private not in shown


@pytest.mark.parametrize("receipt", ["YY2026-ABCD-EFGH", "YY2026-ABCD", "not a receipt", "", None])
def test_an_unknown_or_malformed_receipt_is_not_found_the_same_way(session, on_notice, receipt):
    lodged(session, on_notice)
    with pytest.raises(NotFound) as caught:
        objection_progress(session, receipt)
    assert caught.value.message == RECEIPT_UNKNOWN


# --- What is proposed, whom to contact, and the notice during an objection -------------------------

def test_a_notice_says_what_is_proposed_and_whom_to_contact(session, world, on_notice):
    """The contact is that of the unit holding the notice (the county for hardship aid), as its admin set it."""
    entry = notice_of(session, on_notice.id, now=NOW + timedelta(days=1))
    assert entry["proposed"] == {"label": "拟给予帮扶", "value": "困难职工生活救助"}
    county = world.unit("A")
    assert entry["contact"] == {"unit_id": county.id, "unit_name": county.name, "person": None, "phone": None,
                                "address": None}
    set_notice_contact(session, world.actor("admin"), county.id,
                       {"person": "王主任", "phone": "0571-87654321", "address": "县总工会三楼信访室"})
    entry = notice_of(session, on_notice.id, now=NOW + timedelta(days=1))
    assert entry["contact"] | {"unit_id": None} == {"unit_id": None, "unit_name": county.name, "person": "王主任",
                                                    "phone": "0571-87654321", "address": "县总工会三楼信访室"}
    objection = lodged(session, on_notice)
    assert objection_progress(session, objection.receipt)["contact"]["person"] == "王主任"


def test_a_blank_contact_part_clears_it(session, world):
    county = world.unit("A")
    set_notice_contact(session, world.actor("admin"), county.id, {"person": "王主任", "phone": "13900001111"})
    contact = set_notice_contact(session, world.actor("admin"), county.id, {"person": "  ", "address": "三楼"})
    assert (contact["person"], contact["phone"], contact["address"]) == (None, "13900001111", "三楼")


@pytest.mark.parametrize(("data", "field"), [
    ({"phone": "12345"}, "phone"),
    ({"person": "王" * 51}, "person"),
    ({"address": "路" * 201}, "address"),
    ({"email": "a@b.cn"}, "email"),
])
def test_a_bad_contact_is_refused_at_its_field(session, world, data, field):
    with pytest.raises(ValidationFailed) as caught:
        set_notice_contact(session, world.actor("admin"), world.unit("A").id, data)
    assert set(caught.value.fields) == {field}


def test_only_an_admin_of_the_unit_sets_its_contact(session, world):
    """Is a county admin refused the other county's contact, and a reviewer any?"""
    user = create_user(session, username="admin_county_b", display_name="B区管理员")
    assign_role(session, user, "admin", world.unit("B"))
    with pytest.raises(NotFound):
        set_notice_contact(session, load_actor(session, user.id), world.unit("A").id, {"person": "王主任"})
    with pytest.raises(PermissionDenied):
        set_notice_contact(session, world.actor("reviewer_A"), world.unit("A").id, {"person": "王主任"})


def test_a_nomination_names_the_honour_proposed_from_its_award_type(session):
    from engine.definitions.store import current_definition
    definition = current_definition(session, "honours")
    assert (definition.notice_proposed.label, definition.notice_proposed.field) == ("拟授予荣誉", "award_type")


def test_the_notice_under_investigation_stays_listed_until_the_objection_is_decided(session, flow, on_notice):
    lodged(session, on_notice)
    long_after = NOW + timedelta(days=60)  # the notice period is long over
    [entry] = cases_on_notice(session, now=long_after)
    assert (entry["case_id"], entry["state_label"], entry["accepts_objections"]) == (on_notice.id, "异议核查中", False)
    flow.act("reviewer_A1a", on_notice, "answer", inputs={"answer": ANSWER}, now=long_after)
    assert [entry["state_label"] for entry in cases_on_notice(session, now=long_after)] == ["异议核查中"]
    flow.act("reviewer_A", on_notice, "uphold", comment="属排除情形", now=long_after)
    assert cases_on_notice(session, now=long_after) == []


def test_receipts_look_random(session, flow, standards):
    """No two of a run share a prefix that would betray a counter."""
    receipts = []
    for i in range(1, 6):
        case = flow.to(flow.draft(i), "public_notice")
        receipts.append(lodged(session, case).receipt)
    tails = [re.sub(r"^YY\d{4}-", "", receipt) for receipt in receipts]
    assert len(set(tails)) == 5 and len({tail[:4] for tail in tails}) > 1
    assert session.scalar(select(Objection.receipt).order_by(Objection.id)) == receipts[0]
