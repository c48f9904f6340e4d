"""``remove_duplicates``: the particle job for data in memory as well as in files.

``remove_duplicate_centres``: the same decision (consensus included) for centres already in Å,
as a workflow system that holds its own particle objects has them (the Scipion plugin).

``repair_particle_update``: ``particles --update --repair``, the files of a folder's rounds
written again from its store.

In memory, CryoSPARC particles are a cryosparc-tools ``Dataset`` or a numpy structured
array with CryoSPARC's fields; RELION particles are a pandas DataFrame with RELION's
labels, or the dict that ``starfile.read`` returns (``{"optics": ..., "particles": ...}``).
Kept and rejected come back in the form that came in.

Warnings (a pixel size taken from ``rlnMicrographOriginalPixelSize``, say) are issued with
Python's :mod:`warnings`, and messages name the keyword arguments (``mic_psize=``), not the
CLI's options (``--mic-psize``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .algo.consensus import OUTCOMES, pick_outcomes
from .algo.dedup import first_seen_ids, real_numbers, small_ids
from .errors import CryodedupError
from .formats.cryosparc.dataset import CsFile
from .formats.cryosparc.particles import read_dataset
from .formats.read_request import ReadRequest
from .formats.sniff import is_copick_config
from .formats.star.particles import read_frame
from .jobs.particles.entrance import job_for
from .jobs.particles.job import ParticleOutcome, run
from .jobs.particles.plan import plan
from .jobs.particles.read import Files, InMemory, Source
from .options import ParticleOptions
from .options.fields import CENTRES, taken_by
from .options.keywords import keyword_names
from .outputs import output_batch
from .particle_set import Log, ParticleSet, Warn
from .paths import StrPath

__all__ = ["CentreReport", "remove_duplicate_centres", "remove_duplicates", "repair_particle_update"]


def remove_duplicates(
    data: Any, outdir: StrPath | None = None, *, force: bool = False, log: Log | None = None, **options: Any
) -> tuple:
    """Remove duplicate particles from files or from data in memory.

    Parameters
    ----------
    data : path, list of paths, Dataset, numpy structured array, DataFrame or dict
        STAR or CryoSPARC files (written to ``outdir``), or particles in memory: a
        cryosparc-tools ``Dataset`` or structured array with CryoSPARC fields, a pandas
        DataFrame with RELION labels, or ``starfile.read``'s dict of tables.
    outdir : path, optional
        Output folder; needed (and used) for files, and with ``plot=True`` for data in
        memory (its pictures and report.html). A copick project's config file needs none:
        its kept picks go back into the project (with ``outdir``, RELION 5 STAR files too).
    force : bool
        Overwrite existing output files.
    log : callable(message, level), optional
        Receives progress messages and warnings. Warnings are issued with
        :func:`warnings.warn` (``UserWarning``) as well, once the job is done or has failed.
    **options
        The fields of :class:`ParticleOptions`: ``min_dist``, ``min_dist_z`` (subtomograms:
        the distance along z), ``mic_psize``, ``shift_key``,
        ``score``, ``score_order``, ``remove_entirely``, ``seed``, ``micrographs``,
        ``max_angle`` and ``sym`` (orientations compared, docs/design.md section 9;
        ``insist_angles=True`` compares angles that look like radians as written),
        ``prefer`` (a list of inputs, paths as given or positions from 1, most preferred
        first: their particles win groups of duplicates whatever the scores; in a copick
        project, pick sets as ``"user/session"``, a user for all its sessions, or positions),
        ``same_image`` (``"warn"``, ``"reject"`` or ``"ignore"``: one particle image in two
        rows, from ``rlnImageName`` or ``blob/path`` + ``blob/idx``, in files and in memory),
        ``datasets`` (a list of ``"INPUT=LABEL"``: inputs of separate datasets, whose micrographs
        and tomograms never match across labels; inputs of one dataset that share a name must
        agree on its detector pixel size, voltage, aberration, tilt-series pixel size).

    Returns
    -------
    (kept, rejected)
        For files, the lists of output paths; for a copick project without ``outdir``, the
        kept and the rejected picks as numpy structured arrays (:data:`COPICK_PICK_FIELDS`:
        run, object, pick set, centre in Å, score), the kept ones also written into the
        project; otherwise two objects of the input's type holding the kept and the rejected
        particles, rows in input order.
    (kept, rejected, decisions)
        With ``decisions=True``: and a pandas DataFrame of every rejected particle, the kept
        particle it lost to, their distance and the rule (the columns of ``decisions.csv``,
        written to ``outdir`` too where there is one; docs/reference/outputs.md).
    """
    said: list[str] = []

    def report(message: str, level: str) -> None:
        message = keyword_names(message)
        if level == "warning":
            said.append(message)
        if log is not None:
            log(message, level)

    try:
        return _remove_duplicates(data, outdir, force, report, options)
    except CryodedupError as err:
        raise type(err)(keyword_names(str(err))) from None  # (its kind kept)
    finally:
        for message in said:
            warnings.warn(message, UserWarning, stacklevel=2)  # (the caller's line)


def repair_particle_update(outdir: StrPath) -> list[tuple[Path, str]]:
    """Write again the files of a particle ``update`` folder that are missing or stale, from its store.

    What ``cryodedup particles --update --repair -o OUTDIR`` does: every round file
    (``round_NNNN_kept``, ``round_NNNN_rejected``) and the running kept file
    (``particles_kept.star`` or ``particles_kept.cs``) that is missing or differs from what the
    store in ``OUTDIR/kept_store`` records is written again, byte for byte what the rounds
    wrote. No batch is read, no round added, nothing else touched; a round stopped after its
    commit is finished. Under the folder's lock, as a run into it.

    Parameters
    ----------
    outdir : path
        The output folder of earlier ``update`` rounds (``ParticleOptions(update=True)``, or
        ``cryodedup particles --update``).

    Returns
    -------
    list of (Path, str)
        Each file written again and what it was: ``"missing"`` or ``"stale"``. Empty when every
        file is as the store records it.

    Raises
    ------
    CryodedupError
        ``outdir`` is no folder, or holds no store of ``update`` rounds.
    DamagedStoreError
        The store itself is damaged (``update`` with ``force=True`` starts anew).
    OutputError
        A file cannot be written, or another run holds the folder.
    """
    from .jobs.particles.update import repair

    return repair(outdir)


def _remove_duplicates(data: Any, outdir: StrPath | None, force: bool, report: Log, options: dict) -> tuple:
    """:func:`remove_duplicates`, its messages sent to ``report``; with ``decisions``, the record too."""
    opts = ParticleOptions(**options)
    opts.check()
    outcomes: list[ParticleOutcome] = []
    job = job_for(opts.update)  # (update=True: a round around the job)

    def run_job(source: Source) -> ParticleOutcome:
        outcomes.append(job(source, outdir, plan(opts), force=force, log=report))
        return outcomes[-1]

    kept, rejected = _subsets(data, outdir, run_job)
    if not opts.decisions:
        return kept, rejected
    import pandas  # (starfile's dependency: installed with the package)

    from .jobs.particles.record import columns_of  # (the record the core wrote, read back for the API)

    decisions = outcomes[-1].decisions
    return kept, rejected, pandas.DataFrame(None if decisions is None else columns_of(decisions))


def _subsets(data: Any, outdir: StrPath | None, run_job: Callable[[Source], ParticleOutcome]) -> tuple:
    """The kept and rejected particles of ``data``, the job run by ``run_job``."""
    if isinstance(data, (str, Path)) or (
        isinstance(data, (list, tuple)) and data and all(isinstance(p, (str, Path)) for p in data)
    ):
        paths = [data] if isinstance(data, (str, Path)) else list(data)
        into_project = len(paths) == 1 and is_copick_config(paths[0])
        if outdir is None and not into_project:
            raise ValueError("outdir is needed when the particles are files (a copick project's config excepted)")
        with output_batch():
            outcome = run_job(Files.of(paths))
        if outdir is None:  # (the kept picks went into the project: the rows themselves, as for data in memory)
            keep = outcome.decision.keep
            return copick_picks(outcome.particles, keep), copick_picks(outcome.particles, ~keep)
        outputs = outcome.summary.outputs
        assert outputs is not None, "a run's summary names its outputs"
        return list(outputs.files("kept")), list(outputs.files("rejected"))

    def keep_of(reader: Callable[[ReadRequest, Warn], ParticleSet]) -> np.ndarray:
        return run_job(InMemory(reader)).decision.keep

    if isinstance(data, np.ndarray) and data.dtype.names:
        if data.ndim != 1:
            raise CryodedupError(f"a structured array of particles must be one-dimensional, got shape {data.shape}")
        keep = keep_of(lambda r, warn: read_dataset(CsFile(data, "numpy"), r.scale, r.score_read, r.row_read, warn))
        return data[keep], data[~keep]
    if type(data).__name__ == "Dataset" and hasattr(data, "fields"):
        keep = keep_of(lambda r, warn: read_dataset(CsFile(data, "csdat"), r.scale, r.score_read, r.row_read, warn))
        return data.mask(keep), data.mask(~keep)
    if isinstance(data, dict) and "particles" in data:
        for key in ("particles", "optics"):
            if (key == "particles" or data.get(key) is not None) and not _is_frame(data[key]):
                raise TypeError(
                    f"data[{key!r}] is a {type(data[key]).__name__}; expected a pandas DataFrame, as starfile.read "
                    "gives (starfile.read(path, always_dict=True))"
                )
        optics = data.get("optics")
        keep = keep_of(lambda r, warn: read_frame(data["particles"], optics, r.scale, r.score_read, r.row_read, warn))
        return ({**data, "particles": data["particles"][keep]}, {**data, "particles": data["particles"][~keep]})
    if _is_frame(data):
        keep = keep_of(lambda r, warn: read_frame(data, None, r.scale, r.score_read, r.row_read, warn))
        return data[keep], data[~keep]
    raise TypeError(f"cannot remove duplicates from a {type(data).__name__}; see help(remove_duplicates)")


#: The fields of the picks :func:`remove_duplicates` returns for a copick project: the run, the
#: object, the pick set (``user/session``), the centre (location plus translation, Å) and the score.
COPICK_PICK_FIELDS = [
    ("run", object),
    ("object", object),
    ("pick_set", object),
    ("x", np.float64),
    ("y", np.float64),
    ("z", np.float64),
    ("score", np.float64),
]


def copick_picks(particles: ParticleSet, rows: np.ndarray) -> np.ndarray:
    """The picks of a copick project's ``rows`` (a mask) as a structured array of :data:`COPICK_PICK_FIELDS`."""
    which = np.flatnonzero(rows)
    out = np.zeros(which.size, dtype=COPICK_PICK_FIELDS)
    out["run"] = np.asarray(particles.mic_names, dtype=object)[particles.groups[which]]
    if particles.species is not None:
        out["object"] = np.asarray(particles.species_names, dtype=object)[particles.species[which]]
    out["pick_set"] = np.asarray(particles.inputs, dtype=object)[particles.input_of[which]]
    for axis, name in enumerate("xyz"):
        out[name] = particles.centres[which, axis]
    out["score"] = np.nan if particles.scores is None else particles.scores[which]
    return out


