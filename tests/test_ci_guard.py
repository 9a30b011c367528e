"""CI must never go green on a silently skipped database."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNREACHABLE = "postgresql://postgres@127.0.0.1:9/nowhere"  # the discard port: nothing answers


def run_smoke_suite(**env) -> subprocess.CompletedProcess:
    environment = {**os.environ, "UNIONFLOW_TEST_DATABASE_URL": UNREACHABLE, **env}
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
