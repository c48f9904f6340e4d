"""What the registration's refusal and the particle job's verdict say (issue 63 follow-up, the small ones).

A swap has no length, so its words carry no unit; a shift's words are in the input's pixels,
its offset said in Å. A single topaz table's kept picks are one file, which the verdict names.
The oracle: the files written, and the transforms planted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cryodedup.errors import CryodedupError
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.options import ParticleOptions

TOPAZ = {"mic_psize": 0.885, "topaz_scale": 1.0, "min_dist": 30.0}


def _topaz(path: Path, xy: np.ndarray, mics: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"mic{m}\t{x:.3f}\t{y:.3f}\t{s:.3f}" for m, (x, y), s in zip(mics, xy, np.linspace(0, 1, len(xy)))]
    path.write_text("\n".join(["image_name\tx_coord\ty_coord\tscore", *lines]) + "\n")
    return path


def _picks(seed: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.round(rng.uniform(300, 3000, (400, 2)), 3), rng.integers(0, 5, 400)


@pytest.mark.parametrize(
    ("move", "words"),
    [
        (lambda xy: xy[:, ::-1], "after swap, the agreement within"),
        (
            lambda xy: xy + np.array([64.0, -128.0]),
            "after shift:-64,128 (in pixels of 0.885 Å: an offset of -56.6 ± 0.0, +113.3",
        ),
    ],
)
def test_the_refusal_says_the_unit_of_words_with_lengths_only(tmp_path, move, words):
    # Today's main: "after swap (swap in pixels of 0.885 Å; shift -0.0 ± 0.0, +0.0 ± 0.0 Å)", a unit for words
    # without a length and a kind that repeats them.
    xy, mics = _picks()
    inputs = [_topaz(tmp_path / "a" / "picks.txt", xy, mics), _topaz(tmp_path / "b" / "picks.txt", move(xy), mics)]
    with pytest.raises(CryodedupError) as refused:
        remove_duplicate_particles(inputs, None, ParticleOptions(audit=True, **TOPAZ))
    assert words in str(refused.value), str(refused.value)
    assert "swap in pixels" not in str(refused.value) and "translation in pixels" not in str(refused.value)


def test_a_single_topaz_table_names_its_kept_file(tmp_path):
    # One topaz table in, one kept table out: the verdict and the outputs name that file (today's main: the folder
    # out/kept, which a user passes to no program).
    xy, mics = _picks()
    table = _topaz(tmp_path / "tz" / "picks.txt", xy, mics)
    summary = remove_duplicate_particles([table], tmp_path / "out", ParticleOptions(**TOPAZ))
    kept = tmp_path / "out" / "kept" / "picks.txt"
    assert summary.to_json()["outputs"]["kept"] == [str(kept)] and kept.is_file()
    assert summary.verdict.line.split(" -> ")[1].startswith(str(kept)), summary.verdict
    assert summary.to_json()["outputs"]["rejected"] == [str(tmp_path / "out" / "rejected" / "picks.txt")]
    written = [line for p in (kept, tmp_path / "out" / "rejected" / "picks.txt") for line in p.read_text().splitlines()]
    assert sorted(line for line in written if line.startswith("mic")) == sorted(table.read_text().splitlines()[1:])
