"""The documentation: the CLI reference page is the declaration's, the README fits a screen's reading."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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


def test_the_readme_fits_in_200_lines_and_its_links_lead_to_files():
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (ROOT / target).exists(), target


def test_every_docs_page_is_in_the_sites_navigation():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    listed = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", config, flags=re.M))
    assert pages == listed, (pages - listed, listed - pages)


@pytest.mark.slow
def test_the_docs_build_strictly_where_mkdocs_is_installed(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    if not (ROOT / "mkdocs.yml").is_file():
        pytest.skip("no mkdocs.yml")
    import subprocess

    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]


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
