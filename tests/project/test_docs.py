"""The documentation: the CLI reference page is the declaration's, the README fits a screen's reading."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "cli_reference.py"


def _cli_reference():
    if not SCRIPT.is_file():
        pytest.skip("scripts/ is not shipped with an installed package")
    spec = importlib.util.spec_from_file_location("cli_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_reference_page_is_made_from_the_declaration():
    reference = _cli_reference()
    page = reference.PAGE.read_text(encoding="utf-8")
    assert page == reference.render(), "docs/reference/cli.md is stale: run python scripts/cli_reference.py"


def test_the_cli_reference_lists_every_option_of_every_command():
    import click

    from cryodedup import cli

    page = _cli_reference().render()
    ctx = click.Context(cli.main, info_name="cryodedup")
    for name in cli.main.list_commands(ctx):
        command = cli.main.get_command(ctx, name)
        assert f"## `cryodedup {name}`" in page
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert f"`{param.opts[0]}`" in page, (name, param.opts)


def test_the_cli_reference_says_what_an_option_takes_as_its_help_does():
    # --min-dist and --mic-psize take "Å|NAME=Å,..." (the terminal's help says so); the page said FLOAT, so a
    # reader took --min-dist ribosome=120 or --mic-psize 10,b.star=12 for a mistake.
    page = _cli_reference().PAGE.read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith(("| `--min-dist` |", "| `--mic-psize` |"))]
    assert rows and all("| FLOAT |" not in row for row in rows), rows
    assert any("| Å\\|INPUT=Å,... |" in row for row in rows) and any("| Å\\|NAME=Å,... |" in row for row in rows), rows


def test_the_readme_fits_in_200_lines_and_its_links_lead_to_files():
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (ROOT / target).exists(), target


def test_each_changelog_line_is_one_short_change_naming_no_issue():
    # A user reads the CHANGELOG: a line of 1,000 characters holds several changes, and "issue 69" means nothing
    # outside the project's tracker.
    changelog = ROOT / "CHANGELOG.md"
    if not changelog.is_file():
        pytest.skip("CHANGELOG.md is not shipped with an installed package")
    lines = changelog.read_text(encoding="utf-8").splitlines()
    assert [(n, len(line)) for n, line in enumerate(lines, 1) if len(line) > 600] == []
    assert [n for n, line in enumerate(lines, 1) if re.search(r"\bissues?\s*#?\s*\d|#\d", line, flags=re.I)] == []
    # One change a line: a change wrapped onto the next line reads as two, so no line goes on from a bullet.
    releases = next(n for n, line in enumerate(lines) if line.startswith("## "))
    continued = [
        n
        for n, (before, line) in enumerate(zip(lines[releases:], lines[releases + 1 :]), releases + 2)
        if before.startswith("- ") and line.strip() and not line.startswith(("- ", "#"))
    ]
    assert continued == []


def _benchmark_results() -> str:
    results = ROOT / "benches" / "RESULTS.md"
    if not results.is_file():
        pytest.skip("benches/ is not shipped with an installed package")
    return results.read_text(encoding="utf-8")


def _benchmark_commands() -> dict[str, list[str]]:
    """Each benchmark script's commands quoted in a section of benches/RESULTS.md, by script name."""
    commands: dict[str, list[str]] = {}
    for section in re.split(r"^## ", _benchmark_results(), flags=re.M)[1:]:
        for command, script in re.findall(r"`((?:python|bash) benches/([\w.-]+\.(?:py|sh))[^`]*)`", section):
            commands.setdefault(script, []).append(command)
    return commands


def test_the_benchmark_results_are_the_current_rows_within_40_kb_and_300_characters_a_line():
    # A reader wants each benchmark's latest row, not the journal of every run (the runs stay in git):
    # a bound on lines alone let the file grow to 63.6 KB in 399 lines, one of 3,389 characters.
    text = _benchmark_results()
    size = len(text.encode("utf-8"))
    assert size <= 40_000, f"benches/RESULTS.md is {size:,} bytes, at most 40,000"
    wide = [(n, len(line)) for n, line in enumerate(text.splitlines(), 1) if len(line) >= 300]
    assert wide == [], f"benches/RESULTS.md: lines of 300 characters or more (line, length): {wide}"


def test_every_benchmark_script_has_a_section_of_results_naming_its_command():
    commands = _benchmark_commands()
    scripts = sorted(p.name for p in (ROOT / "benches").iterdir() if p.suffix in (".py", ".sh"))
    assert [s for s in scripts if s not in commands] == []
    # Runnable as written from the repository's root: the script is there and takes every option named.
    for script, quoted in commands.items():
        path = ROOT / "benches" / script
        assert path.is_file(), f"benches/RESULTS.md names benches/{script}, which is not there"
        source = path.read_text(encoding="utf-8")
        for option in {o for command in quoted for o in re.findall(r"\s(--[\w-]+)", command)}:
            assert option in source, f"benches/RESULTS.md runs benches/{script} with {option}, which it does not take"


def test_every_docs_page_is_in_the_sites_navigation():
    config = (ROOT / "properdocs.yml").read_text(encoding="utf-8")
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    listed = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", config, flags=re.M))
    assert pages == listed, (pages - listed, listed - pages)


