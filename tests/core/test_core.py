"""The binding crate (cryodedup._core): typed results with named fields, one pixel-type dispatch, stubs that match."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cryodedup import _core
from cryodedup.errors import CryodedupError
from helpers import write_star


def test_star_blocks_have_named_fields(tmp_path):
    path = tmp_path / "p.star"
    lines = ["# version 30001", "", "data_general", "_rlnImageSize 128", "", "data_particles", "", "loop_"]
    lines += ["_rlnCoordinateX #1", "_rlnCoordinateY #2", "1 2", "3 4"]
    path.write_text("".join(line + "\n" for line in lines))
    general, particles = _core.StarFile(str(path)).blocks()
    assert isinstance(general, _core.StarBlock)
    # Worked out by hand from the text above: line numbers are 1-based, offsets in bytes.
    assert (general.name, general.line, general.start, general.labels) == ("general", 3, 17, None)
    assert general.pairs == [("rlnImageSize", "128")] and general.end == particles.start == 49
    assert (particles.name, particles.line, particles.labels) == ("particles", 6, ["rlnCoordinateX", "rlnCoordinateY"])
    assert (particles.rows_start, particles.rows_end, particles.first_row_line) == (109, 117, 11)
    assert path.read_bytes()[particles.rows_start : particles.rows_end] == b"1 2\n3 4\n"
    assert particles.end == path.stat().st_size and particles.pairs == []
    assert "particles" in repr(particles)
    assert (general.index, particles.index) == (0, 1)


def test_the_python_star_reader_holds_the_bindings_blocks_with_their_place(tmp_path):
    """The block's fields are declared once, in the binding: the reader lists its StarBlocks as they are."""
    from cryodedup.formats.star.file import StarFile

    path = write_star(tmp_path / "p.star", ["rlnCoordinateX"], [[1]], block="particles")
    path.write_text("data_optics\n_rlnA 1\n\n" + path.read_text())
    star = StarFile(path)
    assert all(isinstance(b, _core.StarBlock) for b in star.blocks)
    assert [(b.index, b.name) for b in star.blocks] == [(0, "optics"), (1, "particles")]
    listed = list(star.blocks)
    star.refresh_blocks()
    assert [b.index for b in star.blocks] == [0, 1]
    # A block listed again is equal to (and hashes as) the one listed first, as the dataclass did.
    assert star.blocks == listed and {*star.blocks} == {*listed}


def test_a_block_without_loop_has_an_empty_row_span(tmp_path):
    path = write_star(tmp_path / "p.star", ["rlnCoordinateX"], [[1]], block="particles")
    path.write_text("data_only_pairs\n_rlnA 1\n" + path.read_text())
    first = _core.StarFile(str(path)).blocks()[0]
    assert first.labels is None and first.rows_start == first.rows_end == first.end and first.first_row_line == 0


def test_a_scan_has_named_fields(tmp_path):
    path = tmp_path / "p.star"
    lines = ["data_particles", "loop_", "_rlnCoordinateX #1", "_rlnMicrographName #2", "_rlnCoordinateY #3"]
    lines += ["1.5 b.mrc 10", "2 a.mrc -3e1", "4 b.mrc 7"]
    path.write_text("".join(line + "\n" for line in lines))
    raw = _core.StarFile(str(path))
    scan = raw.scan(0, [2, 0], 1)
    assert isinstance(scan, _core.StarScan)
    # By hand: the numbers of columns 2 then 0; key ids in order of first appearance.
    assert [a.tolist() for a in scan.numbers] == [[10.0, -30.0, 7.0], [1.5, 2.0, 4.0]]
    assert scan.keys.dtype == np.uint32 and scan.keys.tolist() == [0, 1, 0]
    assert scan.key_names == ["b.mrc", "a.mrc"]
    assert scan.numbers[0].dtype == np.float64
    # The arrays are handed over, not copied on each access.
    assert scan.keys is scan.keys and scan.numbers[1] is scan.numbers[1]
    without_key = raw.scan(0, [0])
    assert without_key.keys.tolist() == [] and without_key.key_names == []
    assert "3 rows" in repr(scan)


