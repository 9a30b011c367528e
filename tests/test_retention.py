"""Retention periods and the purge: a closed case is kept for its definition's period, then may be
purged, leaving a tombstone that keeps the case ledger verifiable.

Cases are built with the procedures' own test helpers (tests/test_hardship_aid.py,
tests/test_medical_subsidy.py). Tampering edits the stored rows with plain SQL, as someone with
database access would.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import delete, func, insert, select, update

from engine.audit.chain import AuditEvent, CaseLedgerEntry, CaseTombstone, case_events
from engine.audit.system_log import SystemEvent, SystemLogHead
from engine.base.db import Base, make_engine, make_session_factory
from engine.base.errors import DefinitionError, InvalidAction, NotFound, PermissionDenied, ValidationFailed
from engine.cases.attachments import FileStore, attach_file
from engine.cases.case import Case
from engine.cases.integrity import verify_audit_chain
from engine.definitions.parse import parse_definition
from engine.definitions.store import read_definition_files
from engine.operations.objections import lodge_objection
from engine.operations.purge import (
    PurgeRefused, delete_freed_files, plan_purge, purge_cases, purgeable_cases, retention_ends,
)
from engine.operations.transitions import create_draft, perform_action
from engine.operations.urging import urge_case
from engine.procedures.ledgers import Ledger
from engine.procedures.parameters import set_parameters
from tests.conftest import NOW, SETTINGS, TEST_DEFINITIONS, build_world
from tests.test_hardship_aid import OBJECTION, aided_file, flow, standards  # noqa: F401 - fixtures
from tests.test_medical_subsidy import (  # noqa: F401 - fixtures
    OTHER_ID_NUMBER, SCHEME_VALUES, SCHEMES, _form, draft, schemes, store, submitted,
)
from unionflow.cli import cli
from workflows.hardship_aid import start_yearly_recheck

UTC = timezone.utc
REASON = "档案保管期满，依据《困难职工档案管理办法》第十二条销毁"
# Well past the 10 years of every case the tests close in 2026.
PAST_RETENTION = datetime(2037, 1, 1, tzinfo=UTC)
NOMINATION_TEXT = (TEST_DEFINITIONS / "basic_nomination.yaml").read_text(encoding="utf-8")
NOMINATION_FORM = {"award_type": "labour_medal", "nominee_name": "张三", "employer": "A1a公司", "ownership": "public",
                   "merits_summary": "十年扎根一线"}


# --- The definition key ------------------------------------------------------------------------------

def nomination_with(retention) -> str:
    document = yaml.safe_load(NOMINATION_TEXT)
    document["retention"] = retention
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def test_bundled_kinds_keep_aid_files_and_claims_ten_years_and_honours_for_ever():
    years = {d.kind: d.retention_years for _, d in read_definition_files(SETTINGS.workflows_dir)}
    assert years == {"hardship_aid": 10, "medical_subsidy": 10, "honours": None, "honours_revocation": None,
                     "competition_results": None}


def test_retention_years_are_read_from_the_definition():
    assert parse_definition(nomination_with({"years_after_closing": 30}), "n.yaml").retention_years == 30
    assert parse_definition(NOMINATION_TEXT, "n.yaml").retention_years is None


@pytest.mark.parametrize(("retention", "problem"), [
    ({"years_after_closing": 0}, "retention.years_after_closing: 保存期限应为 1 至 100 之间的整数（年），而不是 0"),
    ({"years_after_closing": 101}, "retention.years_after_closing: 保存期限应为 1 至 100 之间的整数（年），而不是 101"),
    ({"years_after_closing": True}, "retention.years_after_closing: 保存期限应为 1 至 100 之间的整数（年），而不是 True"),
    ({"years_after_closing": "10"}, "retention.years_after_closing: 保存期限应为 1 至 100 之间的整数（年），而不是 '10'"),
    ({"years_after_closing": 10.5}, "retention.years_after_closing: 保存期限应为 1 至 100 之间的整数（年），而不是 10.5"),
    ({}, "retention.years_after_closing: 此项为必填项"),
    ({"years_after_closing": 10, "years": 10}, "retention.years: 不认识的字段"),
    (10, "retention: 应为对象"),
])
def test_a_bad_retention_is_refused_naming_the_key(retention, problem):
    with pytest.raises(DefinitionError) as info:
        parse_definition(nomination_with(retention), "n.yaml")
    assert info.value.path == "n.yaml"
    assert problem in info.value.problems


# --- The period ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("closed", "years", "purgeable_from"), [
    # 09:00 local on 9 March 2026 (01:00 UTC): kept through 9 March 2036, purgeable from local midnight.
    (datetime(2026, 3, 9, 1, 0, tzinfo=UTC), 10, datetime(2036, 3, 9, 16, 0, tzinfo=UTC)),
    # 23:30 UTC on 8 March is already 9 March in Beijing: the local closing day counts.
    (datetime(2026, 3, 8, 23, 30, tzinfo=UTC), 10, datetime(2036, 3, 9, 16, 0, tzinfo=UTC)),
    # Closed on 29 February: the anniversary in a common year is 28 February.
    (datetime(2028, 2, 29, 4, 0, tzinfo=UTC), 1, datetime(2029, 2, 28, 16, 0, tzinfo=UTC)),
    (datetime(2028, 2, 29, 4, 0, tzinfo=UTC), 4, datetime(2032, 2, 29, 16, 0, tzinfo=UTC)),
])
def test_a_case_is_kept_through_the_anniversary_of_its_closing_day(closed, years, purgeable_from):
    assert retention_ends(closed, years) == purgeable_from


# --- Building closed cases ------------------------------------------------------------------------

@pytest.fixture
def paid_claim(session, world, submitted):  # noqa: F811 - pytest fixtures by name
    """A paid healthcare claim: four attachments, a draw from the person's yearly cap; ``urged``:
    the applicant urged the county (an urge and the reviewers' notifications)."""
    def make(urged=False, **overrides):
        case = submitted(**overrides)
        if urged:
            urge_case(session, world.actor("applicant_A1a"), case, now=NOW)
        act(session, world, case, "reviewer_A", "approve")
        act(session, world, case, "reviewer_A", "disburse",
            inputs={"paid_on": "2026-03-12", "payment_reference": "YLHZ-2026-0031"})
        assert case.state == "paid"
        return case
    return make


def act(session, world, case, who, trigger, now=NOW, **kwargs):
    return perform_action(session, world.actor(who), case, trigger, expected_version=case.version, now=now, **kwargs)


def objection_upheld(flow, i: int):  # noqa: F811
    """A hardship file closed as rejected after an upheld objection: a visit record and an objection."""
    case = flow.to(flow.draft(i), "public_notice")
    lodge_objection(flow.session, case.id, OBJECTION, now=NOW + timedelta(days=1))
    flow.act("reviewer_A1a", case, "answer", inputs={"answer": "经核实申请人确有车辆并经常使用。"},
             now=NOW + timedelta(days=2))
    flow.act("reviewer_A", case, "uphold", comment="申请人经常使用车辆，属排除情形", now=NOW + timedelta(days=3))
    assert case.state == "rejected"
    return case


def withdrawn_nomination(session, world) -> Case:
    """A closed case of a kind without a retention period (kept for ever)."""
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "basic_nomination", form=NOMINATION_FORM, now=NOW)
    perform_action(session, applicant, case, "withdraw", expected_version=case.version, now=NOW)
    assert case.closed_dt is not None
    return case


