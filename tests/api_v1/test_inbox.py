"""GET /inbox and /inbox/counts: who sees which waiting cases, filters, order, and keyset pages
that stay stable while new cases arrive."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from engine.base.db import utcnow
from engine.cases.tasks import Task
from engine.operations.transitions import create_draft, submit_case
from tests.api_v1.conftest import error_of
from tests.api_v1.test_cases import submitted
from tests.test_honours import Honours
from web.paging import encode_cursor

FORM = {"award_type": "labour_medal", "nominee_name": "孙八", "employer": "A1a公司", "ownership": "public",
        "merits_summary": "节能降耗显著"}
NO_DUE = object()


@pytest.fixture
def waiting(session, world):
    """``waiting(due_in_days, applicant=…)`` submits a basic nomination now and sets its due date
    (None: no deadline) so the inbox order does not depend on today's calendar."""

    def submit(due_in_days=NO_DUE, applicant="applicant_A1a", nominee="孙八"):
        now = utcnow()
        actor = world.actor(applicant)
        case = create_draft(session, actor, "basic_nomination", form=FORM | {"nominee_name": nominee}, now=now)
        submit_case(session, actor, case, expected_version=case.version, now=now)
        if due_in_days is not NO_DUE:
            due = None if due_in_days is None else now + timedelta(days=due_in_days)
            session.execute(update(Task).where(Task.closed_dt.is_(None), Task.case_id == case.id).values(due_dt=due))
        return case

    return submit


def ids(response) -> list[int]:
    assert response.status_code == 200, response.get_json()
    return [item["case_id"] for item in response.get_json()["items"]]


def test_reviewer_sees_their_units_cases_soonest_due_first_undated_last(api, world, waiting):
    later = waiting(2, nominee="晚")
    undated = waiting(None, applicant="applicant_A1b", nominee="无期限")
    overdue = waiting(-1, nominee="超期")
    waiting(1, applicant="applicant_B1a")  # county B: never in A1's inbox
    body = api("reviewer_A1").get("inbox").get_json()
    assert [item["case_id"] for item in body["items"]] == [overdue.id, later.id, undated.id]
    assert body["next_cursor"] is None
    first = body["items"][0]
    assert first | {"entered_at": None, "due_at": None, "last_day": None} == {
        "case_id": overdue.id, "kind": "basic_nomination", "kind_label": "基础推荐流程（测试用）",
        "state": "township_review", "state_label": "镇（街道）总工会审核", "title": "超期", "round_id": None,
        "origin_unit": {"id": world.unit("A1a").id, "name": "A1a公司工会"},
        "entered_at": None, "due_at": None, "last_day": None, "overdue": True, "holder": None}
    assert first["due_at"].endswith("+08:00") and first["entered_at"].endswith("+08:00")
    # One rule with the pages: the last day to act is the local day the due time ends
    # (a deadline at midnight leaves the day before).
    due_at = datetime.fromisoformat(first["due_at"])
    assert first["last_day"] == (due_at - timedelta(microseconds=1)).date().isoformat()
    assert [item["overdue"] for item in body["items"]] == [True, False, False]
    assert body["items"][2]["due_at"] is None


def test_reviewer_of_county_b_never_sees_county_a(api, waiting):
    waiting(1)
    mine = waiting(1, applicant="applicant_B1a")
    assert ids(api("reviewer_B1").get("inbox")) == [mine.id]
    assert ids(api("reviewer_B").get("inbox")) == []  # nothing waits at the county yet


def test_filters_by_kind_state_unit_and_due(api, world, waiting):
    overdue = waiting(-1)
    soon = waiting(1)
    far = waiting(40)
    reviewer = api("reviewer_A1_and_A")
    assert ids(reviewer.get("inbox?due=overdue")) == [overdue.id]
    assert ids(reviewer.get("inbox?due=due_soon&due_soon_days=5")) == [soon.id]
    assert ids(reviewer.get("inbox?due=any")) == [overdue.id, soon.id, far.id]
    assert ids(reviewer.get("inbox?kind=honours")) == []
    assert ids(reviewer.get("inbox?kind=basic_nomination&state=township_review")) == [overdue.id, soon.id, far.id]
    assert ids(reviewer.get("inbox?state=county_review")) == []
    assert ids(reviewer.get(f"inbox?unit_id={world.unit('A').id}")) == []
    assert ids(reviewer.get(f"inbox?unit_id={world.unit('A1').id}")) == [overdue.id, soon.id, far.id]


