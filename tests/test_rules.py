"""The engine's generic rules."""
import pytest

from engine.base.errors import ConditionFailed
from engine.operations.transitions import comment_on_case, create_draft, submit_case, withdraw_case
from tests.conftest import NOW

FORM = {"award_type": "labour_medal", "nominee_name": "钱七", "employer": "A1a公司", "ownership": "public",
        "merits_summary": "安全生产十年无事故"}


@pytest.fixture
def submitted(session, world):
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "basic_nomination", form=FORM, now=NOW)
    submit_case(session, applicant, case, expected_version=case.version, now=NOW)
    return case


def test_withdraw_allowed_while_only_the_applicant_has_acted(session, world, submitted):
    applicant = world.actor("applicant_A1a")
    comment_on_case(session, applicant, submitted, "补充说明：已附职代会决议", now=NOW)
    withdraw_case(session, applicant, submitted, expected_version=submitted.version, now=NOW)
    assert submitted.state == "withdrawn"


def test_reviewer_comment_starts_the_review_for_good(session, world, submitted):
    """Can the applicant reopen withdrawal by commenting after the township reviewer did? (No.)"""
    applicant = world.actor("applicant_A1a")
    comment_on_case(session, world.actor("reviewer_A1"), submitted, "已开始审核，请补充材料", now=NOW)
    comment_on_case(session, applicant, submitted, "好的", now=NOW)
    with pytest.raises(ConditionFailed) as refused:
        withdraw_case(session, applicant, submitted, expected_version=submitted.version, now=NOW)
    assert refused.value.reasons == ["审核已经开始，不能撤回"]


def test_a_comment_from_another_level_does_not_start_this_stages_review(session, world, submitted):
    """The city reviewer remarking on a case still at the township does not take withdrawal away."""
    comment_on_case(session, world.actor("reviewer_city"), submitted, "请注意推荐比例", now=NOW)
    withdraw_case(session, world.actor("applicant_A1a"), submitted, expected_version=submitted.version, now=NOW)
    assert submitted.state == "withdrawn"
