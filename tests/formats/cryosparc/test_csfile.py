"""cryodedup.formats.cryosparc.dataset: .cs files in both encodings and .csg result groups, on hand-made datasets."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from cryosparc.dataset import CSDAT_FORMAT, Dataset

from cryodedup import CryodedupError
from cryodedup.formats.cryosparc.dataset import CSDAT_MAGIC, NUMPY_MAGIC, CsFile, CsGroup, flatten, key_groups

MAIN_DTYPE = [("uid", "<u8"), ("blob/path", "S12"), ("blob/idx", "<u4"), ("ctf/df1_A", "<f4")]
LOCATION_DTYPE = [("uid", "<u8"), ("location/center_x_frac", "<f4"), ("location/micrograph_uid", "<u8")]


def main_rows() -> np.ndarray:
    rows = np.zeros(4, dtype=MAIN_DTYPE)
    rows["uid"] = [11, 22, 33, 44]
    rows["blob/path"] = [b"J1/a.mrcs", b"J1/a.mrcs", b"J1/b.mrcs", b"J1/b.mrcs"]
    rows["blob/idx"] = [0, 1, 0, 1]
    rows["ctf/df1_A"] = [10000.5, 12000.25, 9000.0, 15000.75]
    return rows


def location_rows() -> np.ndarray:
    """The location slot of main_rows' particles, stored in another row order (44, 22, 11, 33)."""
    rows = np.zeros(4, dtype=LOCATION_DTYPE)
    rows["uid"] = [44, 22, 11, 33]
    rows["location/center_x_frac"] = [0.4, 0.2, 0.1, 0.3]
    rows["location/micrograph_uid"] = [8, 7, 7, 8]
    return rows


def save_numpy(path, rows):
    with open(path, "wb") as f:  # np.save on a name would append .npy
        np.save(f, rows)
    return path


def write_group(tmp_path, main="main.cs", location="loc.cs"):
    csg = tmp_path / "particles.csg"
    results = {
        "blob": {"metafile": f">{main}", "num_items": 4, "type": "particle.blob"},
        "ctf": {"metafile": f">{main}", "num_items": 4, "type": "particle.ctf"},
        "location": {"metafile": f">{location}", "num_items": 4, "type": "particle.location"},
    }
    csg.write_text(yaml.safe_dump({"created": "2026-01-01", "results": results}, sort_keys=False))
    return csg


def test_numpy_file_round_trips_row_bytes_and_dtype(tmp_path):
    rows = main_rows()
    cs = CsFile.load(save_numpy(tmp_path / "in.cs", rows))
    assert (cs.encoding, len(cs), cs.fields) == ("numpy", 4, ["uid", "blob/path", "blob/idx", "ctf/df1_A"])
    assert cs.column("ctf/df1_A").tolist() == [10000.5, 12000.25, 9000.0, 15000.75]
    out = tmp_path / "out.cs"
    cs.take(np.array([3, 1])).save(out)
    assert not (tmp_path / "out.cs.npy").exists()
    written = np.load(out)
    assert written.dtype == rows.dtype
    assert written.tobytes() == rows[3].tobytes() + rows[1].tobytes()


def test_csdat_file_is_written_back_in_csdat(tmp_path):
    path = tmp_path / "in.cs"
    with open(path, "wb") as f:
        Dataset(main_rows()).save(f, format=CSDAT_FORMAT)
    assert path.read_bytes()[:6] == CSDAT_MAGIC
    cs = CsFile.load(path)
    assert cs.encoding == "csdat" and len(cs) == 4 and "ctf/df1_A" in cs.fields
    cs.take(np.array([0, 2])).save(tmp_path / "out.cs")
    assert (tmp_path / "out.cs").read_bytes()[:6] == CSDAT_MAGIC
    back = Dataset.load(tmp_path / "out.cs")
    assert back["uid"].tolist() == [11, 33] and back["blob/path"].tolist() == ["J1/a.mrcs", "J1/b.mrcs"]


