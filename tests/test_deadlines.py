"""Deadlines, reminders, escalation, automatic transitions and urging (engine.cases.deadlines,
engine.operations.timers, engine.operations.urging), on an injected clock across Labour Day 2026 and its make-up day."""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import event, select, update

from engine.audit.chain import case_events
from engine.base.config import LOCAL_TZ
from engine.base.errors import (
    ConditionFailed, Conflict, DefinitionError, InvalidAction, PermissionDenied, ValidationFailed,
)
from engine.calendar.working_days import forget_cached_calendars
from engine.cases.attachments import FileStore
from engine.cases.case import Case
from engine.cases.tasks import Task, waiting_task
from engine.definitions.parse import parse_definition
from engine.notify.notifications import Notification, mark_all_read, notifications_for, open_notification, unread_count
from engine.operations.calendar_keeping import enter_calendar_days, remove_calendar_day
from engine.operations.deadline_scan import process_deadlines, scan_deadlines
from engine.operations.objections import lodge_objection
from engine.operations.transitions import create_draft, perform_action, resubmit_case, return_case
from engine.operations.urging import urge_case, urge_grant, urge_of_stage
from engine.org.units import SYSTEM_ACTOR
from tests.conftest import NOW, build_world
from tests.test_honours import Honours
from tests.test_medical_subsidy import SCHEME_VALUES, _form, attach_documents
from workflows.medical_subsidy import SCHEMES


def local(*args) -> datetime:
    return datetime(*args, tzinfo=LOCAL_TZ)


# Labour Day 2026: 1–5 May off, Saturday 9 May a make-up working day.
BEFORE_LABOUR_DAY = local(2026, 4, 29, 10, 0)


def scan(session, now):
    """One batch of the scan, committed as the worker's task commits it (what it did is told then)."""
    ids = list(session.scalars(select(Task.id).where(Task.next_check_dt <= now)))
    report = process_deadlines(session, ids, now)
    session.commit()
    return report


def notes(session, case, **filters):
    query = select(Notification).where(Notification.case_id == case.id).filter_by(**filters)
    return list(session.scalars(query.order_by(Notification.id)))


def user_names(session, world, rows):
    names = {user.id: name for name, user in world.users.items()}
    return sorted(names[row.user_id] for row in rows)


@pytest.fixture
def honours(session, world):
    return Honours(session, world)


def on_notice_at(honours, moment):
    """A nomination the jury passes at ``moment``: the 5-working-day notice starts then."""
    case = honours.at_jury()
    for juror in honours.jurors:
        from engine.procedures.juries import cast_vote
        cast_vote(honours.session, juror, case, "approve", now=NOW)
    honours.act("reviewer_city", case, "pass_jury", now=moment)
    return case


# --- Rows follow the state ------------------------------------------------------------------------

def test_entering_a_waiting_state_opens_a_row_and_leaving_closes_it(session, world, honours):
    case = honours.submitted()
    row = waiting_task(session, case.id)
    assert (row.state, row.role, row.unit_id) == ("township_review", "reviewer", world.unit("A1").id)
    # Monday 9 March + 3 working days: ends with Thursday 12 March.
    assert row.due_dt == local(2026, 3, 13)
    assert session.scalar(select(Task.due_dt).where(Task.closed_dt.is_(None), Task.case_id == case.id)) == row.due_dt
    honours.act("reviewer_A1", case, "approve")
    session.refresh(row)
    assert row.closed_dt == NOW and row.next_check_dt is None
    assert waiting_task(session, case.id).state == "county_review"


def test_the_notice_across_labour_day_counts_the_make_up_saturday(session, world, honours):
    case = on_notice_at(honours, BEFORE_LABOUR_DAY)
    row = waiting_task(session, case.id)
    # 30 April, then 6, 7, 8 and Saturday 9 May (make-up day): over at midnight after 9 May.
    assert row.due_dt == local(2026, 5, 10)
    # First reminder: two working days before the last day (7 May), at the reminder hour.
    assert row.next_check_dt == local(2026, 5, 7, 9)


