"""Who acted, as the audit trail records it: every event written by a signed-in person carries
the role and unit they acted under, so the auditor's search never files a person's act under
「公众或系统」. Only the public (an objection) and the system (timers) act without a grant."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine.audit.chain import AuditEvent, case_events
from engine.cases.attachments import FileStore, attach_file
from engine.cases.records import add_record, void_record
from engine.operations.objections import lodge_objection
from engine.operations.transitions import comment_on_case, update_draft
from engine.operations.urging import urge_case
from engine.procedures.juries import cast_vote
from tests.conftest import NOW
from tests.test_hardship_aid import OBJECTION
from tests.test_honours import Honours
from tests.test_tabular_import import competition, csv_file, result_row, run_import
from workflows.honours import request_revocation


def test_a_jury_vote_records_the_juror_acting_for_the_rounds_jury(session, world):
    honours = Honours(session, world)
    case = honours.at_jury()
    cast_vote(session, world.actor("reviewer_B"), case, "approve", now=NOW)
    vote = case_events(session, case.id)[-1]
    assert vote.action == "vote" and vote.actor_name == "reviewer_B"
    # The juror sits on the city's jury, whatever unit his own grants are at.
    assert (vote.actor_role, vote.actor_unit_id, vote.actor_unit_name) == ("juror", world.unit("city").id, "示范市总工会")


def test_every_event_of_a_signed_in_person_carries_role_and_unit(session, world, tmp_path):
    """Drives every kind of event a person writes (form, files, records, comments, urges,
    transitions, votes, answers, imports, revocations) and checks them all."""
    honours = Honours(session, world)
    applicant = world.actor("applicant_A1a")
    case = honours.draft()
    update_draft(session, applicant, case, {"post": "焊工"}, expected_version=case.version, now=NOW)
    attach_file(session, applicant, case, "attachments", filename="推荐表.pdf", content_type="application/pdf",
                data=b"%PDF-1.4 test", store=FileStore(tmp_path / "files"), expected_version=case.version, now=NOW)
    comment_on_case(session, applicant, case, "请审核", now=NOW)
    honours.act("applicant_A1a", case, "submit")
    township = world.actor("reviewer_A1")
    record = add_record(session, township, case, "veto_declaration", {"item": "safety_accident", "applies": "no"},
                        now=NOW)
    void_record(session, township, case, record.id, "重复登记", now=NOW)
    urge_case(session, applicant, case, note="请尽快审核", now=NOW)
    for reviewer in ("reviewer_A1", "reviewer_A"):
        honours.act(reviewer, case, "approve")
    honours.opinions(case)
    honours.act("reviewer_city", case, "approve")
    for juror in honours.jurors:
        cast_vote(session, juror, case, "approve", now=NOW)
    honours.act("reviewer_city", case, "pass_jury")
    lodge_objection(session, case.id, OBJECTION, now=NOW)
    honours.act("applicant_A1a", case, "answer_objection", inputs={"answer": "经核实，反映的问题不属实。"})
    honours.act("reviewer_city", case, "dismiss_objection")
    later = honours.notice_due(case) + timedelta(minutes=1)
    honours.act(None, case, "close_notice", now=later)
    honours.act("reviewer_city", case, "approve", now=later,
                inputs={"decision_number": "示工发〔2026〕12号", "decision_date": "2026-04-28"})
    revocation = request_revocation(session, applicant, case, {"ground": "faked_merits", "reason": "事迹弄虚作假"},
                                    now=later)
    for actor, trigger in (("applicant_A1a", "submit"), ("reviewer_A1", "approve"), ("reviewer_A", "approve")):
        honours.act(actor, revocation, trigger, now=later)
    honours.act("reviewer_city", revocation, "approve", now=later,
                inputs={"decision_number": "示工发〔2026〕30号", "decision_date": "2026-09-01"})
    results = competition(session, world)
    run_import(session, world, results, csv_file([result_row(1, "张三")]))

    events = session.scalars(select(AuditEvent)).all()
    by_people = [event for event in events if event.actor_id is not None]
    assert {event.action for event in by_people} >= {
        "create", "update_form", "attach_file", "record", "void_record", "comment", "submit", "urge", "approve",
        "vote", "pass_jury", "answer_objection", "dismiss_objection", "revoke", "import_table"}
    unattributed = [(event.action, event.actor_name) for event in by_people
                    if not (event.actor_role and event.actor_unit_id and event.actor_unit_name)]
    assert unattributed == []
    # The public and the system act without a grant, and say so.
    assert {(event.action, event.actor_name) for event in events if event.actor_id is None} == {
        ("objection", "公众"), ("object", "系统"), ("close_notice", "系统")}
