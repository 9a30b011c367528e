"""The pages in a real browser: the paths people take through them, end to end.

Each scenario starts its own cases (nominees named after the test), so the scenarios
share the served database without depending on each other. Labels and button texts are
the definitions' own (workflows/honours.yaml) or the pages' Chinese texts.
"""
from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.base.db import utcnow
from engine.cases.case import Case
from engine.operations.transitions import perform_action
from tests.browser.conftest import id_number

ROUND_TITLE = "浏览器测试评选"
# workflows/honours.yaml: the forwarding buttons of each level, and the jury's tally.
TOWNSHIP_APPROVE = "审核通过，报县（区）总工会"
COUNTY_APPROVE = "审核通过，报市总工会"
CITY_APPROVE = "初审通过，提交评审委员会"
PASS_JURY = "计票：评审通过，进入公示"
RETURN = "退回修改"
RESUBMIT = "修改后重新提交"


def labelled(page, label: str):
    """The input of a generated form field by its label (a required one ends in （必填）)."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}(（必填）)?$"))


def case_id_of(page) -> int:
    found = re.search(r"/cases/(\d+)", page.url)
    assert found, page.url
    return int(found.group(1))


def follow(page, target, *, confirm: str | None = None) -> None:
    """Click a link or a submit button and wait for the page it leads to. ``confirm``: the
    button asks first (data-confirm, app.js); the question must say this, and is accepted."""
    asked = []
    if confirm is not None:
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    with page.expect_navigation():
        target.click()
    if confirm is not None:
        assert asked and confirm in asked[0], asked


def open_from_inbox(page, title: str) -> None:
    page.goto("/inbox")
    follow(page, page.get_by_role("link", name=title, exact=True))


def act(page, button: str, comment: str | None = None) -> None:
    """Press one of the decision panel's buttons, with the opinion if given (a send-back is under
    「退回到之前的环节…」)."""
    panel = page.locator("#decision-form")
    if comment is not None:
        panel.get_by_label("办理意见", exact=True).fill(comment)
    pressed = panel.get_by_role("button", name=button, exact=True)
    if not pressed.is_visible():
        panel.locator("details.send-backs > summary").click()
    follow(page, pressed, confirm=pressed.get_attribute("data-confirm"))


def more(page, tool: str) -> None:
    """Open one of the panel's 「更多」 tools: 转交给同事, 加签：征求意见, 抄送给…"""
    page.get_by_text("更多：转交、加签、抄送").click()
    page.get_by_text(tool, exact=True).click()


def assert_flash(page, text: str) -> None:
    assert page.locator(".flash.success").filter(has_text=text).count() == 1, page.content()[:3000]


