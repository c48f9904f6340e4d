"""The package as shipped: one version, a licence file and declared dependencies.

These read the project's own files (pyproject.toml, Cargo.toml, LICENSE, docs/), next to tests/.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cryodedup

ROOT = Path(__file__).resolve().parents[2]
tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

# Import name -> distribution name, for the imports whose names differ.
DISTRIBUTION = {
    "yaml": "pyyaml",
    "cryosparc": "cryosparc-tools",
    "rich_click": "rich-click",
    "pipeliner": "ccpem-pipeliner",
    "PIL": "pillow",
}


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def third_party_imports(files) -> set[str]:
    names = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    tests = ROOT.joinpath("tests")
    local = {"cryodedup", "helpers", "oracle", "conftest"} | {p.stem for p in tests.glob("*.py")}
    local |= {p.name for p in tests.iterdir() if p.is_dir()}  # tests/fixtures, tests/report ...
    return {DISTRIBUTION.get(n, n).lower() for n in names - set(sys.stdlib_module_names) - local}


def test_an_installed_wheel_is_what_is_tested():
    # .ci/run sets this to the site-packages of the venv it installed the wheel into.
    site = os.environ.get("CRYODEDUP_TEST_INSTALLED")
    if not site:
        pytest.skip("CRYODEDUP_TEST_INSTALLED is not set: a run from the source tree")
    assert Path(cryodedup.__file__).resolve().parent == Path(site).resolve() / "cryodedup"
    assert Path(cryodedup._core.__file__).name == "_core.abi3.so"


def test_version_comes_from_the_cargo_workspace():
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    assert "version" in pyproject()["project"]["dynamic"]
    assert importlib.metadata.version("cryodedup") == cargo
    printed = subprocess.run(
        [sys.executable, "-c", "from cryodedup.cli import main; main()", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert printed.returncode == 0 and printed.stdout.strip() == f"cryodedup, version {cargo}"


def test_the_licence_file_matches_the_declared_licence():
    assert pyproject()["project"]["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "the cryodedup developers" in text
    assert "Permission is hereby granted, free of charge" in text


def test_every_imported_package_is_declared():
    project = pyproject()["project"]
    extras = project["optional-dependencies"]
    optional = (
        extras["plot"] + extras["dask"] + extras["ccpem"] + extras["copick"] + extras["select"] + extras["napari"]
    )
    declared = requirement_names(project["dependencies"] + optional)
    imported = third_party_imports(ROOT.joinpath("python", "cryodedup").rglob("*.py"))
    assert imported - declared == set()


def test_every_package_the_tests_import_is_in_the_test_extra():
    # The pipeliner's and copick's tests skip without them (CI installs the ccpem and copick extras).
    project = pyproject()["project"]
    extras = project["optional-dependencies"]
    declared = requirement_names(project["dependencies"] + extras["test"] + extras["ccpem"] + extras["copick"])
    imported = third_party_imports(ROOT.joinpath("tests").glob("*.py"))
    assert imported - declared == set()


def test_classifiers_name_python_versions_os_and_typing():
    classifiers = pyproject()["project"]["classifiers"]
    assert "Typing :: Typed" in classifiers and "Operating System :: POSIX :: Linux" in classifiers
    assert {f"Programming Language :: Python :: 3.{minor}" for minor in range(9, 14)} <= set(classifiers)
    assert pyproject()["project"]["requires-python"] == ">=3.9"
