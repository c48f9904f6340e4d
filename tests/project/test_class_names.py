"""One class name, one class: no name of a class is defined in two modules under ``jobs/`` (issue 92).

The two jobs share a type where they share a shape (``jobs/shard_json.py``'s ``ShardRecord`` and
``RunRecord``, each job's record a subclass with the job's name), and give their own classes
their job's name (each job had its own ``Decision``, ``Outcome``, ``OutputPlan``, ``Plain``, ``Round``
and ``Stages``). Read from the source with ast, nested classes counted.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import cryodedup

JOBS = Path(cryodedup.__file__).parent / "jobs"


def classes_defined_twice(folder: Path) -> dict[str, list[str]]:
    """Each class name defined in more than one module below ``folder``, with the modules."""
    where: dict[str, set[str]] = defaultdict(set)
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                where[node.name].add(str(path.relative_to(folder)))
    return {name: sorted(paths) for name, paths in where.items() if len(paths) > 1}


def test_the_finder_finds_a_planted_twin(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "record.py").write_text("class ShardRecord:\n    pass\n")
    (tmp_path / "b.py").write_text("def f():\n    class ShardRecord:\n        pass\n\n\nclass Other:\n    pass\n")
    assert classes_defined_twice(tmp_path) == {"ShardRecord": ["a/record.py", "b.py"]}


def test_no_class_name_is_defined_in_two_modules_of_the_jobs():
    assert classes_defined_twice(JOBS) == {}
