"""The audit trail: what each event records, how it is hashed, and that tampering is found.

Every tampering test edits the stored rows with plain SQL, as someone with database
access would, and checks that ``verify_audit_chain`` names the case and event touched
(and no untouched case).
"""
from __future__ import annotations

import hashlib
import json
from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, insert, select, update

import engine.operations.transitions
from engine.audit.chain import (
    GENESIS_HASH, LEDGER_SHARDS, AuditEvent, CaseLedgerEntry, canonical_bytes, case_events, event_payload,
    ledger_payload, sha256_hex,
)
from engine.cases.case import Case
from engine.cases.integrity import verify_audit_chain
from engine.cases.tasks import Task
from engine.operations.transitions import (
    approve_case, comment_on_case, create_draft, resubmit_case, return_case, submit_case, update_draft,
)
from tests.conftest import NOW

FORM = {"award_type": "labour_medal", "nominee_name": "张三", "employer": "A1a公司", "ownership": "public",
        "merits_summary": "十年扎根一线"}

EVENTS = AuditEvent.__table__
LEDGER = CaseLedgerEntry.__table__
CASES = Case.__table__


# --- Building cases with a trail -------------------------------------------------------------------

def _at(minutes: int):
    return NOW + timedelta(minutes=minutes)


def _reviewed_case(session, world):
    """Events: 1 create, 2 update_form, 3 submit, 4 approve (township), 5 comment, 6 approve (county)."""
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "basic_nomination", form=FORM, now=_at(0))
    update_draft(session, applicant, case, {"employer": "A1a机械厂"}, expected_version=case.version, now=_at(1))
    submit_case(session, applicant, case, expected_version=case.version, now=_at(2))
    approve_case(session, world.actor("reviewer_A1"), case, expected_version=case.version, comment="同意", now=_at(3))
    comment_on_case(session, world.actor("reviewer_A"), case, "请补充事迹材料", now=_at(4))
    approve_case(session, world.actor("reviewer_A"), case, expected_version=case.version, now=_at(5))
    return case


def _returned_case(session, world):
    applicant = world.actor("applicant_A1b")
    case = create_draft(session, applicant, "basic_nomination", form=FORM | {"nominee_name": "李四"}, now=_at(0))
    submit_case(session, applicant, case, expected_version=case.version, now=_at(1))
    return_case(session, world.actor("reviewer_A1"), case, expected_version=case.version, comment="材料不全", now=_at(2))
    update_draft(session, applicant, case, {"merits_summary": "补充后的事迹"}, expected_version=case.version, now=_at(3))
    resubmit_case(session, applicant, case, expected_version=case.version, now=_at(4))
    return case


def _submitted_case(session, world):
    applicant = world.actor("applicant_B1a")
    case = create_draft(session, applicant, "basic_nomination", form=FORM | {"nominee_name": "王五"}, now=_at(0))
    submit_case(session, applicant, case, expected_version=case.version, now=_at(1))
    return case


@pytest.fixture
def cases(session, world):
    """Three committed honours cases; ``cases[0]`` (six events) is the one tampered with."""
    built = [_reviewed_case(session, world), _returned_case(session, world), _submitted_case(session, world)]
    session.commit()
    return built


def _flagged(report) -> set[tuple[int | None, int | None]]:
    return {(p.case_id, p.seq) for p in report.problems}


def _event_id(session, case, seq) -> int:
    return session.scalar(select(EVENTS.c.id).where(EVENTS.c.case_id == case.id, EVENTS.c.seq == seq))


def _set_event(session, case, seq, **values) -> None:
    session.execute(update(EVENTS).where(EVENTS.c.case_id == case.id, EVENTS.c.seq == seq).values(**values))


def _renumber(session, case, old_seq, new_seq) -> None:
    session.execute(update(EVENTS).where(EVENTS.c.case_id == case.id, EVENTS.c.seq == old_seq).values(seq=new_seq))


# --- A clean trail --------------------------------------------------------------------------------

def test_clean_database_verifies(session, cases):
    report = verify_audit_chain(session)
    assert report.ok, [str(p) for p in report.problems]
    assert report.cases_checked == len(cases)
    assert report.events_checked == sum(c.audit_seq for c in cases) == 6 + 5 + 2


