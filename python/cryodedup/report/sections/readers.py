"""What the inputs' readers (and writers) found, typed: each part knows its rows.

The readers fill the particle set's ``summary`` dict (``micrograph_matching``, ``datasets``,
``layouts``, ``optics_groups_renumbered``, ``import_lists``, ``copick`` ...): it is the piece of the
``--json`` document they own, printed as it is. :meth:`ReadersFound.of` reads it once, when the job's
summary is asked for its rows (:meth:`~cryodedup.jobs.particles.summary.ParticleSummary.overview`:
a writer completes its part as it writes); the report then reads these values, never the dict.

Small frozen values, each a ``NamedTuple``: one is made in a tenth of the time a frozen dataclass
takes (about a millisecond each at start-up), and every run's table loads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ...labels import counted, input_labels
from .base import Row

__all__ = ["MicrographMatching", "ReadersFound"]


class MicrographMatching(NamedTuple):
    """How micrographs of different inputs were matched (``--match-micrographs``; ``resolve.micrograph_names``).

    ``matched_by_name`` None: no names were compared (the micrograph job's ``--particles`` found by
    CryoSPARC uid), ``used`` says how they were found.
    """

    used: str
    mode: str | None = None
    matched_by_name: int | None = None
    example: str | None = None
    kept_apart: int = 0
    not_matched: int = 0
    pixel_sizes_by_file_name: int = 0

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> MicrographMatching:
        """The matching of the summary's ``micrograph_matching`` entry."""
        return cls(
            str(entry.get("used", "")),
            entry.get("mode"),
            entry.get("matched_by_name"),
            entry.get("example"),
            entry.get("kept_apart", 0),
            entry.get("not_matched", 0),
            entry.get("pixel_sizes_by_file_name", 0),
        )

    @property
    def plain(self) -> bool:
        """Whether it only restates the default: ``auto`` found the inputs' paths the same (no row then)."""
        said = self.kept_apart or self.not_matched or self.pixel_sizes_by_file_name
        return self.mode == "auto" and not self.matched_by_name and self.used.startswith("exact path") and not said

    def text(self) -> str:
        """The matching in words, for the terminal and the report."""
        if self.matched_by_name is None:
            return self.used
        text = f"--match-micrographs {self.mode}: "
        if self.matched_by_name:
            text += f"{counted(self.matched_by_name, 'micrograph')} matched by file name, e.g. {self.example}"
        else:  # what was done, though no name matched (not "by exact path" when names were compared)
            text += f"by {self.used}"
        if self.kept_apart:
            text += f"; {counted(self.kept_apart, 'micrograph')} sharing a file name within one input kept apart"
        if self.not_matched:
            text += f"; {self.not_matched:,} with a file name of another input's micrograph not compared"
        if self.pixel_sizes_by_file_name:
            text += (
                f"; the pixel sizes of {self.pixel_sizes_by_file_name:,} micrographs found in the --micrographs "
                "STAR by file name (listed there under another folder)"
            )
        return text

    def rows(self, unit: str) -> list[Row]:
        """One row, unless the matching is :attr:`plain`."""
        return [] if self.plain else [(f"{unit.capitalize()} matching", self.text())]


class Datasets(NamedTuple):
    """The inputs of each dataset (``--dataset``), and the micrograph names of one also in another."""

    inputs_of: tuple[tuple[str, tuple[str, ...]], ...]
    names_kept_apart: int

    def rows(self, unit: str) -> list[Row]:
        """One row: each dataset's inputs (told apart across the datasets, not within each), then the names."""
        every = [f for _, files in self.inputs_of for f in files]
        label_of = dict(zip(every, input_labels(every)))
        lines = [f"{label}: {', '.join(label_of[f] for f in files)}" for label, files in self.inputs_of]
        apart = self.names_kept_apart
        lines.append(f"{apart:,} {unit} name{'s' * (apart != 1)} of one dataset also in another: kept apart")
        return [("Datasets", "\n".join(lines))]


class InputLayout(NamedTuple):
    """How one tomography input was read (docs/design.md section 7): its layout, its frame, notes."""

    input: str
    layout: str
    frame: str
    notes: tuple[str, ...] = ()


class Layouts(NamedTuple):
    """How each tomography input was read."""

    each: tuple[InputLayout, ...] = ()

    def rows(self, unit: str) -> list[Row]:
        """One row, a line per input (named when there are several); none for no tomography input."""
        several = len(self.each) > 1
        lines = [
            (f"{e.input}: " if several else "") + "; ".join([f"{e.layout}, {e.frame}", *e.notes]) for e in self.each
        ]
        return [("Read as", "\n".join(lines))] if lines else []


class Renumbered(NamedTuple):
    """An input whose optics groups the merged output renumbers: each (old, new) number."""

    input: str
    groups: tuple[tuple[str, Any], ...]