def _is_frame(data: Any) -> bool:
    """Whether ``data`` is a pandas DataFrame (pandas is not imported for the test)."""
    return hasattr(data, "columns") and hasattr(data, "to_numpy")


#: The options of :func:`remove_duplicate_centres`: those of the decision (the others read files),
#: marked ``taken_by=CENTRES`` where they are declared.
CENTRE_OPTIONS = frozenset(taken_by(ParticleOptions, CENTRES))


@dataclass(frozen=True)
class CentreSelection:
    """What :func:`remove_duplicate_centres` decided.

    Attributes
    ----------
    keep : numpy.ndarray of bool, shape (n,)
        True for the centres kept.
    outcomes : numpy.ndarray of uint8, shape (n,), or None
        With several inputs, each centre's fate as an index into :data:`OUTCOMES`
        (``kept_confirmed`` ... ``rejected_not_confirmable``); None with one input.
    micrographs : list
        The micrographs in order of first appearance.
    report : list of str
        The pictures and report.html written (with ``report=``).
    """

    keep: np.ndarray
    outcomes: np.ndarray | None
    micrographs: list
    report: list[str] = field(default_factory=list)

    def outcome_counts(self, inputs: np.ndarray, n_inputs: int) -> list[dict[str, int]]:
        """Per input, its centres of each fate (``{"kept_confirmed": 3, ...}``); empty with one input."""
        if self.outcomes is None:
            return []
        cells = np.bincount(np.asarray(inputs, np.int64) * len(OUTCOMES) + self.outcomes, minlength=n_inputs * 6)
        return [dict(zip(OUTCOMES, map(int, row))) for row in cells.reshape(n_inputs, len(OUTCOMES))]


