"""Defects seen walking the pages as their users (issue 16): one deadline read the same way
everywhere, and the small things each page got wrong."""
from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from io import BytesIO

from engine.base.config import LOCAL_TZ
from engine.base.db import utcnow
from engine.cases.tasks import waiting_task
from engine.operations.transitions import perform_action
from tests.api_v1.test_cases import nominate, submitted
from tests.api_v1.test_notices import hardship_case_on_notice
from tests.pages.conftest import text_of
from tests.test_honours import Honours

# Submitted on 29 December 2026: five working days reach into 2027, a year no calendar covers here.
LATE_DECEMBER = datetime(2026, 12, 29, 10, 0, tzinfo=LOCAL_TZ)
UNCOVERED = "无法计算期限：2027 年的工作日历尚未导入"


def row_of(page: str, case_id: int) -> str:
    """The table row of a page that links to the case."""
    for row in re.findall(r"<tr.*?</tr>", page, re.S):
        if f'href="/cases/{case_id}"' in row:
            return row
    raise AssertionError(f"no row for case {case_id}")


# --- Item 7: one deadline, one day ------------------------------------------------------------------

def test_inbox_case_page_and_my_cases_show_the_same_last_day_to_act(pages, session, world):
    """Does every page show the deadline as the same last day, not the midnight after it?"""
    case = submitted(session, world)
    due = waiting_task(session, case.id).due_dt
    local_due = due.astimezone(LOCAL_TZ)
    assert local_due.hour == 0 and local_due.minute == 0  # "N working days" end at midnight
    expected = f"最迟办理日 {(local_due - timedelta(days=1)).date().isoformat()}"
    wrong = local_due.date().isoformat()

    inbox_row = row_of(text_of(pages("reviewer_A1").get("/inbox")), case.id)
    case_page = text_of(pages("reviewer_A1").get(f"/cases/{case.id}"))
    case_head = case_page[case_page.index("办理期限"):case_page.index("</dl>")]
    my_row = row_of(text_of(pages("applicant_A1a").get("/my/cases")), case.id)
    for where, shown in (("inbox", inbox_row), ("case page", case_head), ("my cases", my_row)):
        assert expected in shown, where
        assert wrong not in shown, where
    banner = case_page[case_page.index('id="overdue-banner"'):]
    assert f"本环节已逾期（{expected}）" in banner


def test_a_deadline_the_calendar_cannot_work_out_says_why_on_every_page(pages, session, world):
    """A deadline in a year the working-day calendar lacks: the pages name the year, not nothing."""
    case = nominate(session, world)
    perform_action(session, world.actor("applicant_A1a"), case, "submit", expected_version=case.version,
                   now=LATE_DECEMBER)
    session.flush()
    assert waiting_task(session, case.id).due_dt is None

    inbox_row = row_of(text_of(pages("reviewer_A1").get("/inbox")), case.id)
    assert UNCOVERED in inbox_row and "无期限" not in inbox_row
    case_page = text_of(pages("applicant_A1a").get(f"/cases/{case.id}"))
    assert UNCOVERED in case_page[:case_page.index("</dl>")]
    assert UNCOVERED in row_of(text_of(pages("applicant_A1a").get("/my/cases")), case.id)


# --- Every page of a walk: unique ids, a label for every control ------------------------------------

