"""The particle job on CryoSPARC datasets: the frame, symmetry expansion, outputs that
cryosparc-tools loads with the input's fields, dtypes and rows, and the real files."""

from __future__ import annotations

import re
import shutil
import sys

import numpy as np
import pytest
from cryosparc.dataset import CSDAT_FORMAT, Dataset
from numpy.lib.recfunctions import repack_fields

from cryodedup import CryodedupError, ParticleOptions, remove_duplicate_particles
from cryodedup.formats.cryosparc.particles import read_cs_files
from fixtures.synthetic import cs_particles, write_cs
from helpers import LOCATION_FIELDS, read_request, shared_file
from oracle import oracle_by_group

#: What the readers are asked to read by default: the pixel-size sources, the score, the rows.
_DEFAULT = read_request(ParticleOptions())
DEFAULT_READ = (_DEFAULT.scale, _DEFAULT.score_read, _DEFAULT.row_read)


def run(tmp_path, inputs, **options):
    force = options.pop("force", False)
    return remove_duplicate_particles(inputs, tmp_path / "out", ParticleOptions(**options), force=force)


def location_rows(mic_uid, x_px, y_px, shift_px, shape=(4000, 6000), psize_align=2.0, psize_mic=0.8):
    """Particles as CryoSPARC stores them: fractions of the [ny, nx] micrograph shape."""
    n = len(x_px)
    dtype = [
        *LOCATION_FIELDS,
        ("alignments2D/shift", "<f4", (2,)),
        ("alignments2D/psize_A", "<f4"),
        ("alignments2D/error", "<f4"),
        ("blob/psize_A", "<f4"),
    ]
    r = np.zeros(n, dtype=dtype)
    r["uid"] = np.arange(n) + 1000
    r["location/micrograph_uid"] = mic_uid
    r["location/micrograph_shape"] = shape
    r["location/center_x_frac"] = np.asarray(x_px) / shape[1]
    r["location/center_y_frac"] = np.asarray(y_px) / shape[0]
    r["location/micrograph_psize_A"] = psize_mic
    r["alignments2D/shift"] = shift_px
    r["alignments2D/psize_A"] = psize_align
    r["alignments2D/error"] = np.arange(n)  # lower is better: the first row ranks first
    r["blob/psize_A"] = psize_align
    return r


def test_frame_shift_is_subtracted_on_both_axes(tmp_path):
    # A particle centred at (3000, 1000) px of a 6000 x 4000 micrograph (0.8 Å/px). Pick "a"
    # is on-centre; pick "b" sits 25 px left of and 15 px above the centre, so the particle is
    # off the box centre by +d = (+20, +12) Å, and 2D alignment (2 Å/px) found shift -d.
    d = np.array([25 * 0.8, 15 * 0.8])
    rows = location_rows(7, [3000, 3000 - 25], [1000, 1000 - 15], [[0, 0], -d / 2.0])
    path = tmp_path / "p.cs"
    write_cs(path, rows)
    summary = run(tmp_path, [path], min_dist=0.5)
    assert (summary.rejected, summary.to_json()["shift"], summary.to_json()["score"]["column"]) == (
        1,
        "alignments2D/shift",
        "alignments2D/error",
    )
    # Without the shift the picks are 23.3 Å apart; with the sign flipped, 2 x 23.3 Å.
    assert run(tmp_path, [path], min_dist=23.0, shift_key="none", force=True).rejected == 0
    assert run(tmp_path, [path], min_dist=23.5, shift_key="none", force=True).rejected == 1
    kept = np.load(tmp_path / "out" / "particles_kept.cs")
    assert kept["uid"].tolist() == [1000]


def test_symmetry_expansion_keeps_one_copy_per_source(tmp_path):
    rng = np.random.default_rng(0)
    base = location_rows(np.repeat([1, 2], 50), rng.uniform(0, 6000, 100), rng.uniform(0, 4000, 100), [0, 0])
    copies = np.repeat(base, 4)  # C4: four copies share a location, each with its own 3D shift
    copies["uid"] = np.arange(400) + 10**6
    dtype = [*copies.dtype.descr, ("sym_expand/src_uid", "<u8"), ("sym_expand/idx", "<u4")]
    expanded = np.zeros(400, dtype=dtype)
    for name in copies.dtype.names:
        expanded[name] = copies[name]
    expanded["alignments2D/shift"] = rng.normal(0, 5, (400, 2))
    expanded["sym_expand/src_uid"] = np.repeat(base["uid"], 4)
    expanded["sym_expand/idx"] = np.tile(np.arange(4), 100)
    write_cs(tmp_path / "sym.cs", expanded)
    summary = run(tmp_path, [tmp_path / "sym.cs"], min_dist=0.0, shift_key="none", score="none")
    kept = np.load(tmp_path / "out" / "particles_kept.cs")
    assert sorted(kept["sym_expand/src_uid"].tolist()) == sorted(base["uid"].tolist())
    assert summary.to_json()["symmetry_expansion"] == {
        "column": "sym_expand/src_uid",
        "sources": 100,
        "copies_in": 400,
        "sources_by_copies_kept": {1: 100},
    }


