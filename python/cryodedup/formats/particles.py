"""The particle formats' one entrance: which module reads a job's particle files and writes them back.

The particle job hands in its inputs and what it decides (``one_pass``: whether the STAR
reader decides while it scans); the micrograph job's ``--particles`` file is opened here
for its micrograph names and split by its format's writer. A new particle format is added
here and in its own module. Each format's module is imported only when its files are given.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Union

from ..errors import CryodedupError
from ..particle_set import Log, ParticleSet, PlacedSubsetWriter, Warn
from ..paths import StrPath
from ..resolve import match_particle_set
from .read_request import ReadRequest, Scale
from .sniff import is_copick_config, is_cryosparc, is_dynamo_table, is_picker_output, may_be_import_list

if TYPE_CHECKING:
    from .cryosparc.dataset import CsGroup
    from .star.particle_table import ParticleStar
    from .star.particle_writer import AskOnePass

__all__ = ["ParticleNames", "open_particle_names", "particle_suffix", "read_particle_files", "read_particle_names"]


def read_particle_files(
    inputs: list[Path],
    outdir: Path | None,
    request: ReadRequest,
    warn: Warn,
    log: Log,
    one_pass: AskOnePass | None = None,
) -> ParticleSet:
    """The inputs read by the module of their format (all inputs must share one).

    ``outdir`` is None only for a copick project whose kept picks go back into it alone.
    Each reader is handed the parts of ``request`` it reads. Several inputs' micrographs are
    matched as ``--match-micrographs`` says (the pickers' reader and copick's match their own).
    """
    kinds = {is_cryosparc(p) for p in inputs}
    _refuse_own_pixel_sizes(inputs, request.scale, [])
    if len(kinds) > 1:
        raise CryodedupError(
            "inputs mix CryoSPARC (.cs/.csg) and STAR files or picker coordinates; deduplicate each kind on its own"
        )
    if True in {is_copick_config(p) for p in inputs}:
        if len(inputs) > 1:
            raise CryodedupError("a copick project is one input: its users' and sessions' picks are read from it")
        from .copick import read_copick

        return read_copick(
            inputs[0], outdir, request.copick, request.score_read, request.row_read.orientations, warn, log
        )
    outdir = outdir or Path(".")
    import_lists = _import_lists(inputs)
    if any(import_lists):
        return _read_with_import_lists(inputs, import_lists, outdir, request, warn, log)
    scale, score_read, row_read = request.scale, request.score_read, request.row_read
    dynamo = {is_dynamo_table(p) for p in inputs}
    if dynamo == {True}:
        from .dynamo import read_dynamo_tables

        tables = read_dynamo_tables(inputs, outdir, scale, score_read, row_read, warn, log)
        return _matched(tables, inputs, scale, warn)
    if len(dynamo) > 1:
        raise CryodedupError("inputs mix Dynamo tables (.tbl) and other files; deduplicate each kind on its own")
    return _read_picks_or_particles(inputs, kinds == {True}, outdir, request, warn, log, one_pass)


def _import_lists(inputs: list[Path]) -> list[bool]:
    """Whether each input is a RELION 5 import list (its name first, then its columns when the name may be one)."""
    import_lists = [may_be_import_list(p) for p in inputs]
    if not any(import_lists):
        return import_lists
    from .star.import_lists import is_import_list

    return [listed and is_import_list(p) for p, listed in zip(inputs, import_lists)]


def _read_with_import_lists(
    inputs: list[Path], import_lists: list[bool], outdir: Path, request: ReadRequest, warn: Warn, log: Log
) -> ParticleSet:
    """Inputs of which some are RELION 5 import lists: the lists alone, or with RELION tomography particle files."""
    from .star.import_particles import read_import_lists, read_lists_and_particles

    scale, score_read, row_read = request.scale, request.score_read, request.row_read
    _refuse_own_pixel_sizes(inputs, scale, [p for p, listed in zip(inputs, import_lists) if listed])
    if all(import_lists):
        picks = read_import_lists(inputs, outdir, scale, score_read, warn, log, row_read)
        return _matched(picks, inputs, scale, warn)
    others = [p for p, listed in zip(inputs, import_lists) if not listed]
    if any(is_dynamo_table(p) or is_picker_output(p) for p in others):
        raise CryodedupError(
            "inputs mix RELION 5 import lists and picker or Dynamo files; an import list is deduplicated "
            "alone, with other lists or with RELION tomography particle files"
        )
    joined = read_lists_and_particles(inputs, import_lists, outdir, scale, score_read, row_read, warn, log)
    return _matched(joined, inputs, scale, warn)


def _read_picks_or_particles(
    inputs: list[Path],
    cryosparc: bool,
    outdir: Path,
    request: ReadRequest,
    warn: Warn,
    log: Log,
    one_pass: AskOnePass | None,
) -> ParticleSet:
    """Pickers' coordinates, particle files (STAR, or CryoSPARC with ``cryosparc``), or refined particles with picks."""
    scale, score_read, row_read = request.scale, request.score_read, request.row_read
    is_picks = [is_picker_output(p) for p in inputs]
    pickers = set(is_picks)
    if len(pickers) > 1 and not cryosparc:  # refined particles and hand picks (issue 64)
        from .particles_with_picks import read_particles_with_picks

        joined = read_particles_with_picks(
            inputs,
            is_picks,
            outdir,
            scale,
            score_read,
            row_read,
            request.output_format,
            warn,
            log,
            request.moves_inputs,
        )
        return _matched(joined, inputs, scale, warn)
    if len(pickers) > 1:
        raise CryodedupError(
            "inputs mix picker coordinates and particle files; deduplicate each kind on its own "
            "(or extract the picks first)"
        )
    if pickers == {True}:
        from .picks.particles import read_picker_outputs

        # (it matches the pickers' micrographs itself)
        return read_picker_outputs(
            inputs, outdir, scale, score_read, request.output_format, warn, log, request.moves_inputs
        )
    if cryosparc:
        from .cryosparc.particles import read_cs_files

        return _matched(read_cs_files(inputs, outdir, scale, score_read, row_read, warn, log), inputs, scale, warn)
    from .star.particles import read_star_files

    # One input is decided while read (docs/design.md section 5): its micrographs are matched by
    # exact path, as this matching keeps them, so it changes nothing there.
    return _matched(
        read_star_files(inputs, outdir, scale, score_read, row_read, warn, log, one_pass, request.writes),
        inputs,
        scale,
        warn,
    )


