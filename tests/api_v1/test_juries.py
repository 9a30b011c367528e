"""Juries over the API: forming a round's jury, members voting once each, the tally for the
case's reviewers only, secret ballots, and the member's list of jury duties."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.audit.chain import case_events
from engine.base.db import utcnow
from engine.operations.transitions import create_draft
from engine.procedures.juries import Jury, JuryMember, JuryVote
from engine.procedures.rounds import open_round
from tests.api_v1.conftest import error_of
from tests.test_honours import AWARDS, Honours


@pytest.fixture
def honours(session, world):
    """A city round whose jury is reviewer_city, reviewer_A and reviewer_B."""
    return Honours(session, world)


def votes(session) -> int:
    return session.scalar(select(func.count(JuryVote.id)))


def jury_of(api, who, case):
    response = api(who).get(f"cases/{case.id}/jury")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_members_vote_once_and_the_tally_is_for_the_cases_reviewers(api, session, world, honours):
    case = honours.at_jury()
    for member in ("reviewer_A", "reviewer_B"):
        response = api(member).post(f"cases/{case.id}/jury/votes", json={"choice": "approve"})
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["case_id"] == case.id

    second = api("reviewer_A").post(f"cases/{case.id}/jury/votes", json={"choice": "reject"})
    assert second.status_code == 422
    assert error_of(second)["fields"] == {"choice": ["您已对该推荐投过票，每位评委只能投一次"]}
    assert votes(session) == 2

    # A reviewer of the case who is not on the jury sees the count, never who voted how.
    seen = jury_of(api, "reviewer_A1", case)
    assert set(seen) == {"jury", "members", "votes_cast", "voting_open", "voted_by_me", "tally"}
    assert seen["votes_cast"] == 2 and seen["voting_open"] is True and seen["voted_by_me"] is False
    assert seen["tally"] | {"rule": None} == {"members": 3, "present": 2, "approve": 2, "reject": 0, "abstain": 0,
                                                "rule": None, "quorum_met": True, "passed": True}
    assert [m["name"] for m in seen["members"]] == ["reviewer_A", "reviewer_B", "reviewer_city"]
    assert seen["jury"] | {"id": None} == {"id": None, "round_id": honours.round.id, "title": "评审委员会",
                                           "pass_fraction": {"numerator": 2, "denominator": 3},
                                           "quorum": {"numerator": 2, "denominator": 3}}

    # Members, auditors and the applicant: no tally while the vote runs.
    member_view = jury_of(api, "reviewer_B", case)  # a member from county B, who cannot open the case itself
    assert (member_view["voted_by_me"], member_view["tally"]) == (True, None)
    assert jury_of(api, "reviewer_city", case)["tally"] is None  # reviewer and member: not while voting
    assert jury_of(api, "auditor_city", case)["tally"] is None
    assert jury_of(api, "applicant_A1a", case)["tally"] is None

    # Once the vote is over, the reviewer who sat on the jury sees it too.
    assert api("reviewer_city").post(f"cases/{case.id}/jury/votes", json={"choice": "abstain"}).status_code == 201
    session.refresh(case)  # the API's votes moved its version on
    honours.act("reviewer_city", case, "pass_jury")
    after = jury_of(api, "reviewer_city", case)
    assert (after["voting_open"], after["tally"]["present"], after["tally"]["abstain"]) == (False, 3, 1)

    # Each ballot is in the audit trail, as the engine logs it.
    ballots = [e.details["choice"] for e in case_events(session, case.id) if e.action == "vote"]
    assert sorted(ballots) == ["abstain", "approve", "approve"]


def test_who_may_not_vote(api, session, honours):
    case = honours.at_jury()
    outsider = api("reviewer_A1").post(f"cases/{case.id}/jury/votes", json={"choice": "approve"})
    assert outsider.status_code == 403 and error_of(outsider)["code"] == "permission_denied"
    assert api("applicant_A1a").post(f"cases/{case.id}/jury/votes", json={"choice": "approve"}).status_code == 403
    # Not a member and not allowed to see the case: it does not exist for them.
    assert api("reviewer_B1").post(f"cases/{case.id}/jury/votes", json={"choice": "approve"}).status_code == 404
    assert api("reviewer_B1").get(f"cases/{case.id}/jury").status_code == 404
    assert api("reviewer_A").post("cases/999999/jury/votes", json={"choice": "approve"}).status_code == 404
    assert votes(session) == 0


def test_no_vote_before_the_case_reaches_the_jury(api, session, honours):
    case = honours.at_city()
    response = api("reviewer_A").post(f"cases/{case.id}/jury/votes", json={"choice": "approve"})
    assert response.status_code == 409 and error_of(response)["code"] == "invalid_action"
    assert votes(session) == 0


@pytest.mark.parametrize("body, field", [
    ({}, "choice"),
    ({"choice": "maybe"}, "choice"),
    ({"choice": 1}, "choice"),
    ({"choice": "approve", "weight": 2}, "weight"),
])
def test_bad_vote_is_422_and_writes_nothing(api, session, honours, body, field):
    case = honours.at_jury()
    response = api("reviewer_A").post(f"cases/{case.id}/jury/votes", json=body)
    assert response.status_code == 422
    assert field in error_of(response)["fields"]
    assert votes(session) == 0


def test_jury_duties_list_open_votes_with_my_ballot_marked(api, honours):
    voting = honours.at_jury()
    voted = honours.at_jury()
    honours.at_city()  # not yet before the jury
    api("reviewer_B").post(f"cases/{voted.id}/jury/votes", json={"choice": "reject"})
    duties = api("reviewer_B").get("jury-duties").get_json()["duties"]
    assert [(d["case_id"], d["voted"]) for d in duties] == [(voting.id, False), (voted.id, True)]
    assert duties[0] | {"title": None} == {"case_id": voting.id, "kind": "honours", "title": None,
                                           "state": "jury_vote", "round_id": honours.round.id, "voted": False}
    assert api("reviewer_A1").get("jury-duties").get_json() == {"duties": []}


def test_a_case_outside_any_jury_is_404(api, session, world):
    case = create_draft(session, world.actor("applicant_A1a"), "basic_nomination",
                        form={"award_type": "labour_medal", "nominee_name": "孙八", "employer": "A1a公司",
                              "ownership": "public", "merits_summary": "节能降耗显著"}, now=utcnow())
    response = api("applicant_A1a").get(f"cases/{case.id}/jury")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


# --- Forming a jury -------------------------------------------------------------------------------

def round_without_jury(session, world):
    now = utcnow()
    return open_round(session, None, kind="honours", unit=world.unit("city"), title="评选", year=2026,
                      opens_dt=now - timedelta(days=1), closes_dt=now + timedelta(days=9), categories=AWARDS)


def test_the_organiser_forms_the_rounds_jury_once(api, session, world):
    round_ = round_without_jury(session, world)
    members = [world.users[name].id for name in ("reviewer_A", "reviewer_B", "reviewer_city")]
    response = api("reviewer_city").post(f"rounds/{round_.id}/jury", json={
        "title": "市评审委员会", "member_ids": members + [members[0]],
        "pass_fraction": {"numerator": 1, "denominator": 2}})
    assert response.status_code == 201, response.get_json()
    assert response.get_json() | {"id": None} == {
        "id": None, "round_id": round_.id, "title": "市评审委员会", "member_ids": members,
        "pass_fraction": {"numerator": 1, "denominator": 2}, "quorum": {"numerator": 2, "denominator": 3}}
    again = api("admin").post(f"rounds/{round_.id}/jury", json={"title": "再来", "member_ids": members})
    assert again.status_code == 422 and "round_id" in error_of(again)["fields"]
    assert session.scalar(select(func.count(JuryMember.id))) == 3


@pytest.mark.parametrize("who", ["reviewer_A", "auditor_city", "applicant_A1a"])
def test_only_the_organising_unit_forms_the_jury(api, session, world, who):
    round_ = round_without_jury(session, world)
    response = api(who).post(f"rounds/{round_.id}/jury",
                             json={"title": "x", "member_ids": [world.users["reviewer_A"].id]})
    assert response.status_code == 403
    assert session.scalar(select(func.count(Jury.id))) == 0


@pytest.mark.parametrize("change, field", [
    ({"member_ids": []}, "member_ids"),
    ({"member_ids": [999999]}, "member_ids"),
    ({"member_ids": ["甲"]}, "member_ids.0"),
    ({"title": ""}, "title"),
    ({"pass_fraction": {"numerator": 3, "denominator": 2}}, "pass_fraction.numerator"),
    ({"pass_fraction": {"numerator": 0, "denominator": 2}}, "pass_fraction"),
    ({"quorum": {"numerator": 1}}, "quorum.denominator"),
    ({"chair": 1}, "chair"),
])
def test_bad_jury_input_is_422_and_writes_nothing(api, session, world, change, field):
    round_ = round_without_jury(session, world)
    body = {"title": "评审委员会", "member_ids": [world.users["reviewer_A"].id]} | change
    response = api("reviewer_city").post(f"rounds/{round_.id}/jury", json=body)
    assert response.status_code == 422, response.get_json()
    assert field in error_of(response)["fields"], error_of(response)
    assert session.scalar(select(func.count(Jury.id))) == 0


def test_a_round_out_of_reach_is_404_for_its_jury(api, session, world):
    now = utcnow()
    round_ = open_round(session, None, kind="honours", unit=world.unit("A"), title="A区评选", year=2026,
                        opens_dt=now - timedelta(days=1), closes_dt=now + timedelta(days=9), categories=AWARDS)
    response = api("reviewer_B").post(f"rounds/{round_.id}/jury",
                                      json={"title": "x", "member_ids": [world.users["reviewer_B"].id]})
    assert response.status_code == 404


def test_a_juror_from_another_district_reads_the_case_put_to_his_jury_masked(api, session, honours):
    """reviewer_B (county B) cannot open county A's nomination as a reviewer, but reads it as a
    juror: read-only, the ID number masked as for auditors, the background opinions included."""
    case = honours.at_jury(nominee_name="李工匠")
    assert api("reviewer_B").get(f"cases/{case.id}").status_code == 404
    response = api("reviewer_B").get(f"jury-duties/{case.id}")
    assert response.status_code == 200, response.get_json()
    seen = response.get_json()
    assert (seen["id"], seen["title"], seen["state"]) == (case.id, "李工匠", "jury_vote")
    id_number = case.form_data["id_number"]
    assert seen["form"]["id_number"] != id_number and seen["form"]["id_number"].endswith(id_number[-4:])
    assert "attachments" not in seen["form"]
    by_type = {record["type"]: record["fields"] for record in seen["records"]}
    assert by_type["background_opinion"]["body"] == "discipline"
    assert seen["form"]["veto_declarations"] == {"wage_arrears": {"answer": "no"}}
    assert (seen["jury"]["voting_open"], seen["jury"]["voted_by_me"], seen["jury"]["tally"]) == (True, False, None)
    assert id_number not in response.get_data(as_text=True)


@pytest.mark.parametrize("reader", ["reviewer_B1", "applicant_A1a", "auditor_city"])
def test_only_members_read_a_case_as_jurors(api, honours, reader):
    case = honours.at_jury()
    assert api(reader).get(f"jury-duties/{case.id}").status_code == 404


def test_a_case_not_yet_put_to_the_jury_is_404_for_its_members(api, honours):
    early = honours.at_city()
    assert api("reviewer_B").get(f"jury-duties/{early.id}").status_code == 404
    assert api("reviewer_B").get("jury-duties/999999").status_code == 404
