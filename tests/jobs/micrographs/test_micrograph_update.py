"""--update and --watch: a second run into the same folder reads only the new micrographs.

The oracle is a fresh run of the whole set into another folder: the outputs must be the
same bytes. That the micrographs seen before are not read again is checked by spoiling
their pixels (NaN, which the job refuses when it reads them) before the update.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup import MicrographOptions, find_duplicate_micrographs
from cryodedup.cli import main
from cryodedup.errors import CryodedupError
from cryodedup.formats.micrograph_lists import load_inputs
from cryodedup.jobs.micrographs import update as update_module
from cryodedup.jobs.micrographs import update_inputs
from cryodedup.jobs.micrographs.update import DATABASE, PAIR, STORE
from cryodedup.jobs.micrographs.update_inputs import Arrivals, unfinished
from helpers import PLANTED_MICROGRAPHS, write_planted_micrographs

OUTPUTS = ("pairs.csv", "duplicates.csv", "micrographs_kept.txt", "micrographs_rejected.txt")
# Twelve more: re-exposures of an old micrograph (45 of 20, 47 of 3), of a new one (50 of 41)
# and of a re-exposure (52 of 50).
GROWN = {**PLANTED_MICROGRAPHS, 45: 20, 47: 3, 50: 41, 52: 50}
BASES = {
    "all-bin1": MicrographOptions(bin=1),
    "all-bin2": MicrographOptions(bin=2),
    "window-bin2": MicrographOptions(bin=2, candidates="window", window=8),
}


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    return write_planted_micrographs(tmp_path_factory.mktemp("grown"), 52, GROWN)


def copied(files, folder):
    """``files`` copied into ``folder`` (made), as a microscope's session folder."""
    folder.mkdir(exist_ok=True)
    for path in files:
        shutil.copy(path, folder)
    return folder


def fresh(base):
    return MicrographOptions(**vars(base))


def spoil(path):
    """NaN in every pixel and mode 99 in the header: reading this header or image again fails the job.

    Behind the store's back: the file keeps its size, inode and modification time (a file
    replaced in place is read again, test_a_file_replaced_in_place_is_read_again). ``unspoil``
    puts the bytes back the same way.
    """
    before = os.stat(path)
    SPOILED[path] = path.read_bytes()
    with open(path, "r+b") as f:
        header = f.read(1024)
        f.seek(12)
        f.write((99).to_bytes(4, "little"))
        extended = int.from_bytes(header[92:96], "little")
        f.seek(0, os.SEEK_END)
        size = f.tell() - 1024 - extended
        f.seek(1024 + extended)
        f.write(np.full(size // 4, np.nan, dtype=np.float32).tobytes())
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


SPOILED: dict = {}


def unspoil():
    """The spoiled files' bytes back, in place, their modification times kept."""
    for path, data in SPOILED.items():
        before = os.stat(path)
        with open(path, "r+b") as f:
            f.write(data)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    SPOILED.clear()


def assert_same_outputs(a, b):
    for name in OUTPUTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_a_binned_image_gives_the_raw_images_spectrum():
    """The store keeps images binned by the core: their spectrum at bin 1 is the raw image's at bin b."""
    from cryodedup import _core

    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.int16, np.uint16, np.float16):
        raw = (rng.normal(100, 30, (67, 91))).astype(dtype)
        for b in (1, 3, 8):
            core = _core.SpectrumBank(67, 91, b, 0.04, 0.25)
            mine = _core.SpectrumBank(67 // b, 91 // b, 1, 0.04, 0.25)
            core.store(core.maker.spectra([0], [np.ascontiguousarray(raw)]))
            mine.store(mine.maker.spectra([0], [_core.bin_image(np.ascontiguousarray(raw), b)]))
            assert np.array_equal(core.image(0), mine.image(0)), (dtype, b)


def assert_appended_where_it_can(earlier: bytes, out, formatted: int):
    """pairs.csv of a round formatted only the rows it added when the last round's file begins it, else all."""
    now = (out / "pairs.csv").read_bytes()
    rows, added = now.count(b"\n") - 1, now.count(b"\n") - earlier.count(b"\n")
    assert formatted == (added if now.startswith(earlier) else rows)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BASES))
