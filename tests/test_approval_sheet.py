"""The approval sheet (engine.reading.approval_sheet): the form as the reader may read it, each
level's decision in order with its signer, unit and date, a deputy's 「代 某某」, the opinions asked
(加签) under the level that asked them, internal comments only for those who may read them, in a
handful of statements however long the case."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import event

from engine.cases.attachments import FileStore, attach_file
from engine.cases.case import Case
from engine.operations.holding import claim_task
from engine.operations.opinions import ask_opinions, give_opinion
from engine.operations.transitions import approve_case, update_draft
from engine.org.units import load_actor
from engine.procedures.juries import cast_vote
from engine.procedures.parameters import set_parameters
from engine.reading.approval_sheet import approval_sheet
from tests.api_v1.test_cases import ID_NUMBER, MASKED_ID, nominate
from tests.conftest import NOW
from tests.test_delegations import away
from tests.test_hardship_aid import ACCOUNT, STANDARD_VALUES, Flow, id_number
from tests.test_holding import submitted
from tests.test_honours import Honours
from workflows.hardship_aid import STANDARDS

LATER = NOW + timedelta(hours=3)


def passed_three_levels(session, world) -> Case:
    """A hardship aid application the grassroots union, the township and the county passed, each
    with its opinion, the county after asking the city's opinion; it is now on public notice."""
    set_parameters(session, None, STANDARDS, unit=world.unit("city"), valid_from=date(2026, 1, 1),
                   valid_to=date(2026, 12, 31), values=STANDARD_VALUES)
    flow = Flow(session, world)
    case = flow.submitted()
    flow.visit(case)
    flow.act("reviewer_A1a", case, "evaluate", comment="两人入户走访，情况属实，评议通过")
    flow.act("reviewer_A1", case, "approve", comment="复核属实，同意上报", now=NOW + timedelta(days=1))
    ask_opinions(session, world.actor("reviewer_A"), case, user_ids=[world.users["reviewer_city"].id],
                 note="请就帮扶类别提出意见", expected_version=case.version, now=NOW + timedelta(days=2))
    give_opinion(session, world.actor("reviewer_city"), case, opinion="属因病致困，同意", now=NOW + timedelta(days=2))
    flow.act("reviewer_A", case, "approve", comment="同意帮扶，进入公示", now=NOW + timedelta(days=3))
    return case


@pytest.fixture
def aid(session, world) -> Case:
    return passed_three_levels(session, world)


def decided(sheet: dict) -> list[tuple]:
    return [(level["state"], level["action_label"], level["opinion"], level["signer"], level["unit_name"],
             level["unit_level_label"]) for level in sheet["levels"] if level["decided"]]


def test_each_level_signs_its_decision_in_order_and_the_level_waiting_closes_the_sheet(session, world, aid):
    sheet = approval_sheet(session, world.actor("reviewer_A"), aid, now=LATER)
    assert (sheet["kind_label"], sheet["id"], sheet["title"]) == ("困难职工帮扶申请", aid.id, "职工1")
    assert sheet["origin_unit"].name == "A1a公司工会" and sheet["submitted_at"] == NOW
    assert sheet["printed_at"] == LATER
    assert decided(sheet) == [
        ("home_visit", "已入户走访，评议通过，报镇（街道）总工会复核", "两人入户走访，情况属实，评议通过", "reviewer_A1a",
         "A1a公司工会", "基层工会"),
        ("township_review", "复核通过，报县（区）帮扶中心", "复核属实，同意上报", "reviewer_A1", "A1街道总工会", "镇（街道）总工会"),
        ("county_review", "审核通过，进入公示", "同意帮扶，进入公示", "reviewer_A", "A区总工会", "县（区）总工会"),
    ]
    assert [level["at"] for level in sheet["levels"][:3]] == [NOW, NOW + timedelta(days=1), NOW + timedelta(days=3)]
    # The opinion asked by the county is under the county's decision, not a level of its own.
    assert [level["consulted"] for level in sheet["levels"][:2]] == [[], []]
    [asked] = sheet["levels"][2]["consulted"]
    assert (asked["signer"], asked["unit_name"], asked["opinion"], asked["at"]) == (
        "reviewer_city", "示范市总工会", "属因病致困，同意", NOW + timedelta(days=2))
    # On public notice: that level is still to decide.
    waiting = sheet["levels"][3]
    assert (waiting["state"], waiting["state_label"], waiting["decided"], waiting["signer"]) == (
        "public_notice", "公示", False, None)


def test_the_form_reads_in_the_definitions_order_with_labels_and_personal_data_as_the_reader_may_see_it(
        session, world, aid):
    reviewer = approval_sheet(session, world.actor("reviewer_A1"), aid)
    applicant = approval_sheet(session, world.actor("applicant_A1a"), aid)
    assert [row["name"] for row in reviewer["form_rows"]] == [spec.name for spec in aid.definition.fields]
    rows = {row["name"]: row for row in reviewer["form_rows"]}
    assert (rows["id_number"]["label"], rows["id_number"]["text"]) == ("身份证号码", id_number(1))
    assert rows["bank_account"]["text"] == ACCOUNT
    assert (rows["hardship_reason"]["value"], rows["hardship_reason"]["text"]) == ("illness", "因病")
    assert rows["household_head_id_number"]["text"] is None  # not filled in
    masked = {row["name"]: row["text"] for row in applicant["form_rows"]}
    assert masked["id_number"] != id_number(1) and masked["id_number"].endswith(id_number(1)[-4:])
    assert masked["bank_account"] != ACCOUNT and masked["bank_account"].endswith(ACCOUNT[-4:])
    assert masked["applicant_name"] == "职工1"
    # Both read the same decisions.
    assert decided(applicant) == decided(reviewer)


