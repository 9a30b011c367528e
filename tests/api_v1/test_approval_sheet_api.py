"""GET /api/v1/cases/{id}/sheet: the approval sheet (审批表) as JSON, per reader, documented, with the
one error format."""
from __future__ import annotations

import pytest

from tests.api_v1.conftest import error_of
from tests.api_v1.test_cases import submitted
from tests.test_approval_sheet import passed_three_levels
from tests.test_hardship_aid import ACCOUNT, id_number


@pytest.fixture
def aid(session, world):
    case = passed_three_levels(session, world)
    session.flush()
    return case


def test_the_sheet_reads_the_form_and_each_levels_opinion(api, aid):
    response = api("reviewer_A").get(f"cases/{aid.id}/sheet")
    assert response.status_code == 200, response.get_json()
    sheet = response.get_json()
    assert (sheet["id"], sheet["kind_label"], sheet["title"]) == (aid.id, "困难职工帮扶申请", "职工1")
    assert sheet["origin_unit"]["name"] == "A1a公司工会" and sheet["submitted_at"] == "2026-03-09T10:00:00+08:00"
    assert sheet["printed_at"].endswith("+08:00")
    rows = {row["name"]: row for row in sheet["form_rows"]}
    assert (rows["id_number"]["label"], rows["id_number"]["value"]) == ("身份证号码", id_number(1))
    assert (rows["hardship_reason"]["value"], rows["hardship_reason"]["text"]) == ("illness", "因病")
    levels = sheet["levels"]
    assert [(level["state"], level["decided"], level["signer"], level["unit_level_label"]) for level in levels] == [
        ("home_visit", True, "reviewer_A1a", "基层工会"), ("township_review", True, "reviewer_A1", "镇（街道）总工会"),
        ("county_review", True, "reviewer_A", "县（区）总工会"), ("public_notice", False, None, None)]
    township = levels[1]
    assert (township["action_label"], township["opinion"], township["at"], township["on_behalf_of"]) == (
        "复核通过，报县（区）帮扶中心", "复核属实，同意上报", "2026-03-10T10:00:00+08:00", None)
    [asked] = levels[2]["consulted"]
    assert (asked["signer"], asked["opinion"], asked["at"]) == ("reviewer_city", "属因病致困，同意",
                                                                "2026-03-11T10:00:00+08:00")


def test_the_applicant_reads_personal_data_masked(api, aid):
    sheet = api("applicant_A1a").get(f"cases/{aid.id}/sheet").get_json()
    rows = {row["name"]: row for row in sheet["form_rows"]}
    for name, full in (("id_number", id_number(1)), ("bank_account", ACCOUNT)):
        assert rows[name]["value"] != full and rows[name]["text"] == rows[name]["value"]
        assert rows[name]["value"].endswith(full[-4:])


@pytest.mark.parametrize("who", ["reviewer_B", "applicant_A1b"])
def test_a_case_out_of_reach_is_404_in_the_one_error_format(api, session, world, who):
    case = submitted(session, world)
    response = api(who).get(f"cases/{case.id}/sheet")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert api("reviewer_A1").get("cases/999999/sheet").status_code == 404
    assert error_of(api().get(f"cases/{case.id}/sheet"))["code"] == "unauthorized"


def test_the_sheet_is_documented(api):
    spec = api().get("openapi.json").get_json()
    operation = spec["paths"]["/api/v1/cases/{case_id}/sheet"]["get"]
    assert "审批表" in operation["summary"] and "404" in operation["responses"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("ApprovalSheet")
    levels = spec["components"]["schemas"]["SheetLevel"]["properties"]
    assert {"signer", "on_behalf_of", "unit_name", "opinion", "consulted", "decided"} <= set(levels)
