"""The amount in the API's case view: does the reviewer read what approving will grant and how,
the approval's answer carry what was granted, and the document describe it?"""
from __future__ import annotations

from tests.test_medical_subsidy import draft, schemes, store, submitted  # noqa: F401 - the fixtures


def test_the_case_view_carries_the_amount_before_and_after_approval(api, session, world, schemes, submitted):
    case = submitted(self_paid_in_catalogue="4200.00")  # (4,200 − 1,000) × 50% = 1,600
    session.flush()
    assert api("applicant_A1a").get(f"cases/{case.id}").get_json()["amount"] is None
    before = api("reviewer_A").get(f"cases/{case.id}").get_json()["amount"]
    assert {key: before[key] for key in ("stage", "amount", "amount_text", "computed", "cap", "used_before",
                                         "left_after", "period", "capped", "refusal", "rule", "rule_version")} == {
        "stage": "preview", "amount": "1600.00", "amount_text": "1,600.00 元", "computed": "1600.00",
        "cap": "50000.00", "used_before": "0.00", "left_after": "48400.00", "period": "2026", "capped": False,
        "refusal": None, "rule": "medical_subsidy_grant", "rule_version": "1"}
    assert before["worked"] == "(4,200.00 − 1,000.00) × 50% = 1,600.00 元"
    assert before["figures"][0] == {"label": "可补助自付费用（目录内个人自付）", "value": "4200.00", "is_money": True,
                                    "text": "4,200.00 元"}
    assert before["parameters"]["parameter_set"] == schemes.id
    approved = api("reviewer_A").post(f"cases/{case.id}/actions/approve", json={"version": case.version})
    assert approved.status_code == 200, approved.get_json()
    after = api("applicant_A1a").get(f"cases/{case.id}").get_json()["amount"]
    assert after == before | {"stage": "granted"}


def test_the_document_describes_the_amount(api):
    schemas = api().get("openapi.json").get_json()["components"]["schemas"]
    assert "amount" in schemas["CaseView"]["properties"]
    amount = schemas["Amount"]["properties"]
    assert {"stage", "amount", "formula", "worked", "figures", "cap", "used_before", "left_after", "rule_version",
            "lowered_reason", "refusal"} <= set(amount)
