"""The package's layering, read from the package as it is: every room (a top-level module or
subpackage) stands on one floor of :data:`FLOORS`, imports only rooms on its floor or below,
and no import cycle (lazy and type-only imports counted). Read from the source with ast, so
that an import inside a function counts like any other."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import cryodedup

PACKAGE = Path(cryodedup.__file__).parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports, wherever the import stands."""
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found.update(c for c in candidates if c in modules and not (own == c or own.startswith(c + ".")))
    return found  # (a package above the module is imported before it in any case: no arrow)


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imported_modules(path, set(paths)) for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle_in_the_package():
    graph = import_graph()
    assert cycles(graph) == []


#: The package's rooms, from the ground up: a room imports rooms of its own floor or below.
#: The package's own ``__init__`` stands apart: it names the public API lazily (PEP 562).
FLOORS = [
    {"errors", "signals", "paths"},  # the ground: no room imported (paths: the type of a path given)
    {"outputs"},  # atomic outputs, the output lock
    {"particle_set", "labels"},  # the ParticleSet every reader fills; input labels for people
    {"algo"},  # decisions on arrays
    {"resolve"},  # the decisions every reader makes alike (score, pixel size, micrograph names)
    {"formats", "options"},  # readers and writers, one module a format; the options and their checks
    {"report", "commands"},  # what a job tells its user; each command's options in order
    {"jobs", "cli_run"},  # read -> decide -> write; how the command line runs a job
    {"api", "cli"},  # the Python API and the command line
    # RELION External / CCP-EM jobs; the installed commands (copick's too); the napari plugin
    {"pipelines", "entry", "copick_command", "napari_plugin"},
    {"__main__"},
]


