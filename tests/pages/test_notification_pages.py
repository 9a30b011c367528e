"""Notification pages and the header's unread count; urging (催办) from the case page; the
overdue banner and marks after the deadline scan escalated.

Notifications are made by the engine itself: the deadline scan (``process_deadlines``) run
with a clock past a case's due time, an urge, or ``notify`` for a long list.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.base.db import utcnow
from engine.cases.tasks import waiting_task
from engine.notify.notifications import Message, Notification, notify
from engine.operations.deadline_scan import due_task_ids, process_deadlines
from engine.operations.transitions import create_draft, perform_action
from engine.operations.urging import Urge
from tests.api_v1.test_cases import FORM, nominate, submitted
from tests.conftest import NOW
from tests.pages.conftest import text_of

# Long past the township review's five working days from NOW.
LATER = NOW + timedelta(days=60)
BADGE = re.compile(r'class="notifications-link"[^>]*>([^<]*)(?:<span class="badge">(\d+)</span>\s*'
                   r'<span class="visually-hidden">条未读</span>)?</a>')


def escalate(session):
    """Run the deadline scan as if it were LATER: every case waiting since NOW is escalated."""
    report = process_deadlines(session, due_task_ids(session, LATER), LATER)
    session.flush()
    return report


def header_count(page: str) -> int | None:
    """The header's unread badge (0 when the link shows none; None when there is no link)."""
    found = BADGE.search(page)
    if found is None:
        return None
    return int(found.group(2) or 0)


def notifications_of(session, world, username: str) -> list[Notification]:
    return list(session.scalars(select(Notification).where(Notification.user_id == world.users[username].id)
                                .order_by(Notification.id)))


def told(session, world, username: str, count: int, kind: str = "urge") -> list[int]:
    """``count`` notifications for one person through the engine's notify, oldest first; their ids."""
    user_id = world.users[username].id
    return notify(session, [(user_id, Message(kind=kind, key=f"test:{index}", subject=f"通知标题{index}",
                                              body=f"通知正文{index}"))
                            for index in range(count)], NOW)


# --- The header and opening a notification ---------------------------------------------------------

def test_the_header_count_drops_when_a_notification_is_opened(pages, session, world):
    """Does opening a notification mark it read, lead to its case and lower the header's count?"""
    case = submitted(session, world)
    client = pages("applicant_A1a")
    assert header_count(text_of(client.get("/my/cases"))) == 0
    assert escalate(session).escalations == 1
    [notification] = notifications_of(session, world, "applicant_A1a")
    assert notification.kind == "overdue" and notification.case_id == case.id

    page = text_of(client.get("/my/cases"))
    assert header_count(page) == 1

    response = client.get(f"/notifications/{notification.id}")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/cases/{case.id}")
    session.refresh(notification)
    assert notification.read_dt is not None
    page = text_of(client.get(f"/cases/{case.id}"))
    assert header_count(page) == 0 and "条未读" not in page


def test_visitors_have_no_notification_link_and_the_pages_need_signing_in(pages):
    assert header_count(text_of(pages().get("/login"))) is None
    response = pages().get("/notifications")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("username", ["reviewer_A1", "auditor_city", "admin", "applicant_B1a"])
def test_every_role_has_the_list(pages, session, world, username):
    told(session, world, username, 2)
    response = pages(username).get("/notifications")
    assert response.status_code == 200 and header_count(text_of(response)) == 2
    assert "通知标题1" in text_of(response)


def test_a_notification_without_a_case_is_shown_and_marked_read(pages, session, world):
    [notification_id] = told(session, world, "reviewer_A1", 1)
    response = pages("reviewer_A1").get(f"/notifications/{notification_id}")
    assert response.status_code == 200 and "通知正文0" in text_of(response)
    assert header_count(text_of(response)) == 0
    assert session.get(Notification, notification_id).read_dt is not None


def test_someone_elses_notification_is_404_and_stays_unread(pages, session, world):
    [notification_id] = told(session, world, "applicant_A1a", 1)
    for client in (pages("applicant_A1b"), pages("admin")):
        response = client.get(f"/notifications/{notification_id}")
        assert response.status_code == 404 and "通知正文0" not in text_of(response)
    assert pages("applicant_A1a").get("/notifications/999999").status_code == 404
    assert session.get(Notification, notification_id).read_dt is None


# --- The list ------------------------------------------------------------------------------------

def test_the_list_is_newest_first_marks_unread_and_filters(pages, session, world):
    ids = told(session, world, "reviewer_A1", 3)
    client = pages("reviewer_A1")
    client.get(f"/notifications/{ids[1]}")  # opened: read

    page = text_of(client.get("/notifications"))
    shown = [int(found) for found in re.findall(r'id="notification-(\d+)"', page)]
    assert shown == ids[::-1]
    assert re.search(rf'id="notification-{ids[0]}" class="card unread"', page)
    assert re.search(rf'id="notification-{ids[1]}" class="card"', page) and "已读于" in page

    unread = text_of(client.get("/notifications?unread=1"))
    assert [int(found) for found in re.findall(r'id="notification-(\d+)"', unread)] == [ids[2], ids[0]]