def test_a_broken_star_file_raises_the_package_error_naming_the_file_and_line(tmp_path):
    path = tmp_path / "bad.star"
    path.write_text("data_particles\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n1 2\n3\n")
    # The final exception comes from the binding itself: the Python layer no longer re-wraps it.
    raw = _core.StarFile(str(path))
    with pytest.raises(CryodedupError) as raised:
        raw.scan(0, [0])
    # By hand: the short row is line 6, with 1 field for 2 labels.
    assert str(raised.value) == f"{path}: line 6: row has 1 field, expected 2 (one per column label)"


def test_an_unreadable_star_file_raises_the_package_error(tmp_path):
    with pytest.raises(CryodedupError, match=r"^.*missing\.star: cannot read the file \("):
        _core.StarFile(str(tmp_path / "missing.star"))


def test_a_broken_picker_file_raises_the_package_error_naming_the_file(tmp_path):
    path = tmp_path / "mic.box"
    path.write_text("1 2 3 4\nx 2 3 4\n")
    with pytest.raises(CryodedupError, match=r"mic\.box: line 2: "):
        _core.read_pick_files([str(path)], "whitespace", ["x", "y", "w", "h"], ["x"])


def test_a_caller_mistake_stays_a_plain_value_error():
    with pytest.raises(ValueError) as raised:
        rule = _core.DedupRule(min_dist=1.0, higher_is_better=True, remove_entirely=False, seed=0)
        _core.dedup(np.zeros(1, np.int64), np.zeros((1, 1)), None, rule)
    assert not isinstance(raised.value, CryodedupError)
    assert not hasattr(_core, "StarSyntaxError") and not hasattr(_core, "PickFileError")


def test_pair_scores_have_named_fields():
    rng = np.random.default_rng(1)
    field = rng.normal(size=(96, 96)).astype(np.float32)
    first, shifted = field[:64, :64], field[5:69, 3:67]  # shifted[y][x] == first[y + 5][x + 3]
    unrelated = rng.normal(size=(64, 64)).astype(np.float32)
    bank = _core.SpectrumBank(64, 64, 1, 0.04, 0.25)
    bank.add([0, 1, 2], [np.ascontiguousarray(a) for a in (first, shifted, unrelated)])
    scores = bank.compare(np.array([[0, 1], [0, 2]], dtype=np.int64), 5.0)
    assert isinstance(scores, _core.PairScores)
    assert scores.dy.dtype == scores.dx.dtype == np.int64
    assert (scores.dy[0], scores.dx[0]) == (5, 3)
    assert scores.overlap[0] == pytest.approx(59 * 61 / 64**2)  # the overlap is 59 x 61 of 64 x 64 pixels
    assert scores.z[0] > 10 > scores.z[1] and scores.pearson[0] > 0.9
    assert np.isnan(scores.pearson[1]) and np.isnan(scores.overlap[1])  # z below 5: not computed
    for name in ("z", "dy", "dx", "pearson", "overlap"):
        assert getattr(scores, name) is getattr(scores, name) and len(getattr(scores, name)) == 2
    assert "2 pairs" in repr(scores)


def block_means(image: np.ndarray, b: int) -> np.ndarray:
    """Independent oracle: the mean of each full b x b block, in float64."""
    ny, nx = image.shape[0] // b, image.shape[1] // b
    return image[: ny * b, : nx * b].astype(np.float64).reshape(ny, b, nx, b).mean(axis=(1, 3))


