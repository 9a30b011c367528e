"""A case's audit events over the API: the hash chain as stored, for the case's reviewers and
auditors, personal data masked for those who may not see it in full."""
from __future__ import annotations

import pytest

from engine.audit.chain import case_events, event_payload, sha256_hex
from engine.definitions.forms import mask_id_number
from tests.api_v1.conftest import error_of
from tests.api_v1.test_notices import hardship_case_on_notice
from tests.test_competition_results import submitted as competition_submitted
from tests.test_hardship_aid import OBJECTION


@pytest.fixture
def case(session, world):
    return hardship_case_on_notice(session, world)


def events_of(api, who, case_id):
    response = api(who).get(f"cases/{case_id}/audit-events")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["events"]


def test_a_reviewer_reads_the_whole_chain_as_stored(api, session, case):
    events = events_of(api, "reviewer_A", case.id)
    stored = case_events(session, case.id)
    assert [e["seq"] for e in events] == [e.seq for e in stored] == list(range(1, case.audit_seq + 1))
    assert [e["action"] for e in events] == ["create", "submit", "record", "evaluate", "approve", "approve"]
    for shown, row in zip(events, stored):
        assert (shown["hash"], shown["prev_hash"]) == (row.hash, row.prev_hash)
        assert sha256_hex(event_payload(row)) == shown["hash"]
        assert shown["at"].endswith("+08:00")
    assert events[0]["prev_hash"] == "0" * 64
    assert all(later["prev_hash"] == earlier["hash"] for earlier, later in zip(events, events[1:]))
    submit = events[1]
    assert submit["actor"] == {"id": case.applicant_id, "name": "applicant_A1a"}
    assert submit | {"at": None} == submit | {
        "at": None, "role": "applicant", "from_state": "draft", "to_state": "home_visit", "comment": None,
        "changes": None, "unit": {"id": case.origin_unit_id, "name": "A1a公司工会"}}
    # The case's reviewers see personal data in full.
    assert events[0]["changes"]["id_number"] == {"before": None, "after": case.form_data["id_number"]}


def test_an_auditor_reads_the_chain_with_personal_data_masked(api, session, case):
    events = events_of(api, "auditor_A", case.id)
    assert [e["hash"] for e in events] == [e.hash for e in case_events(session, case.id)]
    created = events[0]["changes"]
    assert created["id_number"]["after"] == mask_id_number(case.form_data["id_number"])
    assert created["bank_account"]["after"] == "*" * 15 + "3445"
    assert created["applicant_name"]["after"] == "职工1"  # only what the definition marks personal is masked
    text = api("auditor_city").get(f"cases/{case.id}/audit-events").get_data(as_text=True)
    assert case.form_data["id_number"] not in text and case.form_data["bank_account"] not in text
    # Masking changes what is shown, never what is stored.
    assert case_events(session, case.id)[0].changes["id_number"]["after"] == case.form_data["id_number"]


def test_an_objection_from_the_public_is_in_the_chain(api, case):
    assert api().post(f"public/notices/{case.id}/objections", json=OBJECTION).status_code == 201
    objection, moved = events_of(api, "reviewer_A1a", case.id)[-2:]
    assert (objection["action"], objection["actor"], objection["role"], objection["unit"]) == (
        "objection", {"id": None, "name": "公众"}, None, None)
    assert "李群众" not in str(objection) and "13800138000" not in str(objection)
    assert (moved["action"], moved["to_state"], moved["role"]) == ("object", "objection_investigation", None)


@pytest.mark.parametrize(("who", "status"), [
    ("applicant_A1a", 403),  # the applicant knows the case exists
    ("admin", 403),
    ("reviewer_B", 404),
    ("reviewer_A2", 404),  # another township of the same county
    ("applicant_B1a", 404),
])
def test_others_are_refused(api, case, who, status):
    response = api(who).get(f"cases/{case.id}/audit-events")
    assert response.status_code == status
    assert "events" not in response.get_json()
    error_of(response)


def test_an_unknown_case_is_404_and_anonymous_callers_401(api, case):
    assert api("auditor_city").get("cases/999999/audit-events").status_code == 404
    assert api().get(f"cases/{case.id}/audit-events").status_code == 401


def test_record_data_in_the_chain_is_masked_for_auditors(api, session, world):
    """Imported result rows carry ID numbers: full for reviewers, masked for auditors."""
    case = competition_submitted(session, world)
    session.flush()
    full = [e for e in events_of(api, "reviewer_A", case.id) if e["action"] == "record"]
    masked = [e for e in events_of(api, "auditor_A", case.id) if e["action"] == "record"]
    assert len(full) == len(masked) == 4
    for shown, hidden in zip(full, masked):
        id_number = shown["details"]["data"]["id_number"]
        assert len(id_number) == 18 and hidden["details"]["data"]["id_number"] == mask_id_number(id_number)
        assert hidden["details"]["data"]["participant_name"] == shown["details"]["data"]["participant_name"]
        assert hidden["hash"] == shown["hash"]


def test_how_each_juror_voted_is_for_auditors_only(api, session, world):
    from engine.procedures.juries import cast_vote
    from tests.test_honours import Honours

    case = Honours(session, world).at_jury()
    cast_vote(session, world.actor("reviewer_B"), case, "reject")
    session.flush()

    def vote_details(reader):
        response = api(reader).get(f"cases/{case.id}/audit-events")
        assert response.status_code == 200, response.get_json()
        [vote] = [event for event in response.get_json()["events"] if event["action"] == "vote"]
        return vote["details"]

    assert vote_details("auditor_city")["choice"] == "reject"
    assert "choice" not in vote_details("reviewer_city") and "jury_id" in vote_details("reviewer_city")
