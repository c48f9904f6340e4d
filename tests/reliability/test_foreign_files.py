"""Every reader of a small foreign file, handed each kind of file it must not trust (issue 77): one line each.

The table is (reader, kind) -> the one-line message, written out by hand from the kind
(foreign_kinds.MESSAGES): a FIFO, a link to /dev/zero, a file in a folder the user cannot
read, 3.4 GB where the format is small, JSON nested 3,000 deep. Before issue 77 the audit's
job.json hung on a FIFO, ran out of memory on /dev/zero and raised RecursionError on deep
JSON, and a RELION job folder the user could not read was a PermissionError traceback; the
audit rows check that the damaged job is named in one line and the rest audited, as the
fixtures' own documentation says they are (tests/fixtures/*_project.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from foreign_kinds import KINDS, MESSAGES, hostile, job_json, make

from cryodedup.errors import CryodedupError


@dataclass(frozen=True)
class Reader:
    """A reader of one format: where its file lies, what it should be, its cap as said, a good file, how it is read."""

    name: str
    file: str
    what: str
    cap: str
    good: bytes
    read: Callable[[Path], object]
    json: bool = False
    kinds: tuple[str, ...] = KINDS


def _job_document(path: Path) -> object:
    from cryodedup.formats.cryosparc.jobs import read_job_document

    return read_job_document(path)


def _csg(path: Path) -> object:
    from cryodedup.formats.cryosparc.dataset import CsGroup

    return CsGroup.load(path)


def _pipeline(path: Path) -> object:
    from cryodedup.formats.star.pipeline import read_pipeline

    return read_pipeline(path)


def _picks(path: Path) -> object:
    from cryodedup.formats.picks import read_picks

    return read_picks(path)


def _metadata(path: Path) -> object:
    from cryodedup.formats.microscope import read_metadata

    return read_metadata([path])


def _navigator(path: Path) -> object:
    from cryodedup.formats.navigator import read_nav

    return read_nav(path)


def _coords_suffix(path: Path) -> object:
    from cryodedup.formats.picks.relion import job_micrographs_named

    return job_micrographs_named(path)


def _table_map(path: Path) -> object:
    from cryodedup.formats.dynamo import read_table_map

    return read_table_map(path)


def _relion_generation(path: Path) -> object:
    from cryodedup.pipelines.relion_external import relion_generation

    return relion_generation(path.parent)


def _shard(path: Path) -> object:
    from cryodedup.jobs.micrographs.shards import shard_state

    record, why = shard_state(path.parent)
    assert record is None
    raise CryodedupError(why)


PIPELINE = b"data_pipeline_processes\nloop_\n_rlnPipeLineProcessName\n_rlnPipeLineProcessAlias\n"
PIPELINE += b"_rlnPipeLineProcessType\n_rlnPipeLineProcessStatus\nImport/job001/ None 0 2\n"
EPU = b"<MicroscopeImage><microscopeData /></MicroscopeImage>"
MDOC = b"PixelSpacing = 1.0\n[ZValue = 0]\nStagePosition = 1 2\n"
TEXTUAL = tuple(k for k in KINDS if k != "deep")

READERS = [
    Reader("CryoSPARC job.json", "J1/job.json", "a CryoSPARC job.json", "64 MB", job_json(), _job_document, True),
    Reader("CryoSPARC .csg", "J1/J1_particles.csg", "a CryoSPARC .csg file", "64 MB", b"results: {}\n", _csg),
    Reader("RELION pipeline", "default_pipeline.star", "RELION's default_pipeline.star", "64 MB", PIPELINE, _pipeline),
    Reader(
        "EMAN2 _info.json",
        "info/mic1_info.json",
        "an EMAN2 _info.json",
        "64 MB",
        b'{"boxes": [[1, 2, "manual"]]}',
        _picks,
        True,
    ),
    Reader("EPU .xml", "FoilHole_1_Data_2_3.xml", "an EPU .xml or a SerialEM .mdoc", "64 MB", EPU, _metadata),
    Reader("SerialEM .mdoc", "ts.mdoc", "an EPU .xml or a SerialEM .mdoc", "64 MB", MDOC, _metadata),
    Reader("SerialEM .nav", "a.nav", "a SerialEM Navigator .nav", "1.1 GB", b"AdocVersion = 2.00\n", _navigator),
    Reader(
        "RELION 3 coords_suffix",
        "AutoPick/job006/coords_suffix_autopick.star",
        "a RELION 3 coords_suffix file (one line naming a micrographs STAR)",
        "1 MB",
        b"CtfFind/job003/micrographs_ctf.star\n",
        _coords_suffix,
    ),
    Reader(
        "Dynamo table map",
        "map.doc",
        "a Dynamo table map (.doc) or volume list (.vll)",
        "64 MB",
        b"1 tomo1.mrc\n",
        _table_map,
    ),
    # (a job.star that cannot be looked at is taken for none: the job's own folder, which RELION made)
    Reader(
        "RELION job.star",
        "External/job001/job.star",
        "RELION's job.star",
        "64 MB",
        b"data_job\n",
        _relion_generation,
        kinds=(*TEXTUAL[:2], "huge"),
    ),
]


def _cases() -> list[object]:
    return [
        pytest.param(reader, kind, id=f"{reader.name}: {kind}")
        for reader in READERS
        for kind in reader.kinds
        if kind != "deep" or reader.json
    ]


@pytest.mark.parametrize(("reader", "kind"), _cases())
def test_a_reader_refuses_each_kind_of_foreign_file_in_one_line(tmp_path, monkeypatch, reader, kind):
    path = tmp_path / reader.file
    make(kind, path, reader.good, reader.json)
    expected = MESSAGES[kind].format(path=path, what=reader.what, cap=reader.cap)
    with hostile(kind, path, monkeypatch.setattr), pytest.raises(CryodedupError) as raised:
        reader.read(path)
    assert str(raised.value) == expected


def test_a_shard_with_a_foreign_shard_json_is_said_incomplete_and_why(tmp_path, monkeypatch):
    """shard.json of each kind: not complete, and why in the reason (``micrographs-merge`` names the shard)."""
    what = "a cryodedup micrograph shard's shard.json"
    for kind in KINDS:
        path = tmp_path / kind / "shard.json"
        make(kind, path, b'{"format": "?"}', True)
        reason = MESSAGES[kind].format(path=path, what=what, cap="64 MB").split(": ", 1)[1]
        with hostile(kind, path, monkeypatch.setattr), pytest.raises(CryodedupError) as raised:
            _shard(path)
        assert str(raised.value) == f"shard.json cannot be read ({reason})", kind


# --- the audit: the damaged job named in one line, the rest audited ------------------------------------------------

CS_DAMAGE = {
    "params_spec a list": ({"params_spec": ["class2D_window_inner_A"]}, '"params_spec" is a list, expected an object'),
    "params_spec a string": ({"params_spec": "x"}, '"params_spec" is a string, expected an object'),
    "output_results an object": ({"output_results": {}}, '"output_results" is an object, expected a list'),
}


def _cs_audit(tmp_path: Path, monkeypatch, kind: str, damage: Callable[[Path], str]) -> tuple[list[str], dict, str]:
    pytest.importorskip("cryosparc.dataset")
    from cryodedup.jobs.audit.stages import audit_project
    from fixtures.cryosparc_project import write_project

    write_project(tmp_path)
    path = tmp_path / "J5" / "job.json"  # (J5, the template picker: its particles reach J12 through J7 and J11)
    expected = damage(path)
    with hostile(kind, path, monkeypatch.setattr):
        audit = audit_project(tmp_path)
    return audit.lines(), {j.job.name: j.verdict for j in audit.jobs}, expected


def _kind_of_file(kind: str) -> Callable[[Path], str]:
    def damage(path: Path) -> str:
        good = path.read_bytes()
        path.unlink()
        make(kind, path, good, True)
        return MESSAGES[kind].format(path=path, what="a CryoSPARC job.json", cap="64 MB")

    return damage


def _field(change: dict) -> Callable[[Path], str]:
    def damage(path: Path) -> str:
        document = json.loads(path.read_text())
        path.write_text(json.dumps({**document, **change[0]}))
        return f"{path}: {change[1]}"

    return damage


@pytest.mark.parametrize(
    ("kind", "damage"),
    [pytest.param(kind, _kind_of_file(kind), id=kind) for kind in KINDS]
    + [pytest.param(name, _field(change), id=name) for name, change in CS_DAMAGE.items()],
)
def test_the_audit_names_a_damaged_cryosparc_job_json_in_one_line_and_audits_the_rest(
    tmp_path, monkeypatch, kind, damage
):
    lines, verdicts, expected = _cs_audit(tmp_path, monkeypatch, kind, damage)
    assert f"J5: {expected}" in lines
    assert not [line for line in lines if line.startswith("J5") and line != f"J5: {expected}"]
    # As tests/fixtures/cryosparc_project.py plants them: every job audited, the duplicates entered at J12.
    assert set(verdicts) == {f"J{k}" for k in range(1, 16)}
    assert (verdicts["J14"], verdicts["J12"], verdicts["J15"]) == ("redo", "entered", "clean")


@pytest.mark.parametrize("kind", ["folder denied", "fifo", "dev_zero", "huge"])
def test_the_audit_names_an_unreadable_relion_job_folder_or_record_in_one_line_and_audits_the_rest(
    tmp_path, monkeypatch, kind
):
    from cryodedup.jobs.audit.stages import audit_project
    from fixtures.relion_project import write_project

    write_project(tmp_path)
    folder = tmp_path / "Class2D" / "job010"
    path = folder / "job.star"
    if kind == "folder denied":
        expected = "Class2D/job010: the job's folder cannot be read (Permission denied)"
    else:
        good = path.read_bytes()
        path.unlink()
        make(kind, path, good, False)
        expected = "Class2D/job010: " + MESSAGES[kind].format(path=path, what="RELION's job.star", cap="64 MB")
    with hostile(kind, path, monkeypatch.setattr, folder):
        audit = audit_project(tmp_path)
    lines = audit.lines()
    # The damage named first; where the job's particles could still be read, their verdict follows it.
    (line,) = [line for line in lines if line.startswith("Class2D/job010")]
    assert line == expected or line.startswith(f"{expected} (its particles audited all the same); ")
    verdicts = {j.job.name: j.verdict for j in audit.jobs}
    # As tests/fixtures/relion_project.py plants them: the joined set's refinement to redo, the other clean.
    assert len(verdicts) == 21 and (verdicts["Refine3D/job017"], verdicts["Refine3D/job019"]) == ("redo", "clean")


# --- the command line: an input in a folder the user cannot read ---------------------------------------------------


@pytest.mark.parametrize(
    ("job", "name", "text", "more"),
    [
        ("particles", "p.star", None, []),
        ("particles", "m1.box", "10 10 100 100\n", ["--mic-psize", "1"]),
        ("particles", "m1_info.json", '{"boxes": [[1, 2, "manual"]]}', ["--mic-psize", "1"]),
        ("micrographs", "a.mrc", "", []),
    ],
    ids=["STAR", ".box", "_info.json", "micrograph"],
)
def test_an_input_in_a_folder_the_user_cannot_read_is_one_line_naming_it(tmp_path, monkeypatch, job, name, text, more):
    """pathlib's exists() and is_file() raise PermissionError there: it was a traceback from the first look."""
    from click.testing import CliRunner
    from test_hostile_files import two_particles

    from cryodedup.cli import main

    path = tmp_path / "in" / name
    path.parent.mkdir()
    two_particles(path) if text is None else path.write_text(text)
    with hostile("denied", path, monkeypatch.setattr):
        result = CliRunner().invoke(main, [job, str(path), *more, "-o", str(tmp_path / "out")])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and not isinstance(result.exception, OSError), result.exception
    assert lines == [f"Error: {path}: Permission denied (no permission to it, or to a folder on its path)"], lines