def test_a_numpy_file_converts_to_a_dataset(tmp_path):
    dataset = CsFile.load(save_numpy(tmp_path / "in.cs", main_rows())).dataset()
    assert isinstance(dataset, Dataset) and dataset["uid"].tolist() == [11, 22, 33, 44]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", r"bad\.cs: the file is empty"),
        (b"data_particles\nloop_\n", r"bad\.cs: not a CryoSPARC \.cs file \(it starts with neither"),
        (NUMPY_MAGIC + b"\x01\x00garbage", r"bad\.cs: not a readable CryoSPARC dataset, truncated or corrupted"),
        (CSDAT_MAGIC + b"garbage", r"bad\.cs: not a readable CryoSPARC dataset, truncated or corrupted"),
    ],
    ids=["empty", "star", "truncated-numpy", "truncated-csdat"],
)
def test_unreadable_files_are_one_clear_error(tmp_path, content, message):
    (tmp_path / "bad.cs").write_bytes(content)
    with pytest.raises(CryodedupError, match=message):
        CsFile.load(tmp_path / "bad.cs")


def test_a_truncated_numpy_body_is_refused(tmp_path):
    data = save_numpy(tmp_path / "full.cs", main_rows()).read_bytes()
    (tmp_path / "bad.cs").write_bytes(data[:-10])
    with pytest.raises(CryodedupError, match=r"bad\.cs: not a readable CryoSPARC dataset"):
        CsFile.load(tmp_path / "bad.cs")


@pytest.mark.parametrize("encoding", ["numpy", "csdat"])
@pytest.mark.parametrize(
    ("field", "dtype", "expected"),
    [
        # Found by the barrage (2026-11-26): a centre as text was numpy's traceback, the
        # others were read as numbers (complex to real with a bare numpy warning).
        ("location/center_x_frac", "<U5", "floating-point numbers"),
        ("location/center_x_frac", "<c8", "floating-point numbers"),
        ("location/center_x_frac", "?", "floating-point numbers"),
        ("location/micrograph_uid", "<f8", "whole numbers"),
        ("blob/path", "<i8", "text"),
    ],
)
def test_a_field_of_another_kind_than_cryosparc_writes_is_refused_by_name(tmp_path, encoding, field, dtype, expected):
    good = location_rows() if field.startswith("location") else main_rows()
    rows = np.zeros(len(good), dtype=[(n, dtype if n == field else good.dtype[n]) for n in good.dtype.names])
    for name in good.dtype.names:
        rows[name] = np.arange(len(good)).astype(dtype) if name == field else good[name]
    path = tmp_path / "bad.cs"
    if encoding == "csdat" and dtype == "?":
        pytest.skip("CSDAT has no booleans")
    if encoding == "numpy":
        save_numpy(path, rows)
    else:
        Dataset(rows).save(path, format=CSDAT_FORMAT)
    got = np.dtype(dtype) if encoding == "numpy" else np.asarray(Dataset.load(path)[field]).dtype
    with pytest.raises(CryodedupError, match=rf"bad\.cs: field {field} holds {got} values, expected {expected}$"):
        CsFile.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(CryodedupError, match=r"nothing\.cs: file not found"):
        CsFile.load(tmp_path / "nothing.cs")


def test_result_group_joins_its_files_on_uid(tmp_path):
    save_numpy(tmp_path / "main.cs", main_rows())
    save_numpy(tmp_path / "loc.cs", location_rows())
    group = CsGroup.load(write_group(tmp_path))
    assert len(group) == 4 and group.slots == {"blob": 0, "ctf": 0, "location": 1}
    assert group.fields == [
        "uid",
        "blob/path",
        "blob/idx",
        "ctf/df1_A",
        "location/center_x_frac",
        "location/micrograph_uid",
    ]
    # In the main file's order (uids 11, 22, 33, 44), whatever the order of loc.cs.
    assert group.column("location/center_x_frac").tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert group.column("location/micrograph_uid").tolist() == [7, 7, 8, 8]
    assert group.has("ctf/df1_A") and not group.has("alignments2D/shift")
    flat = flatten(group)
    assert flat["uid"].tolist() == [11, 22, 33, 44]
    assert flat["location/micrograph_uid"].tolist() == [7, 7, 8, 8]