def test_the_outcome_reads_by_its_labels_and_the_engines_own_step_is_not_signed(session, world, aid):
    later = NOW + timedelta(days=20)  # past the notice period (five working days from the county's approval)
    flow = Flow(session, world)
    flow.act("system", aid, "notice_ended", now=later)
    flow.act("reviewer_A", aid, "approve", inputs={"approved_amount": "6000.00", "reason": "已获民政临时救助"}, now=later)
    sheet = approval_sheet(session, world.actor("applicant_A1a"), aid)
    assert [(row["label"], row["text"]) for row in sheet["outcome_rows"]] == [
        ("核定金额（调低时填写，元）", "6000.00"), ("调低理由", "已获民政临时救助")]
    notice, approval, waiting = sheet["levels"][3:]
    assert (notice["state"], notice["action_label"], notice["by_system"]) == ("public_notice", "公示期满无异议", True)
    assert (approval["state"], approval["signer"], approval["by_system"]) == ("approval", "reviewer_A", False)
    assert (waiting["state"], waiting["decided"]) == ("disbursement", False)


def test_a_deputys_decision_reads_on_behalf_of_the_person_away(session, world):
    case = submitted(session, world)
    claim_task(session, world.actor("reviewer_A1"), case, expected_version=case.version, now=NOW)
    away(session, world)
    deputy = load_actor(session, world.users["reviewer_A1_and_A"].id, now=NOW)
    approve_case(session, deputy, case, expected_version=case.version, comment="同意推荐", now=NOW)
    [township, waiting] = approval_sheet(session, world.actor("reviewer_A"), case)["levels"]
    assert (township["signer"], township["on_behalf_of"], township["opinion"]) == (
        "reviewer_A1_and_A", "reviewer_A1", "同意推荐")
    assert (waiting["state"], waiting["decided"]) == ("county_review", False)


def test_opinions_given_at_the_level_waiting_are_listed_under_it(session, world):
    case = submitted(session, world)
    ask_opinions(session, world.actor("reviewer_A1"), case, user_ids=[world.users["reviewer_A"].id], note="请提意见",
                 expected_version=case.version, now=NOW)
    give_opinion(session, world.actor("reviewer_A"), case, opinion="建议推荐", now=NOW)
    [waiting] = approval_sheet(session, world.actor("reviewer_A1"), case)["levels"]
    assert waiting["state"] == "township_review" and not waiting["decided"]
    assert [(opinion["signer"], opinion["opinion"]) for opinion in waiting["consulted"]] == [("reviewer_A", "建议推荐")]


def test_internal_comments_are_for_the_reviewers_and_auditors_not_the_applicant(session, world):
    honours = Honours(session, world)
    case = honours.at_jury(id_number=ID_NUMBER)
    for juror in honours.jurors:
        cast_vote(session, juror, case, "approve", now=NOW)
    honours.act("reviewer_city", case, "pass_jury", comment="评委一致认为事迹突出")

    def jury_level(who):
        levels = approval_sheet(session, world.actor(who), case)["levels"]
        return next(level for level in levels if level["action"] == "pass_jury")

    for who in ("reviewer_city", "auditor_city"):
        level = jury_level(who)
        assert (level["opinion"], level["opinion_hidden"]) == ("评委一致认为事迹突出", False), who
    level = jury_level("applicant_A1a")
    assert (level["opinion"], level["opinion_hidden"], level["signer"]) == (None, True, "reviewer_city")
    assert {row["name"]: row["text"] for row in approval_sheet(session, world.actor("applicant_A1a"), case)[
        "form_rows"]}["id_number"] == MASKED_ID


def test_the_files_of_the_form_are_named(session, world, tmp_path):
    case = nominate(session, world)
    applicant = world.actor("applicant_A1a")
    attachment = attach_file(session, applicant, case, "attachments", filename="推荐表.pdf",
                             content_type="application/pdf", data=b"%PDF-1.4 test",
                             store=FileStore(tmp_path / "attachments"), expected_version=case.version, now=NOW)
    update_draft(session, applicant, case, {"attachments": [attachment.id]}, expected_version=case.version, now=NOW)
    rows = {row["name"]: row for row in approval_sheet(session, applicant, case)["form_rows"]}
    assert (rows["attachments"]["value"], rows["attachments"]["text"]) == ([attachment.id], "推荐表.pdf")


def _statements(session, database, case_id: int, who) -> int:
    session.expunge_all()
    counted = []

    def record(*_args):
        counted.append(1)

    event.listen(database, "before_cursor_execute", record)
    try:
        approval_sheet(session, who, session.get(Case, case_id))
    finally:
        event.remove(database, "before_cursor_execute", record)
    return len(counted)


def test_a_long_case_costs_no_more_statements_than_a_short_one(session, database, world):
    short = submitted(session, world)
    long = submitted(session, world)
    for name in ("reviewer_A1", "reviewer_A", "reviewer_city"):
        approve_case(session, world.actor(name), long, expected_version=long.version, comment="同意", now=NOW)
    session.commit()
    reader = world.actor("reviewer_city")
    _statements(session, database, short.id, reader)  # the definition, cached per process, read once
    counts = [_statements(session, database, case.id, reader) for case in (short, long)]
    assert counts[0] == counts[1] and counts[1] <= 4, counts
