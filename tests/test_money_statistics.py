"""The dashboard's money and quota figures (engine.reading.statistics): are the amounts granted
summed per kind, unit and period of the cap, without what a cancelled approval gave back; the
places of each round given and used per unit and category; and does each figure lead to its cases?"""
from __future__ import annotations

from decimal import Decimal

import pytest

from engine.base.errors import NotFound
from engine.reading.statistics import Behind, StatisticsFilter, cases_behind, money_granted, quota_use
from tests.test_honours import Honours
from tests.test_medical_subsidy import (  # noqa: F401 - the fixtures
    OTHER_ID_NUMBER, _act, draft, schemes, store, submitted,
)

ALL = StatisticsFilter()


def _granted(session, world, submitted, **form):
    case = submitted(**form)
    _act(session, world, case, "reviewer_A", "approve")
    return case


def test_money_is_summed_per_kind_unit_and_period_without_cancelled_grants(session, world, submitted):
    first = _granted(session, world, submitted, self_paid_in_catalogue="4200.00")  # 1,600
    second = _granted(session, world, submitted, self_paid_in_catalogue="2000.00", id_number=OTHER_ID_NUMBER)  # 500
    cancelled = _granted(session, world, submitted, self_paid_in_catalogue="3000.00",
                         id_number="11010519491231002X")  # 1,000, then given back
    _act(session, world, cancelled, "reviewer_A", "cancel", comment="发放前撤销")
    submitted(self_paid_in_catalogue="9000.00")  # waiting: nothing granted yet
    [medical] = money_granted(session, world.actor("reviewer_A"), ALL)
    assert (medical.kind, medical.periods) == ("medical_subsidy", ("2026",))
    a1 = world.unit("A1").id
    assert [unit.id for unit in medical.units] == [a1, world.unit("A2").id]
    assert (medical.amount(a1, "2026"), medical.cases(a1, "2026")) == (Decimal("2100.00"), 2)
    assert medical.period_total("2026") == (Decimal("2100.00"), 2)
    # The figure leads to its cases, with what each was granted.
    behind = cases_behind(session, world.actor("reviewer_A"),
                          Behind(a1, kind="medical_subsidy", period="2026"), ALL)
    assert behind.unit.name == "A1街道总工会"
    assert sorted((case.id, amount) for case, amount in behind.rows) == [
        (first.id, Decimal("1600.00")), (second.id, Decimal("500.00"))]
    # The city reads the same money under county A.
    [city] = money_granted(session, world.actor("reviewer_city"), ALL)
    assert city.amount(world.unit("A").id, "2026") == Decimal("2100.00")


def test_a_unit_outside_the_readers_scope_is_missing(session, world):
    with pytest.raises(NotFound):
        cases_behind(session, world.actor("reviewer_A"), Behind(world.unit("B1").id, kind="medical_subsidy"), ALL)


def test_a_rounds_places_given_and_used_lead_to_the_nominations(session, world):
    honours = Honours(session, world, places=3)
    forwarded = [honours.at_city(), honours.at_city()]
    honours.submitted()  # at the township: forwarded by none yet
    [use] = quota_use(session, world.actor("reviewer_A"), ALL)
    assert (use.round_id, use.title) == (honours.round.id, "2026年度五一劳动奖评选")
    medals = {row.unit.id: row for row in use.rows if row.category == "labour_medal"}
    a, a1 = world.unit("A").id, world.unit("A1").id
    assert (medals[a1].places, medals[a1].used, medals[a1].left, medals[a1].category_label) == (3, 2, 1, "五一劳动奖章")
    assert (medals[a].used, medals[a].unit.is_scope) == (2, True)
    assert world.unit("B1").id not in {row.unit.id for row in use.rows}
    behind = cases_behind(session, world.actor("reviewer_A"),
                          Behind(a1, round_id=honours.round.id, category="labour_medal"), ALL)
    assert sorted(case.id for case, _places in behind.rows) == sorted(case.id for case in forwarded)
