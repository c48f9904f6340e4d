#!/usr/bin/env python3
"""Every module of the package and of the Rust crates, with the first line of what it says it holds.

    python scripts/module_map.py            # python/cryodedup/ and rust/, one module a line
    python scripts/module_map.py formats    # the modules whose path holds "formats"

The module map of docs/developers/index.md names the folders (tests/project/test_docs.py checks that it
names each); this lists the modules in them, read from their docstrings (``//!`` in Rust), so
that it cannot go stale.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def first_line(path: Path) -> str:
    """The first sentence line of a module's docstring (Python) or ``//!`` comment (Rust); "" without one."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        doc = ast.get_docstring(ast.parse(text)) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""
    comments = [line[3:].strip() for line in text.splitlines() if line.startswith("//!")]
    return comments[0] if comments else ""


def modules() -> list[Path]:
    """The package's modules and the crates' source files, relative to the repository, sorted."""
    found = [*(ROOT / "python" / "cryodedup").rglob("*.py"), *(ROOT / "rust").rglob("*.rs")]
    return sorted(p.relative_to(ROOT) for p in found if "__pycache__" not in p.parts and "target" not in p.parts)


def main(argv: list[str]) -> int:
    """Print the modules whose path holds ``argv[0]`` (every module without it)."""
    wanted = argv[0] if argv else ""
    for path in modules():
        if wanted in path.as_posix():
            print(f"{path.as_posix():58} {first_line(ROOT / path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