class PageStructure(HTMLParser):
    """The ids of a page, the controls a person fills in, and what labels them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.label_targets: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.open_labels = 0
        self.unconfirmed: list[str] = []  # buttons styled as dangerous that do not ask first
        self.options: dict[tuple[str | None, str | None], list[str]] = {}  # (select, optgroup) -> labels
        self.select: str | None = None
        self.optgroup: str | None = None
        self.option_text: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.append(attributes["id"])
        if tag == "select":
            self.select, self.optgroup = attributes.get("id") or attributes.get("name"), None
        elif tag == "optgroup":
            self.optgroup = attributes.get("label")
        elif tag == "option":
            self.option_text = []
        if tag == "label":
            self.open_labels += 1
            if attributes.get("for"):
                self.label_targets.add(attributes["for"])
        if tag == "button" and "danger" in (attributes.get("class") or "").split() and "data-confirm" not in attributes:
            self.unconfirmed.append(attributes.get("name") or attributes.get("class"))
        if tag in ("input", "textarea", "select") and attributes.get("type") not in ("hidden", "submit", "button"):
            self.controls.append(attributes | {"tag": tag, "wrapped": "yes" if self.open_labels else None})

    def handle_data(self, data):
        if self.option_text is not None:
            self.option_text.append(data)

    def handle_endtag(self, tag):
        if tag == "label" and self.open_labels:
            self.open_labels -= 1
        elif tag == "option" and self.option_text is not None:
            label = "".join(self.option_text).strip()
            self.options.setdefault((self.select, self.optgroup), []).append(label)
            self.option_text = None
        elif tag == "optgroup":
            self.optgroup = None

    def problems(self) -> list[str]:
        found = [f"id {name!r} {count} times" for name, count in Counter(self.ids).items() if count > 1]
        found += [f"a danger button ({button}) without data-confirm" for button in self.unconfirmed]
        found += [f"option {label!r} {count} times in <select id={select!r}>" for (select, _group), labels
                  in self.options.items() for label, count in Counter(labels).items() if count > 1]
        for control in self.controls:
            labelled = (control.get("wrapped") or control.get("aria-label") or control.get("aria-labelledby")
                        or (control.get("id") and control["id"] in self.label_targets
                            and Counter(self.ids)[control["id"]] == 1))
            if not labelled:
                found.append(f"<{control['tag']} name={control.get('name')!r} id={control.get('id')!r}> has no label")
        return found


def internal_words(page: str) -> list[str]:
    """Words of the builders, not the users (「引擎尚未提供改名操作」)."""
    main = page[page.index("<main"):page.index("</main>")] if "<main" in page else page
    return [f"internal wording: {found}" for found in re.findall(r"[^<>]{0,20}引擎[^<>]{0,20}", main)]


def run_together(page: str) -> list[str]:
    """Links and buttons side by side with nothing between them read as one ("继续填写查看")."""
    return [f"run together: {found}" for found in re.findall(r"</(?:a|button)><(?:a|button)\b[^>]*>[^<]*", page)]


def walk(pages, session, world) -> dict[str, list[str]]:
    """The pages of every role, with cases in several stages, as (who, path) -> problems."""
    submitted_case = submitted(session, world)
    a_draft = nominate(session, world, form={"nominee_name": "草稿"})
    honours = Honours(session, world)
    at_city = honours.at_city()
    at_jury = honours.at_jury()  # on the jurors' ballots
    on_notice = hardship_case_on_notice(session, world)
    session.flush()
    visits = {
        None: ["/login", "/about", "/notices", f"/notices/{on_notice.id}"],
        "applicant_A1a": ["/", "/my/cases", "/cases/new", "/cases/new/basic_nomination", f"/cases/{a_draft.id}/edit",
                          f"/cases/{a_draft.id}", f"/cases/{submitted_case.id}", "/notifications",
                          "/notifications/settings"],
        "reviewer_A1": ["/inbox", f"/cases/{submitted_case.id}", "/dashboard"],
        "reviewer_city": ["/inbox", f"/cases/{at_city.id}", f"/cases/{on_notice.id}", "/jury", f"/cases/{at_jury.id}"],
        "reviewer_B": ["/jury", f"/jury/cases/{at_jury.id}"],  # a juror from another county
        "auditor_city": ["/audit", "/audit/log", f"/audit/cases/{submitted_case.id}"],
        "admin": ["/admin", "/admin/units", "/admin/users", f"/admin/users/{world.users['reviewer_A1'].id}",
                  "/admin/rounds", f"/admin/rounds/{honours.round.id}", "/admin/parameters", "/admin/calendar"],
        "auditor_A": ["/audit?kind=basic_nomination", "/dashboard"],
    }
    found = {}
    for username, paths in visits.items():
        client = pages(username)
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, (username, path, response.status_code)
            structure = PageStructure()
            structure.feed(text_of(response))
            found[f"{username} {path}"] = (structure.problems() + run_together(text_of(response))
                                           + internal_words(text_of(response)))
            if path == "/admin/parameters":
                form = re.search(r'href="(/admin/parameters/[^"/]+/new)"', text_of(response))
                if form:
                    structure = PageStructure()
                    structure.feed(text_of(client.get(form.group(1))))
                    found[f"{username} {form.group(1)}"] = structure.problems()
    # Pages refused with their messages: error elements get ids of their own too.
    refusals = {
        (None, f"/notices/{on_notice.id}/objections"): {"objector_kind": "", "content": "短"},
        ("applicant_A1a", "/cases/new/basic_nomination"): {"intent": "submit"},
        ("reviewer_A1", f"/cases/{submitted_case.id}/actions/return"): {"version": submitted_case.version},
        ("applicant_A1a", "/notifications/settings"): {"email": "不是邮箱", "email_enabled": "on"},
    }
    for (username, path), data in refusals.items():
        client = pages(username)
        if username is None:
            client.get(f"/notices/{on_notice.id}")
        response = client.submit(path, data)
        assert response.status_code in (409, 422), (username, path, response.status_code)
        structure = PageStructure()
        structure.feed(text_of(response))
        found[f"{username} POST {path}"] = structure.problems()
    return found


def test_no_page_of_the_walk_repeats_an_id_or_leaves_a_control_unlabelled(pages, session, world):
    """Does every id appear once per page, and does every input, textarea and select have a label?"""
    found = walk(pages, session, world)
    assert {page: problems for page, problems in found.items() if problems} == {}


# --- Condition failures once --------------------------------------------------------------------------

def test_an_action_refused_by_its_conditions_prints_each_reason_once(pages, session, world):
    """The city approves a nomination without the background opinions: each reason shows once."""
    honours = Honours(session, world)
    case = honours.at_city()
    client = pages("reviewer_city")
    refused = client.submit(f"/cases/{case.id}/actions/approve", {"version": case.version})
    assert refused.status_code == 422
    page = text_of(refused)
    section = page[page.index('id="actions"'):page.index("</section>", page.index('id="actions"'))]
    reasons = re.findall(r'<li class="field-error">([^<]+)</li>', section)
    assert reasons, section
    for reason in reasons:
        assert section.count(reason) == 1, reason
    assert re.search(r'role="alert">\s*未能办理「[^」]+」，原因见下', section)


def test_a_submission_refused_by_its_conditions_prints_each_reason_once(pages, session, world):
    """An honours nomination whose veto declarations say two items apply: the reasons show once."""
    honours = Honours(session, world, closes=utcnow() + timedelta(days=30))
    case = honours.draft()
    client = pages("applicant_A1a")
    client.get(f"/cases/{case.id}/edit")
    declared = {"veto_declarations": "", "veto_declarations.wage_arrears": "yes",
                "veto_declarations.safety_accident": "yes"}
    refused = client.submit(f"/cases/{case.id}/edit", {"intent": "submit", "version": case.version, **declared,
                                                        **{f: v for f, v in case.form_data.items()
                                                           if f not in ("id_number", "veto_declarations")}})
    assert refused.status_code == 422
    page = text_of(refused)
    alert = page[page.index('class="flash error error-summary"'):]
    alert = alert[:alert.index("</div>")]
    reasons = re.findall(r"<li>([^<]+)</li>", alert)
    assert reasons, alert
    for reason in reasons:
        assert page.count(reason) == 1, reason


def test_a_batch_refused_by_a_cases_conditions_gives_each_reason_once(pages, session, world):
    """The batch result's line for a case the rules refuse: its reasons, not the reasons twice."""
    honours = Honours(session, world)
    case = honours.at_city()
    client = pages("reviewer_city")
    client.get("/inbox")
    response = client.submit("/inbox/batch", {"case_id": case.id, f"version_{case.id}": case.version,
                                              "trigger": "approve"})
    assert response.status_code == 200
    page = text_of(response)
    assert page.count("尚未收到纪检监察机关的意见") == 1


