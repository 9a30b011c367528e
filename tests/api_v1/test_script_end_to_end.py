"""A script holding API tokens takes cases from draft to final approval through the API alone.

Every human step goes over HTTP with a Bearer token: the city opens the round, sets the
quotas and forms the jury; the grassroots union nominates and declares; township, county
and city forward; the city gathers background opinions; the jurors vote; the public reads
the notice without signing in. The one step no person takes — the notice period running
out — is the engine's timer, fired here as the clock would fire it. Runs on SQLite and
PostgreSQL, on the real clock (the API's), so dates are built from today.
"""
from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import select

from engine.base.db import utcnow
from engine.calendar.working_days import last_covered_year
from engine.cases.case import Case
from engine.cases.integrity import verify_audit_chain
from engine.cases.tasks import Task
from engine.definitions.forms import id_facts
from engine.operations.timers import fire_due_timers
from tests.test_honours import AWARDS, BASE_SETTINGS, id_number

PDF = b"%PDF-1.4 nomination form"


def ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


def act(client, case, trigger, **body):
    return ok(client.post(f"cases/{case['id']}/actions/{trigger}", json={"version": case["version"], **body}))["case"]


def test_an_honours_nomination_from_draft_to_award_by_api_alone(api, session, world):
    now = utcnow()
    if now.year + 1 > last_covered_year(session):
        # Deadlines need the working-day calendar; a year the package lacks is entered by an admin.
        from engine.calendar.working_days import CalendarYear

        session.add(CalendarYear(year=now.year + 1))
        session.flush()
    admin, city = api("admin"), api("reviewer_city")
    applicant, township, county = api("applicant_A1a"), api("reviewer_A1"), api("reviewer_A")

    # The city opens the round, hands out places and forms the jury.
    round_ = ok(admin.post("rounds", json={
        "kind": "honours", "unit_id": world.unit("city").id, "title": f"{now.year}年度五一劳动奖评选",
        "year": now.year, "opens_at": (now - timedelta(days=1)).isoformat(),
        "closes_at": (now + timedelta(days=30)).isoformat(), "categories": AWARDS, "settings": BASE_SETTINGS,
    }), 201)
    for unit in ("A", "A1"):
        ok(admin.put(f"rounds/{round_['id']}/quotas",
                     json={"unit_id": world.unit(unit).id, "category": "labour_medal", "places": 1}))
    jurors = ["reviewer_city", "reviewer_A", "reviewer_B"]
    ok(admin.post(f"rounds/{round_['id']}/jury", json={
        "title": "评审委员会", "member_ids": [world.users[name].id for name in jurors]}), 201)

    # The grassroots union fills in the nomination, attaches the form and declares.
    form = ok(applicant.get("definitions/honours"))["form"]
    assert {"nominee_name", "id_number", "award_type"} <= {field["name"] for field in form}
    case = ok(applicant.post("cases", json={"kind": "honours", "round_id": round_["id"], "form": {
        "award_type": "labour_medal", "nominee_name": "王建国", "employer": "A1a机械厂", "ownership": "public",
        "merits_summary": "扎根一线二十年，带徒三十人", "sex": "male", "person_category": "frontline_technician",
        "id_number": id_number(7), "veto_declarations": {"wage_arrears": {"answer": "no"}}}}), 201)
    assert case["form"]["id_number"] != id_number(7)  # the applicant reads the ID number masked
    assert case["form"]["birth_date"] == id_facts(id_number(7))["date"]  # derived from the ID number
    case = ok(applicant.get(f"cases/{case['id']}"))
    assert "submit" in [action["trigger"] for action in case["available_actions"]]
    case = act(applicant, case, "submit", comment="请审核")
    assert case["state"] == "township_review"

    # Each level finds it in its inbox and forwards it, drawing its place.
    for reviewer, next_state in ((township, "county_review"), (county, "city_review")):
        inbox = ok(reviewer.get("inbox?kind=honours"))["items"]
        assert case["id"] in [item["case_id"] for item in inbox]
        case = ok(reviewer.get(f"cases/{case['id']}"))
        assert case["form"]["id_number"] == id_number(7)  # the case's reviewers see it in full
        case = act(reviewer, case, "approve", comment="同意推荐")
        assert case["state"] == next_state
    quotas = ok(admin.get(f"rounds/{round_['id']}/quotas"))["quotas"]
    assert {(row["unit"]["id"], row["used"]) for row in quotas if row["category"] == "labour_medal"} == {
        (world.unit("A").id, 1), (world.unit("A1").id, 1)}

    # The city gathers the background opinion and sends it to the jury, which passes it.
    ok(city.post(f"cases/{case['id']}/records/background_opinion", json={"fields": {
        "body": "discipline", "opinion": "positive", "signer": "刘明", "opinion_date": now.date().isoformat()}}), 201)
    case = act(city, ok(city.get(f"cases/{case['id']}")), "approve")
    assert case["state"] == "jury_vote"
    for juror in jurors:
        ok(api(juror).post(f"cases/{case['id']}/jury/votes", json={"choice": "approve"}), 201)
    case = act(city, ok(city.get(f"cases/{case['id']}")), "pass_jury")
    assert case["state"] == "public_notice"

    # Anyone reads the notice without signing in; it shows the public fields only.
    notice = api().get(f"public/notices/{case['id']}")
    assert notice.status_code == 200 and "王建国" in notice.get_data(as_text=True)
    assert id_number(7) not in notice.get_data(as_text=True)

    # The notice period runs out with no objection: the engine's timer moves it on.
    due = session.scalar(select(Task.due_dt).where(Task.closed_dt.is_(None), Task.case_id == case["id"]))
    assert due is not None
    fire_due_timers(session, due + timedelta(minutes=1))
    session.commit()
    case = ok(city.get(f"cases/{case['id']}"))
    assert case["state"] == "final_approval"

    case = act(city, case, "approve", inputs={"decision_number": f"示工发〔{now.year}〕12号",
                                              "decision_date": now.date().isoformat()})
    assert case["state"] == "approved" and case["closed_at"].endswith("+08:00")
    assert case["outcome"]["decision_number"] == f"示工发〔{now.year}〕12号"

    # The trail holds every step, and its chain verifies.
    trail = ok(api("auditor_city").get(f"cases/{case['id']}/audit-events"))
    actions = [event["action"] for event in trail["events"]]
    assert actions[0] == "create" and actions[-1] == "approve"
    assert {"submit", "vote", "pass_jury", "close_notice"} <= set(actions)
    assert verify_audit_chain(session, [case["id"]]).ok
    assert session.get(Case, case["id"]).state == "approved"