def purge(session, *case_ids, now=PAST_RETENTION, actor=None, **kwargs):
    return purge_cases(session, actor, case_ids=case_ids or None, reason=REASON, now=now, **kwargs)


def case_columns() -> list:
    """The column of every table (but cases) with a foreign key to cases: each holds rows about a case."""
    return [fk.parent for table in reversed(Base.metadata.sorted_tables) if table.name != "cases"
            for fk in table.foreign_keys if fk.column.table.name == "cases"]


def rows_about(session, case_ids) -> dict[str, int]:
    """Rows about these cases, per table."""
    return {column.table.name: session.scalar(select(func.count()).select_from(column.table)
                                              .where(column.in_(case_ids)))
            for column in case_columns()}


def snapshot(session) -> tuple:
    """What a refused purge or a dry run must leave as it was."""
    return (session.scalar(select(func.count()).select_from(Case)),
            session.scalar(select(func.count()).select_from(AuditEvent)),
            session.scalar(select(func.count()).select_from(CaseTombstone)),
            session.scalar(select(SystemLogHead.seq)))


def refused(session, attempt) -> PurgeRefused:
    before = snapshot(session)
    with pytest.raises(PurgeRefused) as info:
        attempt()
    assert snapshot(session) == before
    return info.value


# --- Refusals --------------------------------------------------------------------------------------