@dataclass(frozen=True)
class CentreReport:
    """Where and how :func:`remove_duplicate_centres` draws its pictures and report.html.

    Attributes
    ----------
    outdir : path
        Folder of the pictures and report.html (replaced if they exist).
    psize : float, optional
        Pixel size (Å) of the micrographs the centres lie on: the example micrographs are
        drawn in their pixels.
    input_names : sequence of str, optional
        The inputs' names in the summary and the pictures (default ``input 1`` ...).
    images : mapping, optional
        Each micrograph's image file (MRC), for the example micrographs; those without one are
        drawn on a blank frame.
    kept, rejected : str
        What the caller makes of the kept and the rejected centres, for the report's rows.
    score_label : str
        What the scores are (``_rlnAutopickFigureOfMerit``), for the report's rows.
    shift : str
        The shifts the caller subtracted from the centres, for the report's rows.
    """

    outdir: StrPath
    psize: float | None = None
    input_names: Sequence[str] = ()
    images: Mapping[Hashable, StrPath] = field(default_factory=dict)
    kept: str = "the kept centres (returned)"
    rejected: str = "the rejected centres (returned)"
    score_label: str = "score"
    shift: str = "none"

    def _source(self, particles: ParticleSet) -> InMemory:
        """The particle job's source of these centres: their pictures' images, what the caller makes of them."""
        images = {str(name): Path(path) for name, path in self.images.items()}
        return InMemory(lambda request, warn: particles, self.kept, self.rejected, images)