def room_of(module: str) -> str:
    """The room a module stands in: its top-level module or subpackage (``""`` for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_room_of_the_package_stands_on_one_floor():
    # A new room must be placed (else no rule guards it), and a floor names no room that is gone.
    rooms = {room_of(name) for name in import_graph()} - {"", "_core"}
    placed = [room for floor in FLOORS for room in floor]
    assert sorted(placed) == sorted(set(placed))  # each room on one floor
    assert set(placed) == rooms


def test_no_room_imports_a_room_above_it():
    floor_of = {room: k for k, floor in enumerate(FLOORS) for room in floor}
    climbing = sorted(
        (name, target)
        for name, targets in import_graph().items()
        if room_of(name)
        for target in targets
        if room_of(target) and room_of(target) != room_of(name)
        if floor_of[room_of(target)] > floor_of[room_of(name)]
    )
    assert climbing == []


#: The particle job's modules (jobs/particles/), from the ground up: each imports only those below it.
#: Its plan first (the options resolved once: it knows no other), the --update store (it knows no
#: other), the masks and edges (rows dropped before the dedup), the overrides matched to the rows
#: (--overrides: what the decision forces), the decision (the one-pass policy is the reader's question
#: to it), the reading, the record of rejections (made in Python, or the file a one-pass scan wrote:
#: what a stage's writing gives back), the summary, what the stages hand on (the summary counted among
#: it), the page of every micrograph (its partners the record's), the pictures, and the job's stages
#: (files and data in memory alike), which import no runner's module; the runners around them after it:
#: an --update round (its stages and its round_runner), the entrance that chooses the plain runner or a
#: round, a run in shards and their merge (its shard.json's record, which knows the options alone,
#: after the plan), Dask.
PARTICLE_JOB = [
    "plan",
    "shard_record",
    "store",
    "store_open",
    "regions",
    "overrides",
    "decide",
    "read",
    "record",
    "summary",
    "stages",
    "page",
    "pictures",
    "write",
    "job",
    "update",
    "entrance",
    "shards",
    "dask",
]


def test_every_module_of_the_particle_job_is_placed_and_imports_only_below_it():
    package = "cryodedup.jobs.particles"
    graph = import_graph()
    modules = sorted(name.rpartition(".")[2] for name in graph if name.startswith(package + "."))
    assert modules == sorted(PARTICLE_JOB)
    upward = [
        (module, target)
        for k, module in enumerate(PARTICLE_JOB)
        for target in graph[f"{package}.{module}"]
        if target.startswith(package + ".") and PARTICLE_JOB.index(target.rpartition(".")[2]) >= k
    ]
    assert upward == []


def test_no_module_takes_a_name_from_the_packages_face():
    # ``from .. import _core`` (or ``__version__``) asks the package's __init__ first, whose
    # lazy __getattr__ names the jobs and the API: every room would lean on the top of the
    # house. The extension is imported as itself (``import cryodedup._core as _core``, or
    # ``from .._core import name``); ``from .. import x`` names a module of the package only.
    modules = set(import_graph())
    taken = []
    for path in PACKAGE.rglob("*.py"):
        own = module_name(path)
        package = own if path.name == "__init__.py" else own.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level and not node.module:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                if base == "cryodedup":
                    taken += [f"{own}: {a.name}" for a in node.names if f"{base}.{a.name}" not in modules]
    assert taken == []


def test_the_package_imports_its_public_names_lazily():
    # ``import cryodedup`` loads the error types alone (cryodedup.errors, which imports nothing): the
    # command line loads only its job's modules.
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    eager = [
        node
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not (node.module or "").endswith("__future__")
    ]
    assert [(type(node), getattr(node, "module", None), getattr(node, "level", None)) for node in eager] == [
        (ast.ImportFrom, "errors", 1)
    ]
    assert {alias.name for alias in eager[0].names} >= {"CryodedupError", "PixelSizeError"}


def test_the_report_opens_no_file():
    # Formats know files, the report words and draws what the job hands it (arrays, a
    # micrograph's binned image): no module of report/ imports a reader of formats/. The
    # one module it may: formats/png.py (through the package), which encodes the pictures'
    # pixels into PNG bytes and reads no file.
    found = sorted(
        (name, target)
        for name, targets in import_graph().items()
        if room_of(name) == "report"
        for target in targets
        if room_of(target) == "formats" and target not in ("cryodedup.formats", "cryodedup.formats.png")
    )
    assert found == []


def test_one_format_detector():
    # A CryoSPARC file and a glob are told apart in formats/sniff.py alone; the others ask it.
    spellings = ('".cs", ".csg"', '"*?["', "has_magic")
    found = [
        (str(path.relative_to(PACKAGE)), text)
        for path in PACKAGE.rglob("*.py")
        if path.name != "sniff.py"
        for text in spellings
        if text in path.read_text()
    ]
    assert found == []


def field_constants(path: Path) -> set[str]:
    """The string constants of a module that are a whole field name (``rlnX``, ``slot/name``), prose aside."""
    return {
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and FIELD.fullmatch(node.value)
    }


FIELD = re.compile(r"rln[A-Za-z]+|[a-z_]+/[a-z_A-Z]+")


@pytest.mark.parametrize(
    ("package", "fields"),
    [
        # a micrographs STAR's pixel sizes: its optics table, or RELION 3.0's detector pixel size and magnification
        ("star", {"rlnMicrographPixelSize", "rlnDetectorPixelSize", "rlnMagnification"}),
        # CryoSPARC exposures: each micrograph's path, pixel size and shape
        ("cryosparc", {"micrograph_blob/path", "micrograph_blob/psize_A", "micrograph_blob/shape"}),
    ],
)
def test_a_formats_tables_are_read_in_its_own_package_alone(package, fields):
    # One module a format: what a micrographs STAR or CryoSPARC's exposures say of a micrograph
    # is read in formats/star/ or formats/cryosparc/ only; every other module asks them.
    home = PACKAGE / "formats" / package
    found = sorted(
        (str(path.relative_to(PACKAGE)), name)
        for path in PACKAGE.rglob("*.py")
        if home not in path.parents
        for name in field_constants(path) & fields
    )
    assert found == []


def picker_modules() -> list[Path]:
    """The modules of one picker format each (the job's reader of picks and the shared module aside)."""
    return sorted(
        p
        for p in (PACKAGE / "formats" / "picks").glob("*.py")
        if p.name not in ("__init__.py", "particles.py", "write.py")
    )


def test_a_picker_never_chooses_its_score_itself():
    # Each picker states what it writes and what its files hold; own_score (resolve_score) chooses.
    assert {p.stem for p in picker_modules()} >= {"cryolo", "eman", "relion", "topaz"}
    decided = []
    for path in picker_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "build":
                chosen = node.args[0] if node.args else None
                by_resolver = isinstance(chosen, ast.Call) and getattr(chosen.func, "id", None) == "own_score"
                if not by_resolver or len(node.args) + len(node.keywords) != 1:
                    decided.append(f"{path.name}:{node.lineno} build({ast.unparse(node)[:60]})")
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in [t for tuple_ in targets for t in getattr(tuple_, "elts", [tuple_])]:
                if isinstance(target, ast.Attribute) and target.attr in ("score_name", "higher_is_better"):
                    decided.append(f"{path.name}:{node.lineno} sets .{target.attr}")
    assert decided == []
    own_score = (PACKAGE / "formats" / "picks" / "__init__.py").read_text().split("def own_score", 1)[1]
    assert "resolve_score(" in own_score.split("\ndef ", 1)[0]


#: The pixel-size policy of resolve/: what agrees with a typed pixel size, which source wins.
PIXEL_SIZE_POLICY = {
    "cryodedup.resolve.given_psize",
    "cryodedup.resolve.pixel_size",
    "cryodedup.resolve.tomogram_psize",
}
#: What formats/ still takes from resolve/ (issue 66 item 3 moved the pixel size out: the job
#: decides its source and judges a typed one, the readers state what their files say). These are
#: the score's and the micrograph names' policies, and the datasets' identity of optics groups:
#: a new one is refused, and each one taken off is one fewer walk formats -> resolve.
FORMATS_ON_RESOLVE = {
    ("cryodedup.formats.cryosparc.particles", "cryodedup.resolve"),
    ("cryodedup.formats.dynamo", "cryodedup.resolve"),
    ("cryodedup.formats.microscope", "cryodedup.resolve"),
    ("cryodedup.formats.micrograph_lists", "cryodedup.resolve.micrograph_names"),
    ("cryodedup.formats.particles", "cryodedup.resolve"),
    ("cryodedup.formats.picks", "cryodedup.resolve"),
    ("cryodedup.formats.picks.particles", "cryodedup.resolve"),
    ("cryodedup.formats.picks.topaz", "cryodedup.resolve"),
    ("cryodedup.formats.star.particle_table", "cryodedup.resolve.score"),
    ("cryodedup.formats.star.particles", "cryodedup.resolve.datasets"),
}


def _pixel_size_policy_of(module: str, graph: dict[str, set[str]]) -> set[str]:
    """What of resolve's pixel-size policy ``module`` imports (``resolve``'s own names count as its modules')."""
    path = next(p for p in PACKAGE.rglob("*.py") if module_name(p) == module)
    taken = set(graph[module] & PIXEL_SIZE_POLICY)
    init = ast.parse((PACKAGE / "resolve" / "__init__.py").read_text())
    policy_names = {
        alias.name
        for node in ast.walk(init)
        if isinstance(node, ast.ImportFrom) and node.module in ("pixel_size", "given_psize", "tomogram_psize")
        for alias in node.names
    }
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("resolve") and node.level:
            taken |= {f"resolve.{alias.name}" for alias in node.names if alias.name in policy_names}
    return taken


def test_the_readers_of_lists_and_metadata_state_what_their_files_hold_and_decide_nothing():
    # A micrographs list's reader states its pixel sizes (StatedPixelSizes), resolve/ judges a
    # typed one against them; the metadata reader reads acquisitions, the micrograph job places
    # them (shift calibration, beam, revisits: algo/ and jobs/micrographs/placement.py).
    graph = import_graph()
    stating = ["cryodedup.formats.micrograph_lists", "cryodedup.formats.star.micrographs"]
    assert {m: _pixel_size_policy_of(m, graph) for m in stating} == {m: set() for m in stating}
    assert sorted(t for t in graph["cryodedup.formats.microscope"] if room_of(t) == "algo") == []


def test_no_reader_takes_the_pixel_size_policy():
    # The pixel size is resolved in resolve/ alone: the job asks pixel_size_source for each input's
    # source (Scale.psize_from) and hands the readers judge_typed_psize (Scale.judge_psize); a reader
    # states what its files say (particle_set's Evidence, StatedPixelSizes, TypedPixelSize) and
    # imports nothing of resolve.pixel_size or resolve.given_psize (on issue 66's main: 5 readers, 7 imports).
    graph = import_graph()
    judging = {m: _pixel_size_policy_of(m, graph) for m in graph if room_of(m) == "formats"}
    assert {m: taken for m, taken in judging.items() if taken} == {}
    from_formats = {(m, t) for m, targets in graph.items() if room_of(m) == "formats" for t in targets}
    assert {(m, t) for m, t in from_formats if room_of(t) == "resolve"} == FORMATS_ON_RESOLVE


# --- sizes (issue 66): short functions, modules a reader can hold ------------------------------------------

#: Lines a function may span (``def`` to its last line, docstring included), and how many may span more.
LONG_FUNCTION, LONG_FUNCTIONS_ALLOWED = 80, 3
#: Lines a module may hold.
LONG_MODULE = 900


def long_functions(source: str) -> list[tuple[str, int]]:
    """(name, lines) of each function of ``source`` over :data:`LONG_FUNCTION` lines, counted with ast."""
    return [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > LONG_FUNCTION
    ]


def test_the_length_count_sees_a_long_function_nested_or_not():
    body = "".join(f"    x{k} = {k}\n" for k in range(LONG_FUNCTION))
    source = (
        f"def long():\n{body}\n\ndef short():\n    def inner():\n{body.replace('    ', '        ')}    return inner\n"
    )
    # long: its def and 80 lines; inner: the same; short: those and 2 more (the 81-line edge: over)
    assert long_functions(source) == [("long", 81), ("short", 83), ("inner", 81)]
    assert long_functions("def f():\n" + "    pass\n" * (LONG_FUNCTION - 1)) == []


def test_at_most_three_functions_over_80_lines_and_no_module_over_900():
    long, large = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        where = path.relative_to(PACKAGE).as_posix()
        long += [f"{where} {name} ({lines})" for name, lines in long_functions(source)]
        if len(source.splitlines()) > LONG_MODULE:
            large.append(f"{where} ({len(source.splitlines())})")
    assert large == [], f"modules over {LONG_MODULE} lines: {large}"
    assert len(long) <= LONG_FUNCTIONS_ALLOWED, f"functions over {LONG_FUNCTION} lines: {long}"


#: Lines a Rust file may hold (a module folder's files split by concern past it).
LONG_RUST_FILE = 1000


def test_no_rust_file_over_1000_lines():
    rust = PACKAGE.parent.parent / "rust"
    if not rust.is_dir():
        pytest.skip("rust/ is not shipped with an installed package")
    files = [path for path in rust.rglob("*.rs") if "target" not in path.relative_to(rust).parts]
    sizes = {path.relative_to(rust).as_posix(): len(path.read_bytes().splitlines()) for path in files}
    assert len(sizes) > 50, "the Rust sources were not found"
    large = sorted(f"{name} ({lines})" for name, lines in sizes.items() if lines > LONG_RUST_FILE)
    assert large == [], f"Rust files over {LONG_RUST_FILE} lines: {large}"


# --- the whole options for one field (issue 66) ------------------------------------------------------------

#: Functions that take a whole options object, read at most one field of it and hand it to nothing: none
#: (the particle job's stages take its plan's values, jobs/particles/plan.py). A new one takes the value.
WHOLE_OPTIONS_FOR_ONE_FIELD = {"ParticleOptions": 0, "MicrographOptions": 0}


def whole_options_uses(source: str, options: str) -> list[tuple[str, int, int]]:
    """(function, fields read, times passed on) of each function of ``source`` with a parameter typed ``options``."""
    uses = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
        typed = [a.arg for a in arguments if a.annotation is not None and options in ast.unparse(a.annotation)]
        if not typed:
            continue
        fields, passed = set(), 0
        for sub in ast.walk(node):
            if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == typed[0]:
                fields.add(sub.attr)
            if isinstance(sub, ast.Call):
                given = [*sub.args, *(k.value for k in sub.keywords)]
                passed += sum(isinstance(a, ast.Name) and a.id == typed[0] for a in given)
        uses.append((node.name, len(fields), passed))
    return uses


def test_the_options_count_sees_fields_read_and_options_passed_on():
    source = (
        "def one(options: ParticleOptions) -> bool:\n    return options.plot and options.plot\n\n"
        "def on(particles, opts: ParticleOptions | None):\n    return decide(particles, opts, opts.min_dist)\n\n"
        "def two(options: 'ParticleOptions'):\n    return options.audit or options.plot\n\n"
        "def other(options: MicrographOptions):\n    return options.plot\n"
    )
    assert whole_options_uses(source, "ParticleOptions") == [("one", 1, 0), ("on", 1, 1), ("two", 2, 0)]


@pytest.mark.parametrize("options", sorted(WHOLE_OPTIONS_FOR_ONE_FIELD))
def test_few_functions_take_the_whole_options_for_one_field(options):
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        uses = whole_options_uses(path.read_text(encoding="utf-8"), options)
        where = path.relative_to(PACKAGE).as_posix()
        found += [f"{where} {name}" for name, fields, passed in uses if fields <= 1 and passed == 0]
    allowed = WHOLE_OPTIONS_FOR_ONE_FIELD[options]
    why = f"{len(found)} functions take a whole {options} for one field (at most {allowed}): give the value"
    assert len(found) <= allowed, f"{why}: {found}"


# --- Python 3.9 (requires-python) ------------------------------------------------------------------------


def _runtime_unions(source: str) -> list[int]:
    """Lines of module-level assignments whose value joins types with ``|`` (evaluated at import: 3.10+)."""

    def typeish(node: ast.expr) -> bool:
        return isinstance(node, (ast.Subscript, ast.Name, ast.Attribute)) or (
            isinstance(node, ast.Constant) and node.value is None
        )

    found = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            for inner in ast.walk(node.value):
                joined = isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.BitOr)
                if joined and isinstance(inner.left, ast.Subscript) and typeish(inner.right):
                    found.append(node.lineno)
    return found


def test_runtime_unions_are_found():
    assert _runtime_unions("Held = list[list[int]] | None\nflags = A | B\n") == [1]


def test_no_type_alias_joins_types_with_a_bar_at_import():
    # CPython 3.9 (pyproject's requires-python, CI's second interpreter) raises TypeError on
    # list[int] | None evaluated at import: a module-level alias must say Optional[...] or Union[...].
    found = [
        f"{path.relative_to(PACKAGE).as_posix()}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in _runtime_unions(path.read_text(encoding="utf-8"))
    ]
    assert found == []
