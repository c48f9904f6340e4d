"""The micrograph job's plan (jobs/micrographs/plan.py): the options resolved once, the one place they are read."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from cryodedup.jobs.micrographs.plan import micrograph_plan
from cryodedup.options import MicrographOptions
from helpers import functions_taking

PACKAGE = Path(__file__).resolve().parents[3] / "python" / "cryodedup"

#: The functions outside options/ that take a whole MicrographOptions: the Python API that is given it,
#: and the plan that resolves it (the command line resolves it too, and hands the plan to the job, a
#: round, --watch's rounds and a shard).
TAKERS = {
    "jobs/micrographs/entrance.py find_duplicate_micrographs",
    "jobs/micrographs/plan.py micrograph_plan",
}

#: The string keys read in jobs/micrographs/: a foreign document's, each where it becomes typed (shard.json's
#: format, before its fields are checked and typed; Dask's scheduler's description of its workers).
BOUNDARY_READS = {"shard_record.py .get('format')", "dask.py ['workers']"}


def _takers() -> set[str]:
    """Each function outside options/ with a parameter annotated ``MicrographOptions``, as ``path name``."""
    return functions_taking(PACKAGE, "MicrographOptions")


def _string_key_reads(folder: Path) -> set[str]:
    """Each ``x["key"]`` and ``x.get("key")`` read in ``folder``'s modules, as ``file read``."""
    found = set()
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            key = None
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
                key = node.slice.value if isinstance(node.slice, ast.Constant) else None
                shown = f"[{key!r}]"
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
                key = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
                shown = f".get({key!r})"
            if isinstance(key, str):
                found.add(f"{path.name} {shown}")
    return found


def test_only_the_entry_points_and_the_plan_take_the_whole_options():
    # A stage takes the plan's values (planning, scoring, deciding, writing, the pictures, the shards'
    # merge, --watch's rounds): a new function given the whole options is a stage that reads the flag bag.
    assert _takers() == TAKERS, sorted(_takers() ^ TAKERS)


def test_the_job_reads_its_records_by_name_not_by_string_key():
    # On main, 200 reads: the scores, the shard's record, the store's, the summary passed as JSON-shaped dicts.
    reads = _string_key_reads(PACKAGE / "jobs" / "micrographs")
    assert reads <= BOUNDARY_READS, sorted(reads - BOUNDARY_READS)


def _another(value: object, annotation: str) -> object:
    """A value of the option's type other than ``value`` (the plan does not check the options: any will do)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "-other"
    if isinstance(value, list):
        return [*value, Path("other.xml")]
    return {"Path | None": Path("elsewhere"), "int | None": 3}.get(annotation, 1.5)


def test_every_option_reaches_the_plan(tmp_path):
    # Each field changed alone changes the plan: no option is left for a stage to read from the options.
    base = MicrographOptions()
    resolved = micrograph_plan(base)
    overrides = tmp_path / "overrides.csv"  # (--overrides is read as the plan is made: a file that reads)
    overrides.write_text("kind,input,row,name,partner,action\npair,,,a.mrc,b.mrc,distinct\n")
    for field in dataclasses.fields(MicrographOptions):
        value = overrides if field.name == "overrides" else _another(getattr(base, field.name), str(field.type))
        changed = dataclasses.replace(base, **{field.name: value})
        assert micrograph_plan(changed) != resolved, field.name


def test_the_plan_holds_the_values_the_options_give():
    # By hand: the scoring's, the decision's and the writing's own values, as the options name them.
    options = MicrographOptions(candidates="pattern", scan_range=48, min_z=9.0, min_pearson=0.2, plot_pairs=3)
    plan = micrograph_plan(options)
    assert plan.scoring.candidates.mode == "pattern" and plan.scoring.candidates.scan_range == 48
    assert (plan.decision.min_z, plan.decision.min_pearson, plan.decision.by_position) == (9.0, 0.2, False)
    assert plan.scoring.min_z == 9.0 and plan.output.plot_pairs == 3 and plan.output.parameters is None
    assert plan.recorded["min_z"] == 9.0 and "plot_pairs" not in plan.recorded  # (the shard and store records)
