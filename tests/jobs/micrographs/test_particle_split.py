"""The micrograph job's --particles split: read by the particle readers (micrograph names only),
written by the particle subset writers; each particle goes where its micrograph went.

The oracle is a selection by micrograph name made here from the file's own text (STAR) or
its numpy records (.cs), never the package's reading of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import cryodedup
from cryodedup.formats.micrograph_lists import Micrographs
from cryodedup.formats.particles import open_particle_names
from cryodedup.jobs.micrographs.write import PARTICLE_STEMS, _write_particles
from fixtures.synthetic import cs_particles, write_cs
from helpers import shared_file


def split(particles: Path, mics: Micrographs, keep: np.ndarray, tmp_path: Path, suffix: str):
    """The job's split of ``particles`` into temporary files, as write_results calls it."""
    outdir = tmp_path / "out"
    outputs = [outdir / f"{stem}{suffix}" for stem in PARTICLE_STEMS]
    targets = {path: tmp_path / f"{path.name}.tmp" for path in outputs}
    logged: list[str] = []
    counts = _write_particles(
        open_particle_names(particles), mics, keep, targets, outdir, "auto", lambda line, kind: logged.append(line)
    )
    return targets[outputs[0]], targets[outputs[1]], counts


@pytest.mark.real_data
def test_real_star_without_coordinates_is_split_by_micrograph(tmp_path):
    # cryoDRGN's EMPIAR-10076 subset: rlnImageName, rlnMicrographName, CTF; no coordinate column.
    path = shared_file("star/cryodrgn__empiar_10076_7.star")
    lines = path.read_bytes().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if b"@" in line)
    rows = [line for line in lines[first:] if line.strip()]
    header, tail = b"".join(lines[:first]), b"".join(lines[first + len(rows) :])
    names = [row.split()[1].decode() for row in rows]  # rlnMicrographName is the second column
    micrographs = sorted(set(names), key=names.index)
    rejected_names = set(micrographs[1::3])
    keep = np.array([m not in rejected_names for m in micrographs])
    mics = Micrographs("mrc", micrographs, [Path(f"{m}.mrc") for m in micrographs], 1.0)
    kept, rejected, counts = split(path, mics, keep, tmp_path, ".star")
    expect_rejected = [r for r, n in zip(rows, names) if n in rejected_names]
    expect_kept = [r for r, n in zip(rows, names) if n not in rejected_names]
    assert expect_rejected and expect_kept  # both outputs hold rows
    assert rejected.read_bytes() == header + b"".join(expect_rejected) + tail
    assert kept.read_bytes() == header + b"".join(expect_kept) + tail
    assert (counts.on_kept_micrographs, counts.on_rejected_micrographs) == (
        len(expect_kept),
        len(expect_rejected),
    )


def extract_particles(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """Particles as CryoSPARC's Extract writes them (every slot, micrograph uid and path), on 6 micrographs."""
    records = cs_particles(np.random.default_rng(5), 600, per_mic=100)
    path = tmp_path / "J9_particles.cs"
    write_cs(path, records)
    return path, records


def test_cs_particles_are_split_by_micrograph_path(tmp_path):
    path, records = extract_particles(tmp_path)
    paths = np.unique(records["location/micrograph_path"]).astype(str)
    assert len(paths) >= 4
    rejected_paths = set(paths[::2])
    keep = np.array([p not in rejected_paths for p in paths])
    kept, rejected, counts = split(path, Micrographs("cs", list(paths), [], 1.0), keep, tmp_path, ".cs")
    on_rejected = np.isin(records["location/micrograph_path"].astype(str), list(rejected_paths))
    assert np.array_equal(np.load(rejected), records[on_rejected])
    assert np.array_equal(np.load(kept), records[~on_rejected])
    assert counts.micrograph_matching["mode"] == "auto" and counts.on_rejected_micrographs == on_rejected.sum()


def test_cs_particles_are_split_by_micrograph_uid_when_the_exposures_have_them(tmp_path):
    path, records = extract_particles(tmp_path)
    uids = np.unique(records["location/micrograph_uid"])
    keep = np.arange(len(uids)) % 2 == 0
    mics = Micrographs("cs", [f"exposure_{k}.mrc" for k in range(len(uids))], [], 1.0, uids=uids)
    kept, rejected, counts = split(path, mics, keep, tmp_path, ".cs")
    on_rejected = np.isin(records["location/micrograph_uid"], uids[~keep])
    assert np.array_equal(np.load(rejected), records[on_rejected])
    assert np.array_equal(np.load(kept), records[~on_rejected])
    assert counts.micrograph_matching["used"] == "CryoSPARC uid"


#: Names that reading or writing a particle file takes; the format modules own them (formats/star, formats/cryosparc).
PARTICLE_FILE_WORK = {"StarFile", "Block", "CsFile", "flatten", "as_text", "block_naming_micrographs"}
#: Reading a STAR loop or a dataset's field, writing a dataset's rows.
PARTICLE_FILE_CALLS = {"scan", "save_subset", "save_rows", "column"}


def test_the_micrograph_job_does_not_parse_particle_files_itself():
    job = Path(cryodedup.__file__).parent / "jobs" / "micrographs"
    found = []
    for path in sorted(job.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                found += [
                    f"{path.name}:{node.lineno} imports {a.name}" for a in node.names if a.name in PARTICLE_FILE_WORK
                ]
            elif isinstance(node, ast.Attribute) and node.attr in PARTICLE_FILE_CALLS:
                found.append(f"{path.name}:{node.lineno} .{node.attr}")
        found += [
            f"{path.name} names {f}" for f in ("rlnMicrographName", "location/micrograph_") if f in path.read_text()
        ]
    assert found == []
