"""Which micrograph names stand for one micrograph (``--match-micrographs``).

Re-processing names one micrograph differently: motion-corrected again into another job
folder (``MotionCorr/job099/`` instead of ``MotionCorr/job002/``), or by CryoSPARC
(``J12/motioncorrected/<uid>_name_patch_aligned_doseweighted.mrc``) instead of RELION
(``MotionCorr/job002/Movies/name.mrc``). Compared by exact path, such inputs share no
micrograph and none of their copies is found. ``name`` matches micrographs by their file
name with what the tools add removed (:func:`name_key`); ``auto`` does so only between
inputs that share no path. A file name found in two folders of one input names two
micrographs (relion issue 615: four MotionCorr jobs of four datasets with the same movie
names): those are never merged, and are matched by exact path only. docs/developers/decisions/matching-micrographs.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

import cryodedup._core as _core

from ..algo.dedup import picks_per_group
from ..errors import CryodedupError, alternatives
from ..particle_set import ParticleSet, Warn

__all__ = [
    "MATCH_MODES",
    "check_match_mode",
    "listed_by_file_name",
    "match_micrographs",
    "match_particle_set",
    "name_key",
]

#: Values of ``--match-micrographs`` (docs/developers/decisions/matching-micrographs.md).
MATCH_MODES = ("auto", "path", "name")


def check_match_mode(mode: object) -> None:
    """Refuses a ``--match-micrographs`` value other than auto, path or name."""
    if mode not in MATCH_MODES:
        raise CryodedupError(f"--match-micrographs is {alternatives(MATCH_MODES)}, got {mode!r}")


#: File extensions of micrographs and movies, removed (repeatedly) from the end of a name:
#: MRC images and stacks, TIFF and EER movies, and bzip2-compressed MRC movies (``.mrc.bz2``,
#: which CryoSPARC's motion correction reads). Compared without regard to case.
EXTENSIONS = (".mrc", ".mrcs", ".tif", ".tiff", ".eer", ".bz2")
#: What motion correction and acquisition add to the end of a movie's name, removed
#: (repeatedly, without regard to case) after the extension: CryoSPARC's Patch Motion
#: (``_patch_aligned_doseweighted``, ``_patch_aligned``) and Full-frame Motion
#: (``_rigid_aligned``) outputs, MotionCor2's dose-weighted sum (``_DW``), RELION's sum without
#: dose weighting (``_noDW``), and EPU's movie name (``_Fractions``, ``_fractions``).
SUFFIXES = ("_patch_aligned_doseweighted", "_patch_aligned", "_rigid_aligned", "_DW", "_noDW", "_Fractions")
#: The uid CryoSPARC puts before the file names it writes: 21 digits and an underscore.
CRYOSPARC_UID = re.compile(r"^[0-9]{21}_(?=.)")


def name_key(name: str) -> str:
    """A micrograph's file name with the folders and what the tools add removed.

    ``J12/motioncorrected/003164745126225829418_mic_7_patch_aligned_doseweighted.mrc`` and
    ``MotionCorr/job002/Movies/mic_7.mrc`` both give ``mic_7``. Only the listed extensions
    are removed, so that a Leginon movie's ``x.frames.mrc`` keeps its ``x.frames``.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _strip_endings(base, _EXTENSIONS_LOWER)
    base = CRYOSPARC_UID.sub("", base)
    return _strip_endings(base, _SUFFIXES_LOWER) or base


_EXTENSIONS_LOWER = tuple(e.lower() for e in EXTENSIONS)
_SUFFIXES_LOWER = tuple(e.lower() for e in SUFFIXES)


def _strip_endings(text: str, lowered: tuple[str, ...]) -> str:
    """``text`` without any of the ``lowered`` endings at its end, removed as long as one is (never to nothing)."""
    # One str.endswith over the tuple first: most names end in none, and this runs for every
    # micrograph of every input (10,000 of them in a 1M-particle job); a plain loop finds the
    # ending (a generator here cost a particle job of 5,000 micrographs 0.1 G instructions).
    low = text.lower()
    while low.endswith(lowered):
        for ending in lowered:
            if low.endswith(ending) and len(text) > len(ending):
                text = text[: -len(ending)]
                break
        else:
            return text
        low = text.lower()
    return text


