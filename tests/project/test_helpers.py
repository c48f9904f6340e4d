"""The test helpers and hooks: real-data tests are marked, skipped and counted without ../shared/data."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

REAL_DATA_TESTS = """
import pytest
from helpers import shared_file

@pytest.mark.real_data
def test_marked():
    raise AssertionError("a marked test must not run without ../shared/data")

def test_unmarked_but_reads_real_data():
    shared_file("star/anything.star")

def test_plain():
    pass
"""


@pytest.mark.slow
def test_missing_shared_data_is_counted_in_the_summary(tmp_path):
    # A copy of the hooks in a project folder with no ../shared/data beside it.
    suite = tmp_path / "project" / "tests"
    suite.mkdir(parents=True)
    for name in ("conftest.py", "helpers.py"):
        shutil.copy(TESTS / name, suite / name)
    (suite / "test_sample.py").write_text(REAL_DATA_TESTS)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)],
        cwd=suite.parent,
        capture_output=True,
        check=False,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed, 2 skipped" in run.stdout
    assert f"2 real-data tests skipped: {tmp_path / 'shared' / 'data'} is absent" in run.stdout


def _imports_from_conftest(path: Path) -> bool:
    nodes = ast.walk(ast.parse(path.read_text()))
    return any(isinstance(n, ast.ImportFrom) and n.module == "conftest" for n in nodes)


def _test_functions(path: Path):
    tree = ast.parse(path.read_text())
    module_marked = "pytestmark = pytest.mark.real_data" in path.read_text()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            marked = module_marked or any("real_data" in ast.unparse(d) for d in node.decorator_list)
            calls = {n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
            yield node.name, marked, calls


@pytest.mark.parametrize("path", sorted(TESTS.rglob("test_*.py")), ids=lambda p: p.name)
def test_real_data_tests_are_marked_and_helpers_not_taken_from_conftest(path):
    assert not _imports_from_conftest(path), f"{path.name}: import shared helpers from helpers.py, not conftest"
    for name, marked, calls in _test_functions(path):
        if "shared_file" in calls:
            assert marked, f"{path.name}::{name} reads ../shared/data but is not marked @pytest.mark.real_data"
