"""pairs.csv is written by the core: the same bytes as Python's csv module and f-strings wrote.

The oracle is the Python writer the job used before (kept here, unchanged): one csv.writer
row per pair, the numbers formatted with f-strings.
"""

from __future__ import annotations

import csv
import os
from types import SimpleNamespace

import numpy as np
import pytest

from cryodedup.jobs.micrographs import update_pairs
from cryodedup.jobs.micrographs.decide import MicrographDecision
from cryodedup.jobs.micrographs.score import ScoredPairs
from cryodedup.jobs.micrographs.update_pairs import PairsCsv
from cryodedup.jobs.micrographs.write import _pair_rows, write_pairs_whole
from cryodedup.outputs import output_batch


def python_writer(path, names, pairs, scores, decision, binning, binned_psize, distance=None):
    psize = binned_psize / binning
    header = ["index_a", "index_b", "name_a", "name_b", "z", "pearson", "overlap"]
    header += ["shift_x_px", "shift_y_px", "shift_x_A", "shift_y_A", "duplicate", "uncertain", "joint"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header + (["distance_um"] if distance is not None else []))
        for k, (a, b) in enumerate(pairs.tolist()):
            row = [a, b, names[a], names[b]]
            if np.isfinite(scores["dx"][k]):
                dx, dy = int(scores["dx"][k]) * binning, int(scores["dy"][k]) * binning
                row += [f"{scores['z'][k]:.2f}", f"{scores['pearson'][k]:.4f}", f"{scores['overlap'][k]:.3f}"]
                row += [dx, dy, f"{dx * psize:.1f}", f"{dy * psize:.1f}"]
            else:
                row += [""] * 7
            row += [int(decision.duplicate[k]), int(decision.uncertain[k]), f"{decision.joint[k]:.3f}"]
            if distance is not None:
                row.append(f"{distance[k]:.4f}" if np.isfinite(distance[k]) else "")
            w.writerow(row)


def write_core(path, mics, pairs, scores, decision, binning, binned_psize, distance=None, history=None, final=None):
    """The job's writer: pairs.csv at ``path`` (``final``: the last round's file, with ``history``)."""
    scored = ScoredPairs(pairs, *(scores[k] for k in ("z", "dy", "dx", "pearson", "overlap")))
    rows = _pair_rows(mics, pairs, scored, decision, distance)
    if history is None:  # (a plain run's writer; a round's appends where it can)
        write_pairs_whole((final or path, path), rows, binning, binned_psize / binning)
    else:
        history.write_pairs((final or path, path), rows, binning, binned_psize / binning)


NAMES = [
    "Movies/mic_1.mrc",
    "with,comma.mrc",
    'with"quote.mrc',
    "with\nnewline.mrc",
    "with\rreturn.mrc",
    " leading space.mrc",
    "Ångström_é.mrc",
    "",
    "tab\there.mrc",
]


def hard_values(rng, n, scale):
    """Random values with the cases formatting gets wrong: ties (0.125), -0.0, NaN, infinities, tiny negatives."""
    values = rng.normal(0, scale, n)
    specials = np.array([0.125, 0.375, 2.5, 1.005, -0.0, -0.0004, np.nan, np.inf, -np.inf, 1e-300, 0.00005, 12.345])
    at = rng.choice(n, n // 4, replace=False)
    values[at] = rng.choice(specials, len(at))
    return values


@pytest.mark.parametrize("with_distance", [False, True])
@pytest.mark.parametrize("score_dtype", [np.float64, np.float32])
def test_core_writer_gives_the_python_writers_bytes(tmp_path, with_distance, score_dtype):
    rng = np.random.default_rng(7)
    n = 5000
    pairs = rng.integers(0, len(NAMES), (n, 2))
    dx = rng.integers(-300, 300, n).astype(np.float64)
    dx[rng.choice(n, 200, replace=False)] = np.nan  # rows without image scores (--no-images)
    scores = {
        "z": hard_values(rng, n, 20).astype(score_dtype),
        "pearson": hard_values(rng, n, 0.3).astype(score_dtype),
        "overlap": hard_values(rng, n, 0.5),
        "dx": dx,
        "dy": rng.integers(-300, 300, n).astype(np.int64),
    }
    joint = hard_values(rng, n, 1.0)
    decision = MicrographDecision(joint >= 1, np.abs(joint - 1) < 0.25, joint, 8.0, 0.3, {})
    distance = hard_values(rng, n, 0.4) if with_distance else None
    mics = SimpleNamespace(names=NAMES)
    for binning, binned_psize in ((1, 1.0), (14, 11.62), (8, 10.96)):
        python_writer(tmp_path / "oracle.csv", NAMES, pairs, scores, decision, binning, binned_psize, distance)
        write_core(tmp_path / "core.csv", mics, pairs, scores, decision, binning, binned_psize, distance)
        oracle, core = (tmp_path / "oracle.csv").read_bytes(), (tmp_path / "core.csv").read_bytes()
        assert core == oracle, next(k for k, (x, y) in enumerate(zip(core, oracle)) if x != y)


def test_no_pairs_gives_the_header_alone(tmp_path):
    empty = {k: np.zeros(0) for k in ("z", "pearson", "overlap", "dx", "dy")}
    decision = MicrographDecision(np.zeros(0, bool), np.zeros(0, bool), np.zeros(0), 8.0, 0.3, {})
    pairs = np.zeros((0, 2), dtype=np.int64)
    python_writer(tmp_path / "oracle.csv", NAMES, pairs, empty, decision, 2, 2.0)
    write_core(tmp_path / "core.csv", SimpleNamespace(names=NAMES), pairs, empty, decision, 2, 2.0)
    assert (tmp_path / "core.csv").read_bytes() == (tmp_path / "oracle.csv").read_bytes()


def window_rows(rng, n_mics, window=6):
    """The pairs of ``n_mics`` micrographs within ``window`` in acquisition order (by later, then earlier), scored."""
    pairs = np.array([(a, b) for b in range(n_mics) for a in range(max(0, b - window), b)], dtype=np.int64)
    n = len(pairs)
    scores = {"z": hard_values(rng, n, 20), "pearson": hard_values(rng, n, 0.3), "overlap": hard_values(rng, n, 0.5)}
    scores.update(dx=rng.integers(-300, 300, n).astype(np.float64), dy=rng.integers(-300, 300, n).astype(np.float64))
    joint = hard_values(rng, n, 1.0)
    return pairs, scores, joint


def decided(joint):
    return MicrographDecision(joint >= 1, np.abs(joint - 1) < 0.25, joint, 8.0, 0.3, {})


def cut(pairs, scores, joint, rows):
    return pairs[:rows], {k: v[:rows] for k, v in scores.items()}, joint[:rows]


def two_rounds(tmp_path, first, second, change=None, while_copied=False):
    """Round one writes ``first`` (names, pairs, scores, joint) with a history; ``change`` may touch its file
    (before round two, or ``while_copied``: once round two has copied it); round two writes ``second`` from that
    history, as the job does (its copy made in an output batch). Returns (round two's bytes, a fresh write's bytes).
    """
    history = PairsCsv()
    names, pairs, scores, joint = first
    write_core(
        tmp_path / "pairs.csv", SimpleNamespace(names=names), pairs, scores, decided(joint), 14, 11.62, None, history
    )
    if change and not while_copied:
        change(tmp_path / "pairs.csv")
    again = PairsCsv(history.written)
    names, pairs, scores, joint = second
    mics = SimpleNamespace(names=names)
    with output_batch(), again.copying(tmp_path / "pairs.csv"):
        if change and while_copied:
            again.copied()
            change(tmp_path / "pairs.csv")
        write_core(
            tmp_path / "tmp.csv", mics, pairs, scores, decided(joint), 14, 11.62, None, again, tmp_path / "pairs.csv"
        )
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".scratch")]  # the copy goes with the batch
    python_writer(tmp_path / "oracle.csv", names, pairs, scores, decided(joint), 14, 11.62)
    stat = (tmp_path / "tmp.csv").stat()
    assert again.written.stamp == (stat.st_size, stat.st_mtime_ns, stat.st_ino) and again.written.rows == len(pairs)
    return (tmp_path / "tmp.csv").read_bytes(), (tmp_path / "oracle.csv").read_bytes()


