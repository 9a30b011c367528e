"""The reviewer inbox page (GET /inbox) and its batch action (POST /inbox/batch): who sees which
waiting cases, order and overdue marks, counts, filters, pages, and a batch where each case
succeeds or fails on its own."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, update

from engine.audit.chain import AuditEvent
from engine.base.db import utcnow
from engine.cases.case import Case
from engine.cases.tasks import Task
from engine.operations.transitions import comment_on_case, create_draft, perform_action, submit_case
from tests.pages.conftest import text_of
from tests.test_honours import Honours
from tests.test_medical_subsidy import draft, schemes, store, submitted  # noqa: F401 - fixtures
from web.paging import encode_cursor

FORM = {"award_type": "labour_medal", "nominee_name": "孙八", "employer": "A1a公司", "ownership": "public",
        "merits_summary": "节能降耗显著"}
NO_DUE = object()
ROW = re.compile(r'<tr id="case-(\d+)"')
VERSION = re.compile(r'name="version_(\d+)" value="(\d+)"')


@pytest.fixture
def waiting(session, world):
    """``waiting(due_in_days, applicant=…, nominee=…)`` submits a basic nomination and sets its due
    date (None: no deadline), so the order does not depend on today's calendar."""

    def submit(due_in_days=NO_DUE, applicant="applicant_A1a", nominee="孙八"):
        now = utcnow()
        actor = world.actor(applicant)
        case = create_draft(session, actor, "basic_nomination", form=FORM | {"nominee_name": nominee}, now=now)
        submit_case(session, actor, case, expected_version=case.version, now=now)
        if due_in_days is not NO_DUE:
            due = None if due_in_days is None else now + timedelta(days=due_in_days)
            session.execute(update(Task).where(Task.closed_dt.is_(None), Task.case_id == case.id).values(due_dt=due))
        return case

    return submit


@pytest.fixture
def at_county(session, world, waiting):
    """A basic nomination approved by its township, now waiting at county A."""

    def make(nominee="县级待审"):
        case = waiting(nominee=nominee)
        perform_action(session, world.actor("reviewer_A1"), case, "approve", expected_version=case.version)
        return case

    return make


def shown(response) -> list[int]:
    """The case ids of the inbox rows, in page order."""
    return [int(case_id) for case_id in ROW.findall(text_of(response))]


def row_html(page: str, case_id: int, prefix: str = "case") -> str:
    start = page.index(f'<tr id="{prefix}-{case_id}"')
    return page[start:page.index("</tr>", start)]


def versions(response) -> dict[int, int]:
    return {int(case_id): int(version) for case_id, version in VERSION.findall(text_of(response))}


def switch_to(client, world, unit: str) -> None:
    response = client.submit("/switch-role", {"grant": f"reviewer:{world.unit(unit).id}"})
    assert response.status_code == 302


# --- Who sees what, in which order ---------------------------------------------------------------

def test_reviewer_sees_their_units_waiting_cases_soonest_due_first_overdue_marked(pages, app, waiting):
    later = waiting(2, nominee="晚些到期")
    undated = waiting(None, applicant="applicant_A1b", nominee="无期限的")
    overdue = waiting(-20, nominee="早已超期")
    county_b = waiting(1, applicant="applicant_B1a", nominee="B县的")
    response = pages("reviewer_A1").get("/inbox")
    page = text_of(response)
    assert response.status_code == 200
    assert shown(response) == [overdue.id, later.id, undated.id]
    assert "B县的" not in page
    late_row = row_html(page, overdue.id)
    assert 'class="is-overdue"' in late_row and re.search(r"已逾期 \d+ 个工作日", late_row)
    assert "is-overdue" not in row_html(page, later.id) and "已逾期" not in row_html(page, later.id)
    assert "即将到期" in row_html(page, later.id)
    assert "无期限" in row_html(page, undated.id)
    for column in ("早已超期", "基础推荐流程（测试用）", "镇（街道）总工会审核", "A1a公司工会", "A1b公司工会"):
        assert column in page
    assert f'name="case_id" value="{overdue.id}"' in page
    if "cases.case" in app.view_functions:  # the case page belongs to another area
        assert f'href="/cases/{overdue.id}"' in late_row
    # County B's township reviewer sees only theirs; nothing waits at county B yet.
    assert shown(pages("reviewer_B1").get("/inbox")) == [county_b.id]
    empty = text_of(pages("reviewer_B").get("/inbox"))
    assert "目前没有等待您审核的案件" in empty and 'name="case_id"' not in empty