# --- A refused form is shown where its messages are --------------------------------------------------

def post_forms(page: str) -> list[str]:
    """The actions of the forms in the page's content (not the header's language and sign-out)."""
    main = page[page.index("<main"):page.index("</main>")]
    return [action for form in re.findall(r"<form[^>]*>", main) if 'method="post"' in form
            for action in re.findall(r'action="([^"]+)"', form)]


def test_every_form_of_the_case_page_posts_back_to_where_its_messages_show(pages, session, world):
    """A refused form reloads the page: the browser must land at the form's messages, not the top."""
    honours = Honours(session, world)
    case = honours.at_city()
    client = pages("reviewer_city")
    page = text_of(client.get(f"/cases/{case.id}"))
    actions = post_forms(page)
    assert len(actions) >= 4, actions  # the actions, a record, urging or commenting
    for action in actions:
        assert "#" in action, action
        assert f'id="{action.partition("#")[2]}"' in page, action

    refused = client.submit(f"/cases/{case.id}/records/background_opinion", {"record-background_opinion-body": ""})
    assert refused.status_code == 422
    refused_page = text_of(refused)
    [record_action] = [a for a in post_forms(refused_page) if "/records/background_opinion" in a]
    anchor = record_action.partition("#")[2]
    target = refused_page[refused_page.index(f'id="{anchor}"'):]
    assert 'role="alert"' in target[:target.index("</form>")]  # the message is at the anchor


