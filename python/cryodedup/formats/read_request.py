"""What the particle job asks the format readers to read: a few small frozen values.

The job builds one :class:`ReadRequest` from its options (``jobs.particles.plan.plan``)
and the formats' entrance (``formats.particles.read_particle_files``) hands each reader only
the parts it reads: the pixel-size sources (:class:`Scale`), the score (:class:`ScoreRead`),
what to read of each row (:class:`RowRead`), a copick project's pick sets
(:class:`CopickSelection`). No format module sees the job's options, so none reaches the
command line's code through ``options/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..particle_set import JudgeTypedPsize, PsizeFrom

__all__ = ["CopickSelection", "ReadRequest", "RowRead", "Scale", "ScoreRead", "input_scale"]


@dataclass(frozen=True)
class Scale:
    """Where a reader takes the micrographs' pixel sizes from, and how it scales the coordinates.

    Attributes
    ----------
    mic_psize : float or None
        The micrograph pixel size the user typed (``--mic-psize``), first of every source.
    insist_psize : bool
        Keep ``mic_psize`` where the files contradict it, with a warning (``--insist-psize``).
    micrographs : Path or None
        The micrographs STAR, CryoSPARC exposures, tomograms STAR or Dynamo table map that
        lists the micrographs (``--micrographs``).
    match_micrographs : str
        How a micrograph is looked up in a list: by exact path or also by file name
        (``--match-micrographs``).
    project_dir : Path or None
        The folder the micrographs' relative paths start from (``--project-dir``).
    pixel_size_decides : bool
        Whether the pixel size changes the decision; where it does not (``--min-dist 0
        --shift-key none``) a reader warns of no fallback pixel size.
    topaz_scale : float or None
        The ``-s`` of topaz preprocess, which scaled topaz's coordinates (``--topaz-scale``).
    import_scale, import_add : float
        An import list's text files' coordinates are ``x * import_scale + import_add``.
    import_centered : bool
        An import list's coordinates are RELION 5's centred Å (``--import-centered``).
    psize_from : PsizeFrom
        Which of those sources the reader takes the pixel size from, as the job decided
        (``resolve.pixel_size.pixel_size_source``): the reader reads that one alone.
    judge_psize : JudgeTypedPsize
        The job's judge of a typed pixel size (``resolve.given_psize.judge_typed_psize``): the
        reader hands it what its files state (a ``TypedPixelSize``) before any output, and
        judges nothing itself.
    by_input : tuple of (Scale or None), or None
        Each input's own scale where it is typed its own pixel size (``--mic-psize INPUT=Å``;
        None where not, then this one), by position; None when no input is given one.
    """

    mic_psize: float | None
    insist_psize: bool
    micrographs: Path | None
    match_micrographs: str
    project_dir: Path | None
    pixel_size_decides: bool
    topaz_scale: float | None
    import_scale: float
    import_add: float
    import_centered: bool
    psize_from: PsizeFrom
    judge_psize: JudgeTypedPsize
    by_input: tuple[Scale | None, ...] | None = None

    @property
    def given_psize(self) -> float:
        """The typed pixel size, read where the job decided the reader takes it (``psize_from`` GIVEN)."""
        assert self.psize_from is PsizeFrom.GIVEN and self.mic_psize is not None
        return self.mic_psize


def input_scale(scale: Scale, k: int) -> Scale:
    """``scale`` as input ``k`` is read: its own (``--mic-psize INPUT=Å``) in place of the common, where it has one."""
    own = None if scale.by_input is None else scale.by_input[k]
    return scale if own is None else own


@dataclass(frozen=True)
class ScoreRead:
    """Which score a reader reads to rank duplicates, and in which direction.

    Attributes
    ----------
    score : str
        A column or field, ``auto`` (the format's known scores) or ``none`` (``--score``).
    score_order : str
        ``max``, ``min`` or ``auto``: whether higher is better (``--score-order``).
    score_normalize : str
        How several pickers' scores are put on one scale (``--score-normalize``).
    seed : int
        The seed of the random ranking without a score, which the readers' warnings name.
    preferred_first : bool
        Whether ``--prefer`` ranks the inputs before any score (said in those warnings).
    prefer_held : tuple of tuple of int, or None
        The inputs each ``--prefer`` value names, parsed once (None: one level for all):
        scores of inputs at different levels are never compared.
    decides : bool
        Whether a score decides which duplicate stays (False under ``--remove-entirely``, which
        removes every particle that has one): the warnings of scores compared across scales are
        then not said.
    """

    score: str
    score_order: str
    score_normalize: str
    seed: int
    preferred_first: bool
    prefer_held: tuple[tuple[int, ...], ...] | None = None
    decides: bool = True


@dataclass(frozen=True)
class RowRead:
    """What a reader reads of each row besides its micrograph, centre and score.

    Attributes
    ----------
    shift_key : str
        Which shifts are subtracted from the locations (``--shift-key``).
    orientations : bool
        Read each row's orientation (``--max-angle``).
    species_column : str or None
        The column naming each row's species (``--species-column``).
    same_image : str
        What to do of rows that name one particle image (``--same-image``; ``ignore``: no
        image read).
    symmetry_copies : bool
        Name each row's image to find symmetry-expanded copies (``--min-dist 0``, ``--audit``).
    insist_angles : bool
        Compare orientations as written even where they look like radians (``--insist-angles``).
    """

    shift_key: str
    orientations: bool
    species_column: str | None
    same_image: str
    symmetry_copies: bool
    insist_angles: bool = False

    @property
    def images(self) -> bool:
        """Whether to read each row's particle image (any ``--same-image`` but ``ignore``)."""
        return self.same_image != "ignore"


@dataclass(frozen=True)
class CopickSelection:
    """The pick sets read from a copick project, and the one its kept picks are written as.

    Attributes
    ----------
    objects, users, sessions : str or None
        Comma-separated names of the particle objects, users and sessions read (None: all).
    out_user, out_session : str
        The user and session of the kept picks written back (never read as an input).
    sized : frozenset of str
        The objects the options give a distance by name (``--min-dist NAME=Å``, comparepicks'
        ``--radius NAME=Å``): one of them without a radius is not warned of.
    unsized_at : float
        The distance (Å) the other objects without a radius are compared at: the bare
        ``--min-dist`` (or ``--radius``), 20 Å when none is given.
    """

    objects: str | None
    users: str | None
    sessions: str | None
    out_user: str
    out_session: str
    sized: frozenset[str] = frozenset()
    unsized_at: float = 20.0


@dataclass(frozen=True)
class ReadRequest:
    """Everything the particle job asks of the readers, each concern its own value.

    Attributes
    ----------
    scale : Scale
        The pixel-size sources and coordinate scales.
    score_read : ScoreRead
        The score that ranks duplicates.
    row_read : RowRead
        What is read of each row.
    copick : CopickSelection
        A copick project's pick sets.
    output_format : str
        The format a picker job writes (``--output-format``).
    moves_inputs : bool
        Whether ``--transform`` moves an input: a writer then writes rows from their numbers,
        which a reader must keep.
    writes : bool
        Whether outputs are written from the set (False for ``compare``): a reader then neither
        refuses nor warns of what only a merged output needs (the order of RELION 5's frames).
    """

    scale: Scale
    score_read: ScoreRead
    row_read: RowRead
    copick: CopickSelection
    output_format: str
    moves_inputs: bool = False
    writes: bool = True
