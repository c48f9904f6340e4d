"""The jobs' shape: a seam between the plain run and its runners (one name a class: test_class_names.py).

The plain run of each job (``job.py`` and the stages it calls) is run by runners around it: an
``--update`` round, a shard and its merge, Dask, and the entrance that chooses among them. No
plain module imports a runner's module (lazy and type-only imports counted): the runner knows
the plain run, never the other way round. Read from the source with ast.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from test_layout import PACKAGE, import_graph

JOBS = PACKAGE / "jobs"

#: Each job's runners: the modules that run its plain path (an --update round and its store, a
#: shard, its record and merge, Dask, --watch) and its entrance, which chooses among them. Every
#: other module of the job's folder is of the plain path (a new module too, until it is named here).
RUNNERS = {
    "particles": {"update", "store", "store_open", "shards", "shard_record", "dask", "entrance"},
    "micrographs": {
        "update", "update_round", "update_pairs", "update_inputs", "watch", "shards", "shard_record", "dask", "entrance"
    },
}  # fmt: skip

#: The modules of jobs/ that only runners use: the stores' SQLite, the shards' shard.json, the Dask client.
SHARED_RUNNERS = {"cryodedup.jobs.store_db", "cryodedup.jobs.shard_json", "cryodedup.jobs.dask_client"}


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


# --- what a round or a shard knows, by name (issue 92: "nothing of a round or a shard in the plain path") ---
#
# A round's or a shard's names are: (1) every class a runner's module defines, and every public function
# there whose name holds the word round, shard, store, update or merge (the runner's own: ``SeenStore``,
# ``score_update``, ``merge_micrograph_shards``, ``MergedShardStages`` ...); (2) the names moved out of the
# plain path into the runners' modules (issue 92), so that one defined again in a plain module is seen
# even where no runner defines it any more; (3) any name holding the word "round" but the builtin
# ``round`` (``RoundPlan``, ``EARLIER_ROUND``, ``round_``). A plain module must neither define nor use one
# (a name, an attribute, an import, an argument or a keyword).

#: The round's names moved out of the micrograph job's plain path (write.py, stages.py, job.py) by issue 92.
MOVED = {"PairsCsv", "PairsCsvRecord", "pairs_csv", "MicrographRound", "PlainMicrographStages", "ShardSummary"}

#: The round's names moved out of the particle job's plain path (decide.py, record.py, plan.py, summary.py) by
#: issue 92: the record's rule of a particle an earlier round kept and its kept input, the round's plan, its section.
MOVED_PARTICLES = {"EARLIER_ROUND", "KEPT_EARLIER", "earlier_round", "RoundPlan", "round_plan", "UpdateRound"}


_RUNNER_WORDS = {"round", "shard", "store", "update", "merge"}

#: A round's or a merge's word in any of its forms (issue 101: ``rounds_left`` and ``merged_shards(...)`` in the
#: plain decide.py passed a test of whole words); the builtin ``round`` aside.
_RUNNER_STEMS = re.compile(r"^(rounds?|merge[ds]?|merging)$")
#: The particle job's shards are a runner's alone (the micrograph job's plain run scores its pairs as shards).
_PARTICLE_RUNNER_STEMS = re.compile(r"^shards?$")


def _words(name: str) -> set[str]:
    """A name's words, lower case: ``MergedShardStages`` gives merged, shard, stages; ``score_update`` score, update."""
    return {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", name)}


def _runners_names(tree: ast.Module) -> set[str]:
    """The classes a runner's module defines, and its public functions named for a round, a shard, a store, a merge."""
    return {
        n.name
        for n in tree.body
        if isinstance(n, ast.ClassDef)
        or (isinstance(n, ast.FunctionDef) and not n.name.startswith("_") and _words(n.name) & _RUNNER_WORDS)
    }


def _named(tree: ast.Module) -> set[str]:
    """Every name a module defines or uses: names, attributes, imports, functions, classes, arguments, keywords."""
    found = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            found.add(n.id)
        elif isinstance(n, ast.Attribute):
            found.add(n.attr)
        elif isinstance(n, ast.alias):
            found |= {n.name.rpartition(".")[2], n.asname or ""}
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(n.name)
        elif isinstance(n, ast.arg) or (isinstance(n, ast.keyword) and n.arg):
            found.add(n.arg)
    return found - {""}


def job_trees() -> dict[str, ast.Module]:
    """Every module of the jobs' folders and the shared runners' modules, parsed, by full name."""
    paths: list[Path] = []
    for job in RUNNERS:
        paths += sorted((JOBS / job).glob("*.py"))
    paths += [JOBS / f"{name.rpartition('.')[2]}.py" for name in SHARED_RUNNERS]
    return {
        "cryodedup." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts): ast.parse(p.read_text()) for p in paths
    }


