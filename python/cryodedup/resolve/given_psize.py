"""A pixel size the user typed (``--mic-psize``, ``--psize``), checked against what the run reads anyway.

Every reader gathers the pixel sizes its files state (``particle_set.Evidence``: the MRC headers, an
optics table, a micrographs STAR, CryoSPARC's ``psize_A`` fields) and :func:`check_given_psize`
refuses a typed value that contradicts one of them, in one line naming both values and their
sources, unless the user insists (``--insist-psize``); the summary then says so. What counts
as agreement (docs/developers/decisions/centres-and-pixel-sizes.md):

- a micrograph pixel size (``rlnMicrographPixelSize``, an MRC header, ``psize_A``): equal within
  :data:`~.pixel_size.TOLERANCE`;
- a detector pixel size (``rlnMicrographOriginalPixelSize``): the micrograph pixel is the
  detector's times the binning at motion correction, from 1 to :data:`MAX_BINNING` (within
  :data:`~.pixel_size.TOLERANCE`), never smaller;
- never the particles' pixel size (``rlnImagePixelSize``) where it differs from the
  micrograph's: particles binned at extraction (:attr:`Evidence.trap`);
- and, where a file states the particles' pixel size (``rlnImagePixelSize``, CryoSPARC's
  ``blob/psize_A``, RELION 3.0's ``rlnDetectorPixelSize`` / ``rlnMagnification``) but no
  micrograph pixel size, at most it (within :data:`~.pixel_size.TOLERANCE`): extraction keeps
  the micrograph pixel or bins it to a larger one (:attr:`Evidence.ceiling`; upsampling at
  extraction is rare: ``--insist-psize``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ..errors import PixelSizeError
from ..particle_set import (
    MIC_PSIZE,
    Evidence,
    ListedPixelSize,
    StatedPixelSizes,
    TypedPixelSize,
    TypedTomogramPixelSize,
    Warn,
)
from .pixel_size import TOLERANCE, same_size
from .tomogram_psize import judge_tomogram_psize

__all__ = [
    "check_given_psize",
    "judge_typed_psize",
    "same_size",
    "stated_evidence",
]

#: The largest binning at motion correction that counts as agreeing with the detector pixel
#: (RELION's --bin_factor, super-resolution 2x times a further 4x for screening).
MAX_BINNING = 8.0
#: Picks reaching beyond this many times their micrograph's width or height are not in its pixels.
FAR = 1.5
#: Picks that all lie within this fraction of their micrographs' width and height are not in their pixels
#: (binned 2x: within 50 %) ...
SQUEEZED = 0.55
#: ... when there are at least this many (20 picks spread at random all fall there with chance 0.55^40, 4e-11).
SQUEEZED_PICKS = 20
#: What to give instead of a contradicted --mic-psize.
MICROGRAPH_HINT = "give the pixel size of the micrographs the coordinates were picked on"
#: The option that lets the user insist on a value that contradicts the files.
INSIST = "--insist-psize"


def agrees(given: float, evidence: Evidence) -> bool:
    """Whether the typed pixel size ``given`` agrees with ``evidence``."""
    if evidence.ceiling:
        return given <= evidence.value * (1 + TOLERANCE)
    if evidence.trap is not None and same_size(given, evidence.trap[0]):
        return False
    if not evidence.binned:
        return same_size(given, evidence.value)
    return evidence.value * (1 - TOLERANCE) <= given <= evidence.value * MAX_BINNING * (1 + TOLERANCE)


def usable(value: object) -> bool:
    """Whether a pixel size read from a file can witness: a finite number > 0."""
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def contradiction(given: float, evidence: Evidence) -> str:
    """What the typed value contradicts, and what it looks like (a detector pixel, a decimal slip)."""
    what = " (the detector pixel)" if evidence.binned else ""
    text = f"contradicts {evidence.name} {evidence.value:g} Å{what} {evidence.place}"
    if evidence.ceiling:
        return (
            f"{text}, the particles' pixel: a micrograph pixel is at most the particles' (extraction keeps it "
            f"or bins it to a larger one){_looks_like(given, evidence.value)}"
        )
    if evidence.trap is not None and same_size(given, evidence.trap[0]) and evidence.binned:
        # The detector pixel binned at motion correction would give the same value: a micrographs STAR tells.
        binning = f"{given / evidence.value:.2g}x"
        return (
            f"{text}: {given:g} is {evidence.trap[1]}; were the movies binned {binning} at motion correction "
            "instead, the micrographs STAR given with --micrographs shows it"
        )
    if evidence.trap is not None and same_size(given, evidence.trap[0]):
        return f"{text}: {given:g} is {evidence.trap[1]}"
    if evidence.binned:
        return f"{text}: a micrograph pixel is 1 to {MAX_BINNING:g} times the detector's"
    return text + _looks_like(given, evidence.value)


def _looks_like(given: float, value: float) -> str:
    """A hint when ``value`` is a whole multiple or a power of ten of ``given`` (the slips seen)."""
    ratio = value / given if value > given else given / value
    tens = round(math.log10(ratio))
    if tens >= 1 and same_size(ratio, 10.0**tens):
        return f": a decimal slip? ({max(given, value):g} is {10**tens:g} x {min(given, value):g})"
    whole = round(ratio)
    if whole >= 2 and same_size(ratio, whole) and value > given:
        return f": {value:g} is {whole} x {given:g} (is {given:g} the detector pixel of micrographs binned {whole}x?)"
    return ""


def listed_evidence(
    given: float | None, values: Iterable[float], name: str, place: str, binned: bool = False
) -> list[Evidence]:
    """The evidence of a column that gives several micrographs a pixel size (a micrographs STAR, exposures).

    With several distinct values, the typed one must agree with one of them (the run may use
    only some of the micrographs): the one nearest to it witnesses.
    """
    distinct = sorted({float(v) for v in values if usable(float(v))})
    if given is None or not distinct:
        return []
    nearest = min(distinct, key=lambda v: abs(math.log(v / given)))
    return [Evidence(nearest, name, place, binned)]


def stated_evidence(given: float | None, stated: StatedPixelSizes | None) -> list[Evidence]:
    """The evidence of a list's pixel sizes (its micrographs', its detector pixel), for a typed one.

    The stated value nearest to ``given`` witnesses; of its traps (CryoSPARC's ``blob/psize_A``
    of particles binned at extraction), those that differ from it, the one nearest to ``given``.
    """
    if given is None or stated is None:
        return []
    evidence = listed_evidence(given, stated.values, stated.field, stated.place)
    traps = [v for v in set(stated.traps) if evidence and usable(v) and not same_size(v, evidence[0].value)]
    if traps:
        evidence = [replace(evidence[0], trap=(min(traps, key=lambda v: abs(v - given)), stated.trap_reason))]
    particles = [v for v in set(stated.traps) if usable(v)]
    if not evidence and particles and stated.traps_field:
        # No micrograph pixel stated: the smallest particle pixel bounds it (the typed value is every row's).
        evidence = [Evidence(min(particles), stated.traps_field, stated.place, ceiling=True)]
    return evidence + listed_evidence(given, stated.detector, stated.detector_field, stated.place, binned=True)


def judge_typed_psize(typed: TypedPixelSize | TypedTomogramPixelSize | ListedPixelSize, warn: Warn) -> str:
    """Refuses a ``--mic-psize`` that what the input's files state contradicts; returns the summary's source.

    The particle job hands it to the readers, which gather what their files state
    (:class:`~cryodedup.particle_set.TypedPixelSize`) before any output: the optics table, the
    lists, the picks' reach on micrographs of known size. Where the user insists
    (``--insist-psize``), warns and returns what the value contradicts. Tomogram coordinates'
    statements (:class:`~cryodedup.particle_set.TypedTomogramPixelSize`) are judged by
    :mod:`.tomogram_psize`, which ``--insist-psize`` does not lift. A micrograph pixel size a list
    gives (:class:`~cryodedup.particle_set.ListedPixelSize`, ``--micrographs``) is judged against the
    particles' file by :func:`check_listed_psize`, and returns its source.
    """
    if isinstance(typed, TypedTomogramPixelSize):
        return judge_tomogram_psize(typed, warn)
    if isinstance(typed, ListedPixelSize):  # (a list's value: :func:`check_listed_psize`)
        check_listed_psize(typed.value, typed.source, typed.stated, typed.advice)
        return typed.source
    evidence = [*typed.stated, *(e for listed in typed.lists for e in stated_evidence(typed.given, listed))]
    reach = typed.reach
    extent = None if reach is None else extent_contradiction(reach.reach, reach.picks, reach.place)
    insisted = check_given_psize(
        MIC_PSIZE, typed.given, evidence, typed.insist, _micrograph_hint(typed.stated), [extent] if extent else []
    )
    if insisted is None:
        return MIC_PSIZE
    warn(typed.where + insisted.note)
    return insisted.source


def _micrograph_hint(stated: Sequence[Evidence]) -> str:
    """What to give instead: none where the file states several micrograph pixel sizes (one per optics group).

    One typed value cannot agree with groups of different sizes, and each group's own is read without it.
    """
    sizes = sorted({e.value for e in stated if not (e.binned or e.ceiling) and usable(e.value)})
    if len(sizes) > 1 and not same_size(sizes[0], sizes[-1]):
        return (
            f"the file states {len(sizes)} micrograph pixel sizes ({sizes[0]:g} to {sizes[-1]:g} Å, by optics group): "
            f"leave {MIC_PSIZE} out and each group's own is used"
        )
    return MICROGRAPH_HINT


@dataclass(frozen=True)
class Insisted:
    """A typed pixel size the user insisted on (``--insist-psize``), and what it contradicts."""

    option: str
    given: float
    contradicts: str

    @property
    def note(self) -> str:
        """The warning and the summary's words (``--mic-psize 3.54 Å insisted on (--insist-psize); it ...``)."""
        return f"{self.option} {self.given:g} Å insisted on ({INSIST}); it {self.contradicts}"

    @property
    def source(self) -> str:
        """The summary's source of the pixel size (``3.54 Å from`` this)."""
        return f"{self.option}, insisted on ({INSIST}) though it {self.contradicts}"