def test_update_reads_only_the_new_micrographs_and_writes_a_fresh_runs_outputs(grown, tmp_path, name, rows_formatted):
    base = BASES[name]
    mics = copied(grown[:40], tmp_path / "mics")
    out = tmp_path / "out"
    first = find_duplicate_micrographs([str(mics / "*.mrc")], out, fresh(base), update=True).to_json()
    assert first["images_read"] == 40
    earlier = (out / "pairs.csv").read_bytes()
    copied(grown[40:], mics)
    for k in range(1, 41):
        spoil(mics / f"mic_{k}.mrc")
    second = find_duplicate_micrographs([str(mics / "*.mrc")], out, fresh(base), update=True).to_json()
    assert second["images_read"] == 12
    assert_appended_where_it_can(earlier, out, rows_formatted[-1])
    unspoil()  # the pixels back, for the fresh run of the same inputs
    whole = find_duplicate_micrographs([str(mics / "*.mrc")], tmp_path / "whole", fresh(base)).to_json()
    assert_same_outputs(out, tmp_path / "whole")
    # The planted re-exposures within reach, found (the set was built with them).
    reach = base.window if base.candidates == "window" else 52
    rejected = (out / "micrographs_rejected.txt").read_text().split()
    assert sorted(int(n.split("_")[-1][:-4]) for n in rejected) == sorted(k for k in GROWN if k - GROWN[k] <= reach)
    assert whole["rejected"] == second["rejected"]
    again = find_duplicate_micrographs([str(mics / "*.mrc")], out, fresh(base), update=True).to_json()
    assert again["images_read"] == 0
    assert_same_outputs(out, tmp_path / "whole")
    assert rows_formatted[-1] == 0  # nothing new: the last round's file, copied


def test_a_changed_score_option_means_a_full_run(grown, tmp_path):
    mics = copied(grown[:10], tmp_path / "mics")
    out = tmp_path / "out"
    find_duplicate_micrographs([str(mics / "*.mrc")], out, MicrographOptions(bin=1), update=True)
    said = []
    summary = find_duplicate_micrographs(
        [str(mics / "*.mrc")], out, MicrographOptions(bin=1, lowpass=40), update=True, log=lambda m, lvl: said.append(m)
    ).to_json()
    assert summary["images_read"] == 10
    assert any("--lowpass 40" in m and "full run" in m for m in said)
    # A threshold of the decision (not of the scores) changes nothing read.
    summary = find_duplicate_micrographs(
        [str(mics / "*.mrc")], out, MicrographOptions(bin=1, lowpass=40, min_pearson=0.5), update=True
    ).to_json()
    assert summary["images_read"] == 0


def test_refusals(grown, tmp_path):
    out = tmp_path / "out"
    find_duplicate_micrographs(grown[:10], out, MicrographOptions(bin=1), update=True)
    with pytest.raises(CryodedupError, match=r"1 micrograph\(s\) screened before are no longer in the inputs"):
        find_duplicate_micrographs(grown[1:10], out, MicrographOptions(bin=1), update=True)
    # --force: a full run of what is given now.
    summary = find_duplicate_micrographs(grown[1:10], out, MicrographOptions(bin=1), update=True, force=True).to_json()
    assert summary["images_read"] == 9
    with sqlite3.connect(out / STORE / DATABASE) as db:
        db.execute("UPDATE meta SET value = 'cryodedup micrograph update store 9' WHERE key = 'format'")
    with pytest.raises(
        CryodedupError,
        match=r"format 'cryodedup micrograph update store 9', this cryodedup reads 'cryodedup micrograph update "
        r"store 4'; the --update store is damaged: --update --force rebuilds it",
    ):
        find_duplicate_micrographs(grown[1:10], out, MicrographOptions(bin=1), update=True)
    result = CliRunner().invoke(
        main, ["micrographs", *map(str, grown[:10]), "-o", str(tmp_path / "s"), "--update", "--shard", "1/2"]
    )
    assert result.exit_code != 0 and "--update" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("how", ["a first run without --update", "store.sqlite deleted", "seen/ deleted"])
