"""Jury members vote from their own list (/jury): once each, in secret; the count is for the
case's reviewers."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.procedures.juries import JuryVote, cast_vote
from tests.conftest import NOW
from tests.pages.conftest import text_of
from tests.test_honours import Honours


@pytest.fixture
def honours(session, world):
    """A city round whose jury is reviewer_city, reviewer_A and reviewer_B."""
    return Honours(session, world)


def votes(session) -> int:
    return session.scalar(select(func.count(JuryVote.id)))


def duty_block(page: str, case_id: int) -> str:
    start = page.index(f'id="duty-{case_id}"')
    return page[start:page.index("</section>", start)]


def test_a_juror_votes_from_the_list_once(pages, session, honours):
    case = honours.at_jury(nominee_name="李工匠")
    waiting = honours.at_city()  # not yet before the jury: not on the list
    client = pages("reviewer_B")  # a member from county B, who cannot open county A's case itself
    page = text_of(client.get("/jury"))
    block = duty_block(page, case.id)
    assert "李工匠" in block and "评审委员会表决" in block
    assert f'action="/cases/{case.id}/vote"' in block and 'name="choice" value="approve"' in block
    assert "同意" in block and "不同意" in block and "弃权" in block
    assert f'href="/cases/{case.id}"' not in block and f'id="duty-{waiting.id}"' not in page

    response = client.submit(f"/cases/{case.id}/vote", {"choice": "approve"})
    assert response.status_code == 302 and response.location == "/jury"
    page = text_of(client.get("/jury"))
    assert "已投票：李工匠" in page
    block = duty_block(page, case.id)
    assert "您已投票" in block and "name=\"choice\"" not in block
    assert votes(session) == 1

    again = client.submit(f"/cases/{case.id}/vote", {"choice": "reject"})
    assert again.status_code == 422
    assert "您已对该推荐投过票，每位评委只能投一次" in duty_block(text_of(again), case.id)
    assert votes(session) == 1


def test_the_case_reviewer_on_the_jury_opens_the_case_from_the_list(pages, honours):
    case = honours.at_jury()
    page = text_of(pages("reviewer_A").get("/jury"))
    assert f'href="/cases/{case.id}"' in duty_block(page, case.id)


@pytest.mark.parametrize("choice, message", [("", "请选择同意、不同意或弃权"), ("maybe", "请选择同意、不同意或弃权")])
def test_a_vote_without_a_valid_choice_is_422_and_writes_nothing(pages, session, honours, choice, message):
    case = honours.at_jury()
    response = pages("reviewer_A").submit(f"/cases/{case.id}/vote", {"choice": choice})
    assert response.status_code == 422
    block = duty_block(text_of(response), case.id)
    assert message in block and "has-error" in block
    assert votes(session) == 0


def test_who_may_not_vote(pages, session, honours):
    case = honours.at_jury()
    refused = pages("reviewer_A1").submit(f"/cases/{case.id}/vote", {"choice": "approve"})
    assert refused.status_code == 403 and "您不是本批次评审委员会成员" in text_of(refused)
    assert pages("applicant_B1a").submit(f"/cases/{case.id}/vote", {"choice": "approve"}).status_code == 404
    assert pages("reviewer_A").submit("/cases/999999/vote", {"choice": "approve"}).status_code == 404
    early = honours.at_city()
    assert pages("reviewer_A").submit(f"/cases/{early.id}/vote", {"choice": "approve"}).status_code == 409
    no_token = pages("reviewer_A").post(f"/cases/{case.id}/vote", data={"choice": "approve"})
    assert no_token.status_code == 400
    assert votes(session) == 0


def test_someone_on_no_jury_has_an_empty_list(pages, honours):
    honours.at_jury()
    page = text_of(pages("applicant_A1a").get("/jury"))
    assert "目前没有需要您表决的推荐" in page and 'name="choice"' not in page


def test_the_ballot_is_secret_and_the_count_is_for_the_cases_reviewers(pages, session, world, honours):
    case = honours.at_jury()
    client = pages("reviewer_A")
    client.submit(f"/cases/{case.id}/vote", {"choice": "approve"})
    session.refresh(case)
    cast_vote(session, world.actor("reviewer_B"), case, "reject", now=NOW)
    session.flush()

    township = text_of(pages("reviewer_A1").get(f"/cases/{case.id}"))  # a reviewer of the case, not on the jury
    assert "评委 3 人，已投票 2 人" in township and "同意 1 票，不同意 1 票，弃权 0 票" in township
    juror = text_of(client.get(f"/cases/{case.id}"))  # a reviewer who sits on the jury: no count while it runs
    assert "已投票 2 人" in juror and "同意 1 票" not in juror

    applicant = text_of(pages("applicant_A1a").get(f"/cases/{case.id}"))
    timeline = applicant[applicant.index('id="timeline"'):]
    assert "评审投票" in timeline and "reviewer_B" not in timeline and "reviewer_A<" not in timeline
    assert "同意 1 票" not in applicant and "已投票 2 人" not in applicant
    for page in (township, juror, applicant):
        assert "不同意</" not in page[page.index('id="timeline"'):]  # nobody reads how a juror voted


def test_a_juror_from_another_district_opens_the_case_from_the_list_read_only_and_masked(pages, session, honours):
    """A juror of county B votes on county A's nomination: the list links its name to the
    juror's read-only view, personal data masked as for auditors, with the ballot."""
    case = honours.at_jury(nominee_name="李工匠")
    client = pages("reviewer_B")
    block = duty_block(text_of(client.get("/jury")), case.id)
    assert f'<a href="/jury/cases/{case.id}">李工匠</a>' in block
    response = client.get(f"/jury/cases/{case.id}")
    assert response.status_code == 200
    page = text_of(response)
    assert "李工匠" in page and "扎根一线，业绩突出" in page and "A1a公司工会" in page and "评审委员会表决" in page
    id_number = case.form_data["id_number"]
    assert id_number not in page and id_number[-4:] in page and "身份证号码" in page  # masked
    assert "征求意见" in page and "纪检监察机关" in page  # the background opinions the jury weighs
    assert f'action="/cases/{case.id}/vote"' in page and 'name="choice" value="approve"' in page
    assert "/actions/" not in page and "record-form" not in page  # read-only
    # The case's own address leads the juror there too, instead of a 404.
    redirected = client.get(f"/cases/{case.id}")
    assert redirected.status_code == 302 and redirected.location == f"/jury/cases/{case.id}"

    client.submit(f"/cases/{case.id}/vote", {"choice": "approve"})
    voted = text_of(client.get(f"/jury/cases/{case.id}"))
    assert "您已投票" in voted and 'name="choice"' not in voted


def test_only_members_read_cases_put_to_their_jury(pages, honours):
    case = honours.at_jury()
    early = honours.at_city()  # a member's round, not yet put to the jury
    assert pages("reviewer_B").get(f"/jury/cases/{early.id}").status_code == 404
    assert pages("reviewer_B").get(f"/cases/{early.id}").status_code == 404
    for outsider in ("reviewer_B1", "applicant_B1a"):
        assert pages(outsider).get(f"/jury/cases/{case.id}").status_code == 404
        assert pages(outsider).get(f"/cases/{case.id}").status_code == 404
    assert pages("reviewer_B").get("/jury/cases/999999").status_code == 404
