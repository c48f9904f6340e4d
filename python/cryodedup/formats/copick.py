"""copick projects (the CZ Imaging Institute's): picks read and written through copick's own API.

A project's config (JSON: ``pickable_objects`` with their radius, an overlay folder) names
runs (tomograms); each run holds picks per (object, user, session), each point a
``location`` in Å with a ``score`` and a ``transformation`` whose translation is a shift
added to the location. Here each (user, session) is one input (a picker or an annotator:
several users' picks of one object are merged as several pickers' are, ``--min-support``
included), each object one species (its radius the default minimum distance and the radius
of ``--cross-species``), each run one tomogram. The kept picks go back into the project as
a new (user, session), ``--copick-out-user`` / ``--copick-out-session`` (default
``cryodedup`` / ``0``, copick's session of tools' picks), which is never read as an input.
The pick sets cryodedup wrote in earlier runs (user ``cryodedup``, and those listed in
``cryodedup_outputs.json`` at the overlay root) are left out of the inputs unless their user
is named in ``--copick-users``: an earlier result is a copy of real picks, and would confirm
them in a consensus. A (user, session) holding picks cryodedup did not write is never an
output, even with ``--force``;
with ``-o``, kept and rejected are written as RELION 5 STAR files too, by copick's own
conversion (centred coordinates from each run's tomogram). copick is an optional extra
(``pip install "cryodedup[copick]"``), imported only here.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..algo import MAX_CENTRE
from ..algo.dedup import MAX_INPUTS
from ..errors import CryodedupError, InputFileError, OutputError
from ..labels import counted, listed
from ..outputs import AtomicOutputs
from ..particle_set import Log, ParticleSet, Warn
from .copick_publish import check_writable, new_pick_set, publish
from .star.tomograms import layout
from .star.tomography import rotation_vectors

if TYPE_CHECKING:
    from .read_request import CopickSelection, ScoreRead

__all__ = ["read_copick", "read_copick_pick_sets", "tomogram_extents"]

KEPT_NAME, REJECTED_NAME = "particles_kept.star", "particles_rejected.star"
#: What the summary calls the points' score.
SCORE_LABEL = "copick score"
#: ``--copick-out-user``'s default: its pick sets (any session) are cryodedup's results.
DEFAULT_OUT_USER = "cryodedup"


@contextmanager
def root_logger_kept() -> Iterator[None]:
    """The root logger as it was, after copick's calls.

    copick sets up the root logger as it imports and as some of its calls run (a rich
    handler at INFO, printing on stdout, ``force=True``): every library's INFO lines would
    then land in ``--json``'s output. Each call into copick is made inside this.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def import_copick() -> Any:
    """The copick package, or one line saying how to install it."""
    try:
        with root_logger_kept():
            import copick
    except ImportError:
        raise CryodedupError(
            'reading a copick project needs the copick package: pip install "cryodedup[copick]"'
        ) from None
    return copick


@dataclass
class PickSet:
    """One (run, object, user, session) pick set read: its picks object and its rows in the particle set."""

    picks: Any
    run: str
    species: str
    start: int
    stop: int
    #: Its pick set's place among the inputs (``user/session`` labels).
    input: int


def _names(text: str | None) -> set[str] | None:
    return None if not text else {name.strip() for name in text.split(",") if name.strip()}


def open_project(config: Path) -> Any:
    """The project of ``config`` opened by copick, or one line naming the file and what is wrong."""
    copick = import_copick()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (copick's deprecation notes are not the user's concern)
            return copick.from_file(os.fspath(config))
    except (ValueError, TypeError, KeyError, OSError, RecursionError) as err:  # (RecursionError: nested 100,000 deep)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputFileError(f"{config}: not a copick project copick can open ({first})") from None


#: Where ``--edge`` takes a run's tomogram's extent from, as the summary says it.
_EXTENT_SOURCE = (
    "each run's tomogram in the copick project (its shape x its voxel spacing, the smallest spacing with one)"
)


