from engine.cases.integrity import verify_audit_chain
from engine.operations.transitions import approve_case, create_draft, submit_case
from tests.conftest import NOW, waiting_case_ids

FORM = {"award_type": "labour_medal", "nominee_name": "张三", "employer": "A1a公司", "ownership": "public",
        "merits_summary": "十年扎根一线"}


def test_honours_happy_path(session, world):
    case = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
    submit_case(session, world.actor("applicant_A1a"), case, expected_version=case.version, now=NOW)
    assert waiting_case_ids(session, world.actor("reviewer_A1")) == [case.id]
    for reviewer in ("reviewer_A1", "reviewer_A", "reviewer_city", "reviewer_city"):
        approve_case(session, world.actor(reviewer), case, expected_version=case.version, now=NOW)
    session.commit()
    assert case.state == "approved"
    assert verify_audit_chain(session).ok
