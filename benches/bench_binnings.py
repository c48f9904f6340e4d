"""The micrograph screen at every binning it accepts (issue 54): the safe range of --target-psize.

For each seed, a set made like the real one (``synthetic.write_reexposure_set``: 52 bin-8 K3
micrographs at 10.96 Å, 4 re-exposures; with ``--hard``, one of them damaged as the real set's
fourth and a shared illumination) is screened with every pair compared at --target-psize 8 to
60 Å (and --bin 6, 65.8 Å); with ``--real``, the 52 real micrographs of ../shared/data too, at
12 to 50 Å and --bin 6. Each row: the binned pixel, the true pairs found, the
true pairs missed but marked uncertain, the false ones, the uncertain pairs, the margin and
the verdict.

    python benches/bench_binnings.py --seeds 2 --hard --real
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the data generator: tests/fixtures

from fixtures.synthetic import write_reexposure_set
from helpers import SHARED_DATA

#: --target-psize values (Å), then --bin 6 (65.8 Å for the 10.96 Å micrographs).
SETTINGS = [["--target-psize", str(t)] for t in (8, 12, 22, 33, 40, 45, 50, 60)] + [["--bin", "6"]]
REAL_SETTINGS = [["--target-psize", str(t)] for t in (12, 22, 33, 40, 45, 50)] + [["--bin", "6"]]
#: The real set's re-exposures (CU428_04700..04703 again as 04736..04739).
REAL_TRUTH = {(0, 36), (1, 37), (2, 38), (3, 39)}


def screen(pattern: str, out: Path, setting: list[str]) -> tuple[dict, list[dict]] | str:
    """The run's summary and pairs, or the one line it was refused with."""
    command = ["cryodedup", "micrographs", pattern, "-o", str(out), "--force", "--json", "-q", "--candidates", "all"]
    done = subprocess.run(command + setting, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return done.stderr.strip().splitlines()[-1]
    with open(out / "pairs.csv") as f:
        return json.loads(done.stdout), list(csv.DictReader(f))


def row(label: str, setting: list[str], run: tuple[dict, list[dict]] | str, truth: set) -> dict:
    if isinstance(run, str):
        return {"set": label, "setting": " ".join(setting), "binned_A": "refused: " + run[:60]}
    summary, pairs = run
    true = np.array([(int(p["index_a"]), int(p["index_b"])) in truth for p in pairs])
    found = np.array([p["duplicate"] == "1" for p in pairs])
    uncertain = np.array([p["uncertain"] == "1" for p in pairs])
    verdict = summary.get("verdict", {"trusted": True})
    return {
        "set": label,
        "setting": " ".join(setting),
        "binned_A": summary["binned_pixel_size_A"],
        "found": f"{int((found & true).sum())}/{int(true.sum())}",
        "missed_but_uncertain": int((true & ~found & uncertain).sum()),
        "false": int((found & ~true).sum()),
        "uncertain": summary["uncertain_pairs"],
        "margin": summary["margin"]["ratio"],
        "trusted": verdict["trusted"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--hard", action="store_true", help="one re-exposure damaged 8x, a shared illumination")
    parser.add_argument("--real", action="store_true", help="the 52 real micrographs of ../shared/data too")
    args = parser.parse_args()
    rows = []

    def add(r: dict) -> None:
        rows.append(r)
        print(" | ".join(str(v) for v in r.values()), flush=True)

    hard = {"damages": (3.3, 3.3, 3.3, 8.0), "illumination": 0.03} if args.hard else {}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            truth = set(write_reexposure_set(folder, np.random.default_rng(seed), **hard))
            for setting in SETTINGS:
                add(row(f"seed {seed}", setting, screen(str(folder / "mic_*.mrc"), folder / "out", setting), truth))
    real = SHARED_DATA / "micrographs"
    if args.real and real.is_dir():
        with tempfile.TemporaryDirectory() as tmp:
            for setting in REAL_SETTINGS:
                add(row("real 52", setting, screen(str(real / "*.mrc"), Path(tmp) / "out", setting), REAL_TRUTH))
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for r in rows:
        print("| " + " | ".join(str(v) for v in r.values()) + " |")


if __name__ == "__main__":
    main()