def test_clean_database_verifies_per_case(session, cases):
    report = verify_audit_chain(session, case_ids=[cases[0].id])
    assert report.ok, [str(p) for p in report.problems]
    assert (report.cases_checked, report.events_checked) == (1, 6)


# --- Tampering with events ------------------------------------------------------------------------
# Each function tampers with case ``c`` (events 1-6) and returns the (case_id, seq) pairs the
# report must contain; seq None means a problem with the case as a whole.

def edit_comment(session, c):
    _set_event(session, c, 5, comment="同意推荐")
    return {(c.id, 5)}


def edit_actor_name(session, c):
    _set_event(session, c, 4, actor_name="reviewer_A")
    return {(c.id, 4)}


def edit_changes(session, c):
    _set_event(session, c, 2, changes={"employer": {"before": "A1a公司", "after": "另一家公司"}})
    return {(c.id, 2)}


def edit_occurred_dt(session, c):
    _set_event(session, c, 4, occurred_dt=_at(3) - timedelta(days=2))
    return {(c.id, 4)}


def edit_to_state(session, c):
    _set_event(session, c, 4, to_state="city_review")
    return {(c.id, 4)}


def delete_middle_event(session, c):
    session.execute(delete(EVENTS).where(EVENTS.c.id == _event_id(session, c, 3)))
    return {(c.id, 4)}


def insert_event(session, c):
    """A forged event hashed and linked correctly as event 3; the later ones are renumbered."""
    previous = session.execute(select(EVENTS).where(EVENTS.c.case_id == c.id, EVENTS.c.seq == 2)).one()
    for seq in range(6, 2, -1):  # from the top, so the (case_id, seq) unique index never collides
        _renumber(session, c, seq, seq + 1)
    forged = AuditEvent(
        case_id=c.id, seq=3, action="comment", actor_id=None, actor_name="reviewer_A1", actor_role="reviewer",
        actor_unit_id=None, actor_unit_name=None, comment="早已同意", occurred_dt=_at(2), prev_hash=previous.hash,
    )
    forged.hash = sha256_hex(event_payload(forged))
    session.execute(insert(EVENTS).values(
        {column.name: getattr(forged, column.name) for column in EVENTS.columns if column.name != "id"}
    ))
    session.execute(update(CASES).where(CASES.c.id == c.id).values(audit_seq=7))
    return {(c.id, 4)}


def append_event_without_head(session, c):
    """A forged, correctly hashed event 7 (the case head still says 6)."""
    last = session.execute(select(EVENTS).where(EVENTS.c.case_id == c.id, EVENTS.c.seq == 6)).one()
    forged = AuditEvent(
        case_id=c.id, seq=7, action="comment", actor_id=None, actor_name="reviewer_A", actor_role="reviewer",
        actor_unit_id=None, actor_unit_name=None, comment="补记", occurred_dt=_at(6), prev_hash=last.hash,
    )
    forged.hash = sha256_hex(event_payload(forged))
    session.execute(insert(EVENTS).values(
        {column.name: getattr(forged, column.name) for column in EVENTS.columns if column.name != "id"}
    ))
    return {(c.id, None)}


def swap_events(session, c):
    _renumber(session, c, 3, 99)
    _renumber(session, c, 4, 3)
    _renumber(session, c, 99, 4)
    return {(c.id, 3), (c.id, 4)}


def delete_last_event(session, c):
    session.execute(delete(EVENTS).where(EVENTS.c.id == _event_id(session, c, 6)))
    return {(c.id, None)}


def delete_last_two_events_and_restore_state(session, c):
    """Even with the case state put back to match the shorter trail, the head gives it away."""
    session.execute(delete(EVENTS).where(EVENTS.c.case_id == c.id, EVENTS.c.seq >= 5))
    session.execute(update(CASES).where(CASES.c.id == c.id).values(state="county_review"))
    return {(c.id, None)}


def change_state_without_event(session, c):
    session.execute(update(CASES).where(CASES.c.id == c.id).values(state="approved"))
    return {(c.id, None)}


