"""Thresholds that hold: margins of the micrograph screen on sets made like the real one.

The real multi-hole set (52 bin-8 K3 micrographs, 10.96 Å/px, 4 re-exposures at ~89 %
overlap) is not in this repository. ``synthetic.write_reexposure_set`` reproduces what it
showed: true pairs whose Pearson coefficient falls under 0.3 at 30 Å, unrelated neighbours
whose z reaches ~9 and beyond (a camera's fixed pattern). For each seed, the set is screened
with every pair compared at --target-psize 12, 20 and 30; the table gives the true pairs'
weakest z and Pearson, the unrelated pairs' strongest z, the run's z threshold, the joint
scores of the weakest duplicate and the strongest other pair, and what the old fixed rule
(z >= 8 and Pearson >= 0.3) would have decided.

    python benches/bench_thresholds.py --seeds 3
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


def screen(folder: Path, target: float) -> tuple[dict, list[dict]]:
    out = folder / f"out{target:g}"
    command = ["cryodedup", "micrographs", str(folder / "mic_*.mrc"), "-o", str(out), "--force", "--json", "-q"]
    command += ["--target-psize", str(target), "--candidates", "all"]
    summary = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    with open(out / "pairs.csv") as f:
        return summary, list(csv.DictReader(f))


def row(seed: int, target: float, summary: dict, pairs: list[dict], truth: set) -> dict:
    z = np.array([float(p["z"]) for p in pairs])
    r = np.array([float(p["pearson"]) for p in pairs])
    true = np.array([(int(p["index_a"]), int(p["index_b"])) in truth for p in pairs])
    found = np.array([p["duplicate"] == "1" for p in pairs])
    old = (z >= 8) & (np.nan_to_num(r, nan=-1) >= 0.3)
    margin = summary["margin"]
    return {
        "seed": seed,
        "target_A": target,
        "binned_A": summary["binned_pixel_size_A"],
        "true_z_min": round(float(z[true].min()), 1),
        "true_pearson_min": round(float(r[true].min()), 3),
        "other_z_max": round(float(z[~true].max()), 2),
        "z_threshold": summary["thresholds"]["z"],
        "weakest_duplicate": margin["weakest_duplicate"],
        "strongest_other": margin["strongest_other"],
        "margin": margin["ratio"],
        "uncertain": summary["uncertain_pairs"],
        "found": f"{int((found & true).sum())}/{int(true.sum())}",
        "false": int((found & ~true).sum()),
        "old_rule_missed": int((true & ~old).sum()),
        "old_rule_false": int((old & ~true).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--count", type=int, default=52)
    args = parser.parse_args()
    rows = []
    for seed in range(1, args.seeds + 1):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            truth = set(write_reexposure_set(folder, np.random.default_rng(seed), count=args.count))
            for target in (12.0, 20.0, 30.0):
                summary, pairs = screen(folder, target)
                rows.append(row(seed, target, summary, pairs, truth))
                print(" | ".join(str(v) for v in rows[-1].values()), flush=True)
    print("| " + " | ".join(rows[0]) + " |")
    for r in rows:
        print("| " + " | ".join(str(v) for v in r.values()) + " |")


if __name__ == "__main__":
    main()