def test_brackets_inside_json_strings_do_not_count_as_nesting(tmp_path):
    """The depth bound counts structure only: brackets in strings (escaped quotes among them) are text."""
    from cryodedup.formats.files import read_foreign_json

    path = tmp_path / "job.json"
    text = json.dumps({"uid": "J1", "title": '\\"' + "[{" * 500, "x": [[["]]"]]]})
    path.write_text(text)
    assert read_foreign_json(path, "a CryoSPARC job.json") == json.loads(text)
    path.write_text('{"uid": "J1", "title": "' + "[" * 500)  # (cut inside a string: not JSON, however deep it looks)
    with pytest.raises(
        CryodedupError, match=r"job.json: not valid JSON \(line 1, column 24: Unterminated string starting at\)"
    ):
        read_foreign_json(path, "a CryoSPARC job.json")


@pytest.mark.parametrize("data", [b"\xf5", b"SQLite format 2\x00" + bytes(84), b"not a database at all"])
def test_a_store_that_is_no_sqlite_database_is_damaged_not_absent(tmp_path, data):
    # Before: SQLite reads a file shorter than its header as an empty database, and a store of one byte was taken
    # for none (a full round over a damaged series; the fuzz target of the micrograph store found it).
    from cryodedup.jobs.micrographs.update import DATABASE, STORE, SeenStore
    from cryodedup.jobs.particles.store_open import _load_store

    for folder in (tmp_path / "mics" / STORE, tmp_path / "particles" / "kept_store"):
        folder.mkdir(parents=True)
        (folder / DATABASE).write_bytes(data)
    with pytest.raises(CryodedupError, match=r"store\.sqlite: not an SQLite database .*--update --force"):
        SeenStore.load(tmp_path / "mics" / STORE)
    with pytest.raises(CryodedupError, match=r"store\.sqlite: not an SQLite database .*--update --force"):
        _load_store(tmp_path / "particles" / "kept_store", None)
