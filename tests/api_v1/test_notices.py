"""Public notices and objections over the API: anonymous, public fields only, rate-limited
objections with validated contacts, and the objectors' details for the case's reviewers."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from engine.base.config import LOCAL_TZ
from engine.base.db import utcnow
from engine.base.errors import NotFound
from engine.cases.case import Case
from engine.cases.records import add_record
from engine.cases.tasks import Task
from engine.operations.objections import lodge_objection
from engine.operations.transitions import create_draft, perform_action
from engine.procedures.notices import Objection, cases_on_notice, notice_of, set_notice_contact
from engine.procedures.parameters import set_parameters
from tests.api_v1.conftest import error_of
from tests.test_hardship_aid import OBJECTION, STANDARD_VALUES, form
from workflows.hardship_aid import STANDARDS

VISIT = {"visitor_one": "王干事", "visitor_two": "李委员", "check_members": "confirmed", "check_income": "confirmed",
         "check_housing": "confirmed", "check_hardship": "confirmed", "notes": "两人入户走访，情况属实。"}


def hardship_case_on_notice(session, world, i: int = 1) -> Case:
    """A hardship aid case of unit A1a driven through the engine to its public notice, on
    today's clock: the API judges whether the notice still runs by the real time."""
    now = utcnow() - timedelta(minutes=10)
    today = now.astimezone(LOCAL_TZ).date()
    set_parameters(session, None, STANDARDS, unit=world.unit("city"), valid_from=date(today.year, 1, 1),
                   valid_to=date(today.year, 12, 31), values=STANDARD_VALUES)
    case = create_draft(session, world.actor("applicant_A1a"), "hardship_aid", form=form(i), now=now)

    def act(who: str, trigger: str) -> None:
        perform_action(session, world.actor(who), case, trigger, expected_version=case.version, now=now)

    act("applicant_A1a", "submit")
    add_record(session, world.actor("reviewer_A1a"), case, "home_visit", VISIT | {"visit_date": today.isoformat()},
               now=now)
    act("reviewer_A1a", "evaluate")
    act("reviewer_A1", "approve")
    act("reviewer_A", "approve")
    assert case.state == "public_notice"
    session.flush()
    return case


@pytest.fixture
def notice(session, world) -> Case:
    return hardship_case_on_notice(session, world)


def objection_count(session) -> int:
    return session.scalar(select(func.count(Objection.id)))


# --- Reading notices -------------------------------------------------------------------------------

def test_anyone_reads_the_notices_and_sees_only_the_public_fields(api, notice):
    response = api().get("public/notices")
    assert response.status_code == 200, response.get_json()
    [entry] = response.get_json()["notices"]
    assert entry["case_id"] == notice.id
    assert (entry["kind"], entry["kind_label"], entry["unit_name"]) == ("hardship_aid", "困难职工帮扶申请", "A1a公司工会")
    assert entry["fields"] == [{"label": "申请人姓名", "value": "职工1"}, {"label": "工作单位", "value": "A1a公司"}]
    assert entry["notice_starts_at"].endswith("+08:00") and entry["notice_ends_at"].endswith("+08:00")
    assert entry["notice_starts_at"] < entry["notice_ends_at"]
    how = entry["how_to_object"]
    assert how["accepted"] is True and how["url"] == f"/api/v1/public/notices/{notice.id}/objections"
    assert [kind["value"] for kind in how["objector_kinds"]] == ["person", "unit"]
    text = response.get_data(as_text=True)
    for private in ("身份证", notice.form_data["id_number"], notice.form_data["bank_account"], "9000"):
        assert private not in text


def test_one_notice_is_public_and_shows_no_personal_data(api, notice):
    response = api().get(f"public/notices/{notice.id}")
    assert response.status_code == 200
    assert response.get_json()["case_id"] == notice.id
    assert notice.form_data["id_number"] not in response.get_data(as_text=True)
    assert "身份证" not in response.get_data(as_text=True)


def test_a_case_not_on_notice_is_not_found_whether_or_not_it_exists(api, session, world, notice):
    draft = create_draft(session, world.actor("applicant_A1a"), "hardship_aid", form=form(2))
    session.flush()
    for case_id in (draft.id, 999999):
        response = api().get(f"public/notices/{case_id}")
        assert response.status_code == 404
        assert error_of(response)["message"] == "该公示不存在或已结束"