def tomogram_extents(config: Path, runs: Sequence[str]) -> tuple[np.ndarray, str]:
    """Each run's tomogram's extent along x, y, z in Å (``--edge``), and where it came from, as the summary says it.

    The extent is the tomogram's shape times its voxel spacing, of the tomogram at the run's smallest
    voxel spacing that has one, where copick's own conversion to RELION takes the tomogram's centre
    (``copick.util.relion.copick_tomogram_center``); its first scale's zarr shape is z, y, x. A run
    without a tomogram is refused in one line.
    """
    import zarr  # type: ignore[import-untyped]  # (copick's own dependency: its tomograms are zarr)

    root = open_project(config)
    extents = np.full((len(runs), 3), np.nan)
    with root_logger_kept():
        for k, name in enumerate(runs):
            run = root.get_run(name)
            spacings = [] if run is None else [v for v in run.voxel_spacings if v.tomograms]
            if not spacings:
                raise CryodedupError(
                    f"{config}: run {name} has no tomogram, so --edge has no extent to measure from; add its "
                    "tomogram to the project or leave out --edge"
                )
            spacing = min(spacings, key=lambda v: v.voxel_size)
            group = zarr.open(spacing.tomograms[0].zarr())
            if "0" not in group:  # (a tomogram written empty, or its copy cut short)
                raise InputFileError(_empty_tomogram(config, name, "--edge has no extent to measure from"))
            nz, ny, nx = group["0"].shape
            extents[k] = np.array([nx, ny, nz], dtype=np.float64) * float(spacing.voxel_size)
    return extents, _EXTENT_SOURCE


def _empty_tomogram(config: Path, run: str, needs: str) -> str:
    """The words for a run whose tomogram's zarr holds no first scale (``0``), and what needed it."""
    return (
        f"{config}: run {run}: its tomogram's zarr holds no array (no scale '0': written empty, or its copy cut "
        f"short), so {needs}; write or copy the tomogram again"
    )


def read_copick(
    config: Path,
    outdir: Path | None,
    selection: CopickSelection,
    score_read: ScoreRead,
    orientations: bool,
    warn: Warn,
    log: Log,
) -> ParticleSet:
    """The particle picks of a copick project: every (or the named) object, user and session.

    ``orientations``: whether to read each pick's orientation (``--max-angle``).
    """
    with root_logger_kept():
        root = open_project(config)
        objects, found, left_out = _pick_sets(config, root, selection)
        particles = _particle_set(config, root, objects, found, selection, score_read, orientations, outdir, log, warn)
        particles.summary["copick"]["left_out"] = [f"{user}/{session}" for user, session in sorted(left_out)]
        if left_out:  # (--copick-users reads only the users named: the users read now, and theirs)
            users = sorted({key[0] for _, _, key, _ in found} | {user for user, _ in left_out})
            particles.summary["copick"]["read_left_out"] = shlex.join(["--copick-users", ",".join(users)])
        return particles


def _pick_sets(config: Path, root: Any, selection: CopickSelection) -> tuple[dict, list, set]:
    """The project's particle objects by name, the pick sets ``selection`` reads, and those left out.

    Each pick set read is (run, object, (user, session), picks), in that order; those left
    out are earlier results of this tool, (user, session), read only when their user is named.
    """
    check_output_names(selection.out_user, selection.out_session)
    objects, wanted = _particle_objects(config, root, selection.objects)
    users, sessions = _names(selection.users), _names(selection.sessions)
    out = (selection.out_user, selection.out_session)
    written = OwnOutputs(root)
    found, left_out, every = [], set(), set()
    for run in sorted(root.runs, key=lambda r: r.name):
        for picks in run.picks:
            key = (picks.user_id, picks.session_id)
            if picks.pickable_object_name not in objects or key == out:
                continue  # (segmentation objects; the picks this job writes)
            if not wanted or picks.pickable_object_name in wanted:
                every.add(key)  # (the pick sets of the objects read, to name when the names given match none)
            if (wanted and picks.pickable_object_name not in wanted) or (users and picks.user_id not in users):
                continue
            if sessions and picks.session_id not in sessions:
                continue
            if written.holds(key) and not (users and picks.user_id in users):
                left_out.add(key)  # (an earlier result is no annotator: read only when its user is named)
                continue
            found.append((run.name, picks.pickable_object_name, key, picks))
    if not found and (users or sessions):
        _refuse_unmatched(config, selection, every)
    found.sort(key=lambda item: item[:3])
    return objects, found, left_out