@pytest.mark.parametrize("dtype", ["float32", "float16", "int16", "uint16"])
def test_every_mrc_pixel_type_is_binned_alike(dtype):
    rng = np.random.default_rng(3)
    image = rng.integers(0, 1000, size=(37, 50)).astype(dtype)
    binned = _core.bin_image(image, 4)
    assert binned.dtype == np.float32 and binned.shape == (9, 12)
    np.testing.assert_allclose(binned, block_means(image, 4), rtol=1e-6)


def test_images_binned_together_are_each_binned_as_alone():
    """bin_images (the threads of --update's reading) against the block means of each image."""
    rng = np.random.default_rng(4)
    dtypes = ["float32", "float16", "int16", "uint16"] * 3
    images = [rng.integers(0, 1000, size=(30 + 3 * k, 41 - k)).astype(d) for k, d in enumerate(dtypes)]
    binned = _core.bin_images(images, 3)
    assert len(binned) == len(images)
    for image, out in zip(images, binned):
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, block_means(image, 3), rtol=1e-6)
    assert _core.bin_images([], 2) == []
    with pytest.raises(ValueError, match="image 1 is not a 2-D float32"):
        _core.bin_images([images[0], np.zeros((8, 8))], 2)
    with pytest.raises(ValueError, match="bin must be at least 1"):
        _core.bin_images(images, 0)


@pytest.mark.parametrize("dtype", ["float64", "int32", "uint8", ">f4"])
def test_other_pixel_types_are_refused_by_both_entry_points(dtype):
    image = np.zeros((64, 64), dtype=dtype)
    with pytest.raises(ValueError, match="the image is not a 2-D float32, float16, int16 or uint16 array"):
        _core.bin_image(image, 2)
    bank = _core.SpectrumBank(64, 64, 2, 0.04, 0.25)
    with pytest.raises(ValueError, match="image 7 is not a 2-D float32, float16, int16 or uint16 array"):
        bank.add([7], [image])


def test_spectrum_bank_accepts_mixed_pixel_types_and_checks_shapes():
    rng = np.random.default_rng(5)
    base = rng.integers(0, 1000, size=(64, 64))
    bank = _core.SpectrumBank(64, 64, 2, 0.04, 0.25)
    bank.add([0, 1, 2, 3], [base.astype(t) for t in ("float32", "float16", "int16", "uint16")])
    images = [bank.image(i) for i in range(4)]
    for other in images[1:]:
        np.testing.assert_allclose(other, images[0], atol=1e-5)
    with pytest.raises(ValueError, match=r"image 9 is \[64, 32\], expected \[64, 64\]"):
        bank.add([9], [np.zeros((64, 32), np.float32)])