def test_outputs_keep_fields_dtypes_and_rows(tmp_path):
    records = cs_particles(np.random.default_rng(3), 5000, per_mic=250)
    write_cs(tmp_path / "p.cs", records)
    summary = run(tmp_path, [tmp_path / "p.cs"], min_dist=30.0)
    kept = Dataset.load(tmp_path / "out" / "particles_kept.cs")
    raw_kept = np.load(tmp_path / "out" / "particles_kept.cs")
    raw_rejected = np.load(tmp_path / "out" / "particles_rejected.cs")
    assert raw_kept.dtype == records.dtype and raw_rejected.dtype == records.dtype
    assert len(kept) == summary.kept and 0 < summary.rejected < 5000
    # Rows unchanged, in input order, each exactly once.
    is_kept = np.isin(records["uid"], raw_kept["uid"])
    assert np.array_equal(raw_kept, records[is_kept]) and np.array_equal(raw_rejected, records[~is_kept])
    # The decisions, against the brute-force oracle on centres computed here.
    shape = records["location/micrograph_shape"].astype(float)
    centres = np.stack(
        [records["location/center_x_frac"] * shape[:, 1], records["location/center_y_frac"] * shape[:, 0]], 1
    )
    centres = (
        centres * records["location/micrograph_psize_A"][:, None]
        - records["alignments2D/shift"] * records["alignments2D/psize_A"][:, None]
    )
    groups = np.unique(records["location/micrograph_uid"], return_inverse=True)[1]
    assert np.array_equal(
        is_kept, oracle_by_group(groups, centres, records["pick_stats/ncc_score"].astype(float), 30.0)
    )


def test_csdat_gives_the_same_result_as_numpy(tmp_path):
    records = cs_particles(np.random.default_rng(4), 3000)
    write_cs(tmp_path / "p.cs", records)
    Dataset(records).save(tmp_path / "q.cs", format=CSDAT_FORMAT)
    assert (tmp_path / "q.cs").read_bytes()[:6] == b"\x95CSDAT"
    a = remove_duplicate_particles([tmp_path / "p.cs"], tmp_path / "a", ParticleOptions())
    b = remove_duplicate_particles([tmp_path / "q.cs"], tmp_path / "b", ParticleOptions())
    assert (a.kept, a.rejected) == (b.kept, b.rejected)
    ka, kb = Dataset.load(tmp_path / "a" / "particles_kept.cs"), Dataset.load(tmp_path / "b" / "particles_kept.cs")
    assert (tmp_path / "b" / "particles_kept.cs").read_bytes()[:6] == b"\x95CSDAT"
    assert np.array_equal(ka["uid"], kb["uid"]) and ka.fields() == kb.fields()


def test_several_inputs_merge_on_common_fields(tmp_path):
    rng = np.random.default_rng(5)
    blob = cs_particles(rng, 400)
    template = cs_particles(rng, 300)
    template = template[[n for n in template.dtype.names if not n.startswith("alignments2D")]]
    write_cs(tmp_path / "blob.cs", blob)
    template = repack_fields(template)
    write_cs(tmp_path / "template.cs", template)
    shared = blob[:50].copy()  # the same particles given twice: collapsed
    write_cs(tmp_path / "again.cs", repack_fields(shared[list(template.dtype.names)]))
    summary = run(
        tmp_path,
        [tmp_path / "blob.cs", tmp_path / "template.cs", tmp_path / "again.cs"],
        shift_key="none",
        score="pick_stats/ncc_score",
    )
    assert summary.particles == 700 and summary.to_json()["collapsed_uids"] == 50
    assert "alignments2D/shift" in summary.to_json()["dropped_fields"]
    kept = Dataset.load(tmp_path / "out" / "particles_kept.cs")
    assert "alignments2D/shift" not in kept.fields() and "pick_stats/ncc_score" in kept.fields()
    clash = blob[:1].copy()
    clash["pick_stats/ncc_score"] += 1
    write_cs(tmp_path / "clash.cs", clash)
    # One line naming both files, the uid and the field that differs (trial 3: neither was named).
    expected = f"{tmp_path / 'blob.cs'} and {tmp_path / 'clash.cs'}: uid {int(clash['uid'][0])} is in both with "
    with pytest.raises(CryodedupError, match=re.escape(expected + "different pick_stats/ncc_score: rows of one uid")):
        run(tmp_path, [tmp_path / "blob.cs", tmp_path / "clash.cs"], shift_key="none", force=True)