def _refuse_unmatched(config: Path, selection: CopickSelection, every: set[tuple[str, str]]) -> None:
    """``--copick-users`` / ``--copick-sessions`` that match no pick set, refused naming the sets there are."""
    chosen = " ".join(
        f"{option} {names}"
        for option, names in (("--copick-users", selection.users), ("--copick-sessions", selection.sessions))
        if names
    )
    there = ", ".join(f"{user}/{session}" for user, session in sorted(every)) or "none"
    raise InputFileError(f"{config}: {chosen}: no pick set matches; the project's pick sets (user/session): {there}")


def _particle_objects(config: Path, root: Any, named: str | None) -> tuple[dict[str, Any], set[str] | None]:
    """The project's particle objects by name (their radii checked), and those ``--copick-objects`` names."""
    objects = {o.name: o for o in root.pickable_objects if o.is_particle}
    _check_radii(config, objects)
    wanted = _names(named)
    unknown = sorted((wanted or set()) - set(objects))
    if unknown:
        raise InputFileError(f"{config}: --copick-objects {unknown[0]}: no such particle object ({', '.join(objects)})")
    return objects, wanted


def read_copick_pick_sets(
    config: Path,
    pick_sets: Sequence[str],
    selection: CopickSelection,
    score_read: ScoreRead,
    orientations: bool,
    warn: Warn,
    log: Log,
) -> ParticleSet:
    """The picks of the named pick sets (``user/session``) of a copick project, one input each in that order.

    For comparing them: nothing is written, and any pick set is read as named, cryodedup's
    own results included. Of ``selection`` only the objects are read (``--copick-objects``);
    ``orientations``: whether to read each pick's orientation.
    """
    with root_logger_kept():
        root = open_project(config)
        objects, wanted = _particle_objects(config, root, selection.objects)
        keys = [_pick_set_key(config, text) for text in pick_sets]
        found, every = [], set()
        for run in sorted(root.runs, key=lambda r: r.name):
            for picks in run.picks:
                key = (picks.user_id, picks.session_id)
                if picks.pickable_object_name in objects:
                    every.add(key)
                if key in keys and picks.pickable_object_name in (wanted or objects):
                    found.append((run.name, picks.pickable_object_name, key, picks))
        for key in keys:  # (a set without picks of the objects compared is an input of none)
            if key not in every:
                there = ", ".join(f"{user}/{session}" for user, session in sorted(every)) or "none"
                raise InputFileError(
                    f"{config}: no picks by user {key[0]}, session {key[1]} (the project's pick sets of particle "
                    f"objects: {there})"
                )
        found.sort(key=lambda item: item[:3])
        return _particle_set(
            config, root, objects, found, selection, score_read, orientations, None, log, warn, keys=keys
        )


def _pick_set_key(config: Path, text: str) -> tuple[str, str]:
    """``user/session`` as copick's (user, session), or one line saying what a pick set's name is."""
    user, slash, session = text.partition("/")
    if not (slash and user.strip() and session.strip()) or "/" in session:
        raise InputFileError(f"{config}: {text!r} names no pick set: USER/SESSION expected (alice/1)")
    return user, session


def check_output_names(user: str, session: str) -> None:
    r"""Refuses an output user or session that copick would store under another name.

    copick names a pick file ``user_session_object.json`` and replaces in a name every ``_``,
    space and ``<>:"/\|?*`` with ``-`` (``copick.util.escape.sanitize_name``): its picks would
    land under the changed name, where this job, looking under the name given, finds none of
    them, and the next run reads them as an annotator's.
    """
    from copick.util.escape import sanitize_name

    for flag, name in (("--copick-out-user", user), ("--copick-out-session", session)):
        try:
            stored = sanitize_name(name, suppress_warnings=True)
        except ValueError:  # (nothing left of the name)
            stored = ""
        if stored != name:
            instead = f"; give {flag} {stored}" if stored else ""
            raise CryodedupError(
                f"{flag} {name!r}: copick allows no '_', space or any of <>:\"/\\|?* in a user or session (its "
                f"pick files are named user_session_object.json) and would store it as {stored or 'nothing'!r}"
                f"{instead}"
            )


