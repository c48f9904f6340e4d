"""The verdict: the one line a summary opens with (terminal, report.html, ``--json``).

What was kept and where, and what to check: each job makes its line from its summary in one
place (``jobs/particles/summary.py``, ``jobs/micrographs/write.py``); here what both share.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["gist", "named_files", "with_checks"]

#: A warning's gist in the verdict is cut to about this many characters (at a word).
GIST_WIDTH = 72

#: Where a warning starts by saying where ("particles.star: data_particles (line 17): ..."): left out of its gist.
_LEADING_PLACE = re.compile(r"^(?:[^\s:]*[/.][^\s:]*: )?(?:data_\w* \(line \d+\): )?")
#: A path in a gist ("/data/picks/a.cbox"; not "1/2", nor labels "rlnAngleRot/rlnAngleTilt"): named by its last
#: part (group 2), its folders (group 1) left out, but the last where two paths share that part (a/list.star).
_PATH = re.compile(r"(?<!\S)(?!\(?rln)(\S*[A-Za-z_]\S*/)([^\s/]+)(?=\s|$)")
#: Where a warning's first clause ends: its explanation, a detail in brackets, a consequence.
_CLAUSE_END = re.compile(r": |; | \(|, so |, and |\. ")

#: A first clause that only names an option ("--same-image: not checked ..."): the next one says what of it.
_OPTION_ONLY = re.compile(r"^--[\w-]+( [\w.-]+)?$")

#: Warnings whose first clause is not their point, and what their gist is (by a phrase of theirs).
_GISTS = (
    ("on different scales", "the inputs' scores are on different scales"),
    # (--prefer decided the groups it could: only those it left undecided fall to chance; first, as it says more)
    (
        "that --prefer leaves undecided keeps a seeded random",
        "no score: groups --prefer leaves undecided keep a random pick",
    ),
    ("keeps a seeded random particle", "no score: each group keeps a random particle"),
    # (pickers' inputs: "cryolo_out: no score in the picks, ...", a folder told from a clause by no dot nor slash)
    ("keeps a seeded random pick", "no score: each group keeps a random pick"),
)


def gist(warning: str) -> str:
    """A warning's short name for the verdict's "Check:": its first clause, without a leading file name.

    "--topaz-scale was not used: it scales ..." is "--topaz-scale was not used"; the full text
    stands under the verdict (terminal) or in the report's warning box.
    """
    for phrase, name in _GISTS:
        if phrase in warning:
            return name
    text = _short_paths(_LEADING_PLACE.sub("", warning.strip(), count=1))
    first, *rest = _CLAUSE_END.split(text, maxsplit=1)
    if _OPTION_ONLY.match(first) and rest and text.startswith(f"{first}: "):
        first = f"{first}: {_CLAUSE_END.split(rest[0], maxsplit=1)[0]}"
    text = first.strip().rstrip(".,")
    if len(text) > GIST_WIDTH:
        cut = text[:GIST_WIDTH].rsplit(" ", 1)[0]
        text = f"{cut}…"
    return text


def _short_paths(text: str) -> str:
    """Each path by its last part; by its folder and that part where two different paths end alike."""
    found = _PATH.findall(text)
    shared = {name for name in {n for _, n in found} if len({d for d, n in found if n == name}) > 1}

    def short(match: re.Match[str]) -> str:
        folders, name = match.group(1), match.group(2)
        parent = folders.rstrip("/").rsplit("/", 1)[-1]
        return f"{parent}/{name}" if name in shared and parent else name

    return _PATH.sub(short, text)


def with_checks(head: str, checks: Sequence[str]) -> str:
    """The verdict: ``head``, then what to check (each once, in order), if anything."""
    named = list(dict.fromkeys(c for c in checks if c))
    return f"{head}. Check: {'; '.join(named)}" if named else head


def named_files(files: Sequence[str]) -> str:
    """Output files as the verdict names them: the one to use next (a CryoSPARC group's ``.csg``), and how many more."""
    if not files:
        return ""
    main = next((f for f in files if f.endswith(".csg")), files[0])
    more = len(files) - 1
    return f"{main} (and {more:,} more file{'s' if more > 1 else ''})" if more else main