def test_a_case_inside_its_retention_period_is_refused_naming_the_date(session, paid_claim):
    case = paid_claim()
    ends = retention_ends(case.closed_dt, 10)
    error = refused(session, lambda: purge(session, case.id, now=ends - timedelta(seconds=1)))
    assert [str(r) for r in error.refusals] == [f"案件 {case.id}：2026-03-09 办结，保存期限 10 年，自 2036-03-10 起方可销毁"]
    assert "2036-03-10" in error.message
    assert purge(session, case.id, now=ends).event_seq is not None


def test_a_case_of_a_kind_kept_for_ever_is_refused(session, world):
    case = withdrawn_nomination(session, world)
    error = refused(session, lambda: purge(session, case.id, now=datetime(2126, 1, 1, tzinfo=UTC)))
    assert [str(r) for r in error.refusals] == [f"案件 {case.id}：「基础推荐流程（测试用）」未规定保存期限，永久保存，不能销毁"]


def test_an_open_case_is_refused(session, flow):  # noqa: F811
    case = flow.submitted()
    error = refused(session, lambda: purge(session, case.id))
    assert [str(r) for r in error.refusals] == [f"案件 {case.id}：案件尚未办结，不能销毁"]


def test_a_case_a_kept_case_links_to_is_refused_naming_it(session, flow, world, standards):  # noqa: F811
    old = aided_file(flow)
    recheck = start_yearly_recheck(session, world.actor("applicant_A1a"), old, NOW + timedelta(days=365))
    error = refused(session, lambda: purge(session, old.id))
    assert [str(r) for r in error.refusals] == [
        f"案件 {old.id}：案件 {recheck.id} 与之关联且不在本次销毁之列，须一并销毁或一并保留"]
    # Closed too and named with it, the re-check goes with its file.
    flow.act("applicant_A1a", recheck, "withdraw", now=NOW + timedelta(days=365))
    result = purge(session, old.id, recheck.id, now=datetime(2038, 1, 1, tzinfo=UTC))
    assert [t.case_id for t in result.tombstones] == sorted([old.id, recheck.id])


def test_named_cases_are_purged_all_or_none(session, paid_claim, world):
    due = paid_claim()
    kept = withdrawn_nomination(session, world)
    error = refused(session, lambda: purge(session, due.id, kept.id, 999_999))
    assert {r.case_id for r in error.refusals} == {kept.id, 999_999}
    assert [r.reason for r in error.refusals if r.case_id == 999_999] == ["案件不存在"]
    assert session.get(Case, due.id) is not None


def test_a_named_case_of_another_kind_than_the_one_given_is_refused(session, paid_claim):
    case = paid_claim()
    error = refused(session, lambda: purge(session, case.id, kind="hardship_aid"))
    assert [r.reason for r in error.refusals] == ["不是「困难职工帮扶申请」案件"]


