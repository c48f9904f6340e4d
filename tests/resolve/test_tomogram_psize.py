"""Issue 66 item 3: a pixel size typed for tomogram coordinates, judged in resolve/ (resolve/tomogram_psize.py).

The refusals themselves, word for word, are tests/formats/star/test_tomography_frames.py's and
tests/jobs/particles/test_particles_import_lists.py's (unchanged since they were checked in
formats/). Here: the one tolerance (5 %, hand-worked), the judge the readers are handed, that
``--insist-psize`` does not lift these refusals, and that no reader holds a policy of its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cryodedup
from cryodedup import ParticleOptions, remove_duplicate_particles
from cryodedup.errors import PixelSizeError
from cryodedup.particle_set import (
    ExportedPixel,
    ReconstructedPixels,
    TiltSeriesPixel,
    TypedTomogramPixelSize,
    UnstatedPixel,
)
from cryodedup.resolve.given_psize import judge_typed_psize
from helpers import write_star

PACKAGE = Path(cryodedup.__file__).parent
RELION4 = TiltSeriesPixel(2.0, "of optics group 1 in r4.star", "RELION 4 writes")


def _judged(given: float, *stated) -> list[str]:
    """The warnings of the readers' judge (``Scale.judge_psize``) on ``stated``; raises its refusal."""
    said: list[str] = []
    judge_typed_psize(TypedTomogramPixelSize(given, "t.star", stated), said.append)
    return said


def test_a_typed_pixel_size_agrees_within_five_percent_of_the_smaller():
    # Within 5 % of the smaller: 2.09 (0.09 <= 0.1) and 1.91 (0.09 <= 0.0955) agree with 2 Å;
    # 2.11 (0.11 > 0.1) and 1.9 (0.1 > 0.095) do not.
    assert _judged(2.09, RELION4) == [] and _judged(1.91, RELION4) == []
    for given in (2.11, 1.9):
        with pytest.raises(
            PixelSizeError, match=rf"--mic-psize {given:g} Å contradicts rlnTomoTiltSeriesPixelSize 2 Å"
        ):
            _judged(given, RELION4)


def test_each_statement_is_judged_as_the_readers_judged_it():
    exported = ExportedPixel(1.5, 6.0, "of optics group 1 in w.star", "rlnImagePixelSize 6 Å of optics group 1")
    assert _judged(6.0, exported) == [] and _judged(3.0, exported) == []  # (not the tilt series' pixel: said elsewhere)
    with pytest.raises(
        PixelSizeError, match=r"^--mic-psize 1.5 Å is rlnTomoTiltSeriesPixelSize 1.5 Å .*give --mic-psize 6$"
    ):
        _judged(1.5, exported)
    name = "rlnTomoTiltSeriesPixelSize x rlnTomoTomogramBinning"
    reconstructed = ReconstructedPixels({"t1": 10.0, "t2": 20.0}, {"t1": 2.0, "t2": 2.0}, name, "tomograms.star")
    assert _judged(19.5, reconstructed) == []  # (one tomogram's agrees: the run may use some of them)
    with pytest.raises(
        PixelSizeError, match=r"contradicts .* 10 Å of tomogram t1 in tomograms.star, .*tilt series' pixel"
    ):
        _judged(2.0, reconstructed)
    assert _judged(4.0, UnstatedPixel(name)) == []  # (4 Å and more: a binned tomogram's pixel)
    (said,) = _judged(3.9, UnstatedPixel(name))
    assert said.startswith("--mic-psize 3.9 Å for t.star's tomogram pixels") and name in said


def test_insist_psize_does_not_lift_a_tomography_refusal(tmp_path):
    # RELION 4 states the pixel of these very coordinates; the refusal's fix is to leave --mic-psize out.
    optics = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnTomoTiltSeriesPixelSize", "rlnImagePixelSize"]
    labels = ["rlnTomoName", *[f"rlnCoordinate{a}" for a in "XYZ"], "rlnOpticsGroup"]
    path = write_star(
        tmp_path / "r4.star", labels, [["t1", 1, 2, 3, 1]], optics=[[1, "og", 2.0, 8.0]], optics_labels=optics
    )
    options = ParticleOptions(min_dist=5.0, mic_psize=8.0, insist_psize=True)
    with pytest.raises(PixelSizeError, match=r"--mic-psize 8 Å contradicts rlnTomoTiltSeriesPixelSize 2 Å"):
        remove_duplicate_particles([path], tmp_path / "out", options)
    assert not (tmp_path / "out").exists()


def test_no_reader_holds_a_pixel_size_tolerance_or_refuses_a_pixel_size():
    # On main formats/star/tomograms.py had its own SAME_PSIZE = 0.05 and FINE_TOMOGRAM, and it and
    # formats/star/import_particles.py raised PixelSizeError: the policy in three places, two outside resolve/.
    found = []
    for path in sorted((PACKAGE / "formats").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Name) and node.id in ("PixelSizeError", "SAME_PSIZE", "FINE_TOMOGRAM"):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.id}")
            elif isinstance(node, ast.Constant) and node.value == 0.05 and isinstance(node.value, float):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} 0.05")
    assert found == []