def test_reminders_go_out_once_each_to_the_reviewers_then_the_notice_ends_by_itself(session, world, honours):
    case = on_notice_at(honours, BEFORE_LABOUR_DAY)
    assert scan(session, local(2026, 5, 7, 8, 59)).reminders == 0
    assert scan(session, local(2026, 5, 7, 9, 0)).reminders == 1
    assert scan(session, local(2026, 5, 7, 9, 5)).reminders == 0  # idempotent: nothing due twice
    [first] = notes(session, case, kind="reminder")
    assert user_names(session, world, [first]) == ["reviewer_city"]
    assert "还有 2 个工作日到期" in first.subject and "最迟办理日 2026-05-09，" in first.body
    assert scan(session, local(2026, 5, 9, 9, 0)).reminders == 1  # on the (make-up) day itself
    assert "今天到期" in notes(session, case, kind="reminder")[1].subject

    report = scan(session, local(2026, 5, 10, 0, 0))
    assert report.transitions == [(case.id, "close_notice")] and case.state == "final_approval"
    event = case_events(session, case.id)[-1]
    assert (event.action, event.actor_id, event.actor_name) == ("close_notice", None, "系统")
    assert event.details["deadline"] == {"state": "public_notice", "rule": "5 个工作日",
                                         "due": local(2026, 5, 10).astimezone(NOW.tzinfo).isoformat()}
    assert event.details["rules"] == [{"rule": "no_open_objections", "version": "1"}]
    told = notes(session, case, kind="automatic")
    assert user_names(session, world, told) == ["applicant_A1a", "reviewer_city"]  # and whom it now waits for
    assert "公示期满无异议" in told[0].subject


def test_after_escalation_the_reviewers_are_reminded_every_two_working_days_until_someone_acts(
        session, world, honours):
    case = honours.submitted()  # Monday 9 March: three working days, the last one Thursday 12 March
    task = waiting_task(session, case.id)
    assert scan(session, local(2026, 3, 13, 0, 5)).escalations == 1
    # Again every 2 working days (honours.yaml) after the last day: Monday 16, Wednesday 18, ...
    assert task.next_check_dt == local(2026, 3, 16, 9)
    assert scan(session, local(2026, 3, 16, 8, 59)).reminders == 0
    assert scan(session, local(2026, 3, 16, 9, 0)).reminders == 1
    assert scan(session, local(2026, 3, 16, 9, 30)).reminders == 0  # once each
    again = notes(session, case, key=f"deadline:{task.id}:overdue:1")
    assert sorted(user_names(session, world, again)) == ["reviewer_A1", "reviewer_A1_and_A"]
    assert again[0].subject == f"【仍未办理】{case.title}：镇（街道）总工会审核已逾期 2 个工作日"
    assert "最迟办理日 2026-03-12，已逾期 2 个工作日，上级单位已督办" in again[0].body
    assert task.next_check_dt == local(2026, 3, 18, 9)
    # After a week's downtime, the latest one only (Friday 20 March), then on Tuesday 24.
    assert scan(session, local(2026, 3, 23, 10, 0)).reminders == 1
    assert [n.key for n in notes(session, case, kind="overdue", user_id=world.users["reviewer_A1"].id)] == [
        f"deadline:{task.id}:overdue", f"deadline:{task.id}:overdue:1", f"deadline:{task.id}:overdue:3"]
    assert task.next_check_dt == local(2026, 3, 24, 9)
    honours.act("reviewer_A1", case, "approve", now=local(2026, 3, 23, 11, 0))
    session.commit()
    assert scan(session, local(2026, 3, 24, 9, 0)).reminders == 0


def test_a_state_may_turn_the_repeats_off_and_the_definition_leaves_them_off_by_default():
    definition = parse_definition(_definition_with("    deadline_working_days: 3\n    remind_overdue_every_working_days: 0",
                                                   "remind_overdue_every_working_days: 5"), "timed.yaml")
    assert definition.overdue_reminders_every(definition.state("review")) is None
    assert definition.overdue_reminders_every(definition.state("draft")) == 5
    plain = parse_definition(_definition_with("    deadline_working_days: 3"), "timed.yaml")
    assert plain.overdue_reminders_every(plain.state("review")) is None


def test_a_scan_after_downtime_acts_once_and_skips_the_moot_reminders(session, world, honours):
    case = on_notice_at(honours, BEFORE_LABOUR_DAY)
    report = scan(session, local(2026, 5, 12, 10, 0))  # the worker was down for five days
    assert (report.reminders, report.transitions) == (0, [(case.id, "close_notice")])
    assert notes(session, case, kind="reminder") == []
    assert scan(session, local(2026, 5, 12, 10, 1)).transitions == []


