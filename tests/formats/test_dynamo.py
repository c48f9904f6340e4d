"""cryodedup.formats.dynamo: Dynamo tables read, deduplicated and written back as .tbl.

Oracles: tables parsed in the test with plain Python (complex tokens through Python's own
``complex``), centres = (position + shift) x pixel size, the greedy rule by brute force.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cryodedup import CryodedupError, ParticleOptions, remove_duplicate_particles
from cryodedup.formats.dynamo import read_dynamo_tables, read_table_map
from helpers import read_request, shared_file
from oracle import oracle_by_group


def run(tmp_path, inputs, **options):
    return remove_duplicate_particles(inputs, tmp_path / "out", ParticleOptions(**options))


def row(tag, shift, cc, tomo, position, extra=""):
    """A 35-column Dynamo row: tag, shift (4-6), cc (10), tomo (20), position (24-26)."""
    values = ["0"] * 35
    values[0], values[1] = str(tag), "1"
    values[3:6] = [str(v) for v in shift]
    values[9], values[19] = str(cc), str(tomo)
    values[23:26] = [str(v) for v in position]
    return " ".join(values) + extra + "\n"


def parse(path):
    """Rows of a table as lists of floats (real parts of MATLAB's complex numbers) and the lines."""
    lines = [line for line in path.read_text().splitlines(keepends=True) if line.strip()]
    values = [[complex(t.replace("i", "j")).real for t in line.split()] for line in lines]
    return np.array(values), lines


def oracle_table(values, psize, min_dist):
    centres = (values[:, 23:26] + values[:, 3:6]) * psize
    groups = np.unique(values[:, 19], return_inverse=True)[1]
    return oracle_by_group(groups, centres, values[:, 9], min_dist)


def test_centre_is_position_plus_shift(tmp_path):
    # "1" and "2" are one particle (100 + 5 = 105 + 0 pixels in x); "3" is that position
    # in tomogram 2; "4" has "1"'s position but a shift of -5 px (10 Å at 2 Å/px) away.
    text = (
        row(1, (5, 0, 0), 0.9, 1, (100, 50, 20))
        + row(2, (0, 0, 0), 0.5, 1, (105, 50, 20))
        + row(3, (0, 0, 0), 0.5, 2, (105, 50, 20))
        + row(4, (-5, 0, 0), 0.4, 1, (100, 50, 20))
    )
    path = tmp_path / "t.tbl"
    path.write_text(text)
    summary = run(tmp_path, [path], min_dist=5.0, mic_psize=2.0)
    assert (tmp_path / "out/particles_rejected.tbl").read_text() == text.splitlines(keepends=True)[1]
    assert summary.to_json()["score"]["column"] == "cc" and summary.micrographs == 2
    assert summary.to_json()["pixel_sizes"][0]["psize"] == 2.0


def test_complex_tokens_and_a_missing_final_newline(tmp_path):
    path = tmp_path / "t.tbl"
    text = row(1, ("1.5+2e-03i", 0, 0), 0.9, 1, (100, 50, 20)) + row(2, (0, 0, 0), 0.5, 1, (101.5, 50, 20))
    path.write_text(text.rstrip("\n"))
    summary = run(tmp_path, [path], min_dist=0.0, mic_psize=1.0)
    assert summary.rejected == 1
    assert (tmp_path / "out/particles_kept.tbl").read_text() == text.splitlines(keepends=True)[0]


def test_bad_tables_are_refused_in_one_line(tmp_path):
    path = tmp_path / "t.tbl"
    path.write_text(row(1, (0, 0, 0), 0.9, 1, (100, 50, 20)))
    with pytest.raises(CryodedupError, match=r"t.tbl: .*apix column \(36\).*--mic-psize"):
        run(tmp_path, [path])
    path.write_text("1 2 3\n")
    with pytest.raises(CryodedupError, match=r"t.tbl: line 1 has 3 columns"):
        run(tmp_path, [path], mic_psize=1.0)
    path.write_text(row(1, ("x", 0, 0), 0.9, 1, (100, 50, 20)))
    with pytest.raises(CryodedupError, match=r"t.tbl: line 1, column 4: 'x' is not a number"):
        run(tmp_path, [path], mic_psize=1.0)


# Found by fuzzing (fuzz/corpus/dynamo/crash_infinite_apix_warning): numpy's RuntimeWarnings,
# with their source lines, printed before the one-line error.
@pytest.mark.parametrize(
    ("apix", "shift", "options", "message"),
    [
        ("inf", 0, {}, r"t.tbl: .*apix column \(36\) does not give"),
        ("3.5", "1e308", {}, "particle 1 has no finite centre"),
        ("3.5", 0, {"mic_psize": 1e300}, "particle 1 has no finite centre"),
    ],
    ids=["apix inf", "position + shift overflows", "centre x pixel size overflows"],
)
def test_infinite_values_are_refused_without_a_warning(tmp_path, apix, shift, options, message):
    path = tmp_path / "t.tbl"
    rows = [row(k, (shift, 0, 0), 0.5, 1, (1e308, 50, 20), " 0" * 7) for k in (1, 2)]
    path.write_text("".join(r.replace(" 0 0 0 0 0 0 0\n", f" {apix} 0 0 0 0 0 0\n") for r in rows))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CryodedupError, match=message):
            run(tmp_path, [path], **options)