def _check_radii(config: Path, objects: dict[str, Any]) -> None:
    """Refuses a radius that is no size (objects without one: :func:`_warn_unsized`, once their picks are read)."""
    for name, obj in objects.items():
        radius = obj.radius
        if radius is None:
            continue
        try:
            value = float(radius)
        except (TypeError, ValueError):
            value = float("nan")
        if not np.isfinite(value) or value <= 0:
            raise InputFileError(
                f"{config}: pickable object {name}: radius {radius!r} is no size (a positive number of Å expected)"
            )
        if value > MAX_CENTRE:  # (taken as its minimum distance, whose square must be finite)
            raise InputFileError(
                f"{config}: pickable object {name}: radius {value:g} Å is beyond the largest distance, {MAX_CENTRE:g} Å"
            )


def _warn_unsized(
    config: Path, objects: dict[str, Any], read: list[str], selection: CopickSelection, comparing: bool, warn: Warn
) -> None:
    """Says which objects read have no radius, the distance they take, and the option that gives theirs.

    Objects not read, and those the options give a distance by name, are not said: their
    distance decides nothing in this run, or is the user's. The option is printed whole, at
    the distance this run takes (pasted as it is, it changes nothing and says so); the user
    puts the object's radius in its place.
    """
    unsized = [name for name in read if objects[name].radius is None and name not in selection.sized]
    if not unsized:
        return
    at = f"{selection.unsized_at:g}"
    given = ",".join(f"{name}={at}" for name in unsized)
    flag, verb = ("--radius", "matched within") if comparing else ("--min-dist", "compared at")
    one = len(unsized) == 1
    its = "its" if one else "their"
    # (the Python API says the option as its keyword: min_dist="thyroglobulin=20")
    warn(
        f"{config}: {listed(unsized)} {'has' if one else 'have'} no radius: {its} picks are {verb} {at} Å, "
        f"as with {flag} {given}; give {its} radius in Å there in place of {at} (or as {its} radius "
        "in the config's pickable_objects)"
    )


def _points(config: Path, run: str, name: str, key: tuple[str, str], picks: Any) -> tuple[np.ndarray, ...]:
    """A pick set's locations, transformations and scores, or one line naming the set that copick cannot read."""
    try:
        if picks.points is None:  # (copick writes [] for no picks; its own numpy() fails on null)
            raise ValueError('"points" is null, a list of points expected')
        points, transforms = picks.numpy()
        scores = np.array([np.nan if p.score is None else p.score for p in picks.points], dtype=np.float64)
        return np.asarray(points, dtype=np.float64), np.asarray(transforms, dtype=np.float64), scores
    except (
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        OSError,
        RecursionError,
    ) as err:  # (pydantic's: ValueErrors)
        where = f"run {run}, object {name}, {key[0]}/{key[1]}"
        path = getattr(picks, "path", None)
        raise InputFileError(
            f"{config}: the picks of {where}{f' ({path})' if path else ''} cannot be read: {_first_problem(err)}"
        ) from None


def _first_problem(err: Exception) -> str:
    """The first thing wrong in a pick file: for copick's model (pydantic), the point and field it names."""
    try:
        first = err.errors()[0]  # type: ignore[attr-defined]
        loc, message = list(first["loc"]), first["msg"]
    except (AttributeError, IndexError, KeyError, TypeError):
        text = str(err).strip()
        return text.splitlines()[0] if text else type(err).__name__
    point = ""
    if len(loc) >= 2 and loc[0] == "points" and isinstance(loc[1], int):
        point, loc = f"point {loc[1] + 1}, ", loc[2:]
    field = ".".join(str(part) for part in loc) or "the file"
    given = f" (found {first['input']!r:.40})" if first.get("type") != "missing" and "input" in first else ""
    return f"{point}{field}: {message}{given}"


