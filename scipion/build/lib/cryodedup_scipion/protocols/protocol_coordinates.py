"""``ProtCryodedupCoordinates``: duplicate picks of one or more pickers, and their consensus."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyworkflow.protocol.params as params
from pyworkflow.object import Integer

from ..convert import PICK_SCORES, InputError, micrograph_key, read_coordinates, score_attribute
from ..forms import add_option_param, chosen
from .base import LABELS, CryodedupProtocol, add_distance_params

#: Relative difference of micrograph sampling rates taken as the same sampling.
SAME_SAMPLING = 1e-3


class ProtCryodedupCoordinates(CryodedupProtocol):
    """Removes duplicate coordinates, keeping the best scored of each group (cryodedup).

    Duplicates are picks of one or several pickers within a distance of each other on the same
    micrograph. With several pickers,
    a consensus keeps only picks that enough pickers agree on. Kept and rejected coordinates are
    two outputs; each output coordinate records its input in *_cryodedupInput* (1, 2, ...).
    """

    _label = "remove duplicate coordinates"
    _possibleOutputs: ClassVar[dict] = {
        "outputCoordinates": "SetOfCoordinates",
        "rejectedCoordinates": "SetOfCoordinates",
    }

    def _defineParams(self, form):
        form.addSection(label="Input")
        form.addParam(
            "inputCoordinates",
            params.MultiPointerParam,
            pointerClass="SetOfCoordinates",
            minNumObjects=1,
            maxNumObjects=0,
            important=True,
            label="Input coordinates",
            help="One set per picker. The output refers to the micrographs of the first set; the others' "
            "micrographs are matched to them by name (else by id).",
        )
        add_distance_params(form, ", ".join(PICK_SCORES))
        form.addSection(label="Consensus")
        add_option_param(form, params, "minSupport", "coordinates", "min_support", LABELS["min_support"])
        add_option_param(form, params, "coverage", "coordinates", "coverage", LABELS["coverage"])
        add_option_param(form, params, "uncovered", "coordinates", "uncovered", LABELS["uncovered"])
        add_option_param(form, params, "scoreNormalize", "coordinates", "score_normalize", LABELS["score_normalize"])

    def _insertAllSteps(self):
        self._insertFunctionStep(self.removeDuplicatesStep)

    # --------------------------- steps ---------------------------------------
    def removeDuplicatesStep(self):
        """Reads the picks, decides, and writes the kept and rejected sets."""
        self.run_guarded(self._remove_duplicates)

    def _remove_duplicates(self):
        from cryodedup import remove_duplicate_centres

        sets = self._input_sets()
        tables = [read_coordinates(s, self._score_of(s)) for s in sets]
        sampling = sets[0].getMicrographs().getSamplingRate()
        micrographs = [key for t in tables for key in t.micrographs]
        centres = np.array([xy for t in tables for xy in t.xy], dtype=float).reshape(-1, 2) * sampling
        inputs = np.repeat(np.arange(len(tables)), [len(t.ids) for t in tables])
        scores = np.array([s for t in tables for s in t.scores], dtype=float)
        scored = [self._score_of(s) is not None for s in sets]
        if any(scored) and not all(scored):
            raise InputError("some inputs carry a score and others none: give Score attribute none, or score them all")
        ran_on = None
        if self.coverage.get() == 0:
            ran_on = [[micrograph_key_of_mic(m) for m in s.getMicrographs()] for s in sets]
        selection = remove_duplicate_centres(
            micrographs,
            centres,
            scores if all(scored) else None,
            inputs=inputs,
            ran_on=ran_on,
            higher_is_better=bool(self.higherIsBetter.get()),
            report=self.report_of(
                sampling,
                input_labels(self.inputCoordinates),
                images_of(sets[0].getMicrographs()),
                " / ".join(sorted({str(self._score_of(s)) for s in sets})),
            ),
            **self.decision_options(),
        )
        self._write_outputs(sets, tables, selection.keep)
        self.write_summary(
            {
                "inputs": [len(t.ids) for t in tables],
                "kept": int(selection.keep.sum()),
                "rejected": int((~selection.keep).sum()),
                "micrographs": len(selection.micrographs),
                "sampling": sampling,
                "scores": [self._score_of(s) for s in sets],
                "outcomes": selection.outcome_counts(inputs, len(sets)),
            }
        )

    def _write_outputs(self, sets, tables, keep) -> None:
        first = sets[0]
        mics = {micrograph_key_of_mic(m): m.clone() for m in first.getMicrographs()}
        templates = union_attributes(sets)
        outputs = {}
        for name, suffix in (("outputCoordinates", "_kept"), ("rejectedCoordinates", "_rejected")):
            outputs[name] = self._createSetOfCoordinates(first.getMicrographs(asPointer=True), suffix=suffix)
            outputs[name].copyInfo(first)
        start = 0
        for k, (coords, table) in enumerate(zip(sets, tables)):
            decided = dict(zip(table.ids, keep[start : start + len(table.ids)]))
            start += len(table.ids)
            for coord in coords.iterItems():
                if coord.getObjId() not in decided:
                    continue  # disabled: not part of the set
                target = outputs["outputCoordinates" if decided[coord.getObjId()] else "rejectedCoordinates"]
                target.append(self._output_coordinate(coord, k, mics, templates))
        for name, output in outputs.items():
            self._defineOutputs(**{name: output})
            for pointer in self.inputCoordinates:
                self._defineSourceRelation(pointer, output)

    @staticmethod
    def _output_coordinate(coord, k: int, mics: dict, templates: dict):
        out = coord.clone()
        out.setObjId(None)  # several inputs: ids are given anew
        if k > 0:
            key = micrograph_key(coord)
            if key not in mics:
                raise InputError(
                    f"input {k + 1} has picks on micrograph {key}, which the first input's micrographs do not hold: "
                    "give first the set whose micrographs cover all"
                )
            out.setMicrograph(mics[key])
        for name, template in templates.items():
            if not hasattr(out, name):
                setattr(out, name, template.__class__())
        out._cryodedupInput = Integer(k + 1)
        return out

    # --------------------------- info ----------------------------------------
    def _input_sets(self) -> list:
        return [pointer.get() for pointer in self.inputCoordinates]

    def _score_of(self, coords):
        return score_attribute(coords.getFirstItem(), self.scoreAttribute.get(), PICK_SCORES, "the coordinates")

    def decision_options(self) -> dict:
        """The keyword arguments of ``cryodedup.remove_duplicate_centres``, consensus included."""
        return {
            **super().decision_options(),
            "min_support": int(self.minSupport.get()),
            "coverage": chosen("coordinates", "coverage", self.coverage.get()),
            "uncovered": chosen("coordinates", "uncovered", self.uncovered.get()),
            "score_normalize": chosen("coordinates", "score_normalize", self.scoreNormalize.get()),
        }

    def _validate(self):
        errors = []
        sets = [p.get() for p in self.inputCoordinates]
        if any(s is None for s in sets):
            return ["*Input coordinates*: an input is missing"]
        for k, coords in enumerate(sets, 1):
            if coords.getSize() == 0:
                errors.append(f"*Input coordinates* {k} ({coords.getObjLabel() or coords}) holds no coordinate")
            elif coords.getMicrographs() is None:
                errors.append(f"*Input coordinates* {k} refers to no micrographs: their pixel size is unknown")
            elif not (coords.getMicrographs().getSamplingRate() or 0) > 0:
                errors.append(f"*Input coordinates* {k}: its micrographs have no sampling rate")
        if errors:
            return errors
        samplings = [s.getMicrographs().getSamplingRate() for s in sets]
        for k, sampling in enumerate(samplings[1:], 2):
            if abs(sampling - samplings[0]) > SAME_SAMPLING * samplings[0]:
                errors.append(
                    f"*Input coordinates* {k} refer to micrographs at {sampling:g} Å/px and input 1 to "
                    f"{samplings[0]:g} Å/px: rescale them to one sampling first"
                )
        if self.minSupport.get() > len(sets):
            errors.append(f"*{LABELS['min_support']}* {self.minSupport.get()}: there are only {len(sets)} input sets")
        try:
            for coords in sets:
                self._score_of(coords)
        except InputError as err:
            errors.append(str(err))
        return errors or self.options_errors()

    def _summary(self):
        found = self.read_summary()
        if found is None:
            return ["Not run yet."]
        lines = [
            f"Coordinates in: {' + '.join(map(str, found['inputs']))} on {found['micrographs']} micrographs "
            f"({found['sampling']:g} Å/px)",
            f"Kept: *{found['kept']}*, rejected: *{found['rejected']}* "
            f"(minimum distance {self.minDist.get():g} Å = {self.minDist.get() / found['sampling']:.1f} px)",
            "Scores: " + ", ".join(s or "none (seeded random)" for s in found["scores"]),
        ]
        for k, counts in enumerate(found.get("outcomes") or [], 1):
            parts = ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in counts.items() if n)
            lines.append(f"Input {k}: {parts}")
        return lines + self.report_lines()


def micrograph_key_of_mic(mic) -> object:
    """A micrograph's key as its coordinates carry it: its name, else its id."""
    return mic.getMicName() or mic.getObjId()


def union_attributes(sets) -> dict:
    """The extra attributes of every input's coordinates, by name (a template object of each)."""
    found: dict = {}
    for coords in sets:
        first = coords.getFirstItem()
        for name, value in first.getAttributesToStore():
            found.setdefault(name, value)
    return found


def images_of(mics) -> dict:
    """Each micrograph's image file, by the key its coordinates carry."""
    return {micrograph_key_of_mic(mic): mic.getFileName() for mic in mics}


def input_labels(pointers) -> list[str]:
    """The inputs as the project shows them: the label of the protocol that made each."""
    labels = []
    for k, pointer in enumerate(pointers, 1):
        owner = pointer.getObjValue()
        label = owner.getObjLabel() if owner is not None and hasattr(owner, "getObjLabel") else ""
        labels.append(label or f"input {k}")
    return labels
