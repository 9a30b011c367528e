"""委托代理 on the pages: set one, see it in both people's lists and in the deputy's 「我的待办」, end it."""
from __future__ import annotations

from datetime import timedelta

from engine.base.config import LOCAL_TZ
from engine.base.db import utcnow
from engine.operations.holding import claim_task
from tests.api_v1.test_cases import submitted
from tests.pages.conftest import text_of
from web.auth import SESSION_GRANT_KEY


def test_a_reviewer_sets_a_delegation_and_the_deputy_holds_his_tasks(pages, session, world):
    case = submitted(session, world)
    claim_task(session, world.actor("reviewer_A1"), case, expected_version=case.version)
    session.commit()
    today = utcnow().astimezone(LOCAL_TZ).date()
    away, deputy = pages("reviewer_A1"), pages("reviewer_A1_and_A")
    page = text_of(away.get("/delegations"))
    assert "委托代理" in page and "本人 · A1街道总工会审核人" in page
    post = {"grant": f"{world.users['reviewer_A1'].id}:reviewer:{world.unit('A1').id}",
            "deputy_id": str(world.users["reviewer_A1_and_A"].id), "starts_on": today.isoformat(),
            "ends_on": "2026-13-01", "reason": "外出培训"}
    refused = away.submit("/delegations", post)
    assert refused.status_code == 422 and "请按 年-月-日 填写日期" in text_of(refused)
    assert 'value="外出培训"' in text_of(refused)  # nothing typed is lost
    response = away.submit("/delegations", {**post, "ends_on": (today + timedelta(days=2)).isoformat()})
    assert response.status_code == 302
    listed = text_of(deputy.get("/delegations"))
    assert "生效中" in listed and "外出培训" in listed
    with deputy.session_transaction() as cookie:  # acting as A1's reviewer (he is also the county's)
        cookie[SESSION_GRANT_KEY] = f"reviewer:{world.unit('A1').id}"
    inbox = text_of(deputy.get("/inbox?mine=1"))
    assert f"/cases/{case.id}" in inbox and "代reviewer_A1办理" in inbox
    assert "委托代理" in text_of(deputy.get("/notifications"))
    [delegation_id] = [int(part.split("/")[0]) for part in listed.split("/delegations/")[1:]]
    assert away.submit(f"/delegations/{delegation_id}/cancel").status_code == 302
    assert "已取消" in text_of(away.get("/delegations"))
    assert f"/cases/{case.id}" not in text_of(deputy.get("/inbox?mine=1"))
