"""``ProtCryodedupParticles``: duplicate particles, centres moved by their alignment shifts."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyworkflow.protocol.params as params

from ..convert import ALIGN_NONE, PARTICLE_SCORES, InputError, read_particles, score_attribute, shifts_in_pixels
from .base import CryodedupProtocol, add_distance_params


class ProtCryodedupParticles(CryodedupProtocol):
    """Removes duplicate particles, keeping the best scored of each group (cryodedup).

    Duplicates are particles of one micrograph whose centres (the coordinate minus the alignment
    shift, as RELION and CryoSPARC place them) lie within a distance of each other. Kept and
    rejected particles are two outputs, every attribute of each particle carried unchanged.
    """

    _label = "remove duplicate particles"
    _possibleOutputs: ClassVar[dict] = {"outputParticles": "SetOfParticles", "rejectedParticles": "SetOfParticles"}

    def _defineParams(self, form):
        form.addSection(label="Input")
        form.addParam(
            "inputParticles",
            params.PointerParam,
            pointerClass="SetOfParticles",
            important=True,
            label="Input particles",
            help="Particles with coordinates (extracted in Scipion); with alignment, their shifts move the centres.",
        )
        form.addParam(
            "useShifts",
            params.BooleanParam,
            default=True,
            label="Subtract alignment shifts?",
            help="Centre = coordinate - shift (2D or projection alignment, in the particles' pixels). "
            "No: the extraction coordinates only. Particles without alignment use their coordinates.",
        )
        add_distance_params(form, ", ".join(PARTICLE_SCORES))

    def _insertAllSteps(self):
        self._insertFunctionStep(self.removeDuplicatesStep)

    # --------------------------- steps ---------------------------------------
    def removeDuplicatesStep(self):
        """Reads the particles, decides, and writes the kept and rejected sets."""
        self.run_guarded(self._remove_duplicates)

    def centres_in_angstrom(self, particles):
        """The particles' table (convert.Items) and their centres in Å, shape (n, 2).

        A Scipion particle's coordinate is in the particle's pixels (extraction scales it
        with the box), as are its shifts: both are multiplied by the particles' sampling rate.
        """
        align = particles.getAlignment() if self.useShifts.get() else ALIGN_NONE
        score = self._score()
        table = read_particles(particles, score, with_shifts=align != ALIGN_NONE)
        xy = np.array(table.xy, dtype=float).reshape(-1, 2)
        if align != ALIGN_NONE:
            xy = xy - shifts_in_pixels(np.array(table.matrices), align)
        return table, xy * particles.getSamplingRate(), align

    def _remove_duplicates(self):
        from cryodedup import remove_duplicate_centres

        particles = self.inputParticles.get()
        table, centres, align = self.centres_in_angstrom(particles)
        score = self._score()
        selection = remove_duplicate_centres(
            table.micrographs,
            centres,
            np.array(table.scores) if score else None,
            higher_is_better=bool(self.higherIsBetter.get()),
            report=self._report(particles, align),
            **self.decision_options(),
        )
        decided = dict(zip(table.ids, selection.keep.tolist()))
        for name, keep in (("outputParticles", True), ("rejectedParticles", False)):
            output = self._createSetOfParticles(suffix="_kept" if keep else "_rejected")
            output.copyInfo(particles)

            def choose(item, _row, keep=keep):
                item._appendItem = decided.get(item.getObjId()) is keep

            output.copyItems(particles, updateItemCallback=choose)
            self._defineOutputs(**{name: output})
            self._defineSourceRelation(self.inputParticles, output)
        self.write_summary(
            {
                "particles": len(table.ids),
                "kept": int(selection.keep.sum()),
                "rejected": int((~selection.keep).sum()),
                "micrographs": len(selection.micrographs),
                "sampling": particles.getSamplingRate(),
                "micrograph_sampling": micrograph_sampling(particles),
                "alignment": align,
                "score": score,
            }
        )

    def _report(self, particles, align):
        """The pictures' settings: drawn on the micrographs the particles were picked on, where the set records them."""
        mics = micrographs_of(particles)
        owner = self.inputParticles.getObjValue()
        name = owner.getObjLabel() if owner is not None and hasattr(owner, "getObjLabel") else "particles"
        score = str(self._score())
        shift = "none" if align == ALIGN_NONE else f"{align} alignment shifts (Transform, particle pixels) subtracted"
        if mics is None:
            return self.report_of(None, [name or "particles"], {}, score, shift)
        images = {mic.getMicName() or mic.getObjId(): mic.getFileName() for mic in mics}
        return self.report_of(mics.getSamplingRate(), [name or "particles"], images, score, shift)

    # --------------------------- info ----------------------------------------
    def _score(self):
        particles = self.inputParticles.get()
        return score_attribute(particles.getFirstItem(), self.scoreAttribute.get(), PARTICLE_SCORES, "the particles")

    def _validate(self):
        particles = self.inputParticles.get()
        if particles is None:
            return ["*Input particles*: no set given"]
        if particles.getSize() == 0:
            return ["*Input particles* holds no particle"]
        if not (particles.getSamplingRate() or 0) > 0:
            return ["*Input particles* have no sampling rate: their centres cannot be put in Å"]
        first = particles.getFirstItem()
        if first.getCoordinate() is None or first.getCoordinate().getX() is None:
            return ["*Input particles* carry no coordinates (imported without micrograph positions)"]
        try:
            self._score()
        except InputError as err:
            return [str(err)]
        return self.options_errors()

    def _summary(self):
        found = self.read_summary()
        if found is None:
            return ["Not run yet."]
        shift = "none" if found["alignment"] == ALIGN_NONE else f"{found['alignment']} alignment shifts subtracted"
        mic = found.get("micrograph_sampling")
        lines = [
            f"Particles in: {found['particles']} on {found['micrographs']} micrographs, "
            f"{found['sampling']:g} Å/px" + (f" (micrographs {mic:g} Å/px)" if mic else ""),
            f"Kept: *{found['kept']}*, rejected: *{found['rejected']}* (minimum distance {self.minDist.get():g} Å)",
            f"Shifts: {shift}; score: {found['score'] or 'none (seeded random)'}",
        ]
        return lines + self.report_lines()


def micrographs_of(particles):
    """The micrographs the particles were picked on, where the set records them (else None)."""
    try:
        coords = particles.getCoordinates() if particles.hasCoordinates() else None
        return coords.getMicrographs() if coords is not None else None
    except Exception:  # a dangling pointer (the picking run deleted): only the pictures need them
        return None


def micrograph_sampling(particles):
    """The sampling rate of the micrographs the particles were picked on, where the set records them."""
    mics = micrographs_of(particles)
    return mics.getSamplingRate() if mics is not None else None
