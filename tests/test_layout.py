"""The package's layering: no import cycle (lazy and type-only imports counted), and the lower layers never
import the jobs. Read from the source with ast, so that an import inside a function counts like any other."""

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


def test_formats_and_the_algorithms_do_not_import_the_jobs():
    lower = ("cryodedup.formats", "cryodedup.algo", "cryodedup.model", "cryodedup.resolve")
    upper = ("cryodedup.jobs", "cryodedup.cli", "cryodedup.api", "cryodedup.plots")
    graph = import_graph()
    climbing = [
        (name, target)
        for name, targets in graph.items()
        if name.startswith(lower)
        for target in targets
        if target.startswith(upper)
    ]
    assert climbing == []


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