def test_a_purge_needs_a_reason_and_cases_or_a_kind(session, paid_claim):
    case = paid_claim()
    with pytest.raises(ValidationFailed) as info:
        purge_cases(session, None, case_ids=[case.id], reason="  ", now=PAST_RETENTION)
    assert info.value.fields == {"reason": ["请写明销毁的理由和依据"]}
    with pytest.raises(ValidationFailed):
        purge_cases(session, None, reason=REASON, now=PAST_RETENTION)
    with pytest.raises(NotFound):
        purge_cases(session, None, kind="no_such_kind", reason=REASON, now=PAST_RETENTION)


def test_a_case_whose_trail_was_tampered_with_is_not_purged(session, paid_claim):
    """Purging it would carry the evidence of the tampering away."""
    case = paid_claim()
    session.execute(update(AuditEvent).where(AuditEvent.case_id == case.id, AuditEvent.seq == 2)
                    .values(comment="改过"))
    with pytest.raises(InvalidAction, match=f"审计记录校验未通过.*case {case.id} event 2"):
        purge(session, case.id)
    assert session.get(Case, case.id) is not None


def test_only_an_admin_over_every_case_purges(session, world, paid_claim):
    case = paid_claim()
    with pytest.raises(PermissionDenied):
        purge(session, case.id, actor=world.actor("reviewer_city"))
    purge(session, case.id, actor=world.actor("admin"))
    event = session.scalars(select(SystemEvent).order_by(SystemEvent.seq.desc())).first()
    assert (event.actor_name, event.actor_role, event.actor_unit_name) == ("admin", "admin", "示范市总工会")


# --- A lawful purge --------------------------------------------------------------------------------

def test_purge_leaves_tombstones_and_the_ledger_and_deletes_every_row_of_the_cases(
        session, world, flow, standards, paid_claim):  # noqa: F811
    claim, aided, rejected = paid_claim(urged=True), aided_file(flow, 1), objection_upheld(flow, 2)
    kept = paid_claim(id_number=OTHER_ID_NUMBER, patient_name="李强")
    purged = [claim.id, aided.id, rejected.id]
    heads = {c.id: (c.audit_seq, c.audit_head, case_events(session, c.id)[0].hash, c.closed_dt) for c in
             (claim, aided, rejected)}
    before = rows_about(session, purged)
    assert {t for t, n in before.items() if n} >= {"audit_events", "attachments", "case_records", "ledger_entries",
                                                   "objections", "tasks", "urges", "notifications"}, before
    used = {row.account: row.used for row in session.scalars(select(Ledger))}
    session.commit()

    result = purge(session, *purged)
    session.expire_all()  # what follows is read back from the database

    assert [t.case_id for t in result.tombstones] == sorted(purged)
    assert rows_about(session, purged) == dict.fromkeys(before, 0)
    assert session.scalar(select(func.count()).select_from(Case).where(Case.id.in_(purged))) == 0
    assert session.get(Case, kept.id) is not None and rows_about(session, [kept.id])["attachments"] == 4
    assert session.scalar(select(func.count()).select_from(CaseLedgerEntry)
                          .where(CaseLedgerEntry.case_id.in_(purged))) == 3
    # The draws happened: what a ledger's period used stays as it was.
    assert {row.account: row.used for row in session.scalars(select(Ledger))} == used
    event = session.scalars(select(SystemEvent).where(SystemEvent.seq == result.event_seq)).one()
    assert (event.action, event.actor_name) == ("purge", "命令行操作员")
    assert event.details["reason"] == REASON
    assert [(e["case_id"], e["kind"], e["audit_seq"], e["audit_head"]) for e in event.details["cases"]] == \
        [(i, session.get(CaseTombstone, i).kind, heads[i][0], heads[i][1]) for i in sorted(purged)]
    for case_id, (seq, head, genesis, closed) in heads.items():
        tombstone = session.get(CaseTombstone, case_id)
        assert (tombstone.audit_seq, tombstone.audit_head, tombstone.genesis_hash, tombstone.closed_dt) == \
            (seq, head, genesis, closed)
        assert (tombstone.purge_event_seq, tombstone.purged_dt, tombstone.origin_unit_id) == \
            (event.seq, PAST_RETENTION, world.unit("A1a").id)
    session.commit()
    report = verify_audit_chain(session)
    assert report.ok, [str(p) for p in report.problems]
    assert report.cases_purged == 3
    assert verify_audit_chain(session, [claim.id]).cases_purged == 1