def round_and_shard_names_in_plain_modules(trees: dict[str, ast.Module]) -> dict[str, list[str]]:
    """Each plain module of a job that defines or uses a round's or a shard's name, and those names."""
    runners = runner_modules()
    names = MOVED | MOVED_PARTICLES
    for module, tree in trees.items():
        if module in runners:
            names |= _runners_names(tree)
    found = {}
    for module, tree in trees.items():
        if module in runners or not any(module.startswith(f"cryodedup.jobs.{job}.") for job in RUNNERS):
            continue
        used = _named(tree)
        stems = [_RUNNER_STEMS] + ([_PARTICLE_RUNNER_STEMS] if module.startswith("cryodedup.jobs.particles.") else [])
        stemmed = {n for n in used if n != "round" and any(st.match(w) for w in _words(n) for st in stems)}
        hits = sorted((used & names) | stemmed)
        if hits:
            found[module] = hits
    return found


def test_no_plain_module_defines_or_uses_a_rounds_or_a_shards_name():
    assert round_and_shard_names_in_plain_modules(job_trees()) == {}


def test_the_check_sees_a_round_or_a_shard_named_in_a_plain_module():
    # (the check itself, by mutation: the round's pairs.csv defined again in write.py, the round's stages
    # named in job.py, a shard's record read in decide.py, a round's word in summary.py; each is found)
    trees = job_trees()
    mutations = {
        "cryodedup.jobs.micrographs.write": "class PairsCsv:\n    pass\n",
        "cryodedup.jobs.micrographs.job": "def f(stages):\n    return isinstance(stages, MicrographRound)\n",
        "cryodedup.jobs.micrographs.decide": "from .shard_record import MicrographShardRecord\n",
        "cryodedup.jobs.micrographs.summary": "last_round: int = 0\n",
        # (and each of the particle job's moved back: issue 92's rule, record text, plan and section)
        "cryodedup.jobs.particles.decide": "class Rule:\n    EARLIER_ROUND = 11\n",
        "cryodedup.jobs.particles.record": "KEPT_EARLIER = '(kept by an earlier round)'\n",
        "cryodedup.jobs.particles.plan": "class RoundPlan:\n    pass\n",
        "cryodedup.jobs.particles.summary": "update: UpdateRound | None = None\n",
    }
    for module, source in mutations.items():
        trees[module] = ast.Module(body=[*trees[module].body, *ast.parse(source).body], type_ignores=[])
    found = round_and_shard_names_in_plain_modules(trees)
    assert {module: found[module] for module in mutations} == {
        "cryodedup.jobs.micrographs.write": ["PairsCsv"],
        "cryodedup.jobs.micrographs.job": ["MicrographRound"],
        "cryodedup.jobs.micrographs.decide": ["MicrographShardRecord"],
        "cryodedup.jobs.micrographs.summary": ["last_round"],
        "cryodedup.jobs.particles.decide": ["EARLIER_ROUND"],
        "cryodedup.jobs.particles.record": ["KEPT_EARLIER"],
        "cryodedup.jobs.particles.plan": ["RoundPlan"],
        "cryodedup.jobs.particles.summary": ["UpdateRound"],
    }


def test_the_check_sees_a_rounds_or_a_shards_word_in_any_form():
    # (issue 101's mutation: a round's count left and the shards' merge named in the plain decide.py)
    trees = job_trees()
    source = "rounds_left = 2\ndef f(x):\n    return merged_shards(x)\n"
    module = "cryodedup.jobs.particles.decide"
    trees[module] = ast.Module(body=[*trees[module].body, *ast.parse(source).body], type_ignores=[])
    assert round_and_shard_names_in_plain_modules(trees)[module] == ["merged_shards", "rounds_left"]


# --- what a round or a shard says in the plain path: its words in the strings (issue 101) ---

