"""Cases through the API: start and fill in a draft, read one (per role), list one's own, comment."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import yaml
from sqlalchemy import func, select
from stdnum.cn import ric

from engine.audit.chain import AuditEvent
from engine.base.errors import DefinitionError
from engine.cases.case import Case
from engine.definitions.parse import parse_definition
from engine.operations.transitions import comment_on_case, create_draft, perform_action
from engine.org.units import SYSTEM_ACTOR
from tests.api_v1.conftest import error_of
from tests.conftest import NOW, TEST_DEFINITIONS
from web.paging import encode_cursor

FORM = {"award_type": "labour_medal", "nominee_name": "张三", "employer": "A1a公司", "ownership": "public",
        "merits_summary": "十年扎根一线"}
ID_BODY = "11010119800101001"
ID_NUMBER = ID_BODY + ric.calc_check_digit(ID_BODY + "0")
MASKED_ID = ID_NUMBER[:4] + "*" * 10 + ID_NUMBER[-4:]
BAD_CHECKSUM = ID_NUMBER[:-1] + ("1" if ID_NUMBER[-1] != "1" else "2")


def nominate(session, world, applicant="applicant_A1a", kind="basic_nomination", form=FORM) -> Case:
    """A draft made through the engine (seeding), visible to the API on the same transaction."""
    case = create_draft(session, world.actor(applicant), kind, form=form, now=NOW)
    session.flush()
    return case


def act(session, world, case, *steps, comment=None, **kwargs) -> Case:
    """Fire ``(person, trigger)`` steps through the engine."""
    for person, trigger in steps:
        perform_action(session, world.actor(person), case, trigger, expected_version=case.version, now=NOW,
                       comment=comment, **kwargs)
    session.flush()
    return case


def submitted(session, world, applicant="applicant_A1a", **kwargs) -> Case:
    return act(session, world, nominate(session, world, applicant, **kwargs), (applicant, "submit"))


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def written(session) -> tuple[int, int]:
    """Cases and audit events stored: a refused request must change neither."""
    return count(session, Case), count(session, AuditEvent)


# --- Creating a draft -----------------------------------------------------------------------------

def test_an_applicant_starts_a_draft_and_reads_it_back(api, session):
    response = api("applicant_A1a").post("cases", json={"kind": "basic_nomination",
                                                        "form": {"nominee_name": "张三", "id_number": ID_NUMBER}})
    assert response.status_code == 201, response.get_json()
    view = response.get_json()
    assert (view["kind"], view["state"], view["state_kind"], view["title"]) == ("basic_nomination", "draft", "draft", "张三")
    assert view["origin_unit"]["name"] == "A1a公司工会" and view["origin_unit"]["level"] == "grassroots"
    assert view["created_at"].endswith("+08:00") and view["submitted_at"] is None
    assert view["form"]["id_number"] == MASKED_ID  # the applicant reads it back masked
    assert [a["trigger"] for a in view["available_actions"]] == ["submit", "withdraw"]
    assert [(e["action"], e["to_state"], e["to_state_label"]) for e in view["timeline"]] == [("create", "draft", "草稿")]
    assert view["timeline"][0]["changes"]["id_number"]["after"] == MASKED_ID
    case = session.get(Case, view["id"])
    assert case.form_data["id_number"] == ID_NUMBER and case.version == view["version"]


@pytest.mark.parametrize("body, field, message", [
    ({}, "kind", "此项为必填项"),
    ({"kind": 7}, "kind", "应为文字"),
    ({"kind": "no_such_kind"}, "kind", "未知的业务类型「no_such_kind」"),
    ({"kind": "basic_nomination", "colour": "red"}, "colour", "不认识的字段"),
    ({"kind": "basic_nomination", "form": {"id_number": BAD_CHECKSUM}}, "id_number", "身份证号码校验位不正确"),
    ({"kind": "basic_nomination", "form": {"id_number": "12345"}}, "id_number", "身份证号码应为18位（最后一位可为X）"),
    ({"kind": "basic_nomination", "form": {"birth_date": "昨天"}}, "birth_date", "请按 年-月-日 填写日期，例如 2026-05-01"),
    ({"kind": "basic_nomination", "form": {"award_type": "gold"}}, "award_type", None),
    ({"kind": "basic_nomination", "form": {"hobby": "篮球"}}, "hobby", "表单中没有此项"),
    ({"kind": "basic_nomination", "form": ["张三"]}, "form", "应为对象"),
    ({"kind": "basic_nomination", "origin_unit_id": "7"}, "origin_unit_id", "应为整数"),
    ({"kind": "basic_nomination", "round_id": 1}, "round_id", "「基础推荐流程（测试用）」不分批次"),
])
def test_a_bad_draft_is_refused_with_its_field_and_nothing_is_written(api, session, body, field, message):
    client = api("applicant_A1a")
    before = written(session)
    response = client.post("cases", json=body)
    assert response.status_code == 422, response.get_json()
    error = error_of(response)
    assert error["code"] == "validation_failed" and field in error["fields"], error
    if message:
        assert error["fields"][field] == [message]
    assert written(session) == before


def test_a_reviewer_cannot_start_a_draft(api, session):
    before = written(session)
    response = api("reviewer_A1").post("cases", json={"kind": "basic_nomination"})
    assert response.status_code == 403 and error_of(response)["code"] == "permission_denied"
    assert written(session) == before


# --- Reading one case -----------------------------------------------------------------------------

def test_who_may_read_a_case_and_what_they_may_do(api, session, world):
    case = submitted(session, world)
    for outsider in ("applicant_B1a", "reviewer_B", "reviewer_B1", "reviewer_A2", "applicant_A1b"):
        response = api(outsider).get(f"cases/{case.id}")
        assert response.status_code == 404, outsider
        assert error_of(response)["code"] == "not_found"
    assert api("reviewer_A1").get("cases/999999").status_code == 404
    reviewer = api("reviewer_A1").get(f"cases/{case.id}").get_json()
    assert [a["trigger"] for a in reviewer["available_actions"]] == ["approve", "return", "reject"]
    assert reviewer["waits_for"] == "镇（街道）总工会审核人" and reviewer["due_at"].endswith("+08:00")
    assert reviewer["due_at"].endswith("T00:00:00+08:00") and reviewer["calendar_missing_year"] is None
    assert reviewer["last_day"] == (date.fromisoformat(reviewer["due_at"][:10]) - timedelta(days=1)).isoformat()
    auditor = api("auditor_city").get(f"cases/{case.id}")
    assert auditor.status_code == 200 and auditor.get_json()["available_actions"] == []
    assert api("reviewer_A").get(f"cases/{case.id}").get_json()["available_actions"] == []  # not its stage yet


def test_personal_data_is_in_full_only_for_the_cases_reviewers(api, session, world):
    case = submitted(session, world, form=FORM | {"id_number": ID_NUMBER})
    for person, shown in (("reviewer_A1", ID_NUMBER), ("reviewer_city", ID_NUMBER), ("applicant_A1a", MASKED_ID),
                          ("auditor_city", MASKED_ID), ("auditor_A", MASKED_ID)):
        view = api(person).get(f"cases/{case.id}").get_json()
        assert view["form"]["id_number"] == shown, person
        assert view["timeline"][0]["changes"]["id_number"]["after"] == shown, person


def test_money_is_two_decimals_and_sensitive_fields_are_masked(api, session, world):
    form = {"applicant_name": "李四", "id_number": ID_NUMBER, "bank_account": "6222020200112233", "amount": 1200}
    case = nominate(session, world, kind="reviewed_grant", form=form)
    view = api("applicant_A1a").get(f"cases/{case.id}").get_json()
    assert view["form"]["amount"] == "1200.00"
    assert view["form"]["bank_account"] == "************2233"
    assert view["timeline"][0]["changes"]["bank_account"]["after"] == "************2233"


def test_internal_comments_are_hidden_from_the_applicant(api, session, world):
    form = {"applicant_name": "李四", "id_number": ID_NUMBER, "amount": "800.5"}
    case = act(session, world, nominate(session, world, kind="reviewed_grant", form=form), ("applicant_A1a", "submit"))
    comment_on_case(session, world.actor("applicant_A1a"), case, "家中情况有变化，请联系我", now=NOW)
    comment_on_case(session, world.actor("reviewer_A1"), case, "内部：收入证明存疑，待核", now=NOW)
    act(session, world, case, ("reviewer_A1", "approve"), comment="内部：同意上报")
    act(session, world, case, ("reviewer_A", "return"), comment="请补充收入证明")

    def comments(person):
        timeline = api(person).get(f"cases/{case.id}").get_json()["timeline"]
        return [(e["action"], e["comment"], e["comment_hidden"]) for e in timeline if e["action"] != "create"]

    assert comments("applicant_A1a") == [
        ("submit", None, False), ("comment", "家中情况有变化，请联系我", False), ("comment", None, True),
        ("approve", None, True), ("return", "请补充收入证明", False)]
    for insider in ("reviewer_A1", "reviewer_A", "auditor_city"):
        assert ("approve", "内部：同意上报", False) in comments(insider), insider
    view = api("applicant_A1a").get(f"cases/{case.id}").get_json()
    assert (view["state"], view["return_reason"]) == ("returned", "请补充收入证明")


# --- Listing one's own cases ----------------------------------------------------------------------

def test_my_cases_newest_first_in_pages_with_filters(api, session, world):
    mine = [nominate(session, world) for _ in range(3)]
    act(session, world, mine[0], ("applicant_A1a", "submit"))
    prepared = create_draft(session, SYSTEM_ACTOR, "basic_nomination", origin_unit_id=world.unit("A1a").id, now=NOW)
    nominate(session, world, applicant="applicant_A1b")  # another unit's
    session.flush()
    client = api("applicant_A1a")
    first = client.get("cases", query_string={"limit": 2}).get_json()
    assert [c["id"] for c in first["items"]] == [prepared.id, mine[2].id]
    rest = client.get("cases", query_string={"limit": 2, "cursor": first["next_cursor"]}).get_json()
    assert [c["id"] for c in rest["items"]] == [mine[1].id, mine[0].id] and rest["next_cursor"] is None
    submitted_only = client.get("cases", query_string={"state": "township_review"}).get_json()
    assert [c["id"] for c in submitted_only["items"]] == [mine[0].id]
    assert client.get("cases", query_string={"kind": "honours"}).get_json()["items"] == []
    assert api("reviewer_A1").get("cases").get_json()["items"] == []  # a reviewer starts no cases


@pytest.mark.parametrize("query, field", [({"limit": 0}, "limit"), ({"limit": "many"}, "limit"),
                                          ({"cursor": "not-a-cursor"}, "cursor"), ({"cursor": "WyJ4Il0"}, "cursor"),
                                          ({"cursor": encode_cursor([10**30])}, "cursor"),
                                          ({"cursor": encode_cursor([0])}, "cursor")])
def test_bad_list_queries_are_422(api, query, field):
    response = api("applicant_A1a").get("cases", query_string=query)
    assert response.status_code == 422
    assert field in error_of(response)["fields"]


# --- Updating a draft -----------------------------------------------------------------------------

def test_an_applicant_updates_their_draft(api, session, world):
    case = nominate(session, world)
    response = api("applicant_A1a").patch(f"cases/{case.id}", json={"version": case.version,
                                                                    "form": {"nominee_name": "张三丰", "post": ""}})
    assert response.status_code == 200, response.get_json()
    view = response.get_json()
    assert view["title"] == "张三丰" and view["version"] == case.version + 1
    assert view["timeline"][-1]["action"] == "update_form"


@pytest.mark.parametrize("person, body, status, code, field", [
    ("applicant_A1a", {"version": 1, "form": {}}, 409, "conflict", None),
    ("applicant_A1a", {"form": {"nominee_name": "王五"}}, 422, "validation_failed", "version"),
    ("applicant_A1a", {"version": "2", "form": {}}, 422, "validation_failed", "version"),
    ("applicant_A1a", {"version": 0, "form": {}}, 422, "validation_failed", "version"),
    ("applicant_A1a", {"version": None, "form": {"id_number": BAD_CHECKSUM}}, 422, "validation_failed", "version"),
    ("applicant_A1a", {"version": "current", "form": {"nominee_name": "x" * 51}}, 422, "validation_failed", "version"),
    ("reviewer_A1", "current", 403, "permission_denied", None),
    ("applicant_A1b", "current", 404, "not_found", None),
    ("reviewer_B", "current", 404, "not_found", None),
    ("auditor_city", "current", 403, "permission_denied", None),
])
def test_draft_updates_refused(api, session, world, person, body, status, code, field):
    case = nominate(session, world)
    if body == "current":
        body = {"version": case.version, "form": {"nominee_name": "王五"}}
    before = (written(session), case.version)
    response = api(person).patch(f"cases/{case.id}", json=body)
    assert response.status_code == status, response.get_json()
    error = error_of(response)
    assert error["code"] == code
    if field:
        assert field in error["fields"]
    if status == 409:
        assert error["current_version"] == case.version
    session.refresh(case)
    assert (written(session), case.version) == before and case.title == "张三"


def test_bad_form_values_in_an_update_name_their_fields(api, session, world):
    case = nominate(session, world)
    response = api("applicant_A1a").patch(f"cases/{case.id}", json={
        "version": case.version, "form": {"id_number": BAD_CHECKSUM, "nominee_name": "x" * 51}})
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"id_number": ["身份证号码校验位不正确"], "nominee_name": ["不能超过 50 个字"]}
    session.refresh(case)
    assert case.title == "张三"


def test_a_submitted_case_is_no_longer_editable(api, session, world):
    case = submitted(session, world)
    response = api("applicant_A1a").patch(f"cases/{case.id}", json={"version": case.version, "form": {"post": "焊工"}})
    assert response.status_code == 409 and error_of(response)["code"] == "invalid_action"


# --- Comments -------------------------------------------------------------------------------------

def test_comments_by_participants_not_by_auditors(api, session, world):
    case = submitted(session, world)
    version = case.version
    response = api("reviewer_A1").post(f"cases/{case.id}/comments", json={"comment": "请补充获奖证书"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["event"]["action"], body["event"]["comment"]) == ("comment", "请补充获奖证书")
    assert body["case"]["version"] == version + 1
    before = written(session)
    for person, payload, status in (("auditor_city", {"comment": "看看"}, 403), ("reviewer_B", {"comment": "看看"}, 404),
                                    ("reviewer_A1", {"comment": "  "}, 422), ("reviewer_A1", {}, 422),
                                    ("reviewer_A1", {"comment": "长" * 2001}, 422)):
        response = api(person).post(f"cases/{case.id}/comments", json=payload)
        assert response.status_code == status, (person, payload)
        if status == 422:
            assert "comment" in error_of(response)["fields"]
    assert written(session) == before


@pytest.mark.parametrize("listed, problem", [
    (["approve", "comment"], None),
    (["approve", "promote"], 'internal_comments[1]: unknown trigger "promote"'),
    ("approve", "internal_comments"),
])
def test_internal_comments_must_name_triggers_of_the_definition(listed, problem):
    """(The key is checked where definitions are loaded; tested beside the view that honours it.)"""
    document = yaml.safe_load((TEST_DEFINITIONS / "basic_nomination.yaml").read_text(encoding="utf-8"))
    text = yaml.safe_dump(document | {"internal_comments": listed}, allow_unicode=True)
    if problem is None:
        assert parse_definition(text, "x.yaml").internal_comments == ("approve", "comment")
        return
    with pytest.raises(DefinitionError) as caught:
        parse_definition(text, "x.yaml")
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems
