"""The metadata-only screen (--no-images) of a generated EPU session of about 5,000 micrographs.

Writes one EPU data XML per exposure (a 3 x 3-hole template per stage stop, 10 grid squares)
and an empty placeholder per movie (the movies are named, never read), then times
`cryodedup micrographs 'Movies/*.tiff' --metadata EPU --no-images`, end to end (the CLI's
start included). The bar: under 5 s.

    python benches/bench_metadata.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the data generator: tests/fixtures

from fixtures.synthetic import multihole_session, write_epu_session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squares", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        session = multihole_session(np.random.default_rng(0), squares=args.squares, stops=(7, 8), reexposures=50)
        write_epu_session(folder / "EPU", session)
        (folder / "Movies").mkdir()
        for e in session:
            (folder / "Movies" / f"{e.name}_fractions.tiff").touch()
        command = ["cryodedup", "micrographs", str(folder / "Movies" / "*.tiff"), "--metadata", str(folder / "EPU")]
        command += ["--no-images", "--json", "-q", "--force", "-o", str(folder / "out")]
        for _ in range(args.repeats):
            started = time.perf_counter()
            summary = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            seconds = time.perf_counter() - started
            print(
                f"{summary['micrographs']} micrographs, {summary['pairs_scored']} pairs, "
                f"{summary['duplicate_pairs']} duplicate pairs (50 planted): {seconds:.2f} s end to end"
            )


if __name__ == "__main__":
    main()
