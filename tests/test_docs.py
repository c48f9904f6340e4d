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