class OwnOutputs:
    """The (user, session) pick sets cryodedup wrote into a project: never an annotator's picks.

    copick's pick files keep no field of ours, so the sets written are listed in
    ``cryodedup_outputs.json`` at the project's overlay root; user ``cryodedup`` (the default
    output user) is ours in any session, listed or not (results written before the list).
    """

    NAME = "cryodedup_outputs.json"

    def __init__(self, root: Any):
        self.fs: Any
        self.fs, folder = getattr(root, "fs_overlay", None), getattr(root, "root_overlay", None)
        self.path = None if self.fs is None or folder is None else f"{folder}/{self.NAME}"
        self.listed = self._read()

    def _read(self) -> set[tuple[str, str]]:
        if self.path is None or not self.fs.exists(self.path):
            return set()
        try:
            with self.fs.open(self.path, "r") as f:
                listed = json.load(f)["pick_sets"]
            return {(str(p["user"]), str(p["session"])) for p in listed}
        except (ValueError, KeyError, TypeError) as err:
            raise CryodedupError(
                f"{self.path}: not cryodedup's list of the pick sets it wrote ({err}); remove it to start a new one"
            ) from None

    def holds(self, key: tuple[str, str]) -> bool:
        """Whether cryodedup wrote the pick set (user, session)."""
        return key[0] == DEFAULT_OUT_USER or key in self.listed

    def add(self, key: tuple[str, str]) -> None:
        """Lists (user, session) as written by cryodedup (before its picks are written: a stopped run stays ours)."""
        if key in self.listed or key[0] == DEFAULT_OUT_USER or self.path is None or self.fs is None:
            return
        self.listed.add(key)
        text = json.dumps(
            {
                "about": "pick sets written by cryodedup: left out of its inputs, replaced by its --force",
                "pick_sets": [{"user": u, "session": s} for u, s in sorted(self.listed)],
            },
            indent=1,
        )
        # Written whole, then renamed (copick's reconnecting wrapper has no rename: its file system's).
        fs = getattr(self.fs, "_fs", self.fs)
        partial = f"{self.path}.partial"
        with fs.open(partial, "w") as f:
            f.write(text + "\n")
        try:
            fs.mv(partial, self.path)
        except NotImplementedError:  # (a file system that cannot rename: written in place)
            with fs.open(self.path, "w") as f:
                f.write(text + "\n")
            fs.rm(partial)


def _particle_set(
    config: Path,
    root: Any,
    objects: dict,
    found: list,
    selection: CopickSelection,
    score_read: ScoreRead,
    orientations: bool,
    outdir: Path | None,
    log: Log,
    warn: Warn,
    keys: list[tuple[str, str]] | None = None,
) -> ParticleSet:
    """The picks ``found`` as a particle set: one input each (user, session).

    ``keys``: the inputs in that order, read to be compared (nothing to write); by default
    the sets found, sorted, read to be deduplicated (the kept picks written back).
    """
    comparing = keys is not None
    keys = keys if keys is not None else sorted({key for _, _, key, _ in found})
    if len(keys) > MAX_INPUTS:
        raise InputFileError(
            f"{config}: {len(keys)} (user, session) pick sets, at most {MAX_INPUTS} (one consensus bit each): "
            "choose some with --copick-users or --copick-sessions"
        )
    runs = sorted({run for run, _, _, _ in found})
    species_names = sorted({name for _, name, _, _ in found})
    read = _read_picks(config, found, keys, runs, species_names)
    start = read.sets[-1].stop if read.sets else 0
    log(
        f"read {start:,} picks of {len(species_names)} object(s) by {len(keys)} user/session(s) on {len(runs)} runs",
        "info",
    )
    if not start:
        raise InputFileError(f"{config}: no picks of {', '.join(objects) or 'any particle object'} to read")
    score = score_read.score
    score_label = None if score == "none" else SCORE_LABEL
    if score not in ("auto", "none", "score", SCORE_LABEL):
        raise InputFileError(f"{config}: --score {score}: copick points carry one score, `score` (or none)")
    radii = {name: float(objects[name].radius) for name in species_names if objects[name].radius}
    _warn_unsized(config, objects, species_names, selection, comparing, warn)
    writer = None if comparing else _writer(root, config, read.sets, selection, outdir)
    report: dict[str, Any] = {} if writer is None else writer.report
    # A pick set is a user/session (an input); each holds a pick file per run and object it picked.
    report.update({"config": str(config), "runs": len(runs), "pick_sets": len(keys), "pick_files": len(found)})
    joined = np.concatenate(read.centres)
    return ParticleSet(
        inputs=[f"{user}/{session}" for user, session in keys],
        input_of=np.concatenate(read.inputs),
        mic_names=runs,
        groups=np.concatenate(read.groups),
        centres=joined,
        psize=np.broadcast_to(np.nan, (start,)),
        pixel_sizes=[{"input": str(config), "optics_group": "all", "psize": None, "source": "not needed: Å"}],
        scores=np.concatenate(read.scores) if score_label else None,
        score_label=score_label,
        higher_is_better=score_read.score_order != "min",
        read_files=[config],
        writer=writer,
        poses=rotation_vectors(np.concatenate(read.rotations)) if orientations else None,
        pose_kind="rotvec",
        pose_label="copick transformation",
        species=np.concatenate(read.species),
        species_names=species_names,
        species_radii=radii,
        summary={"copick": report, "layouts": [layout(str(config), "copick", COPICK_FRAME)]},
        pick_sets=True,
    )


