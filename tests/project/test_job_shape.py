"""The jobs' shape: one name a class under ``jobs/``, and a seam between the plain run and its runners.

A class name defined in two files under ``jobs/`` is two types that read as one (each job had
its own ``Decision``, ``Outcome``, ``OutputPlan``, ``Plain``, ``Round`` and ``Stages``): a
job's own class carries the job's name. The plain run of each job (``job.py`` and the stages
it calls) is run by runners around it: an ``--update`` round, a shard and its merge, Dask, and
the entrance that chooses among them. No plain module imports a runner's module (lazy and
type-only imports counted): the runner knows the plain run, never the other way round. Both
read the source with ast.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from test_layout import PACKAGE, import_graph

JOBS = PACKAGE / "jobs"

#: The records of a shard and of a run that both jobs still define alike (issue 92: one shard
#: record for both jobs is another step's); no other name may join them, and this set only shrinks.
KNOWN_TWICE = {"RunRecord", "ShardRecord"}

#: Each job's runners: the modules that run its plain path (an --update round and its store, a
#: shard, its record and merge, Dask, --watch) and its entrance, which chooses among them. Every
#: other module of the job's folder is of the plain path (a new module too, until it is named here).
RUNNERS = {
    "particles": {"update", "store", "store_open", "shards", "shard_record", "dask", "entrance"},
    "micrographs": {"update", "update_round", "update_inputs", "watch", "shards", "shard_record", "dask", "entrance"},
}

#: The modules of jobs/ that only runners use: the stores' SQLite and the shards' shard.json.
SHARED_RUNNERS = {"cryodedup.jobs.store_db", "cryodedup.jobs.shard_json"}


def classes_by_name(folder: Path = JOBS) -> dict[str, list[str]]:
    """Every class defined under ``folder`` (at any depth of a module), by name: the files that define it."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                found[node.name].append(str(path.relative_to(folder)))
    return found


def runner_modules() -> set[str]:
    """Every runner's module of every job, by its full name."""
    return SHARED_RUNNERS | {f"cryodedup.jobs.{job}.{name}" for job, names in RUNNERS.items() for name in names}


def plain_imports_of_runners(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Each (plain module, runner's module) that the plain module imports."""
    runners = runner_modules()
    return sorted(
        (module, target)
        for job in RUNNERS
        for module, targets in graph.items()
        if module.startswith(f"cryodedup.jobs.{job}.") and module not in runners
        for target in targets
        if target in runners
    )


def test_no_class_name_is_defined_in_two_files_under_jobs():
    twice = {name: files for name, files in classes_by_name().items() if len(files) > 1}
    assert set(twice) - KNOWN_TWICE == set(), twice


def test_the_known_exceptions_are_still_defined_twice():
    # (a name no longer defined twice leaves the set, so that it cannot come back: the set only shrinks)
    fixed = {name for name in KNOWN_TWICE if len(classes_by_name().get(name, [])) < 2}
    assert fixed == set(), f"defined once now: remove {sorted(fixed)} from KNOWN_TWICE"


def test_every_runner_named_is_a_module_of_its_job():
    modules = set(import_graph())
    assert runner_modules() - modules == set()


def test_no_plain_module_imports_a_runners_module():
    assert plain_imports_of_runners(import_graph()) == []


def test_the_check_sees_a_plain_module_importing_the_rounds_store():
    # (the check itself: an import the seam forbids, in a graph as import_graph gives it, is found)
    graph = import_graph()
    graph["cryodedup.jobs.particles.decide"] = graph["cryodedup.jobs.particles.decide"] | {
        "cryodedup.jobs.particles.store"
    }
    graph["cryodedup.jobs.micrographs.write"] = graph["cryodedup.jobs.micrographs.write"] | {
        "cryodedup.jobs.micrographs.update"
    }
    assert plain_imports_of_runners(graph) == [
        ("cryodedup.jobs.micrographs.write", "cryodedup.jobs.micrographs.update"),
        ("cryodedup.jobs.particles.decide", "cryodedup.jobs.particles.store"),
    ]
