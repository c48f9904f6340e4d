"""Inputs that share a micrograph's (or tomogram's) name: one dataset, or two (issue 54, section 3).

Two datasets processed apart may name their micrographs alike (``mic_0001``, EPU's
``FoilHole_..._Data_...`` numbering, WarpTools' ``tomo_NavItem_100.tomostar``); matched by
name, their particles are compared as if on one micrograph. So inputs whose micrographs share
a name must agree on what the name stands for, where their files say it (:data:`IDENTITY_FIELDS`
of the optics tables): else the job is refused, naming the micrograph, both inputs and the
values. ``--dataset INPUT=LABEL`` labels inputs as separate datasets, whose micrographs are then
never one (:func:`separate_datasets`). One dataset processed twice (re-extracted, or binned
differently at motion correction: ``rlnMicrographPixelSize`` differs while the detector's
``rlnMicrographOriginalPixelSize`` agrees) still matches. docs/developers/decisions/matching-micrographs.md.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..algo.dedup import picks_per_group
from ..algo.priority import inputs_named
from ..errors import CryodedupError, one_line
from ..particle_set import ParticleSet

__all__ = [
    "Identity",
    "check_shared_names",
    "dataset_labels",
    "dataset_of_inputs",
    "optics_identity",
    "separate_datasets",
]

#: What a micrograph's name stands for, where an optics table says it: the detector's pixel
#: size, the microscope's voltage and spherical aberration, the tilt series' pixel size and
#: the tomogram's size. Not rlnMicrographPixelSize (motion correction may bin one dataset's
#: movies differently) nor rlnImagePixelSize (extraction may bin its particles).
IDENTITY_FIELDS = {
    "rlnMicrographOriginalPixelSize": "Å",
    "rlnVoltage": "kV",
    "rlnSphericalAberration": "mm",
    "rlnTomoTiltSeriesPixelSize": "Å",
    "rlnTomoSizeX": "px",
    "rlnTomoSizeY": "px",
    "rlnTomoSizeZ": "px",
}
#: Two values agree within this fraction of the larger (a pixel size typed as 1.35 or 1.3500).
TOLERANCE = 0.005
#: What one input's files say of its micrographs: each identity field's distinct values.
Identity = dict[str, tuple[float, ...]]


def _agree(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE * max(abs(a), abs(b))


def _binned(sizes: Sequence[float], originals: Sequence[float]) -> bool:
    """Whether each tilt-series pixel size is a whole multiple of an original one (binned at motion correction)."""

    def whole(ratio: float) -> bool:
        return ratio >= 1 - TOLERANCE and abs(ratio - round(ratio)) <= TOLERANCE * ratio

    return all(any(whole(size / original) for original in originals if original > 0) for size in sizes)


def disagreement(a: Identity, b: Identity) -> tuple[str, tuple[float, ...], tuple[float, ...]] | None:
    """The first field on which two inputs cannot agree for any micrograph, with their values; None if none.

    A field is compared where both inputs carry it; an input with several values (several
    optics groups) disagrees only when none of its values is the other's: which micrograph
    has which is not known here. The tilt series' pixel size may differ as binning at motion
    correction makes it differ: where both inputs carry the same original (detector) pixel
    size and each tilt-series pixel size is a whole multiple of it.
    """
    original = "rlnMicrographOriginalPixelSize"
    for label in IDENTITY_FIELDS:
        if label not in a or label not in b:
            continue
        mine, theirs = a[label], b[label]
        if any(_agree(x, y) for x in mine for y in theirs):
            continue
        if label == "rlnTomoTiltSeriesPixelSize" and original in a and original in b:
            common = [x for x in a[original] if any(_agree(x, y) for y in b[original])]
            if common and _binned(mine, common) and _binned(theirs, common):
                continue
        return label, mine, theirs
    return None


def dataset_of_inputs(labels: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Each input's dataset number (by first appearance of its label), and the labels by number."""
    names = list(dict.fromkeys(labels))
    return np.array([names.index(label) for label in labels], dtype=np.int64), names


def separate_datasets(particles: ParticleSet, labels: Sequence[str]) -> dict:
    """Gives a micrograph of several datasets one id in each (in place); the summary's ``datasets``.

    ``labels``: each input's dataset ("" for the inputs not labelled, one dataset). The
    dataset of the first input that has the micrograph keeps its id and name; each other
    dataset's copy is named ``NAME [dataset LABEL]`` in the summary and pictures.
    """
    dataset_of, names = dataset_of_inputs(labels)
    n_mics, n_inputs, n_sets = len(particles.mic_names), len(particles.inputs), len(names)
    summary: dict = {
        "labels": {
            name or "(not labelled)": [particles.inputs[k] for k in np.flatnonzero(dataset_of == d)]
            for d, name in enumerate(names)
        },
        "names_kept_apart": 0,
    }
    if n_sets < 2:
        return summary
    present = picks_per_group(particles.input_of, particles.groups, n_mics, n_inputs) > 0  # (micrograph, input)
    in_set = np.stack([present[:, dataset_of == d].any(axis=1) for d in range(n_sets)], axis=1)
    first_set = np.argmax(in_set, axis=1)
    ids = np.tile(np.arange(n_mics, dtype=np.int64), (n_sets, 1))  # ids[d, g]: micrograph g's id in dataset d
    mic_names = list(particles.mic_names)
    coverage = particles.coverage
    extra_rows = []
    for g in np.flatnonzero(in_set.sum(axis=1) > 1).tolist():
        for d in np.flatnonzero(in_set[g]):
            if d == first_set[g]:
                continue
            ids[d, g] = len(mic_names)
            mic_names.append(f"{particles.mic_names[g]} [dataset {names[d] or '(not labelled)'}]")
            if g in particles.mic_shapes:
                particles.mic_shapes[len(mic_names) - 1] = particles.mic_shapes[g]
            if coverage is not None:  # the copy is covered by its dataset's inputs, the original by the others
                extra_rows.append(coverage[g] & (dataset_of == d))
                coverage[g] &= dataset_of != d
    summary["names_kept_apart"] = len(mic_names) - n_mics
    _images_apart(particles, dataset_of)
    if len(mic_names) == n_mics:
        return summary
    rows_set = dataset_of[particles.input_of]
    particles.groups = ids[rows_set, particles.groups].astype(particles.groups.dtype, copy=False)
    particles.mic_names = mic_names
    if coverage is not None:
        particles.coverage = np.concatenate([coverage, np.array(extra_rows, dtype=bool)])
    return summary


