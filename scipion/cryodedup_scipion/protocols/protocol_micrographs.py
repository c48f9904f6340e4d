"""``ProtCryodedupMicrographs``: micrographs that image the same area twice, and the particles on them."""

from __future__ import annotations

import csv
import os
from typing import ClassVar

import pyworkflow.protocol.params as params
from pwem.objects import EMFile

from ..convert import InputError
from ..forms import add_option_param, choices_offered, chosen
from .base import OUTDIR, CryodedupProtocol

#: The choices of --candidates and --order not offered: they need --metadata (no field here).
NEEDS_METADATA = ("metadata",)


class ProtCryodedupMicrographs(CryodedupProtocol):
    """Finds micrographs that image the same area twice (cryodedup).

    Multi-hole beam-shift collection sometimes images an area twice; as microduplicate_screener
    does, but by phase correlation of band-passed, binned images.
    The earliest acquisition of each group is kept. Outputs: kept and rejected micrographs, the
    table of scored pairs, and optionally the particles split by micrograph.
    """

    _label = "find duplicate micrographs"
    _possibleOutputs: ClassVar[dict] = {
        "outputMicrographs": "SetOfMicrographs",
        "rejectedMicrographs": "SetOfMicrographs",
        "outputParticles": "SetOfParticles",
        "rejectedParticles": "SetOfParticles",
        "pairs": "EMFile",
    }

    def _defineParams(self, form):
        form.addSection(label="Input")
        form.addParam(
            "inputMicrographs",
            params.PointerParam,
            pointerClass="SetOfMicrographs",
            important=True,
            label="Input micrographs",
        )
        form.addParam(
            "inputParticles",
            params.PointerParam,
            pointerClass="SetOfParticles",
            allowsNull=True,
            label="Particles to split",
            help="Optional: particles split into those on kept and those on rejected micrographs (by micrograph "
            "name, else id). Particles on micrographs not in the input stay with the kept ones.",
        )
        candidates = choices_offered("micrographs", "candidates", NEEDS_METADATA)
        orders = choices_offered("micrographs", "order", NEEDS_METADATA)
        add_option_param(form, params, "targetPsize", "micrographs", "target_psize", "Target pixel size (Å)")
        add_option_param(form, params, "minZ", "micrographs", "min_z", "Minimum z")
        add_option_param(form, params, "minPearson", "micrographs", "min_pearson", "Minimum Pearson")
        add_option_param(form, params, "candidates", "micrographs", "candidates", "Pairs compared", choices=candidates)
        add_option_param(form, params, "window", "micrographs", "window", "Window (images)")
        add_option_param(form, params, "order", "micrographs", "order", "Acquisition order", choices=orders)
        form.addParam("plot", params.BooleanParam, default=True, label="Draw the report's pictures?")

    def _insertAllSteps(self):
        self._insertFunctionStep(self.findDuplicatesStep)

    # --------------------------- steps ---------------------------------------
    def findDuplicatesStep(self):
        """Compares the micrographs and writes the kept and rejected sets (and the particles split)."""
        self.run_guarded(self._find_duplicates)

    def micrograph_options(self):
        """Cryodedup's MicrographOptions from the form (pixel size from the set)."""
        from cryodedup import MicrographOptions

        mics = self.inputMicrographs.get()
        return MicrographOptions(
            psize=float(mics.getSamplingRate()),
            target_psize=float(self.targetPsize.get()),
            min_z=float(self.minZ.get()),
            min_pearson=float(self.minPearson.get()),
            candidates=chosen("micrographs", "candidates", self.candidates.get(), NEEDS_METADATA),
            window=int(self.window.get()),
            order=chosen("micrographs", "order", self.order.get(), NEEDS_METADATA),
            plot=bool(self.plot.get()) and can_plot(),
        )

    def _find_duplicates(self):
        from cryodedup import find_duplicate_micrographs

        mics = self.inputMicrographs.get()
        by_path = {}
        for mic in mics:
            path = os.path.abspath(mic.getFileName())
            if path in by_path:
                raise InputError(f"micrographs {by_path[path].getObjId()} and {mic.getObjId()} are one file: {path}")
            by_path[path] = mic.clone()
        outdir = self._getExtraPath(OUTDIR)
        # (the typed summary's --json document: the keys this protocol's summary has always kept)
        summary = find_duplicate_micrographs(list(by_path), outdir, self.micrograph_options(), force=True).to_json()
        rejected_paths = set(read_lines(os.path.join(outdir, "micrographs_rejected.txt")))
        rejected_mics = {path: mic for path, mic in by_path.items() if path in rejected_paths}
        self._write_micrographs(mics, by_path, rejected_mics)
        split = self._split_particles(rejected_mics.values()) if self.inputParticles.get() is not None else None
        pairs = EMFile(filename=os.path.join(outdir, "pairs.csv"))
        self._defineOutputs(pairs=pairs)
        self._defineSourceRelation(self.inputMicrographs, pairs)
        self.write_summary(
            {
                "micrographs": summary["micrographs"],
                "kept": summary["kept"],
                "rejected": summary["rejected"],
                "pairs_scored": summary["pairs_scored"],
                "duplicate_pairs": summary["duplicate_pairs"],
                "order": summary["order"],
                "binned_pixel_size_A": summary["binned_pixel_size_A"],
                "duplicates": read_duplicates(os.path.join(outdir, "duplicates.csv")),
                "particles": split,
                "warnings": summary.get("warnings", []),
            }
        )

    def _write_micrographs(self, mics, by_path, rejected_mics) -> None:
        rejected_ids = {mic.getObjId() for mic in rejected_mics.values()}
        for name, keep in (("outputMicrographs", True), ("rejectedMicrographs", False)):
            output = self._createSetOfMicrographs(suffix="_kept" if keep else "_rejected")
            output.copyInfo(mics)

            def choose(item, _row, keep=keep):
                item._appendItem = (item.getObjId() not in rejected_ids) is keep

            output.copyItems(mics, updateItemCallback=choose)
            self._defineOutputs(**{name: output})
            self._defineSourceRelation(self.inputMicrographs, output)

    def _split_particles(self, rejected_mics) -> dict:
        particles = self.inputParticles.get()
        names, ids = set(), set()
        for mic in self.inputMicrographs.get():  # (iteration reuses one item: read each as it comes)
            names.add(mic.getMicName())
            ids.add(mic.getObjId())
        names.discard(None)
        rejected_names = {mic.getMicName() for mic in rejected_mics if mic.getMicName()}
        rejected_ids = {mic.getObjId() for mic in rejected_mics}
        counts = {"kept": 0, "rejected": 0, "elsewhere": 0}

        def on_rejected(particle) -> bool:
            coord = particle.getCoordinate()
            name = coord.getMicName() if coord is not None else None
            if name and name in names:
                return name in rejected_names
            if particle.getMicId() in ids:
                return particle.getMicId() in rejected_ids
            counts["elsewhere"] += 1
            return False

        for name, keep in (("outputParticles", True), ("rejectedParticles", False)):
            output = self._createSetOfParticles(suffix="_on_kept" if keep else "_on_rejected")
            output.copyInfo(particles)

            def choose(item, _row, keep=keep):
                item._appendItem = (not on_rejected(item)) is keep
                if item._appendItem:
                    counts["kept" if keep else "rejected"] += 1

            output.copyItems(particles, updateItemCallback=choose)
            self._defineOutputs(**{name: output})
            self._defineSourceRelation(self.inputParticles, output)
        counts["elsewhere"] //= 2  # counted in both passes
        return counts

    # --------------------------- info ----------------------------------------
    def _validate(self):
        from cryodedup import CryodedupError

        mics = self.inputMicrographs.get()
        if mics is None:
            return ["*Input micrographs*: no set given"]
        if mics.getSize() < 2:
            return [f"*Input micrographs* holds {mics.getSize()} micrograph(s): at least 2 are compared"]
        if not (mics.getSamplingRate() or 0) > 0:
            return ["*Input micrographs* have no sampling rate"]
        particles = self.inputParticles.get()
        if particles is not None and particles.getSize() == 0:
            return ["*Particles to split* holds no particle"]
        try:
            self.micrograph_options().check()
        except (CryodedupError, TypeError, ValueError) as err:
            return [" ".join(str(err).split())]
        return []

    def _summary(self):
        found = self.read_summary()
        if found is None:
            return ["Not run yet."]
        lines = [
            f"Micrographs in: {found['micrographs']} (compared at {found['binned_pixel_size_A']:g} Å/px, "
            f"order: {found['order']})",
            f"Kept: *{found['kept']}*, rejected: *{found['rejected']}* "
            f"({found['duplicate_pairs']} duplicate pair{'' if found['duplicate_pairs'] == 1 else 's'} "
            f"of {found['pairs_scored']} compared)",
        ]
        lines += [
            f"  {os.path.basename(dup)} repeats {os.path.basename(orig)}" for orig, dup in found["duplicates"][:10]
        ]
        if found.get("particles"):
            p = found["particles"]
            lines.append(
                f"Particles on kept micrographs: {p['kept']}, on rejected: {p['rejected']}"
                + (f" ({p['elsewhere']} on micrographs not in the input, kept)" if p["elsewhere"] else "")
            )
        lines += [f"Warning: {w}" for w in found.get("warnings", [])]
        return lines + self.report_lines()


def read_lines(path: str) -> list[str]:
    """The non-empty lines of a text file."""
    with open(path) as found:
        return [line.strip() for line in found if line.strip()]


def read_duplicates(path: str) -> list[tuple[str, str]]:
    """The (original, duplicate) rows of duplicates.csv."""
    with open(path, newline="") as found:
        return [(row["Original"], row["Duplicate"]) for row in csv.DictReader(found)]


def can_plot() -> bool:
    """Whether Pillow, which draws the micrograph pictures (cryodedup's ``plot`` extra), is installed."""
    import importlib.util

    return importlib.util.find_spec("PIL") is not None