def alter_case_head(session, c):
    session.execute(update(CASES).where(CASES.c.id == c.id).values(audit_head="f" * 64))
    return {(c.id, None)}


def delete_whole_trail_and_reset_head(session, c):
    """All events gone and the head zeroed as if the case never had any: the ledger still
    holds its first event, and no case ever exists without one."""
    session.execute(delete(EVENTS).where(EVENTS.c.case_id == c.id))
    session.execute(update(CASES).where(CASES.c.id == c.id).values(audit_seq=0, audit_head=None))
    return {(c.id, None), (c.id, 1)}


@pytest.mark.parametrize("tamper", [
    edit_comment, edit_actor_name, edit_changes, edit_occurred_dt, edit_to_state, delete_middle_event,
    insert_event, append_event_without_head, swap_events, delete_last_event,
    delete_last_two_events_and_restore_state, change_state_without_event, alter_case_head,
    delete_whole_trail_and_reset_head,
], ids=lambda f: f.__name__)
def test_tampered_event_is_reported_with_its_case_and_event(session, cases, tamper):
    target = cases[0]
    expected = tamper(session, target)
    report = verify_audit_chain(session)
    assert not report.ok
    assert expected <= _flagged(report), [str(p) for p in report.problems]
    assert {case_id for case_id, _ in _flagged(report)} == {target.id}, "an untouched case was blamed"
    # Checking only the other cases still passes; checking the tampered one does not.
    assert verify_audit_chain(session, case_ids=[c.id for c in cases[1:]]).ok
    assert expected <= _flagged(verify_audit_chain(session, case_ids=[target.id]))


def test_verification_reads_the_database_not_the_sessions_copies(session, cases):
    """A session that still holds the events (say, the one that just wrote them) must not
    vouch for its own stale copies when the stored rows were changed behind its back."""
    held = case_events(session, cases[0].id)
    edit_comment(session, cases[0])
    assert (cases[0].id, 5) in _flagged(verify_audit_chain(session))
    assert held[4].comment == "同意推荐"  # the session's copy was refreshed from the row


def test_missing_event_report_says_which_event(session, cases):
    delete_middle_event(session, cases[0])
    messages = [str(p) for p in verify_audit_chain(session).problems]
    assert any(m.startswith(f"case {cases[0].id} event 4:") and "event 3 missing" in m for m in messages), messages


# --- Tampering with the case ledger ---------------------------------------------------------------

def _delete_case_rows(session, case_id, *, keep_ledger_entry=False) -> None:
    """Remove a case completely, children first (the foreign keys are RESTRICT)."""
    entry = session.execute(select(LEDGER).where(LEDGER.c.case_id == case_id)).one()
    session.execute(delete(LEDGER).where(LEDGER.c.case_id == case_id))
    session.execute(delete(EVENTS).where(EVENTS.c.case_id == case_id))
    session.execute(delete(Task.__table__).where(Task.__table__.c.case_id == case_id))
    session.execute(delete(CASES).where(CASES.c.id == case_id))
    if keep_ledger_entry:  # an intruder's deletion: no tombstone answers for the entry
        session.execute(insert(LEDGER).values(**entry._mapping))


def delete_whole_case(session, c):
    _delete_case_rows(session, c.id)
    return {(None, None)}


def delete_case_keep_ledger_entry(session, c):
    _delete_case_rows(session, c.id, keep_ledger_entry=True)
    return {(c.id, None)}


def edit_ledger_genesis(session, c):
    session.execute(update(LEDGER).where(LEDGER.c.case_id == c.id).values(genesis_hash="a" * 64))
    return {(c.id, None), (c.id, 1)}


def edit_ledger_link(session, c):
    session.execute(update(LEDGER).where(LEDGER.c.case_id == c.id).values(prev_hash="b" * 64))
    return {(c.id, None)}


def delete_ledger_entry(session, c):
    session.execute(delete(LEDGER).where(LEDGER.c.case_id == c.id))
    return {(c.id, None)}


