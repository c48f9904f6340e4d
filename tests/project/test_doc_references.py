"""Every reference to a docs page resolves in a clone, and the contributor's guide stays a guide.

The code and the pages cite the docs by path (``docs/developers/decisions/same-image.md``), by anchor
(``docs/design.md#5-performance-bar``), by the guide's section number (``docs/design.md section 2``)
and by a quoted title (``docs/reference/api.md, "Errors by kind"``); the pages link to each other by
relative paths. A page moved, a heading renamed or a section renumbered leaves a reader with a
reference to nothing: each must name a page of the clone, and a heading (or a bold paragraph lead)
of that page. The oracle is the pages' own text: headings read with Python-Markdown's slug rule.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GUIDE = DOCS / "design.md"
#: The contributor's guide: the rules that bind and where each part lives; the rest in decision records.
GUIDE_BYTES = 60_000

#: Whitespace as a reference wraps over lines of a comment or docstring.
_WRAP = r"(?:\s|#:|#(?=\s)|//!|///)+"
#: A docs page named from the repository's root, with an anchor or not.
_CITED = re.compile(r"(?<![\w/.-])docs/((?:[\w.-]+/)*[\w-]+\.md)(?:#([\w-]+))?")
#: What may follow a page's name: its section numbers, its quoted title.
_SECTIONS = re.compile(r",?" + _WRAP + r"(?:sections?" + _WRAP + r")?(\d+)(?:" + _WRAP + r"and" + _WRAP + r"(\d+))?")
_TITLE = re.compile(r",?" + _WRAP + r"\(?\"([^\"]+)\"")
#: A relative link of a page: [text](path.md#anchor).
_LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s#]+\.md)(?:#([\w-]+))?\)")


def _sources() -> list[Path]:
    """Every file of the clone that may cite a docs page."""
    found = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "properdocs.yml", ROOT / "pyproject.toml"]
    for folder, patterns in {
        "python": ("*.py", "*.pyi"),
        "rust": ("*.rs",),
        "tests": ("*.py",),
        "scipion": ("*.py",),
        "docs": ("*.md",),
        "benches": ("*.py", "*.sh", "*.md"),
        "scripts": ("*.py", "*.sh"),
    }.items():
        for pattern in patterns:
            found += [p for p in (ROOT / folder).rglob(pattern) if "target" not in p.relative_to(ROOT).parts]
    return [p for p in found if p.is_file() and p != Path(__file__).resolve()]


def _slug(heading: str) -> str:
    """The anchor Python-Markdown's ``toc`` gives a heading (its default ``slugify``)."""
    text = re.sub(r"[`*_]", "", heading)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


@cache
def _page(path: Path) -> tuple[set[str], set[str], set[str]]:
    """A page's anchors, its numbered sections (``## 2. ...``) and its titles (headings and bold leads)."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, flags=re.MULTILINE)
    sections = {m.group(1) for h in headings if (m := re.match(r"(\d+)\.\s", h))}
    titles = {re.sub(r"\s+", " ", h.replace("`", "")) for h in headings}
    titles |= {re.sub(r"\s+", " ", b.replace("`", "")) for b in re.findall(r"\*\*(.+?)\*\*", text, flags=re.DOTALL)}
    return {_slug(h) for h in headings}, sections, titles


def _wrong(page: Path, anchor: str | None, rest: str) -> str | None:
    """What is wrong with a reference to ``page`` (its anchor, then the text after it), or None."""
    if not page.is_file():
        return "no such page"
    anchors, sections, titles = _page(page)
    if anchor and anchor not in anchors:
        return f"no heading with the anchor #{anchor}"
    numbered = _SECTIONS.match(rest)
    if numbered and page == GUIDE:
        missing = [n for n in numbered.groups() if n and n not in sections]
        if missing:
            return f"no section {', '.join(missing)}"
        rest = rest[numbered.end() :]
    titled = _TITLE.match(rest)
    if titled:
        title = re.sub(_WRAP, " ", titled.group(1)).strip()
        if not any(t.startswith(title) for t in titles):
            return f'no heading or bold paragraph "{title}"'
    return None


def _references(path: Path) -> list[tuple[int, str, str | None]]:
    """Each reference of a file: (line, what it names, what is wrong with it or None)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    found = []
    for m in _CITED.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        found.append((line, m.group(0), _wrong(DOCS / m.group(1), m.group(2), text[m.end() : m.end() + 200])))
    if path.suffix == ".md" and DOCS in path.parents:
        for m in _LINK.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            target = (path.parent / m.group(1)).resolve()
            found.append((line, m.group(0), _wrong(target, m.group(2), "")))
    return found


def test_every_reference_to_a_docs_page_names_a_page_a_heading_and_a_section_that_are_there():
    broken = [
        f"{path.relative_to(ROOT)}:{line}: {named}: {wrong}"
        for path in _sources()
        for line, named, wrong in _references(path)
        if wrong
    ]
    assert not broken, "\n".join(broken)


def test_the_references_are_found_where_the_code_cites_the_guide_and_its_records():
    # A pattern that found nothing would pass the test above however stale the references.
    named = [named for path in _sources() for _, named, _ in _references(path)]
    assert sum(n.startswith("docs/design.md") for n in named) >= 40, len(named)
    assert sum(n.startswith("docs/developers/decisions/") for n in named) >= 30, len(named)
    assert sum(n.startswith("](") for n in named) >= 100, len(named)


def test_no_file_cites_the_shared_notes_that_a_clone_does_not_have():
    citing = [str(p.relative_to(ROOT)) for p in _sources() if "DESIGN.md" in p.read_text(errors="replace")]
    assert not citing, f"cite docs/design.md or a decision record, which a clone has: {citing}"


def test_the_contributors_guide_is_at_most_60_kb_and_links_every_decision_record():
    assert GUIDE.stat().st_size <= GUIDE_BYTES, f"docs/design.md is {GUIDE.stat().st_size:,} bytes"
    guide = GUIDE.read_text(encoding="utf-8")
    records = sorted((DOCS / "developers" / "decisions").glob("*.md"))
    assert records
    unlinked = [p.name for p in records if f"](developers/decisions/{p.name})" not in guide]
    assert not unlinked, f"decision records the guide does not link: {unlinked}"


@pytest.mark.parametrize(
    ("cited", "rest", "wrong"),
    [
        ("design.md", " section 2", None),
        ("design.md", " section 99", "no section 99"),
        ("design.md", ",\n    #: sections 2 and 98", "no section 98"),
        ("reference/api.md", ', "Errors by kind"', None),
        ("reference/api.md", ', "Errors by nothing"', 'no heading or bold paragraph "Errors by nothing"'),
        ("no-such-page.md", "", "no such page"),
    ],
)
def test_a_reference_is_judged_by_its_page_its_section_and_its_title(cited, rest, wrong):
    assert _wrong(DOCS / cited, None, rest) == wrong
    assert _wrong(GUIDE, "5-performance-bar", "") is None
    assert _wrong(GUIDE, "5-performance", "") == "no heading with the anchor #5-performance"