def test_counts_per_kind_link_to_the_kind(pages, session, world, waiting):
    waiting(-1)
    waiting(3)
    waiting(None)
    Honours(session, world).submitted()  # entered in March 2026 with a deadline long past
    page = text_of(pages("reviewer_A1").get("/inbox"))
    counts = page[page.index('<ul class="counts">'):page.index("</ul>", page.index('<ul class="counts">'))]
    assert re.search(r'href="/inbox\?kind=basic_nomination"[^>]*>基础推荐流程（测试用） <strong>3</strong>', counts)
    assert re.search(r'href="/inbox\?kind=honours"[^>]*>五一劳动荣誉推荐 <strong>1</strong>', counts)
    assert "全部 <strong>4</strong>" in counts
    assert "逾期 1" in counts  # one of each kind is overdue


def test_the_header_switcher_changes_which_inbox_is_shown(pages, world, waiting, at_county):
    township = waiting(1, nominee="镇级待审")
    county = at_county()
    client = pages("reviewer_A1_and_A")
    switch_to(client, world, "A1")
    assert shown(client.get("/inbox")) == [township.id]
    switch_to(client, world, "A")
    page = client.get("/inbox")
    assert shown(page) == [county.id] and "县（区）总工会审核" in text_of(page)
    assert "在A区总工会等待您审核的案件" in text_of(page)


# --- Filters --------------------------------------------------------------------------------------

def test_each_filter_narrows_the_list(pages, session, world, waiting):
    overdue = waiting(-1)
    soon = waiting(1)
    far = waiting(40)
    nomination = Honours(session, world).submitted()
    client = pages("reviewer_A1")
    assert shown(client.get("/inbox?due=overdue")) == [nomination.id, overdue.id]
    assert shown(client.get("/inbox?due=soon")) == [soon.id]
    assert shown(client.get("/inbox?kind=basic_nomination")) == [overdue.id, soon.id, far.id]
    assert shown(client.get("/inbox?kind=honours")) == [nomination.id]
    assert shown(client.get("/inbox?kind=basic_nomination&due=overdue")) == [overdue.id]
    assert shown(client.get("/inbox?kind=basic_nomination&state=township_review")) == [overdue.id, soon.id, far.id]
    assert shown(client.get(f"/inbox?round={nomination.round_id}")) == [nomination.id]
    assert shown(client.get(f"/inbox?unit={world.unit('A1').id}")) == [nomination.id, overdue.id, soon.id, far.id]
    filtered = text_of(client.get("/inbox?kind=honours&due=overdue"))
    # The form keeps the chosen values, with a label tied to every select.
    assert '<option value="honours" selected>' in filtered and '<option value="overdue" selected>' in filtered
    for name in ("kind", "state", "round", "unit", "due"):
        assert f'<label for="filter-{name}">' in filtered and f'id="filter-{name}"' in filtered
    none = text_of(client.get("/inbox?kind=basic_nomination&state=county_review"))
    assert "没有符合筛选条件的待办案件" in none


@pytest.mark.parametrize("query, field, message", [
    ("kind=no_such_kind", "kind", "没有这种业务类型"),
    ("kind=basic_nomination&state=nowhere", "state", "所选业务没有这个审核环节"),
    ("due=soonish", "due", "到期筛选只能是"),
    ("round=abc", "round", "评选批次不存在或不在您的范围内"),
    ("round=99999", "round", "评选批次不存在或不在您的范围内"),
    ("unit=abc", "unit", "单位无效"),
])
def test_a_bad_filter_value_is_explained_next_to_its_field(pages, waiting, query, field, message):
    waiting(1)
    response = pages("reviewer_A1").get(f"/inbox?{query}")
    page = text_of(response)
    assert response.status_code == 422
    assert f'<p class="field-error" id="{field}-error">{message}' in page
    assert f'aria-describedby="{field}-error"' in page
    assert shown(response) == []


def test_a_unit_outside_the_reviewers_is_refused(pages, world, waiting):
    waiting(1, applicant="applicant_B1a")
    response = pages("reviewer_A1").get(f"/inbox?unit={world.unit('B1').id}")
    assert response.status_code == 422
    assert '<p class="field-error" id="unit-error">您在该单位没有审核人角色' in text_of(response)
    assert shown(response) == []