def test_a_purged_case_named_again_is_refused_saying_when(session, paid_claim):
    case = paid_claim()
    purge(session, case.id)
    error = refused(session, lambda: purge(session, case.id, now=PAST_RETENTION + timedelta(days=1)))
    assert [r.reason for r in error.refusals] == ["已于 2037-01-01 销毁"]


def test_files_are_freed_only_when_no_kept_case_cites_them(session, paid_claim, store):  # noqa: F811
    """Two claims upload the same documents (one content, one file): the first purge frees none."""
    first, second = paid_claim(), paid_claim(id_number=OTHER_ID_NUMBER, patient_name="李强")
    shared = set(session.scalars(select(AuditEvent.details["sha256"].as_string())
                                 .where(AuditEvent.case_id == first.id, AuditEvent.action == "attach_file")))
    assert len(shared) == 4
    assert purge(session, first.id).freed_files == ()
    result = purge(session, second.id)
    assert set(result.freed_files) == shared
    assert all(store.path_for(sha).exists() for sha in shared)
    assert delete_freed_files(session, store, result.freed_files) == 4
    assert not any(store.path_for(sha).exists() for sha in shared)


def test_purge_by_kind_takes_the_due_leaves_the_rest_and_reports_the_linked(session, flow, world, standards,
                                                                           paid_claim):  # noqa: F811
    old = aided_file(flow, 1)
    start_yearly_recheck(session, world.actor("applicant_A1a"), old, NOW + timedelta(days=365))
    rejected = objection_upheld(flow, 2)
    later = objection_upheld(flow, 3)
    later.closed_dt = NOW + timedelta(days=800)  # closed two years on: still inside its period in 2036
    session.flush()
    claim = paid_claim()
    result = purge_cases(session, None, kind="hardship_aid", reason=REASON, now=datetime(2036, 6, 1, tzinfo=UTC))
    assert [t.case_id for t in result.tombstones] == [rejected.id]
    assert [r.case_id for r in result.refusals] == [old.id]
    assert {session.get(Case, i) is not None for i in (old.id, later.id, claim.id)} == {True}


def test_a_kind_with_nothing_due_purges_nothing_and_logs_nothing(session, paid_claim):
    paid_claim()
    before = snapshot(session)
    result = purge_cases(session, None, kind="medical_subsidy", reason=REASON, now=NOW + timedelta(days=365))
    assert (result.tombstones, result.event_seq) == ((), None)
    assert snapshot(session) == before


def test_a_dry_run_plans_the_same_and_changes_nothing(session, flow, world, standards, paid_claim):  # noqa: F811
    old = aided_file(flow, 1)
    recheck = start_yearly_recheck(session, world.actor("applicant_A1a"), old, NOW + timedelta(days=365))
    rejected = objection_upheld(flow, 2)
    before = snapshot(session), rows_about(session, [old.id, rejected.id])
    plan = plan_purge(session, kind="hardship_aid", now=PAST_RETENTION)
    assert [c.id for c in plan.cases] == [rejected.id]
    assert [str(r) for r in plan.refusals] == [
        f"案件 {old.id}：案件 {recheck.id} 与之关联且不在本次销毁之列，须一并销毁或一并保留"]
    assert not plan.named
    assert (snapshot(session), rows_about(session, [old.id, rejected.id])) == before
    assert [c.id for c in purgeable_cases(session, now=PAST_RETENTION)] == sorted([old.id, rejected.id])


# --- Verification after a purge: tampering with tombstones ----------------------------------------

TOMBSTONES = CaseTombstone.__table__


def edit_genesis_hash(session, case_id, seq):
    session.execute(update(TOMBSTONES).where(TOMBSTONES.c.case_id == case_id).values(genesis_hash="f" * 64))
    return "tombstone's first-event hash differs from the one registered in the ledger (tombstone or ledger edited)"


