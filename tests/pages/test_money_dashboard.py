"""The dashboard's money and quota figures: does a county reviewer read the amounts granted per
unit and period and each round's places, and does each figure (table and chart) lead to its cases?"""
from __future__ import annotations

import re
from html import unescape

from tests.pages.conftest import text_of
from tests.test_honours import Honours
from tests.test_medical_subsidy import (  # noqa: F401 - the fixtures
    OTHER_ID_NUMBER, _act, draft, schemes, store, submitted,
)


def _links(page: str, table_id: str) -> list[tuple[str, str]]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.DOTALL).group(0)
    return [(unescape(href), text) for href, text in re.findall(r'<a href="([^"]+)">([^<]+)</a>', table)]


def test_money_totals_lead_to_the_cases_granted(pages, session, world, submitted):
    first = submitted(self_paid_in_catalogue="4200.00")  # 1,600
    second = submitted(self_paid_in_catalogue="2000.00", id_number=OTHER_ID_NUMBER)  # 500
    for case in (first, second):
        _act(session, world, case, "reviewer_A", "approve")
    session.flush()
    client = pages("reviewer_A")
    page = text_of(client.get("/dashboard"))
    a1 = world.unit("A1").id
    [(href, text)] = _links(page, "money-medical_subsidy-table")
    assert text == "2,100.00 元" and "2 件" in page
    assert href == f"/dashboard/cases?unit={a1}&kind=medical_subsidy&period=2026"
    # The chart's bar leads to the same list.
    chart = re.search(r'<svg[^>]*aria-labelledby="money-medical_subsidy-title.*?</svg>', page, re.DOTALL).group(0)
    assert f'<a href="/dashboard/cases?unit={a1}&amp;kind=medical_subsidy&amp;period=2026">' in chart
    listing = text_of(client.get(href))
    assert "A1街道总工会 的核定金额（2026 周期），共 2 件" in listing
    # Filtered by kind, the link keeps the filter (one kind argument).
    [(filtered, _text)] = _links(text_of(client.get("/dashboard?kind=medical_subsidy")), "money-medical_subsidy-table")
    assert filtered == f"/dashboard/cases?kind=medical_subsidy&unit={a1}&period=2026"
    for case, amount in ((first, "1,600.00 元"), (second, "500.00 元")):
        assert re.search(rf'href="/cases/{case.id}">王芳</a>.*?{amount}', listing, re.DOTALL), case.id


def test_quota_use_leads_to_the_nominations_forwarded(pages, session, world):
    honours = Honours(session, world, places=3)
    forwarded = [honours.at_city(), honours.at_city()]
    session.flush()
    client = pages("reviewer_A")
    page = text_of(client.get("/dashboard"))
    assert "名额使用（按评选批次）" in page and "2026年度五一劳动奖评选" in page
    a1 = world.unit("A1").id
    href = f"/dashboard/cases?unit={a1}&round={honours.round.id}&category=labour_medal"
    # The places used, A1's and A's own (the county forwards them on), each a link.
    assert (href, "2") in _links(page, f"quota-{honours.round.id}-table")
    listing = text_of(client.get(href))
    assert "共 2 件" in listing
    for case in forwarded:
        assert f'href="/cases/{case.id}"' in listing


def test_a_figure_of_a_unit_outside_the_scope_is_not_found_and_a_bad_link_is_said(pages, world):
    client = pages("reviewer_A")
    assert client.get(f"/dashboard/cases?unit={world.unit('B1').id}&kind=medical_subsidy").status_code == 404
    refused = client.get("/dashboard/cases?unit=abc")
    assert refused.status_code == 422 and "应为编号（正整数）" in text_of(refused)
    assert client.get("/dashboard/cases?unit=1&kind=nope").status_code == 422
    assert pages("applicant_A1a").get(f"/dashboard/cases?unit={world.unit('A1').id}").status_code in (302, 403)
