"""The kept corpus of the Python fuzz targets (fuzz/python), replayed through the targets' own checks.

Each input in ``fuzz/corpus/<target>/`` is handed to the target's ``check`` as the fuzzer
hands it (docs/fuzzing.md): a ``CryodedupError`` is a correct answer; any other exception,
a warning, or a broken assertion of what the reader returned fails. The inputs that once
crashed a reader are kept there, named ``crash_*``. Atheris is not needed.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
TARGETS = ("info_json", "coords_suffix", "dynamo", "shards", "store", "epu_xml", "mdoc", "job_json", "pipeline")


@functools.cache
def load_target(name: str):
    """The target module ``fuzz/python/<name>.py`` (its ``_harness`` importable beside it)."""
    folder = str(FUZZ / "python")
    if folder not in sys.path:
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(f"cryodedup_fuzz_{name}", FUZZ / "python" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASES = [(target, path) for target in TARGETS for path in sorted((FUZZ / "corpus" / target).iterdir())]


def test_every_target_has_a_corpus():
    assert {target for target, _ in CASES} == set(TARGETS)
    assert all(len([p for t, p in CASES if t == target]) >= 10 for target in TARGETS)


@pytest.mark.parametrize(("target", "path"), CASES, ids=[f"{t}/{p.name}" for t, p in CASES])
def test_kept_input(target, path, tmp_path):
    harness = load_target("_harness")
    harness.answered(load_target(target).check, path.read_bytes(), tmp_path)