def test_filter_by_round(api, session, world, waiting):
    honours = Honours(session, world)
    nomination = honours.submitted()
    waiting(1)
    reviewer = api("reviewer_A1")
    assert ids(reviewer.get(f"inbox?round_id={honours.round.id}")) == [nomination.id]
    assert reviewer.get(f"inbox?round_id={honours.round.id}").get_json()["items"][0]["round_id"] == honours.round.id
    assert ids(reviewer.get(f"inbox?round_id={honours.round.id + 1}")) == []


def test_applicant_inbox_holds_their_drafts(api, session, world):
    draft = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=utcnow())
    assert ids(api("applicant_A1a").get("inbox?role=applicant")) == [draft.id]
    assert ids(api("applicant_A1b").get("inbox?role=applicant")) == []


@pytest.mark.parametrize("who, role", [("applicant_A1a", "reviewer"), ("reviewer_A1", "applicant"),
                                       ("auditor_city", "reviewer")])
def test_a_role_the_caller_does_not_hold_is_403(api, waiting, who, role):
    """Does asking for a role one does not hold answer 403 rather than an empty list?"""
    waiting(1)
    for path in (f"inbox?role={role}", f"inbox/counts?role={role}"):
        response = api(who).get(path)
        assert response.status_code == 403
        assert error_of(response)["code"] == "permission_denied"


def test_anonymous_is_401(api):
    assert api().get("inbox").status_code == 401


@pytest.mark.parametrize("query, field", [
    ("due=soonish", "due"),
    ("role=boss", "role"),
    ("limit=0", "limit"),
    ("limit=201", "limit"),
    ("limit=many", "limit"),
    ("round_id=abc", "round_id"),
    ("round_id=0", "round_id"),
    (f"round_id={2**40}", "round_id"),
    ("kind=%00", "kind"),
    ("due_soon_days=0", "due_soon_days"),
    ("cursor=not-a-cursor", "cursor"),
    (f"cursor={encode_cursor(['yesterday', 1])}", "cursor"),
    (f"cursor={encode_cursor(['2026-03-09T02:00:00', 1])}", "cursor"),  # no offset
    (f"cursor={encode_cursor([None, 2 ** 70])}", "cursor"),  # beyond the id column
    (f"cursor={encode_cursor([None, 'one'])}", "cursor"),
    (f"cursor={encode_cursor([None])}", "cursor"),
])
def test_bad_query_is_422_naming_the_field(api, query, field):
    response = api("reviewer_A1").get(f"inbox?{query}")
    assert response.status_code == 422
    assert field in error_of(response)["fields"], error_of(response)


def test_a_unit_filter_must_be_one_of_the_callers_units(api, world):
    response = api("reviewer_A1").get(f"inbox?unit_id={world.unit('B1').id}")
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"unit_id": ["您在该单位没有审核人角色"]}