def remove_duplicate_centres(
    micrographs: Sequence[Hashable],
    centres: Any,
    scores: Any = None,
    *,
    inputs: Any = None,
    ran_on: Sequence[Collection[Hashable]] | None = None,
    higher_is_better: bool = True,
    report: CentreReport | None = None,
    **options: Any,
) -> CentreSelection:
    """Duplicate removal (and consensus between inputs) on centres already in Å.

    The decision is the particle job's (docs/concepts/decisions.md and
    "Consensus"), for callers that read their particles themselves.

    Parameters
    ----------
    micrographs : sequence of hashable, length n
        Each centre's micrograph (a name or an id); only centres of one micrograph are compared.
    centres : array_like of float, shape (n, 2) or (n, 3)
        Centres in Å, shifts already subtracted.
    scores : array_like of float, shape (n,), optional
        Higher is better unless ``higher_is_better`` is False; NaN ranks last. None: a
        seeded random ranking (``seed``).
    inputs : array_like of int, shape (n,), optional
        The input (picker) of each centre, 0 to k - 1; None: one input.
    ran_on : sequence of collections, optional
        Per input, the micrographs it ran on (a picker that found nothing on a micrograph
        still ran there); None: each input ran on the micrographs it has centres on.
    report : CentreReport, optional
        Draw the particle job's pictures and report.html (``--plot``) into ``report.outdir``.
    **options
        ``min_dist``, ``min_dist_z``, ``remove_entirely``, ``seed``, ``min_support``,
        ``coverage``, ``uncovered`` and ``score_normalize``, as for :func:`remove_duplicates`.

    Returns
    -------
    CentreSelection
    """
    unknown = sorted(set(options) - CENTRE_OPTIONS)
    if unknown:
        raise TypeError(
            f"remove_duplicate_centres() takes no option {', '.join(unknown)}; it takes {sorted(CENTRE_OPTIONS)}"
        )
    # (the centres come registered by the caller: the job's check of the inputs' frames is the files')
    opts = ParticleOptions(**options, plot=report is not None, registration="ignore")
    try:
        opts.check()
        # (the job under these options, planned when run: the centres' source is made below)
        job = lambda source, outdir, **given: run(source, outdir, plan(opts), **given)  # noqa: E731
        return _select_centres(micrographs, centres, scores, inputs, ran_on, higher_is_better, job, report)
    except CryodedupError as err:
        raise type(err)(keyword_names(str(err))) from None  # (its kind kept)