@pytest.mark.parametrize("after", ["not-a-cursor", encode_cursor(["yesterday", 1]), encode_cursor([None, "one"]),
                                   encode_cursor([None]), encode_cursor([None, 2**70])])
def test_a_broken_page_link_says_so(pages, waiting, after):
    waiting(1)
    response = pages("reviewer_A1").get(f"/inbox?after={after}")
    assert response.status_code == 422 and "分页参数无效，请从第一页重新查看" in text_of(response)


def test_a_page_link_past_the_end_shows_no_rows(pages, waiting):
    waiting(1)
    response = pages("reviewer_A1").get(f"/inbox?after={encode_cursor([None, 2**31 - 1])}")
    assert response.status_code == 200 and "后面没有更多待办了" in text_of(response)


# --- Pages and their cost -------------------------------------------------------------------------

def test_fifty_rows_a_page_then_the_next_page_and_a_bounded_number_of_queries(pages, database, waiting):
    cases = [waiting(days) for days in range(1, 54)]  # 53 cases, one per due day
    client = pages("reviewer_A1")
    client.get("/inbox")  # warms the definition and calendar caches
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(database, "before_cursor_execute", count)
    try:
        first = client.get("/inbox")
        full_page_queries = len(statements)
        statements.clear()
        client.get("/inbox?due=soon")  # the same page with only a row or so
        small_page_queries = len(statements)
    finally:
        event.remove(database, "before_cursor_execute", count)
    assert shown(first) == [case.id for case in cases[:50]]
    assert full_page_queries <= 16, full_page_queries  # 16 since 「征求我意见的」 (the opinions asked of me) tops it
    assert full_page_queries == small_page_queries  # no query per row
    next_link = re.search(r'<a href="([^"]+)" rel="next">下一页</a>', text_of(first))
    assert next_link
    second = client.get(next_link.group(1).replace("&amp;", "&"))
    assert shown(second) == [case.id for case in cases[50:]]
    assert 'rel="next"' not in text_of(second) and "回到第一页" in text_of(second)


def test_the_next_page_keeps_the_filters(pages, waiting):
    cases = [waiting(-days) for days in range(1, 53)]
    page = text_of(pages("reviewer_A1").get("/inbox?due=overdue"))
    link = re.search(r'<a href="([^"]+)" rel="next">', page).group(1).replace("&amp;", "&")
    assert "due=overdue" in link
    assert shown(pages("reviewer_A1").get(link)) == [case.id for case in reversed(cases[:2])]


# --- Batch action ---------------------------------------------------------------------------------

def approvals(session, case_ids) -> int:
    return session.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.case_id.in_(case_ids), AuditEvent.action == "approve"))


def test_batch_approve_goes_through_per_case_and_reports_a_stale_case_as_a_conflict(pages, session, world, waiting):
    first, stale, third = waiting(1, nominee="甲"), waiting(2, nominee="乙"), waiting(3, nominee="丙")
    client = pages("reviewer_A1")
    inbox = client.get("/inbox")
    page = text_of(inbox)
    assert '<option value="approve">审核通过，报县（区）总工会</option>' in page
    seen = versions(inbox)
    # Meanwhile the applicant comments on one of them: its version moves on.
    comment_on_case(session, world.actor("applicant_A1a"), session.get(Case, stale.id), "补充一点说明")
    session.flush()
    response = client.submit("/inbox/batch", {
        "case_id": [first.id, stale.id, third.id], "trigger": "approve", "comment": "同意", "confirmed": "1",
        **{f"version_{case_id}": version for case_id, version in seen.items()}, "back": "/inbox?due=soon"})
    result = text_of(response)
    assert response.status_code == 200
    assert "已办理 2 件，未办理 1 件" in result
    for case in (first, third):
        done_row = row_html(result, case.id, "result")
        assert "✓" in done_row and "已办理，现处于「县（区）总工会审核」" in done_row
    stale_row = row_html(result, stale.id, "result")
    assert "✗" in stale_row and "案件已被他人更新，请刷新后再操作" in stale_row and "乙" in stale_row
    assert 'href="/inbox?due=soon"' in result
    session.expire_all()
    assert [session.get(Case, case.id).state for case in (first, stale, third)] == [
        "county_review", "township_review", "county_review"]
    assert approvals(session, [stale.id]) == 0 and approvals(session, [first.id, third.id]) == 2