def test_pages_follow_the_key_and_a_case_arriving_meanwhile_repeats_or_skips_nothing(api, session, waiting):
    existing = [waiting(days) for days in (1, 2, 3, 4, 5)]
    reviewer = api("reviewer_A1")
    first = reviewer.get("inbox?limit=2").get_json()
    assert [item["case_id"] for item in first["items"]] == [existing[0].id, existing[1].id]
    # Due before the cursor's key: it belongs to a page already read, so it must not shift the rest.
    early = waiting(0)
    seen = [item["case_id"] for item in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        body = reviewer.get(f"inbox?limit=2&cursor={cursor}").get_json()
        seen += [item["case_id"] for item in body["items"]]
        cursor = body["next_cursor"]
    assert seen == [case.id for case in existing]
    assert early.id in ids(reviewer.get("inbox"))  # a fresh first page has it


def test_undated_rows_page_by_case_id(api, waiting):
    rows = [waiting(None) for _ in range(3)]
    reviewer = api("reviewer_A1")
    first = reviewer.get("inbox?limit=2").get_json()
    rest = reviewer.get(f"inbox?limit=2&cursor={first['next_cursor']}").get_json()
    assert [i["case_id"] for i in first["items"] + rest["items"]] == [case.id for case in rows]
    assert rest["next_cursor"] is None


def test_counts_per_kind_with_overdue(api, session, world, waiting):
    waiting(-1)
    waiting(-2)
    waiting(3)
    waiting(None)
    nomination = Honours(session, world).submitted()
    nomination_due = session.scalar(select(Task.due_dt).where(Task.closed_dt.is_(None), Task.case_id == nomination.id))
    counts = api("reviewer_A1").get("inbox/counts").get_json()["counts"]
    assert counts == [
        {"kind": "basic_nomination", "kind_label": "基础推荐流程（测试用）", "waiting": 4, "overdue": 2},
        {"kind": "honours", "kind_label": "五一劳动荣誉推荐", "waiting": 1, "overdue": int(nomination_due < utcnow())},
    ]
    assert api("reviewer_B1").get("inbox/counts").get_json() == {"counts": []}


def test_reading_the_inbox_writes_nothing(api, session, waiting):
    waiting(1)
    before = session.scalar(select(func.count(Task.id)))
    api("reviewer_A1").get("inbox?due=soonish")
    api("reviewer_A1").get("inbox")
    assert session.scalar(select(func.count(Task.id))) == before


def test_done_lists_what_the_caller_handled_and_finds_it(api, session, world):
    case = submitted(session, world)
    reviewer = api("reviewer_A1")
    assert reviewer.post(f"cases/{case.id}/actions/approve", json={"version": case.version}).status_code == 200
    [item] = reviewer.get("inbox/done").get_json()["items"]
    assert (item["case_id"], item["state_label"], item["now_state_label"], item["closed_how"]) == (
        case.id, "镇（街道）总工会审核", "县（区）总工会审核", "acted")
    assert reviewer.get(f"inbox/done?q={case.id}").get_json()["items"][0]["case_id"] == case.id
    assert reviewer.get("inbox/done?q=没有这个").get_json()["items"] == []
    assert api("reviewer_A").get("inbox/done").get_json()["items"] == []
    bad = reviewer.get("inbox/done?q=" + "x" * 101)
    assert bad.status_code == 422 and "q" in error_of(bad)["fields"]
    assert reviewer.get("inbox/done?cursor=bm9wZQ").status_code == 422


def test_q_finds_a_waiting_case_by_name_or_number_and_pages_with_it(api, waiting):
    zhang = [waiting(days, nominee=f"张三{days}") for days in (1, 2, 3)]
    li = waiting(4, nominee="李四")
    elsewhere = waiting(1, applicant="applicant_B1a", nominee="张三0")
    reviewer = api("reviewer_A1")

    def ids(**query) -> list[int]:
        return [item["case_id"] for item in reviewer.get("inbox", query_string=query).get_json()["items"]]

    assert ids(q="张三") == [case.id for case in zhang]
    assert ids(q=f"第 {li.id} 号") == [li.id] == ids(q=f"#{li.id}") == ids(q=str(li.id))
    assert ids(q=str(elsewhere.id)) == []
    first = reviewer.get("inbox", query_string={"q": "张三", "limit": 2}).get_json()
    rest = reviewer.get("inbox", query_string={"q": "张三", "limit": 2, "cursor": first["next_cursor"]}).get_json()
    assert [item["case_id"] for item in first["items"] + rest["items"]] == [case.id for case in zhang]
    for bad in ("x" * 101, ""):
        response = reviewer.get("inbox", query_string={"q": bad})
        assert response.status_code == 422 and "q" in error_of(response)["fields"], bad


def test_q_is_documented(api):
    spec = api().get("openapi.json").get_json()
    [q] = [parameter for parameter in spec["paths"]["/api/v1/inbox"]["get"]["parameters"] if parameter["name"] == "q"]
    assert q["in"] == "query" and "案件编号" in q["description"] and "姓名" in q["description"]
    assert q["schema"]["maxLength"] == 100
