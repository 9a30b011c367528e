"""Case records over the API: list (personal data masked except for the case's reviewers), add
with field validation, void with a reason, and tables imported all or nothing — on the real
kinds (hardship_aid home visits, competition_results result rows)."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from engine.audit.chain import case_events
from engine.cases.attachments import Attachment
from engine.cases.case import Case
from engine.cases.records import records_of
from engine.definitions.forms import mask_id_number
from tests.api_v1.conftest import error_of
from tests.test_hardship_aid import Flow, standards  # noqa: F401 - standards is a fixture used here
from tests.test_tabular_import import (
    a_300_mb_shared_string, competition, csv_file, far_last_row, id_number, result_row, run_import, xlsx_file,
)

VISIT = {"visitor_one": "王干事", "visitor_two": "李委员", "visit_date": "2026-03-09",
         "check_members": "confirmed", "check_income": "confirmed", "check_housing": "confirmed",
         "check_hardship": "confirmed", "notes": "两人入户走访，情况属实。"}


@pytest.fixture
def visit_case(session, world, standards):  # noqa: F811
    """A hardship aid application waiting for the grassroots union's home visit."""
    case = Flow(session, world).submitted()
    session.commit()
    assert case.state == "home_visit"
    return case


@pytest.fixture
def results_case(session, world):
    """A county's competition report (draft) by its organiser, applicant_A."""
    case = competition(session, world)
    session.commit()
    return case


def current(session, case) -> Case:
    session.expire_all()
    return session.get(Case, case.id)


def written(session, case, *actions) -> list:
    return [e for e in case_events(session, case.id) if e.action in actions]


def add_visit(client, case, **changes):
    return client.post(f"cases/{case.id}/records/home_visit", json={"fields": VISIT | changes})


# --- Adding and listing ------------------------------------------------------------------------------

def test_the_grassroots_reviewer_records_the_home_visit(api, session, visit_case):
    """Can the grassroots union record its home visit, and does everyone on the case see it?"""
    version = visit_case.version
    response = add_visit(api("reviewer_A1a"), visit_case)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["type"] == "home_visit" and body["type_label"] == "入户走访记录"
    assert body["fields"]["visitor_one"] == "王干事" and body["fields"]["visit_date"] == "2026-03-09"
    assert body["author"] == "reviewer_A1a" and body["unit"] == "A1a公司工会"
    assert body["created_at"].endswith("+08:00")
    assert (body["voided"], body["voided_at"], body["void_reason"]) == (False, None, None)
    assert body["case_version"] > version and body["case_version"] == current(session, visit_case).version
    for who in ("applicant_A1a", "reviewer_A1", "auditor_A"):
        listed = api(who).get(f"cases/{visit_case.id}/records").get_json()["records"]
        assert [r["id"] for r in listed] == [body["id"]]
    assert api("applicant_A1a").get(f"cases/{visit_case.id}/records?type=home_visit").get_json()["records"]
    assert api("applicant_A1a").get(f"cases/{visit_case.id}/records?type=disbursement").get_json()["records"] == []


@pytest.mark.parametrize("who", ["applicant_A1b", "applicant_B1a", "reviewer_A2", "reviewer_B"])
def test_records_of_a_case_one_cannot_see_are_404(api, visit_case, who):
    response = api(who).get(f"cases/{visit_case.id}/records")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_an_unknown_record_type_filter_is_422(api, visit_case):
    response = api("applicant_A1a").get(f"cases/{visit_case.id}/records?type=nonsense")
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"record_type": ["「困难职工帮扶申请」没有此类记录"]}


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"visitor_two": None}, "visitor_two", "请填写「走访人（二）」"),
    ({"visit_date": "2026-02-30"}, "visit_date", None),
    ({"check_income": "maybe"}, "check_income", None),
    ({"notes": "很" * 2001}, "notes", None),
    ({"colour": "red"}, "colour", None),
])
def test_bad_record_fields_are_422_naming_the_field_and_nothing_is_written(api, session, visit_case, changes,
                                                                         field, message):
    version = visit_case.version
    fields = {k: v for k, v in (VISIT | changes).items() if v is not None}
    response = api("reviewer_A1a").post(f"cases/{visit_case.id}/records/home_visit", json={"fields": fields})
    assert response.status_code == 422, response.get_json()
    error = error_of(response)
    assert error["code"] == "validation_failed"
    assert field in error["fields"], error
    if message:
        assert error["fields"][field] == [message]
    assert records_of(session, visit_case) == []
    assert current(session, visit_case).version == version
    assert written(session, visit_case, "record") == []


