"""Picks hold each row's byte span in its file; writers copy those bytes (line endings,
spacing and all) instead of keeping every row as a Python string."""

from __future__ import annotations

import numpy as np

from cryodedup.formats.picks import read_picks
from cryodedup.formats.picks.write import write_like_input

# A RELION coordinate file written on Windows: CRLF line ends, odd spacing, a comment row.
CRLF_STAR = (
    "\r\n# version 30001\r\n\r\ndata_\r\n\r\nloop_ \r\n_rlnCoordinateX #1 \r\n_rlnCoordinateY #2 \r\n"
    "_rlnAutopickFigureOfMerit #3 \r\n"
    "  100.000000   200.000000     0.500000 \r\n"
    "\t300.5\t400.25\t1.5\r\n"
    "  50.0 60.0 -0.25\r\n"
    "\r\n"
)


def test_row_spans_are_the_rows_bytes(tmp_path):
    path = tmp_path / "m1_autopick.star"
    path.write_bytes(CRLF_STAR.encode())
    picks = read_picks(path)
    data = CRLF_STAR.encode()
    # Where each row starts, found by hand in the text above.
    rows = [b"  100.000000   200.000000     0.500000 \r\n", b"\t300.5\t400.25\t1.5\r\n", b"  50.0 60.0 -0.25\r\n"]
    starts = [data.index(r) for r in rows]
    assert picks.row_start.tolist() == starts
    assert picks.row_end.tolist() == [s + len(r) for s, r in zip(starts, rows)]
    assert picks.centres.tolist() == [[100.0, 200.0], [300.5, 400.25], [50.0, 60.0]]
    assert picks.score.tolist() == [0.5, 1.5, -0.25]


def test_subsets_are_byte_copies_with_line_endings(tmp_path):
    path = tmp_path / "in" / "m1_autopick.star"
    path.parent.mkdir()
    path.write_bytes(CRLF_STAR.encode())
    picks = read_picks(path)
    targets = write_like_input(picks, np.array([True, False, True]), tmp_path / "out")
    header, rows = CRLF_STAR.split("_rlnAutopickFigureOfMerit #3 \r\n")
    header += "_rlnAutopickFigureOfMerit #3 \r\n"
    lines = rows.split("\r\n")
    kept = header + lines[0] + "\r\n" + lines[2] + "\r\n" + "\r\n"
    rejected = header + lines[1] + "\r\n" + "\r\n"
    assert targets["kept"][0].read_bytes() == kept.encode()
    assert targets["rejected"][0].read_bytes() == rejected.encode()


def test_many_files_keep_their_order(tmp_path):
    """Files are read in parallel; picks come back in the order of the files given."""
    folder = tmp_path / "Movies"
    folder.mkdir()
    for m in range(40):
        rows = "".join(f"{m * 100 + k}.0 {k}.0 {k / 10}\n" for k in range(m % 5))
        (folder / f"mic{m:03d}_autopick.star").write_text(
            "data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnAutopickFigureOfMerit\n" + rows
        )
    picks = read_picks(tmp_path / "Movies")
    expected = [(m * 100 + k, k) for m in range(40) for k in range(m % 5)]
    assert picks.centres.tolist() == [[float(x), float(y)] for x, y in expected]
    names = [picks.micrographs[i] for i in picks.micrograph]
    assert names == [f"mic{m:03d}" for m in range(40) for _ in range(m % 5)]


def test_picks_of_a_relion_file_are_read_without_copies(tmp_path):
    # Millions of picks: the centres are a view of the table the core returns (x and y are
    # neighbouring columns there), the file of each pick 4 bytes, not 8.
    path = tmp_path / "m1_autopick.star"
    path.write_bytes(CRLF_STAR.encode())
    picks = read_picks(path)
    assert not picks.centres.flags.owndata and picks.centres.base is not None
    assert np.may_share_memory(picks.centres, picks.score)  # columns of one table
    assert picks.file_of_pick.dtype == np.uint32