def delete_tombstone(session, case_id, seq):
    session.execute(delete(TOMBSTONES).where(TOMBSTONES.c.case_id == case_id))
    return f"case purged by system log event {seq} has lost its tombstone (deleted)"


def edit_audit_head(session, case_id, seq):
    session.execute(update(TOMBSTONES).where(TOMBSTONES.c.case_id == case_id).values(audit_head="e" * 64))
    return f"tombstone differs from system log event {seq} in audit_head (tombstone edited)"


def edit_closed_dt(session, case_id, seq):
    session.execute(update(TOMBSTONES).where(TOMBSTONES.c.case_id == case_id)
                    .values(closed_dt=datetime(2020, 1, 1, tzinfo=UTC)))
    return f"tombstone differs from system log event {seq} in closed_dt (tombstone edited)"


def cite_another_event(session, case_id, seq):
    session.execute(update(TOMBSTONES).where(TOMBSTONES.c.case_id == case_id).values(purge_event_seq=seq + 7))
    return f"tombstone cites system log event {seq + 7}, but the case was purged by event {seq} (tombstone edited)"


def delete_ledger_entry(session, case_id, seq):
    session.execute(delete(CaseLedgerEntry).where(CaseLedgerEntry.case_id == case_id))
    return "tombstone of a case the ledger does not register (forged tombstone or ledger entry deleted)"


@pytest.mark.parametrize("tamper", [edit_genesis_hash, delete_tombstone, edit_audit_head, edit_closed_dt,
                                    cite_another_event, delete_ledger_entry],
                         ids=lambda f: f.__name__)
def test_a_tampered_tombstone_is_reported_with_its_case(session, paid_claim, tamper):
    case, other = paid_claim(), paid_claim(id_number=OTHER_ID_NUMBER, patient_name="李强")
    seq = purge(session, case.id, other.id).event_seq
    session.commit()
    assert verify_audit_chain(session).ok
    expected = tamper(session, case.id, seq)
    report = verify_audit_chain(session)
    assert (case.id, expected) in {(p.case_id, p.message) for p in report.problems}, [str(p) for p in report.problems]
    assert other.id not in {p.case_id for p in report.problems}, "an untouched purged case was blamed"


def forged_tombstone(session, case: Case, purge_event_seq: int) -> None:
    """A tombstone written by hand, right in every value a real one would hold."""
    session.execute(insert(TOMBSTONES).values(
        case_id=case.id, kind=case.kind, origin_unit_id=case.origin_unit_id, origin_path=case.origin_path,
        closed_dt=case.closed_dt, purged_dt=PAST_RETENTION, audit_seq=case.audit_seq, audit_head=case.audit_head,
        genesis_hash=case_events(session, case.id)[0].hash, purge_event_seq=purge_event_seq))


def delete_case_rows(session, case_id: int) -> None:
    for column in case_columns():
        session.execute(delete(column.table).where(column == case_id))
    session.execute(delete(Case.__table__).where(Case.__table__.c.id == case_id))


def test_a_tombstone_for_a_case_that_still_exists_is_reported(session, paid_claim):
    case, other = paid_claim(), paid_claim(id_number=OTHER_ID_NUMBER, patient_name="李强")
    seq = purge(session, other.id).event_seq
    forged_tombstone(session, case, seq)
    problems = {(p.case_id, p.message) for p in verify_audit_chain(session).problems}
    assert (case.id, "has a tombstone but the case still exists") in problems


def test_a_case_deleted_with_a_forged_tombstone_is_reported(session, paid_claim):
    """Deleted by hand, with a tombstone citing a real purge that did not list it."""
    case, other = paid_claim(), paid_claim(id_number=OTHER_ID_NUMBER, patient_name="李强")
    seq = purge(session, other.id).event_seq
    forged_tombstone(session, case, seq)
    delete_case_rows(session, case.id)
    report = verify_audit_chain(session)
    assert [(p.case_id, p.message) for p in report.problems] == [
        (case.id, "tombstone matches no purge event of the system log (forged tombstone)")]
    assert report.cases_purged == 2  # the ledger alone cannot tell; the system log does