#: The T20S set's micrograph pixel (EMPIAR-10025), which its particles' blob/psize_A states (extracted unbinned).
T20S_PSIZE = 0.6575


@pytest.mark.real_data
def test_result_group_with_passthrough(tmp_path):
    for name in ("t20s_10_particles_blob_ctf.cs", "t20s_10_particles_passthrough_location.cs"):
        shutil.copy(shared_file(f"cs/{name}"), tmp_path / name)
    csg = tmp_path / "group.csg"
    csg.write_text(
        "group:\n  name: particles\n  type: particle\nresults:\n"
        "  blob: {metafile: '>t20s_10_particles_blob_ctf.cs', num_items: 10, type: particle.blob}\n"
        "  ctf: {metafile: '>t20s_10_particles_blob_ctf.cs', num_items: 10, type: particle.ctf}\n"
        "  location: {metafile: '>t20s_10_particles_passthrough_location.cs', num_items: 10, type: particle.location}\n"
    )
    # The micrograph pixel of EMPIAR-10025: the particles' blob/psize_A, extracted unbinned (1.0 exceeds it).
    summary = run(tmp_path, [csg], mic_psize=T20S_PSIZE, score="none", min_dist=500.0)
    out = tmp_path / "out"
    main = np.load(out / "particles_kept.cs")
    passthrough = np.load(out / "particles_kept_passthrough_1.cs")
    assert sorted(main["uid"]) == sorted(passthrough["uid"]) and len(main) == summary.kept
    import yaml

    group = yaml.safe_load((out / "particles_kept.csg").read_text())
    assert group["results"]["location"] == {
        "metafile": ">particles_kept_passthrough_1.cs",
        "num_items": summary.kept,
        "type": "particle.location",
    }
    # Two micrographs hold two picks each (T20S, 7676 x 7420 px): check which are within 500 Å.
    loc = np.load(tmp_path / "t20s_10_particles_passthrough_location.cs")
    shape = loc["location/micrograph_shape"].astype(float)
    xy = np.stack([loc["location/center_x_frac"] * shape[:, 1], loc["location/center_y_frac"] * shape[:, 0]], 1)
    groups = np.unique(loc["location/micrograph_uid"], return_inverse=True)[1]
    close = [
        (i, j)
        for i in range(10)
        for j in range(i)
        if groups[i] == groups[j] and np.hypot(*(xy[i] - xy[j])) * T20S_PSIZE <= 500
    ]
    assert summary.rejected == len(close)


@pytest.mark.real_data
@pytest.mark.parametrize(
    "name",
    [
        "cryodrgn__cryosparc_P12_J24_001_particles.cs",
        "cryodrgn__cryosparc_J2_particles_exported.cs",
        "cryodrgn__empiar_10076_7.cs",
        "t20s_10_particles_blob_ctf.cs",
        "t20s_10_particles_blob_ctf.csdat.cs",
    ],
)
def test_real_files_without_location_are_refused(tmp_path, name):
    with pytest.raises(CryodedupError, match="no location slot .*not linked to micrographs"):
        run(tmp_path, [shared_file(f"cs/{name}")])


@pytest.mark.real_data
def test_real_header_only_file_gives_empty_outputs(tmp_path):
    summary = run(tmp_path, [shared_file("cs/cryosparc-tools__4k_dataset_header_only.cs")])
    assert summary.particles == 0
    assert len(Dataset.load(tmp_path / "out" / "particles_kept.cs")) == 0


@pytest.mark.real_data
def test_real_passthrough_file_both_encodings(tmp_path):
    kept = {}
    for suffix in ("", ".csdat"):
        out = tmp_path / (suffix or "numpy")
        summary = remove_duplicate_particles(
            [shared_file(f"cs/t20s_10_particles_passthrough_location{suffix}.cs")],
            out,
            ParticleOptions(mic_psize=1.0, score="none", min_dist=500.0),
        )
        assert (summary.particles, summary.micrographs) == (10, 7)
        kept[suffix] = Dataset.load(out / "particles_kept.cs")
        assert len(kept[suffix]) == summary.kept == 9
    assert kept[""].fields() == kept[".csdat"].fields()
    assert np.array_equal(kept[""]["uid"], kept[".csdat"]["uid"])