def test_pixel_size_from_the_apix_column(tmp_path):
    path = tmp_path / "t.tbl"
    extra = " 0 0 0 0 0 0 0"  # columns 36-42 of a longer table, filled in below
    rows = [row(k, (0, 0, 0), 0.5, 1, (100 + k, 50, 20), extra) for k in (1, 2)]
    rows = [r.replace(" 0 0 0 0 0 0 0\n", " 3.5 0 0 0 0 0 0\n") for r in rows]
    path.write_text("".join(rows))
    summary = run(tmp_path, [path], min_dist=3.0)
    assert summary.to_json()["pixel_sizes"][0] == {
        **summary.to_json()["pixel_sizes"][0],
        "psize": 3.5,
        "source": "apix (column 36)",
    }
    assert summary.rejected == 0  # 1 px = 3.5 Å apart


def test_volume_list_and_table_map(tmp_path):
    vll = tmp_path / "tomos.vll"
    vll.write_text("# the tomograms\ntomoA.mrc\n> tableA.tbl\n* apix = 1.2\ntomoB.mrc\n* index = 7\n\ntomoC.mrc\n")
    assert read_table_map(vll) == {1: "tomoA.mrc", 7: "tomoB.mrc", 3: "tomoC.mrc"}  # numbered by position
    doc = tmp_path / "map.doc"
    doc.write_text("1\ta.mrc\n3 b.mrc\n")
    assert read_table_map(doc) == {1: "a.mrc", 3: "b.mrc"}
    path = tmp_path / "t.tbl"
    path.write_text(row(1, (0, 0, 0), 0.5, 2, (1, 1, 1)))
    with pytest.raises(CryodedupError, match=r"map.doc: no tomogram 2 \(column 20"):
        run(tmp_path, [path], mic_psize=1.0, micrographs=doc)


@pytest.mark.real_data
def test_t_double_round_trip(tmp_path):
    path = shared_file("tomo/dynamotable__t_double.tbl")
    values, lines = parse(path)
    expected = oracle_table(values, 10.0, 300.0)
    summary = run(tmp_path, [path], min_dist=300.0, mic_psize=10.0)
    kept, _ = parse(tmp_path / "out/particles_kept.tbl")
    assert 0 < summary.rejected == int((~expected).sum())
    assert (tmp_path / "out/particles_kept.tbl").read_text().splitlines(keepends=True) == [
        line for line, k in zip(lines, expected) if k
    ]
    assert np.array_equal(kept, values[expected])


@pytest.mark.real_data
def test_t_complex_round_trip_with_its_map(tmp_path):
    path = shared_file("tomo/dynamotable__t_complex.tbl")
    doc = shared_file("tomo/dynamotable__tmap_complex.doc")
    values, lines = parse(path)
    expected = oracle_table(values, 15.0, 150.0)
    options = ParticleOptions(min_dist=150.0, mic_psize=15.0, micrographs=doc)
    request = read_request(options)
    read = (request.scale, request.score_read, request.row_read)
    particles = read_dynamo_tables([path], tmp_path / "out", *read, lambda m: None, lambda m, level: None)
    assert particles.mic_names[:2] == ["tomo_ts01.mrc_15.00Apx.mrc", "tomo_ts02.mrc_15.00Apx.mrc"]
    summary = remove_duplicate_particles([path], tmp_path / "out", options)
    assert 0 < summary.rejected == int((~expected).sum()) and summary.micrographs == 48
    rejected = (tmp_path / "out/particles_rejected.tbl").read_text().splitlines(keepends=True)
    assert rejected == [line for line, k in zip(lines, expected) if not k]


def _posed_table(path, eulers):
    """A table of particles 100 pixels apart, each turned by its (tdrot, tilt, narot) in columns 7-9."""
    lines = []
    for k, angles in enumerate(eulers):
        values = row(k + 1, (0, 0, 0), 0.5, 1, (100 * k, 0, 0)).split()
        values[6:9] = [f"{a:g}" for a in angles]
        lines.append(" ".join(values) + "\n")
    path.write_text("".join(lines))
    return path


@pytest.mark.parametrize(
    "eulers, message",
    [
        ([(720.0, 10.0, 30.0)] + [(10.0, 20.0, 30.0)] * 3, r"tdrot \(column 7\) 720°, beyond ±360°"),
        ([(1e300, 10.0, 30.0)], r"tdrot \(column 7\) 1e\+300°, beyond ±360° .*: not an angle in degrees"),
        # 150 rows of radians (every angle within ±π) read as degrees
        ([(np.sin(k) * 3.1, abs(np.cos(k)) * 3.1, np.sin(2 * k) * 3.1) for k in range(150)], r"within ±π"),
    ],
)
def test_dynamo_angles_get_the_range_checks_every_reader_makes(tmp_path, eulers, message):
    # On main: 720°, 1e300° and radians were compared as degrees without a word.
    table = _posed_table(tmp_path / "posed.tbl", eulers)
    with pytest.raises(CryodedupError, match=message):
        run(tmp_path, [table], mic_psize=1.0, min_dist=20, max_angle=10)


def test_a_dynamo_tilt_outside_0_180_is_said_and_radians_pass_with_insist_angles(tmp_path):
    table = _posed_table(tmp_path / "posed.tbl", [(10.0, -20.0, 30.0), (10.0, 20.0, 30.0)])
    summary = run(tmp_path, [table], mic_psize=1.0, min_dist=20, max_angle=10)
    assert any("tilt (column 8) outside 0-180°" in w and "as Dynamo never writes it" in w for w in summary.warnings)
    radians = [(np.sin(k) * 3.1, abs(np.cos(k)) * 3.1, np.sin(2 * k) * 3.1) for k in range(150)]
    table = _posed_table(tmp_path / "radians.tbl", radians)
    summary = remove_duplicate_particles(
        [table], tmp_path / "out2", ParticleOptions(mic_psize=1.0, min_dist=20, max_angle=10, insist_angles=True)
    )
    assert any("Compared as written, as --insist-angles asks" in w for w in summary.warnings)
