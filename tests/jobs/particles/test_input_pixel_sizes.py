"""``--mic-psize INPUT=Å`` (issue 63 item 3): inputs at different pixel sizes merged, each read at its own.

Two particle STAR files of the same picks, one's coordinates in pixels 1.25 times as large (two
exports at different binnings, their optics tables without a micrograph pixel size). One
--mic-psize for both puts them in two frames; each its own puts every pick on its copy (the
oracle: the copy was made by dividing the coordinates by 1.25).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import starfile
from click.testing import CliRunner

from cryodedup.cli import main
from cryodedup.errors import CryodedupError
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.options import ParticleOptions

EXAMPLES = Path(__file__).resolve().parents[3] / "python" / "cryodedup" / "examples"
PSIZE, FACTOR = 1.06, 1.25


def _exports(tmp: Path) -> list[Path]:
    """The LoG picks as two exports without a micrograph pixel size: a at 1.06 Å, b at 1.325 Å a pixel."""
    blocks = starfile.read(EXAMPLES / "particles_log.star", always_dict=True)
    optics = blocks["optics"].drop(columns=["rlnMicrographOriginalPixelSize"])
    paths = []
    for name, factor in (("a", 1.0), ("b", FACTOR)):
        particles = blocks["particles"].copy()
        particles[["rlnCoordinateX", "rlnCoordinateY"]] /= factor
        path = tmp / name / "particles.star"
        path.parent.mkdir()
        starfile.write({"optics": optics, "particles": particles}, path)
        paths.append(path)
    return paths


def test_each_input_read_at_its_own_pixel_size_merges_the_copies(tmp_path):
    a, b = _exports(tmp_path)
    with pytest.raises(CryodedupError, match="are in two frames"):  # one for all: b is 1.25 times too small
        remove_duplicate_particles([a, b], tmp_path / "one", ParticleOptions(min_dist=100, mic_psize=PSIZE))
    options = ParticleOptions(min_dist=100, mic_psize=PSIZE, input_psize={str(b): PSIZE * FACTOR})
    summary = remove_duplicate_particles([a, b], tmp_path / "own", options)
    assert summary.to_json()["registration"]["pairs"][0]["frames"] == "one"
    assert [(p["input"], round(p["psize"], 6)) for p in summary.to_json()["pixel_sizes"]] == [
        ("a/particles.star", PSIZE),
        ("b/particles.star", 1.325),
    ]
    # Every pick of b lies on its source in a: each pair one particle, one of them kept.
    assert summary.rejected >= 238
    # The rows are written as read (their coordinates in their own pixels).
    rejected = starfile.read(tmp_path / "own" / "particles_rejected.star", always_dict=True)["particles"]
    source = starfile.read(b, always_dict=True)["particles"]
    mine = rejected.merge(source, how="inner")
    assert len(mine) == len(source)


def test_the_command_line_takes_input_pixel_sizes_as_pairs(tmp_path):
    a, b = _exports(tmp_path)
    args = ["particles", str(a), str(b), "--min-dist", "100", "-q", "--json", "-o"]
    done = CliRunner().invoke(main, [*args, str(tmp_path / "out"), "--mic-psize", f"1,{a}=1.06,2=1.325"])
    assert done.exit_code == 0, done.output
    wrong = {
        f"{a}=x": "--mic-psize takes Å or INPUT=Å",
        "1.06,c/particles.star=1": "--mic-psize c/particles.star: not one of the inputs",
        f"1.06,{b}=0": f"--mic-psize {b}=0.0: a pixel size in Å > 0 expected",
        f"1.06,2=1.3,{b}=1.3": "is given a pixel size twice",
    }
    for value, said in wrong.items():
        result = CliRunner().invoke(main, [*args, str(tmp_path / "wrong"), "--mic-psize", value])
        assert result.exit_code in (1, 2) and said in result.output, (value, result.output)
        assert "Traceback" not in result.output


def test_other_readers_refuse_a_pixel_size_per_input(tmp_path):
    picks = []
    for name in ("a", "b"):
        path = tmp_path / name / "picks.txt"
        path.parent.mkdir()
        path.write_text("image_name\tx_coord\ty_coord\nmic1\t100\t100\n")
        picks.append(path)
    options = ParticleOptions(mic_psize=1.0, topaz_scale=1.0, input_psize={"2": 1.2})
    with pytest.raises(CryodedupError, match="each input's own pixel size is read for particle STAR files"):
        remove_duplicate_particles(picks, tmp_path / "out", options)