@pytest.mark.parametrize(("body", "field"), [({}, "fields"), ({"fields": "王干事"}, "fields"),
                                             ({"fields": VISIT, "extra": 1}, "extra")])
def test_a_malformed_body_is_422(api, session, visit_case, body, field):
    response = api("reviewer_A1a").post(f"cases/{visit_case.id}/records/home_visit", json=body)
    assert response.status_code == 422
    assert field in error_of(response)["fields"]
    assert records_of(session, visit_case) == []


def test_only_the_party_of_the_record_type_adds_one_and_only_in_its_states(api, session, world, visit_case):
    denied = add_visit(api("applicant_A1a"), visit_case)
    assert denied.status_code == 403 and error_of(denied)["code"] == "permission_denied"
    assert add_visit(api("reviewer_A1"), visit_case).status_code == 403
    assert add_visit(api("auditor_A"), visit_case).status_code == 403
    assert add_visit(api("reviewer_B"), visit_case).status_code == 404
    assert records_of(session, visit_case) == []
    Flow(session, world).to(visit_case, "township_review")
    session.commit()
    late = add_visit(api("reviewer_A1a"), visit_case, visit_date="2026-03-10")
    assert late.status_code == 409 and error_of(late)["code"] == "invalid_action"


def test_an_unknown_record_type_is_422(api, visit_case):
    response = api("reviewer_A1a").post(f"cases/{visit_case.id}/records/nonsense", json={"fields": VISIT})
    assert response.status_code == 422
    assert "record_type" in error_of(response)["fields"]


def test_the_same_visit_twice_is_422(api, visit_case):
    reviewer = api("reviewer_A1a")
    assert add_visit(reviewer, visit_case).status_code == 201
    again = add_visit(reviewer, visit_case)
    assert again.status_code == 422
    assert error_of(again)["fields"]["visit_date"][0].startswith("已有")


def test_a_visit_cites_the_photos_uploaded_for_it(api, session, visit_case):
    """Record file fields: upload to "home_visit.attachments", then cite the file in the record."""
    reviewer = api("reviewer_A1a")
    photo = reviewer.post(f"cases/{visit_case.id}/attachments", content_type="multipart/form-data", data={
        "field": "home_visit.attachments", "version": str(visit_case.version),
        "file": (io.BytesIO(b"\xff\xd8photo"), "走访照片.jpg")})
    assert photo.status_code == 201, photo.get_json()
    photo_id = photo.get_json()["id"]
    response = add_visit(reviewer, visit_case, attachments=[photo_id])
    assert response.status_code == 201
    assert response.get_json()["fields"]["attachments"] == [photo_id]
    assert api("applicant_A1a").get(f"cases/{visit_case.id}/attachments/{photo_id}").data == b"\xff\xd8photo"
    bogus = add_visit(reviewer, visit_case, visit_date="2026-03-10", attachments=[photo_id + 999])
    assert bogus.status_code == 422
    assert error_of(bogus)["fields"] == {"attachments": ["附件不存在或不属于此案件"]}
    assert session.get(Attachment, photo_id).field_name == "home_visit.attachments"


# --- Voiding -----------------------------------------------------------------------------------------