def cli_bad_input(tmp_path, args, message):
    from click.testing import CliRunner

    from cryodedup.cli import main

    result = CliRunner().invoke(main, ["particles", *map(str, args), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert re.search(message, result.stderr), result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.fixture
def good_cs(tmp_path):
    write_cs(tmp_path / "p.cs", cs_particles(np.random.default_rng(1), 300))
    return tmp_path / "p.cs"


def test_bad_cryosparc_inputs(tmp_path, good_cs):
    records = np.load(good_cs)
    no_location = repack_fields(records[[n for n in records.dtype.names if not n.startswith("location/")]])
    write_cs(tmp_path / "noloc.cs", no_location)
    cli_bad_input(tmp_path, [tmp_path / "noloc.cs"], r"noloc.cs: no location slot .*not linked to micrographs")
    cli_bad_input(
        tmp_path,
        [good_cs, "--shift-key", "alignments3D"],
        r"--shift-key alignments3D, but there is no alignments3D/shift field",
    )
    cli_bad_input(
        tmp_path,
        [good_cs, "--score", "pick_stats/nope"],
        r"unknown score field 'pick_stats/nope'; numeric fields present: .*pick_stats/ncc_score",
    )
    data = good_cs.read_bytes()
    (tmp_path / "cut.cs").write_bytes(data[: len(data) // 2])
    cli_bad_input(tmp_path, [tmp_path / "cut.cs"], r"cut.cs: not a readable CryoSPARC dataset, truncated or corrupted")
    (tmp_path / "junk.cs").write_bytes(b"\x95CSDAT" + bytes(range(200)))
    cli_bad_input(tmp_path, [tmp_path / "junk.cs"], r"junk.cs: not a readable CryoSPARC dataset")
    (tmp_path / "text.cs").write_text("uid,x\n1,2\n")
    cli_bad_input(tmp_path, [tmp_path / "text.cs"], r"text.cs: not a CryoSPARC .cs file")
    (tmp_path / "g.csg").write_text("results:\n  location: {metafile: '>gone.cs', num_items: 3}\n")
    cli_bad_input(tmp_path, [tmp_path / "g.csg"], r"g.csg: refers to '>gone.cs', and .*gone.cs does not exist")
    (tmp_path / "p.star").write_text("data_\nloop_\n_rlnCoordinateX\n1\n")
    cli_bad_input(tmp_path, [good_cs, tmp_path / "p.star"], r"inputs mix CryoSPARC \(.cs/.csg\) and STAR files")


def test_csg_naming_the_location_slot_in_the_wrong_file_says_so(tmp_path, good_cs):
    # A .csg edited by hand (as users do to point it at a filtered .cs): its results: name the
    # location slot in a file without location fields, or do not name it. "Give ... a result
    # group with its passthrough files" was the advice, to a user who had given one.
    records = np.load(good_cs)
    main = [n for n in records.dtype.names if not n.startswith("location/")]
    write_cs(tmp_path / "main.cs", repack_fields(records[main]))
    write_cs(tmp_path / "pass.cs", repack_fields(records[["uid", *[n for n in records.dtype.names if n not in main]]]))
    cases = {
        "g.csg": (
            {"blob": "main.cs", "location": "main.cs", "pick_stats": "main.cs"},
            r"g.csg: its results: put the location slot in '>main.cs', which holds no location/ field",
        ),
        "h.csg": (
            {"blob": "main.cs", "pick_stats": "pass.cs"},
            r"h.csg: its results: name no location slot, though '>pass.cs' holds location/ fields",
        ),
    }
    for name, (results, said) in cases.items():
        (tmp_path / name).write_text(
            "results:\n" + "".join(f"  {s}: {{metafile: '>{f}'}}\n" for s, f in results.items())
        )
        cli_bad_input(tmp_path, [tmp_path / name], said)


def test_micrograph_pixel_size_is_required(tmp_path, good_cs):
    records = np.load(good_cs)
    records["location/micrograph_psize_A"] = 0
    write_cs(tmp_path / "nopsize.cs", records)
    cli_bad_input(tmp_path, [tmp_path / "nopsize.cs"], r"no micrograph pixel size .*--mic-psize.*--micrographs")
    exposures = np.zeros(
        len(np.unique(records["location/micrograph_uid"])), dtype=[("uid", "<u8"), ("micrograph_blob/psize_A", "<f4")]
    )
    exposures["uid"] = np.unique(records["location/micrograph_uid"])
    exposures["micrograph_blob/psize_A"] = 0.83
    write_cs(tmp_path / "exposures.cs", exposures)
    with_exposures = run(tmp_path, [tmp_path / "nopsize.cs"], micrographs=tmp_path / "exposures.cs")
    reference = run(tmp_path / "ref", [good_cs])
    assert with_exposures.kept == reference.kept
    assert with_exposures.to_json()["pixel_sizes"][0]["source"].startswith("micrograph_blob/psize_A")
    # A micrographs STAR is no source for them (matched by uid, never by path or file name): said in one line.
    (tmp_path / "micrographs_ctf.star").write_text("data_micrographs\nloop_\n_rlnMicrographName\nx.mrc\n")
    cli_bad_input(
        tmp_path / "with_star",
        [tmp_path / "nopsize.cs", "--micrographs", tmp_path / "micrographs_ctf.star"],
        r"--micrographs .*micrographs_ctf.star: CryoSPARC particles take their micrograph pixel size from the "
        r"exposures \(a .cs or .csg with micrograph_blob/psize_A\), matched by micrograph uid",
    )


def test_centres_read_in_one_pass_or_field_by_field_agree_and_a_zero_shape_is_named(tmp_path, good_cs):
    # The core reads f4 fractions and u4 shapes where they lie in the records; f8 fractions
    # (the same values) are read by numpy. Both against the centres computed here.
    records = np.load(good_cs)
    wide = np.dtype([(n, "<f8" if n.endswith("_frac") else records.dtype.fields[n][0]) for n in records.dtype.names])
    write_cs(tmp_path / "wide.cs", records.astype(wide))
    shape = records["location/micrograph_shape"].astype(float)
    psize = records["location/micrograph_psize_A"].astype(float)
    want = np.stack(
        [records["location/center_x_frac"] * shape[:, 1], records["location/center_y_frac"] * shape[:, 0]], 1
    )
    shift = records["alignments2D/shift"].astype(float) * records["alignments2D/psize_A"].astype(float)[:, None]
    want = want * psize[:, None] - shift
    for path in (good_cs, tmp_path / "wide.cs"):
        found = read_cs_files([path], tmp_path / "out", *DEFAULT_READ, lambda m: None, lambda m, level: None)
        assert np.array_equal(found.centres, want), path
        assert np.array_equal(found.psize, psize), path
    # A micrograph shape with a 0 is named by its particle (the first), read either way.
    records["location/micrograph_shape"][[7, 9]] = [(0, 6000), (4000, 0)]
    write_cs(tmp_path / "zero.cs", records)
    write_cs(tmp_path / "zero_wide.cs", records.astype(wide))
    for name in ("zero.cs", "zero_wide.cs"):
        message = rf"{name}: particle 8 has location/micrograph_shape \[0, 6000\]; the fractional centres need"
        cli_bad_input(tmp_path / name, [tmp_path / name], message)


def test_centres_off_their_micrograph_are_warned_of_read_either_way(tmp_path, good_cs):
    # CryoSPARC writes fractions 0 to 1; 5.0 was taken without a word (a new user). Oracle: the
    # rows set here by hand; f8 fractions are read by numpy, f4 by the core.
    records = np.load(good_cs)
    records["location/center_x_frac"][[11, 40]] = [5.0, -0.25]
    records["location/center_y_frac"][[40, 299]] = [0.5, 1.5]
    records["location/center_x_frac"][[0, 1]] = [0.0, 1.0]  # on the edges: on the micrograph
    wide = np.dtype([(n, "<f8" if n.endswith("_frac") else records.dtype.fields[n][0]) for n in records.dtype.names])
    write_cs(tmp_path / "off.cs", records)
    write_cs(tmp_path / "off_wide.cs", records.astype(wide))
    for name in ("off.cs", "off_wide.cs"):
        warnings: list[str] = []
        read_cs_files([tmp_path / name], tmp_path / "out", *DEFAULT_READ, warnings.append, lambda m, level: None)
        (said,) = [w for w in warnings if "off their micrograph" in w]
        assert said.startswith(f"{tmp_path / name}: 3 particle(s) lie off their micrograph"), said
        assert f"the first is particle 12 (uid {records['uid'][11]}): 5, " in said, said
    warnings = []
    read_cs_files([good_cs], tmp_path / "out", *DEFAULT_READ, warnings.append, lambda m, level: None)
    assert not [w for w in warnings if "off their micrograph" in w]


# --- a particle file and its passthrough file given as separate inputs ----------------------


def split_passthrough(records: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """The main file (pick_stats, alignments2D, blob) and the passthrough file (location),
    the latter in another row order, as CryoSPARC writes a job's outputs."""
    main = [n for n in records.dtype.names if not n.startswith("location/")]
    passthrough = ["uid"] + [n for n in records.dtype.names if n.startswith("location/")]
    return repack_fields(records[main]), repack_fields(records[passthrough])[rng.permutation(len(records))]


def test_passthrough_given_as_a_separate_input_is_joined_on_uid(tmp_path):
    rng = np.random.default_rng(8)
    records = cs_particles(rng, 3000, per_mic=300)
    main, passthrough = split_passthrough(records, rng)
    write_cs(tmp_path / "whole.cs", records)
    write_cs(tmp_path / "J9_particles.cs", main)
    write_cs(tmp_path / "J9_passthrough_particles.cs", passthrough)
    whole = remove_duplicate_particles([tmp_path / "whole.cs"], tmp_path / "a", ParticleOptions(min_dist=30.0))
    split = remove_duplicate_particles(
        [tmp_path / "J9_particles.cs", tmp_path / "J9_passthrough_particles.cs"],
        tmp_path / "b",
        ParticleOptions(min_dist=30.0),
    )
    assert split.warnings == [] and split.to_json()["dropped_fields"] == []
    assert (split.kept, split.to_json()["score"], split.to_json()["shift"]) == (
        whole.kept,
        whole.to_json()["score"],
        whole.to_json()["shift"],
    )
    assert 0 < split.rejected < 3000
    # Each output file is a row subset of its own input, in its order; both hold the kept uids.
    kept_uids = np.load(tmp_path / "a" / "particles_kept.cs")["uid"]
    for stem, selected in (("particles_kept", True), ("particles_rejected", False)):
        out_main = np.load(tmp_path / "b" / f"{stem}.cs")
        out_pass = np.load(tmp_path / "b" / f"{stem}_passthrough_1.cs")
        assert np.array_equal(out_main, main[np.isin(main["uid"], kept_uids) == selected])
        assert np.array_equal(out_pass, passthrough[np.isin(passthrough["uid"], kept_uids) == selected])


@pytest.mark.real_data
@pytest.mark.parametrize("suffixes", [("", ""), (".csdat", ".csdat"), ("", ".csdat")])
def test_real_passthrough_given_separately_matches_the_result_group(tmp_path, suffixes):
    files = [
        shared_file(f"cs/t20s_10_particles_blob_ctf{suffixes[0]}.cs"),
        shared_file(f"cs/t20s_10_particles_passthrough_location{suffixes[1]}.cs"),
    ]
    options = {"mic_psize": T20S_PSIZE, "score": "none", "min_dist": 500.0}
    summary = remove_duplicate_particles(files, tmp_path / "out", ParticleOptions(**options))
    reference = remove_duplicate_particles(files[1:], tmp_path / "ref", ParticleOptions(**options))
    assert (summary.particles, summary.micrographs, summary.kept) == (10, 7, reference.kept)
    assert summary.to_json()["dropped_fields"] == [] and summary.warnings == []
    kept = Dataset.load(tmp_path / "out" / "particles_kept.cs")
    kept_location = Dataset.load(tmp_path / "out" / "particles_kept_passthrough_1.cs")
    assert "ctf/df1_A" in kept.fields() and "location/center_x_frac" in kept_location.fields()
    expected = Dataset.load(tmp_path / "ref" / "particles_kept.cs")["uid"]
    assert sorted(kept["uid"]) == sorted(kept_location["uid"]) == sorted(expected)
    # The guide's join of the two outputs (docs/guides/cryosparc.md), before save_external_result's
    # slots=["location"]: every kept uid once, with its location and its CTF.
    out = tmp_path / "out"
    joined = Dataset.load(out / "particles_kept.cs").innerjoin(Dataset.load(out / "particles_kept_passthrough_1.cs"))
    assert sorted(joined["uid"]) == sorted(expected)
    assert {"location/center_x_frac", "location/micrograph_uid", "ctf/df1_A"} <= set(joined.fields())


def test_passthrough_of_other_particles_is_refused(tmp_path):
    rng = np.random.default_rng(9)
    main, passthrough = split_passthrough(cs_particles(rng, 400), rng)
    write_cs(tmp_path / "main.cs", main)
    write_cs(tmp_path / "part.cs", passthrough[:250])  # some uids shared, slots disjoint
    cli_bad_input(
        tmp_path,
        [tmp_path / "main.cs", tmp_path / "part.cs"],
        r"main.cs and .*part.cs share 250 particle uids \(400 and 250 particles\) but hold different slots",
    )


def test_score_auto_without_score_fields_falls_back_to_random(tmp_path):
    records = cs_particles(np.random.default_rng(10), 2000)
    unscored = repack_fields(
        records[[n for n in records.dtype.names if n.split("/")[0] in ("uid", "location", "blob")]]
    )
    write_cs(tmp_path / "p.cs", unscored)
    auto = remove_duplicate_particles([tmp_path / "p.cs"], tmp_path / "auto", ParticleOptions(seed=5))
    none = remove_duplicate_particles([tmp_path / "p.cs"], tmp_path / "none", ParticleOptions(score="none", seed=5))
    (warning,) = auto.warnings
    assert "--score auto" in warning and "seeded random particle (seed 5)" in warning
    assert auto.to_json()["score"] == none.to_json()["score"] and 0 < auto.rejected == none.rejected
    assert (tmp_path / "auto" / "particles_kept.cs").read_bytes() == (
        tmp_path / "none" / "particles_kept.cs"
    ).read_bytes()


def test_force_never_overwrites_a_file_that_a_csg_lists(tmp_path):
    # Issue 11 item 1: a .csg in OUTDIR naming particles_kept_passthrough_1.cs lost rows to --force.
    records = cs_particles(np.random.default_rng(0), 60)
    location = ["uid"] + [n for n in records.dtype.names if n.startswith("location/")]
    out = tmp_path / "out"
    out.mkdir()
    write_cs(out / "main.cs", repack_fields(records[[n for n in records.dtype.names if n not in location[1:]]]))
    write_cs(out / "particles_kept_passthrough_1.cs", repack_fields(records[location]))
    (out / "group.csg").write_text(
        "results:\n  blob: {metafile: '>main.cs', num_items: 60, type: particle.blob}\n"
        "  location: {metafile: '>particles_kept_passthrough_1.cs', num_items: 60, type: particle.location}\n"
    )
    listed = (out / "particles_kept_passthrough_1.cs").read_bytes()
    for force in (False, True):
        with pytest.raises(CryodedupError, match=r"particles_kept_passthrough_1\.cs: is also an input"):
            remove_duplicate_particles([out / "group.csg"], out, ParticleOptions(score="none"), force=force)
    assert (out / "particles_kept_passthrough_1.cs").read_bytes() == listed
    assert sorted(p.name for p in out.iterdir()) == ["group.csg", "main.cs", "particles_kept_passthrough_1.cs"]


def python_calls(inputs, outdir):
    """The read particle set, and the Python calls (functions and builtins) made reading it."""
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        calls += event in ("call", "c_call")

    sys.setprofile(count)
    try:
        found = read_cs_files(inputs, outdir, *DEFAULT_READ, lambda m: None, lambda m, level: None)
    finally:
        sys.setprofile(None)
    return found, calls


@pytest.mark.slow
def test_reading_does_no_python_work_per_particle(tmp_path):
    # Issue 29: what is read per micrograph (its name, its shape) is read once per micrograph,
    # and the rows of a uid met in two inputs are compared as arrays. Counted, not timed: the
    # Python calls (sys.setprofile) of reading 20,000 and 100,000 particles on the same 100
    # micrographs must not grow with the particles; one call per particle (a decode, a dict
    # insert, a comparison) adds 80,000.
    calls = {}
    for n in (20_000, 100_000):
        records = cs_particles(np.random.default_rng(0), n, per_mic=n // 100)
        write_cs(tmp_path / f"a{n}.cs", records)
        write_cs(tmp_path / f"b{n}.cs", records[: n // 2])  # the same particles again: collapsed on uid
        for k, inputs in enumerate(([tmp_path / f"a{n}.cs"], [tmp_path / f"a{n}.cs", tmp_path / f"b{n}.cs"])):
            python_calls(inputs, tmp_path / "out")  # modules imported on first use are not counted
            found, calls[n, k] = python_calls(inputs, tmp_path / "out")
            # Against a plain reading: each micrograph's first path, and its shape.
            first = np.unique(records["location/micrograph_uid"], return_index=True)[1]
            assert found.mic_names == [p.decode() for p in records["location/micrograph_path"][first]]
            shapes = records["location/micrograph_shape"][first].tolist()
            assert found.mic_shapes == {g: tuple(s) for g, s in enumerate(shapes)}
            assert len(found.groups) == n
    for k in (0, 1):
        assert calls[100_000, k] - calls[20_000, k] < 2_000, calls


def test_two_pickers_ranked_by_ncc_score_are_warned_about(tmp_path):
    # Blob and template picks of one set of micrographs (other uids): ranked by each picker's
    # pick_stats/ncc_score as read, which two pickers do not share a scale for.
    rng = np.random.default_rng(27)
    blob, template = cs_particles(rng, 600, per_mic=200), cs_particles(rng, 600, per_mic=200)
    template["uid"] += 10**6
    template["pick_stats/ncc_score"] *= 5
    write_cs(tmp_path / "blob.cs", blob)
    write_cs(tmp_path / "template.cs", template)
    inputs = [tmp_path / "blob.cs", tmp_path / "template.cs"]
    summary = remove_duplicate_particles(inputs, tmp_path / "a", ParticleOptions(min_dist=30.0))
    assert summary.to_json()["score"]["column"] == "pick_stats/ncc_score" and "scale" in summary.to_json()["score"]
    assert sum("pick_stats/ncc_score as read" in w for w in summary.warnings) == 1
    rank = ParticleOptions(min_dist=30.0, score_normalize="rank")
    summary = remove_duplicate_particles(inputs, tmp_path / "b", rank)
    assert not any("as read" in w for w in summary.warnings) and "scale" not in summary.to_json()["score"]


def test_two_refinements_of_one_selection_with_same_image_reject_keep_the_best_row_of_each(tmp_path):
    # Trial 3: two selections refined apart (the same uids, other alignments2D/shift) were refused even
    # with --same-image reject, where a uid is one image: the best row of each is kept (hand-worked).
    rng = np.random.default_rng(11)
    first = cs_particles(rng, 3, duplicate_fraction=0.0)
    first["location/micrograph_uid"] = first["location/micrograph_uid"][0]  # one micrograph, far apart on it
    first["location/center_x_frac"] = [0.1, 0.5, 0.9]
    first["location/center_y_frac"] = 0.5
    first["alignments2D/shift"] = 0.0
    first["alignments2D/error"] = 1.0
    second = first.copy()
    second["alignments2D/shift"][:, 0] = 20.0  # refined apart: 20 px of 1.66 Å, 33 Å along x
    second["alignments2D/error"] = [0.5, 2.0, 2.0]  # the second refinement better for the first particle only
    a, b = tmp_path / "J10_particles.cs", tmp_path / "J11_particles.cs"
    write_cs(a, first)
    write_cs(b, second)
    options = {"min_dist": 10, "score": "alignments2D/error", "score_order": "min"}
    with pytest.raises(CryodedupError, match="or --same-image reject to keep the best row of each particle image"):
        run(tmp_path, [a, b], **options)
    summary = run(tmp_path, [a, b], same_image="reject", **options)
    assert (summary.kept, summary.rejected) == (3, 3)
    kept = Dataset.load(tmp_path / "out" / "particles_kept.cs")
    shift_x = {int(uid): float(shift[0]) for uid, shift in zip(kept["uid"], kept["alignments2D/shift"])}
    assert [shift_x.get(int(uid)) for uid in first["uid"]] == [20.0, 0.0, 0.0]
    assert len(kept) == 3


def test_one_uid_on_two_particle_images_is_not_advised_same_image_reject(tmp_path):
    # A uid whose two rows name different particle images (blob/path, blob/idx) and lie far
    # apart: --same-image reject joins rows of one image, so it cannot resolve them, yet was
    # advised; run as printed it failed with "its two rows lie at one centre" (they do not).
    rng = np.random.default_rng(11)
    first = cs_particles(rng, 3, duplicate_fraction=0.0)
    first["location/micrograph_uid"] = first["location/micrograph_uid"][0]
    first["location/center_x_frac"] = [0.1, 0.5, 0.9]
    first["location/center_y_frac"] = 0.5
    second = first.copy()
    second["location/center_y_frac"] = 0.2  # other particles, 1200 px away
    second["blob/path"] = b"J11/extract/other_particles.mrc"
    a, b = tmp_path / "J10_particles.cs", tmp_path / "J11_particles.cs"
    write_cs(a, first)
    write_cs(b, second)
    for same_image in ("warn", "reject"):
        with pytest.raises(CryodedupError, match=r"is in both with different blob/path.*give one of them$"):
            run(tmp_path, [a, b], min_dist=10, same_image=same_image)


# --- issue 54 item 1: a --mic-psize the particles' own pixel sizes contradict ----------------------


@pytest.fixture
def binned_extraction(tmp_path):
    """Two picks 50 px (40 Å at 0.8 Å/px) apart, extracted with Fourier cropping to 3.2 Å/px (blob/psize_A)."""
    rows = location_rows(7, [3000, 3050], [1000, 1000], [[0, 0], [0, 0]], psize_align=3.2, psize_mic=0.8)
    path = tmp_path / "extract.cs"
    write_cs(path, rows)
    return path


def test_the_particles_blob_pixel_size_is_refused_as_the_micrographs(tmp_path, binned_extraction):
    with pytest.raises(CryodedupError) as err:
        run(tmp_path, [binned_extraction], mic_psize=3.2, min_dist=100, shift_key="none")
    assert str(err.value) == (
        f"--mic-psize 3.2 Å contradicts location/micrograph_psize_A 0.8 Å in {binned_extraction}: 3.2 is the "
        "particles' blob/psize_A (binned at extraction); give the pixel size of the micrographs the coordinates "
        "were picked on, or --insist-psize to use 3.2"
    )
    with pytest.raises(CryodedupError, match="contradicts location/micrograph_psize_A 0.8 Å in .*; give"):
        run(tmp_path, [binned_extraction], mic_psize=1.6, min_dist=100, shift_key="none")


def test_an_agreeing_mic_psize_decides_as_the_particles_own(tmp_path, binned_extraction):
    own = run(tmp_path, [binned_extraction], min_dist=100, shift_key="none")
    typed = run(tmp_path, [binned_extraction], mic_psize=0.8, min_dist=100, shift_key="none", force=True)
    assert own.rejected == typed.rejected == 1  # 40 Å apart
    assert typed.to_json()["pixel_sizes"][0]["source"] == "--mic-psize"


def test_insisting_on_the_blob_pixel_size_says_so(tmp_path, binned_extraction):
    summary = run(tmp_path, [binned_extraction], mic_psize=3.2, insist_psize=True, min_dist=100, shift_key="none")
    assert summary.rejected == 0  # 160 Å apart at 3.2 Å/px
    assert summary.to_json()["pixel_sizes"][0]["source"].startswith(
        "--mic-psize, insisted on (--insist-psize) though it "
    )
    assert any("3.2 is the particles' blob/psize_A" in w for w in summary.warnings)