def test_stub_lists_what_the_extension_has():
    stub = ast.parse((Path(_core.__file__).parent / "_core.pyi").read_text())
    for node in stub.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            assert hasattr(_core, node.name), f"_core.pyi names {node.name}, which the extension lacks"
        if isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, (ast.FunctionDef, ast.AnnAssign)):
                    name = member.name if isinstance(member, ast.FunctionDef) else member.target.id
                    assert hasattr(getattr(_core, node.name), name), f"_core.pyi: {node.name}.{name} is missing"
    public = {n for n in dir(_core) if not n.startswith("_")}
    stubbed = {n.name for n in stub.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    stubbed |= {n.target.id for n in stub.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    assert public <= stubbed, f"not in _core.pyi: {public - stubbed}"


#: mypy.stubtest's allowlist: each entry with its reason, at most ten.
STUBTEST_ALLOWLIST = Path(__file__).with_name("stubtest-allowlist.txt")


def test_stubtest_finds_the_stub_true_to_the_extension():
    # The binding's own signatures (PyO3's __text_signature__) are the oracle: stubtest compares
    # every parameter's name, kind and default, each class's __new__ and finality, and __all__.
    pytest.importorskip("mypy.stubtest", reason="mypy is not installed (the lint extra)")
    entries = [line for line in STUBTEST_ALLOWLIST.read_text().splitlines() if line and not line.startswith("#")]
    assert len(entries) <= 10, f"{STUBTEST_ALLOWLIST.name}: {len(entries)} entries, at most 10"
    command = [sys.executable, "-m", "mypy.stubtest", "cryodedup._core", "--allowlist", str(STUBTEST_ALLOWLIST)]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]


def stub_classes() -> dict[str, ast.ClassDef]:
    stub = ast.parse((Path(_core.__file__).parent / "_core.pyi").read_text())
    return {node.name: node for node in stub.body if isinstance(node, ast.ClassDef)}


def test_stub_lists_every_attribute_of_the_extension_classes():
    stubs = stub_classes()
    classes = [c for c in vars(_core).values() if isinstance(c, type) and not issubclass(c, BaseException)]
    assert {c.__name__ for c in classes} >= {"StarBlock", "StarScan", "StarFile", "PairScores", "SpectrumBank"}
    for cls in classes:
        listed = set()
        for member in stubs[cls.__name__].body:
            if isinstance(member, ast.FunctionDef):
                listed.add(member.name)
            elif isinstance(member, ast.AnnAssign) and isinstance(member.target, ast.Name):
                listed.add(member.target.id)
        public = {name for name in vars(cls) if not name.startswith("_")}
        assert public <= listed, f"_core.pyi: {cls.__name__} lacks {public - listed}"


def test_stub_names_the_typed_results():
    returns = {
        (cls.name, fn.name): ast.unparse(fn.returns)
        for cls in stub_classes().values()
        for fn in cls.body
        if isinstance(fn, ast.FunctionDef) and fn.returns is not None
    }
    assert returns[("StarFile", "scan")] == "StarScan"
    assert returns[("StarFile", "blocks")] == "list[StarBlock]"
    assert returns[("SpectrumBank", "compare")] == "PairScores"


def _tuples_of_more_than_two(annotation: ast.expr | None) -> list[str]:
    """The ``tuple[...]`` of more than two values (or a bare ``tuple``) in an annotation."""
    nodes = list(ast.walk(annotation)) if annotation is not None else []
    subscripted = {id(n.value) for n in nodes if isinstance(n, ast.Subscript)}
    found = []
    for node in nodes:
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "tuple":
            values = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if len(values) > 2 or any(isinstance(v, ast.Constant) and v.value is Ellipsis for v in values):
                found.append(ast.unparse(node))
        elif isinstance(node, ast.Name) and node.id == "tuple" and id(node) not in subscripted:
            found.append("tuple")
    return found


def test_no_tuple_of_more_than_two_values_crosses_the_binding():
    stub = ast.parse((Path(_core.__file__).parent / "_core.pyi").read_text())
    bad = []
    for node in ast.walk(stub):
        if isinstance(node, ast.FunctionDef):
            args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            for annotation in [node.returns, *(a.annotation for a in args)]:
                bad += [f"{node.name}: {t}" for t in _tuples_of_more_than_two(annotation)]
        elif isinstance(node, ast.AnnAssign):
            bad += [f"{ast.unparse(node.target)}: {t}" for t in _tuples_of_more_than_two(node.annotation)]
    assert bad == []


def test_dedup_takes_a_rule_and_returns_a_named_decision():
    # By hand: within 10 Å, (0, 0) scored 1 loses to (5, 0) scored 2; (100, 0) is alone.
    coords = np.array([[0.0, 0.0], [5.0, 0.0], [100.0, 0.0]])
    rule = _core.DedupRule(min_dist=10.0, higher_is_better=True, remove_entirely=False, seed=0)
    decision = _core.dedup(np.zeros(3, np.uint32), coords, np.array([1.0, 2.0, 0.0]), rule, np.zeros(3, np.uint32))
    assert isinstance(decision, _core.DedupDecision)
    assert repr(rule) == "DedupRule(min_dist=10.0, higher_is_better=True, remove_entirely=False, seed=0)"
    most = _core.DedupRule(
        min_dist=1.0, higher_is_better=True, remove_entirely=False, seed=0, selection="most-particles"
    )
    assert repr(most).endswith("seed=0, selection='most-particles')")
    with pytest.raises(ValueError, match="selection is greedy, best-score or most-particles"):
        _core.DedupRule(min_dist=1.0, higher_is_better=True, remove_entirely=False, seed=0, selection="best")
    assert decision.keep.tolist() == [False, True, True] and decision.suppressed_by.tolist() == [1, -1, -1]
    assert decision.masks.tolist() == [1, 1, 1]  # input 0 picked near each
    poses = np.array([[0.0, 0.0, 0.0], [0.0, 90.0, 0.0], [0.0, 0.0, 0.0]])
    turned = _core.dedup(
        np.zeros(3, np.int64), coords, None, rule, want_suppressed_by=False, pose=_core.PoseRule(poses, max_angle=30)
    )
    assert turned.keep.tolist() == [True, True, True] and turned.suppressed_by is None and turned.masks is None
    with pytest.raises(ValueError, match="expected C1, Cn"):
        _core.PoseRule(poses, sym="X7")
    with pytest.raises(ValueError, match="CryoSPARC's setting of it is not established"):
        _core.PoseRule(poses, sym="T", convention="cryosparc")
    with pytest.raises(ValueError, match="convention is relion or cryosparc"):
        _core.PoseRule(poses, sym="T", convention="scipy")


def test_agreement_counts_are_named_and_shaped():
    # By hand: micrograph 0 holds one pick of input 0 confirmed by input 1, and one of input 1.
    counts = _core.agreement_counts(
        np.zeros(2, np.uint32), np.array([0, 1], np.uint32), np.array([0b11, 0b10], np.uint64), None, 1, 2
    )
    assert isinstance(counts, _core.AgreementCounts)
    assert counts.size.tolist() == [[1, 1]] and counts.matched.shape == (1, 2, 2)
    assert counts.matched[0, 0, 1] == 1 and counts.per_input.shape == (2, 3)


def test_picker_files_come_back_as_named_tables_and_join_as_named_picks(tmp_path):
    first, second = tmp_path / "a.box", tmp_path / "b.box"
    first.write_text("10 20 4 4\n30 40 4 4\n")
    second.write_text("5 6 4 4\n")
    tables = _core.read_pick_files([str(first), str(second)], "whitespace", ["x", "y", "w", "h"], ["x", "y"])
    assert isinstance(tables, _core.PickTables) and all(isinstance(f, _core.PickFile) for f in tables.files)
    assert [f.rows for f in tables.files] == [2, 1] and tables.files[0].header == b""
    assert tables.numbers.tolist() == [[10, 20], [30, 40], [5, 6]]
    # By hand: the byte spans of each row in its file.
    assert tables.starts.tolist() == [0, 10, 0] and tables.ends.tolist() == [10, 20, 8]
    inputs = [
        _core.PickInput(np.array([0, 0], np.int32), np.array([1], np.uint32), tables.numbers[:2]),
        _core.PickInput(np.array([0], np.int32), np.array([0], np.uint32), tables.numbers[2:]),
    ]
    joined = _core.join_picks(inputs, np.array([2.0, 0.5]))
    assert isinstance(joined, _core.JoinedPicks) and joined.scores is None
    assert joined.groups.tolist() == [1, 1, 0] and joined.input_of.tolist() == [0, 0, 1]
    assert joined.centres.tolist() == [[5, 10], [15, 20], [10, 12]]  # pixels times each micrograph's size
    out = tmp_path / "out.box"
    _core.write_pick_rows(
        [_core.PickOutput(str(out), b"# head\n", b"")],
        np.array([0, 1, 0], np.uint32),
        [str(first), str(second)],
        [np.array([0, 0, 1], np.uint32)],
        [tables.starts],
        [tables.ends],
    )
    assert out.read_text() == "# head\n10 20 4 4\n5 6 4 4\n"


def test_a_particle_scan_takes_named_columns_pixel_sizes_and_split_rule(tmp_path):
    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnAutopickFigureOfMerit"]
    path = write_star(tmp_path / "p.star", labels, [[0, 0, "a", 1], [2, 0, "a", 2], [100, 0, "a", 0]], block="p")
    kept, rejected = tmp_path / "kept", tmp_path / "rejected"
    kept.write_text("")
    rejected.write_text("")
    raw = _core.StarFile(str(path))
    columns = _core.ParticleColumns(key=2, coords=[0, 1], origins=[None, None], score=3)
    rule = _core.DedupRule(min_dist=10.0, higher_is_better=True, remove_entirely=False, seed=0)
    split = _core.SplitRule(rule, kept=kept, rejected=rejected)
    assert (split.kept, split.rejected, split.rule.min_dist) == (kept, rejected, 10.0)
    block = len(raw.blocks()) - 1
    scan = raw.scan_particles(block, columns, _core.PixelSizes.constant(2.0), split)
    # By hand: centres times 2 Å; the first row is within 10 Å of the better second.
    assert scan.centres.tolist() == [0, 0, 4, 0, 200, 0] and scan.keep.tolist() == [False, True, True]
    raw.finish_split()  # (the writer may still be writing when the scan returns)
    raw.finish_split()  # nothing left to wait for: no error
    rows = [line for line in path.read_text().splitlines() if line][-3:]
    assert kept.read_text().splitlines() == rows[1:] and rejected.read_text().splitlines() == rows[:1]
    assert _core.PixelSizes.by_micrograph({"a": 1.0}).source == "micrograph"
    by_group = _core.PixelSizes.by_optics_group("rlnNoSuchColumn", [(1.0, 1.0)])
    with pytest.raises(ValueError, match="no column rlnNoSuchColumn"):
        raw.scan_particles(block, columns, by_group)


def test_a_spectrum_bank_names_what_it_lacks():
    # The store and the maker live in the core now; their checks reach Python unchanged.
    with pytest.raises(ValueError, match="binning 32 x 32 by 8 leaves less than 8 x 8 pixels"):
        _core.SpectrumBank(32, 32, 8, 0.04, 0.25)
    bank = _core.SpectrumBank(64, 64, 1, 0.04, 0.25)
    bank.add([0], [np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)])
    with pytest.raises(ValueError, match="no spectrum for image 3"):
        bank.compare(np.array([[0, 3]], dtype=np.int64))
    bank.discard([0])
    with pytest.raises(ValueError, match="no image 0"):
        bank.image(0)


