"""What is public: ``cryodedup.__all__`` is the documented API, and each module's ``__all__`` is its seam.

Every module of the package names in ``__all__`` exactly the names that code outside it uses:
the package's other modules, the Scipion plugin, scripts/ and benches/.
A use is found in the source with ast, wherever it stands (an import inside a function counts):
``from module import name``, ``alias.name`` on a module imported as ``alias``, ``getattr(alias,
"name")``, a ``"module:name"`` string (the picker registry's readers, pyproject.toml's entry
points, the napari plugin's manifest), and the lazy tables (``_WHERE``) of the packages that
import their names when first used. Tests (and the fuzz harnesses) are not counted: they may import internals.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections import defaultdict
from pathlib import Path

import pytest

import cryodedup

PACKAGE = Path(cryodedup.__file__).parent
ROOT = Path(__file__).resolve().parents[2]
#: Code outside the package that uses it, where the checkout has it (an installed package has none).
#: Like the tests, the fuzz harnesses (fuzz/python) may reach internals: they are not counted.
OUTSIDE = ("scipion", "scripts", "benches")
#: The Rust extension: its names are the core's, declared in _core.pyi.
EXTENSION = "cryodedup._core"
ENTRY_POINT = re.compile(r"((?:cryodedup\.)?[\w.]+):(\w+)(?![\w.])")  # (not a file: ``module:napari.yaml``)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
KNOWN = {*MODULES, EXTENSION}


def bound_names(tree: ast.Module) -> set[str]:
    """The names a module binds at its top level (also in top-level ``if`` and ``try`` blocks)."""
    names: set[str] = set()
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.If):
            todo += node.body + node.orelse
        elif isinstance(node, ast.Try):
            todo += node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body]
    return names


def declared_all(tree: ast.Module) -> list[str] | None:
    """The module's ``__all__``: a list or tuple of string literals, or None when it has none."""
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        if isinstance(node, ast.AnnAssign):
            target = node.target
        if isinstance(target, ast.Name) and target.id == "__all__":
            value = node.value  # type: ignore[union-attr]
            assert isinstance(value, (ast.List, ast.Tuple)), "__all__ is not a list or tuple literal"
            assert all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in value.elts), "not all str"
            return [e.value for e in value.elts]  # type: ignore[attr-defined]
    return None


def resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    """The absolute name of a ``from ... import`` in module ``importer``."""
    if not level:
        return module or ""
    base = importer.split(".")[: len(importer.split(".")) - level + (1 if is_package else 0)]
    return ".".join(base + ([module] if module else []))


def module_and_name(dotted: str) -> tuple[str, str] | None:
    """``cryodedup.a.b.name`` as (the longest module of the package it starts with, the next name)."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        if ".".join(parts[:cut]) in MODULES:
            return ".".join(parts[:cut]), parts[cut]
    return None


def uses_in(path: Path, importer: str, is_package: bool) -> set[tuple[str, str]]:
    """The (module, name) pairs that the source ``path`` uses of the package's modules other than its own."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases: dict[str, str] = {}  # local name -> module of the package
    found: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = resolve(importer, is_package, node.level, node.module)
            for a in node.names:
                if f"{target}.{a.name}" in KNOWN:
                    aliases[a.asname or a.name] = f"{target}.{a.name}"
                elif target in MODULES:
                    found.add((target, a.name))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name in KNOWN:
                    aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = ENTRY_POINT.fullmatch(node.value)
            if match:
                module = match[1] if match[1].startswith("cryodedup") else f"cryodedup.{match[1]}"
                if module in MODULES:
                    found.add((module, match[2]))
    lookers = looked_up_by_argument(tree, aliases)
    for node in ast.walk(tree):
        chain: list[str] = []
        if isinstance(node, ast.Attribute):
            value: ast.expr = node
            while isinstance(value, ast.Attribute):
                chain.insert(0, value.attr)
                value = value.value
            if not (isinstance(value, ast.Name) and value.id in aliases):
                continue
            module = aliases[value.id]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in lookers:  # options_of("PARTICLES"): getattr(commands, name) inside
                module = lookers[node.func.id]
                chain = [a.value for a in node.args[:1] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            elif node.func.id == "getattr" and len(node.args) >= 2 and isinstance(node.args[0], ast.Name):
                module = aliases.get(node.args[0].id, "")
                name = node.args[1]
                chain = [name.value] if isinstance(name, ast.Constant) and isinstance(name.value, str) else []
            else:
                continue
        else:
            continue
        for attr in chain:
            if f"{module}.{attr}" not in KNOWN:
                if module and not (attr.startswith("__") and attr.endswith("__")):  # __file__ is no name of its
                    found.add((module, attr))
                break
            module = f"{module}.{attr}"
    if is_package:
        for node in tree.body:  # a lazy table: {"name": ".submodule"} resolved by __getattr__
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_WHERE" for t in node.targets):
                where = ast.literal_eval(node.value)
                found.update((f"{importer}.{module}", name) for name, module in where.items())
    return {(module, name) for module, name in found if module not in (importer, EXTENSION)}


def looked_up_by_argument(tree: ast.Module, aliases: dict[str, str]) -> dict[str, str]:
    """The functions that look their argument up in a module (``getattr(commands, name)``): function -> module."""
    found = {}
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            parameters = {a.arg for a in function.args.args}
            for call in ast.walk(function):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Name)
                    and call.func.id == "getattr"
                    and len(call.args) >= 2
                    and isinstance(call.args[0], ast.Name)
                    and call.args[0].id in aliases
                    and isinstance(call.args[1], ast.Name)
                    and call.args[1].id in parameters
                ):
                    found[function.name] = aliases[call.args[0].id]
    return found


