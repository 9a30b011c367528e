"""Notifications, the unread count, marking read, notification settings and urging through
the JSON API. Notifications come from the engine: the deadline scan escalating a case that
waited past its due time, an urge, or ``notify`` for a long list."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.notify.notifications import Message, Notification, notify
from engine.operations.deadline_scan import due_task_ids, process_deadlines
from engine.operations.urging import Urge
from tests.api_v1.conftest import error_of
from tests.api_v1.test_cases import nominate, submitted
from tests.conftest import NOW

LATER = NOW + timedelta(days=60)  # long past the township review's five working days


def told(session, world, username: str, count: int) -> list[int]:
    """``count`` notifications without a case for one person, oldest first; their ids."""
    user_id = world.users[username].id
    return notify(session, [(user_id, Message(kind="urge", key=f"test:{index}", subject=f"标题{index}",
                                              body=f"正文{index}")) for index in range(count)], NOW)


def unread(client) -> int:
    response = client.get("notifications/unread-count")
    assert response.status_code == 200
    return response.get_json()["unread"]


def urges(session) -> int:
    return session.scalar(select(func.count(Urge.id)))


# --- Reading and marking read ---------------------------------------------------------------------

def test_an_escalation_is_listed_and_reading_it_lowers_the_count(api, session, world):
    case = submitted(session, world)
    report = process_deadlines(session, due_task_ids(session, LATER), LATER)
    session.flush()
    assert report.escalations == 1
    client = api("applicant_A1a")
    assert unread(client) == 1

    body = client.get("notifications").get_json()
    [item] = body["items"]
    assert body["next_cursor"] is None
    assert set(item) == {"id", "kind", "subject", "body", "case_id", "created_at", "read_at", "links"}
    assert (item["kind"], item["case_id"], item["read_at"]) == ("overdue", case.id, None)
    assert item["created_at"].endswith("+08:00") and "已逾期" in item["subject"]
    assert item["links"] == {"case": f"/api/v1/cases/{case.id}", "web": f"/notifications/{item['id']}"}

    response = client.post(f"notifications/{item['id']}/read")
    assert response.status_code == 200 and response.get_json()["read_at"] is not None
    assert unread(client) == 0
    again = client.post(f"notifications/{item['id']}/read").get_json()  # already read: unchanged
    assert again["read_at"] == response.get_json()["read_at"]
    # The supervising county's reviewer was told too.
    [escalation] = api("reviewer_A").get("notifications").get_json()["items"]
    assert escalation["kind"] == "escalation" and escalation["case_id"] == case.id


def test_newest_first_unread_filter_and_pages(api, session, world):
    ids = told(session, world, "reviewer_A1", 5)
    client = api("reviewer_A1")
    client.post(f"notifications/{ids[3]}/read")

    seen, cursor = [], None
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = client.get("notifications", query_string=query).get_json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]

    body = client.get("notifications", query_string={"unread": "true"}).get_json()
    assert [item["id"] for item in body["items"]] == [ids[4], ids[2], ids[1], ids[0]]
    assert unread(client) == 4


@pytest.mark.parametrize("query, field", [
    ({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"cursor": "x"}, "cursor"),
    ({"cursor": "WyJ4Il0"}, "cursor"), ({"unread": "perhaps"}, "unread"),
])
def test_bad_list_queries_are_422(api, query, field):
    response = api("reviewer_A1").get("notifications", query_string=query)
    assert response.status_code == 422 and field in error_of(response)["fields"]


def test_someone_elses_notification_is_404_and_stays_unread(api, session, world):
    [notification_id] = told(session, world, "applicant_A1a", 1)
    response = api("applicant_A1b").post(f"notifications/{notification_id}/read")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert api("applicant_A1b").get("notifications").get_json()["items"] == []
    assert session.get(Notification, notification_id).read_dt is None


def test_read_all_marks_only_ones_own(api, session, world):
    told(session, world, "reviewer_A1", 3)
    [other] = told(session, world, "reviewer_A", 1)
    client = api("reviewer_A1")
    response = client.post("notifications/read-all")
    assert response.status_code == 200 and response.get_json() == {"marked": 3}
    assert unread(client) == 0 and client.post("notifications/read-all").get_json() == {"marked": 0}
    assert session.get(Notification, other).read_dt is None


def test_anonymous_callers_are_refused(api):
    for path in ("notifications", "notifications/unread-count", "account/notification-settings"):
        assert api().get(path).status_code == 401


# --- Settings -------------------------------------------------------------------------------------

def test_settings_read_and_written(api, session, world):
    client = api("applicant_A1a")
    assert client.get("account/notification-settings").get_json() == {"email": None, "email_notifications": True}
    response = client.put("account/notification-settings", json={"email": "li@example.org", "email_notifications": True})
    assert response.status_code == 200 and response.get_json() == {"email": "li@example.org", "email_notifications": True}
    response = client.put("account/notification-settings", json={"email": None, "email_notifications": False})
    assert response.get_json() == {"email": None, "email_notifications": False}
    user = world.users["applicant_A1a"]
    session.refresh(user)
    assert (user.email, user.email_notifications) == (None, False)


@pytest.mark.parametrize("body, field", [
    ({"email": "no-at-sign", "email_notifications": False}, "email"),
    ({"email": "", "email_notifications": True}, "email"),
    ({"email": "a@" + "b" * 260 + ".org", "email_notifications": False}, "email"),
    ({"email": "a@b.org"}, "email_notifications"),
    ({"email_notifications": False}, "email"),
    ({"email": "a@b.org", "email_notifications": False, "phone": "1"}, "phone"),
])
def test_bad_settings_are_422_on_their_field_and_change_nothing(api, session, world, body, field):
    response = api("applicant_A1a").put("account/notification-settings", json=body)
    assert response.status_code == 422 and field in error_of(response)["fields"]
    user = world.users["applicant_A1a"]
    session.refresh(user)
    assert (user.email, user.email_notifications) == (None, True)


# --- Urging ---------------------------------------------------------------------------------------

def test_the_applicant_urges_once_per_working_day(api, session, world):
    case = submitted(session, world)
    client = api("applicant_A1a")
    response = client.post(f"cases/{case.id}/urge", json={"note": "请尽快审核"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    urge = session.scalar(select(Urge))
    assert body == {"case_id": case.id, "work_day": urge.work_day.isoformat(), "notified": 2}
    items = api("reviewer_A1").get("notifications").get_json()["items"]
    assert [(item["kind"], item["case_id"]) for item in items] == [("urge", case.id)] and "请尽快审核" in items[0]["body"]

    again = client.post(f"cases/{case.id}/urge", json={})
    assert again.status_code == 409 and "每个工作日只能催办一次" in error_of(again)["message"]
    # Whoever urges: the case counts, not the person.
    assert api("reviewer_A").post(f"cases/{case.id}/urge", json={}).status_code == 409
    assert urges(session) == 1


def test_a_higher_reviewer_may_urge(api, session, world):
    case = submitted(session, world)
    response = api("reviewer_A").post(f"cases/{case.id}/urge", json={})
    assert response.status_code == 201 and response.get_json()["notified"] == 2


@pytest.mark.parametrize("username, status", [
    ("reviewer_A1", 403),  # the reviewer the case waits for
    ("auditor_city", 403),
    ("reviewer_B", 404),   # another county: cannot see the case
    ("applicant_A1b", 404),
])
def test_who_may_not_urge(api, session, world, username, status):
    case = submitted(session, world)
    response = api(username).post(f"cases/{case.id}/urge", json={})
    assert response.status_code == status, response.get_json()
    error_of(response)
    assert urges(session) == 0


@pytest.mark.parametrize("body, status, field", [
    ({"note": "催" * 201}, 422, "note"),
    ({"note": 7}, 422, "note"),
    ({"colour": "red"}, 422, "colour"),
])
def test_bad_urges_are_422(api, session, world, body, status, field):
    case = submitted(session, world)
    response = api("applicant_A1a").post(f"cases/{case.id}/urge", json=body)
    assert response.status_code == status and field in error_of(response)["fields"]
    assert urges(session) == 0


def test_a_draft_or_an_unknown_case_cannot_be_urged(api, session, world):
    draft = nominate(session, world)
    response = api("applicant_A1a").post(f"cases/{draft.id}/urge", json={})
    assert response.status_code == 409 and error_of(response)["code"] == "invalid_action"
    assert api("applicant_A1a").post("cases/999999/urge", json={}).status_code == 404