def _band_weight(f: np.ndarray, highpass: float, lowpass: float) -> np.ndarray:
    """1 between highpass and lowpass, a cosine to 0 over a factor of 1.5 beyond each."""

    def ramp(t):
        return 0.5 - 0.5 * np.cos(np.pi * np.clip(t, 0, 1))

    low = np.where(f >= highpass, 1.0, ramp((f - highpass / 1.5) / (highpass - highpass / 1.5)))
    high = np.where(f <= lowpass, 1.0, ramp((lowpass * 1.5 - f) / (lowpass * 1.5 - lowpass)))
    return low * high


def _phase_spectrum(image: np.ndarray, highpass: float, lowpass: float, shape: tuple[int, int]) -> np.ndarray:
    """docs/design.md section 4 in numpy: mean removed, Tukey taper (8 % per edge), zero
    padding to ``shape``, whitened and band-weighted half spectrum."""
    ny, nx = image.shape

    def tukey(n):
        d = np.minimum(np.arange(n) + 0.5, n - np.arange(n) - 0.5)
        edge = max(n * 0.08, 1.0)
        return np.where(d >= edge, 1.0, 0.5 - 0.5 * np.cos(np.pi * d / edge))

    padded = np.zeros(shape)
    padded[:ny, :nx] = (image - image.mean()) * tukey(ny)[:, None] * tukey(nx)[None, :]
    freq = np.fft.rfft2(padded)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(padded.shape[0]), np.fft.rfftfreq(padded.shape[1]), indexing="ij"))
    magnitude = np.abs(freq)
    return np.where(magnitude > 0, freq / np.where(magnitude > 0, magnitude, 1), 0) * _band_weight(f, highpass, lowpass)