def test_an_action_that_needs_a_comment_fails_per_case_with_the_message(pages, session, waiting):
    cases = [waiting(1), waiting(2)]
    client = pages("reviewer_A1")
    seen = versions(client.get("/inbox"))
    response = client.submit("/inbox/batch", {
        "case_id": [case.id for case in cases], "trigger": "return", "confirmed": "1",
        **{f"version_{case_id}": version for case_id, version in seen.items()}})
    result = text_of(response)
    assert "已办理 0 件，未办理 2 件" in result and result.count("请填写意见或理由") == 2
    session.expire_all()
    assert {session.get(Case, case.id).state for case in cases} == {"township_review"}


def test_a_case_the_reviewer_may_not_see_is_refused_without_naming_it(pages, session, waiting):
    mine = waiting(1)
    other = waiting(1, applicant="applicant_B1a", nominee="别县的人")
    client = pages("reviewer_A1")
    seen = versions(client.get("/inbox"))
    response = client.submit("/inbox/batch", {
        "case_id": [mine.id, other.id], "trigger": "approve", "confirmed": "1",
        f"version_{mine.id}": seen[mine.id], f"version_{other.id}": 2})
    result = text_of(response)
    assert "已办理 1 件，未办理 1 件" in result
    assert "案件不存在或您无权查看" in result and "别县的人" not in result
    session.expire_all()
    assert session.get(Case, other.id).state == "township_review"


def test_batch_with_nothing_selected_does_nothing(pages, session, waiting):
    case = waiting(1)
    client = pages("reviewer_A1")
    client.get("/inbox")
    response = client.submit("/inbox/batch", {"trigger": "approve", "back": "/inbox?kind=basic_nomination"})
    assert response.status_code == 302 and response.location == "/inbox?kind=basic_nomination"
    assert "请先勾选要办理的案件" in text_of(client.get(response.location))
    no_trigger = client.submit("/inbox/batch", {"case_id": case.id, f"version_{case.id}": case.version})
    assert "请选择要执行的操作" in text_of(client.get(no_trigger.location))
    assert approvals(session, [case.id]) == 0


def test_batch_back_link_stays_on_the_inbox(pages, waiting):
    client = pages("reviewer_A1")
    for elsewhere in ("https://evil.example/inbox", "//evil.example/inbox", "/inbox/batch", "/inboxes"):
        response = client.submit("/inbox/batch", {"trigger": "approve", "back": elsewhere})
        assert response.location == "/inbox", elsewhere


def test_batch_without_the_csrf_token_is_refused_and_writes_nothing(pages, session, waiting):
    case = waiting(1)
    client = pages("reviewer_A1")
    response = client.post("/inbox/batch", data={"case_id": case.id, f"version_{case.id}": case.version,
                                                  "trigger": "approve"})
    assert response.status_code == 400 and "CSRF" in text_of(response)
    session.expire_all()
    assert session.get(Case, case.id).state == "township_review" and approvals(session, [case.id]) == 0


# --- Who may not ----------------------------------------------------------------------------------

@pytest.mark.parametrize("username", ["applicant_A1a", "auditor_city", "admin"])
def test_other_roles_get_403(pages, session, waiting, username):
    case = waiting(1)
    client = pages(username)
    response = client.get("/inbox")
    assert response.status_code == 403 and "此页面需要以审核人身份使用" in text_of(response)
    refused = client.submit("/inbox/batch", {"case_id": case.id, f"version_{case.id}": case.version,
                                              "trigger": "approve"})
    assert refused.status_code == 403
    assert approvals(session, [case.id]) == 0


def test_anonymous_visitors_are_sent_to_log_in(pages):
    response = pages().get("/inbox?due=overdue")
    assert response.status_code == 302 and response.location.startswith("/login?next=/inbox")


# --- 「我已办」 --------------------------------------------------------------------------------------

def test_done_page_lists_finds_and_explains_a_bad_search(pages, session, world, waiting):
    case = waiting(3, nominee="已办的案子")
    perform_action(session, world.actor("reviewer_A1"), case, "approve", expected_version=case.version)
    reviewer = pages("reviewer_A1")
    assert 'href="/inbox/done"' in text_of(reviewer.get("/inbox"))
    page = text_of(reviewer.get("/inbox/done"))
    assert 'id="task-' in page and "已办的案子" in page
    assert "县（区）总工会审核" in page
    assert "已办的案子" in text_of(reviewer.get(f"/inbox/done?q={case.id}"))
    assert "没有找到符合的已办案件。" in text_of(reviewer.get("/inbox/done?q=别的"))
    bad = reviewer.get("/inbox/done?q=" + "字" * 101)
    assert bad.status_code == 422 and "请输入不超过 100 个字的案件编号或标题" in text_of(bad)
    assert "您还没有办理过案件。" in text_of(pages("reviewer_A1_and_A").get("/inbox/done"))