def _select_centres(
    micrographs: Sequence[Hashable],
    centres: Any,
    scores: Any,
    inputs: Any,
    ran_on: Sequence[Collection[Hashable]] | None,
    higher_is_better: bool,
    job: Callable[..., ParticleOutcome],
    report: CentreReport | None = None,
) -> CentreSelection:
    """:func:`remove_duplicate_centres` after its options are checked; ``job``: the particle job under them."""
    names, groups = first_seen_ids(micrographs)
    centres = real_numbers(centres, "centres")
    n = len(groups)
    if centres.ndim != 2 or centres.shape != (n, centres.shape[1]) or centres.shape[1] not in (2, 3):
        raise ValueError(f"centres must have shape ({n}, 2) or ({n}, 3), got {centres.shape}")
    # (checked before any cast: 2**70 overflows int64, 1.5 would be truncated to input 1)
    input_of = np.zeros(n, np.int64) if inputs is None else small_ids(inputs, "inputs", (n,), 2**32).astype(np.int64)
    n_inputs = (int(input_of.max()) + 1 if n else 1) if ran_on is None else len(ran_on)
    if n and input_of.max() >= n_inputs:
        raise ValueError(f"inputs go up to {int(input_of.max())} but ran_on lists {n_inputs} inputs")
    values = None if scores is None else real_numbers(scores, "scores")
    if values is not None and values.shape != (n,):
        raise ValueError(f"scores must have shape ({n},), got {values.shape}")
    psize = np.nan if report is None or report.psize is None else report.psize
    particles = ParticleSet(
        inputs=list(report.input_names)
        if report and report.input_names
        else [f"input {k + 1}" for k in range(n_inputs)],
        input_of=input_of,
        mic_names=[str(name) for name in names],
        groups=groups,
        centres=centres,
        psize=np.broadcast_to(psize, (n,)),
        pixel_sizes=[]
        if np.isnan(psize)
        else [{"input": "all", "optics_group": "all", "psize": psize, "source": "the caller"}],
        scores=values,
        score_label=None if values is None else (report.score_label if report else "score"),
        shift=report.shift if report else "none",
        higher_is_better=higher_is_better,
        coverage=None if ran_on is None else _coverage(names, ran_on),
    )
    if len(particles.inputs) != n_inputs:
        raise ValueError(f"report.input_names names {len(particles.inputs)} inputs, the centres have {n_inputs}")
    if report is None:
        outcome = job(InMemory(lambda request, warn: particles), None)
    else:
        outcome = job(report._source(particles), report.outdir, force=True)
    decision = outcome.decision
    outcomes = None
    if decision.confirmed_by is not None:
        outcomes = pick_outcomes(decision.keep, decision.confirmed_by, decision.unconfirmed, decision.not_confirmable)
    return CentreSelection(np.asarray(decision.keep, dtype=bool), outcomes, names, outcome.summary.plots or [])


def _coverage(names: list, ran_on: Sequence[Collection[Hashable]]) -> np.ndarray:
    """Whether input k ran on micrograph g, shape (len(names), len(ran_on))."""
    covered = np.zeros((len(names), len(ran_on)), dtype=bool)
    for k, micrographs in enumerate(ran_on):
        on = set(micrographs)
        covered[:, k] = [name in on for name in names]
    return covered