def test_a_late_scan_sends_only_the_latest_reminder(session, world, honours):
    case = on_notice_at(honours, BEFORE_LABOUR_DAY)
    assert scan(session, local(2026, 5, 9, 12, 0)).reminders == 1
    [only] = notes(session, case, kind="reminder")
    assert "今天到期" in only.subject


# --- Escalation -----------------------------------------------------------------------------------

def test_an_overdue_review_is_marked_and_escalated_one_level_up_and_the_applicant_told(session, world, honours):
    case = honours.submitted()
    due = waiting_task(session, case.id).due_dt
    report = scan(session, due)
    assert (report.escalations, report.transitions) == (1, [])
    row = waiting_task(session, case.id)
    assert row.overdue_dt == due and row.next_check_dt == local(2026, 3, 16, 9)  # reminded again then
    assert user_names(session, world, notes(session, case, kind="escalation")) == ["reviewer_A", "reviewer_A1_and_A"]
    overdue = notes(session, case, kind="overdue")
    assert user_names(session, world, overdue) == ["applicant_A1a", "reviewer_A1", "reviewer_A1_and_A"]
    assert "A1街道总工会审核人" in notes(session, case, kind="escalation")[0].body
    assert scan(session, due + timedelta(days=3)).escalations == 0  # escalated once
    assert len(notes(session, case, kind="escalation")) == 2


def test_a_batch_of_reminders_and_escalations_writes_its_tasks_in_one_statement(session, world, honours, database):
    """Tasks of one batch are written together whatever each changed (a reminder, an escalation),
    not a row per task as the flush would: and what is written is what each task became."""
    reminded, escalated = honours.submitted(), honours.submitted()
    thursday = local(2026, 3, 12)
    session.execute(update(Task).where(Task.case_id == escalated.id, Task.closed_dt.is_(None))
                    .values(due_dt=thursday, next_check_dt=thursday))
    statements = []
    record = lambda _conn, _cursor, statement, *_args: statements.append(statement.split(None, 2)[:2])  # noqa: E731
    event.listen(database, "before_cursor_execute", record)
    try:
        report = scan(session, thursday + timedelta(hours=10))
        session.flush()
    finally:
        event.remove(database, "before_cursor_execute", record)
    assert (report.reminders, report.escalations) == (1, 1)
    assert statements.count(["UPDATE", "tasks"]) == 1
    session.expire_all()
    assert waiting_task(session, reminded.id).reminders_done == 2
    assert waiting_task(session, escalated.id).overdue_dt == thursday + timedelta(hours=10)


def test_a_timer_refused_by_its_rule_escalates_instead(session, world, honours):
    """The notice cannot close by itself while an objection is open: people must act."""
    case = on_notice_at(honours, BEFORE_LABOUR_DAY)
    row = waiting_task(session, case.id)
    perform = honours.session
    # An objection that did not move the case (as if lodged outside the notice flow).
    from engine.procedures.notices import Objection
    perform.add(Objection(case_id=case.id, objector_kind="person", objector_name="李群众", contact="13800138000",
                          content="请核实", status="open", lodged_dt=NOW, receipt="YY2026-AAAA-AAAA"))
    perform.flush()
    report = scan(session, row.due_dt)
    assert report.transitions == [] and report.escalations == 1
    assert report.refused[0][:2] == (case.id, "close_notice")
    assert case.state == "public_notice" and waiting_task(session, case.id).overdue_dt is not None


# --- Automatic transitions ------------------------------------------------------------------------

def test_an_unanswered_objection_withdraws_the_nomination_when_its_deadline_passes(session, world, honours):
    case = on_notice_at(honours, BEFORE_LABOUR_DAY)
    lodge_objection(session, case.id, {"objector_kind": "person", "objector_name": "李群众", "contact": "13800138000",
                                       "content": "推荐材料中的业绩数据与实际不符，请核实。"},
                    now=local(2026, 4, 30, 10, 0))
    assert case.state == "under_investigation"
    row = waiting_task(session, case.id)
    assert (row.role, row.unit_id) == ("applicant", world.unit("A1a").id)
    report = scan(session, row.due_dt)
    assert report.transitions == [(case.id, "answer_overdue")] and case.state == "withdrawn"
    assert case_events(session, case.id)[-1].details["deadline"]["state"] == "under_investigation"