@dataclass
class Shared:
    """A file name found in several folders of one input: micrographs kept apart."""

    input: int
    key: str
    names: list[str]


@dataclass
class Match:
    """The micrographs of several inputs matched.

    ``same[name]`` is the name of the micrograph each micrograph name stands for (itself
    when it is matched by exact path only); ``by_name`` counts the micrographs reached under
    several paths; ``example`` is one such pair; ``shared`` the file names kept apart within
    an input; ``apart`` the names of micrographs of inputs that share paths, left unmatched
    by ``auto`` although their file names agree.
    """

    mode: str
    same: dict[str, str]
    by_name: int = 0
    example: tuple[str, str] | None = None
    shared: list[Shared] = field(default_factory=list)
    apart: list[tuple[str, str]] = field(default_factory=list)
    #: Pairs of inputs whose micrographs were compared by file name, and all pairs.
    pairs_by_name: int = 0
    pairs: int = 0

    def summary(self) -> dict:
        """The summary's ``micrograph_matching`` entry."""
        out: dict = {"mode": self.mode, "used": self.used(), "matched_by_name": self.by_name}
        if self.example:
            out["example"] = f"{self.example[0]} = {self.example[1]}"
        if self.shared:
            out["kept_apart"] = sum(len(s.names) for s in self.shared)
        if self.apart:
            out["not_matched"] = len(self.apart)
        return out

    def used(self) -> str:
        """How the micrographs were matched, in words: what was done, whether or not names matched any."""
        if self.mode == "path" or not self.pairs_by_name:
            shared = " (the inputs share micrograph paths)" if self.mode == "auto" and self.pairs else ""
            return "exact path" + shared
        if self.by_name:
            return "exact path, and file name for micrographs under different paths"
        if self.pairs_by_name < self.pairs:
            return (
                "file name between inputs that share no micrograph path, exact path between the others; "
                "no two inputs have a file name under different paths"
            )
        return "file name; no two inputs have a file name under different paths, so every match is an exact path"

    def warnings(self, inputs: Sequence[str]) -> list[str]:
        """One line per kind of micrograph left unmatched, naming the first few."""
        lines = []
        if self.shared:
            first = self.shared[0]
            others = f" (and {len(self.shared) - 1} more file names)" if len(self.shared) > 1 else ""
            lines.append(
                f"{inputs[first.input]}: the file name {first.key} is in {len(first.names)} folders "
                f"({', '.join(first.names[:3])}){others}; these are different micrographs of one input "
                "(as four MotionCorr jobs of four datasets would be), kept apart and matched by exact path only"
            )
        if self.apart:
            a, b = self.apart[0]
            lines.append(
                f"{len(self.apart)} micrograph(s) share a file name with a micrograph of another input under another "
                f"path ({a} and {b}) but were not compared: those inputs share other micrographs' paths "
                "(--match-micrographs auto); --match-micrographs name compares them"
            )
        return lines