def test_the_list_pages_by_id(pages, session, world, monkeypatch):
    monkeypatch.setattr("pages.notifications.PAGE_SIZE", 2)
    ids = told(session, world, "reviewer_A1", 5)[::-1]  # newest first
    client = pages("reviewer_A1")
    seen, url = [], "/notifications"
    while url:
        page = text_of(client.get(url))
        seen += [int(found) for found in re.findall(r'id="notification-(\d+)"', page)]
        found = re.search(r'href="([^"]*before=\d+[^"]*)">下一页', page)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == ids
    # A filtered list keeps its filter on the next page.
    page = text_of(client.get("/notifications?unread=1"))
    assert re.search(rf'href="/notifications\?unread=1&amp;before={ids[1]}"', page)
    assert client.get("/notifications?before=abc").status_code == 200  # a bad link starts from the newest


def test_mark_all_read(pages, session, world):
    told(session, world, "reviewer_A1", 3)
    other = told(session, world, "reviewer_A", 1)
    client = pages("reviewer_A1")
    response = client.submit("/notifications/read-all", follow_redirects=True)
    assert response.status_code == 200 and "已将 3 条通知标为已读" in text_of(response)
    assert header_count(text_of(response)) == 0
    assert all(n.read_dt is not None for n in notifications_of(session, world, "reviewer_A1"))
    assert session.get(Notification, other[0]).read_dt is None
    assert client.post("/notifications/read-all").status_code == 400  # no CSRF token


# --- Preferences ---------------------------------------------------------------------------------

def test_the_settings_keep_email_and_switch(pages, session, world):
    client = pages("applicant_A1a")
    page = text_of(client.get("/notifications/settings"))
    # Mail is on by default, but there is no address to mail to: the box shows it off.
    assert 'name="email" value=""' in page and "checked" not in page
    assert client.submit("/notifications/settings", {"email": ""}).status_code == 302  # saved unchanged

    response = client.submit("/notifications/settings", {"email": " zhang@example.org ", "email_notifications": "1"})
    assert response.status_code == 302
    user = world.users["applicant_A1a"]
    session.refresh(user)
    assert (user.email, user.email_notifications) == ("zhang@example.org", True)
    page = text_of(client.get("/notifications/settings"))
    assert 'value="zhang@example.org"' in page and "checked" in page

    assert client.submit("/notifications/settings", {"email": "zhang@example.org"}).status_code == 302
    session.refresh(user)
    assert user.email_notifications is False


@pytest.mark.parametrize("form, message", [
    ({"email": "not-an-address", "email_notifications": "1"}, "请填写有效的电子邮箱地址"),
    ({"email": "", "email_notifications": "1"}, "开启邮件通知需要填写电子邮箱地址"),
    ({"email": "a@b\x00.org"}, "不能包含"),
])
def test_bad_settings_are_422_next_to_the_field_with_the_values_kept(pages, session, world, form, message):
    response = pages("applicant_A1a").submit("/notifications/settings", form)
    page = text_of(response)
    assert response.status_code == 422 and message in page
    assert 'aria-invalid="true" aria-describedby="email-error"' in page
    if form["email"] == "not-an-address":
        assert 'value="not-an-address"' in page and "checked" in page
    user = world.users["applicant_A1a"]
    session.refresh(user)
    assert user.email is None and user.email_notifications is True  # as made: nothing written


# --- Urging --------------------------------------------------------------------------------------

def urges(session) -> int:
    return session.scalar(select(func.count(Urge.id)))


def test_the_applicant_urges_once_per_working_day(pages, session, world):
    case = submitted(session, world)
    client = pages("applicant_A1a")
    page = text_of(client.get(f"/cases/{case.id}"))
    assert 'id="urge-form"' in page and "上次催办" not in page

    response = client.submit(f"/cases/{case.id}/urge", {"note": "已等待多日，请尽快审核"}, follow_redirects=True)
    page = text_of(response)
    # Both people holding the township's reviewer role are told.
    assert response.status_code == 200 and "已催办，已通知 2 位审核人" in page and "上次催办" in page
    assert 'id="urge-form"' not in page and "本工作日已催办过" in page  # the form would be refused
    [urged] = notifications_of(session, world, "reviewer_A1")
    assert urged.kind == "urge" and urged.case_id == case.id and "已等待多日" in urged.body
    assert header_count(text_of(pages("reviewer_A1").get("/inbox"))) == 1

    again = client.submit(f"/cases/{case.id}/urge", {"note": "再催一次"})
    assert again.status_code == 409 and "每个工作日只能催办一次" in text_of(again)
    assert urges(session) == 1 and len(notifications_of(session, world, "reviewer_A1")) == 1