#: A runner's word in a string constant (docstrings aside): a round, a shard, a merge, their flags.
_RUNNER_TEXT = re.compile(r"\brounds?\b|\bshards?\b|\bmerge[ds]?\b|--update\b|--shard\b|--dask\b", re.IGNORECASE)

#: The strings of plain modules that still name a runner, and why (each found by the test: one gone fails it).
RUNNER_TEXT_LEFT = {
    # (left by issue 101: rule 11's name, which the record's table of rules numbers in the plain path)
    ("cryodedup.jobs.particles.decide", "earlier round"),
    # (left by issue 101: the summary's update field, which a round's runner fills, documented there)
    ("cryodedup.jobs.particles.summary", "`--update`: the `round`"),
    # (not a round: a pixel size that rounds to a binning)
    ("cryodedup.jobs.micrographs.plan", " rounds to bin "),
    ("cryodedup.jobs.micrographs.plan", "; give a --target-psize that rounds to bin "),
    # (advice to the user: which runs remove a pattern common to the images)
    ("cryodedup.jobs.micrographs.write", "Check the gain reference motion correction applied"),
}


def _docstrings(tree: ast.Module) -> set[int]:
    """The ids of a module's docstrings (its, its classes', its functions') and of its attributes' strings."""
    found = set()
    for n in ast.walk(tree):
        body = getattr(n, "body", None)  # (a lambda's body is one expression)
        for statement in body if isinstance(body, list) else []:
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                found.add(id(statement.value))
    return found


def runner_text_in_plain_modules(trees: dict[str, ast.Module]) -> list[tuple[str, str]]:
    """Each (plain module, the start of a string constant there) whose text names a runner, but those left."""
    runners = runner_modules()
    found = []
    for module, tree in trees.items():
        if module in runners or not any(module.startswith(f"cryodedup.jobs.{job}.") for job in RUNNERS):
            continue
        docs = _docstrings(tree)
        for n in ast.walk(tree):
            text = n.value if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs else ""
            if _RUNNER_TEXT.search(text) and not any(module == m and text.startswith(s) for m, s in RUNNER_TEXT_LEFT):
                found.append((module, text))
    return sorted(found)


def test_no_plain_module_says_a_runners_word():
    assert runner_text_in_plain_modules(job_trees()) == []


def test_every_string_left_is_still_there():
    # (the list of what is left shrinks with the code: a string gone from its module is taken off it)
    trees = job_trees()
    texts = {
        (module, n.value)
        for module, tree in trees.items()
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }
    assert [
        left for left in RUNNER_TEXT_LEFT if not any(m == left[0] and t.startswith(left[1]) for m, t in texts)
    ] == []