def test_a_wrong_record_is_voided_with_a_reason_and_kept(api, session, visit_case):
    reviewer = api("reviewer_A1a")
    record = add_visit(reviewer, visit_case).get_json()
    response = reviewer.post(f"cases/{visit_case.id}/records/{record['id']}/void", json={"reason": "走访日期填错"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["voided"], body["void_reason"]) == (True, "走访日期填错")
    assert body["voided_at"].endswith("+08:00") and body["case_version"] > record["case_version"]
    assert reviewer.get(f"cases/{visit_case.id}/records").get_json()["records"] == []
    [kept] = reviewer.get(f"cases/{visit_case.id}/records?include_voided=true").get_json()["records"]
    assert kept["id"] == record["id"] and kept["voided"]
    assert add_visit(reviewer, visit_case).status_code == 201  # the voided record's key is free again


@pytest.mark.parametrize(("who", "body", "status", "field"), [
    ("reviewer_A1a", {}, 422, "reason"),
    ("reviewer_A1a", {"reason": "   "}, 422, "reason"),
    ("reviewer_A1a", {"reason": "理" * 501}, 422, "reason"),
    ("reviewer_A1a", {"reason": 5}, 422, "reason"),
    ("applicant_A1a", {"reason": "不对"}, 403, None),
    ("reviewer_A1", {"reason": "不对"}, 403, None),
    ("reviewer_B", {"reason": "不对"}, 404, None),
])
def test_voiding_is_refused_without_a_reason_or_by_others(api, session, visit_case, who, body, status, field):
    record = add_visit(api("reviewer_A1a"), visit_case).get_json()
    response = api(who).post(f"cases/{visit_case.id}/records/{record['id']}/void", json=body)
    assert response.status_code == status
    if field:
        assert field in error_of(response)["fields"]
    session.expire_all()
    assert [r.voided_dt for r in records_of(session, visit_case, include_voided=True)] == [None]


def test_a_record_of_another_case_or_an_unknown_one_is_404(api, session, world, visit_case):
    other = Flow(session, world).submitted(2)
    session.commit()
    record = add_visit(api("reviewer_A1a"), other).get_json()
    reviewer = api("reviewer_A1a")
    assert reviewer.post(f"cases/{visit_case.id}/records/{record['id']}/void", json={"reason": "x"}).status_code == 404
    assert reviewer.post(f"cases/{visit_case.id}/records/999999/void", json={"reason": "x"}).status_code == 404


# --- Personal data ----------------------------------------------------------------------------------

def test_id_numbers_in_records_are_full_for_reviewers_and_masked_for_others(api, session, world, results_case):
    run_import(session, world, results_case, csv_file([result_row(1, "张三")]))
    session.commit()
    full = id_number(1)

    def shown_to(who):
        [record] = api(who).get(f"cases/{results_case.id}/records?type=result").get_json()["records"]
        return record["fields"]["id_number"]

    assert shown_to("reviewer_A") == full
    assert shown_to("reviewer_city") == full
    for who in ("applicant_A", "auditor_city", "auditor_A"):
        assert shown_to(who) == mask_id_number(full) != full
    assert api("reviewer_B").get(f"cases/{results_case.id}/records").status_code == 404


# --- Importing a table -------------------------------------------------------------------------------

def import_file(client, case, data, *, name="成绩.csv", version=None, record_type="result", **extra):
    form = {"version": str(case.version if version is None else version), "file": (io.BytesIO(data), name), **extra}
    return client.post(f"cases/{case.id}/records/{record_type}/import", data=form, content_type="multipart/form-data")


@pytest.mark.parametrize(("name", "make"), [("成绩.csv", csv_file), ("成绩.xlsx", xlsx_file)])
def test_a_good_table_is_imported_whole(api, session, results_case, name, make):
    version = results_case.version
    rows = [result_row(1, "张三"), result_row(2, "李四"), result_row(1, "王五", trade="电工", serial=3)]
    response = import_file(api("applicant_A"), results_case, make(rows), name=name)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["record_type"], body["filename"], body["count"]) == ("result", name, 3)
    assert len(body["sha256"]) == 64 and body["case_version"] > version
    assert body["record_ids"] == [r.id for r in records_of(session, results_case, "result")]
    assert len(written(session, results_case, "import_table")) == 1