def extent_contradiction(reach: tuple[float, float], picks: int, place: str) -> str | None:
    """What picks' extent says against their pixel size: far beyond their micrographs, or all in a corner.

    ``reach``: the largest x / width and y / height of the picks (in pixels of the typed size)
    on micrographs whose size in pixels is known (``place`` says where from). Beyond
    :data:`FAR` times the micrograph, the picks were made in smaller pixels; all within
    :data:`SQUEEZED` of it (at least :data:`SQUEEZED_PICKS` picks), in larger ones.
    """
    largest = max(reach)
    if largest > FAR:
        return (
            f"contradicts the micrographs' size ({place}): the picks reach {largest:.1f} times their width or height "
            "(picked in smaller pixels?)"
        )
    if picks >= SQUEEZED_PICKS and 0 < largest < SQUEEZED:
        return (
            f"contradicts the micrographs' size ({place}): all {picks:,} picks lie within {largest:.0%} of their width "
            "and height (picked in larger pixels?)"
        )
    return None


def check_given_psize(
    option: str, given: float | None, evidence: list[Evidence], insist: bool, hint: str, more: Sequence[str] = ()
) -> Insisted | None:
    """Refuses a typed pixel size that contradicts ``evidence``, or says what it contradicts when the user insists.

    Returns None when ``given`` is None or agrees with all. ``more``: other contradictions,
    worded (:func:`extent_contradiction`). ``hint`` says what to give instead (``give the
    micrograph pixel size``).
    """
    if given is None:
        return None
    evidence = [_standing(e) for e in evidence if usable(e.value) and not _upsampled(e)]
    if any(not (e.binned or e.ceiling) and e.trap is None and agrees(given, e) for e in evidence):
        # A micrograph pixel size that agrees (a micrographs STAR's) shows the value is no trap:
        # the particles' pixel equals the micrographs' where motion correction binned the movies;
        # nor is the particles' pixel a bound: the micrographs' is stated (upsampled at extraction).
        evidence = [replace(e, trap=None) for e in evidence if not e.ceiling]
    # (A bound last: a micrograph pixel size contradicted says more, and is named first.)
    against = sorted((e for e in evidence if not agrees(given, e)), key=lambda e: e.ceiling)
    worded = _contradictions(given, against) or next(iter(more), None)
    if worded is None:
        return None
    if not insist:
        advice = _ceiling_advice(option, evidence) if against and against[0].ceiling else ""
        raise PixelSizeError(f"{option} {given:g} Å {worded}; {hint}{advice}, or {INSIST} to use {given:g}")
    return Insisted(option, given, worded)