def test_honours_nomination_through_three_levels_to_notice_and_audit_trail(browse, live_db):
    """An applicant submits, three levels forward, the jury passes it: the notice shows it
    masked and the auditor finds its trail."""
    nominee, id_no = "浏览器甲", id_number(1)

    # The applicant, on a phone, starts a nomination into the open round and submits it.
    applicant = browse.signed_in("applicant_A1a", "phone")
    applicant.goto("/cases/new")
    browse.shot(applicant, "new-case")
    follow(applicant, applicant.get_by_role("link", name=ROUND_TITLE))
    labelled(applicant, "推荐荣誉").select_option(label="五一劳动奖章")
    labelled(applicant, "姓名（集体名称）").fill(nominee)
    labelled(applicant, "性别").select_option(label="男")
    labelled(applicant, "身份证号码").fill(id_no)
    labelled(applicant, "工作单位").fill("A1a公司")
    labelled(applicant, "岗位（工种）").fill("数控车工")
    labelled(applicant, "单位所有制").select_option(label="公有制")
    labelled(applicant, "主要事迹摘要").fill("扎根一线二十年，带出徒弟三十余名。")
    browse.shot(applicant, "form-filled")
    follow(applicant, applicant.get_by_role("button", name="提交推荐"))
    assert_flash(applicant, "已提交")
    case_id = case_id_of(applicant)
    assert applicant.get_by_role("heading", level=1).inner_text() == nominee
    browse.shot(applicant, "submitted")
    assert live_db.case(case_id).state == "township_review"

    # Township (on a phone), county and city reviewers find it in their inboxes and forward it.
    for username, button, viewport, next_state in (
            ("reviewer_A1", TOWNSHIP_APPROVE, "phone", "county_review"),
            ("reviewer_A", COUNTY_APPROVE, "desktop", "city_review")):
        reviewer = browse.signed_in(username, viewport)
        open_from_inbox(reviewer, nominee)
        browse.shot(reviewer, f"{username}-case")
        act(reviewer, button)
        assert_flash(reviewer, button)
        assert live_db.case(case_id).state == next_state

    # The city has the discipline body's opinion (a record: not this page's point), then sends
    # the nomination to the jury; the jurors vote, the city reviewer on the jury page.
    live_db.add_background_opinion(case_id)
    city = browse.signed_in("reviewer_city", "desktop")
    open_from_inbox(city, nominee)
    act(city, CITY_APPROVE)
    assert_flash(city, CITY_APPROVE)
    assert live_db.case(case_id).state == "jury_vote"
    live_db.jury_votes(case_id, jurors=("reviewer_A", "reviewer_B"))
    city.goto("/jury")
    duty = city.locator(f"#duty-{case_id}")
    duty.get_by_label("同意", exact=True).check()
    follow(city, duty.get_by_role("button", name="投票"))
    assert "您已投票" in city.locator(f"#duty-{case_id}").inner_text()
    open_from_inbox(city, nominee)
    browse.shot(city, "jury-tally")
    act(city, PASS_JURY)
    assert live_db.case(case_id).state == "public_notice"

    # Anyone, without signing in, sees the notice: the permitted fields, never the ID number.
    for viewport in ("phone", "desktop"):
        visitor = browse.anonymous(viewport)
        visitor.goto("/notices")
        row = visitor.get_by_role("row").filter(has_text=nominee)
        assert "数控车工" in row.inner_text() and "A1a公司" in row.inner_text()
        # Not the ID number, nor its middle (birth date) that a masked one hides.
        assert id_no not in visitor.content() and id_no[6:14] not in visitor.content()
        browse.shot(visitor, f"notices-{viewport}")
        follow(visitor, row.get_by_role("link", name=re.compile("^查看")))
        assert nominee in visitor.content() and id_no[6:14] not in visitor.content()
        browse.shot(visitor, f"notice-{viewport}")

    # The auditor finds the case among the audit events and reads its whole trail.
    auditor = browse.signed_in("auditor_city", "desktop")
    auditor.goto("/audit")
    browse.shot(auditor, "audit-search")
    follow(auditor, auditor.get_by_role("link", name=f"#{case_id}", exact=True).first)
    assert auditor.url.endswith(f"/audit/cases/{case_id}")
    trail = auditor.locator("main").inner_text()
    for step in ("提交推荐", TOWNSHIP_APPROVE, COUNTY_APPROVE, CITY_APPROVE, PASS_JURY):
        assert step in trail, step
    for who in ("applicant_A1a", "reviewer_A1", "reviewer_A", "reviewer_city"):  # the world's display names
        assert re.search(rf"{who}\b", trail), who
    browse.shot(auditor, "audit-trail")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_batch_approval_from_the_inbox(browse, live_db, viewport):
    """A township reviewer ticks three cases, approves them at once and sees each one's result."""
    nominees = [f"批量{viewport}{i}" for i in range(3)]
    case_ids = [live_db.submitted_nomination(nominee) for nominee in nominees]
    untouched = live_db.submitted_nomination(f"批量{viewport}未选")

    reviewer = browse.signed_in("reviewer_A1", viewport)
    reviewer.goto("/inbox")
    for nominee in nominees:
        reviewer.get_by_label(f"选择「{nominee}」").check()
    reviewer.get_by_label("操作", exact=True).select_option("approve")
    reviewer.get_by_label("意见", exact=True).fill("材料齐全，同意推荐")
    browse.shot(reviewer, "selected")
    follow(reviewer, reviewer.get_by_role("button", name="检查并批量办理"))
    follow(reviewer, reviewer.get_by_role("button", name="确认办理这 3 件"))  # the check page: all three pass

    assert "已办理 3 件，未办理 0 件" in reviewer.get_by_role("status").inner_text()
    for case_id, nominee in zip(case_ids, nominees):
        result = reviewer.locator(f"#result-{case_id}")
        assert nominee in result.inner_text() and "县（区）总工会审核" in result.inner_text()
        assert live_db.case(case_id).state == "county_review"
    assert live_db.case(untouched).state == "township_review"
    browse.shot(reviewer, "results")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_returned_nomination_corrected_and_resubmitted(browse, live_db, viewport):
    """A returned nomination shows the reason above the form; corrected and resubmitted, it is
    back in the reviewer's inbox."""
    nominee = f"退回{viewport}"
    case_id = live_db.submitted_nomination(nominee)
    reason = "请补充近三年的主要业绩数据"

    reviewer = browse.signed_in("reviewer_A1", viewport)
    open_from_inbox(reviewer, nominee)
    act(reviewer, RETURN, comment=reason)
    assert live_db.case(case_id).state == "returned"
    assert reviewer.get_by_role("link", name=nominee, exact=True).count() == 0  # no longer waiting here

    applicant = browse.signed_in("applicant_A1a", viewport)
    applicant.goto("/my/cases")
    follow(applicant, applicant.get_by_role("link", name=nominee).first)
    if "/edit" not in applicant.url:
        follow(applicant, applicant.get_by_role("link", name="修改表单"))
    returned = applicant.locator(".returned")
    assert reason in returned.inner_text()
    # The reason comes first: above the form.
    assert returned.bounding_box()["y"] < labelled(applicant, "主要事迹摘要").bounding_box()["y"]
    browse.shot(applicant, "returned")
    labelled(applicant, "主要事迹摘要").fill("近三年完成技术革新五项，节约成本二百万元。")
    follow(applicant, applicant.get_by_role("button", name=RESUBMIT))
    assert_flash(applicant, "已提交")
    case = live_db.case(case_id)
    assert case.state == "township_review" and case.form_data["merits_summary"].startswith("近三年完成技术革新五项")

    open_from_inbox(reviewer, nominee)
    assert "近三年完成技术革新五项" in reviewer.locator("main").inner_text()
    assert reviewer.get_by_role("button", name=TOWNSHIP_APPROVE).is_visible()
    browse.shot(reviewer, "back-in-inbox")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_a_reviewer_claims_a_case_and_a_colleague_sees_who_holds_it(browse, live_db, viewport):
    """认领 on the case page puts the case in 「我的待办」; a colleague of the unit sees 「由某某办理」
    in the inbox, takes it over, and transfers it back with a reason."""
    nominee = f"认领{viewport}"
    case_id = live_db.submitted_nomination(nominee)
    reviewer = browse.signed_in("reviewer_A1", viewport)
    open_from_inbox(reviewer, nominee)
    follow(reviewer, reviewer.get_by_role("button", name="认领", exact=True))
    assert_flash(reviewer, "已认领")
    assert reviewer.get_by_role("button", name="释放", exact=True).count() == 1
    browse.shot(reviewer, "claimed")
    reviewer.goto("/inbox?mine=1")
    assert reviewer.locator(f"#case-{case_id}").filter(has_text="我的待办").count() == 1
    browse.shot(reviewer, "mine")

    colleague = browse.signed_in("reviewer_A1_and_A", viewport)
    with colleague.expect_navigation():
        colleague.get_by_label("当前身份").select_option(label="A1街道总工会 · 审核人")
    colleague.goto("/inbox")
    with live_db.session() as session:
        holder = live_db.actor(session, "reviewer_A1").name
    assert colleague.locator(f"#case-{case_id}").filter(has_text=f"由{holder}办理").count() == 1
    browse.shot(colleague, "held-by")
    open_from_inbox(colleague, nominee)
    follow(colleague, colleague.get_by_role("button", name="接手", exact=True))
    assert_flash(colleague, "已接手")
    browse.shot(colleague, "taken-over")
    # Handed back to the first reviewer, with the reason.
    more(colleague, "转交给同事")
    colleague.get_by_label("转交给").select_option(label=holder)
    colleague.get_by_label("转交理由").fill("明天起休假，请接着审核")
    browse.shot(colleague, "transfer-form")
    follow(colleague, colleague.get_by_role("button", name="转交", exact=True))
    assert_flash(colleague, "已转交")
    assert live_db.holder_of(case_id) == live_db.user_ids["reviewer_A1"]
    # Approved by the one it was handed back to: in his 「我已办」, with where the case is now.
    reviewer.goto(f"/cases/{case_id}")
    act(reviewer, TOWNSHIP_APPROVE)
    reviewer.goto("/inbox/done")
    assert reviewer.locator("table").filter(has_text=nominee).filter(has_text="县（区）总工会审核").count() == 1
    browse.shot(reviewer, "done")