def test_every_bad_row_is_422_by_row_and_column_and_nothing_is_imported(api, session, results_case):
    """Does one upload tell the organiser about every mistake, keyed "row N.列名", and import none?"""
    version = results_case.version
    rows = [
        result_row(1, "张三"),
        result_row(2, ""),                                          # row 3: name missing
        result_row(3, "李四", **{"身份证号码": "110105199001010001"}),  # row 4: bad checksum
        result_row(4, "王五", grade="特级工", total="九十分"),           # row 5: two problems
        result_row(1, "钱七", serial=6),                              # row 6: rank 1 again
    ]
    response = import_file(api("applicant_A"), results_case, csv_file(rows))
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_failed"
    assert error["message"] == "导入失败：发现 5 处问题，未导入任何记录，请修改后重新导入"
    assert error["fields"]["row 3.姓名"] == ["请填写「姓名」"]
    assert error["fields"]["row 4.身份证号码"] == ["身份证号码校验位不正确"]
    assert error["fields"]["row 5.技能等级"][0].startswith("请从以下选项中选择")
    assert "数字" in error["fields"]["row 5.总成绩"][0]
    assert error["fields"]["row 6.工种、组别、名次"] == ["与第2行的「工种」、「组别」、「名次」相同"]
    assert len(error["fields"]) == 5
    assert records_of(session, results_case, include_voided=True) == []
    assert written(session, results_case, "record", "import_table") == []
    assert current(session, results_case).version == version


@pytest.mark.parametrize(("data", "name", "key", "text"), [
    (csv_file([result_row(1, "张三")], header=[h if h != "姓名" else "选手" for h in
                                            ["工种", "组别", "名次", "姓名", "身份证号码", "工作单位", "所在基层工会",
                                             "理论成绩", "实操成绩", "总成绩", "技能等级", "本工种工作年限", "证书编号"]]),
     "成绩.csv", "row 1.选手", "无法识别的列名"),
    (b"%PDF-1.4", "成绩.pdf", "file", "只能导入"),
    (b"old excel", "成绩.xls", "file", ".xls"),
    (csv_file([]), "成绩.csv", "file", "没有数据行"),
])
def test_file_and_header_problems_are_422_keyed_by_column_or_file(api, session, results_case, data, name, key, text):
    response = import_file(api("applicant_A"), results_case, data, name=name)
    assert response.status_code == 422
    fields = error_of(response)["fields"]
    assert any(text in message for message in fields[key]), fields
    assert records_of(session, results_case, include_voided=True) == []


def test_a_missing_required_column_is_keyed_by_the_column(api, results_case):
    header = ["工种", "组别", "名次", "身份证号码", "工作单位", "所在基层工会", "总成绩"]
    data = csv_file([["焊工", "职工组", 1, id_number(1), "A1a公司", "A1a公司工会", "99.5"]], header=header)
    response = import_file(api("applicant_A"), results_case, data)
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"column 姓名": ["缺少必填列"]}


def test_replace_voids_the_earlier_rows_in_the_same_request(api, session, world, results_case):
    run_import(session, world, results_case, csv_file([result_row(1, "张三"), result_row(2, "李四")]))
    session.commit()
    earlier = [r.id for r in records_of(session, results_case, "result")]
    response = import_file(api("applicant_A"), results_case, csv_file([result_row(1, "王五", serial=7)]),
                           replace="true")
    assert response.status_code == 201, response.get_json()
    session.expire_all()
    current_rows = records_of(session, results_case, "result")
    assert [r.id for r in current_rows] == response.get_json()["record_ids"]
    assert [r.data["participant_name"] for r in current_rows] == ["王五"]
    voided = [r for r in records_of(session, results_case, include_voided=True) if r.voided_dt]
    assert sorted(r.id for r in voided) == sorted(earlier)