def check_listed_psize(value: float, source: str, evidence: Sequence[Evidence], advice: str) -> None:
    """Refuses a micrograph pixel size read from another file (a micrographs STAR) that the particles' contradict.

    ``source`` names the value's field and file (``rlnMicrographPixelSize in micrographs_ctf.star``);
    ``evidence``: what the particles' own file states (its optics table). What counts as agreement is
    a typed value's, less the traps: a list RELION wrote is no value typed by hand, and the
    particles' pixel may be the micrographs' (movies binned at motion correction). A 10x wrong
    value upstream moves every distance 10x: every duplicate lies beyond the threshold, silently.
    """
    evidence = [replace(e, trap=None) for e in evidence if usable(e.value) and not _upsampled(e)]
    against = sorted((e for e in evidence if not agrees(value, e)), key=lambda e: e.ceiling)
    worded = _contradictions(value, against)
    if worded is not None:
        raise PixelSizeError(f"{source} says {value:g} Å: it {worded}; {advice}")


def _standing(evidence: Evidence) -> Evidence:
    """``evidence`` without its trap where the trap agrees with the micrograph pixel size stated beside it."""
    beside = evidence.trap_beside
    if evidence.trap is None or beside is None or not same_size(evidence.trap[0], beside):
        return evidence
    return replace(evidence, trap=None)


def _upsampled(evidence: Evidence) -> bool:
    """Whether ``evidence`` is a particles' pixel below the detector pixel stated beside it: no bound then.

    The micrograph pixel is at least the detector's: the file itself shows the particles
    upsampled at extraction, and no typed value could agree with both.
    """
    beside = evidence.trap_beside
    return evidence.ceiling and beside is not None and beside > evidence.value and not same_size(beside, evidence.value)


def _ceiling_advice(option: str, evidence: list[Evidence]) -> str:
    """What to give under the particles' pixel size: at most the smallest, itself where extraction did not rescale."""
    bound = min(e.value for e in evidence if e.ceiling)
    return f", at most {bound:g} Å ({option} {bound:g} if the particles were extracted without rescaling)"


def _contradictions(given: float, against: list[Evidence]) -> str | None:
    """The first contradiction worded, with the places of the others (``and of optics group 3 in x.star``)."""
    if not against:
        return None
    others = list(dict.fromkeys(e.place for e in against if e.place != against[0].place))
    listed = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
    also = f", and {others[0]}" if len(others) == 1 else f", and {len(others)} more ({listed})"
    return contradiction(given, against[0]) + (also if others else "")