def test_a_higher_reviewer_may_urge(pages, session, world):
    case = submitted(session, world)
    client = pages("reviewer_A")
    assert 'id="urge-form"' in text_of(client.get(f"/cases/{case.id}"))
    response = client.submit(f"/cases/{case.id}/urge", {})
    assert response.status_code == 302 and urges(session) == 1


@pytest.mark.parametrize("username", ["reviewer_A1", "auditor_city"])
def test_the_waiting_reviewer_and_auditors_may_not_urge(pages, session, world, username):
    case = submitted(session, world)
    client = pages(username)
    assert 'id="urge-form"' not in text_of(client.get(f"/cases/{case.id}"))
    response = client.submit(f"/cases/{case.id}/urge", {})
    assert response.status_code == 403 and "只有申请人或上级单位审核人可以催办" in text_of(response)
    assert urges(session) == 0


def test_an_urge_note_too_long_is_422_next_to_the_note(pages, session, world):
    case = submitted(session, world)
    response = pages("applicant_A1a").submit(f"/cases/{case.id}/urge", {"note": "催" * 201})
    page = text_of(response)
    assert response.status_code == 422 and "催办说明不能超过 200 个字" in page
    assert 'aria-describedby="urge-note-error"' in page and "催" * 201 in page
    assert urges(session) == 0


def test_a_draft_cannot_be_urged(pages, session, world):
    case = nominate(session, world)
    client = pages("applicant_A1a")
    assert 'id="urge-form"' not in text_of(client.get(f"/cases/{case.id}"))
    response = client.submit(f"/cases/{case.id}/urge", {})
    assert response.status_code == 409 and "不在审核中" in text_of(response)


# --- Overdue ---------------------------------------------------------------------------------------

BANNER = "本环节已逾期（最迟办理日 "
ESCALATED = "，已通报上级单位督办"


def test_the_overdue_banner_after_escalation_for_applicant_and_reviewers(pages, session, world):
    case = submitted(session, world)  # at NOW: its five working days are long past
    due = waiting_task(session, case.id).due_dt
    due_text = (due + timedelta(hours=8) - timedelta(days=1)).strftime("%Y-%m-%d")  # the last day, Asia/Shanghai
    page = text_of(pages("applicant_A1a").get(f"/cases/{case.id}"))
    assert f"{BANNER}{due_text}）" in page and ESCALATED not in page  # passed, not yet escalated

    escalate(session)
    for username in ("applicant_A1a", "reviewer_A1", "reviewer_A"):
        page = text_of(pages(username).get(f"/cases/{case.id}"))
        assert f"{BANNER}{due_text}）{ESCALATED}" in page, username
        assert "办理期限" in page and due_text in page
    assert {n.kind for n in notifications_of(session, world, "reviewer_A")} == {"escalation"}


def test_no_banner_while_the_stage_is_in_time(pages, session, world):
    case = create_draft(session, world.actor("applicant_A1a"), "basic_nomination", form=FORM, now=NOW)
    perform_action(session, world.actor("applicant_A1a"), case, "submit", expected_version=case.version,
                   now=utcnow())
    session.flush()
    page = text_of(pages("applicant_A1a").get(f"/cases/{case.id}"))
    assert BANNER not in page and 'id="overdue-banner"' not in page


def test_my_cases_marks_the_overdue_ones(pages, session, world):
    late = submitted(session, world)
    draft = nominate(session, world)
    escalate(session)
    page = text_of(pages("applicant_A1a").get("/my/cases"))
    rows = {int(case_id): row for row, case_id in
            ((row, re.search(r'href="/cases/(\d+)"', row).group(1)) for row in re.findall(r"<tr.*?</tr>", page, re.S)[1:])}
    assert "已逾期" in rows[late.id] and "已逾期" not in rows[draft.id]


# --- Told of each step ------------------------------------------------------------------------------

def test_an_approval_on_the_case_page_is_a_new_task_in_the_next_levels_list(pages, session, world):
    """The township approves on the case page; the county reviewer's header counts it and the list
    names it as a new task with its last day; the applicant hears of the rejection with its reason."""
    case = submitted(session, world)
    session.commit()
    reviewer = pages("reviewer_A1")
    response = reviewer.submit(f"/cases/{case.id}/actions/approve", {"version": case.version, "comment": "同意上报"})
    assert response.status_code == 302
    county = pages("reviewer_A")
    page = text_of(county.get("/notifications"))
    assert header_count(page) == 1
    assert "新待办" in page and f"【待办】{case.title}：县（区）总工会审核" in page
    session.refresh(case)
    response = county.submit(f"/cases/{case.id}/actions/reject", {"version": case.version, "comment": "材料不实"})
    assert response.status_code == 302
    page = text_of(pages("applicant_A1a").get("/notifications"))
    assert "办理结果" in page and "办理意见：材料不实" in page