@dataclass
class _Picks:
    """The picks of every pick file found, a list entry per file: as :func:`_particle_set` joins them."""

    sets: list[PickSet]
    centres: list[np.ndarray]
    rotations: list[np.ndarray]  # each pick's 3 x 3 rotation, of its transformation
    scores: list[np.ndarray]
    inputs: list[np.ndarray]
    groups: list[np.ndarray]
    species: list[np.ndarray]


def _read_picks(
    config: Path, found: list, keys: list[tuple[str, str]], runs: list[str], species_names: list[str]
) -> _Picks:
    """Each pick file of ``found`` read: its centres (location plus the transformation's shift), rotations, scores."""
    read = _Picks([], [], [], [], [], [], [])
    start = 0
    for run, name, key, picks in found:
        points, transforms, set_scores = _points(config, run, name, key, picks)
        n = len(points)
        if points.size != 3 * n or transforms.size != 16 * n or set_scores.size != n:
            raise InputFileError(
                f"{config}: the picks of run {run}, object {name}, {key[0]}/{key[1]}: "
                "each point needs a location (x, y, z) and a 4x4 transformation"
            )
        read.centres.append(points.reshape(-1, 3) + transforms.reshape(-1, 4, 4)[:, :3, 3])
        read.rotations.append(transforms.reshape(-1, 4, 4)[:, :3, :3])
        read.scores.append(set_scores)
        read.inputs.append(np.full(n, keys.index(key), dtype=np.uint8))
        read.groups.append(np.full(n, runs.index(run), dtype=np.int64))
        read.species.append(np.full(n, species_names.index(name), dtype=np.uint32))
        read.sets.append(PickSet(picks, run, name, start, start + n, keys.index(key)))
        start += n
    return read


def _writer(
    root: Any, config: Path, sets: list[PickSet], selection: CopickSelection, outdir: Path | None
) -> CopickWriter:
    """The writer of the kept picks back into the project; refuses an output pick set cryodedup did not write."""
    writer = CopickWriter(root, config, sets, selection.out_user, selection.out_session, outdir)
    writer.refuse_foreign()
    return writer


#: The centre copick's conversion measures rlnCenteredCoordinate*Angst from, as the summary says it.
STAR_CENTRING = (
    "rlnCenteredCoordinate*Angst from copick's tomogram centre, size / 2 x voxel spacing; RELION 5's Picks job "
    "centres on (size / 2 - 1) tilt-series pixels: one tilt-series pixel apart"
)
#: The frame of copick's picks, as the summary names it.
COPICK_FRAME = "Å from each tomogram's corner (location + the transformation's shift)"