def test_a_subset_of_a_group_is_importable(tmp_path):
    save_numpy(tmp_path / "main.cs", main_rows())
    save_numpy(tmp_path / "loc.cs", location_rows())
    group = CsGroup.load(write_group(tmp_path))
    names = group.output_names("kept")
    assert names == ["kept.cs", "kept_passthrough_1.cs", "kept.csg"]
    selected = np.array([False, True, False, True])  # uids 22 and 44
    out = tmp_path / "out"
    out.mkdir()
    group.save_subset(selected, [out / names[0], out / names[1]], out / names[2], names)
    main = np.load(out / "kept.cs")
    location = np.load(out / "kept_passthrough_1.cs")
    assert main.tobytes() == main_rows()[[1, 3]].tobytes()
    assert location.tobytes() == location_rows()[[0, 1]].tobytes()  # loc.cs's own order: 44, then 22
    csg = yaml.safe_load((out / "kept.csg").read_text())
    assert csg["created"] == "2026-01-01"
    assert csg["results"]["blob"] == {"metafile": ">kept.cs", "num_items": 2, "type": "particle.blob"}
    assert csg["results"]["location"] == {
        "metafile": ">kept_passthrough_1.cs",
        "num_items": 2,
        "type": "particle.location",
    }


def test_a_single_file_is_a_group_of_one(tmp_path):
    group = CsGroup.load(save_numpy(tmp_path / "main.cs", main_rows()))
    assert group.slots == {"blob": 0, "ctf": 0} and group.csg is None
    assert group.output_names("rejected") == ["rejected.cs"]


def test_group_files_with_different_uids_are_refused(tmp_path):
    save_numpy(tmp_path / "main.cs", main_rows())
    other = location_rows()
    other["uid"][0] = 99
    save_numpy(tmp_path / "loc.cs", other)
    with pytest.raises(CryodedupError, match=r"particles\.csg: .*loc\.cs and the group's first file hold different"):
        CsGroup.load(write_group(tmp_path))


def test_group_files_of_different_lengths_are_refused(tmp_path):
    save_numpy(tmp_path / "main.cs", main_rows())
    save_numpy(tmp_path / "loc.cs", location_rows()[:3])
    with pytest.raises(CryodedupError, match=r"loc\.cs holds 3 particles, the group's first file 4"):
        CsGroup.load(write_group(tmp_path))


def test_a_group_naming_a_missing_file_is_refused(tmp_path):
    save_numpy(tmp_path / "main.cs", main_rows())
    with pytest.raises(CryodedupError, match=r"particles\.csg: refers to '>gone\.cs', and .*gone\.cs does not exist"):
        CsGroup.load(write_group(tmp_path, location="gone.cs"))


@pytest.mark.parametrize("text", ["just a string\n", "results: 3\n", "group: {}\n", ": : :\n"])
def test_a_csg_without_results_is_refused(tmp_path, text):
    (tmp_path / "bad.csg").write_text(text)
    with pytest.raises(
        CryodedupError, match=r"bad\.csg: not a CryoSPARC result group \(\.csg\) with a results: section"
    ):
        CsGroup.load(tmp_path / "bad.csg")


# Loads each cut of a CSDAT file in one interpreter and prints one line per cut, so that a
# crash of the decoder (a segfault kills the interpreter) fails the test, naming the cut.
LOAD_CUTS = """
import sys
import numpy as np
from cryodedup.formats.cryosparc.dataset import CsFile
from cryodedup.errors import CryodedupError
original = CsFile.load(sys.argv[1])
data = open(sys.argv[1], "rb").read()
cut_path = sys.argv[2]
for cut in map(int, sys.argv[3:]):
    print(f"cut {cut}: ", end="", flush=True)
    open(cut_path, "wb").write(data[:cut])
    try:
        cs = CsFile.load(cut_path)
    except CryodedupError as err:
        print("error", str(err).replace(chr(10), " "), flush=True)
        continue
    same = cs.fields == original.fields and len(cs) == len(original) and all(
        np.array_equal(cs.column(f), original.column(f)) for f in original.fields
    )
    print("identical" if same else "DIFFERENT", flush=True)
"""