def test_drafts_of_a_round_are_locked_when_its_window_closes(session, world):
    honours = Honours(session, world, closes=NOW + timedelta(days=3))
    draft = honours.draft()
    submitted = honours.submitted()
    row = waiting_task(session, draft.id)
    assert (row.role, row.due_dt) == ("applicant", honours.round.closes_dt)
    report = scan(session, honours.round.closes_dt)
    assert report.transitions == [(draft.id, "lock_draft")]
    assert draft.state == "lapsed" and submitted.state == "township_review"
    event = case_events(session, draft.id)[-1]
    assert event.details["deadline"]["rule"] == "round_close"
    with pytest.raises(InvalidAction):
        honours.act("applicant_A1a", draft, "submit", now=honours.round.closes_dt)


def test_the_applicant_is_reminded_before_the_round_closes(session, world):
    honours = Honours(session, world, closes=local(2026, 3, 20, 17, 0))
    draft = honours.draft()
    assert scan(session, local(2026, 3, 18, 9, 0)).reminders == 1  # two working days before Friday 20 March
    [reminder] = notes(session, draft, kind="reminder")
    assert user_names(session, world, [reminder]) == ["applicant_A1a"]


@pytest.fixture
def schemes(session, world):
    from engine.procedures.parameters import set_parameters
    return set_parameters(session, None, SCHEMES, unit=world.unit("city"), valid_from=date(2024, 1, 1),
                          values=SCHEME_VALUES)


def test_a_claim_past_its_filing_window_needs_the_explanation(session, world, schemes, tmp_path):
    applicant = world.actor("applicant_A1a")
    claim = create_draft(session, applicant, "medical_subsidy", form=_form(discharge_date="2026-04-20",
                                                                            admission_date="2026-04-10"), now=NOW)
    attach_documents(session, applicant, claim, FileStore(tmp_path / "files"))
    row = waiting_task(session, claim.id)
    # 30 working days after 20 April 2026, across Labour Day and the make-up Saturday 9 May: 3 June.
    assert row.due_dt == local(2026, 6, 4)
    report = scan(session, row.due_dt)
    assert report.transitions == [(claim.id, "filing_overdue")] and claim.state == "late_filing"
    with pytest.raises(ConditionFailed, match="逾期申请说明"):
        perform_action(session, applicant, claim, "submit", expected_version=claim.version, now=row.due_dt)


def test_a_changed_discharge_date_moves_the_filing_deadline(session, world, schemes):
    from engine.operations.transitions import update_draft
    applicant = world.actor("applicant_A1a")
    claim = create_draft(session, applicant, "medical_subsidy", form=_form(discharge_date="2026-04-20",
                                                                            admission_date="2026-04-10"), now=NOW)
    update_draft(session, applicant, claim, {"discharge_date": "2026-04-21"}, expected_version=claim.version, now=NOW)
    assert waiting_task(session, claim.id).due_dt == local(2026, 6, 5)
    assert session.scalar(select(Task.due_dt).where(Task.closed_dt.is_(None), Task.case_id == claim.id)) == local(2026, 6, 5)


# --- Idempotency between scanners -----------------------------------------------------------------

def test_the_same_rows_handed_twice_act_once(session, world, honours):
    cases = [honours.submitted() for _ in range(3)]
    now = waiting_task(session, cases[0].id).due_dt
    ids = [waiting_task(session, case.id).id for case in cases]
    first, second = process_deadlines(session, ids, now), process_deadlines(session, ids, now)
    assert (first.escalations, second.escalations, second.notifications) == (3, 0, 0)


