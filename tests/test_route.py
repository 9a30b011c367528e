"""The route of a case: where it is, who holds it and until when, and the steps ahead as the definition takes them."""
from __future__ import annotations

import pytest

from engine.cases.tasks import waiting_task
from engine.definitions.store import current_definition
from engine.operations.holding import claim_task
from engine.reading.route import case_route, path_ahead
from tests.conftest import NOW
from tests.test_honours import honours  # noqa: F401 - the fixture


@pytest.mark.parametrize(("kind", "start", "expected"), [
    ("honours", "draft", ["township_review", "county_review", "city_review", "jury_vote", "public_notice",
                          "final_approval", "approved"]),
    ("honours", "public_notice", ["final_approval", "approved"]),
    ("honours", "under_investigation", ["objection_answered", "public_notice", "final_approval", "approved"]),
    ("hardship_aid", "draft", None),
    ("medical_subsidy", "draft", None),
    ("competition_results", "draft", None),
])
def test_the_path_ahead_goes_forward_to_a_final_state(session, kind, start, expected):
    definition = current_definition(session, kind)
    path = [state.id for state in path_ahead(definition, start)]
    if expected is not None:
        assert path == expected
    # Every definition's path from its draft reaches a final state by the parties it waits for, once each.
    assert path and definition.state(path[-1]).is_final and len(set(path)) == len(path)
    assert not any(definition.state(state).kind == "draft" for state in path)


def test_a_case_sent_back_goes_straight_back_to_the_level_that_sent_it(session):
    definition = current_definition(session, "honours")
    path = [s.id for s in path_ahead(definition, "township_review", sent_back_from="city_review")]
    assert path[:2] == ["city_review", "jury_vote"]


def test_the_route_names_holder_deadline_and_the_parties_ahead(honours):
    case = honours.submitted()
    route = case_route(honours.session, case, waiting_task(honours.session, case.id))
    assert (route.current.label, route.current.party, route.current.unit_name, route.current.holder_name) == (
        "镇（街道）总工会审核", "镇（街道）总工会审核人", honours.world.unit("A1").name, None)
    assert route.current.due_dt == waiting_task(honours.session, case.id).due_dt
    county = route.ahead[0]
    assert (county.state, county.party, county.unit_name, county.working_days) == (
        "county_review", "县（区）总工会审核人", honours.world.unit("A").name, 5)
    assert route.ahead[-1].state == "approved" and route.ahead[-1].party is None
    claim_task(honours.session, honours.world.actor("reviewer_A1"), case, expected_version=case.version, now=NOW)
    route = case_route(honours.session, case, waiting_task(honours.session, case.id))
    assert route.current.holder_name == honours.world.users["reviewer_A1"].display_name