def rewrite_whole_trail(session, c):
    """A careful intruder edits event 1, then re-hashes and relinks every event and the case
    head: the chain is consistent again and only the ledger still knows the first event."""
    _set_event(session, c, 1, actor_name="applicant_A1b")
    previous = GENESIS_HASH
    for seq in range(1, c.audit_seq + 1):
        row = session.execute(select(EVENTS).where(EVENTS.c.case_id == c.id, EVENTS.c.seq == seq)).one()
        event = AuditEvent(**(dict(row._mapping) | {"prev_hash": previous}))
        previous = sha256_hex(event_payload(event))
        _set_event(session, c, seq, prev_hash=event.prev_hash, hash=previous)
    session.execute(update(CASES).where(CASES.c.id == c.id).values(audit_head=previous))
    return {(c.id, 1)}


@pytest.mark.parametrize("tamper", [
    delete_whole_case, delete_case_keep_ledger_entry, edit_ledger_genesis, edit_ledger_link,
    delete_ledger_entry, rewrite_whole_trail,
], ids=lambda f: f.__name__)
def test_tampered_ledger_is_reported(session, cases, tamper):
    target = cases[0]
    shard = target.id % LEDGER_SHARDS
    expected = tamper(session, target)
    report = verify_audit_chain(session)
    assert expected <= _flagged(report), [str(p) for p in report.problems]
    assert {case_id for case_id, _ in _flagged(report)} <= {target.id, None}, "an untouched case was blamed"
    shard_problems = [str(p) for p in report.problems if p.case_id is None]
    assert all(f"shard {shard} " in message for message in shard_problems), shard_problems


def test_deleted_case_in_the_middle_of_its_shard_is_reported(session, world, cases):
    """A later case in the same shard: the ledger breaks in the middle, not only at the head."""
    target = cases[0]
    shard = target.id % LEDGER_SHARDS
    later = None
    while later is None or later.id % LEDGER_SHARDS != shard:
        later = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
    session.commit()
    target_seq = session.scalar(select(LEDGER.c.seq).where(LEDGER.c.case_id == target.id))
    _delete_case_rows(session, target.id)
    report = verify_audit_chain(session)
    assert [str(p) for p in report.problems] == [
        f"ledger shard {shard} entry {target_seq} missing (a registered case was deleted)"
    ]


# --- What an event records ------------------------------------------------------------------------

def test_event_records_the_actor_and_grant_at_that_moment(session, world, cases):
    case = cases[0]
    reviewer = world.users["reviewer_A1"]
    township = world.unit("A1")
    approve = case_events(session, case.id)[3]
    assert (approve.action, approve.from_state, approve.to_state, approve.comment) == (
        "approve", "township_review", "county_review", "同意")
    assert (approve.actor_id, approve.actor_name, approve.actor_role, approve.actor_unit_id,
            approve.actor_unit_name) == (reviewer.id, reviewer.display_name, "reviewer", township.id, township.name)
    # Renaming the person and the unit later does not rewrite history.
    before = (approve.actor_name, approve.actor_unit_name)
    reviewer.display_name = "改名后的审核人"
    township.name = "改名后的街道总工会"
    session.commit()
    stored = session.execute(select(EVENTS.c.actor_name, EVENTS.c.actor_unit_name)
                             .where(EVENTS.c.id == approve.id)).one()
    assert tuple(stored) == before
    assert verify_audit_chain(session).ok


def test_event_records_field_changes_with_before_and_after(session, cases):
    create, update_form = case_events(session, cases[0].id)[:2]
    assert create.changes["employer"] == {"before": None, "after": "A1a公司"}
    assert create.changes["nominee_name"] == {"before": None, "after": "张三"}
    assert update_form.action == "update_form"
    assert update_form.changes == {"employer": {"before": "A1a公司", "after": "A1a机械厂"}}
    assert (update_form.from_state, update_form.to_state) == (None, None)


def test_event_time_is_stored_in_utc(session, world):
    local = NOW.astimezone(ZoneInfo("Asia/Shanghai"))
    case = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=local)
    session.commit()
    session.expire_all()
    (event,) = case_events(session, case.id)
    assert event.occurred_dt == NOW
    assert event.occurred_dt.utcoffset() == timedelta(0)
    assert event_payload(event)["occurred_dt"] == "2026-03-09T02:00:00.000000Z"