@pytest.mark.slow
def test_the_docs_build_strictly_and_open_from_disk_where_properdocs_is_installed(tmp_path):
    pytest.importorskip("properdocs")
    pytest.importorskip("mkdocstrings")
    if not (ROOT / "properdocs.yml").is_file():
        pytest.skip("no properdocs.yml")
    import subprocess

    site = tmp_path / "site"
    run = subprocess.run(
        [sys.executable, "-m", *_readme_docs_command(), "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    # The README says to open site/index.html: from file:// (no server) a link to a folder shows the
    # folder's listing, not its index.html, so every link between the site's pages must name a file.
    # (404.html is a server's page, its links absolute.)
    folders = [
        (page.relative_to(site).as_posix(), href)
        for page in site.rglob("*.html")
        if page.name != "404.html"
        for href in re.findall(r'href="([^"#?]+)', page.read_text(encoding="utf-8"))
        if ":" not in href and not (page.parent / href).is_file()
    ]
    assert not folders, folders[:10]
    _opens_in_chromium(site)


def test_ci_installs_properdocs_and_builds_the_site_strictly_with_the_readmes_command():
    # Without the docs extra in CI the build test above skips, and a broken page would pass CI unseen.
    ci = ROOT / ".ci" / "run"
    if not ci.is_file():
        pytest.skip(".ci/run is not shipped with an installed package")
    text = ci.read_text(encoding="utf-8")
    extras = re.findall(r'pip install --quiet "\$1\[([\w,]+)\]"', text)
    assert any("docs" in found.split(",") and "test" in found.split(",") for found in extras), extras
    built = re.findall(r"^\s*(properdocs build[^\n&;|]*)$", text, flags=re.M)
    assert built and all(line.split()[:3] == _readme_docs_command() for line in built), built


def _readme_docs_command() -> list[str]:
    """The README's command that builds the site, as it is written after its ``pip install ".[docs]" &&``."""
    found = re.search(
        r'`pip install "\.\[docs\]" && (properdocs [^`]+)`', (ROOT / "README.md").read_text(encoding="utf-8")
    )
    assert found, 'README.md: no `pip install ".[docs]" && properdocs ...` command'
    return found.group(1).split()


def _opens_in_chromium(site: Path) -> None:
    """The site's first page opened from disk and its "Getting started" link followed, as a reader does."""
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium)
        page = browser.new_page()
        page.goto((site / "index.html").as_uri())
        with page.expect_navigation():
            page.eval_on_selector("a.md-nav__link[href$='getting-started.html']", "link => link.click()")
        assert page.title() == "Getting started - cryodedup", page.url
        browser.close()


# --- the pages' code blocks: each runs, or says why it cannot ------------------------------------------------

USER_PAGES = [p for p in sorted((ROOT / "docs").rglob("*.md")) if p.name not in ("design.md", "fuzzing.md")]
RUNNABLE = ("bash", "sh", "python")
ILLUSTRATIVE = re.compile(r"^<!-- illustrative: (\S.*\S) -->$")


def code_blocks(page: Path) -> list[tuple[int, str, str, str | None]]:
    """Each fenced block of ``page`` in a runnable language: (line, language, code, the reason it is illustrative)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\w+)", lines[i])
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            if fence.group(1) in RUNNABLE:
                before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
                why = ILLUSTRATIVE.match(before.strip())
                blocks.append((i + 1, fence.group(1), "\n".join(lines[i + 1 : end]) + "\n", why and why.group(1)))
            i = end
        i += 1
    return blocks


@pytest.mark.parametrize("page", USER_PAGES, ids=lambda p: p.relative_to(ROOT / "docs").as_posix())
@pytest.mark.slow
def test_every_code_block_of_a_page_runs_in_order_or_says_why_it_is_illustrative(page, tmp_path):
    import os
    import subprocess

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for line, language, code, illustrative in code_blocks(page):
        if illustrative:
            continue
        command = ["bash", "-euo", "pipefail", "-c", code] if language != "python" else [sys.executable, "-c", code]
        run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=600)
        assert run.returncode == 0, f"{page.name}:{line}: {run.stderr[-2000:]}"


def test_every_guide_has_a_walk_through_that_runs():
    # Issue 55: each guide walks through its workflow on shipped or generated data: a Python block
    # (the data) and shell commands, both run by the test above, not marked illustrative.
    for page in sorted((ROOT / "docs/guides").glob("*.md")):
        runnable = {language for _, language, _, why in code_blocks(page) if not why}
        assert {"bash", "python"} <= runnable, f"{page.name}: no runnable walk-through ({runnable or 'no block'})"


def test_the_walk_through_blocks_are_found_and_the_others_give_a_reason():
    blocks = {p.relative_to(ROOT / "docs").as_posix(): code_blocks(p) for p in USER_PAGES}
    run = [(page, line) for page, found in blocks.items() for line, _, _, why in found if not why]
    assert [page for page, _ in run].count("guides/particles.md") == 7, run
    assert all(why is None or len(why) > 10 for found in blocks.values() for *_, why in found)


# --- the developers' module map: every room of the package and every Rust file named -------------------------

DEVELOPERS = ROOT / "docs" / "developers" / "index.md"
PACKAGE = ROOT / "python" / "cryodedup"


def map_entries() -> dict[str, str]:
    """The module map's entries (the first code block of docs/developers/index.md): name -> its text.

    An entry starts at a line whose first 22 characters hold a name (``  jobs/particles/``, or
    several: ``  labels.py, outputs.py, errors.py``); an indented name belongs to the unindented
    entry above it (``python/cryodedup/`` + ``jobs/``). Its text runs to the next entry.
    """
    block = DEVELOPERS.read_text(encoding="utf-8").split("```")[1].splitlines()[1:]
    entries: dict[str, str] = {}
    top, names = "", []
    for line in block:
        left = line[:22].strip()
        if left:
            names_part = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
            indented = line.startswith(" ")
            if not indented:
                top = names_part
            names = [(top if indented else "") + name.strip() for name in names_part.split(",")]
            for name in names:
                entries[name] = ""
        for name in names:
            entries[name] += " " + line.strip()
    return entries


def package_rooms() -> set[str]:
    """The package's folders (each with an ``__init__.py``) and top-level modules, as the map names them."""
    rooms = {f"python/cryodedup/{p.parent.relative_to(PACKAGE).as_posix()}/" for p in PACKAGE.rglob("__init__.py")}
    rooms.discard("python/cryodedup/./")
    rooms |= {f"python/cryodedup/{p.name}" for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    examples = PACKAGE / "examples"
    return rooms | ({"python/cryodedup/examples/"} if examples.is_dir() else set())


def test_the_module_map_names_every_room_of_the_package_and_nothing_else():
    # Issue 66: the map is cut to folders (and top-level modules), so a module added to a folder
    # does not make it stale; a folder or a top-level module added, moved or removed does.
    named = {name for name in map_entries() if name.startswith("python/cryodedup/") and name != "python/cryodedup/"}
    rooms = package_rooms()
    assert not rooms - named, f"not in docs/developers/index.md's module map: {sorted(rooms - named)}"
    assert not named - rooms, f"named in the module map but not in the package: {sorted(named - rooms)}"


def _rust_entry(path: Path) -> str:
    """The map's entry a Rust file is described in."""
    parts = path.relative_to(ROOT / "rust").parts
    if parts[0] == "python":
        return "rust/python/"
    if parts[1] == "src" and parts[2] in ("io", "algo"):
        return f"rust/core/src/{parts[2]}/"
    return "rust/core/" if parts[1] == "build.rs" else "rust/core/src/"


def test_the_module_map_names_every_rust_file_in_its_folders_entry():
    entries = map_entries()
    missing = [
        path.relative_to(ROOT).as_posix()
        for path in sorted((ROOT / "rust").rglob("*.rs"))
        if "target" not in path.parts
        and path.name not in ("lib.rs", "mod.rs")
        and not re.search(rf"(?<![\w.]){re.escape(path.name)}", entries.get(_rust_entry(path), ""))
    ]
    assert not missing, f"not in their entry of docs/developers/index.md's module map: {missing}"


def test_the_module_list_is_made_from_the_code():
    # scripts/module_map.py lists every module the map leaves to it, with its docstring's first line.
    if not (ROOT / "scripts" / "module_map.py").is_file():
        pytest.skip("scripts/ is not shipped with an installed package")
    import subprocess

    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "module_map.py")], capture_output=True, text=True, check=True
    )
    listed = {line.split()[0]: line.split(maxsplit=1)[1:] for line in done.stdout.splitlines()}
    modules = {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    assert modules <= set(listed)
    assert all(listed[module] for module in modules), [m for m in modules if not listed[m]]
    assert "rust/core/src/algo/dedup/mod.rs" in listed


#: A file name in the map's text: ``plan.py``, ``formats/particles.py``, ``tests/fuzz_corpus.rs``.
_FILE_NAMED = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w-]+\.(?:py|pyi|rs|js|css|sh|md|toml|conf))\b")


def _named_file_is_there(entry: str, name: str) -> bool:
    """Whether ``name``, named in ``entry``'s text, is a file of the entry's folder (at any depth), or a path
    from the entry's folder or a folder above it (``formats/particles.py`` from ``python/cryodedup/jobs/``)."""
    folder = ROOT / entry if entry.endswith("/") else (ROOT / entry).parent
    if any((above / name).is_file() for above in (folder, *folder.parents) if ROOT in (above, *above.parents)):
        return True
    return any(found.as_posix().endswith(f"/{name}") for found in folder.rglob(Path(name).name))


def test_every_file_the_module_map_names_is_there():
    # A map that names a file of before (a module moved to another room, a Rust file made a folder) sends a
    # newcomer looking for what is not there: each file named must be found from its entry.
    missing = [
        (entry, name)
        for entry, text in map_entries().items()
        for name in _FILE_NAMED.findall(text)
        if not _named_file_is_there(entry, name)
    ]
    assert not missing, f"named in docs/developers/index.md's module map but not there: {missing}"