def test_a_healthcare_claim_from_draft_to_payment_by_api_alone(api, session, world):
    """The same on a kind with an amount: the scheme is set over the API, the amount follows it."""
    from tests.test_medical_subsidy import SCHEME_VALUES, _form

    today = utcnow().date()
    admin, applicant, county = api("admin"), api("applicant_A1a"), api("reviewer_A")
    ok(admin.post("parameter-sets/medical_subsidy.schemes", json={
        "unit_id": world.unit("city").id, "valid_from": (today - timedelta(days=400)).isoformat(),
        "values": SCHEME_VALUES}), 201)
    form = _form(admission_date=(today - timedelta(days=10)).isoformat(),
                 discharge_date=(today - timedelta(days=3)).isoformat())
    case = ok(applicant.post("cases", json={"kind": "medical_subsidy", "form": form}), 201)
    assert case["form"]["bank_account"].endswith("3445") and case["form"]["bank_account"].startswith("*")
    version = case["version"]
    for field in ("discharge_summary", "diagnosis_certificate", "settlement_sheet", "itemised_bill"):
        upload = ok(applicant.post(f"cases/{case['id']}/attachments", data={
            "field": field, "version": str(version), "file": (io.BytesIO(PDF), f"{field}.pdf")}), 201)
        version = upload["case_version"]
    case = act(applicant, ok(applicant.get(f"cases/{case['id']}")), "submit")
    assert case["state"] == "county_review"
    case = act(county, ok(county.get(f"cases/{case['id']}")), "approve")
    assert case["state"] == "disbursement"
    # 7,000 in the catalogue, less the 1,000 deductible, at half: 3,000.00, as a string.
    assert case["outcome"]["subsidy_amount"] == "3000.00"
    case = act(county, case, "disburse", inputs={"paid_on": today.isoformat(), "payment_reference": "YH2026001"})
    assert case["state"] == "paid"
    assert verify_audit_chain(session, [case["id"]]).ok


def test_the_applicant_sees_that_the_jury_voted_but_not_who(api, session, world):
    from engine.procedures.juries import cast_vote
    from tests.test_honours import Honours

    honours = Honours(session, world)
    case = honours.at_jury()
    cast_vote(session, world.actor("reviewer_B"), case, "reject")
    session.flush()
    applicant_view = ok(api("applicant_A1a").get(f"cases/{case.id}"))
    [vote] = [event for event in applicant_view["timeline"] if event["action"] == "vote"]
    assert vote["actor_name"] is None and "reject" not in str(vote) and "不同意" not in str(vote)
    reviewer_view = ok(api("reviewer_city").get(f"cases/{case.id}"))
    [vote] = [event for event in reviewer_view["timeline"] if event["action"] == "vote"]
    assert vote["actor_name"] == "reviewer_B" and "不同意" not in str(vote)