def test_outputs_in_the_way_of_an_update_without_a_store_say_why(grown, tmp_path, how):
    # Trial 4: "pairs.csv: already exists; use --force" alone, with no word of the missing store.
    out = tmp_path / "out"
    find_duplicate_micrographs(grown[:6], out, MicrographOptions(bin=1), update=how != "a first run without --update")
    if how == "store.sqlite deleted":
        (out / STORE / DATABASE).unlink()
    elif how == "seen/ deleted":
        shutil.rmtree(out / STORE)
    with pytest.raises(
        CryodedupError, match=r"pairs.csv: already exists; use force=True.* found no store of an earlier"
    ):
        find_duplicate_micrographs(grown[:8], out, MicrographOptions(bin=1), update=True)
    summary = find_duplicate_micrographs(grown[:8], out, MicrographOptions(bin=1), update=True, force=True).to_json()
    assert summary["images_read"] == 8


def test_json_gives_images_read(grown, tmp_path):
    args = ["micrographs", *map(str, grown[:6]), "-o", str(tmp_path / "o"), "--bin", "1", "--update", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output[result.output.index("{") :])["images_read"] == 6
    args[1:7] = map(str, grown[:8])
    result = CliRunner().invoke(main, args)
    assert json.loads(result.output[result.output.index("{") :])["images_read"] == 2