def test_the_header_and_the_home_page_count_what_waits_at_the_reviewers_unit(pages, world, waiting):
    waiting(3)
    waiting(4, applicant="applicant_A1b")
    waiting(5, applicant="applicant_B1a")  # another township's
    reviewer = pages("reviewer_A1")
    assert 'aria-label="2 件待办">2</span>' in text_of(reviewer.get("/inbox"))
    assert '<span class="badge">2</span>' in text_of(reviewer.get("/"))
    county = pages("reviewer_A")  # nothing waits at the county yet: no badge
    assert "件待办" not in text_of(county.get("/inbox"))
    assert "件待办" not in text_of(pages("applicant_A1a").get("/"))


# --- Searching the inbox ---------------------------------------------------------------------------

def test_a_reviewer_finds_a_case_by_name_or_number_and_the_pages_keep_the_search(pages, waiting):
    zhang, li = waiting(1, nominee="张三丰"), waiting(2, nominee="李四")
    elsewhere = waiting(1, applicant="applicant_B1a", nominee="张三丰")
    client = pages("reviewer_A1")
    page = text_of(client.get("/inbox"))
    assert '<input type="search" id="filter-q" name="q"' in page and "查找姓名或编号" in page
    assert shown(client.get("/inbox?q=张三")) == [zhang.id]
    for number in (str(li.id), f"#{li.id}", f"第 {li.id} 号"):
        assert shown(client.get("/inbox", query_string={"q": number})) == [li.id], number
    assert 'value="张三"' in text_of(client.get("/inbox?q=张三"))  # the box keeps what was typed
    missing = text_of(client.get(f"/inbox?q={elsewhere.id}"))
    assert ROW.findall(missing) == [] and f"没有找到「{elsewhere.id}」的待办案件" in missing
    assert f'href="/inbox/done?q={elsewhere.id}"' in missing


def test_the_next_page_of_a_search_keeps_it(pages, waiting):
    cases = [waiting(days, nominee=f"王{days}") for days in range(1, 53)]
    waiting(0, nominee="赵六")
    client = pages("reviewer_A1")
    first = client.get("/inbox?q=王")
    assert shown(first) == [case.id for case in cases[:50]]
    link = re.search(r'<a href="([^"]+)" rel="next">', text_of(first)).group(1).replace("&amp;", "&")
    assert "q=" in link
    assert shown(client.get(link)) == [case.id for case in cases[50:]]


@pytest.mark.parametrize("q", ["字" * 101, "张\x00三"])
def test_a_search_the_inbox_cannot_take_is_explained_beside_the_box(pages, waiting, q):
    waiting(1)
    response = pages("reviewer_A1").get("/inbox", query_string={"q": q})
    page = text_of(response)
    assert response.status_code == 422 and shown(response) == []
    assert 'id="q-error"' in page and "请输入不超过 100 个字的案件编号或标题" in page


def test_a_search_costs_the_queries_of_any_page(pages, database, waiting):
    for days in range(1, 6):
        waiting(days, nominee=f"王{days}")
    client = pages("reviewer_A1")
    client.get("/inbox")
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(database, "before_cursor_execute", count)
    try:
        client.get("/inbox")
        plain = len(statements)
        statements.clear()
        client.get("/inbox?q=王")
        searched = len(statements)
    finally:
        event.remove(database, "before_cursor_execute", count)
    assert searched == plain


# --- Select all, on phones too ---------------------------------------------------------------------

def test_select_all_is_a_visible_control_and_works_without_script(pages, waiting):
    cases = [waiting(days) for days in (1, 2)]
    client = pages("reviewer_A1")
    page = text_of(client.get("/inbox?due=soon"))
    bar = page[page.index('<div class="select-all-bar">'):]
    bar = bar[:bar.index("</div>")]
    assert 'data-select-all="case_id"' in bar and "全选本页" in bar  # outside the table head phones do not see
    link = re.search(r'<a href="([^"]+)" data-no-script>全选本页</a>', bar).group(1).replace("&amp;", "&")
    assert "due=soon" in link and "select=all" in link
    ticked = text_of(client.get(link))
    for case in cases:
        assert f'id="pick-{case.id}" checked' in ticked
    assert f'id="pick-{cases[0].id}" checked' not in page