def test_header_switcher_changes_whose_inbox_one_reads(browse, live_db):
    """A person who reviews for a township and its county switches hats in the header."""
    nominee = "切换身份"
    live_db.submitted_nomination(nominee)  # waits for township A1
    person = browse.signed_in("reviewer_A1_and_A", "phone")
    for unit, sees_it in (("A1街道总工会", True), ("A区总工会", False), ("A1街道总工会", True)):
        with person.expect_navigation():
            person.get_by_label("当前身份").select_option(label=f"{unit} · 审核人")  # submits on change
        assert person.locator(".flash").filter(has_text=f"已切换为：{unit} · 审核人").count() == 1
        person.goto("/inbox")
        assert unit in person.locator("main").inner_text()
        assert (person.get_by_role("link", name=nominee, exact=True).count() == 1) is sees_it, unit
    browse.shot(person, "switched")


# --- Objections, jurors from other districts, the notice during an objection ----------------------

OBJECTION_TEXT = "被推荐人去年曾因违规操作受到处分，请核实。"
OBJECTOR, OBJECTOR_PHONE = "李群众", "13800138000"


def nomination_before_the_jury(live_db, nominee: str) -> int:
    """A nomination of unit A1a forwarded by the township, the county and the city (engine
    operations: the forwarding pages are another scenario's point); it waits for the jury."""
    case_id = live_db.submitted_nomination(nominee)
    for username in ("reviewer_A1", "reviewer_A", "reviewer_city"):
        if username == "reviewer_city":
            live_db.add_background_opinion(case_id)
        with live_db.session() as session:
            case = session.get(Case, case_id)
            perform_action(session, live_db.actor(session, username), case, "approve", expected_version=case.version)
    return case_id


