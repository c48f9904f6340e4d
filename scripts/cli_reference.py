#!/usr/bin/env python3
"""The CLI reference page (docs/reference/cli.md), made from the commands' one declaration.

    python scripts/cli_reference.py            # writes docs/reference/cli.md
    python scripts/cli_reference.py --check    # exit 1 when the page is stale (tests/project/test_docs.py)

Every option of every command comes from the click commands that ``cryodedup`` itself runs
(their options are declared once, in python/cryodedup/options/ and commands.py), so the page
cannot list an option the command line does not take, nor miss one it does.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "cli.md"

HEADER = """# Command line

Every command and option of `cryodedup`, generated from the declaration the command line
itself is made from (`python scripts/cli_reference.py`; a test fails when this page is stale).
`cryodedup COMMAND -h` prints the same in the terminal.
"""


def _option_row(param) -> str:
    import click

    names = ", ".join(f"`{n}`" for n in [*param.opts, *param.secondary_opts])
    kind = "flag" if getattr(param, "is_flag", False) else (param.metavar or _type_name(param.type)).replace("|", "\\|")
    if getattr(param, "multiple", False):
        kind += " (repeatable)"
    default = param.default
    unset = default is None or type(default).__name__ == "Sentinel" or callable(default)
    shown = "" if unset or default in (False, (), []) else f"`{default}`"
    if isinstance(param.type, click.Choice):
        kind = " \\| ".join(f"`{c}`" for c in param.type.choices)
    text = " ".join((param.help or "").split()).replace("|", "\\|")
    return f"| {names} | {kind} | {shown} | {text} |"


def _type_name(kind) -> str:
    name = getattr(kind, "name", "") or type(kind).__name__
    return name.upper() if name else "TEXT"


def _argument_line(param) -> str:
    many = " ..." if param.nargs == -1 else ""
    return f"`{param.human_readable_name}{many}`"


def render() -> str:
    import click

    from cryodedup import cli

    parts = [HEADER]
    group = cli.main
    ctx = click.Context(group, info_name="cryodedup")
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        arguments = [p for p in command.params if isinstance(p, click.Argument)]
        options = [p for p in command.params if isinstance(p, click.Option) and not p.hidden]
        usage = " ".join(["cryodedup", name, *(_argument_line(a).strip("`") for a in arguments), "[OPTIONS]"])
        parts.append(f"\n## `cryodedup {name}`\n\n```text\n{usage}\n```\n")
        doc = (command.help or "").strip()
        if doc:
            parts.append("\n" + inspect.cleandoc(doc.split("\f")[0]) + "\n")
        parts.append("\n| option | takes | default | meaning |\n|---|---|---|---|\n")
        parts.extend(_option_row(o) + "\n" for o in options)
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the page differs from the declaration")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not PAGE.is_file() or PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE} is stale: run python scripts/cli_reference.py", file=sys.stderr)
            return 1
        return 0
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
