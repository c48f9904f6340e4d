"""The particle job on STAR files in bounded memory gives the same bytes as before.

The expected SHA-256 digests are of the outputs of the in-memory job (main at bd2ce80, before
the streaming scan and writer), on generated files and on real files in ../shared/data.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from cryodedup import _core
from cryodedup.algo.dedup import DuplicateRule
from cryodedup.errors import CryodedupError
from cryodedup.formats.star import particles as particles_star
from cryodedup.formats.star.file import StarFile
from cryodedup.formats.star.particle_writer import OnePass
from cryodedup.jobs.particles import read as job_module
from cryodedup.jobs.particles.decide import one_pass, rule_for_rows
from cryodedup.jobs.particles.entrance import remove_duplicate_particles
from cryodedup.jobs.particles.plan import plan
from cryodedup.jobs.particles.record import RULES
from cryodedup.options import ParticleOptions
from cryodedup.outputs import output_batch
from cryodedup.particle_set import StarFacts
from cryodedup.report.scan_plans import CHUNK, nearest_plan
from fixtures.synthetic import write_benchmark_file, write_example
from helpers import decided, read_request, shared_file, write_star

# name: (kept digest, rejected digest), outputs of main at bd2ce80. The two "bench" digests are
# of the benchmark file in RELION's column widths (issue 29): the same rows, token for token, as
# the digests of bd2ce80 pinned for the file without widths.
EXPECTED = {
    "bench": (
        "59471e39db0f85a55c908486b3fa06aa2a64cfa6796b1c279726da8b489b175f",
        "a721655adfde34c970eb3fbe3ea36dfdb8581d45920e2c39a89b63b4a6e476d7",
    ),
    "bench_entirely": (
        "ebc8d92bc8de7e28f7f40d6862557f37bc58854c4abb7fc45e49dc24d7d8fed2",
        "e0eaf465b22fa4f3b66ad2d52437ab19403f17d13c6fa9892efe260f9a463719",
    ),
    "example_merge": (
        "1ae4fd74393a0f9c9cbfff9e0a7657e8b9427f3dbafef7689837b19ec2a25b64",
        "fe47d1046d4845d92bffac929fde8c5a9101418c39945860022f7066fffa0e6d",
    ),
    "relion31_6optics": (
        "b405f43975dfc11c1213e19c05ac8620046a6fb248a9c3a51f4ec146700d8ac6",
        "75a93b6238dbc45d211ca837770fcf78dc6a844ddd35920c192154cc18fc5fd1",
    ),
    "scipion": (
        "13e4318bbe3959414f86803aeb2d209feeca14d0ded13f1739a493b14b237947",
        "1ce4132b1695330101c91d2cb17db1cff072b2ade6b771a6f2d46e90ea4d1c58",
    ),
    "relion5": (
        "7494f2c319decf97ebaa91a16e071e0ac05d8f386077363d2ab8593fcee101b2",
        "c412a4ab0ed7c77e5910da475b3926d96788c466a6cdf1757ec9fefa28751f7c",
    ),
    "tomo": (
        "ffe8c26f161dfd760b0c2d4f68297c9dd6ba77a9c5389d98df2b4df6e01170dc",
        "54dc248414e8b83aa172aaf49c0862848bfaffc3dd1366fe1cded88b1dc45e19",
    ),
}

REAL = {
    "relion31_6optics": ("star/cryodrgn__relion31.6opticsgroups.star", {"min_dist": 400.0}),
    "scipion": ("star/3dem__particles_1k_scipion.star", {"min_dist": 400.0, "mic_psize": 1.0}),
    # The RELION 3.0 helical file is not here: its tubes now decide (segments of one tube are never
    # duplicates), which test_filaments checks against a brute-force oracle on the same file.
    "relion5": ("star/cryodrgn__relion5.star", {"min_dist": 400.0}),
    "tomo": ("tomo/cets-relion__Select_job077_particles_removed.star", {"min_dist": 100.0}),
}


def digests(outdir, renamed=(b"", b"")):
    """The SHA-256 of the kept and rejected files, ``renamed[0]`` read as ``renamed[1]``."""
    return tuple(
        hashlib.sha256((outdir / name).read_bytes().replace(*renamed)).hexdigest()
        for name in ("particles_kept.star", "particles_rejected.star")
    )


@pytest.mark.parametrize(
    "name, options",
    [
        ("bench", {"score": "rlnMaxValueProbDistribution"}),
        ("bench_entirely", {"score": "none", "remove_entirely": True, "min_dist": 30.0}),
    ],
)
def test_generated_file_outputs_are_those_of_the_in_memory_job(tmp_path, name, options):
    path = tmp_path / "bench.star"
    write_benchmark_file(path, 20000, seed=3)
    remove_duplicate_particles([path], tmp_path / "out", ParticleOptions(**options))
    assert digests(tmp_path / "out") == EXPECTED[name]


def test_merged_pickers_outputs_are_those_of_the_in_memory_job(tmp_path):
    log, template, mics = write_example(tmp_path / "ex")
    options = ParticleOptions(micrographs=mics, score="rlnMaxValueProbDistribution", min_dist=40.0)
    remove_duplicate_particles([log, template], tmp_path / "out", options)
    # bd2ce80's example named the template picks' images Extract/job007 too; the rows are otherwise the same.
    assert digests(tmp_path / "out", (b"@Extract/job012/", b"@Extract/job007/")) == EXPECTED["example_merge"]


@pytest.mark.real_data
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_file_outputs_are_those_of_the_in_memory_job(tmp_path, name):
    relative, options = REAL[name]
    remove_duplicate_particles([shared_file(relative)], tmp_path / "out", ParticleOptions(**options))
    assert digests(tmp_path / "out") == EXPECTED[name]


def test_scan_keeps_centres_scores_and_micrographs_only(tmp_path):
    # Centres by hand: x * 2.0 - originX, y * 2.0 - originY (optics group 1, 2.0 Å/px).
    labels = [
        "rlnCoordinateX",
        "rlnCoordinateY",
        "rlnOriginXAngst",
        "rlnOriginYAngst",
        "rlnOpticsGroup",
        "rlnMicrographName",
        "rlnAutopickFigureOfMerit",
    ]
    rows = [[100, 50, 1.5, -2, 1, "a.mrc", 0.25], [10, 20, 0, 0, 1, "b.mrc", 0.5], [30, 40, 4, 4, 1, "a.mrc", 1.0]]
    path = write_star(tmp_path / "p.star", labels, rows, optics=[[1, "og1", 4.0, 2.0]])
    star = StarFile(path)
    block = star.block("particles")
    scan = star.scan_particles(
        block,
        "rlnMicrographName",
        labels[:2],
        labels[2:4],
        None,
        _core.PixelSizes.by_optics_group("rlnOpticsGroup", [(1.0, 2.0)]),
        "rlnAutopickFigureOfMerit",
    )
    assert isinstance(scan, _core.ParticleScan)
    np.testing.assert_array_equal(scan.centres.reshape(-1, 2), [[198.5, 102.0], [20.0, 40.0], [56.0, 76.0]])
    np.testing.assert_array_equal(scan.scores, [0.25, 0.5, 1.0])
    assert scan.keys.dtype == np.uint32 and scan.keys.tolist() == [0, 1, 0]
    assert scan.key_names == ["a.mrc", "b.mrc"] and scan.key_psizes.tolist() == [2.0, 2.0]
    assert scan.optics_groups == [1.0]


def test_split_refuses_a_mask_of_another_length(tmp_path):
    path = write_star(tmp_path / "p.star", ["rlnCoordinateX", "rlnMicrographName"], [[1, "a"], [2, "a"]])
    star = StarFile(path)
    block = star.block("particles")
    for name in ("k", "r"):
        (tmp_path / name).touch()
    with pytest.raises(ValueError, match="keep has 3 entries"):
        star.append_split(block, np.ones(3, dtype=bool), tmp_path / "k", tmp_path / "r")


def _with_trailer(tmp_path, trailer: str):
    path = tmp_path / "bench.star"
    write_benchmark_file(path, 5000, seed=4)
    with open(path, "a") as f:
        f.write(trailer)
    return path


def test_the_index_is_finished_while_the_particle_rows_are_scanned(tmp_path):
    # The particle job indexes up to the first particle row, and the rest while scanning the
    # rows (one read of a big file); the whole index read first is the oracle.
    from cryodedup.formats.star.particle_table import ParticleStar
    from cryodedup.formats.star.particles import scan_particles
    from cryodedup.formats.star.pixel_sizes import pixel_size_plan

    path = _with_trailer(tmp_path, "\n# after the rows\n\ndata_extra\n\nloop_\n_rlnFoo\n1\n2\n")
    whole = StarFile(path)
    part = ParticleStar(path)
    assert part.star.deferred
    assert [b.name for b in part.star.blocks] == ["optics", "particles"]
    assert part.block.rows_end < whole.blocks[1].rows_end  # its first row only, so far
    options = ParticleOptions(score="rlnMaxValueProbDistribution")
    scan = scan_particles(part, options.score, pixel_size_plan(part, read_request(options).scale, None))
    assert not part.star.deferred
    assert part.star.blocks == whole.blocks
    assert part.block == whole.blocks[1]
    numbers, keys, names = whole.scan(whole.blocks[1], ["rlnMaxValueProbDistribution"], "rlnMicrographName")
    assert np.array_equal(scan.scores, numbers["rlnMaxValueProbDistribution"])
    assert [names[k] for k in keys] == [scan.key_names[k] for k in scan.groups]


def test_an_optics_table_after_the_particles_is_used(tmp_path):
    # Read deferred, the optics table would be missed: the file is read again, whole index first.
    # Oracle: the same blocks in RELION's order.
    first = tmp_path / "first"
    first.mkdir()
    ordered = _with_trailer(first, "")
    text = ordered.read_text()
    optics, particles = text[: text.index("data_particles")], text[text.index("data_particles") :]
    after = tmp_path / "after.star"
    after.write_text(particles + "\n" + optics)
    options = ParticleOptions(score="rlnMaxValueProbDistribution")
    one = remove_duplicate_particles([ordered], tmp_path / "one", options)
    two = remove_duplicate_particles([after], tmp_path / "two", options)
    assert (one.kept, one.rejected) == (two.kept, two.rejected)

    def rows(outdir, name):
        return [line for line in (outdir / name).read_text().splitlines() if line[:1].isdigit()]

    for name in ("particles_kept.star", "particles_rejected.star"):
        assert rows(tmp_path / "one", name) == rows(tmp_path / "two", name)


def test_a_second_particle_table_after_the_rows_is_refused(tmp_path):
    path = _with_trailer(tmp_path, "\ndata_particles\n\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n1 2\n")
    with pytest.raises(CryodedupError, match="2 data_particles blocks"):
        remove_duplicate_particles([path], tmp_path / "out", ParticleOptions(score="none"))


# --- one pass: rows decided and written while the file is scanned (docs/design.md section 5) ---


def _job(path, outdir, options, monkeypatch, one_pass: bool):
    """The job, in one pass (checked) or forced into two; its log and the split it made."""
    made = []

    def start_split(*args):
        made.append(split := original(*args) if one_pass else None)
        return split

    original = particles_star.start_split
    with monkeypatch.context() as patch:
        patch.setattr(particles_star, "start_split", start_split)
        messages = []
        remove_duplicate_particles([path], outdir, options, log=lambda m, level: messages.append(m))
    return messages, made


def test_the_reader_decides_only_when_the_job_asks(tmp_path):
    path = tmp_path / "p.star"
    write_benchmark_file(path, 3000, per_mic=100, seed=6)
    options = ParticleOptions(score="rlnMaxValueProbDistribution")
    request = read_request(options)
    read = particles_star.read_star_files
    silent = lambda *args: None  # noqa: E731
    asked_nothing = read([path], tmp_path / "a", request.scale, request.score_read, request.row_read, silent, silent)
    assert asked_nothing.decided is None  # read only: the job decides, and nothing is written yet
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())
    with output_batch():  # (as the job runs it: the one pass writes scratch outputs of the batch)
        parts = (request.scale, request.score_read, request.row_read)
        asked = read([path], tmp_path / "b", *parts, silent, silent, lambda facts: one_pass(plan(options).read, facts))
    assert asked.decided is not None
    # The one-pass decision is the job's own on the same rows (two passes: read, then decide).
    np.testing.assert_array_equal(asked.decided, decided(asked_nothing, options).keep)
    assert asked.decided_by is None  # (a plain run asks for no partners: no memory for them)


@pytest.mark.parametrize(
    "asks",
    [{"plot": True}, {"plot": True, "decisions": True, "remove_entirely": True}, {"score": "none", "plot": True}],
)
def test_the_one_pass_scan_keeps_each_rejected_rows_partner_when_asked(tmp_path, asks):
    # The partners against the two-pass route's (the whole set decided after reading) and a
    # brute force: each partner kept (removing entirely: any neighbour), on the same
    # micrograph, within the distance, ranked first.
    path = tmp_path / "p.star"
    write_benchmark_file(path, 150_000, per_mic=300, seed=8)  # (over several of the scan's batches of 65,536)
    options = ParticleOptions(min_dist=30.0, **{"score": "rlnMaxValueProbDistribution", **asks})
    request = read_request(options)
    parts = (request.scale, request.score_read, request.row_read)
    silent = lambda *args: None  # noqa: E731
    with output_batch():
        asked = particles_star.read_star_files(
            [path], tmp_path / "b", *parts, silent, silent, lambda f: one_pass(plan(options).read, f)
        )
    two_passes = particles_star.read_star_files([path], tmp_path / "a", *parts, silent, silent)
    assert asked.decided is not None and asked.decided_by is not None
    np.testing.assert_array_equal(asked.decided_by, decided(two_passes, options).suppressed_by)
    keep, partner = asked.decided, asked.decided_by
    rejected = np.flatnonzero(~keep)
    assert rejected.size > 1000 and (partner[keep] == -1).all() and (partner[rejected] >= 0).all()
    theirs = partner[rejected]
    assert (asked.groups[rejected] == asked.groups[theirs]).all()
    assert (np.hypot(*(asked.centres[rejected] - asked.centres[theirs]).T) <= 30.0).all()
    if not options.remove_entirely:
        assert keep[theirs].all()
    if options.score != "none" and not options.remove_entirely:
        assert (asked.scores[theirs] >= asked.scores[rejected]).all()


def test_the_record_in_one_pass_is_the_record_of_two(tmp_path, monkeypatch):
    # --decisions and --plot decide in one pass now: their files are those of the two passes.
    path = tmp_path / "p.star"
    write_benchmark_file(path, 6000, per_mic=200, seed=2)
    options = ParticleOptions(min_dist=25.0, score="rlnMaxValueProbDistribution", decisions=True, plot=True)
    _, made = _job(path, tmp_path / "one", options, monkeypatch, one_pass=True)
    _job(path, tmp_path / "two", options, monkeypatch, one_pass=False)
    assert made[0] is not None and made[0].suppressed_by is not None
    files = ["decisions.csv", "particles_kept.star", "particles_rejected.star", "micrographs/picks_00000.js"]
    for name in files:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


PLAIN = StarFacts(inputs=1, halfsets=False, filaments=False, subtomograms=False)


def test_the_job_asks_for_one_pass_only_for_a_plain_duplicate_removal():
    rule = DuplicateRule(30.0, remove_entirely=True, seed=4)
    assert one_pass(plan(ParticleOptions(min_dist=30.0, remove_entirely=True, seed=4)).read, PLAIN) == OnePass(rule)
    # The pictures too: the scan keeps each rejected row's partner for them, counts the pictures'
    # nearest-neighbour histogram and makes the page's files. The record, the scan writes itself
    # (the partners of a batch's rejected rows held while it writes them).
    asked = one_pass(plan(ParticleOptions(min_dist=30.0, plot=True)).read, PLAIN)
    assert dataclasses.replace(asked, pictures=None, page=None, page_folder=None) == OnePass(
        DuplicateRule(30.0), partners=True
    )
    assert asked.pictures == nearest_plan(30.0)
    assert asked.page_folder == "micrographs"  # (the scan writes the page's files beside it as it makes them)
    assert (asked.page.chunk, asked.page.rules) == (CHUNK, list(RULES))
    recorded = OnePass(DuplicateRule(30.0), record="decisions.csv")
    assert one_pass(plan(ParticleOptions(min_dist=30.0, decisions=True)).read, PLAIN) == recorded
    both = one_pass(plan(ParticleOptions(min_dist=30.0, plot=True, decisions=True)).read, PLAIN)
    assert dataclasses.replace(both, pictures=None, page=None, page_folder=None) == OnePass(
        DuplicateRule(30.0), partners=True, record="decisions.csv"
    )
    for needs_more in (
        {"audit": True},
        {"max_angle": 10.0},
        {"halfsets": "micrograph"},
        {"min_support": 2},
        {"score_normalize": "rank"},
        {"min_dist_z": 5.0},
    ):
        assert one_pass(plan(ParticleOptions(**needs_more)).read, PLAIN) is None, needs_more


def test_one_pass_and_two_passes_decide_by_one_rule(tmp_path):
    # The rule the one-pass scan is given is the one the two-pass route starts from: only what
    # the rows hold (tubes, images, orientations) joins it once they are read.
    options = ParticleOptions(min_dist=42.0, remove_entirely=True, seed=9, score="rlnMaxValueProbDistribution")
    path = tmp_path / "p.star"
    write_benchmark_file(path, 300, per_mic=100, seed=6)
    request = read_request(options)
    parts = (request.scale, request.score_read, request.row_read)
    particles = particles_star.read_star_files([path], tmp_path / "a", *parts, lambda *a: None, lambda *a: None)
    two_passes, _ = rule_for_rows(particles, plan(options).for_rows(particles).deciding)
    plain = dataclasses.replace(two_passes, tubes=None, images=None, orientations=None, whole_tubes=False)
    assert one_pass(plan(options).read, PLAIN) == OnePass(plain) and plain == DuplicateRule(42.0, None, True, 9)


def test_the_job_alone_decides_on_one_pass_from_what_the_reader_found(tmp_path, monkeypatch):
    # Several inputs, half-sets, filaments or subtomograms in the rows: the job says no. The
    # reader only reports them (StarFacts) and follows the job's answer, whatever it is.
    for differs in ({"inputs": 2}, {"halfsets": True}, {"filaments": True}, {"subtomograms": True}):
        assert one_pass(plan(ParticleOptions()).read, dataclasses.replace(PLAIN, **differs)) is None, differs
    path = tmp_path / "p.star"
    write_benchmark_file(path, 600, per_mic=100, seed=6)
    asked: list[StarFacts] = []

    def refuse(options, facts):
        asked.append(facts)
        return None

    monkeypatch.setattr(job_module, "one_pass", refuse)
    summary = remove_duplicate_particles([path], tmp_path / "out", ParticleOptions(score="rlnMaxValueProbDistribution"))
    assert asked == [dataclasses.replace(PLAIN, names=(str(path),))]  # (names: what --overrides matches rows by)
    assert not summary.to_json()["timings"]["one_pass"]


@pytest.mark.parametrize("plot", [False, True])  # one pass, and the job's own decision (--plot)
def test_a_hand_pick_without_a_score_loses_to_a_scored_pick_in_one_pass_too(tmp_path, monkeypatch, plot):
    # A new user's trial (issue 39): RELION ManualPick's -999 ("no score") 1 Å from a pick of
    # -5000 kept the hand pick in one pass and the other pick with --plot. Worked by hand: a
    # real score, however low, ranks above no score, so row 2 is kept either way.
    path = write_star(
        tmp_path / "v.star",
        ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnAutopickFigureOfMerit"],
        [[100, 100, "a.mrc", -999], [101, 100, "a.mrc", -5000]],
    )
    options = ParticleOptions(min_dist=5.0, mic_psize=1.0, plot=plot)
    messages, made = _job(path, tmp_path / "out", options, monkeypatch, one_pass=True)
    kept = (tmp_path / "out" / "particles_kept.star").read_text().split()
    assert kept[-4:] == ["101", "100", "a.mrc", "-5000"], messages
    if not plot:
        assert made[0] is not None and any("values that mean no score" in m for m in messages), messages


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [
        {"score": "rlnMaxValueProbDistribution"},
        {"score": "none", "seed": 11},  # random ranks follow each row's index in the file
        {"score": "rlnAutopickFigureOfMerit", "remove_entirely": True, "min_dist": 30.0},
    ],
)
def test_one_pass_writes_the_bytes_of_two_passes(tmp_path, monkeypatch, options):
    # 150,000 rows: several batches of micrographs decided while the file streams by.
    path = tmp_path / "p.star"
    write_benchmark_file(path, 150_000, per_mic=150, seed=5)
    with open(path, "a") as f:
        f.write("\ndata_after\nloop_\n_rlnA\n1\n")  # what follows the rows is copied too
    messages, made = _job(path, tmp_path / "one", ParticleOptions(**options), monkeypatch, one_pass=True)
    assert made[0] is not None and made[0].keep is not None, messages
    assert not any("second pass" in m for m in messages)
    _job(path, tmp_path / "two", ParticleOptions(**options), monkeypatch, one_pass=False)
    assert digests(tmp_path / "one") == digests(tmp_path / "two")
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["particles_kept.star", "particles_rejected.star"]


def _rows_of_micrographs(order):
    """Rows on micrographs named by ``order`` (one row each), two picks 3 px apart per micrograph."""
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnAutopickFigureOfMerit"]
    rows = [[100 + 3 * k, 200, f"m{mic}.mrc", 0.1 * (i % 7)] for i, mic in enumerate(order) for k in (0, 1)]
    return labels, rows


def test_a_micrograph_whose_rows_come_back_is_decided_in_a_second_pass(tmp_path, monkeypatch):
    labels, rows = _rows_of_micrographs([0, 1, 2, 1, 3])  # m1's rows twice, apart
    path = write_star(tmp_path / "p.star", labels, rows)
    options = ParticleOptions(mic_psize=1.0, min_dist=10.0)
    messages, made = _job(path, tmp_path / "one", options, monkeypatch, one_pass=True)
    assert made[0] is not None and made[0].keep is None
    assert any("second pass: the rows of micrograph m1.mrc are not together (row 7 is one)" in m for m in messages)
    _job(path, tmp_path / "two", options, monkeypatch, one_pass=False)
    assert digests(tmp_path / "one") == digests(tmp_path / "two")
    kept = (tmp_path / "one" / "particles_kept.star").read_text()
    assert kept.count("m1.mrc") == 1  # all four picks of m1 are one group: one kept (by hand)
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["particles_kept.star", "particles_rejected.star"]


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_a_centre_that_is_not_finite_leaves_no_file(tmp_path, bad):
    labels, rows = _rows_of_micrographs(range(40))
    rows[61][0] = bad
    path = write_star(tmp_path / "p.star", labels, rows)
    with pytest.raises(CryodedupError, match="particle 62 has no finite centre"):
        remove_duplicate_particles([path], tmp_path / "out", ParticleOptions(mic_psize=1.0))
    assert not (tmp_path / "out").exists()


def test_one_pass_over_existing_outputs_needs_force(tmp_path):
    labels, rows = _rows_of_micrographs(range(5))
    path = write_star(tmp_path / "p.star", labels, rows)
    options = ParticleOptions(mic_psize=1.0, min_dist=10.0)
    remove_duplicate_particles([path], tmp_path / "out", options)
    first = digests(tmp_path / "out")
    with pytest.raises(CryodedupError, match="already exists; use force=True"):
        remove_duplicate_particles([path], tmp_path / "out", options)
    remove_duplicate_particles([path], tmp_path / "out", options, force=True)
    assert digests(tmp_path / "out") == first
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["particles_kept.star", "particles_rejected.star"]


def test_inputs_of_one_file_name_are_named_by_their_distinct_paths(tmp_path):
    # Two Select jobs both write particles.star, without rlnMicrographPixelSize: the warnings
    # and the pixel sizes name job020/particles.star and job021/particles.star, never
    # "particles.star" twice.
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup"]
    optics_labels = ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnImagePixelSize", "rlnMicrographOriginalPixelSize"]
    paths = []
    for job in ("job020", "job021"):
        (tmp_path / "Select" / job).mkdir(parents=True)
        paths.append(
            write_star(
                tmp_path / "Select" / job / "particles.star",
                labels,
                [[100, 100, "m.mrc", 1]],
                optics=[[1, "og1", 2.0, 1.0]],
                optics_labels=optics_labels,
            )
        )
    warnings = []
    summary = remove_duplicate_particles(
        paths, tmp_path / "out", ParticleOptions(), log=lambda m, level: warnings.append(m) if level == "warning" else 0
    )
    assert [p["input"] for p in summary.to_json()["pixel_sizes"]] == ["job020/particles.star", "job021/particles.star"]
    fallback = [w for w in warnings if "rlnMicrographOriginalPixelSize" in w]
    assert [w.split(":")[0] for w in fallback] == ["job020/particles.star", "job021/particles.star"]


def test_a_copy_named_under_another_folder_is_told_what_to_give(tmp_path):
    # A re-processed copy (MotionCorr/job099) with the micrographs STAR of job002: a.mrc is
    # listed there under job002, c.mrc not at all. By path (--match-micrographs path) both are
    # missing and the error says why and what to give; by file name (auto) only c.mrc is.
    mics = tmp_path / "micrographs_ctf.star"
    mics.write_text(
        "data_optics\nloop_\n_rlnOpticsGroup #1\n_rlnMicrographPixelSize #2\n1 1.06\n\n"
        "data_micrographs\nloop_\n_rlnMicrographName #1\n_rlnOpticsGroup #2\n"
        "MotionCorr/job002/Movies/a.mrc 1\nMotionCorr/job002/Movies/b.mrc 1\n"
    )
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnOpticsGroup", "rlnMicrographName"]
    rows = [[10, 10, 1, "MotionCorr/job099/Movies/a.mrc"], [50, 50, 1, "MotionCorr/job099/Movies/c.mrc"]]
    copy = write_star(tmp_path / "particles.star", labels, rows, optics=[[1, "og", 2.12, 1.06]])
    by_path = ParticleOptions(micrographs=mics, score="none", match_micrographs="path")
    with pytest.raises(CryodedupError) as error:
        remove_duplicate_particles([copy], tmp_path / "out", by_path)
    message = str(error.value)
    assert "(2 of 2 micrographs missing)" in message
    assert "1 of them are listed there under another folder" in message
    assert "use --match-micrographs auto or name" in message and message.endswith("--mic-psize")
    with pytest.raises(CryodedupError) as error:
        remove_duplicate_particles([copy], tmp_path / "out", ParticleOptions(micrographs=mics, score="none"))
    assert str(error.value).endswith(
        f"micrograph 'MotionCorr/job099/Movies/c.mrc' is not in {mics} (1 of 2 micrographs missing)"
    )