def match_micrographs(names_by_input: Sequence[Sequence[str]], mode: str) -> Match:
    """Which micrograph names of the inputs stand for one micrograph.

    ``names_by_input`` holds each input's distinct micrograph names. The same name is always
    the same micrograph. With ``name``, micrographs of different inputs whose :func:`name_key`
    agree are one too, except a key that one input has under several names (kept apart, by
    path only). ``auto`` is ``name`` between inputs that share no name, and ``path`` between
    those that share one.
    """
    check_match_mode(mode)
    names_by_input = [list(dict.fromkeys(names)) for names in names_by_input]  # each name once per input
    if len(names_by_input) == 1:  # nothing to match across inputs: only what the input keeps apart (match.shared)
        names = names_by_input[0]
        match = Match(mode, dict(zip(names, names)))
        if mode != "path":
            _names_by_key(names_by_input, match)
        return match
    inputs_of: dict[str, list[int]] = {}
    for k, names in enumerate(names_by_input):
        for name in names:
            inputs_of.setdefault(name, []).append(k)
    match = Match(mode, {name: name for name in inputs_of})
    if mode == "path":
        return match  # exact strings, as asked: nothing kept apart or left out that names would join
    by_key = _names_by_key(names_by_input, match)
    share = _inputs_sharing(inputs_of) if mode == "auto" else set()
    match.pairs = len(names_by_input) * (len(names_by_input) - 1) // 2
    match.pairs_by_name = match.pairs - len(share)
    parent = {name: name for name in inputs_of}
    position = {name: k for k, name in enumerate(inputs_of)}  # a group is named by its first name

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for names in by_key.values():
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                pairs = [(k, m) for k in inputs_of[a] for m in inputs_of[b]]
                if any(k != m and (min(k, m), max(k, m)) not in share for k, m in pairs):
                    ra, rb = sorted((root(a), root(b)), key=position.__getitem__)
                    parent[rb] = ra
                elif root(a) != root(b):
                    match.apart.append((a, b))
    for name in inputs_of:
        match.same[name] = root(name)
    groups: dict[str, list[str]] = {}
    for name, same in match.same.items():
        groups.setdefault(same, []).append(name)
    merged = [members for members in groups.values() if len(members) > 1]
    match.by_name = len(merged)
    if merged:
        first = merged[0]
        match.example = (first[1], first[0])
    match.apart = [(a, b) for a, b in match.apart if match.same[a] != match.same[b]]
    return match


def _names_by_key(names_by_input: Sequence[Sequence[str]], match: Match) -> dict[int, list[str]]:
    """The names each file-name key gathers (by the key's number), without those of a key shared within one input.

    The shared keys are recorded in ``match.shared``. Only names whose key another name has
    can share or match (most names have a key of their own: nothing is looked at for them).
    """
    names = list(match.same)
    ids = name_key_ids(names)
    repeated = np.flatnonzero(np.bincount(ids)[ids] > 1)
    key_of = dict(zip([names[i] for i in repeated.tolist()], ids[repeated].tolist()))
    if not key_of:
        return {}
    excluded: set[str] = set()
    for k, input_names in enumerate(names_by_input):
        keys: dict[int, list[str]] = {}
        for name in input_names:
            if name in key_of:
                keys.setdefault(key_of[name], []).append(name)
        for same_key in keys.values():
            if len(same_key) > 1:
                match.shared.append(Shared(k, name_key(same_key[0]), same_key))
                excluded.update(same_key)
    by_key: dict[int, list[str]] = {}
    for name, key in key_of.items():
        if name not in excluded:
            by_key.setdefault(key, []).append(name)
    return {key: names for key, names in by_key.items() if len(names) > 1}


def name_key_ids(names: list[str]) -> np.ndarray:
    """Each name's :func:`name_key` as a number (uint32): equal for equal keys, numbered in order of first appearance.

    The core makes the keys (``name_key`` per name in Python cost 0.13 s for a 10M-particle
    job's 50,000 micrographs, on one core after the scan); a name the core cannot take (a
    lone surrogate, from a file name not in UTF-8) has them made here.
    """
    try:
        return _core.name_key_ids(names, list(_EXTENSIONS_LOWER), list(_SUFFIXES_LOWER))
    except UnicodeEncodeError:
        numbers: dict[str, int] = {}
        return np.array([numbers.setdefault(name_key(name), len(numbers)) for name in names], dtype=np.uint32)


def _inputs_sharing(inputs_of: dict[str, list[int]]) -> set[tuple[int, int]]:
    """The pairs of inputs (k < m) that have a micrograph name in common."""
    pairs = set()
    for inputs in inputs_of.values():
        for i, k in enumerate(inputs):
            for m in inputs[i + 1 :]:
                pairs.add((min(k, m), max(k, m)))
    return pairs