def test_notices_filter_by_kind(api, notice):
    assert api().get("public/notices?kind=honours").get_json() == {"notices": []}
    assert len(api().get("public/notices?kind=hardship_aid").get_json()["notices"]) == 1


def test_unknown_kind_is_422(api):
    response = api().get("public/notices?kind=no_such_kind")
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"kind": ["未知的业务种类"]}


# --- Lodging objections ----------------------------------------------------------------------------

def test_anyone_lodges_an_objection_and_the_case_goes_to_investigation(api, session, notice):
    response = api().post(f"public/notices/{notice.id}/objections", json=OBJECTION)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {"receipt", "received_at", "progress_url"} and body["received_at"].endswith("+08:00")
    assert body["progress_url"] == f"/api/v1/public/objections/{body['receipt']}"
    objection = session.scalar(select(Objection).where(Objection.receipt == body["receipt"]))
    assert (objection.case_id, objection.objector_name, objection.contact) == (notice.id, "李群众", "13800138000")
    session.refresh(notice)
    assert notice.state == "objection_investigation"
    # Still on public display while it is investigated (see below).
    assert api().get(f"public/notices/{notice.id}").status_code == 200


def test_a_unit_objects_with_its_name(api, session, notice):
    data = OBJECTION | {"objector_kind": "unit", "unit_name": "某某公司", "objector_name": "张联系"}
    response = api().post(f"public/notices/{notice.id}/objections", json=data)
    assert response.status_code == 201, response.get_json()
    receipt = response.get_json()["receipt"]
    assert session.scalar(select(Objection.unit_name).where(Objection.receipt == receipt)) == "某某公司"


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"contact": "12345"}, "contact", "请填写11位手机号或带区号的固定电话"),
    ({"objector_name": None}, "objector_name", None),
    ({"objector_name": "李"}, "objector_name", "请填写真实姓名（2至50个字）"),
    ({"objector_kind": "anonymous"}, "objector_kind", "请选择以个人或单位名义提出"),
    ({"objector_kind": "unit"}, "unit_name", "以单位名义提出异议须写明单位名称"),
    ({"content": "太短"}, "content", "异议内容应为10至2000个字"),
    ({"contact": 13800138000}, "contact", "应为文字"),
    ({"email": "x@example.com"}, "email", "不认识的字段"),
])
def test_bad_objections_are_422_naming_the_field_and_nothing_is_written(api, session, notice, change, field, message):
    data = {key: value for key, value in (OBJECTION | change).items() if value is not None}
    response = api().post(f"public/notices/{notice.id}/objections", json=data)
    assert response.status_code == 422
    error = error_of(response)
    assert set(error["fields"]) == {field}
    if message:
        assert error["fields"][field] == [message]
    assert objection_count(session) == 0
    session.refresh(notice)
    assert notice.state == "public_notice"


def test_objection_to_a_case_not_on_notice_is_404_and_says_nothing_of_it(api, session, world):
    draft = create_draft(session, world.actor("applicant_A1a"), "hardship_aid", form=form(2))
    session.flush()
    answers = [api().post(f"public/notices/{case_id}/objections", json=OBJECTION) for case_id in (draft.id, 999999)]
    assert [answer.status_code for answer in answers] == [404, 404]
    assert error_of(answers[0]) == error_of(answers[1])
    assert objection_count(session) == 0


def test_objections_are_rate_limited(app, api, notice):
    app.config["OBJECTION_RATE_LIMIT"] = "2 per hour"
    client = api()
    bad = OBJECTION | {"contact": "1"}  # refused ones count too: the limit is on attempts
    statuses = [client.post(f"public/notices/{notice.id}/objections", json=bad).status_code for _ in range(3)]
    assert statuses == [422, 422, 429]
    limited = client.post(f"public/notices/{notice.id}/objections", json=OBJECTION)
    assert limited.status_code == 429
    assert error_of(limited)["code"] == "too_many_requests"


def notice_deadline(session, case) -> Task:
    return session.scalar(select(Task).where(Task.case_id == case.id, Task.state == "public_notice"))


