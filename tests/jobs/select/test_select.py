"""``cryodedup select`` on small STAR files whose answer is known by construction (the test's own rows)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from helpers import CommandPickle

OPTICS = """
# version 30001

data_optics

loop_
_rlnOpticsGroupName #1
_rlnOpticsGroup #2
_rlnMicrographPixelSize #3
_rlnImagePixelSize #4
_rlnImageSize #5
_rlnImageDimensionality #6
opticsGroup1 1 {mic} {img} 64 2


# version 30001

data_particles

loop_
_rlnCoordinateX #1
_rlnCoordinateY #2
_rlnOriginXAngst #3
_rlnOriginYAngst #4
_rlnImageName #5
_rlnMicrographName #6
_rlnOpticsGroup #7
_rlnAngleRot #8
"""

#: The original's particles: (micrograph, x, y) in Å, 300 Å apart on each micrograph.
SITES = [(m, 300.0 * (k % 5) + 150.0, 300.0 * (k // 5) + 150.0) for m in range(3) for k in range(8)]


def _star(path, rows, mic_psize=1.0, img_psize=2.0):
    """A RELION 3.1 particle file; each row (x px, y px, ox Å, oy Å, image, micrograph, angle); its row lines."""
    lines = [
        f"{x:.6f} {y:.6f} {ox:.6f} {oy:.6f} {image} {mic} 1 {angle:.6f}" for x, y, ox, oy, image, mic, angle in rows
    ]
    path.write_text(OPTICS.format(mic=mic_psize, img=img_psize) + "".join(f"{line}\n" for line in lines) + "\n")
    return lines


def _original(tmp_path):
    rows = [
        (x, y, 0.0, 0.0, f"{k + 1:06d}@Extract/job007/Movies/m{m}.mrcs", f"MotionCorr/job002/m{m}.mrc", 10.0 * k)
        for k, (m, x, y) in enumerate(SITES)
    ]
    return _star(tmp_path / "original.star", rows)


def _rows_of(path):
    """The particle rows of a STAR file written here (the lines after the last label)."""
    text = path.read_text().splitlines()
    last = max(k for k, line in enumerate(text) if line.startswith("_rln"))
    return [line for line in text[last + 1 :] if line.strip()]


def _select(tmp_path, *args):
    result = CliRunner().invoke(
        main, ["select", str(tmp_path / "original.star"), "-o", str(tmp_path / "out"), "--json", "-q", *args]
    )
    return result


def test_an_index_pickle_selects_the_rows_it_names_in_the_originals_order(tmp_path):
    lines = _original(tmp_path)
    chosen = [17, 2, 9, 0]
    (tmp_path / "ind.pkl").write_bytes(pickle.dumps(np.array(chosen)))
    result = _select(tmp_path, "--subset", str(tmp_path / "ind.pkl"))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["matched"]["index"] == 4 and document["selected"] == 4 and document["deselected"] == 20
    assert _rows_of(tmp_path / "out/particles_selected.star") == [lines[k] for k in sorted(chosen)]
    assert _rows_of(tmp_path / "out/particles_deselected.star") == [
        line for k, line in enumerate(lines) if k not in chosen
    ]
    assert set(document) >= {"verdict", "outputs", "timings"}
    assert document["outputs"]["selected"] == [str(tmp_path / "out/particles_selected.star")]


def test_a_reordered_subset_with_the_same_image_names_is_matched_by_name(tmp_path):
    lines = _original(tmp_path)
    chosen = [20, 3, 11, 7]
    rows = []
    for k in chosen:  # (moved 50 Å and re-scored: by name, never by position)
        m, x, y = SITES[k]
        rows.append(
            (x + 50, y, 0.0, 0.0, f"{k + 1:06d}@Extract/job007/Movies/m{m}.mrcs", f"MotionCorr/job002/m{m}.mrc", 1.0)
        )
    _star(tmp_path / "subset.star", rows)
    result = _select(tmp_path, "--subset", str(tmp_path / "subset.star"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["matched"]["image name"] == 4
    assert _rows_of(tmp_path / "out/particles_selected.star") == [lines[k] for k in sorted(chosen)]


def test_a_binned_recentred_re_extraction_is_matched_by_position_through_both_pixel_sizes(tmp_path):
    lines = _original(tmp_path)
    chosen = [1, 23, 12, 5, 6]
    rows = []
    for j, k in enumerate(chosen):
        m, x, y = SITES[k]
        # (recentred: the coordinate moved 7 px of 3.54 Å, the origin saying where the centre is; other names)
        origin = 7 * 3.54
        rows.append(
            (
                (x + origin) / 3.54,
                y / 3.54,
                origin,
                0.0,
                f"{j + 1:06d}@Extract/job018/s.mrcs",
                f"MotionCorr/job002/m{m}.mrc",
                0.0,
            )
        )
    _star(tmp_path / "subset.star", rows, mic_psize=3.54, img_psize=3.54)
    result = _select(tmp_path, "--subset", str(tmp_path / "subset.star"), "--min-dist", "2")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["matched"]["position"] == 5 and document["unmatched"]["rows"] == 0
    assert _rows_of(tmp_path / "out/particles_selected.star") == [lines[k] for k in sorted(chosen)]


def test_subset_rows_matched_by_nothing_are_named_and_said(tmp_path):
    _original(tmp_path)
    _star(tmp_path / "subset.star", [(5000.0, 5000.0, 0, 0, "000001@x.mrcs", "MotionCorr/job002/m0.mrc", 0.0)])
    result = _select(tmp_path, "--subset", str(tmp_path / "subset.star"))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["verdict"]["kind"] == "warn"
    assert document["unmatched"] == {"rows": 1, "named": ["row 1 (000001@x.mrcs)"]}


def test_a_subset_row_near_two_original_rows_is_refused_unless_ambiguous_is_given(tmp_path):
    _original(tmp_path)
    _, x, y = SITES[0]
    _star(tmp_path / "subset.star", [(x + 150.0, y, 0, 0, "000001@x.mrcs", "MotionCorr/job002/m0.mrc", 0.0)])
    refused = _select(tmp_path, "--subset", str(tmp_path / "subset.star"), "--min-dist", "200")
    assert refused.exit_code == 1 and "ambiguously" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    accepted = _select(tmp_path, "--subset", str(tmp_path / "subset.star"), "--min-dist", "200", "--ambiguous")
    assert accepted.exit_code == 0 and json.loads(accepted.stdout)["ambiguous"]["rows"] == 1


def test_an_empty_subset_warns_and_writes_an_empty_selection(tmp_path):
    lines = _original(tmp_path)
    (tmp_path / "ind.txt").write_text("")
    result = _select(tmp_path, "--subset", str(tmp_path / "ind.txt"))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["selected"] == 0 and any("names no rows" in w for w in document["warnings"])
    assert _rows_of(tmp_path / "out/particles_selected.star") == []
    assert _rows_of(tmp_path / "out/particles_deselected.star") == lines


@pytest.mark.parametrize(
    ("indices", "said"),
    [([0, 24], "out of range"), ([-1], "negative"), ([1, 1], "given 2 times"), ([0.5], "not an integer")],
)
def test_bad_indices_are_refused_in_one_line_and_nothing_is_written(tmp_path, indices, said):
    _original(tmp_path)
    (tmp_path / "ind.pkl").write_bytes(pickle.dumps(indices))
    result = _select(tmp_path, "--subset", str(tmp_path / "ind.pkl"))
    assert result.exit_code == 1 and said in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out/particles_selected.star").exists()


def test_a_pickle_that_runs_a_command_is_refused_by_the_command_and_never_runs(tmp_path):
    _original(tmp_path)
    touched = tmp_path / "touched"
    (tmp_path / "ind.pkl").write_bytes(pickle.dumps(CommandPickle(f"touch {touched}")))
    result = _select(tmp_path, "--subset", str(tmp_path / "ind.pkl"))
    assert result.exit_code == 1 and "refused" in result.output and "os" in result.output
    assert not touched.exists()


def test_existing_outputs_are_refused_unless_force(tmp_path):
    _original(tmp_path)
    (tmp_path / "ind.txt").write_text("1\n")
    assert _select(tmp_path, "--subset", str(tmp_path / "ind.txt")).exit_code == 0
    again = _select(tmp_path, "--subset", str(tmp_path / "ind.txt"))
    assert again.exit_code == 1 and "--force" in again.output
    assert _select(tmp_path, "--subset", str(tmp_path / "ind.txt"), "--force").exit_code == 0


def _grouped_original(tmp_path, groups):
    """The original's 24 rows with an rlnGroupName column of ``groups`` (a tilt-series STAR's); its lines without it."""
    lines = _original(tmp_path)
    text = (tmp_path / "original.star").read_text().replace("_rlnAngleRot #8\n", "_rlnAngleRot #8\n_rlnGroupName #9\n")
    for line, name in zip(lines, groups):
        text = text.replace(line + "\n", f"{line} {name}\n")
    (tmp_path / "original.star").write_text(text)
    return lines


def test_cryodrgn_et_particle_indices_select_every_tilt_of_each_particle(tmp_path):
    # cryoDRGN-ET counts particles, not rows: the rows sharing rlnGroupName are one particle's tilts, numbered
    # in the order their first row appears (cryodrgn/dataset.py TiltSeriesData.parse_particle_tilt, and
    # filter_star --et's particles_to_tilts, at ml-struct-bio/cryodrgn 5b18c4a). Here 8 particles of 3 tilts,
    # their rows interleaved; the oracle groups the rows by their name as that code does.
    groups = [f"TS_01/{(k * 5) % 8}" for k in range(24)]  # (particle names in an interleaved order)
    lines = _grouped_original(tmp_path, groups)
    first_seen = list(dict.fromkeys(groups))
    chosen = [5, 0, 7]
    (tmp_path / "ind.pkl").write_bytes(pickle.dumps(np.array(chosen)))
    result = _select(tmp_path, "--subset", str(tmp_path / "ind.pkl"), "--index-of", "particles")
    assert result.exit_code == 0, result.output
    wanted = [k for k, name in enumerate(groups) if first_seen.index(name) in chosen]
    assert len(wanted) == 9
    assert [row.rsplit(" ", 1)[0] for row in _rows_of(tmp_path / "out/particles_selected.star")] == [
        lines[k] for k in wanted
    ]
    (tmp_path / "ind.pkl").write_bytes(pickle.dumps(np.array([8])))
    refused = _select(tmp_path, "--subset", str(tmp_path / "ind.pkl"), "--index-of", "particles", "--force")
    assert refused.exit_code == 1 and "8 particles" in refused.stderr


def test_recovar_particle_indices_count_particles_in_the_sorted_order_of_their_group_names(tmp_path):
    # recovar's tilt-series analysis numbers physical particles as sorted(unique(rlnGroupName)) of the flat STAR it
    # read ("original physical index -> sorted unique flat rlnGroupName": recovar/data_io/relion5_cluster_export.py
    # at ma-gilles/recovar 1e66664; recovar's own guide, extracting-subsets.md: "the canonical, lexically sorted
    # rlnGroupName identities"); its indices.pkl is np.where(...)[0] pickled (extract_image_subset_from_kmeans.py).
    # Names chosen so that sorted order, first appearance and numeric order all differ.
    names = ["TS_01/10", "TS_01/9", "TS_01/b", "TS_01/A", "TS_02/1", "TS_01/2", "TS_01/x", "TS_01/11"]
    groups = [names[(k * 5) % 8] for k in range(24)]
    lines = _grouped_original(tmp_path, groups)
    canonical = sorted(set(groups))
    chosen = [0, 5, 6]
    (tmp_path / "indices.pkl").write_bytes(pickle.dumps(np.array(chosen)))
    result = _select(tmp_path, "--subset", str(tmp_path / "indices.pkl"), "--index-of", "particles-sorted")
    assert result.exit_code == 0, result.output
    wanted = [k for k, name in enumerate(groups) if canonical.index(name) in chosen]
    assert len(wanted) == 9
    assert [row.rsplit(" ", 1)[0] for row in _rows_of(tmp_path / "out/particles_selected.star")] == [
        lines[k] for k in wanted
    ]
    first_seen = list(dict.fromkeys(groups))  # (cryoDRGN-ET's numbering selects other particles from the same file)
    assert {first_seen[k] for k in chosen} != {canonical[k] for k in chosen}


def test_take_angles_and_shifts_puts_each_centre_on_its_subset_rows_through_both_pixel_sizes(tmp_path):
    lines = _original(tmp_path)
    chosen, rows = [4, 13], []
    for j, k in enumerate(chosen):  # (binned 3.54 Å, recentred: the centre 6.2 Å and 3 Å off the original's)
        m, x, y = SITES[k]
        rows.append(
            (
                (x + 20.0) / 3.54,
                (y - 5.0) / 3.54,
                13.8,
                -8.0,
                f"{j + 1:06d}@s.mrcs",
                f"MotionCorr/job002/m{m}.mrc",
                77.5 + j,
            )
        )
    _star(tmp_path / "subset.star", rows, mic_psize=3.54, img_psize=3.54)
    result = _select(tmp_path, "--subset", str(tmp_path / "subset.star"), "--take", "angles,shifts")
    assert result.exit_code == 0, result.output
    written = [row.split() for row in _rows_of(tmp_path / "out/particles_selected.star")]
    for row, k, (x, y, ox, oy, *_, angle) in zip(written, sorted(chosen), rows):
        centre = np.array([float(row[0]) - float(row[2]), float(row[1]) - float(row[3])])  # (1 Å pixels)
        assert np.allclose(centre, [x * 3.54 - ox, y * 3.54 - oy], atol=1e-5)
        assert float(row[7]) == angle
        mine = lines[k].split()
        assert [row[j] for j in (0, 1, 4, 5, 6)] == [mine[j] for j in (0, 1, 4, 5, 6)]
