"""The engine's generic rules."""
import pytest

from engine.errors import ConditionFailed
from engine.operations import comment_on_case, create_draft, submit_case, withdraw_case
from tests.conftest import NOW

FORM = {"award_type": "labour_medal", "nominee_name": "钱七", "employer": "A1a公司", "ownership": "public",
        "merits_summary": "安全生产十年无事故"}


@pytest.fixture
def submitted(session, world):
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "honours", form=FORM, now=NOW)
    submit_case(session, applicant, case, expected_version=case.version, now=NOW)
    return case


def test_withdraw_allowed_while_only_the_applicant_has_acted(session, world, submitted):
    applicant = world.actor("applicant_A1a")
    comment_on_case(session, applicant, submitted, "补充说明：已附职代会决议", now=NOW)
    withdraw_case(session, applicant, submitted, expected_version=submitted.version, now=NOW)
    assert submitted.state == "withdrawn"


@pytest.mark.parametrize("reviewer", ["reviewer_A1", "reviewer_city"])
def test_reviewer_comment_starts_the_review_for_good(session, world, submitted, reviewer):
    """Can the applicant reopen withdrawal by commenting after a reviewer did? (No.)"""
    applicant = world.actor("applicant_A1a")
    comment_on_case(session, world.actor(reviewer), submitted, "已开始审核，请补充材料", now=NOW)
    comment_on_case(session, applicant, submitted, "好的", now=NOW)
    with pytest.raises(ConditionFailed) as refused:
        withdraw_case(session, applicant, submitted, expected_version=submitted.version, now=NOW)
    assert refused.value.reasons == ["审核已经开始，不能撤回"]
