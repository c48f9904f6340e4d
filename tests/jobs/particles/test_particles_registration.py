"""Inputs in two frames (issue 54, item 2): real pickers' files put in another frame are refused, the
transform found within a pixel, and applied with --transform; real inputs of one frame pass.

The oracle of each planted transform is the transform itself: the one the job names, applied
to the moved picks as --transform applies it, must give back the real picks within a pixel.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from cryodedup.algo.registration import apply_steps, parse_steps
from cryodedup.errors import CryodedupError
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.options import ParticleOptions
from cryodedup.report.sections import Registration
from helpers import shared_file
from picker_files import autopick_text, cbox_text

EXAMPLES = Path(__file__).resolve().parents[3] / "python" / "cryodedup" / "examples"
CBOX_WIDTH = 220.0  # the real file's boxes: its centres are corner + 110


def _topaz(path: Path) -> tuple[list[str], np.ndarray]:
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:] if line]
    return [r[0] for r in rows], np.array([[float(r[1]), float(r[2])] for r in rows])


def _star_numbers(path: Path, columns: int) -> np.ndarray:
    rows = []
    for line in path.read_text().splitlines():
        words = line.split()
        if len(words) == columns and re.fullmatch(r"-?[0-9.]+", words[0]):
            rows.append(words)
    return np.array(rows, dtype=object)


def _autopick(path: Path) -> tuple[list[str], np.ndarray]:
    rows = _star_numbers(path, 5)
    return [""] * len(rows), rows[:, :2].astype(float)


def _cbox(path: Path) -> tuple[list[str], np.ndarray]:
    rows = _star_numbers(path, 11)
    return [""] * len(rows), rows[:, :2].astype(float) + CBOX_WIDTH / 2


def _write_topaz(path: Path, names: list[str], xy: np.ndarray) -> None:
    lines = ["image_name\tx_coord\ty_coord"] + [f"{n}\t{x:.3f}\t{y:.3f}" for n, (x, y) in zip(names, xy)]
    path.write_text("\n".join(lines) + "\n")


def _write_autopick(path: Path, names: list[str], xy: np.ndarray) -> None:
    path.write_text(autopick_text([(x, y, 0.5) for x, y in xy]))


def _write_cbox(path: Path, names: list[str], xy: np.ndarray) -> None:
    corner = xy - CBOX_WIDTH / 2
    path.write_text(cbox_text([(f"{x:.3f}", f"{y:.3f}", CBOX_WIDTH, CBOX_WIDTH, 0.5) for x, y in corner]))


#: Real pickers' files: how to read their centres (pixels) and write moved copies, and options to read them.
PICKERS = {
    "topaz": ("picks/topaz__EMPIAR-10025_particles.txt", _topaz, _write_topaz, {"topaz_scale": 1.0}),
    "autopick": ("picks/3dem__20170629_00049_frameImage_autopick.star", _autopick, _write_autopick, {}),
    "cbox": ("picks/napari-boxmanager__TcdA1-0018_frames_sum.cbox", _cbox, _write_cbox, {}),
}

#: Frames a conversion gets wrong: the moved centres (pixels) of the real ones.
PLANTED = {
    "offset": lambda xy: xy + np.array([64, -128]),
    "swap": lambda xy: xy[:, ::-1],
    "mirror-x": lambda xy: np.c_[8000 - xy[:, 0], xy[:, 1]],
    "binned 2x": lambda xy: xy / 2,
    "binned 4x": lambda xy: xy / 4,
    "scale 2x": lambda xy: xy * 2,
}


def _moved_copy(tmp_path: Path, picker: str, planted: str) -> tuple[Path, Path, np.ndarray, np.ndarray, dict]:
    """The real file, a copy of its picks moved (those left on the micrograph), the real and moved centres."""
    relative, read, write, options = PICKERS[picker]
    real = shared_file(relative)
    names, xy = read(real)
    moved = PLANTED[planted](xy)
    on = (moved >= 0).all(axis=1)
    copy = tmp_path / "moved" / real.name
    copy.parent.mkdir()
    write(copy, [n for n, keep in zip(names, on) if keep], moved[on])
    return real, copy, xy[on], moved[on], options


def _run(inputs, tmp_path: Path, **options):
    return remove_duplicate_particles(
        inputs, tmp_path / "out", ParticleOptions(mic_psize=1.0, min_dist=30, **options), force=True
    )


@pytest.mark.parametrize("planted", sorted(PLANTED))
@pytest.mark.parametrize("picker", sorted(PICKERS))
def test_real_picks_in_another_frame_are_refused_and_the_transform_found(tmp_path, picker, planted):
    real, copy, xy, moved, options = _moved_copy(tmp_path, picker, planted)
    with pytest.raises(CryodedupError, match="are in two frames") as refused:
        _run([real, copy], tmp_path, **options)
    fix = re.search(r"--transform '(.+?)=(.+?)'", str(refused.value))
    assert fix is not None and fix.group(1) == str(copy), str(refused.value)
    # The words it gives, applied as --transform applies them, bring the moved picks back within a pixel.
    back = apply_steps(parse_steps(fix.group(2)), moved, None)
    assert np.abs(back - xy).max() < 1.0, (fix.group(2), np.abs(back - xy).max())
    # Given, the inputs register in one frame, and every moved pick is confirmed by its real one.
    summary = _run(
        [real, copy], tmp_path, transform=[f"{copy}={fix.group(2)}"], min_support=2, output_format="input", **options
    )
    pair = summary.to_json()["registration"]["pairs"][0]
    assert pair["frames"] == "one"
    assert summary.to_json()["consensus"]["per_input"][1]["confirmed"] == len(moved)


@pytest.mark.parametrize("planted", ["offset", "binned 2x"])
def test_warn_merges_as_they_are_and_says_what_was_measured(tmp_path, planted):
    real, copy, *_, options = _moved_copy(tmp_path, "topaz", planted)
    summary = _run([real, copy], tmp_path, registration="warn", **options)
    pair = summary.to_json()["registration"]["pairs"][0]
    assert pair["frames"] == "two"
    assert pair["micrographs_held"] == pair["micrographs_shared"] == 30
    assert pair["jaccard_before"] < 0.1 < 0.9 < pair["jaccard_after"]
    assert any("are in two frames" in w and "--registration warn" in w for w in summary.warnings)
    # merged as they are: no moved pick confirmed by its real one (the frames' agreement, by brute force)
    assert summary.to_json()["consensus"]["per_input"][1]["confirmed"] == _confirmed_by_brute_force(real, copy, 30.0)
    assert "registration" not in _run([real, copy], tmp_path, registration="ignore", **options).to_json()


def test_the_registration_names_its_agreement_for_what_it_counts(tmp_path):
    # Issue 63 item 4: compare's Jaccard is of one-to-one matches; the registration's own measure,
    # min(m(a, b), m(b, a)) over the union, was a "Jaccard" in its row and its two-frames warning.
    real, copy, *_, options = _moved_copy(tmp_path, "topaz", "offset")
    summary = _run([real, copy], tmp_path, registration="warn", **options)
    pair = summary.to_json()["registration"]["pairs"][0]
    (warning,) = [w for w in summary.warnings if "are in two frames" in w]
    rows = Registration.from_json(summary.to_json()["registration"]).rows("micrograph")
    (row,) = [text for label, text in rows if "Registration" in label]
    for text in (warning, row):
        assert "Jaccard" not in text and "counted on the side with fewer, over the union of both sets" in text
    assert f"agreement {pair['jaccard_before']:.3f} -> {pair['jaccard_after']:.3f}" in row
    # The measure so named, by brute force on the picks as read: every pick's partners within the
    # distance measured at (on the micrographs measured: all 30 here), the side with fewer, over the union.
    names_a, a = _topaz(real)
    names_b, b = _topaz(copy)
    assert pair["micrographs_measured"] == pair["micrographs_shared"] == len(set(names_a))
    radius = pair["measured_at_A"]
    close = ((b[:, None, :] - a[None, :, :]) ** 2).sum(axis=2) <= radius * radius
    close &= np.array(names_b)[:, None] == np.array(names_a)[None, :]
    shared = min(close.any(axis=0).sum(), close.any(axis=1).sum())
    assert pair["jaccard_identity"] == pytest.approx(shared / (len(a) + len(b) - shared), abs=1e-4)


def _confirmed_by_brute_force(real: Path, copy: Path, radius: float) -> int:
    names_a, a = _topaz(real)
    names_b, b = _topaz(copy)
    same = np.array(names_b)[:, None] == np.array(names_a)[None, :]
    close = (((b[:, None, :] - a[None, :, :]) ** 2).sum(axis=2) <= radius * radius) & same
    return int(close.any(axis=1).sum())


def test_transform_leaves_the_written_rows_as_read(tmp_path):
    real, copy, _, moved, options = _moved_copy(tmp_path, "topaz", "offset")
    _run([real, copy], tmp_path, transform=["2=shift:-64,128"], output_format="input", **options)
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file() and "picker_2_" in str(p)]
    rows = {line for p in written for line in p.read_text().splitlines()[1:] if line}
    assert rows and rows <= set(copy.read_text().splitlines()[1:])
    assert len(rows) == len(moved)


def test_registration_pairs_inputs_of_one_species_at_that_species_distance(tmp_path):
    # Two inputs of species a (the real picks and a copy moved 64, -128 px: 143 Å at 1 Å a pixel) and one of b.
    real, copy, *_, options = _moved_copy(tmp_path, "topaz", "offset")
    other = tmp_path / "other" / real.name
    other.parent.mkdir()
    other.write_bytes(real.read_bytes())
    summary = _run(
        [real, copy, other],
        tmp_path,
        species=["a", "a", "b"],
        species_min_dist={"a": 150.0},
        audit=True,
        registration="warn",
        **options,
    )
    # Only a's pair, at a's 150 Å; b's input is measured with none. The 143 Å shift lies within 150 Å,
    # and is found all the same (issue 63: an offset of a quarter of the radius or more is another frame).
    (pair,) = summary.to_json()["registration"]["pairs"]
    assert pair["inputs"] == [str(real), str(copy)] and pair["species"] == "a"
    assert pair["radius_A"] == 150.0 and pair["frames"] == "two"
    assert pair["best_transform"]["transform"] == "shift:-64,128"
    assert "Registration" in "".join(
        k for k, _ in Registration.from_json(summary.to_json()["registration"]).rows("micrograph")
    )
    assert "(a at 150 Å)" in Registration.from_json(summary.to_json()["registration"]).rows("micrograph")[0][1]


def test_transform_mistakes_are_one_line(tmp_path):
    real, copy, *_, options = _moved_copy(tmp_path, "topaz", "offset")
    cases = {
        "nothing=shift:1,2": "not one of the inputs",
        "2=turn": "is none of swap",
        "shift:1,2": "INPUT=OPS expected",
        "2=mirror-x": "needs the micrographs' sizes",
    }
    for given, expected in cases.items():
        with pytest.raises(CryodedupError, match=expected):
            _run([real, copy], tmp_path, transform=[given], **options)
    with pytest.raises(CryodedupError, match="there is one input"):
        _run([real], tmp_path, transform=["1=swap"], **options)


@pytest.mark.real_data
def test_real_inputs_of_one_frame_pass(tmp_path):
    # The tutorial's LoG and template picks (the shipped example), and two RELION 5 pick sets of one job's tomograms.
    summary = remove_duplicate_particles(
        [EXAMPLES / "particles_log.star", EXAMPLES / "particles_template.star"],
        tmp_path / "example",
        ParticleOptions(micrographs=EXAMPLES / "micrographs_ctf.star"),
    )
    pairs = summary.to_json()["registration"]["pairs"]
    assert [p["frames"] for p in pairs] == ["one"] and pairs[0]["jaccard_identity"] > 0.5
    tomo = [shared_file("tomo/cets-relion__Picks_job019_particles.star")]
    tomo.append(shared_file("tomo/cets-relion__Select_job077_particles_removed.star"))
    for min_dist in (50, 100, 200):
        summary = remove_duplicate_particles(tomo, None, ParticleOptions(audit=True, min_dist=min_dist))
        assert all(p["frames"] == "one" for p in summary.to_json()["registration"]["pairs"])


def test_a_refusal_of_tomograms_in_two_frames_counts_tomograms(tmp_path):
    # RELION 5 picks (centred Å) on 3 tomograms, and the same moved by (100, -50, 30) Å: refused, counting the
    # shared tomograms as tomograms (it said "on 3 of 3 shared micrographs").
    rng = np.random.default_rng(3)
    centres = rng.uniform(-2000, 2000, (300, 3))
    tomograms = rng.integers(1, 4, 300)
    labels = [
        "rlnTomoName",
        "rlnCenteredCoordinateXAngst",
        "rlnCenteredCoordinateYAngst",
        "rlnCenteredCoordinateZAngst",
    ]
    head = "\n# version 50001\n\ndata_particles\n\nloop_\n" + "".join(
        f"_{lab} #{k}\n" for k, lab in enumerate(labels, 1)
    )
    paths = []
    for name, move in (("a", (0.0, 0.0, 0.0)), ("b", (100.0, -50.0, 30.0))):
        rows = "".join(f"TS_{t}\t{x:.2f}\t{y:.2f}\t{z:.2f}\n" for t, (x, y, z) in zip(tomograms, centres + move))
        paths.append(tmp_path / f"{name}.star")
        paths[-1].write_text(head + rows)
    with pytest.raises(CryodedupError, match="are in two frames") as refused:
        remove_duplicate_particles(paths, tmp_path / "out", ParticleOptions(min_dist=60, score="none"))
    assert "on 3 of 3 shared tomograms" in str(refused.value), str(refused.value)
