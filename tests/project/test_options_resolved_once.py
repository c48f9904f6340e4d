"""The house's two counts: options resolved once, and the jobs' records typed.

A stage takes the typed values the options were resolved into (a job's plan), never the whole
``ParticleOptions`` or ``MicrographOptions``: the functions outside ``options/`` that take one
whole are listed here, and there are at most ten of them (the jobs' entry points and the plans'
makers). The jobs pass typed records between deciding and reporting: a string-key read
(``x["key"]``, ``x.get("key")``) in ``jobs/`` is a JSON-shaped dict where a record belongs, and
there are at most twenty. Both counts read the code's syntax tree (annotations and subscripts),
not its text, so that a comment or a docstring is not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import functions_taking

PACKAGE = Path(__file__).resolve().parents[2] / "python" / "cryodedup"
WHOLE_OPTIONS = ("ParticleOptions", "MicrographOptions")


def _modules(folder: Path):
    for path in sorted(folder.rglob("*.py")):
        yield path.relative_to(folder), ast.parse(path.read_text(encoding="utf-8"))


def functions_taking_whole_options(package: Path = PACKAGE) -> list[str]:
    """Every function outside ``options/`` with a parameter annotated as a whole options object."""
    return sorted(functions_taking(package, *WHOLE_OPTIONS))


def string_key_reads(folder: Path) -> list[str]:
    """Every ``x["key"]`` read and ``x.get("key")`` call under ``folder``."""
    reads = []
    for name, module in _modules(folder):
        for node in ast.walk(module):
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_text(node.slice):
                reads.append(f"{name}:{node.lineno} [{node.slice.value!r}]")  # type: ignore[attr-defined]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and node.args
                and _is_text(node.args[0])
            ):
                reads.append(f"{name}:{node.lineno} .get({node.args[0].value!r})")  # type: ignore[attr-defined]
    return reads


def _is_text(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def test_at_most_ten_functions_outside_options_take_a_whole_options_object():
    takers = functions_taking_whole_options()
    assert len(takers) <= 10, "\n".join(takers)


def test_at_most_twenty_string_key_reads_in_the_jobs():
    reads = string_key_reads(PACKAGE / "jobs")
    assert len(reads) <= 20, "\n".join(reads)


def test_the_counts_see_what_they_count(tmp_path):
    # A toy package: one function taking the options whole, one taking a plan; two reads by key,
    # one write by key and one attribute read, which are not counted.
    package = tmp_path / "cryodedup"
    (package / "jobs").mkdir(parents=True)
    (package / "options").mkdir()
    (package / "options" / "plan.py").write_text("def plan(options: ParticleOptions): ...\n")
    (package / "jobs" / "job.py").write_text(
        "def run(options: 'MicrographOptions | None' = None): ...\n"
        "def stage(plan: Plan): ...\n"
        "def read(d):\n    d['written'] = 1\n    return d['kept'], d.get('rejected'), d.kept\n"
    )
    assert [t.split()[1] for t in functions_taking_whole_options(package)] == ["run"]
    assert len(string_key_reads(package / "jobs")) == 2