class RenumberedGroups(NamedTuple):
    """The inputs whose optics groups the merged output renumbers (their numbers clash with an earlier input's)."""

    each: tuple[Renumbered, ...] = ()

    def rows(self, unit: str) -> list[Row]:
        """One row: each input's groups, old -> new, and what the new numbers are; none when none was renumbered."""
        if not self.each:
            return []
        lines = [f"{e.input}: " + ", ".join(f"{old} -> {new}" for old, new in e.groups) for e in self.each]
        note = "(in the outputs: numbers an earlier input's different groups already had; their rows follow)"
        return [("Optics groups renumbered", "\n".join([*lines, note]))]


class ImportList(NamedTuple):
    """One subset's RELION 5 import lists: the lists, the coordinate files, the tomograms left out."""

    subset: str
    lists: tuple[str, ...]
    files: int
    left_out: tuple[str, ...] = ()


class ImportLists(NamedTuple):
    """The RELION 5 import lists written, by subset."""

    each: tuple[ImportList, ...]

    def rows(self, unit: str) -> list[Row]:
        """One row: per subset, its lists, its files and the tomograms it leaves out (no pick of theirs in it)."""
        lines = []
        for entry in self.each:
            files = f"{entry.files:,} coordinate file{'' if entry.files == 1 else 's'}"
            left = f"; left out (no pick {entry.subset}): {', '.join(entry.left_out)}" if entry.left_out else ""
            lines.append(f"{entry.subset}: {', '.join(entry.lists)} ({files}){left}")
        return [("Import lists", "\n".join(lines))] if lines else []


class CopickProject(NamedTuple):
    """The copick project read (``copick``): its pick sets and runs, where the kept picks went, the sets left out."""

    config: str
    pick_sets: int
    runs: int
    written_as: str | None = None
    left_out: tuple[str, ...] = ()
    star_centring: str | None = None
    #: The option that reads the sets left out too (``--copick-users`` naming the users read and theirs).
    read_left_out: str | None = None

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> CopickProject:
        """The project of the summary's ``copick`` entry."""
        written = entry.get("written_as")
        return cls(
            entry["config"],
            entry["pick_sets"],
            entry["runs"],
            f"user {written['user']}, session {written['session']}" if written else None,
            tuple(entry.get("left_out") or ()),
            entry.get("star_centring") or None,
            entry.get("read_left_out"),
        )

    def text(self) -> str:
        """The copick row."""
        text = f"{self.config}: {counted(self.pick_sets, 'pick set')} on {counted(self.runs, 'run')}"
        if self.written_as:
            text += f"; kept picks written as {self.written_as}"
        if self.left_out:
            text += f"\nleft out, written by cryodedup earlier: {', '.join(self.left_out)}"
            how = self.read_left_out or "name their user in --copick-users"
            text += f"\n(to read them too: {how})"
        if self.star_centring:
            text += f"\nSTAR files: {self.star_centring}"
        return text


class ReadersFound(NamedTuple):
    """What the readers found, as the report says it; ``copick``: the project's entry (its own row)."""

    matching: MicrographMatching | None = None
    datasets: Datasets | None = None
    layouts: Layouts = Layouts()
    renumbered: RenumberedGroups = RenumberedGroups()
    import_lists: ImportLists | None = None
    notes: tuple[str, ...] = ()
    output_format: str | None = None
    copick: CopickProject | None = None
    written_into: str | None = None
    #: The pickers' formats read (none: no picker's file).
    formats: tuple[str, ...] = ()

    @classmethod
    def of(cls, read: Mapping[str, Any]) -> ReadersFound:
        """The readers' keys of the summary (its ``read``), typed."""
        copick = read.get("copick") or None
        written = (copick or {}).get("written_as")
        layouts, renumbered = read.get("layouts") or [], read.get("optics_groups_renumbered") or []
        return cls(
            MicrographMatching.of(read["micrograph_matching"]) if read.get("micrograph_matching") else None,
            _datasets(read.get("datasets")),
            Layouts(tuple(InputLayout(e["input"], e["layout"], e["frame"], tuple(e["notes"])) for e in layouts)),
            RenumberedGroups(tuple(Renumbered(e["input"], tuple(e["groups"].items())) for e in renumbered)),
            _import_lists(read.get("import_lists")),
            tuple(read.get("reading_notes") or ()),
            read.get("output_format") or None,
            CopickProject.of(copick) if copick else None,
            f"{written['user']}/{written['session']}" if written else None,
            tuple(read.get("formats") or ()),
        )


def _datasets(entry: Mapping[str, Any] | None) -> Datasets | None:
    if not entry:
        return None
    return Datasets(tuple((label, tuple(files)) for label, files in entry["labels"].items()), entry["names_kept_apart"])


def _import_lists(written: Mapping[str, Any] | None) -> ImportLists | None:
    if not written:
        return None
    return ImportLists(
        tuple(
            ImportList(subset, tuple(e.get("lists") or [e["list"]]), e["files"], tuple(e["left_out"] or ()))
            for subset, e in written.items()
        )
    )