class CopickWriter:
    """Writes the kept picks into the project as a new (user, session); with an output folder, RELION 5 STAR too."""

    def __init__(self, root: Any, config: Path, sets: list[PickSet], user: str, session: str, outdir: Path | None):
        self.root, self.config, self.sets = root, config, sets
        self.user, self.session, self.outdir = user, session, outdir
        #: The summary's ``copick`` entry: what was read, and where the kept picks went once written.
        self.report: dict = {}
        #: How far ``--transform`` moved each row (Å, x y z), written so; None: every pick as read.
        self.moved: np.ndarray | None = None

    def move_rows(self, rows: np.ndarray, shift_A: np.ndarray, psize: np.ndarray) -> str:
        """As :class:`~cryodedup.particle_set.MovingSubsetWriter` says: the points' locations (Å), moved."""
        if self.moved is None:
            self.moved = np.zeros((max((s.stop for s in self.sets), default=0), 3))
        self.moved[rows, : shift_A.shape[1]] += shift_A
        return "its picks written with the moved locations, every other field as read"

    def _moved_points(self, s: PickSet, points: list[Any], keep: np.ndarray) -> list[Any]:
        """Copies of the kept ``points`` of pick set ``s``, moved where ``--transform`` moved them."""
        copies = [p.model_copy(deep=True) for p, k in zip(points, keep) if k]
        if self.moved is not None:
            for point, by in zip(copies, self.moved[s.start : s.stop][keep]):
                point.location.x, point.location.y, point.location.z = (
                    point.location.x + by[0],
                    point.location.y + by[1],
                    point.location.z + by[2],
                )
        return copies

    def _existing(self) -> list[str]:
        pairs = sorted({(s.run, s.species) for s in self.sets})
        runs = {run.name: run for run in self.root.runs}
        return [
            f"{run}/{name}"
            for run, name in pairs
            if runs[run].get_picks(object_name=name, user_id=self.user, session_id=self.session)
        ]

    def where(self, pick_set: int, pick: int) -> str:
        """Where pick ``pick`` (from 0) of input ``pick_set`` (a user/session) was read: its run, object and file."""
        for s in (s for s in self.sets if s.input == pick_set):
            if pick < s.stop - s.start:
                path = getattr(s.picks, "path", None)
                user, session = s.picks.user_id, s.picks.session_id
                where = f"run {s.run}, object {s.species}, {user}/{session}{f' ({path})' if path else ''}"
                return f"{self.config}: the picks of {where}: point {pick + 1}"
            pick -= s.stop - s.start
        raise IndexError(f"pick set {pick_set} has no point {pick + 1}")

    def write(self, keep: np.ndarray, force: bool, halves: np.ndarray | None = None) -> dict[str, list[Path]]:
        """The STAR files first (all or nothing), then the kept picks of each run and object into the project."""
        with root_logger_kept():
            return self._write(keep, force)

    def _held(self) -> list[str]:
        """Every pick file the output (user, session) holds in the project, as ``run/object``, whatever was read."""
        return [
            f"{run.name}/{picks.pickable_object_name}"
            for run in sorted(self.root.runs, key=lambda r: r.name)
            for picks in run.get_picks(user_id=self.user, session_id=self.session)
        ]

    def refuse_foreign(self) -> None:
        """One line, even with --force, when the output (user, session) holds picks cryodedup did not write.

        Picks of any object count, not only those this run writes: the set written is listed as
        cryodedup's, and its other objects' picks would be left out of every later run's inputs.
        """
        held = self._held()
        if held and not OwnOutputs(self.root).holds((self.user, self.session)):
            first = (self._existing() or held)[0]  # (a file this run would replace, when there is one)
            raise OutputError(
                f"{self.config}: user {self.user}, session {self.session} holds picks cryodedup did not write "
                f"({first}, {counted(len(held), 'pick file')} in all): writing there would lose {self.user}'s "
                "picks (or leave them out of later runs as cryodedup's), even with --force; choose another "
                "--copick-out-user or --copick-out-session"
            )

    def _write(self, keep: np.ndarray, force: bool) -> dict[str, list[Path]]:
        self.refuse_foreign()
        existing = self._existing()
        if existing and not force:
            raise OutputError(
                f"{self.config}: cryodedup's earlier picks as user {self.user}, session {self.session} exist "
                f"already ({existing[0]}, {len(existing)} in all): give --force to replace them, or another "
                "--copick-out-session"
            )
        targets = self._pick_targets(keep)
        check_writable(self.config, targets)  # (before anything is written: the STAR files, the list, a set)
        outputs: dict[str, list[Path]] = {"kept": [], "rejected": []}
        if self.outdir is not None:
            outputs = self._write_star(keep, force)
            self.report["star_centring"] = STAR_CENTRING
        OwnOutputs(self.root).add((self.user, self.session))
        publish(self.config, targets)
        self.report["written_as"] = {"user": self.user, "session": self.session}
        return outputs

    def _pick_targets(self, keep: np.ndarray) -> list[Any]:
        """The pick set of each run and object to write, its kept points set (nothing written yet)."""
        by_target: dict[tuple[str, str], list] = {}
        for s in self.sets:
            points = by_target.setdefault((s.run, s.species), [])
            points += self._moved_points(s, s.picks.points, np.asarray(keep[s.start : s.stop], dtype=bool))
        runs = {run.name: run for run in self.root.runs}
        targets = []
        for (run, name), points in by_target.items():
            there = runs[run].get_picks(object_name=name, user_id=self.user, session_id=self.session)
            picks = there[0] if there else new_pick_set(runs[run], name, self.user, self.session)
            picks.points = points
            targets.append(picks)
        return targets

    def star_paths(self) -> dict[str, dict[str, Path]]:
        """The STAR outputs by object: ``particles_kept.star`` for one, ``particles_kept_NAME.star`` for several."""
        assert self.outdir is not None
        names = sorted({s.species for s in self.sets})
        tag = (lambda name: "") if len(names) == 1 else (lambda name: f"_{name}")
        return {
            name: {subset: self.outdir / f"particles_{subset}{tag(name)}.star" for subset in ("kept", "rejected")}
            for name in names
        }

    def _write_star(self, keep: np.ndarray, force: bool) -> dict[str, list[Path]]:
        """Kept and rejected picks of each object as RELION 5 particles, by copick's own conversion."""
        import pandas as pd
        import starfile

        frames: dict[str, list] = {}
        for s in self.sets:
            rows = self._relion_rows(s)
            if self.moved is not None:  # (the centred Å columns, moved as the points are)
                for axis, name in enumerate("XYZ"):
                    rows[f"rlnCenteredCoordinate{name}Angst"] += self.moved[s.start : s.stop, axis]
            frames.setdefault(s.species, []).append((rows, keep[s.start : s.stop]))
        paths = self.star_paths()
        every = [path for by_subset in paths.values() for path in by_subset.values()]
        with AtomicOutputs(every, force=force, inputs=[self.config]) as tmp:
            for name, parts in frames.items():
                table = pd.concat([frame for frame, _ in parts], ignore_index=True)
                kept = np.concatenate([k for _, k in parts])
                for subset, rows in (("kept", kept), ("rejected", ~kept)):
                    starfile.write({"particles": table[rows].reset_index(drop=True)}, tmp[paths[name][subset]])
        return {subset: [by_subset[subset] for by_subset in paths.values()] for subset in ("kept", "rejected")}

    def _relion_rows(self, s: PickSet) -> Any:
        """The pick set's rows as copick converts them, with each pick's score and its set's user and session.

        The score as RELION's pickers' ``rlnAutopickFigureOfMerit`` (read back as the score; a
        pick without one is NaN, no score); the user and session as ``copickUserId`` and
        ``copickSessionId`` (no RELION label names them; RELION keeps columns it does not know).
        """
        from copick.util.relion import picks_to_df_relion

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # (several voxel spacings: copick takes the smallest, as said)
                frame = picks_to_df_relion(s.picks, coordinates="centered")
        except ValueError as err:
            raise CryodedupError(
                f"{self.config}: run {s.run}: RELION 5's centred coordinates need the run's tomogram, and copick "
                f"finds none ({err}); without -o the kept picks are written into the project only"
            ) from None
        except KeyError as err:  # (copick reads the tomogram's scale "0" for its centre)
            if err.args != ("0",):
                raise
            needs = "RELION 5's centred coordinates have no centre; without -o the kept picks go into the project only"
            raise InputFileError(_empty_tomogram(self.config, s.run, needs)) from None
        frame["rlnAutopickFigureOfMerit"] = [np.nan if p.score is None else float(p.score) for p in s.picks.points]
        frame["copickUserId"] = s.picks.user_id
        frame["copickSessionId"] = s.picks.session_id
        return frame