def test_a_round_appends_the_rows_of_micrographs_acquired_after_the_last(tmp_path, rows_formatted):
    """New micrographs acquired last add rows at the end only: the file is the last one and the new rows."""
    rng = np.random.default_rng(8)
    names = [f"Movies/mic_{k}.mrc" for k in range(40)] + NAMES
    pairs, scores, joint = window_rows(rng, len(names))
    old = sum(1 for a, b in pairs if b < 40)
    got, oracle = two_rounds(tmp_path, (names[:40], *cut(pairs, scores, joint, old)), (names, pairs, scores, joint))
    assert got == oracle
    assert rows_formatted == [old, len(pairs) - old]


def no_space(source, target):
    raise OSError(28, "No space left on device")


def touch(path):
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1000))


def edit_in_place(path):
    data = bytearray(path.read_bytes())
    data[-5] = ord("7") if data[-5] != ord("7") else ord("8")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "what",
    [
        "file touched",
        "file edited",
        "file edited once copied",
        "file touched once copied",
        "the copy failed",
        "file gone",
        "a threshold moved",
        "a name changed",
        "a row inserted before the last",
        "a score changed",
        "fewer rows",
    ],
)
def test_a_round_whose_earlier_rows_differ_writes_the_file_whole(tmp_path, rows_formatted, what, monkeypatch):
    """Whatever makes the last round's rows differ from this round's first ones (or its file), the file is written
    whole: the same bytes as a fresh write, every row formatted."""
    rng = np.random.default_rng(9)
    names = [f"Movies/mic_{k}.mrc" for k in range(50)]
    pairs, scores, joint = window_rows(rng, len(names))
    old = sum(1 for a, b in pairs if b < 40)
    first = (names[:40], *cut(pairs, scores, joint, old))
    second_names, second_pairs, second_scores, second_joint = names, pairs, dict(scores), joint.copy()
    change = None
    if what.startswith("file touched"):
        change = touch
    elif what.startswith("file edited"):
        change = edit_in_place
    elif what == "the copy failed":
        monkeypatch.setattr(update_pairs.shutil, "copyfile", no_space)
    elif what == "file gone":
        change = os.unlink
    elif what == "a threshold moved":
        second_joint[3] = second_joint[3] * 1.01 + 0.001
    elif what == "a name changed":
        second_names = ["Movies/mic_0.tif", *names[1:]]
    elif what == "a row inserted before the last":
        second_pairs = np.concatenate([pairs[:5], [[0, 1]], pairs[5:-1]])
    elif what == "a score changed":
        second_scores["dx"] = scores["dx"].copy()
        second_scores["dx"][old - 1] += 1
    elif what == "fewer rows":
        second_names = names[:40]
        second_pairs, second_scores, second_joint = cut(pairs, scores, joint, 10)
    second = (second_names, second_pairs, second_scores, second_joint)
    got, oracle = two_rounds(tmp_path, first, second, change, while_copied=what.endswith("once copied"))
    assert got == oracle
    assert rows_formatted == [old, len(second_pairs)]