def test_without_replace_a_row_like_an_earlier_one_is_refused(api, session, world, results_case):
    run_import(session, world, results_case, csv_file([result_row(1, "张三")]))
    session.commit()
    response = import_file(api("applicant_A"), results_case, csv_file([result_row(1, "王五", serial=7)]))
    assert response.status_code == 422
    assert list(error_of(response)["fields"]) == ["row 2.工种"]
    assert len(records_of(session, results_case, include_voided=True)) == 1


@pytest.mark.parametrize(("who", "status"), [("reviewer_A", 403), ("auditor_city", 403), ("reviewer_B", 404),
                                             ("applicant_A1a", 404)])
def test_only_the_organiser_imports(api, session, results_case, who, status):
    response = import_file(api(who), results_case, csv_file([result_row(1, "张三")]))
    assert response.status_code == status
    assert records_of(session, results_case, include_voided=True) == []


def test_import_refusals_of_the_request_itself(api, session, results_case):
    organiser = api("applicant_A")
    stale = import_file(organiser, results_case, csv_file([result_row(1, "张三")]), version=results_case.version + 3)
    assert stale.status_code == 409 and error_of(stale)["current_version"] == results_case.version
    not_multipart = organiser.post(f"cases/{results_case.id}/records/result/import", json={"version": 1})
    assert not_multipart.status_code == 415
    missing = organiser.post(f"cases/{results_case.id}/records/result/import", data={"version": "1"},
                             content_type="multipart/form-data")
    assert missing.status_code == 422 and "file" in error_of(missing)["fields"]
    bad_replace = import_file(organiser, results_case, csv_file([result_row(1, "张三")]), replace="也许")
    assert bad_replace.status_code == 422 and "replace" in error_of(bad_replace)["fields"]
    unknown = import_file(organiser, results_case, csv_file([result_row(1, "张三")]), record_type="nonsense")
    assert unknown.status_code == 422 and "record_type" in error_of(unknown)["fields"]
    assert records_of(session, results_case, include_voided=True) == []
    assert session.scalars(select(Attachment)).all() == []


def test_records_routes_are_in_the_openapi_document(api):
    paths = api().get("openapi.json").get_json()["paths"]
    imported = paths["/api/v1/cases/{case_id}/records/{record_type}/import"]["post"]
    assert "multipart/form-data" in imported["requestBody"]["content"]
    assert "201" in imported["responses"]
    assert "201" in paths["/api/v1/cases/{case_id}/records/{record_type}"]["post"]["responses"]
    assert "200" in paths["/api/v1/cases/{case_id}/records/{record_id}/void"]["post"]["responses"]
    assert "200" in paths["/api/v1/cases/{case_id}/records"]["get"]["responses"]


def test_a_json_body_over_the_request_cap_is_a_json_413(api, app, session, visit_case):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = add_visit(api("reviewer_A1a"), visit_case, notes="很" * 1000)
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"
    assert records_of(session, visit_case) == []


@pytest.mark.parametrize("photo_id", [0, -1, 2**31, 10**30])
def test_an_impossible_file_id_in_a_record_is_422_not_a_crash(api, session, visit_case, photo_id):
    response = add_visit(api("reviewer_A1a"), visit_case, attachments=[photo_id])
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"attachments": ["附件不存在或不属于此案件"]}
    assert records_of(session, visit_case) == []


@pytest.mark.parametrize(("make", "message"), [
    (far_last_row, "表格超过 10000 行（含空行，单次导入上限），请删除多余的行或拆分后分批导入"),
    (a_300_mb_shared_string, "Excel 文件中的「xl/sharedStrings.xml」解压后是压缩时的"),
], ids=["1.5 million blank rows", "a 300 MB shared string"])
def test_a_table_bomb_is_422_naming_the_limit_on_the_file(api, session, results_case, make, message):
    """Is an .xlsx that unpacks to millions of rows or hundreds of MB refused before it is read?"""
    response = import_file(api("applicant_A"), results_case, make(), name="成绩.xlsx")
    assert response.status_code == 422
    [refusal] = error_of(response)["fields"]["file"]
    assert refusal.startswith(message)
    assert records_of(session, results_case, include_voided=True) == []
