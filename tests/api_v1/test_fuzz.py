"""schemathesis against the served OpenAPI document: no operation answers 5xx, and every
response matches what the document says of it (its status code and its body's schema).

Every operation of the document gets a bounded number of generated requests, valid ones
and invalid ones, derandomized so that CI sends the same requests on every run; operations
on a case, a unit, a user or a kind are also called on ones that exist, since random ids
mostly find nothing. The caller holds several roles (applicant, reviewer at two levels,
admin) so that role checks pass often enough to reach the engine.

The operations are walked here rather than through ``schemathesis.pytest.from_fixture``
(which the installed pytest breaks): the app lives on the test's own connection, and one
test that collects every failure reports them all at once.
"""
from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance
from schemathesis.config import SchemathesisConfig

from engine.operations.transitions import create_draft, submit_case
from engine.org.accounts import create_api_token, list_api_tokens, revoke_api_token
from engine.org.units import assign_role, create_user, load_actor
from tests.conftest import NOW

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# Requests per operation and pass. PostgreSQL gets a shorter run of the same passes: it is
# there for what differs between the databases (integer ranges, text), not for coverage.
MAX_EXAMPLES = {"sqlite": 15, "postgresql": 5}
FORM = {"award_type": "labour_medal", "nominee_name": "孙八", "employer": "A1a公司", "ownership": "public",
        "merits_summary": "节能降耗显著"}


@pytest.fixture
def fuzzer(session, world):
    """One person who is applicant at A1a, township and county reviewer above it, and admin."""
    user = create_user(session, username="fuzzer", display_name="模糊测试员")
    for role, unit in (("applicant", "A1a"), ("reviewer", "A1"), ("reviewer", "A"), ("admin", "city")):
        assign_role(session, user, role, world.unit(unit))
    session.flush()
    return load_actor(session, user.id)


@pytest.fixture
def existing(session, world, fuzzer) -> dict:
    """Path parameter values that name something real (a draft and a submitted case)."""
    create_draft(session, fuzzer, "basic_nomination", form=FORM, now=NOW)
    case = create_draft(session, fuzzer, "basic_nomination", form=FORM, now=NOW)
    submit_case(session, fuzzer, case, expected_version=case.version, now=NOW)
    session.flush()
    return {"case_id": case.id, "kind": "basic_nomination", "unit_id": world.unit("A1a").id,
            "user_id": world.users["applicant_A1a"].id}


@pytest.fixture
def served_schema(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app,
                                          config=SchemathesisConfig.from_dict({"seed": 20260309}))


def test_every_operation_answers_as_documented(served_schema, fuzzer, existing, session, backend):
    operations = [result.ok() for result in served_schema.get_all_operations()]
    assert operations, "the document lists no operation"
    failures = []
    for operation in operations:
        headers = {"Authorization": f"Bearer {_only_token(session, fuzzer)}"}
        known = {name: existing[name] for name in re.findall(r"{(\w+)}", operation.path) if name in existing}
        passes = [(GenerationMode.POSITIVE, {}), (GenerationMode.NEGATIVE, {})]
        if known:
            passes.append((GenerationMode.POSITIVE, known))
        for mode, path_parameters in passes:
            failure = _fuzz(operation, mode, path_parameters, headers, MAX_EXAMPLES[backend])
            if failure:
                failures.append(failure)
    assert not failures, "\n\n".join(failures)


def _only_token(session, fuzzer) -> str:
    """A new token, the fuzzer's only one: fuzzing DELETE /tokens/{id} may have revoked the
    previous one, and POST /tokens may have reached the per-person limit."""
    for token in list_api_tokens(session, fuzzer):
        revoke_api_token(session, fuzzer, token.id)
    _, plaintext = create_api_token(session, fuzzer, "模糊测试")
    session.flush()
    return plaintext


def _fuzz(operation, mode: GenerationMode, path_parameters: dict, headers: dict, max_examples: int) -> str | None:
    """Send one operation's generated requests; its first failure, described, or None."""

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case):
        case.validate_response(case.call(headers=headers), checks=CHECKS, headers=headers)

    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.NEGATIVE:
            return None  # nothing to break: an operation without parameters or body
        raise
    except (AssertionError, BaseExceptionGroup) as failure:  # schemathesis' failed checks
        known = f" with {path_parameters}" if path_parameters else ""
        return f"{operation.label} ({mode.value}{known}): {failure}"
    return None