def nomination_on_notice(live_db, nominee: str) -> int:
    case_id = nomination_before_the_jury(live_db, nominee)
    live_db.jury_votes(case_id)
    with live_db.session() as session:
        case = session.get(Case, case_id)
        perform_action(session, live_db.actor(session, "reviewer_city"), case, "pass_jury",
                       expected_version=case.version)
    return case_id


def lodge_through_the_notice_page(page, case_id: int) -> None:
    """A member of the public objects on the notice's page, in their own name."""
    page.goto(f"/notices/{case_id}")
    page.get_by_label("姓名（以单位名义提出时填联系人）").fill(OBJECTOR)
    page.get_by_label("联系电话").fill(OBJECTOR_PHONE)
    page.get_by_label("异议内容").fill(OBJECTION_TEXT)
    follow(page, page.get_by_role("button", name="提交异议"))
    assert page.get_by_role("heading", name="异议已受理").count() == 1


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_the_nominating_unit_reads_the_objection_and_answers_it(browse, live_db, viewport):
    """The public objects during the notice; the nominating unit reads what the objection says
    and when, never who lodged it, and answers it from the same page."""
    nominee = f"异议{viewport}"
    case_id = nomination_on_notice(live_db, nominee)
    lodge_through_the_notice_page(browse.anonymous(viewport), case_id)
    assert live_db.case(case_id).state == "under_investigation"

    applicant = browse.signed_in("applicant_A1a", viewport)
    applicant.goto(f"/cases/{case_id}")
    pointer = applicant.get_by_role("link", name=re.compile("^待调查答复的异议 1 件"))
    follow_anchor = pointer.get_attribute("href")
    assert follow_anchor == "#objections"
    objections = applicant.locator("#objections")
    text = objections.inner_text()
    assert OBJECTION_TEXT in text and "提出于" in text and "依规定不向被异议单位公开" in text
    page_text = applicant.locator("main").inner_text()
    assert OBJECTOR not in page_text and OBJECTOR_PHONE[-4:] not in page_text
    objections.scroll_into_view_if_needed()
    browse.shot(applicant, f"objection-{viewport}")

    labelled(applicant, "调查核实情况及答复意见").fill("经核实，该处分已于前年依规撤销，不影响推荐。")
    act(applicant, "提交异议调查答复")
    assert live_db.case(case_id).state == "objection_answered"
    assert "经核实，该处分已于前年依规撤销" in applicant.locator("#objections").inner_text()
    browse.shot(applicant, f"answered-{viewport}")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_a_juror_from_another_district_opens_the_case_from_the_jury_list(browse, live_db, viewport):
    """reviewer_B (county B) sits on the city's jury and cannot open county A's cases as a
    reviewer: the list links the nomination to the juror's read-only view, where he votes."""
    nominee = f"评委{viewport}"
    case_id = nomination_before_the_jury(live_db, nominee)
    juror = browse.signed_in("reviewer_B", viewport)
    juror.goto("/jury")
    browse.shot(juror, f"jury-list-{viewport}")
    follow(juror, juror.locator(f"#duty-{case_id}").get_by_role("link", name=nominee, exact=True))
    assert juror.url.endswith(f"/jury/cases/{case_id}")
    main = juror.locator("main").inner_text()
    assert nominee in main and "扎根一线多年" in main and "纪检监察机关" in main
    id_no = live_db.case(case_id).form_data["id_number"]
    assert id_no not in juror.content() and id_no[6:14] not in juror.content()
    browse.shot(juror, f"jury-case-{viewport}")
    juror.get_by_label("同意", exact=True).check()
    follow(juror, juror.get_by_role("button", name="投票"))
    assert juror.url.endswith("/jury") and "您已投票" in juror.locator(f"#duty-{case_id}").inner_text()


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_the_public_list_during_an_objection(browse, live_db, viewport):
    """An objection does not take the notice down: the list still shows it, marked
    「异议核查中」, and its page says further objections wait for the investigation."""
    nominee = f"核查{viewport}"
    case_id = nomination_on_notice(live_db, nominee)
    visitor = browse.anonymous(viewport)
    lodge_through_the_notice_page(visitor, case_id)
    visitor.goto("/notices")
    row = visitor.get_by_role("row").filter(has_text=nominee)
    assert "异议核查中" in row.inner_text()
    browse.shot(visitor, f"notices-{viewport}")
    follow(visitor, row.get_by_role("link", name=re.compile("^查看")))
    assert visitor.url.endswith(f"/notices/{case_id}")
    main = visitor.locator("main").inner_text()
    assert nominee in main and "异议核查中" in main and "暂不受理新的异议" in main and "公示期已结束" not in main
    assert visitor.get_by_role("button", name="提交异议").count() == 0
    browse.shot(visitor, f"notice-{viewport}")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_a_reviewer_asks_an_opinion_the_county_answers_and_a_deputy_is_named(browse, live_db, viewport):
    """加签 from the case page: the decision waits, naming who has not answered; the county reviewer
    finds it under 「征求我意见的」, answers; the township reviewer is told and decides. Then he names a
    deputy for his leave on 委托代理."""
    nominee = f"加签{viewport}"
    case_id = live_db.submitted_nomination(nominee)
    reviewer = browse.signed_in("reviewer_A1", viewport)
    open_from_inbox(reviewer, nominee)
    more(reviewer, "加签：征求意见")
    reviewer.locator(f"input[name=user_id][value='{live_db.user_ids['reviewer_A']}']").check()
    reviewer.get_by_label("请对方就什么发表意见").fill("请核实候选人的技术革新成果")
    browse.shot(reviewer, "ask-form")
    follow(reviewer, reviewer.get_by_role("button", name="征求意见", exact=True))
    assert_flash(reviewer, "已征求意见")
    assert reviewer.locator(".notice").filter(has_text="正在征求意见，尚未答复").count() == 1
    browse.shot(reviewer, "waiting-for-opinion")

    county = browse.signed_in("reviewer_A", viewport)
    county.goto("/inbox")
    assert county.locator("section").filter(has_text="征求我意见的").filter(has_text=nominee).count() == 1
    browse.shot(county, "asked-of-me")
    follow(county, county.get_by_role("link", name=nominee, exact=True))
    county.get_by_label("我的意见").fill("成果属实，已在区劳动竞赛中认定")
    browse.shot(county, "opinion-form")
    follow(county, county.get_by_role("button", name="提交意见", exact=True))
    assert_flash(county, "意见已答复")

    reviewer.goto("/notifications")
    assert reviewer.get_by_text("【意见已答复】").count() >= 1
    browse.shot(reviewer, "told")
    reviewer.goto(f"/cases/{case_id}")
    assert reviewer.get_by_text("成果属实，已在区劳动竞赛中认定").count() == 1
    act(reviewer, TOWNSHIP_APPROVE)

    reviewer.goto("/delegations")
    reviewer.get_by_label("代理人").select_option(label="reviewer_A1_and_A")
    # The walk at each width sets its own leave (one database): today's, then one three weeks on.
    starts = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=0 if viewport == "phone" else 21)
    reviewer.get_by_label("开始日期").fill(starts.isoformat())
    reviewer.get_by_label("结束日期（含当天）").fill((starts + timedelta(days=5)).isoformat())
    reviewer.get_by_label("事由（选填）").fill(f"参加市总工会培训（{viewport}）")
    follow(reviewer, reviewer.get_by_role("button", name="设置委托", exact=True))
    assert_flash(reviewer, "委托已设置")
    assert reviewer.get_by_role("row").filter(has_text=f"参加市总工会培训（{viewport}）").count() == 1
    browse.shot(reviewer, "delegation")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_the_city_sends_a_case_back_to_the_township_which_copies_it_and_returns_it_straight_up(
        browse, live_db, viewport):
    """退回重审 from city review to the township with the reason; the township reviewer is told, copies
    the case to the county reviewer (抄送), who finds it in 「抄送我的」; approving again takes the case
    straight back to the city."""
    nominee = f"退回重审{viewport}"
    case_id = live_db.nomination_at_city(nominee)
    city = browse.signed_in("reviewer_city", viewport)
    city.goto(f"/cases/{case_id}")
    act(city, "退回镇（街道）总工会重新审核", comment="推荐材料中的革新成果需要镇街核实")
    browse.shot(city, "sent-back")

    township = browse.signed_in("reviewer_A1", viewport)
    township.goto("/notifications")
    assert township.get_by_text(f"【退回重审】{nominee}").count() >= 1
    browse.shot(township, "told")
    township.goto(f"/cases/{case_id}")
    more(township, "抄送给…")
    township.get_by_label("抄送对象（可多选）").select_option(value=str(live_db.user_ids["reviewer_A"]))
    browse.shot(township, "copy-form")
    follow(township, township.locator("#more-copy").get_by_role("button"))
    assert_flash(township, "已抄送")
    county = browse.signed_in("reviewer_A", viewport)
    county.goto("/copies")
    assert county.get_by_text(nominee).count() >= 1
    browse.shot(county, "copies")

    township.goto(f"/cases/{case_id}")
    act(township, "重新审核通过，直接报回市总工会")
    assert live_db.case(case_id).state == "city_review"
    browse.shot(township, "straight-back")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_the_city_records_the_consulted_bodys_reply_before_passing_the_case_to_the_jury(browse, live_db, viewport):
    """征求意见 as a task: at city review the case page lists the body the round consults, the approval
    waits naming it, and once its reply is recorded the city passes the case on."""
    nominee = f"征求意见{viewport}"
    case_id = live_db.nomination_at_city(nominee)
    city = browse.signed_in("reviewer_city", viewport)
    city.goto(f"/cases/{case_id}")
    assert city.locator("#opinions li").filter(has_text="纪检监察机关").filter(has_text="尚未回复").count() == 1
    # The route: the step the case is at with its last day, and the steps ahead with their parties.
    current = city.locator("ol.route li.current").inner_text()
    assert "当前：市总工会初审及征求意见" in current and "最迟办理日" in current
    ahead = city.locator("ol.route li.ahead").all_inner_texts()
    assert [step.split("\n")[0] for step in ahead] == ["评审委员会表决", "公示", "待审批授予", "已批准授予"]
    assert "5 个工作日内办理" in ahead[0]
    browse.shot(city, "bodies-awaited")
    # The approval is offered as not possible yet, with the reason (the round's rule names the body).
    assert city.get_by_role("button", name=CITY_APPROVE, exact=True).count() == 0
    assert city.locator("#actions").filter(has_text="尚未收到纪检监察机关的意见").count() == 1

    record_form = city.locator("#record-form-background_opinion")
    city.get_by_role("link", name="录入部门回复").click()  # unfolds the record form it points to
    record_form.get_by_label(re.compile("^征求意见部门")).select_option(label="纪检监察机关")
    record_form.get_by_label(re.compile("^意见")).select_option(label="无异议")
    record_form.get_by_label(re.compile("^经办人")).fill("刘明")
    record_form.get_by_label(re.compile("^复函日期")).fill(utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat())
    browse.shot(city, "reply-form")
    follow(city, record_form.get_by_role("button", name="登记"))
    assert city.locator("#opinions li").filter(has_text="纪检监察机关").count() == 0
    act(city, CITY_APPROVE)
    assert live_db.case(case_id).state == "jury_vote"
    browse.shot(city, "passed-to-jury")