def test_the_check_sees_a_runners_word_in_a_string():
    # (issue 101's traces, by mutation: a rule named for a round, a shard's message, a flag in a plain module)
    trees = job_trees()
    mutations = {
        "cryodedup.jobs.particles.decide": "OTHER_RULES = {15: 'kept by a later round'}\n",
        "cryodedup.jobs.particles.write": "def f(warn):\n    warn(f'{1} rows of another shard')\n",
        "cryodedup.jobs.micrographs.decide": "PASSED = '--update'\n",
    }
    for module, source in mutations.items():
        trees[module] = ast.Module(body=[*trees[module].body, *ast.parse(source).body], type_ignores=[])
    assert runner_text_in_plain_modules(trees) == [
        ("cryodedup.jobs.micrographs.decide", "--update"),
        ("cryodedup.jobs.particles.decide", "kept by a later round"),
        ("cryodedup.jobs.particles.write", " rows of another shard"),
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


# --- stages as functions of their inputs (issue 101): no stage keeps anything on itself for another ---
#
# A job's stages hand on what the later ones need as what they return (``shape.Ran``); none assigns to
# ``self``, nor to an object it holds (``self.held.folder = ...``, ``self.round.overrides = ...``), after
# construction. A stage class is one that defines a stage (read, decide, write, summarise, report) or
# derives from one that does; each of its methods is read, but ``__init__`` and ``__post_init__``.

#: The stage classes whose methods may still assign to what they hold, and why (issue 101 says what is left).
KEEPS_STATE = {
    # (an --update round's stages open its store and its pairs.csv as they read, and commit them after the
    # report: the store is the round's transaction, which the round's runner is to hold)
    "cryodedup.jobs.micrographs.update_round.MicrographRound",
}

_CONSTRUCTION = {"__init__", "__post_init__"}


def _assigned_root(target: ast.expr) -> str | None:
    """The name an assignment's target hangs from where it is an attribute or an item (``self`` of ``self.a.b[0]``)."""
    if not isinstance(target, (ast.Attribute, ast.Subscript)):
        return None
    node: ast.expr = target
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _assignments_to_self(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """Each assignment in ``function`` to ``self`` or to what it holds, as written (``setattr`` on it too)."""
    if not function.args.args or function.args.args[0].arg != "self":
        return []
    found = []
    for node in ast.walk(function):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = [t for target in node.targets for t in _unpacked(target)]
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
            name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            if name in {"setattr", "__setattr__", "delattr"} and node.args:
                first = node.args[0]
                if (isinstance(first, ast.Name) and first.id == "self") or _assigned_root(first) == "self":
                    found.append(ast.unparse(node))
        found += [ast.unparse(t) for t in targets if _assigned_root(t) == "self"]
    return found


def _unpacked(target: ast.expr) -> list[ast.expr]:
    return [t for e in target.elts for t in _unpacked(e)] if isinstance(target, (ast.Tuple, ast.List)) else [target]


def all_job_trees() -> dict[str, ast.Module]:
    """Every module under jobs/, parsed, by full name."""
    return {
        "cryodedup." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts): ast.parse(p.read_text())
        for p in sorted(JOBS.rglob("*.py"))
    }


def stages_assigning_to_self(trees: dict[str, ast.Module]) -> dict[str, list[str]]:
    """Each stage class's method (``module.Class.method``) that assigns to ``self`` or to what it holds, and how."""
    classes = {
        f"{module}.{n.name}": n for module, tree in trees.items() for n in tree.body if isinstance(n, ast.ClassDef)
    }
    stage_names = set(shape_stage_names())
    stage_classes = {
        name
        for name, c in classes.items()
        if any(isinstance(f, ast.FunctionDef) and f.name in stage_names for f in c.body)
    }
    grown = True
    while grown:  # (a class deriving from a stage class, by its base's name, is one too)
        bases = {name.rpartition(".")[2] for name in stage_classes}
        more = {
            name
            for name, c in classes.items()
            if name not in stage_classes
            and any((b.id if isinstance(b, ast.Name) else getattr(b, "attr", "")) in bases for b in c.bases)
        }
        stage_classes |= more
        grown = bool(more)
    found = {}
    for name in sorted(stage_classes - KEEPS_STATE):
        for f in classes[name].body:
            if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name not in _CONSTRUCTION:
                assigned = _assignments_to_self(f)
                if assigned:
                    found[f"{name}.{f.name}"] = assigned
    return found


def shape_stage_names() -> tuple[str, ...]:
    from cryodedup.jobs.shape import STAGES

    return STAGES


def test_every_stage_class_is_found():
    # (the check sees the stages of every job: a rename that hid them would make it pass vacuously)
    trees = all_job_trees()
    stage_names = set(shape_stage_names())
    found = {
        f"{module}.{n.name}"
        for module, tree in trees.items()
        for n in tree.body
        if isinstance(n, ast.ClassDef) and any(isinstance(f, ast.FunctionDef) and f.name in stage_names for f in n.body)
    }
    assert {
        "cryodedup.jobs.particles.job.PlainParticleStages",
        "cryodedup.jobs.micrographs.job.MicrographStages",
        "cryodedup.jobs.micrographs.shards.MergedShardStages",
    } <= found


def test_no_stage_assigns_to_itself_or_to_what_it_holds():
    assert stages_assigning_to_self(all_job_trees()) == {}


def test_the_check_sees_a_stage_keeping_state():
    # (the check itself, by mutation: issue 101's side state put back, each in its own form, is found)
    trees = all_job_trees()
    mutations = {
        ("cryodedup.jobs.particles.job", "PlainParticleStages", "read"): "self.held.folder = folder",
        ("cryodedup.jobs.micrographs.job", "MicrographStages", "summarise"): "self.drawn = (read, decided.outcome)",
        ("cryodedup.jobs.particles.update", "ParticleRoundStages", "decide_rows"): "self.round.overrides = read.forced",
        ("cryodedup.jobs.particles.shards", "ParticleShardStages", "decide_rows"): "self.decided, x = rows, 1",
        ("cryodedup.jobs.micrographs.shards", "MergedShardStages", "read"): "object.__setattr__(self, 'scores', [])",
        ("cryodedup.jobs.particles.job", "PlainParticleStages", "write"): "self.plotted[0] += 1",
    }
    for (module, cls, method), line in mutations.items():
        (found,) = (
            f
            for c in trees[module].body
            if isinstance(c, ast.ClassDef) and c.name == cls
            for f in c.body
            if isinstance(f, ast.FunctionDef) and f.name == method
        )
        found.body = [*ast.parse(line).body, *found.body]
    assert stages_assigning_to_self(trees) == {
        "cryodedup.jobs.micrographs.job.MicrographStages.summarise": ["self.drawn"],
        "cryodedup.jobs.micrographs.shards.MergedShardStages.read": ["object.__setattr__(self, 'scores', [])"],
        "cryodedup.jobs.particles.job.PlainParticleStages.read": ["self.held.folder"],
        "cryodedup.jobs.particles.job.PlainParticleStages.write": ["self.plotted[0]"],
        "cryodedup.jobs.particles.shards.ParticleShardStages.decide_rows": ["self.decided"],
        "cryodedup.jobs.particles.update.ParticleRoundStages.decide_rows": ["self.round.overrides"],
    }


# --- the options read by name (issue 101: "the plan a value") ---
#
# A stage or a runner takes what it needs of the options as the plan's typed fields, not by the options'
# names: a read by key is a subscript or a ``.get()`` of a mapping of options (named ``given``, ``values``,
# ``options``: ``plan.given["plot"]``, ``run.options[name]``) by a string or a name (not a position), or any
# subscript or ``.get()`` whose key is a string naming an option (``record["min_dist"]``). Counted in every
# module of jobs/ but :data:`FOREIGN_OPTIONS`'.

#: The most reads by key allowed in jobs/ (issue 101: at most 5; 8 on 38714e37 by this count, 3 now:
#: a round's values of the deciding options for its store, the merge's rebuilding of the shards' options
#: from shard.json).
MOST_READS_BY_KEY = 5

#: Modules whose ``options`` are another program's, read from its files (the audit: a RELION job.star's).
FOREIGN_OPTIONS = {"cryodedup.jobs.audit.project"}

_OPTION_MAPPINGS = {"given", "values", "options"}


def _option_names() -> set[str]:
    from dataclasses import fields

    from cryodedup.options import MicrographOptions, ParticleOptions

    return {f.name for kind in (ParticleOptions, MicrographOptions) for f in fields(kind)}


def _container_name(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def reads_by_key(trees: dict[str, ast.Module]) -> list[str]:
    """Each read of an option by its name in ``trees``: ``module:line: source``."""
    names = _option_names()
    found = []
    for module, tree in trees.items():
        if module in FOREIGN_OPTIONS:
            continue
        for n in ast.walk(tree):
            container = key = None
            if isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Load):
                container, key = n.value, n.slice
            elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "get" and n.args:
                container, key = n.func.value, n.args[0]
            if container is None or key is None:
                continue
            text = isinstance(key, ast.Constant) and isinstance(key.value, str)
            by_name = text or isinstance(key, (ast.Name, ast.Attribute))  # (not a position, not a slice)
            named = text and key.value in names  # type: ignore[union-attr]
            if (by_name and _container_name(container) in _OPTION_MAPPINGS) or named:
                found.append(f"{module}:{n.lineno}: {ast.unparse(n)}")
    return sorted(found)


def test_the_options_are_read_by_name_at_most_five_times_in_jobs():
    found = reads_by_key(all_job_trees())
    assert len(found) <= MOST_READS_BY_KEY, found


def test_the_count_sees_each_form_of_a_read_by_name():
    # (the check itself, by mutation: the shard's refusal read from the options' values again, a record's
    # option read by its name, the plan's values read with .get; each is counted)
    source = "a = values['plot']\nb = record['min_dist']\nc = plan.given.get(name)\nd = x['rows'] + values[0]\n"
    assert reads_by_key({"m": ast.parse(source)}) == [
        "m:1: values['plot']",
        "m:2: record['min_dist']",
        "m:3: plan.given.get(name)",
    ]
