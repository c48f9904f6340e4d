"""The jobs' shape: a seam between the plain run and its runners (one name a class: test_class_names.py).

The plain run of each job (``job.py`` and the stages it calls) is run by runners around it: an
``--update`` round, a shard and its merge, Dask, and the entrance that chooses among them. No
plain module imports a runner's module (lazy and type-only imports counted): the runner knows
the plain run, never the other way round. Read from the source with ast.
"""

from __future__ import annotations

from test_layout import PACKAGE, import_graph

JOBS = PACKAGE / "jobs"

#: Each job's runners: the modules that run its plain path (an --update round and its store, a
#: shard, its record and merge, Dask, --watch) and its entrance, which chooses among them. Every
#: other module of the job's folder is of the plain path (a new module too, until it is named here).
RUNNERS = {
    "particles": {"update", "store", "store_open", "shards", "shard_record", "dask", "entrance"},
    "micrographs": {"update", "update_round", "update_inputs", "watch", "shards", "shard_record", "dask", "entrance"},
}

#: The modules of jobs/ that only runners use: the stores' SQLite and the shards' shard.json.
SHARED_RUNNERS = {"cryodedup.jobs.store_db", "cryodedup.jobs.shard_json"}


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


def test_the_particle_runners_stages_change_only_how_rows_are_decided_and_written():
    # (a round, a shard and the merge run the plain stages in their order: their subclasses override two hooks)
    from cryodedup.jobs.particles.job import PlainParticleStages
    from cryodedup.jobs.particles.shards import ParticleMergeStages, ParticleShardStages
    from cryodedup.jobs.particles.update import ParticleRoundStages

    for kind in (ParticleRoundStages, ParticleShardStages, ParticleMergeStages):
        assert issubclass(kind, PlainParticleStages)
        own = {name for name, value in vars(kind).items() if callable(value) and not name.startswith("__")}
        assert own <= {"decide_rows", "write_rows"}, (kind.__name__, own)
