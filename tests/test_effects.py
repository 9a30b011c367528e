"""Side effects run only after the unit of work commits, never after a rollback."""
import pytest

from engine.base import effects
from engine.base.errors import PermissionDenied
from engine.operations.transitions import approve_case, create_draft, submit_case
from tests.conftest import NOW

FORM = {"award_type": "labour_medal", "nominee_name": "李四", "employer": "A1a公司", "ownership": "public",
        "merits_summary": "技术革新十项"}


@pytest.fixture
def received():
    calls = []

    def handler(**payload):
        calls.append(payload)

    effects.subscribe("case_transitioned", handler)
    yield calls
    effects.unsubscribe("case_transitioned", handler)


def test_transition_effects_wait_for_commit(session, world, received):
    """Does a subscriber hear of a transition only once it is committed?"""
    case = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
    submit_case(session, world.actor("applicant_A1a"), case, expected_version=case.version, now=NOW)
    assert received == []
    session.commit()
    assert received == [{"case_id": case.id, "trigger": "submit", "from_state": "draft", "to_state": "township_review"}]


def test_rolled_back_transition_has_no_effect(session, world, received):
    """Is a transition undone by rollback forgotten by the side-effect queue?"""
    case = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
    session.commit()
    submit_case(session, world.actor("applicant_A1a"), case, expected_version=case.version, now=NOW)
    session.rollback()
    session.commit()
    assert received == []


def test_failed_operation_queues_nothing(session, world, received):
    """Does a refused approval leave nothing queued for the next commit?"""
    case = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
    submit_case(session, world.actor("applicant_A1a"), case, expected_version=case.version, now=NOW)
    session.commit()
    received.clear()
    with pytest.raises(PermissionDenied):
        approve_case(session, world.actor("auditor_city"), case, expected_version=case.version, now=NOW)
    session.rollback()
    session.commit()
    assert received == []


def test_effect_published_in_a_rolled_back_savepoint_is_dropped(session, world, received):
    """A per-case savepoint that rolls back (as a batch might use) must not announce its change."""
    case = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
    session.commit()
    savepoint = session.begin_nested()
    submit_case(session, world.actor("applicant_A1a"), case, expected_version=case.version, now=NOW)
    savepoint.rollback()
    kept = session.begin_nested()
    second = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
    submit_case(session, world.actor("applicant_A1a"), second,
                expected_version=second.version, now=NOW)
    kept.commit()
    session.commit()
    assert [r["case_id"] for r in received] == [second.id]


def test_a_released_savepoint_waits_for_the_whole_unit_of_work(session, world, received):
    """A batch's per-case savepoint that succeeds announces nothing before the commit, and nothing
    at all when the whole unit of work then rolls back."""
    case = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
    session.commit()
    with session.begin_nested():
        submit_case(session, world.actor("applicant_A1a"), case, expected_version=case.version, now=NOW)
    assert received == []
    session.rollback()
    session.commit()
    assert received == []


def test_a_gathered_subscriber_hears_once_per_commit_with_every_payload(session, world):
    heard = []

    def gathered(bind, payloads):
        heard.append((bind, [payload["case_id"] for payload in payloads]))

    effects.subscribe("case_transitioned", gathered, gathered=True)
    try:
        cases = [create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
                 for _ in range(3)]
        for case in cases:
            submit_case(session, world.actor("applicant_A1a"), case, expected_version=case.version, now=NOW)
        session.commit()
    finally:
        effects.unsubscribe("case_transitioned", gathered)
    assert heard == [(session.get_bind(), [case.id for case in cases])]