_TREES: dict[str, ast.Module] = {}


def parse(module: str) -> ast.Module:
    if module not in _TREES:
        _TREES[module] = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    return _TREES[module]


def outside_sources() -> list[Path]:
    return [p for folder in OUTSIDE if (ROOT / folder).is_dir() for p in sorted((ROOT / folder).rglob("*.py"))]


def uses() -> dict[str, dict[str, set[str]]]:
    """module -> name -> where it is used from (modules, files, pyproject.toml)."""
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for module, path in MODULES.items():
        for target, name in uses_in(path, module, path.name == "__init__.py"):
            found[target][name].add(module)
    for path in outside_sources():
        for target, name in uses_in(path, "", False):
            found[target][name].add(str(path.relative_to(ROOT)))
    pyproject = ROOT / "pyproject.toml"
    # pyproject.toml's entry points, and the napari plugin's manifest (its commands' python_name)
    for path in [pyproject, *sorted(PACKAGE.rglob("napari.yaml"))]:
        if path.is_file():
            for match in ENTRY_POINT.finditer(path.read_text(encoding="utf-8")):
                if match[1] in MODULES:
                    found[match[1]][match[2]].add(path.name)
    return found


USES = uses()
PUBLIC_MODULES = [m for m in MODULES if m != "cryodedup"]


@pytest.mark.parametrize("module", list(MODULES))
def test_every_module_declares_all_with_names_it_defines(module):
    names = declared_all(parse(module))
    assert names is not None, f"{MODULES[module]} has no __all__"
    missing = set(names) - bound_names(parse(module))
    if missing and "__getattr__" in bound_names(parse(module)):  # names made when first asked for
        imported = importlib.import_module(module)
        missing = {n for n in missing if not hasattr(imported, n)}
    assert not missing, f"{module}.__all__ names what it does not define: {sorted(missing)}"
    assert len(set(names)) == len(names), f"{module}.__all__ repeats a name"


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_all_is_exactly_what_code_outside_the_module_uses(module):
    names = set(declared_all(parse(module)) or ())
    used = USES.get(module, {})
    hidden = {f"{name} (used by {', '.join(sorted(used[name]))})" for name in set(used) - names}
    assert not hidden, f"{module}: names used outside it, missing from its __all__: {sorted(hidden)}"
    unused = names - set(used)
    assert not unused, f"{module}.__all__ names what nothing outside it uses: {sorted(unused)}"


def test_the_package_uses_of_itself_are_in_its_public_api():
    used = set(USES.get("cryodedup", {}))
    assert used <= set(cryodedup.__all__), sorted(used - set(cryodedup.__all__))


def test_the_scan_finds_each_kind_of_use(tmp_path):
    """The scanner's oracle: a source written here, with each kind of use, and what it must find."""
    source = (
        "import cryodedup.formats.star.file\n"
        "import cryodedup.algo.dedup as dd\n"
        "from cryodedup.formats import sniff\n"
        "from cryodedup.errors import CryodedupError\n"
        "def f():\n"
        "    from .resolve.score import Score\n"
        "    cryodedup.formats.star.file.read_star\n"
        "    dd.dedup\n"
        "    getattr(sniff, 'sniff_format')\n"
        "    return 'formats.picks.cryolo:read_cryolo'\n"
    )
    path = tmp_path / "somewhere.py"
    path.write_text(source, encoding="utf-8")
    found = uses_in(path, "cryodedup.somewhere", False)
    assert found == {
        ("cryodedup.formats.star.file", "read_star"),
        ("cryodedup.algo.dedup", "dedup"),
        ("cryodedup.formats.sniff", "sniff_format"),
        ("cryodedup.errors", "CryodedupError"),
        ("cryodedup.resolve.score", "Score"),
        ("cryodedup.formats.picks.cryolo", "read_cryolo"),
    }


def documented_api() -> set[str]:
    page = (ROOT / "docs" / "reference" / "api.md").read_text(encoding="utf-8")
    return set(re.findall(r"^::: cryodedup\.(\w+)\s*$", page, flags=re.M))


def test_the_api_reference_documents_exactly_the_public_api():
    if not (ROOT / "docs").is_dir():
        pytest.skip("docs/ is not shipped with an installed package")
    assert documented_api() == set(cryodedup.__all__) - {"__version__"}
    assert all(hasattr(cryodedup, name) for name in cryodedup.__all__)


def test_the_api_reference_renders_only_public_members():
    """mkdocstrings shows a documented class's public members and no submodule of the package."""
    if not (ROOT / "properdocs.yml").is_file():
        pytest.skip("properdocs.yml is not shipped with an installed package")
    config = (ROOT / "properdocs.yml").read_text(encoding="utf-8")
    assert re.search(r'filters: \["!\^_"\]', config)
    assert re.search(r"show_submodules: false", config)