def csdat_with_strings(path):
    """A compressed .cs of 300 particles with string, integer, float and array fields."""
    rows = 300
    dataset = Dataset.allocate(
        rows, [("blob/path", "O"), ("blob/idx", "<u4"), ("location/micrograph_path", "O"), ("blob/shape", "<u4", (2,))]
    )
    dataset["blob/path"] = [f"J12/extract/{k // 7:04d}_particles.mrc" for k in range(rows)]
    dataset["blob/idx"] = np.arange(rows) % 7
    dataset["location/micrograph_path"] = [f"J3/motioncorrected/{k // 20:05d}_patch_aligned.mrc" for k in range(rows)]
    dataset["blob/shape"] = 256
    dataset.save(str(path), format=CSDAT_FORMAT)
    return path


def test_a_cut_csdat_file_is_one_clear_error_never_a_crash(tmp_path):
    # Before the check, a file cut near its end loaded with cut or empty micrograph paths,
    # and cut earlier, the decoder crashed the interpreter (exit -11).
    import subprocess
    import sys

    path = csdat_with_strings(tmp_path / "full.cs")
    size = len(path.read_bytes())
    cuts = sorted({size * k // 50 for k in range(1, 50)} | set(range(size - 100, size)))
    run = subprocess.run(
        [sys.executable, "-c", LOAD_CUTS, str(path), str(tmp_path / "cut.cs"), *map(str, cuts)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = run.stdout.splitlines()
    assert run.returncode == 0, f"the decoder crashed ({run.returncode}) at {lines[-1] if lines else 'start'}"
    assert len(lines) == len(cuts)
    # A cut file can never be whole: every cut is refused, in one line naming the file.
    for line in lines:
        assert "error" in line and "cut.cs: not a readable CryoSPARC dataset, truncated or corrupted" in line, line


@pytest.mark.parametrize(
    "patch, message",
    [
        (lambda d: d[:6] + (10**6).to_bytes(4, "little") + d[10:], r"the header declares 1000000 bytes"),
        (lambda d: d[:10] + b"[" + d[11:], r"the header is not the JSON object"),
        (lambda d: d.replace(b'"length": 300', b'"length": 900'), r"field 'uid' holds 2400 bytes, 900 rows need 7200"),
    ],
    ids=["header-size", "header-json", "length"],
)
def test_a_corrupt_csdat_header_is_one_clear_error(tmp_path, patch, message):
    data = csdat_with_strings(tmp_path / "full.cs").read_bytes()
    (tmp_path / "bad.cs").write_bytes(patch(data))
    with pytest.raises(CryodedupError, match=r"bad\.cs: not a readable CryoSPARC dataset.*" + message):
        CsFile.load(tmp_path / "bad.cs")


def test_a_subset_is_written_as_np_save_writes_it_a_chunk_at_a_time(tmp_path, monkeypatch):
    # Issue 29: kept and rejected were each copied whole into memory, then saved. Oracle:
    # np.save of numpy's own fancy indexing, byte for byte, with rows gathered 7 at a time
    # (packed records as CryoSPARC writes them: a shaped field, strings), and no
    # whole-subset copy (take unused).
    dtype = np.dtype([("uid", "<u8"), ("blob/path", "S13"), ("location/micrograph_shape", "<u4", (2,)), ("x", "<f4")])
    rows = np.zeros(100, dtype=dtype)
    rows["uid"] = np.arange(100) * 7 + 3
    rows["blob/path"] = [f"J1/p{k}.mrcs".encode() for k in range(100)]
    rows["location/micrograph_shape"] = np.arange(200).reshape(100, 2)
    rows["x"] = np.linspace(9000, 15000, 100)
    cs = CsFile.load(save_numpy(tmp_path / "in.cs", rows))
    assert isinstance(cs.data, np.memmap)  # read where the page cache holds it, not copied first
    monkeypatch.setattr("cryodedup.formats.cryosparc.dataset.WRITE_CHUNK_BYTES", 7 * dtype.itemsize)
    monkeypatch.setattr(CsFile, "take", lambda *a: pytest.fail("the subset was copied whole"))
    for subset in (np.flatnonzero(np.arange(100) % 3 != 1), np.array([], dtype=np.int64), np.array([99, 0, 5])):
        cs.save_rows(subset, tmp_path / "out.cs")
        assert (tmp_path / "out.cs").read_bytes() == save_numpy(tmp_path / "expected.cs", rows[subset]).read_bytes()
    assert (tmp_path / "in.cs").read_bytes() == save_numpy(tmp_path / "again.cs", rows).read_bytes()  # untouched


def _unique_oracle(values: np.ndarray) -> tuple[np.ndarray, ...]:
    """numpy's numbering of the rows by value: ids, first row, last row and count of each."""
    _, first, ids, counts = np.unique(values, return_index=True, return_inverse=True, return_counts=True)
    last = np.array([np.flatnonzero(ids.ravel() == g)[-1] for g in range(len(first))], dtype=np.int64)
    return ids.ravel(), first, last, counts


@pytest.mark.parametrize("field", ["location/micrograph_uid", "location/micrograph_path", "other"])
def test_rows_are_grouped_by_value_as_numpy_unique_numbers_them(field):
    # Strided fields of a table of records (a 13-byte record: the uids misaligned), keys in
    # any order, paths that differ only past a zero byte or in their length.
    rng = np.random.default_rng(5)
    paths = np.array([b"J2/b.mrc", b"J2/a.mrc", b"J2/a.mrc\x01", b"J2/a", b"J2/\x00a", b"z"], dtype="S9")
    dtype = [("location/micrograph_uid", "<u8"), ("location/micrograph_path", "S9"), ("other", "<i4")]
    rows = np.zeros(500, dtype=np.dtype(dtype, align=False))
    pick = rng.integers(0, len(paths), 500)
    rows["location/micrograph_uid"] = np.array([2**64 - 1, 7, 3, 2**63, 0, 12], dtype=np.uint64)[pick]
    rows["location/micrograph_path"] = paths[pick]
    rows["other"] = pick - 3  # signed ints: numpy's own grouping
    found = key_groups(rows[field])
    for got, want in zip((found.ids, found.first, found.last, found.counts), _unique_oracle(rows[field])):
        np.testing.assert_array_equal(got, want)
    assert len(found) == len(paths)


def test_str_paths_of_a_dataset_are_grouped_by_numpy():
    values = np.array(["J2/b.mrc", "J2/a.mrc", "J2/b.mrc"], dtype=object)
    found = key_groups(values)
    assert found.ids.tolist() == [1, 0, 1] and found.first.tolist() == [1, 0] and found.last.tolist() == [1, 2]


def test_a_repeated_uid_is_named_with_the_most_rows_holding_one(tmp_path):
    rows = np.zeros(6, dtype=MAIN_DTYPE)
    rows["uid"] = [9, 4, 9, 4, 9, 5]  # 4 is the smallest repeated uid; 9 is held by three rows
    np.save(tmp_path / "p.npy", rows)
    (tmp_path / "p.npy").rename(tmp_path / "p.cs")
    with pytest.raises(CryodedupError, match=r"p\.cs: uid 4 is held by 3 rows; each particle has its own uid"):
        CsFile.load(tmp_path / "p.cs")


@pytest.mark.parametrize("record", ["<u8", "S5"], ids=["aligned", "misaligned"])
@pytest.mark.parametrize("pair", [(0, 1), (17, 19_999), (12_000, 3)])
def test_a_repeated_uid_is_found_among_many_wherever_it_is(tmp_path, record, pair):
    # 20,000 uids read where they are, as CryoSPARC's random 64-bit uids (records of 16 bytes)
    # or misaligned (13-byte records: copied first); the oracle is numpy.unique.
    rows = np.zeros(20_000, dtype=np.dtype([("uid", "<u8"), ("other", record)], align=False))
    rows["uid"] = np.random.default_rng(7).integers(1, 2**64 - 1, len(rows), dtype=np.uint64)
    np.save(tmp_path / "p.npy", rows)
    (tmp_path / "p.npy").rename(tmp_path / "p.cs")
    assert len(CsFile.load(tmp_path / "p.cs")) == len(rows)  # no repeat: loaded
    rows["uid"][pair[1]] = rows["uid"][pair[0]]
    np.save(tmp_path / "p.npy", rows)
    (tmp_path / "p.npy").rename(tmp_path / "p.cs")
    values, counts = np.unique(rows["uid"], return_counts=True)
    repeated = values[counts > 1][0]
    with pytest.raises(
        CryodedupError, match=rf"p\.cs: uid {repeated} is held by 2 rows; each particle has its own uid"
    ):
        CsFile.load(tmp_path / "p.cs")