def test_a_notice_under_investigation_stays_listed_until_its_period_ends(api, session, notice):
    """An objection does not end the notice: the public still finds it, marked 「异议核查中」,
    with its own period (not the investigation's deadline), and no further objection is taken
    while the first is investigated."""
    period = notice_deadline(session, notice)
    assert api().post(f"public/notices/{notice.id}/objections", json=OBJECTION).status_code == 201
    [listed] = api().get("public/notices").get_json()["notices"]
    one = api().get(f"public/notices/{notice.id}")
    assert one.status_code == 200
    for entry in (listed, one.get_json()):
        assert (entry["case_id"], entry["state_label"], entry["under_investigation"]) == (notice.id, "异议核查中", True)
        assert entry["how_to_object"]["accepted"] is False
        assert entry["notice_ends_at"] == listed["notice_ends_at"]
    assert listed["notice_ends_at"].startswith(period.due_dt.astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M"))
    again = api().post(f"public/notices/{notice.id}/objections", json=OBJECTION)
    assert again.status_code == 409
    assert error_of(again)["message"] == "该公示收到的异议正在调查核实，暂不受理新的异议；异议不成立、恢复公示后可再提出"
    assert objection_count(session) == 1


def test_a_notice_under_investigation_stays_listed_past_its_period_until_the_objection_is_decided(session, world, notice):
    period = notice_deadline(session, notice)
    lodge_objection(session, notice.id, OBJECTION, now=period.entered_dt + timedelta(minutes=1))
    after = period.due_dt + timedelta(days=1)
    [entry] = cases_on_notice(session, now=after)
    assert (entry["case_id"], entry["under_investigation"], entry["accepts_objections"]) == (notice.id, True, False)
    perform_action(session, world.actor("reviewer_A1a"), notice, "answer", expected_version=notice.version,
                   inputs={"answer": "经核实，情况属实。"}, now=after)
    assert [entry["case_id"] for entry in cases_on_notice(session, now=after)] == [notice.id]
    perform_action(session, world.actor("reviewer_A"), notice, "uphold", expected_version=notice.version,
                   comment="异议成立", now=after)
    assert cases_on_notice(session, now=after) == []
    with pytest.raises(NotFound):
        notice_of(session, notice.id, now=after)


# --- What is proposed, whom to contact, and following an objection by its receipt -------------------

def test_a_notice_says_what_is_proposed_and_whom_to_contact(api, session, world, notice):
    set_notice_contact(session, world.actor("admin"), world.unit("A").id, {"person": "王主任", "phone": "13900001111"})
    entry = api().get(f"public/notices/{notice.id}").get_json()
    assert entry["proposed"] == {"label": "拟给予帮扶", "value": "困难职工生活救助"}
    assert entry["contact"] == {"unit_id": world.unit("A").id, "unit_name": "A区总工会", "person": "王主任",
                                "phone": "13900001111", "address": None}


def test_the_receipt_follows_the_objection_and_tells_nothing_private(api, session, world, notice):
    receipt = api().post(f"public/notices/{notice.id}/objections", json=OBJECTION).get_json()["receipt"]
    response = api().get(f"public/objections/{receipt.lower()}")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["receipt"], body["status"], body["status_label"], body["notice_case_id"]) == (
        receipt, "open", "核查中", notice.id)
    assert [(step["step"], step["reached"], step["current"]) for step in body["steps"]] == [
        ("received", True, False), ("investigating", True, True), ("answered", False, False),
        ("decided", False, False)]
    assert body["steps"][0]["at"].endswith("+08:00") and body["steps"][2]["at"] is None
    session.refresh(notice)
    perform_action(session, world.actor("reviewer_A1a"), notice, "answer", expected_version=notice.version,
                   inputs={"answer": "经核实，情况属实。"})
    perform_action(session, world.actor("reviewer_A"), notice, "uphold", expected_version=notice.version,
                   comment="异议成立")
    body = api().get(f"public/objections/{receipt}").get_json()
    assert (body["status"], body["status_label"], body["notice_case_id"]) == ("upheld", "异议成立", None)
    text = json.dumps(body, ensure_ascii=False)
    for private in (OBJECTION["objector_name"], OBJECTION["contact"], OBJECTION["content"], "经核实，情况属实。",
                    "职工1", notice.form_data["id_number"]):
        assert private not in text


