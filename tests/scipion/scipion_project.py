"""A Scipion project in a temporary folder, and input sets built with pwem's objects.

Each input set is the output of a finished protocol of the project (a pwem import protocol
that never ran: its outputs are written here), so that the cryodedup protocols take it
through an extended pointer, as they take a real import's or picker's output.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def new_project(folder: Path, name: str):
    """A new Scipion project under ``folder``; the current folder becomes the project's."""
    from pyworkflow.project import Manager

    project = Manager().createProject(name, location=str(folder))
    os.chdir(project.getPath())
    return project


def source_protocol(project, cls_name: str, label: str):
    """A finished protocol of ``project`` whose outputs the tests write themselves."""
    from pwem import Domain
    from pyworkflow.protocol import STATUS_FINISHED

    prot = project.newProtocol(Domain.findClass(cls_name))
    prot.setObjLabel(label)
    project.saveProtocol(prot)
    prot.makePathsAndClean()
    prot.setStatus(STATUS_FINISHED)
    return prot


def publish(project, prot, **outputs) -> None:
    """Registers ``outputs`` (written sets) as the protocol's outputs, as a run would."""
    for name, output in outputs.items():
        output.write()
        prot._defineOutputs(**{name: output})
    project._storeProtocol(prot)


def pointer(prot, name: str):
    """An extended pointer to ``prot``'s output ``name``."""
    from pyworkflow.object import Pointer

    return Pointer(prot, extended=name)


def acquisition():
    from pwem.objects import Acquisition

    return Acquisition(voltage=300.0, sphericalAberration=2.7, amplitudeContrast=0.1, magnification=50000)


def add_micrographs(project, paths: list[Path], sampling: float, label: str = "micrographs"):
    """A finished import of the MRC files ``paths`` as a SetOfMicrographs (``outputMicrographs``)."""
    from pwem.objects import Micrograph

    prot = source_protocol(project, "ProtImportMicrographs", label)
    mics = prot._createSetOfMicrographs()
    mics.setSamplingRate(sampling)
    mics.setAcquisition(acquisition())
    for path in paths:
        mic = Micrograph(location=str(path))
        mic.setMicName(path.name)
        mic.setSamplingRate(sampling)
        mic.setAcquisition(acquisition())
        mics.append(mic)
    publish(project, prot, outputMicrographs=mics)
    return prot


def add_coordinates(project, mics_prot, picks, label: str, score_attr: str | None, box: int = 64):
    """A finished picker's SetOfCoordinates (``outputCoordinates``).

    ``picks``: rows of (micrograph index into the micrographs set, x px, y px, score).
    """
    from pwem.objects import Coordinate
    from pyworkflow.object import Float

    prot = source_protocol(project, "ProtImportCoordinates", label)
    mic_list = [m.clone() for m in mics_prot.outputMicrographs]
    coords = prot._createSetOfCoordinates(pointer(mics_prot, "outputMicrographs"))
    coords.setBoxSize(box)
    for mic_index, x, y, score in picks:
        coord = Coordinate()
        coord.setMicrograph(mic_list[int(mic_index)])
        coord.setPosition(int(x), int(y))
        if score_attr:
            setattr(coord, score_attr, Float(float(score)))
        coords.append(coord)
    publish(project, prot, outputCoordinates=coords)
    return prot


def shift_matrix(sx: float, sy: float, align: str, angle: float = 0.0) -> np.ndarray:
    """A Transform matrix whose shift, read as pwem reads it for ``align``, is (sx, sy) pixels."""
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=float)
    if align == "2D":
        rot[0, 3], rot[1, 3] = sx, sy
        return rot
    # Projection: the shift is minus the translation of the inverse.
    inverse = np.linalg.inv(rot)
    inverse[0, 3], inverse[1, 3] = -sx, -sy
    return np.linalg.inv(inverse)


def add_particles(project, mics_prot, rows, sampling: float, align: str, label: str = "particles"):
    """A finished SetOfParticles (``outputParticles``) with coordinates and alignment.

    ``rows``: (micrograph index, x, y in particle pixels, shift x, shift y in particle
    pixels, score, rotation angle in radians).
    """
    from pwem.objects import Coordinate, Particle, Transform
    from pyworkflow.object import Float, String

    prot = source_protocol(project, "ProtImportParticles", label)
    mic_list = [m.clone() for m in mics_prot.outputMicrographs]
    parts = prot._createSetOfParticles()
    parts.setSamplingRate(sampling)
    parts.setAcquisition(acquisition())
    parts.setAlignment(align)
    for k, (mic_index, x, y, sx, sy, score, angle) in enumerate(rows, 1):
        particle = Particle(location=(k, "particles.mrcs"))
        coord = Coordinate()
        coord.setMicrograph(mic_list[int(mic_index)])
        coord.setPosition(int(x), int(y))
        particle.setCoordinate(coord)
        particle.setMicId(mic_list[int(mic_index)].getObjId())
        particle.setSamplingRate(sampling)
        if align != "None":
            particle.setTransform(Transform(shift_matrix(sx, sy, align, angle)))
        particle._rlnMaxValueProbDistribution = Float(float(score))
        particle._rlnImageName = String(f"{k:06d}@particles.mrcs")
        parts.append(particle)
    publish(project, prot, outputParticles=parts)
    return prot


def launch(project, cls_name: str, **inputs):
    """Runs a cryodedup protocol through the project, as Scipion's GUI does, and waits for it."""
    from pwem import Domain

    prot = project.newProtocol(Domain.findClass(cls_name))
    for name, value in inputs.items():
        attr = getattr(prot, name)
        if isinstance(value, list):  # a MultiPointerParam: one extended pointer each
            for item in value:
                attr.append(pointer(*item))
        elif isinstance(value, tuple):
            attr.set(value[0])
            attr.setExtended(value[1])
        else:
            attr.set(value)
    project.launchProtocol(prot, wait=True)
    return project.getProtocol(prot.getObjId())


def run_log(prot) -> str:
    """The run's stdout and stderr logs."""
    return "".join(Path(path).read_text() for path in prot.getLogPaths()[:2] if Path(path).exists())