def _refuse_own_pixel_sizes(inputs: list[Path], scale: Scale, lists: list[Path]) -> None:
    """Refuses ``--mic-psize INPUT=Å`` for inputs other than particle STAR files: their readers take one for all.

    ``lists``: the inputs known to be RELION 5 import lists.
    """
    if scale.by_input is None:
        return
    kinds = (is_cryosparc, is_copick_config, is_dynamo_table, is_picker_output)
    other = next((p for p in inputs if any(kind(p) for kind in kinds)), None) or next(iter(lists), None)
    if other is None:
        return
    raise CryodedupError(
        f"--mic-psize INPUT=Å: each input's own pixel size is read for particle STAR files, and {other} is not "
        "one; give one --mic-psize for all, or move an input with --transform INPUT=scale:S (its centres times S)"
    )


def _matched(particles: ParticleSet, inputs: list[Path], scale: Scale, warn: Warn) -> ParticleSet:
    """``particles`` with one id for one micrograph across inputs; an empty table said, not refused.

    A pipeline may hand on an empty selection; its outputs are then empty too, but a person
    who gave the wrong file should hear it rather than read "Particles in 0".
    """
    match_particle_set(particles, scale.match_micrographs, warn)
    if len(particles) == 0:
        named = ", ".join(str(p) for p in inputs)
        warn(f"{named}: no particles (the table has no rows); the kept and rejected outputs hold none")
    return particles


#: A particle file opened for its rows' micrographs alone (the micrograph job's ``--particles``).
ParticleNames = Union["CsGroup", "ParticleStar"]


def particle_suffix(path: StrPath) -> str:
    """The suffix of the files a particle file's subsets are written as: its format's."""
    return ".cs" if is_cryosparc(path) else ".star"


def open_particle_names(path: Path) -> ParticleNames:
    """A particle file opened for its micrograph names (its columns checked), before anything is read."""
    if is_cryosparc(path):
        from .cryosparc.particles import open_micrograph_names

        return open_micrograph_names(path)
    from .star.particle_table import ParticleStar

    return ParticleStar(path, names_only=True)


def read_particle_names(
    source: ParticleNames, outdir: Path, stems: tuple[str, str]
) -> tuple[ParticleSet, PlacedSubsetWriter]:
    """The rows of ``source`` by micrograph, and the writer of the kept and rejected rows as ``stems`` in ``outdir``."""
    from .star.particle_table import ParticleStar

    if isinstance(source, ParticleStar):
        from .star.particles import read_micrograph_names as read_star_names

        return read_star_names(source, outdir, (f"{stems[0]}.star", f"{stems[1]}.star"))
    from .cryosparc.particles import read_micrograph_names as read_cs_names

    return read_cs_names(source, outdir, stems)