@pytest.mark.parametrize("receipt", ["YY2026-ABCD-EFGH", "not-a-receipt"])
def test_an_unknown_receipt_is_404_in_the_one_error_format(api, receipt):
    response = api().get(f"public/objections/{receipt}")
    assert response.status_code == 404
    assert error_of(response)["message"] == "没有这一受理编号的异议，请核对后重新输入"


def test_lookups_share_the_pages_rate_limit(app, api):
    app.config["OBJECTION_LOOKUP_RATE_LIMIT"] = "2 per hour"
    assert app.test_client().get("/public/objections/YY2026-ABCD-EFGH").status_code == 404
    assert api().get("public/objections/YY2026-ABCD-EFGH").status_code == 404
    limited = api().get("public/objections/YY2026-ABCD-EFGH")
    assert limited.status_code == 429 and error_of(limited)["message"] == "查询过于频繁，请一小时后再试"


# --- Reading objections ----------------------------------------------------------------------------

@pytest.fixture
def objected(api, notice):
    response = api().post(f"public/notices/{notice.id}/objections", json=OBJECTION)
    assert response.status_code == 201
    return notice


@pytest.mark.parametrize("reader", ["reviewer_A1a", "reviewer_A", "reviewer_city"])
def test_the_cases_reviewers_read_objections_with_the_contact(api, objected, reader):
    response = api(reader).get(f"cases/{objected.id}/objections")
    assert response.status_code == 200, response.get_json()
    [objection] = response.get_json()["objections"]
    assert (objection["objector_name"], objection["contact"], objection["status"]) == ("李群众", "13800138000", "open")
    assert objection["lodged_at"].endswith("+08:00")


def test_auditors_read_objections_with_the_contact_masked(api, objected):
    [objection] = api("auditor_A").get(f"cases/{objected.id}/objections").get_json()["objections"]
    assert objection["contact"] == "*******8000"


def test_the_applying_unit_reads_what_the_objection_says_but_not_who_lodged_it(api, objected):
    """The unit objected to must answer: it reads the content and the date, never the objector."""
    response = api("applicant_A1a").get(f"cases/{objected.id}/objections")
    assert response.status_code == 200, response.get_json()
    [objection] = response.get_json()["objections"]
    assert objection["content"] == OBJECTION["content"] and objection["lodged_at"].endswith("+08:00")
    assert (objection["status"], objection["objector_withheld"]) == ("open", True)
    for detail in ("objector_kind", "objector_kind_label", "objector_name", "unit_name", "contact"):
        assert objection[detail] is None
    text = response.get_data(as_text=True)
    assert OBJECTION["objector_name"] not in text and OBJECTION["contact"][-4:] not in text


def test_the_applying_units_case_view_shows_the_objection_as_its_page_does(api, objected):
    """GET /cases/{id} carries the objections each reader may read, as the case page shows them."""
    [seen] = api("applicant_A1a").get(f"cases/{objected.id}").get_json()["objections"]
    assert seen["content"] == OBJECTION["content"] and seen["objector_withheld"] is True
    assert seen["objector_name"] is None and seen["contact"] is None
    [reviewed] = api("reviewer_A").get(f"cases/{objected.id}").get_json()["objections"]
    assert (reviewed["objector_name"], reviewed["objector_withheld"]) == (OBJECTION["objector_name"], False)
    assert api("admin").get(f"cases/{objected.id}").get_json()["objections"] is None


@pytest.mark.parametrize(("reader", "status"), [
    ("applicant_A1b", 404),  # another unit's applicant
    ("admin", 403),
    ("reviewer_B", 404),
    ("auditor_city", 200),
    ("applicant_B1a", 404),
])
def test_who_else_may_read_objections(api, objected, reader, status):
    response = api(reader).get(f"cases/{objected.id}/objections")
    assert response.status_code == status
    if status != 200:
        assert "李群众" not in response.get_data(as_text=True)


def test_objections_need_signing_in(api, objected):
    assert api().get(f"cases/{objected.id}/objections").status_code == 401
