"""SIGKILL at each rename of a particle shard and of ``particles-merge`` (``shard_kill_sweep.py``; issue 90).

After each kill, a merge at once refuses in one line or writes the uninterrupted run's outputs,
and the command run again as advised ends with the shards and merge of the uninterrupted run,
byte for byte (a shard's record but where and how long it ran), nothing temporary left.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import shard_kill_sweep


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (apt-get install strace)")
def test_a_kill_at_each_rename_of_a_shard_or_merge_is_finished_by_the_command_again(tmp_path: Path) -> None:
    counts, failed = shard_kill_sweep.sweep(tmp_path, log=lambda line: None)
    assert counts["shard renames"] >= 2 and counts["merge renames"] >= 3, counts
    assert not failed, "\n".join(failed)