def test_comment_event_records_the_participant(session, world, cases):
    comment = case_events(session, cases[0].id)[4]
    county = world.unit("A")
    assert (comment.action, comment.comment, comment.actor_role, comment.actor_unit_id) == (
        "comment", "请补充事迹材料", "reviewer", county.id)
    assert (comment.from_state, comment.to_state) == (None, None)


# --- The documented canonical form ----------------------------------------------------------------

def _independent_hash(row) -> str:
    """The event hash as documented: every column but id and hash, occurred_dt as
    "YYYY-MM-DDTHH:MM:SS.ffffffZ" in UTC, JSON with sorted keys, no spaces, UTF-8 unescaped."""
    payload = {key: value for key, value in row._mapping.items() if key not in ("id", "hash")}
    payload["occurred_dt"] = row.occurred_dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    text_form = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text_form.encode("utf-8")).hexdigest()


def test_hash_covers_every_column_but_id_and_hash(session, cases):
    event = case_events(session, cases[0].id)[0]
    assert set(event_payload(event)) == {column.name for column in EVENTS.columns} - {"id", "hash"}


def test_stored_hashes_match_the_documented_canonical_form(session, cases):
    for case in cases:
        rows = session.execute(select(EVENTS).where(EVENTS.c.case_id == case.id).order_by(EVENTS.c.seq)).all()
        previous = GENESIS_HASH
        for row, event in zip(rows, case_events(session, case.id), strict=True):
            assert row.prev_hash == previous
            assert row.hash == _independent_hash(row)
            assert row.hash == hashlib.sha256(canonical_bytes(event_payload(event))).hexdigest()
            previous = row.hash
        assert (case.audit_seq, case.audit_head) == (len(rows), previous)
        entry = session.scalars(select(CaseLedgerEntry).where(CaseLedgerEntry.case_id == case.id)).one()
        assert entry.genesis_hash == rows[0].hash
        assert entry.hash == hashlib.sha256(canonical_bytes(ledger_payload(entry))).hexdigest()


def test_canonical_bytes_are_sorted_compact_utf8():
    assert canonical_bytes({"b": 1, "a": "张三", "c": None}) == '{"a":"张三","b":1,"c":null}'.encode("utf-8")


# --- Atomicity ------------------------------------------------------------------------------------

def _stored(session, case_id):
    """What the database holds for the case, read past the session's copies."""
    row = session.execute(select(CASES.c.state, CASES.c.version, CASES.c.audit_seq, CASES.c.form_data)
                          .where(CASES.c.id == case_id)).one()
    events = session.scalar(select(func.count()).select_from(EVENTS).where(EVENTS.c.case_id == case_id))
    tasks = session.execute(select(Task.__table__.c.state, Task.__table__.c.unit_id, Task.__table__.c.closed_dt)
                            .where(Task.__table__.c.case_id == case_id).order_by(Task.__table__.c.id)).all()
    return tuple(row), events, tasks


@pytest.mark.parametrize("operation", ["approve", "update_draft"])
def test_failure_after_the_audit_append_leaves_nothing(session, world, monkeypatch, operation):
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "basic_nomination", form=FORM, now=NOW)
    if operation == "approve":
        submit_case(session, applicant, case, expected_version=case.version, now=NOW)
    session.commit()
    before = _stored(session, case.id)
    written = []

    def broken_tasks(session, case, *args, **kwargs):
        session.flush()  # the state change and the audit event reach the database first
        written.append(_stored(session, case.id))
        raise RuntimeError("tasks unavailable")

    monkeypatch.setattr(engine.operations.transitions, "follow_state", broken_tasks)
    monkeypatch.setattr(engine.operations.transitions, "follow_form", broken_tasks)
    with pytest.raises(RuntimeError):
        if operation == "approve":
            approve_case(session, world.actor("reviewer_A1"), case, expected_version=case.version, now=NOW)
        else:
            update_draft(session, applicant, case, {"employer": "别的公司"}, expected_version=case.version, now=NOW)
    (during,) = written
    assert during[1] == before[1] + 1, "the failure should come after the audit event was written"
    assert during[0] != before[0]
    session.rollback()
    assert _stored(session, case.id) == before
    assert verify_audit_chain(session, case_ids=[case.id]).ok