def test_a_case_deleted_without_a_tombstone_is_still_reported(session, paid_claim):
    case = paid_claim()
    delete_case_rows(session, case.id)
    problems = {(p.case_id, p.message) for p in verify_audit_chain(session).problems}
    assert (case.id, "case registered in the ledger no longer exists (deleted)") in problems


# --- The command -----------------------------------------------------------------------------------

def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


@pytest.fixture
def claim_db(tmp_path, monkeypatch):
    """A SQLite file with one paid claim (and its four files in the store the command uses)."""
    url = f"sqlite:///{tmp_path / 'purge.db'}"
    for command in (("db", "upgrade"), ("definitions", "load")):
        assert invoke(*command, "--db", url).exit_code == 0
    files = FileStore(tmp_path / "attachments")
    monkeypatch.setenv("UNIONFLOW_ATTACHMENTS_DIR", str(files.root))
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        world = build_world(session)
        set_parameters(session, None, SCHEMES, unit=world.unit("city"), valid_from=date(2024, 1, 1),
                       values=SCHEME_VALUES)
        applicant = world.actor("applicant_A1a")
        case = create_draft(session, applicant, "medical_subsidy", form=_form(), now=NOW)
        attach_file(session, applicant, case, "discharge_summary", filename="出院小结.pdf",
                    content_type="application/pdf", data=b"%PDF summary", store=files, expected_version=case.version,
                    now=NOW)
        for field in ("diagnosis_certificate", "settlement_sheet", "itemised_bill"):  # the other documents it needs
            attach_file(session, applicant, case, field, filename=f"{field}.pdf", content_type="application/pdf",
                        data=f"%PDF {field}".encode(), store=files, expected_version=case.version, now=NOW)
        act(session, world, case, "applicant_A1a", "submit")
        act(session, world, case, "reviewer_A", "approve")
        act(session, world, case, "reviewer_A", "disburse", inputs={"paid_on": "2026-03-12", "payment_reference": "X1"})
        session.commit()
        case_id, sha = case.id, case_events(session, case.id)[1].details["sha256"]
    engine.dispose()
    return url, case_id, files.path_for(sha)


def count_cases(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(Case.__table__))
    finally:
        engine.dispose()


def test_command_refuses_a_case_inside_its_period_and_exits_1(claim_db):
    url, case_id, stored = claim_db
    result = invoke("audit", "purge", "--case", str(case_id), "--reason", REASON, "--now", "2030-01-01T00:00",
                    "--db", url)
    assert result.exit_code == 1, result.output
    assert f"案件 {case_id}：2026-03-09 办结，保存期限 10 年，自 2036-03-10 起方可销毁" in result.output
    assert "Traceback" not in result.output
    assert count_cases(url) == 1 and stored.exists()


def test_command_dry_run_lists_what_would_go_and_changes_nothing(claim_db):
    url, case_id, stored = claim_db
    result = invoke("audit", "purge", "--kind", "medical_subsidy", "--dry-run", "--now", "2037-01-01T00:00",
                    "--db", url)
    assert result.exit_code == 0, result.output
    assert f"would purge case {case_id} medical_subsidy" in result.output
    assert count_cases(url) == 1 and stored.exists()


def test_command_purges_deletes_the_freed_files_and_the_trail_still_verifies(claim_db):
    url, case_id, stored = claim_db
    result = invoke("audit", "purge", "--case", str(case_id), "--reason", REASON, "--now", "2037-01-01T00:00",
                    "--db", url)
    assert result.exit_code == 0, result.output
    assert f"purged case {case_id} medical_subsidy" in result.output
    assert "4 attachment file(s) deleted" in result.output
    assert count_cases(url) == 0 and not stored.exists()
    verified = invoke("audit", "verify", "--db", url)
    assert verified.exit_code == 0, verified.output
    assert "(1 purged cases by their tombstones)" in verified.output
