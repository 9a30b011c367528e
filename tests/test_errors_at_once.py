"""A refused form says everything wrong with it at once: required fields, formats and the
comment in one round, not one group per submission (issue 16)."""
from __future__ import annotations

import pytest

from engine.base.errors import ValidationFailed
from engine.definitions.forms import clean_fields
from engine.definitions.store import current_definition
from engine.operations.transitions import create_draft, perform_action
from tests.api_v1.test_cases import ID_NUMBER, act, nominate
from tests.conftest import NOW


def test_clean_fields_reports_bad_formats_and_missing_fields_together(session):
    specs = current_definition(session, "basic_nomination").fields
    with pytest.raises(ValidationFailed) as refused:
        clean_fields(specs, {"birth_date": "去年", "nominee_name": ""})
    assert set(refused.value.fields) >= {"birth_date", "award_type", "nominee_name"}


def test_submitting_reports_the_comment_and_the_missing_fields_together(session, world):
    applicant = world.actor("applicant_A1a")
    case = create_draft(session, applicant, "basic_nomination", form={"nominee_name": "张三"}, now=NOW)
    with pytest.raises(ValidationFailed) as refused:
        perform_action(session, applicant, case, "submit", expected_version=case.version, comment="长" * 3000)
    assert {"comment", "award_type"} <= set(refused.value.fields)


def test_an_action_reports_its_comment_and_its_inputs_together(session, world):
    form = {"applicant_name": "李四", "id_number": ID_NUMBER, "amount": "3000"}
    case = act(session, world, nominate(session, world, kind="reviewed_grant", form=form),
               ("applicant_A1a", "submit"), ("reviewer_A1", "approve"))
    with pytest.raises(ValidationFailed) as refused:
        perform_action(session, world.actor("reviewer_A"), case, "approve", expected_version=case.version,
                       comment="长" * 3000, inputs={})
    assert {"comment", "decision_number"} <= set(refused.value.fields)