# 120 x 170 is padded to 128 x 192; K3 micrographs binned to 12 Å (292 x 411) lose 2 rows at
# each edge to reach 288 x 432 (docs/design.md section 4).
@pytest.mark.parametrize(
    "ny, nx, geometry", [(120, 170, ((0, 0, 120, 170), (128, 192))), (292, 411, ((2, 13, 288, 384), (288, 384)))]
)
def test_pair_scores_equal_the_full_resolution_correlation_map_in_numpy(ny, nx, geometry):
    # The oracle: the whole phase-correlation map at full sampling (float64 numpy), its peak
    # in standard deviations and the peak's place, for planted second exposures of known
    # shift and for unrelated images; the core must agree on every pair, duplicate or not.
    from fixtures.synthetic import specimen_field

    rng = np.random.default_rng(11)
    highpass, lowpass = 1 / 25, 1 / 4
    field = specimen_field(rng, ny + 80, nx + 80, 12.0)
    shifts = [(0, 0), (9, -14), (-21, 30), (35, 12)]
    images = []
    for dy, dx in shifts:
        window = field[40 + dy : 40 + dy + ny, 40 + dx : 40 + dx + nx]
        images.append((window + 0.4 * rng.standard_normal((ny, nx))).astype(np.float32))
    for _ in range(4):
        images.append((specimen_field(rng, ny, nx, 12.0) + 0.4 * rng.standard_normal((ny, nx))).astype(np.float32))
    bank = _core.SpectrumBank(ny, nx, 1, highpass, lowpass)
    (y0, x0, height, width), shape = geometry
    got = bank.geometry
    assert isinstance(got, _core.Geometry)
    assert (got.y0, got.x0, got.height, got.width, (got.fft_height, got.fft_width)) == (y0, x0, height, width, shape)
    bank.add(list(range(len(images))), images)
    pairs = np.array([(a, b) for a in range(len(images)) for b in range(a + 1, len(images))], dtype=np.int64)
    scores = bank.compare(pairs, 5.0)
    windows = [im[y0 : y0 + height, x0 : x0 + width].astype(np.float64) for im in images]
    spectra = [_phase_spectrum(w, highpass, lowpass, shape) for w in windows]
    for k, (a, b) in enumerate(pairs):
        cmap = np.fft.irfft2(spectra[a] * np.conj(spectra[b]), s=shape)
        peak = np.unravel_index(np.argmax(cmap), cmap.shape)
        z = (cmap.max() - cmap.mean()) / cmap.std()
        assert scores.z[k] == pytest.approx(z, rel=1e-3), (a, b)
        # The shift is the peak's place, or one of its aliases (chosen by the Pearson coefficient).
        assert (scores.dy[k] % shape[0], scores.dx[k] % shape[1]) == peak, (a, b)
        if b < len(shifts):  # a planted second exposure: the known shift, to the pixel
            assert abs(scores.dy[k] - (shifts[b][0] - shifts[a][0])) <= 1, (a, b)
            assert abs(scores.dx[k] - (shifts[b][1] - shifts[a][1])) <= 1, (a, b)
            # The pair overlapping least (rows 56 apart of 120) sits near z 7-8, depending on
            # where the FFT size samples its peak (8.2 at 120 x 180, 7.3 at 128 x 192).
            assert z > 7
        else:
            assert z < 6
