"""Fuzz target: a micrograph shard's files as ``micrographs-merge`` reads them.

``jobs.micrographs.shards``: ``shard.json`` checked by ``shard_state``, the run's options,
the plan, ``pairs.npz`` by ``load_pairs``, and the shards' scores combined.

The bytes are ``shard.json``, then ``pairs.npz`` after ``SEPARATOR``, written on tmpfs in a
folder ``shard-1-of-1``. The text ``"@BYTES@"`` and ``@SHA256@`` in ``shard.json`` are
replaced by the size and digest of ``pairs.npz`` (as the shard records them), so that the
fuzzer reaches the reading of an edited ``pairs.npz`` (a digest is not found by mutation).
The micrographs of the run are not read (the merge reads them again from the inputs).

The same two files are also a particle shard's ``shard.json`` and ``decision.npz``
(``jobs.particles.shards``: ``shard_state``, then the run's options as ``particles-merge``
takes them, ``options_of``); both records are checked by ``jobs.shard_json``.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import numpy as np
from _harness import main

from cryodedup.errors import CryodedupError
from cryodedup.jobs import shard_json
from cryodedup.jobs.micrographs import shards
from cryodedup.jobs.micrographs.score import combine_shards
from cryodedup.jobs.particles import shard_record as particle_record
from cryodedup.jobs.particles import shards as particle_shards

MODULES = [
    "cryodedup.jobs.micrographs.shards",
    "cryodedup.jobs.micrographs.shard_record",
    "cryodedup.jobs.micrographs.score",
    "cryodedup.jobs.shard_json",
    "cryodedup.jobs.particles.shard_record",
    "cryodedup.options",
]
SEPARATOR = b"\n%%\n"


def check(data: bytes, scratch: Path) -> None:
    """Reads ``data`` as the module says and asserts what is read."""
    marker, pairs_bytes = [*data.split(SEPARATOR, 1), b""][:2]
    marker = marker.replace(b'"@BYTES@"', str(len(pairs_bytes)).encode())
    marker = marker.replace(b"@SHA256@", hashlib.sha256(pairs_bytes).hexdigest().encode())
    folder = scratch / "shard-1-of-1"
    folder.mkdir(exist_ok=True)
    (folder / shards.PAIRS).write_bytes(pairs_bytes)
    (folder / shards.MARKER).write_bytes(marker)
    with contextlib.suppress(CryodedupError):  # (a correct answer: the micrograph shard's reading follows)
        _particle_shard(marker, pairs_bytes, scratch)

    # As merge_micrograph_shards reads a shard, up to reading the micrographs again.
    ((_, record),) = shards._complete_shards([folder])
    run = record.run
    rules = shards._run_plan(folder, run, plot=False, plot_pairs=12)
    plan = record.plan.scoring_plan(run.files)
    scores = shards._scores_of(folder, record)
    combined = combine_shards(plan, [scores])

    m = len(run.micrographs)
    assert record.shard == record.shards == 1 and len(run.files) == m
    positions = plan.positions
    assert len(set(positions.tolist())) == len(positions) and ((positions >= 0) & (positions < m)).all()
    assert plan.layouts is None or len(plan.layouts) == len(positions)
    n = len(combined.z)
    assert combined.pairs.shape == (n, 2) and ((combined.pairs >= 0) & (combined.pairs < m)).all()
    assert all(getattr(combined, name).shape == (n,) for name in shards.PAIR_ARRAYS[1:])
    scoring, decision = rules.scoring, rules.decision
    assert scoring.candidates.window >= 1 and -1 <= decision.min_pearson <= 1 and np.isfinite(decision.min_z)
    assert plan.reach >= 0


def _particle_shard(marker: bytes, decision: bytes, scratch: Path) -> None:
    """The bytes as a particle shard's files, read as ``merge_particle_shards`` reads them up to the options."""
    folder = scratch / "particles" / "shard-1-of-1"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / particle_shards.DECISION).write_bytes(decision)
    (folder / shard_json.MARKER).write_bytes(marker)
    states = shard_json.complete_shards([folder], particle_shards.shard_state, particle_shards._not_of_one_run)
    ((_, record),) = states
    options = particle_record.options_of(record.run, False, 12, folder / shard_json.MARKER)
    assert record.shard == record.shards == 1 and not options.plot and options.plot_mics == 12


if __name__ == "__main__":
    main(check, MODULES)