#: Mixed into the stack hash of a dataset's images (times the dataset's number): odd, so every dataset's differs.
_DATASET_MIX = np.uint64(0x9E3779B97F4A7C15)


def _images_apart(particles: ParticleSet, dataset_of: np.ndarray) -> None:
    """Gives the images of each dataset other than the first stacks of their own (in place).

    Two datasets extracted by jobs of one number name their stacks alike
    (``Extract/job010/Movies/mic_0001.mrcs``): their rows are not one image twice.
    """
    images = particles.images
    if images is None or not images.runs.size:
        return
    runs = images.runs.copy()
    starts = np.concatenate([[0], np.cumsum(runs[:, 4])[:-1]]).astype(np.int64)
    of_run = dataset_of[particles.input_of[starts]].astype(np.uint64)
    with np.errstate(over="ignore"):
        runs[:, 0] ^= of_run * _DATASET_MIX
    particles.images = replace(images, runs=runs)  # (its keys, made when first asked for, are made anew)


def check_shared_names(particles: ParticleSet, labels: Sequence[str] | None = None) -> None:
    """Refuses inputs of one dataset that share a micrograph's name but disagree on what it is.

    ``particles.identities`` (each input's :data:`Identity`, where its reader knows one) are
    compared pair by pair; only a pair that disagrees has its shared micrographs looked for
    (one pass of the core over the rows), so a run whose inputs agree pays nothing per row.
    """
    identities = particles.identities
    n_inputs = len(particles.inputs)
    if identities is None or n_inputs < 2:
        return
    dataset_of = dataset_of_inputs(labels or [""] * n_inputs)[0]
    conflicts = [
        (a, b, found)
        for a in range(n_inputs)
        for b in range(a + 1, n_inputs)
        if dataset_of[a] == dataset_of[b] and (found := disagreement(identities[a], identities[b]))
    ]
    if not conflicts:
        return
    n_mics = len(particles.mic_names)
    present = picks_per_group(particles.input_of, particles.groups, n_mics, n_inputs) > 0
    unit = "tomogram" if particles.centres.ndim == 2 and particles.centres.shape[1] == 3 else "micrograph"
    for a, b, (label, mine, theirs) in conflicts:
        shared = np.flatnonzero(present[:, a] & present[:, b])
        if not shared.size:
            continue
        first, inputs = particles.mic_names[shared[0]], particles.inputs
        more = f" (and {shared.size - 1:,} more)" if shared.size > 1 else ""
        # (the options quoted for a shell: an input's path may hold spaces)
        apart = shlex.join(["--dataset", f"{inputs[a]}=A", "--dataset", f"{inputs[b]}=B"])
        raise CryodedupError(
            f"{unit} {first}{more} is in {inputs[a]} and {inputs[b]}, which disagree on what it is: {label} "
            f"{_values(mine, label)} against {_values(theirs, label)}; if they are two datasets, label them apart "
            f"({apart}) and their names never match"
        )


def _values(values: tuple[float, ...], label: str) -> str:
    return f"{' or '.join(f'{v:g}' for v in values)} {IDENTITY_FIELDS[label]}"


def optics_identity(labels: Sequence[str], rows: Sequence[Sequence[str]], groups_met: Sequence[float]) -> Identity:
    """What an optics table says of the micrographs of the optics groups ``groups_met`` (rows as text).

    Groups the rows do not use say nothing of them (when the scan did not note the rows' groups,
    as for coordinates in Å, every group of the table counts: more values, never a refusal more);
    a field is left out where a used group's value is not a number.
    """
    if "rlnOpticsGroup" not in labels:
        return {}
    group_column = list(labels).index("rlnOpticsGroup")
    met = {float(g) for g in groups_met}
    used = [row for row in rows if not met or _number(row[group_column]) in met]
    identity: Identity = {}
    for label in IDENTITY_FIELDS:
        if label not in labels or not used:
            continue
        values = [_number(row[list(labels).index(label)]) for row in used]
        if all(v is not None and np.isfinite(v) for v in values):
            identity[label] = tuple(sorted({float(v) for v in values if v is not None}))
    return identity


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def dataset_labels(values: Sequence[str], inputs: Sequence[Path], is_pattern: Callable[[Path], bool]) -> list[str]:
    """Each input's dataset from the ``--dataset INPUT=LABEL`` values ("" for an input not labelled).

    INPUT names inputs as ``--prefer`` does (a path as given, a position from 1, a folder of
    inputs). Refused: a value naming no input, an input given two labels.
    """
    labels = [""] * len(inputs)
    for value in values:
        where, _, label = value.rpartition("=")
        for k in inputs_named(where, inputs, is_pattern, "--dataset"):
            if labels[k] and labels[k] != label:
                raise CryodedupError(
                    f"--dataset {one_line(value)}: {inputs[k]} is labelled {one_line(labels[k])} already; give each "
                    "input one dataset"
                )
            labels[k] = label
    return labels
