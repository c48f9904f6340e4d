"""The house's two counts: options resolved once, and the jobs' records typed.

A stage takes the typed values the options were resolved into (a job's plan), never a whole
``ParticleOptions``, ``MicrographOptions`` or ``CompareOptions``, nor a whole options object
reflected on (a parameter ``options`` typed ``Any`` or not typed, as report/'s tables were): the
functions outside ``options/`` and the command line (``cli.py``) that take one are listed here
(:data:`TAKERS`: the jobs' three entrances and their three plans' makers; report.html's Parameters
table and a shard's record are made from the values a plan keeps), and there are at most six of
them (issue 92's bound). The jobs
pass typed records between deciding and reporting: a string-key read
(``x["key"]``, ``x.get("key")``) in ``jobs/`` is a JSON-shaped dict where a record belongs, and
there are at most twenty. Both counts read the code's syntax tree (annotations and subscripts),
not its text, so that a comment or a docstring is not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "python" / "cryodedup"
WHOLE_OPTIONS = ("ParticleOptions", "MicrographOptions", "CompareOptions")

#: The functions that take a whole options object (as ``path name``), outside options/ and cli.py.
TAKERS = {
    "jobs/particles/entrance.py remove_duplicate_particles",
    "jobs/micrographs/entrance.py find_duplicate_micrographs",
    "jobs/compare.py compare_picks",
    "jobs/particles/plan.py plan",
    "jobs/micrographs/plan.py micrograph_plan",
    "jobs/compare.py compare_plan",
}


def _modules(folder: Path):
    for path in sorted(folder.rglob("*.py")):
        yield path.relative_to(folder), ast.parse(path.read_text(encoding="utf-8"))


def functions_taking_whole_options(package: Path = PACKAGE) -> list[str]:
    """Every function outside ``options/`` and ``cli.py`` that takes a whole options object, annotated or not.

    A parameter annotated with one of :data:`WHOLE_OPTIONS` (``X | None``, a string annotation too), or
    a parameter named ``options`` typed ``Any`` or not typed (a reflector on whichever options it is given).
    """
    found = set()
    for name, module in _modules(package):
        where = name.as_posix()
        if where.startswith("options/") or where == "cli.py":
            continue
        for node in ast.walk(module):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                if any(_whole(argument) for argument in arguments):
                    found.add(f"{where} {node.name}")
    return sorted(found)


def _whole(argument: ast.arg) -> bool:
    """Whether a parameter is a whole options object: by its annotation, or named ``options`` and untyped."""
    if argument.annotation is None:
        return argument.arg == "options"
    text = ast.unparse(argument.annotation)
    return any(name in text for name in WHOLE_OPTIONS) or (argument.arg == "options" and text in ("Any", "'Any'"))


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


def test_at_most_six_functions_outside_options_and_the_cli_take_a_whole_options_object():
    takers = functions_taking_whole_options()
    assert set(takers) <= TAKERS, sorted(set(takers) - TAKERS)
    assert len(takers) <= 6, "\n".join(takers)


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
        "def compare(given: CompareOptions): ...\n"
        "def stage(plan: Plan): ...\n"
        "def read(d):\n    d['written'] = 1\n    return d['kept'], d.get('rejected'), d.kept\n"
    )
    (package / "report").mkdir()
    (package / "report" / "table.py").write_text(
        "def of(options: Any): ...\ndef bare(options): ...\ndef record(options: dict): ...\n"
    )
    (package / "cli.py").write_text("def run_job(options: ParticleOptions): ...\n")
    assert [t.split()[1] for t in functions_taking_whole_options(package)] == ["compare", "run", "bare", "of"]
    assert len(string_key_reads(package / "jobs")) == 2