def match_particle_set(particles: ParticleSet, mode: str, warn: Warn) -> None:
    """Gives the micrographs of ``particles`` that are one micrograph one id (in place).

    The rows' micrograph ids are renumbered (a micrograph keeps the name of its first
    input), their shapes follow, and the summary gains ``micrograph_matching``. Nothing
    changes for one input, whose micrographs are matched by exact path.
    """
    n_inputs = len(particles.inputs)
    names_by_input = _names_by_input(particles)
    match = match_micrographs(names_by_input, mode)
    for line in match.warnings(particles.inputs):
        warn(line)
    # (keeping what the reader put there: how many pixel sizes --micrographs gave by file name)
    particles.summary["micrograph_matching"] = {**match.summary(), **particles.summary.get("micrograph_matching", {})}
    if n_inputs < 2 or not match.by_name:
        return
    new_id: dict[str, int] = {}
    for name in particles.mic_names:
        if name in match.same:
            new_id.setdefault(match.same[name], len(new_id))
    old_to_new = np.array([new_id.get(match.same.get(name, ""), -1) for name in particles.mic_names], dtype=np.int64)
    unused = old_to_new < 0  # a name no row uses (none, as readers build them): give it its own id
    old_to_new[unused] = len(new_id) + np.arange(int(unused.sum()))
    names = list(new_id) + [n for n, u in zip(particles.mic_names, unused) if u]
    particles.groups = old_to_new.astype(particles.groups.dtype)[particles.groups]
    particles.mic_shapes = {int(old_to_new[g]): shape for g, shape in particles.mic_shapes.items()}
    particles.mic_names = names


def _names_by_input(particles: ParticleSet) -> list[list[str]]:
    """Each input's micrograph names (one pass of the core over the rows)."""
    n_inputs, n_mics = len(particles.inputs), len(particles.mic_names)
    if n_inputs == 1:
        return [list(particles.mic_names)]
    present = picks_per_group(particles.input_of, particles.groups, n_mics, n_inputs) > 0
    return [[particles.mic_names[g] for g in np.flatnonzero(present[:, k])] for k in range(n_inputs)]


@dataclass
class ListedByName:
    """Micrographs of one input looked up by file name in a micrographs STAR (:func:`listed_by_file_name`).

    ``found`` gives the pixel size of each micrograph found by its file-name key;
    ``ambiguous`` the micrographs whose key names several listed micrographs of different
    pixel sizes, each with those micrographs; ``shared`` the micrographs whose key another
    micrograph of the same input has under another path, each with that other name.
    """

    found: dict[str, float] = field(default_factory=dict)
    ambiguous: list[tuple[str, list[str]]] = field(default_factory=list)
    shared: list[tuple[str, str]] = field(default_factory=list)


def listed_by_file_name(names: Sequence[str], listed: dict[str, float]) -> ListedByName:
    """The pixel sizes of ``names`` that ``listed`` (name -> pixel size) has under another path.

    A name listed by its exact path is left out (it needs no key). A key that one input has
    under several paths is never looked up (relion issue 615: those are different
    micrographs); a key that names listed micrographs of different pixel sizes is never
    guessed. Both are returned for the caller to name.
    """
    names = list(dict.fromkeys(names))
    keys_of_input: dict[str, list[str]] = {}
    for name in names:
        keys_of_input.setdefault(name_key(name), []).append(name)
    listed_by_key: dict[str, dict[float, str]] = {}
    for name, psize in listed.items():
        listed_by_key.setdefault(name_key(name), {}).setdefault(psize, name)
    out = ListedByName()
    for name in names:
        if name in listed:
            continue
        key = name_key(name)
        values = listed_by_key.get(key)
        if not values:
            continue
        if len(keys_of_input[key]) > 1:
            out.shared.append((name, next(other for other in keys_of_input[key] if other != name)))
        elif len(values) > 1:
            out.ambiguous.append((name, list(values.values())))
        else:
            out.found[name] = next(iter(values))
    return out