@pytest.mark.postgres_only
def test_two_scanners_at_once_on_postgresql_send_each_reminder_once(committed_db):
    factory = committed_db
    with factory() as session:
        world = build_world(session)
        honours = Honours(session, world)
        case_ids = [honours.submitted().id for _ in range(40)]
        session.commit()
        due = waiting_task(session, case_ids[0]).due_dt
    remind_at = due - timedelta(hours=15)  # the last day at 09:00: the "on the day" reminder
    reports, barrier = [], threading.Barrier(2)

    def scanner():
        barrier.wait()
        reports.append(scan_deadlines(factory, remind_at, batch_size=7))

    threads = [threading.Thread(target=scanner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(report.reminders for report in reports) == 40
    with factory() as session:
        reminders = session.scalars(select(Notification).where(Notification.kind == "reminder")).all()
        # 40 cases, two reviewers of A1 (reviewer_A1 and reviewer_A1_and_A) each.
        assert len(reminders) == 80 and len({(n.user_id, n.key) for n in reminders}) == 80


# --- Calendar gaps --------------------------------------------------------------------------------

def test_a_due_time_in_an_uncovered_year_is_unknown_until_an_admin_enters_the_year(session, world, honours):
    case = honours.at_city()
    honours.opinions(case)
    late_december = local(2026, 12, 29, 10, 0)
    honours.act("reviewer_city", case, "approve", now=late_december)  # 5 working days: into 2027
    row = waiting_task(session, case.id)
    assert (row.due_dt, row.next_check_dt) == (None, None)
    try:
        enter_calendar_days(session, None, [(date(2027, 1, 1), False, "元旦")], year=2027, source="国务院办公厅通知")
        # 30, 31 December, (New Year's Day off), Monday 4, Tuesday 5 and Wednesday 6 January.
        assert row.due_dt == local(2027, 1, 7)
        assert session.scalar(select(Task.due_dt).where(Task.closed_dt.is_(None), Task.case_id == case.id)) == row.due_dt
        assert row.next_check_dt == local(2027, 1, 4, 9)  # two working days before the last day
    finally:
        forget_cached_calendars()


def test_a_local_closure_day_moves_the_deadlines_it_falls_in(session, world, honours):
    case = honours.submitted()  # Monday 9 March: due at the end of Thursday 12 March
    other = honours.at_city()   # city review: 10 working days, ending Monday 23 March
    try:
        enter_calendar_days(session, None, [(date(2026, 3, 11), False, "本地停工")])
        assert waiting_task(session, case.id).due_dt == local(2026, 3, 14)
        assert waiting_task(session, other.id).due_dt == local(2026, 3, 25)
        remove_calendar_day(session, None, date(2026, 3, 11))
        assert waiting_task(session, case.id).due_dt == local(2026, 3, 13)
    finally:
        forget_cached_calendars()


# --- Urging ---------------------------------------------------------------------------------------

def test_the_applicant_urges_once_per_working_day(session, world, honours):
    case = honours.submitted()
    friday = local(2026, 3, 13, 10, 0)
    result = urge_case(session, world.actor("applicant_A1a"), case, note="请尽快审核", now=friday)
    assert (result.work_day, result.notified) == (date(2026, 3, 13), 2)
    urged = notes(session, case, kind="urge")
    assert user_names(session, world, urged) == ["reviewer_A1", "reviewer_A1_and_A"]
    assert "请尽快审核" in urged[0].body
    event = case_events(session, case.id)[-1]
    assert (event.action, event.comment, event.details["work_day"]) == ("urge", "请尽快审核", "2026-03-13")
    with pytest.raises(Conflict, match="每个工作日只能催办一次"):
        urge_case(session, world.actor("reviewer_A"), case, now=friday + timedelta(hours=5))
    # Saturday counts for Monday; Monday then already has its urge.
    assert urge_case(session, world.actor("applicant_A1a"), case, now=local(2026, 3, 14, 10)).work_day == date(2026, 3, 16)
    with pytest.raises(Conflict):
        urge_case(session, world.actor("applicant_A1a"), case, now=local(2026, 3, 16, 9))
    assert urge_case(session, world.actor("applicant_A1a"), case, now=local(2026, 3, 17, 9)).notified == 2


def test_an_urge_counts_for_the_stay_it_was_made_in(session, world, honours):
    """Returned and sent back to the same review, a case waits in a new stay: the earlier
    stay's urge is no longer the one the case page shows."""
    case = honours.submitted()
    applicant = world.actor("applicant_A1a")
    urge_case(session, applicant, case, now=NOW)
    assert urge_of_stage(session, case).task_id == waiting_task(session, case.id).id
    return_case(session, world.actor("reviewer_A1"), case, expected_version=case.version, comment="请补充材料",
                now=NOW + timedelta(hours=1))
    resubmit_case(session, applicant, case, expected_version=case.version, now=NOW + timedelta(hours=2))
    assert case.state == "township_review"
    assert urge_of_stage(session, case) is None


def test_who_may_urge(session, world, honours):
    case = honours.submitted()
    assert urge_grant(session, world.actor("reviewer_A"), case).unit_id == world.unit("A").id
    assert urge_grant(session, world.actor("reviewer_city"), case) is not None
    for name in ("reviewer_A1", "reviewer_B", "auditor_city", "applicant_A1b"):
        assert urge_grant(session, world.actor(name), case) is None, name
    with pytest.raises(PermissionDenied):
        urge_case(session, world.actor("reviewer_A1"), case, now=NOW)
    draft = honours.draft()
    with pytest.raises(InvalidAction, match="无需催办"):
        urge_case(session, world.actor("applicant_A1a"), draft, now=NOW)
    with pytest.raises(ValidationFailed) as caught:
        urge_case(session, world.actor("applicant_A1a"), case, note="急" * 201, now=NOW)
    assert "note" in caught.value.fields


# --- Notifications as read --------------------------------------------------------------------------

def test_notifications_are_read_by_their_owner_only(session, world, honours):
    case = honours.submitted()
    urge_case(session, world.actor("applicant_A1a"), case, now=NOW)
    reviewer = world.actor("reviewer_A1")
    assert unread_count(session, reviewer) == 1
    [note] = notifications_for(session, reviewer)
    from engine.base.errors import NotFound
    with pytest.raises(NotFound):
        open_notification(session, world.actor("reviewer_A"), note.id)
    assert open_notification(session, reviewer, note.id, now=NOW).read_dt == NOW
    assert unread_count(session, reviewer) == 0
    assert mark_all_read(session, world.actor("reviewer_A1_and_A")) == 1


# --- Definitions ----------------------------------------------------------------------------------

def _definition_with(state_extra: str, top: str = "") -> str:
    return f"""
kind: timed
label: 测试
origin_level: grassroots
title_field: name
{top}
states:
  - id: draft
    label: 草稿
    kind: draft
  - id: review
    label: 审核
    kind: review
    waits_for: reviewer@township
{state_extra}
  - id: done
    label: 完成
    kind: final
transitions:
  - trigger: submit
    label: 提交
    source: draft
    dest: review
    by: applicant@origin
  - trigger: approve
    label: 通过
    source: review
    dest: done
    by: reviewer@township
form:
  - name: name
    label: 姓名
    type: text
    required: true
"""


@pytest.mark.parametrize(("extra", "problem"), [
    ("    deadline_at: no_such_rule", 'unknown deadline rule "no_such_rule"'),
    ("    deadline_at: round_close\n    deadline_working_days: 3", "not both"),
    ("    remind_working_days_before: [1]", "no deadline to remind of"),
    ("    deadline_working_days: 3\n    remind_working_days_before: [-1]", "working days before it"),
    ("    remind_overdue_every_working_days: 2", "no deadline to remind of"),
    ("    deadline_working_days: 3\n    remind_overdue_every_working_days: -1", "every 0 to"),
])
def test_bad_deadline_settings_are_named(extra, problem):
    with pytest.raises(DefinitionError) as caught:
        parse_definition(_definition_with(extra), "timed.yaml")
    assert any(problem in line for line in caught.value.problems), caught.value.problems


def test_reminders_default_to_the_definition_and_a_state_may_override(session):
    definition = parse_definition(_definition_with("    deadline_working_days: 3\n    remind_working_days_before: [0]",
                                                   "remind_working_days_before: [0, 3, 1]"), "timed.yaml")
    assert definition.reminders_for(definition.state("review")) == (0,)
    assert definition.reminders_for(definition.state("draft")) == (3, 1, 0)


def test_system_actor_cannot_fire_a_timer_before_its_deadline(session, world, honours):
    case = on_notice_at(honours, BEFORE_LABOUR_DAY)
    with pytest.raises(InvalidAction, match="期限未到"):
        perform_action(session, SYSTEM_ACTOR, case, "close_notice", expected_version=case.version,
                       now=local(2026, 5, 9, 23, 59))
    assert session.get(Case, case.id).state == "public_notice"