# --- The batch, checked first ----------------------------------------------------------------------

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def confirm_form(page: str) -> dict:
    """What the confirm page's form posts (its hidden fields; case_id repeated)."""
    form = page[page.index('class="batch-confirm"'):]
    form = form[:form.index("</form>")]
    data: dict = {"case_id": []}
    for name, value in HIDDEN.findall(form):
        if name == "case_id":
            data["case_id"].append(value)
        elif name != "csrf_token":
            data[name] = value.replace("&amp;", "&")
    return data


def test_the_batch_first_shows_what_would_be_refused_and_writes_nothing(pages, session, world, waiting):
    first, stale, third = waiting(1, nominee="甲"), waiting(2, nominee="乙"), waiting(3, nominee="丙")
    client = pages("reviewer_A1")
    seen = versions(client.get("/inbox"))
    comment_on_case(session, world.actor("applicant_A1a"), session.get(Case, stale.id), "补充一点说明")
    session.flush()
    response = client.submit("/inbox/batch", {
        "case_id": [first.id, stale.id, third.id], "trigger": "approve", "comment": "同意",
        **{f"version_{case_id}": version for case_id, version in seen.items()}, "back": "/inbox?due=soon"})
    page = text_of(response)
    assert response.status_code == 200 and "确认批量办理" in page
    assert "以下 2 件可以执行「审核通过，报县（区）总工会」" in page and "另有 1 件不能办理" in page
    assert "可以办理，办理后进入「县（区）总工会审核」" in row_html(page, first.id, "check")
    assert "不能办理：案件已被他人更新，请刷新后再操作" in row_html(page, stale.id, "check")
    assert "核定金额" not in page  # nothing here grants money
    assert approvals(session, [first.id, stale.id, third.id]) == 0
    session.expire_all()
    assert {session.get(Case, case.id).state for case in (first, stale, third)} == {"township_review"}
    form = confirm_form(page)
    assert form["case_id"] == [str(first.id), str(third.id)]  # only those that passed
    assert (form["trigger"], form["comment"], form["confirmed"], form["back"]) == ("approve", "同意", "1",
                                                                                   "/inbox?due=soon")
    result = text_of(client.submit("/inbox/batch", form))
    assert "已办理 2 件，未办理 0 件" in result
    assert approvals(session, [first.id, third.id]) == 2


def test_a_batch_without_the_comment_it_needs_is_stopped_at_the_check(pages, session, waiting):
    cases = [waiting(1), waiting(2)]
    client = pages("reviewer_A1")
    seen = versions(client.get("/inbox"))
    page = text_of(client.submit("/inbox/batch", {
        "case_id": [case.id for case in cases], "trigger": "return",
        **{f"version_{case_id}": version for case_id, version in seen.items()}}))
    assert "所选案件都不能执行这项操作" in page and page.count("不能办理：请填写意见或理由") == 2
    assert 'class="batch-confirm"' not in page and 'href="/inbox"' in page


def test_the_check_and_the_results_show_the_amount_each_approval_grants(pages, session, world, submitted):  # noqa: F811
    big = submitted(total_cost="200000.00", self_paid_in_catalogue="81000.00")  # 40,000.00
    rest = submitted(self_paid_in_catalogue="31000.00")  # computes 15,000.00, 10,000.00 left of the cap
    client = pages("reviewer_A")
    inbox = client.get("/inbox")
    seen = versions(inbox)
    page = text_of(client.submit("/inbox/batch", {
        "case_id": [big.id, rest.id], "trigger": "approve", **{f"version_{k}": v for k, v in seen.items()}}))
    assert "40,000.00 元" in row_html(page, big.id, "check") and "10,000.00 元" in row_html(page, rest.id, "check")
    assert "金额以批准时核定为准" in page
    assert session.get(Case, big.id).outcome.get("subsidy_amount") is None
    result = text_of(client.submit("/inbox/batch", confirm_form(page)))
    assert "已办理 2 件" in result
    assert "40,000.00 元" in row_html(result, big.id, "result") and "10,000.00 元" in row_html(result, rest.id, "result")
    session.expire_all()
    assert session.get(Case, rest.id).outcome["subsidy_amount"] == "10000.00"