def test_the_objection_form_posts_back_to_its_messages(pages, session, world):
    on_notice = hardship_case_on_notice(session, world)
    page = text_of(pages().get(f"/notices/{on_notice.id}"))
    [action] = post_forms(page)
    assert action.endswith("#objection") and 'id="objection"' in page


# --- Confirmations ------------------------------------------------------------------------------------

def buttons_of(page: str) -> dict[str, str]:
    """The case page's action buttons: trigger -> the button's tag."""
    return {trigger: tag for tag, trigger in re.findall(r'(<button[^>]*name="trigger" value="([a-z_]+)"[^>]*>)', page)}


def test_actions_that_end_the_case_or_go_against_the_applicant_ask_first(pages, session, world):
    """Does 撤回 ask before it ends the case, as return and reject do; does approving not ask?"""
    honours = Honours(session, world, closes=utcnow() + timedelta(days=30))
    draft = honours.draft()
    mine = buttons_of(text_of(pages("applicant_A1a").get(f"/cases/{draft.id}")))
    assert 'data-confirm="' in mine["withdraw"] and "撤回推荐" in mine["withdraw"]
    waiting = honours.submitted()
    reviewer = buttons_of(text_of(pages("reviewer_A1").get(f"/cases/{waiting.id}")))
    assert 'data-confirm="' in reviewer["return"] and 'data-confirm="' in reviewer["reject"]
    assert "data-confirm" not in reviewer["approve"]


def test_removing_a_calendar_day_asks_first(pages, session, world):
    from engine.calendar.working_days import forget_cached_calendars
    from engine.operations.calendar_keeping import enter_calendar_days

    try:
        enter_calendar_days(session, None, [(date(2026, 10, 9), False, "本地停工")])
        page = text_of(pages("admin").get("/admin/calendar"))
        remove = re.search(r'<form method="post" action="/admin/calendar/[^"]*2026-10-09[^"]*">.*?</form>', page, re.S)
        assert remove and "data-confirm=" in remove.group(0)
    finally:
        forget_cached_calendars()


# --- All errors at once --------------------------------------------------------------------------------

