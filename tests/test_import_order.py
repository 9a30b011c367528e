"""The layers hold: no import circle anywhere, and an import against .importlinter fails the build.

`make test` runs `lint-imports` before pytest; these tests check that it would catch what it is
there for (a contract that no longer matched the packages would pass everything), and what its
layers contracts leave open: a circle inside one layer.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("unionflow", "api", "pages", "web", "workflows", "engine")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _circles(graph) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each a circle of imports."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return groups


def test_the_import_graph_has_no_circle():
    """Imports inside functions and for type checking count too: a circle held apart by one breaks
    start-up when it moves."""
    graph = grimp.build_graph(*PACKAGES)
    assert _circles(graph) == []


def test_the_circle_finder_finds_a_circle():
    graph = grimp.ImportGraph()
    for importer, imported in (("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")):
        graph.add_import(importer=importer, imported=imported)
    assert _circles(graph) == [["a", "b", "c"]]


@pytest.fixture()
def checkout_copy(tmp_path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "templates",
                                                                                          "static", "translations"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env={"PYTHONPATH": str(root), "PATH": ""},
                          capture_output=True, text=True, timeout=120)


def test_the_contracts_hold_for_the_code_as_it_is(checkout_copy):
    result = _lint(checkout_copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("module", "arrow", "reported"), [
    ("engine/base/errors.py", "import engine.cases.case", "engine.base.errors -> engine.cases.case"),
    ("engine/reading/trail.py", "import engine.operations.transitions",
     "engine.reading.trail -> engine.operations.transitions"),
    ("engine/cases/case.py", "import flask", "engine.cases.case -> flask"),
    ("pages/about.py", "import api.cases", "pages.about -> api.cases"),
    ("web/limits.py", "import pages.inbox", "web.limits -> pages.inbox"),
    ("workflows/honours.py", "import web.auth", "workflows.honours -> web.auth"),
])
def test_an_import_against_the_order_fails(checkout_copy, module, arrow, reported):
    path = checkout_copy / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{arrow}  # against the order\n", encoding="utf-8")
    result = _lint(checkout_copy)
    assert result.returncode == 1
    assert reported in result.stdout