def watch_rounds(mics, out, every, bin_, during):
    """The rounds of ``--watch every`` on ``mics/*.mrc`` (idle after 0.1-0.25 min), ``during()`` run after the first."""
    command = [sys.executable, "-m", "cryodedup.cli", "micrographs", str(mics / "*.mrc"), "-o", str(out)]
    command += ["--bin", str(bin_), "--watch", str(every), "--watch-idle", "0.25" if every >= 0.5 else "0.1"]
    watching = subprocess.Popen(
        [*command, "--quiet", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "pairs.csv").exists():  # (renamed once the first round is committed)
            assert watching.poll() is None, watching.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        during(watching)
        stdout, stderr = watching.communicate(timeout=180)
    finally:
        if watching.poll() is None:
            watching.kill()
    assert watching.returncode == 0, stderr
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_watch_screens_files_as_they_appear(grown, tmp_path):
    mics = copied(grown[:20], tmp_path / "mics")
    out = tmp_path / "out"

    def arrive(_watching):
        for path in grown[20:30]:  # one by one, as a microscope writes them
            shutil.copy(path, mics / f".{path.name}.part")
            os.replace(mics / f".{path.name}.part", mics / path.name)
            time.sleep(0.1)

    rounds = watch_rounds(mics, out, 0.5, 1, arrive)
    assert rounds[0]["images_read"] == 20
    assert sum(r["images_read"] for r in rounds) == 30 and rounds[-1]["micrographs"] == 30
    find_duplicate_micrographs([str(mics / "*.mrc")], tmp_path / "whole", MicrographOptions(bin=1))
    assert_same_outputs(out, tmp_path / "whole")


@pytest.mark.slow
def test_watch_goes_on_past_a_micrograph_that_cannot_be_read(grown, tmp_path):
    # A whole file that is no MRC (a failed motion correction's output) ended an unattended
    # watch unless --skip-unreadable was given: the rest of the session went unscreened.
    mics = copied(grown[:20], tmp_path / "mics")
    out = tmp_path / "out"

    def arrive(_watching):
        (mics / "broken.mrc").write_bytes(b"not an MRC file" * 100)
        (mics / "short.mrc").write_text("not an MRC\n")  # shorter than a header: it waited for ever
        for path in grown[20:25]:
            shutil.copy(path, mics / f".{path.name}.part")
            os.replace(mics / f".{path.name}.part", mics / path.name)
            time.sleep(0.1)

    rounds = watch_rounds(mics, out, 0.5, 1, arrive)
    assert sum(r["images_read"] for r in rounds) == 25 and rounds[-1]["micrographs"] == 27  # (two unreadable)
    assert sorted(os.path.basename(p) for p in rounds[-1]["unreadable"]) == ["broken.mrc", "short.mrc"]
    # The outputs of one run over the same files that skips what it cannot read.
    find_duplicate_micrographs(
        [str(mics / "*.mrc")], tmp_path / "whole", MicrographOptions(bin=1, skip_unreadable=True)
    )
    assert_same_outputs(out, tmp_path / "whole")


def test_micrographs_that_arrive_out_of_order_pair_old_images_anew(grown, tmp_path, rows_formatted):
    """mic_5 and mic_20 arrive late: the window then pairs old micrographs it never compared, from the store."""
    base = BASES["window-bin2"]
    mics = tmp_path / "mics"
    mics.mkdir()
    late = {5, 20}
    for k, path in enumerate(grown[:40], 1):
        if k not in late:
            shutil.copy(path, mics)
    out = tmp_path / "out"
    assert (
        find_duplicate_micrographs([str(mics / "*.mrc")], out, fresh(base), update=True).to_json()["images_read"] == 38
    )
    earlier = (out / "pairs.csv").read_bytes()
    for k, path in enumerate(grown, 1):
        if k in late or k > 40:
            shutil.copy(path, mics)
        else:
            spoil(mics / path.name)
    assert (
        find_duplicate_micrographs([str(mics / "*.mrc")], out, fresh(base), update=True).to_json()["images_read"] == 14
    )
    assert_appended_where_it_can(earlier, out, rows_formatted[-1])
    assert not (out / "pairs.csv").read_bytes().startswith(earlier)  # rows of mic_5 and mic_20 among the old
    unspoil()
    find_duplicate_micrographs([str(mics / "*.mrc")], tmp_path / "whole", fresh(base))
    assert_same_outputs(out, tmp_path / "whole")


def test_watch_waits_out_an_input_being_written_and_stops_when_idle():
    from cryodedup.jobs.micrographs.watch import watch

    now = [0.0]
    news = iter([False, None, False, True, None, False, False, False, False, False])
    rounds, shown = [], []

    def round_(first):
        rounds.append(first)
        return {"micrographs": 40 if first else 52}

    def sleep(seconds):
        now[0] += seconds

    ran = watch(round_, lambda: next(news), 10, 1.0, report=shown.append, sleep=sleep, clock=lambda: now[0])
    # A first round, one when 12 more appear (an unreadable moment is no news), then 60 s idle.
    assert ran == 2 and rounds == [True, False] and len(shown) == 2
    assert now[0] == 100  # 4 checks to see 52, then 6 idle checks of 10 s


def stored_images(out):
    """How many images the store holds."""
    with closing(sqlite3.connect(out / STORE / DATABASE)) as db:
        return db.execute("SELECT count(*) FROM images").fetchone()[0]


@pytest.mark.parametrize("how", ["overwritten", "renamed over"])
def test_a_file_replaced_in_place_is_read_again(grown, tmp_path, how):
    """mic_3 replaced by a copy of mic_8 (same name, same size): read again, and now a duplicate of mic_8."""
    base = BASES["all-bin2"]
    mics = copied(grown[:12], tmp_path / "mics")
    out = tmp_path / "out"
    find_duplicate_micrographs([str(mics / "*.mrc")], out, fresh(base), update=True)
    if how == "overwritten":  # same inode, new content and time
        shutil.copyfile(mics / "mic_8.mrc", mics / "mic_3.mrc")
    else:  # a new inode under the old name
        shutil.copyfile(mics / "mic_8.mrc", mics / ".mic_3.part")
        os.replace(mics / ".mic_3.part", mics / "mic_3.mrc")
    said = []
    second = find_duplicate_micrographs(
        [str(mics / "*.mrc")], out, fresh(base), update=True, log=lambda m, lvl: said.append(m)
    ).to_json()
    assert second["images_read"] == 1
    assert pair_parts(out) == [66]  # mic_3's old pairs dropped: every pair written anew
    assert any("1 micrograph(s) replaced since they were screened" in m and "mic_3.mrc" in m for m in said)
    whole = find_duplicate_micrographs([str(mics / "*.mrc")], tmp_path / "whole", fresh(base)).to_json()
    assert_same_outputs(out, tmp_path / "whole")
    assert ("mic_3.mrc", "mic_8.mrc") in {(a.split("/")[-1], b.split("/")[-1]) for a, b in _duplicate_rows(out)}
    assert whole["rejected"] == second["rejected"]
    # The images of replaced micrographs are dropped from the store.
    for k in (1, 2, 4, 5, 6, 7):
        shutil.copyfile(grown[k - 1], mics / f".mic_{k}.part")
        os.replace(mics / f".mic_{k}.part", mics / f"mic_{k}.mrc")
    third = find_duplicate_micrographs([str(mics / "*.mrc")], out, fresh(base), update=True).to_json()
    assert third["images_read"] == 6
    assert stored_images(out) == 12
    assert_same_outputs(out, tmp_path / "whole")  # the same content as before the copies


def _duplicate_rows(out):
    lines = (out / "duplicates.csv").read_text().splitlines()[1:]
    return [tuple(line.split(",")) for line in lines]


def pair_parts(out):
    """The pairs in each part of the store's pairs table, in order."""
    with closing(sqlite3.connect(out / STORE / DATABASE)) as db:
        return [n // PAIR.itemsize for (n,) in db.execute("SELECT length(data) FROM pairs ORDER BY part")]


def test_a_round_adds_a_part_of_its_new_pairs_until_there_are_too_many(grown, tmp_path, monkeypatch):
    """Each round writes only the pairs it scored (the store's pairs are not written again), into a part of its
    own, until there are MAX_PAIR_PARTS: then one part of every pair. The outputs stay a fresh run's."""
    monkeypatch.setattr(update_module, "MAX_PAIR_PARTS", 3)
    base = BASES["all-bin2"]
    mics = tmp_path / "mics"
    out = tmp_path / "out"
    files = []
    for first, count in ((0, 6), (6, 8), (8, 10), (10, 12), (12, 14)):
        copied(grown[first:count], mics)
        find_duplicate_micrographs([str(mics / "*.mrc")], out, fresh(base), update=True)
        files.append(pair_parts(out))
    pairs = [count * (count - 1) // 2 for count in (6, 8, 10, 12, 14)]
    assert files == [
        [pairs[0]],
        [pairs[0], pairs[1] - pairs[0]],
        [pairs[0], pairs[1] - pairs[0], pairs[2] - pairs[1]],
        [pairs[3]],  # three parts already: one of every pair
        [pairs[3], pairs[4] - pairs[3]],
    ]
    find_duplicate_micrographs([str(mics / "*.mrc")], tmp_path / "whole", fresh(base))
    assert_same_outputs(out, tmp_path / "whole")


def half_written(source, target):
    """``target``: the first half of ``source``'s bytes, as a microscope's writer leaves it midway."""
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])


def test_an_mrc_still_being_written_is_left_for_a_later_round(grown, tmp_path):
    base = BASES["all-bin2"]
    mics = copied(grown[:12], tmp_path / "mics")
    out = tmp_path / "out"
    find_duplicate_micrographs([str(mics / "*.mrc")], out, fresh(base), update=True)
    copied(grown[12:13], mics)
    half_written(grown[13], mics / grown[13].name)
    (mics / "mic_15.mrc").write_bytes(b"")  # just created
    assert unfinished(mics / grown[13].name).endswith("bytes its header describes")
    said = []
    second = find_duplicate_micrographs(
        [str(mics / "*.mrc")], out, fresh(base), update=True, log=lambda m, lvl: said.append(m)
    ).to_json()
    assert second["images_read"] == 1 and second["micrographs"] == 13
    assert any("2 micrograph(s) still being written, left for a later round" in m for m in said)
    assert any("left for a later round" in m for m in second["warnings"])  # --json shows it
    whole = tmp_path / "whole"
    complete = sorted(str(mics / p.name) for p in grown[:13])  # as the glob lists them
    find_duplicate_micrographs(complete, whole, fresh(base))
    assert (out / "pairs.csv").read_bytes() == (whole / "pairs.csv").read_bytes()
    copied(grown[13:15], mics)  # now complete
    third = find_duplicate_micrographs([str(mics / "*.mrc")], out, fresh(base), update=True).to_json()
    assert third["images_read"] == 2
    find_duplicate_micrographs([str(mics / "*.mrc")], tmp_path / "whole15", fresh(base))
    assert_same_outputs(out, tmp_path / "whole15")


def test_arrivals_wait_for_a_file_to_stop_changing(grown, tmp_path):
    """A writer that makes the file whole first (its header says it is complete) and fills it after."""
    mics = copied(grown[:3], tmp_path / "mics")
    arrivals = Arrivals()
    look = lambda: arrivals.look(load_inputs([str(mics / "*.mrc")]))  # noqa: E731
    assert look() is True and len(arrivals.ready) == 3  # (the first round screens them)
    arrivals.start_round()
    filling = mics / grown[3].name
    filling.write_bytes(grown[3].read_bytes()[:1024])
    os.truncate(filling, grown[3].stat().st_size)  # whole size, pixels still to come
    assert unfinished(filling) is None
    assert look() is False  # new since the last look: not ready
    with open(filling, "r+b") as f:
        f.seek(1024)
        f.write(grown[3].read_bytes()[1024:])
    os.utime(filling, ns=(0, time.time_ns() + 10**9))  # (a coarse clock would give the same time)
    assert look() is False  # changed since the last look
    assert look() is True and os.path.abspath(filling) in arrivals.ready  # unchanged: ready
    arrivals.start_round()
    assert look() is False  # nothing new since the round


def test_arrivals_read_a_file_that_stays_unfinished_as_it_is(grown, tmp_path):
    """A file cut short or no MRC at all, unchanged look after look, is read as it is (and found unreadable)."""
    mics = copied(grown[:3], tmp_path / "mics")
    arrivals = Arrivals()
    look = lambda: arrivals.look(load_inputs([str(mics / "*.mrc")]))  # noqa: E731
    short, cut = mics / "short.mrc", mics / grown[3].name
    short.write_text("not an MRC\n")
    cut.write_bytes(grown[3].read_bytes()[:5000])
    assert unfinished(short) and unfinished(cut)
    paths = {os.path.abspath(short), os.path.abspath(cut)}
    assert look() is True and not paths & arrivals.ready  # the first look: the three whole ones
    arrivals.start_round()
    for _ in range(Arrivals.STALE_LOOKS - 1):
        assert look() is False  # unchanged, but not yet for long enough
    assert look() is True and paths <= arrivals.ready
    arrivals.start_round()
    assert look() is False
    with open(cut, "ab") as f:  # its writer goes on: changed, so waited for again
        f.write(grown[3].read_bytes()[5000:6000])
    assert look() is False and os.path.abspath(cut) not in arrivals.ready
    cut.write_bytes(grown[3].read_bytes())
    os.utime(cut, ns=(0, time.time_ns() + 10**9))
    assert look() is False  # whole, but changed since the last look
    assert look() is True and os.path.abspath(cut) in arrivals.ready


def test_arrivals_wait_for_a_screened_file_replaced_without_a_round_meanwhile(grown, tmp_path):
    """A screened file rewritten in place: no round while it changes (it would leave it out), one when it is whole."""
    mics = copied(grown[:3], tmp_path / "mics")
    arrivals = Arrivals()
    look = lambda: arrivals.look(load_inputs([str(mics / "*.mrc")]))  # noqa: E731
    look()
    arrivals.start_round()
    half_written(grown[5], mics / grown[1].name)
    assert look() is False and len(arrivals.ready) == 2
    shutil.copyfile(grown[5], mics / grown[1].name)
    assert look() is False  # changed since the last look
    assert look() is True and len(arrivals.ready) == 3


@pytest.mark.slow
def test_watch_waits_for_an_mrc_still_being_written(grown, tmp_path):
    mics = copied(grown[:20], tmp_path / "mics")
    out = tmp_path / "out"

    def write_slowly(watching):
        data = grown[20].read_bytes()
        with open(mics / grown[20].name, "wb") as f:  # written in place, slowly
            f.write(data[: len(data) // 3])
            f.flush()
            time.sleep(1.5)
            assert watching.poll() is None, watching.communicate()
            f.write(data[len(data) // 3 :])

    rounds = watch_rounds(mics, out, 0.3, 2, write_slowly)
    assert sum(r["images_read"] for r in rounds) == 21 and rounds[-1]["micrographs"] == 21
    find_duplicate_micrographs([str(mics / "*.mrc")], tmp_path / "whole", MicrographOptions(bin=2))
    assert_same_outputs(out, tmp_path / "whole")


@pytest.mark.parametrize("from_listing", [1, 10**9])
def test_real_paths_are_realpath_of_each_path(tmp_path, monkeypatch, from_listing):
    """Each folder resolved once (issue 43): os.path.realpath's answer, links, loops and relative names included;
    the plain files told by the folder's listing (``from_listing``: inputs in a folder from which it is read) or by
    a lstat each."""
    monkeypatch.setattr(update_inputs, "PLAIN_FROM_LISTING", from_listing)
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    (real / "out").mkdir()
    (real / "a.mrc").write_bytes(b"")
    (tmp_path / "linked").symlink_to(real)
    (real / "to_a.mrc").symlink_to(real / "a.mrc")
    (real / "into_out.mrc").symlink_to(real / "out" / "x.mrc")  # dangling, into another folder
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    monkeypatch.chdir(real)
    paths = [
        "a.mrc",
        "./a.mrc",
        "sub/../a.mrc",
        "linked_nowhere/a.mrc",
        tmp_path / "linked" / "a.mrc",
        str(tmp_path / "linked" / "to_a.mrc"),
        "into_out.mrc",
        "missing.mrc",
        str(tmp_path / "loop" / "a.mrc"),
        "sub/",
        ".",
        "..",
        "sub/..",
        "",
    ]
    assert list(update_inputs.real_paths(paths)) == [os.path.realpath(p) for p in paths]


def test_a_round_without_plot_says_the_report_beside_its_outputs_is_an_earlier_runs(grown, tmp_path):
    out = tmp_path / "out"
    first = find_duplicate_micrographs(grown[:6], out, MicrographOptions(bin=1), update=True).to_json()
    assert not any("earlier run" in w for w in first["warnings"])
    (out / "report.html").write_text("an earlier --plot run's")
    again = find_duplicate_micrographs(grown[:8], out, MicrographOptions(bin=1), update=True).to_json()
    assert f"{out / 'report.html'} and its pictures are an earlier run's" in " ".join(again["warnings"])
