"""The core's EPU XML reader (``io/xml_texts.rs``) against ElementTree alone: does the core's parser earn its place?

Two measures, each pair interleaved in the same run:

- the reader: ``read_files`` (the job's reader) of each real EPU data XML in ../shared/data/epu (11 KB and 25 KB),
  1,000 times, with the core's reader and with ElementTree's tree in its place (``TREE``: the
  core's two entry points replaced by ElementTree's parse and the walk the EPU reader made of
  its tree before issue 92, each file read by Python one at a time);
- the job a user waits on: ``cryodedup micrographs --metadata EPU --no-images`` end to end on a
  generated session of about 10,000 EPU XML files of 10 KB (run_all.py's ``metadata`` session,
  20 grid squares), each run a fresh process started the same way, once with the core's reader
  and once with ElementTree's.

The issue's rule (92): the core's parser stays only if it saves at least 5 % of the job's time.

    python benches/bench_epu_parser.py [--squares 20] [--repeat 5] [--workdir OUT]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run_all's session and timers

from run_all import clean, epu_session, in_process, interleaved

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

#: ElementTree in the core's place: its parse and the EPU reader's walk of the tree before issue 92
#: (``_child``: the first child of each local name), giving what the core's two entry points give.
TREE = """
import xml.etree.ElementTree as ET


def _child(node, names):
    for name in names:
        qualified = "}" + name
        for child in node:
            if child.tag == name or child.tag.endswith(qualified):
                node = child
                break
        else:
            return None
    return node


def element_texts(data, root, paths):
    try:
        top = ET.fromstring(data)
    except (ET.ParseError, LookupError) as err:
        raise ValueError(str(err)) from None
    name = top.tag.rsplit("}", 1)[-1]
    nodes = [_child(top, path.split("/")) if name == root else None for path in paths]
    return name, [None if n is None else (n.text or "", len(n) > 0) for n in nodes]


def element_texts_of_files(files, root, paths):
    return [None] * len(files)  # (each file read by Python, then parsed, one at a time)
"""

#: The job, in a fresh interpreter; ``tree``: ElementTree in the core's place.
JOB = f"""
import sys
if sys.argv[1] == "tree":
    from cryodedup import _core
{"".join("    " + line + chr(10) if line else chr(10) for line in TREE.splitlines())}
    _core.element_texts = element_texts
    _core.element_texts_of_files = element_texts_of_files
from cryodedup.cli import main
main(sys.argv[2:])
"""


def without_scan():
    """A context in which ElementTree reads every file in the core's place."""
    from contextlib import ExitStack
    from unittest import mock

    from cryodedup import _core

    tree: dict = {}
    exec(TREE, tree)
    stack = ExitStack()
    stack.enter_context(mock.patch.object(_core, "element_texts", tree["element_texts"]))
    stack.enter_context(mock.patch.object(_core, "element_texts_of_files", tree["element_texts_of_files"]))
    return stack


def reader_rows(files: list[Path], times: int, repeat: int) -> None:
    from cryodedup.formats.microscope import read_files

    def read_epu(path: Path) -> object:
        return read_files([path])[0]

    for path in files:
        expected = read_epu(path)
        with without_scan():
            assert read_epu(path) == expected, "ElementTree and the core's scan read the file differently"

        def core(path: Path = path) -> tuple[float, float]:
            return in_process(lambda: [read_epu(path) for _ in range(times)])

        def tree(path: Path = path) -> tuple[float, float]:
            with without_scan():
                return in_process(lambda: [read_epu(path) for _ in range(times)])

        pair = interleaved(core, tree, repeat)
        size = path.stat().st_size / 1000
        print(
            f"read_files {path.name[:40]} ({size:.0f} KB) x{times}: core scan {pair.wall * 1e6 / times:.0f} µs a file, "
            f"ElementTree {pair.floor_wall * 1e6 / times:.0f} µs; core/tree {pair.ratio:.2f}x"
        )


def job_rows(workdir: Path, squares: int, repeat: int) -> None:
    folder, count = epu_session(workdir, squares)
    out = workdir / "epu_parser_out"
    args = ["micrographs", str(folder / "Movies" / "*.tiff"), "--metadata", str(folder / "EPU")]
    args += ["--no-images", "-q", "--force", "-o", str(out)]

    def job(kind: str) -> tuple[float, float]:
        clean([out])
        subprocess.run(["sync"], check=True)
        start = time.perf_counter()
        cpu = _children_cpu()
        subprocess.run([sys.executable, "-c", JOB, kind, *args], check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start, _children_cpu() - cpu

    job("core")  # (the files into the page cache, the bytecode compiled)
    pair = interleaved(lambda: job("core"), lambda: job("tree"), repeat)
    saved = 1 - pair.ratio
    print(
        f"micrographs --metadata --no-images, {count:,} EPU XML, end to end ({repeat} rounds, medians): "
        f"core scan {pair.ours()}, ElementTree alone {pair.floor_wall:.2f} s (CPU {pair.floor_cpu:.2f} s); "
        f"core/tree {pair.ratio:.2f}x the time (CPU {pair.cpu_ratio:.2f}x): the scan saves {saved:.1%} of the run"
    )
    clean([out])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squares", type=int, default=20, help="grid squares (20: about 10,000 exposures)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--times", type=int, default=1000, help="reads of each real file a round")
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out" / "epu_parser")
    parser.add_argument("--shared", type=Path, default=SHARED, help="the real files (default: ../shared/data)")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    real = sorted((args.shared / "epu").glob("*.xml"))
    if real:
        reader_rows(real, args.times, args.repeat)
    else:
        print(f"(no real EPU files in {args.shared / 'epu'})")
    job_rows(args.workdir, args.squares, args.repeat)
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