def test_submitting_a_new_form_reports_formats_and_empty_required_fields_at_once(pages, session, world):
    client = pages("applicant_A1a")
    client.get("/cases/new/basic_nomination")
    response = client.submit("/cases/new/basic_nomination",
                             {"intent": "submit", "nominee_name": "张三", "birth_date": "去年"})
    assert response.status_code == 422
    page = text_of(response)
    for field in ("birth_date", "award_type"):  # a bad date and an empty required choice, together
        assert f'id="f-{field}-error"' in page, field


def test_resubmitting_a_draft_reports_formats_and_empty_required_fields_at_once(pages, session, world):
    case = nominate(session, world, form={"nominee_name": "张三"})
    client = pages("applicant_A1a")
    client.get(f"/cases/{case.id}/edit")
    response = client.submit(f"/cases/{case.id}/edit", {"intent": "submit", "version": case.version,
                                                         "nominee_name": "张三", "birth_date": "去年"})
    assert response.status_code == 422
    page = text_of(response)
    for field in ("birth_date", "award_type"):
        assert f'id="f-{field}-error"' in page, field


# --- One size, one way ----------------------------------------------------------------------------

def test_a_file_shows_one_size_on_the_case_page_and_in_its_form(pages, session, world):
    """An upload of 200 bytes: the same size text in the draft's file list and on the case page."""
    client = pages("applicant_A1a")
    client.get("/cases/new/basic_nomination")
    response = client.submit("/cases/new/basic_nomination", {
        "nominee_name": "张三", "attachments": (BytesIO(b"%PDF-1.4\n" + b"x" * 191), "证明.pdf")},
        content_type="multipart/form-data")
    assert response.status_code == 302, text_of(response)[:2000]
    case_id = int(re.search(r"/cases/(\d+)", response.headers["Location"]).group(1))
    edit = text_of(client.get(f"/cases/{case_id}/edit"))
    case_page = text_of(client.get(f"/cases/{case_id}"))
    assert "200 B" in edit and "200 B" in case_page
    assert "0.2 KB" not in case_page and "1 KB" not in edit


def test_file_sizes_read_the_same_at_every_scale():
    from engine.base.sizes import file_size

    assert [file_size(n) for n in (0, 200, 1024, 1536, 10 * 1024 * 1024, 1024 * 1024 + 1)] == \
        ["0 B", "200 B", "1 KB", "1.5 KB", "10 MB", "1 MB"]


# --- The site's icon ------------------------------------------------------------------------------------

def test_the_site_has_an_icon_where_browsers_ask_for_it_and_every_page_names_it(pages):
    client = pages()
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert icon.mimetype in ("image/x-icon", "image/vnd.microsoft.icon")
    page = text_of(client.get("/login"))
    link = re.search(r'<link rel="icon" href="([^"]+)"', page)
    assert link and client.get(link.group(1)).status_code == 200


def test_a_notice_period_the_calendar_cannot_end_says_why(pages, session, world):
    """A notice begun on 29 December 2026: its five working days reach into an uncovered 2027."""
    case = nominate(session, world)
    for person, trigger in (("applicant_A1a", "submit"), ("reviewer_A1", "approve"), ("reviewer_A", "approve"),
                            ("reviewer_city", "approve")):
        perform_action(session, world.actor(person), case, trigger, expected_version=case.version,
                       now=LATE_DECEMBER)
    session.flush()
    assert case.state == "public_notice"
    for path in ("/notices", f"/notices/{case.id}"):
        page = text_of(pages().get(path))
        assert UNCOVERED in page and "待定" not in page, path


def test_the_api_gives_a_notice_its_last_day_beside_its_end(pages, session, world):
    """The public API's notice: notice_last_day is the last day objections are taken (the pages' day)."""
    on_notice = hardship_case_on_notice(session, world)
    [entry] = [notice for notice in pages().get("/api/v1/public/notices").get_json()["notices"]
               if notice["case_id"] == on_notice.id]
    ends = datetime.fromisoformat(entry["notice_ends_at"])
    assert entry["notice_last_day"] == (ends - timedelta(microseconds=1)).date().isoformat()
    page = text_of(pages().get(f"/notices/{on_notice.id}"))
    assert entry["notice_last_day"] in page
