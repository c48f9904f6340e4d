"""The tests' own layout: in folders as the package's, few files at tests/'s root, names that say what is tested.

A test of ``formats/star`` is found in ``tests/formats/star/``; tests/'s root keeps the hooks and
the helpers many folders share. A file's name says what it tests, never when it was written (a
round of fixes, an issue, a release): ``test_reliability_round4.py`` told a reader nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

#: Files tests/'s root may hold: conftest.py and the helpers shared by many folders.
MOST_AT_ROOT = 10

#: Markers of history in a name: a round of fixes, an issue, a step or stop of the work, a
#: version (RELION 3.1 as ``relion31``, ``v2``). A format's major version (``relion5``) is a
#: concern, not history.
HISTORY = re.compile(r"round_?\d|issue_?\d|step_?\d|stop_?\d|relion_?\d\d|(^|_)v\d", re.IGNORECASE)


def root_files(tests: Path) -> list[str]:
    return sorted(p.name for p in tests.iterdir() if p.is_file() and not p.name.startswith("."))


def history_names(tests: Path) -> list[str]:
    return sorted(str(p.relative_to(tests)) for p in tests.rglob("*.py") if HISTORY.search(p.stem))


def test_the_history_marker_sees_rounds_issues_and_releases_not_formats():
    named = ["test_reliability_round4", "test_relion31_merges", "test_issue58", "test_round_2", "test_v2_store"]
    plain = ["test_hostile_files", "test_relion_external", "test_real_relion5_picks", "test_pixel_sizes", "test_cli"]
    assert [n for n in named if HISTORY.search(n)] == named
    assert [n for n in plain if HISTORY.search(n)] == []


def test_tests_root_holds_at_most_ten_files():
    files = root_files(TESTS)
    assert len(files) <= MOST_AT_ROOT, (
        f"tests/'s root holds {len(files)} files ({', '.join(files)}); a test goes in the folder "
        "mirroring the module it tests (tests/formats/star/, tests/jobs/particles/, tests/project/ ...)"
    )


def test_no_test_file_nor_helper_is_named_after_its_history():
    assert history_names(TESTS) == [], (
        "name a test file or helper after what it holds, not a round, an issue or a release"
    )


def shared_names(tests: Path) -> list[str]:
    """Test files of different folders with one name (pytest imports each by its name: the second fails to collect)."""
    seen: dict[str, list[str]] = {}
    for path in sorted(tests.rglob("test_*.py")):
        seen.setdefault(path.name, []).append(str(path.relative_to(tests)))
    return sorted(name for name, paths in seen.items() if len(paths) > 1)


def test_no_two_test_files_share_a_name(tmp_path):
    assert shared_names(TESTS) == []
    # (two folders' test_plan.py stopped a whole run at its collection)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "test_plan.py").write_text("")
    assert shared_names(tmp_path) == ["test_plan.py"]
