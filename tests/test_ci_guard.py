"""CI must never go green on a silently skipped database."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNREACHABLE = "postgresql://postgres@127.0.0.1:9/nowhere"  # the discard port: nothing answers


def plain_run_environment(**env) -> dict[str, str]:
    """This environment for a pytest run of its own: not an xdist worker's (whose databases are
    numbered after the worker), whichever process of ``make test`` starts it."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_XDIST_")}
    return {**inherited, **env}


def run_smoke_suite(**env) -> subprocess.CompletedProcess:
    environment = plain_run_environment(UNIONFLOW_TEST_DATABASE_URL=UNREACHABLE, **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_smoke_basic_nomination.py"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize(("ci", "fails"), [("true", True), ("", False)])
def test_unreachable_postgresql_fails_in_ci_and_skips_elsewhere(ci, fails):
    result = run_smoke_suite(CI=ci)
    if fails:
        assert result.returncode != 0
        assert "PostgreSQL is required in CI" in result.stdout
    else:
        assert result.returncode == 0, result.stdout
        assert "1 passed, 1 skipped" in result.stdout


UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # port 1: nothing listens


@pytest.mark.parametrize(("ci", "fails"), [("true", True), ("", False)])
def test_unreachable_redis_fails_the_worker_tests_in_ci_and_skips_them_elsewhere(ci, fails):
    # PostgreSQL stays unreachable too: the subprocess must never touch this session's database.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests/test_worker_integration.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=plain_run_environment(UNIONFLOW_TEST_DATABASE_URL=UNREACHABLE, UNIONFLOW_TEST_REDIS_URL=UNREACHABLE_REDIS,
                                  CI=ci),
    )
    if fails:
        assert result.returncode != 0
        assert f"Redis is required in CI: cannot reach Redis at {UNREACHABLE_REDIS}" in result.stdout
        assert " passed" not in result.stdout and " skipped" not in result.stdout
    else:
        assert result.returncode == 0, result.stdout
        assert f"cannot reach Redis at {UNREACHABLE_REDIS}" in result.stdout
        assert " passed" not in result.stdout and "6 skipped" in result.stdout
