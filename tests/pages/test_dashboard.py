"""The dashboard page (统计) and the SVG charts it draws.

Page questions: does a reviewer see charts and tables of their own subtree only? Who is
refused? Do the filters narrow the figures and report bad input next to the field?
Chart questions: is the SVG well-formed and accessible, are bars proportional, and what
happens with zeros or no data?
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from engine.calendar.working_days import forget_cached_calendars
from engine.operations.transitions import create_draft, perform_action
from pages.charts import LABEL_WIDTH, PLOT_WIDTH, bar_chart, stacked_bar_chart
from tests.pages.conftest import text_of

SVG = "{http://www.w3.org/2000/svg}"
BEIJING = ZoneInfo("Asia/Shanghai")
FORM = {"award_type": "labour_medal", "nominee_name": "吴十", "employer": "示范公司", "ownership": "public",
        "merits_summary": "勇挑重担"}


# --- Charts ---------------------------------------------------------------------------------------

def parse(svg) -> ET.Element:
    return ET.fromstring(str(svg))


def bar_widths(root) -> list[float]:
    return [float(rect.get("width")) for rect in root.iter(f"{SVG}rect") if rect.get("height") == "18"]


def test_a_bar_chart_is_well_formed_accessible_svg_with_proportional_bars():
    root = parse(bar_chart("late", "逾期未办", "各单位逾期件数", [("A区总工会", 4), ("B区总工会", 1), ("C区", 2)]))
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.get("aria-labelledby") == "late-title late-desc"
    assert root.find(f"{SVG}title").get("id") == "late-title" and root.find(f"{SVG}title").text == "逾期未办"
    assert root.find(f"{SVG}desc").text == "各单位逾期件数：A区总工会 4；B区总工会 1；C区 2。"
    assert root.get("viewBox").startswith("0 0 340 ")  # about a phone's width; scales with its box
    widths = bar_widths(root)
    assert widths == [PLOT_WIDTH, PLOT_WIDTH / 4, PLOT_WIDTH / 2]
    assert {rect.get("x") for rect in root.iter(f"{SVG}rect")} == {str(LABEL_WIDTH)}
    texts = [text.text for text in root.iter(f"{SVG}text")]
    assert texts == ["A区总工会", "4", "B区总工会", "1", "C区", "2"]
    assert "<script" not in str(bar_chart("x", "t", "d", [("a", 1)])) and "href" not in str(root.attrib)


def test_chart_texts_are_escaped():
    svg = bar_chart('id"x', "<b>标题</b>", "说明 & 注释", [("<script>alert(1)</script>", 3)])
    root = parse(svg)  # still well-formed XML
    assert "<script>" not in str(svg) and "&lt;script&gt;" in str(svg)
    assert root.find(f"{SVG}title").text == "<b>标题</b>"
    assert root.find(f"{SVG}desc").text.startswith("说明 & 注释：")


def test_zero_values_draw_empty_bars_and_no_data_says_so():
    root = parse(bar_chart("zero", "逾期", "逾期件数", [("A", 0), ("B", 0)]))
    assert bar_widths(root) == [0, 0]
    assert [text.text for text in root.iter(f"{SVG}text")] == ["A", "0", "B", "0"]
    empty = parse(bar_chart("none", "用时", "中位数", [], empty_text="暂无数据"))
    assert [text.text for text in empty.iter(f"{SVG}text")] == ["暂无数据"]
    assert empty.find(f"{SVG}desc").text == "中位数：暂无数据。" and not list(empty.iter(f"{SVG}rect"))
    assert [t.text for t in parse(stacked_bar_chart("s", "在办", "件数", ["审核"], [])).iter(f"{SVG}text")] == ["暂无数据"]


def test_a_stacked_chart_has_proportional_segments_a_legend_and_its_figures_in_words():
    root = parse(stacked_bar_chart("stages", "在办案件", "各单位在办件数", ["镇审核", "县审核", "退回修改"],
                                   [("A1街道总工会", [2, 1, 1]), ("A2街道总工会", [0, 0, 0]), ("A3", [0, 2, 0])]))
    bars = root.findall(f"{SVG}g[@class='bar']")
    first = [(float(rect.get("x")), float(rect.get("width"))) for rect in bars[0].findall(f"{SVG}rect")]
    unit = PLOT_WIDTH / 4  # the largest total is 4
    assert first == [(LABEL_WIDTH, 2 * unit), (LABEL_WIDTH + 2 * unit, unit), (LABEL_WIDTH + 3 * unit, unit)]
    assert bars[1].findall(f"{SVG}rect") == []  # zero segments are not drawn
    assert [rect.get("data-series") for rect in bars[2].findall(f"{SVG}rect")] == ["1"]
    assert [text.text for text in bars[0].iter(f"{SVG}text")] == ["A1街道总工会", "4"]
    legend = [text.text for text in root.find(f"{SVG}g[@class='legend']").iter(f"{SVG}text")]
    assert legend == ["镇审核", "县审核", "退回修改"]
    assert root.find(f"{SVG}desc").text == ("各单位在办件数：A1街道总工会 合计 4（镇审核 2，县审核 1，退回修改 1）；"
                                            "A2街道总工会 合计 0；A3 合计 2（县审核 2）。")
    # Every legend item sits inside the drawing.
    height = float(root.get("viewBox").split()[3])
    assert all(float(rect.get("y")) + 12 <= height for rect in root.find(f"{SVG}g[@class='legend']").iter(f"{SVG}rect"))


def test_a_long_label_is_cut_to_fit_and_kept_whole_in_a_tooltip():
    long_name = "某某市某某区某某街道某某社区联合工会委员会"
    root = parse(bar_chart("long", "t", "d", [(long_name, 1), ("短名", 1.5)]))
    label = root.find(f"{SVG}g/{SVG}text")
    assert label.find(f"{SVG}title").text == long_name
    assert "".join(label.itertext()).endswith("…") and len("".join(label.itertext())) < len(long_name) * 2
    assert [t.text for t in root.iter(f"{SVG}text")][-1] == "1.5"


# --- The page -------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def fresh_calendar():
    forget_cached_calendars()
    yield
    forget_cached_calendars()


def at(year, month, day, hour=10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=BEIJING).astimezone(timezone.utc)


def seed(session, world, applicant, when, *steps):
    case = create_draft(session, world.actor(applicant), "basic_nomination", form=FORM, now=when)
    for person, trigger, moment in steps:
        perform_action(session, world.actor(person), case, trigger, expected_version=case.version, now=moment,
                       comment="请补充材料" if trigger == "return" else None)
    session.flush()
    return case


@pytest.fixture
def cases(session, world):
    """County A: one case late in township review (3 working days spent there by another), one
    returned; county B: one case in county review, long overdue."""
    seed(session, world, "applicant_A1a", at(2026, 3, 2), ("applicant_A1a", "submit", at(2026, 3, 2)))
    seed(session, world, "applicant_A1b", at(2026, 2, 13), ("applicant_A1b", "submit", at(2026, 2, 13)),
         ("reviewer_A1", "return", at(2026, 2, 25)))
    seed(session, world, "applicant_B1a", at(2026, 3, 2), ("applicant_B1a", "submit", at(2026, 3, 2)),
         ("reviewer_B1", "approve", at(2026, 3, 4)))


def svgs(page: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in re.findall(r"<svg .*?</svg>", page, re.S)]


def table(page: str, table_id: str) -> list[list[str]]:
    """The rows of a table as lists of cell texts (tags stripped)."""
    body = re.search(rf'<table[^>]*id="{re.escape(table_id)}".*?</table>', page, re.S).group(0)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in rows]


def test_the_city_reviewer_sees_charts_and_tables_of_the_whole_city(pages, cases):
    response = pages("reviewer_city").get("/dashboard")
    page = text_of(response)
    assert response.status_code == 200 and "统计范围：示范市总工会及其下级单位" in page
    charts = svgs(page)
    assert [chart.find(f"{SVG}title").text for chart in charts] == [
        "逾期未办（按办理单位）", "基础推荐流程（测试用）：在办案件（按环节与单位）",
        "基础推荐流程（测试用）：各环节办理用时中位数（工作日）",
    ]
    assert all(chart.get("role") == "img" for chart in charts)
    assert table(page, "overdue-table")[1:] == [["A区总工会", "1", "1"], ["B区总工会", "1", "1"],
                                                ["示范市总工会（本级）", "0", "0"]]
    assert table(page, "stages-basic_nomination-table") == [
        ["单位", "退回修改", "镇（街道）总工会审核", "县（区）总工会审核", "合计"],
        ["A区总工会", "1", "1", "0", "2"],
        ["B区总工会", "0", "0", "1", "1"],
        ["合计", "1", "1", "1", "3"],
    ]
    durations = table(page, "durations-basic_nomination-table")
    # Township review: 3 working days over the Spring Festival (A), 2 in March (B): median 2.5.
    assert durations[1] == ["镇（街道）总工会审核", "2.5", "2", "0"]
    assert durations[2] == ["县（区）总工会审核", "—", "0", "0"]
    assert 'href="/dashboard"' in page  # the nav link ("统计") is there for this role


def test_a_county_reviewer_never_sees_the_other_county(pages, world, cases):
    page = text_of(pages("reviewer_A").get("/dashboard"))
    assert "统计范围：A区总工会及其下级单位" in page
    assert "B区" not in page and "B1" not in page
    assert [row[0] for row in table(page, "overdue-table")[1:]] == ["A1街道总工会", "A2街道总工会", "A区总工会（本级）"]
    assert table(page, "stages-basic_nomination-table")[1:] == [
        ["A1街道总工会", "1", "1", "2"], ["A2街道总工会", "0", "0", "0"], ["合计", "1", "1", "2"],
    ]
    assert table(page, "durations-basic_nomination-table")[1] == ["镇（街道）总工会审核", "3", "1", "0"]


def test_the_figures_follow_the_grant_chosen_in_the_header(pages, world, cases):
    client = pages("reviewer_A1_and_A")
    assert "统计范围：A区总工会" in text_of(client.get("/dashboard"))
    client.submit("/switch-role", {"grant": f"reviewer:{world.unit('A1').id}"})
    page = text_of(client.get("/dashboard"))
    assert "统计范围：A1街道总工会" in page
    assert [row[0] for row in table(page, "stages-basic_nomination-table")[1:]] == ["A1a公司工会", "A1b公司工会", "合计"]


@pytest.mark.parametrize("username", ["auditor_city", "auditor_A", "admin"])
def test_auditors_and_admins_see_the_dashboard(pages, cases, username):
    response = pages(username).get("/dashboard")
    assert response.status_code == 200 and "在办案件（按环节与单位）" in text_of(response)


def test_an_applicant_is_refused_and_a_visitor_is_sent_to_sign_in(pages, cases):
    refused = pages("applicant_A1a").get("/dashboard")
    assert refused.status_code == 403 and "此页面需要以审核人、管理员、审计人员身份使用" in text_of(refused)
    anonymous = pages().get("/dashboard?kind=honours")
    assert anonymous.status_code == 302 and anonymous.location.startswith("/login?next=/dashboard")


def test_the_kind_filter_shows_that_kind_only(pages, cases):
    client = pages("reviewer_city")
    page = text_of(client.get("/dashboard?kind=honours"))
    assert '<option value="honours" selected>' in page
    assert "基础推荐流程（测试用）</h2>" not in page and "五一劳动荣誉推荐</h2>" in page
    assert "暂无在办案件" in page
    assert table(page, "overdue-table")[1:] == [["A区总工会", "0", "0"], ["B区总工会", "0", "0"],
                                                ["示范市总工会（本级）", "0", "0"]]
    page = text_of(client.get("/dashboard?kind=basic_nomination&created_from=2026-03-01&created_to=2026-03-31"))
    assert table(page, "stages-basic_nomination-table")[-1] == ["合计", "1", "1", "2"]
    assert 'value="2026-03-01"' in page and 'value="2026-03-31"' in page


@pytest.mark.parametrize("query, field, message", [
    ("created_from=昨天", "created_from", "请按 年-月-日 填写日期，例如 2026-05-01"),
    ("created_from=2026-03-02&created_to=2026-03-01", "created_to", "结束日期不能早于开始日期"),
    ("kind=no_such_kind", "kind", "未知的业务类型「no_such_kind」"),
])
def test_bad_filters_are_reported_next_to_the_field_with_the_values_kept(pages, cases, query, field, message):
    response = pages("reviewer_city").get(f"/dashboard?{query}")
    page = text_of(response)
    assert response.status_code == 422
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in page
    assert f'aria-describedby="{field}-error"' in page
    assert "<svg" not in page  # no figures under a filter that was not understood
    if field == "created_from":
        assert 'value="昨天"' in page
