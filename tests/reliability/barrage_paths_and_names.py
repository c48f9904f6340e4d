"""The barrage's fourth round (issue 58): paths that lead elsewhere, names that act on a terminal,
FIFOs among --update's arrivals, huge fields under the address-space cap, copick's write-back
stopped or failing, and the Python API's bad input.

Registered into ``barrage.CASES`` by barrage.py. Besides the barrage's columns, each case says
what is right (``expect``, a problem or None), worked out from the case itself:

- paths: nothing appears in (or changes under) the folder a link points to outside the output
  folder, and a link there is refused in one line;
- names: no byte a terminal acts on (C0/C1 controls but line feed and tab) reaches stderr, run
  without ``-q`` so that warnings and the summary are seen, nor the report;
- FIFOs: the run ends (refused in one line, or the FIFO skipped with --skip-unreadable);
- huge fields: one line naming the line, no lock or scratch file left (the barrage's columns);
- copick: after the run the project holds every new pick set or none, and a stopped run's
  line says which; a write refused midway (RLIMIT_FSIZE, a folder where a pick file goes)
  leaves none and says so in one line;
- the API: each bad input is a ValueError or TypeError naming the argument (printed by the
  runner as one ``Error:`` line), never another exception nor a result.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the data generator: tests/fixtures

from barrage_metadata import Expect  # (beside this file, on sys.path as barrage.py runs it)

from fixtures.synthetic import cs_particles, write_cs, write_mrc


@dataclass
class Round4Case:
    """barrage.Case's fields, what the result must be, and how it is run (barrage.Case's issue-58 fields)."""

    kind: str
    name: str
    build: Callable[[Path], list[str]]
    expect: Expect | None = None
    how: dict[str, Any] = field(default_factory=dict)


CASES: list[Round4Case] = []

STAR = (
    "data_optics\nloop_\n_rlnOpticsGroup #1\n_rlnOpticsGroupName #2\n_rlnMicrographPixelSize #3\n1 og1 1.0\n\n"
    "data_particles\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnMicrographName #3\n_rlnOpticsGroup #4\n"
    "_rlnAutopickFigureOfMerit #5\n100 100 m1.mrc 1 0.5\n105 100 m1.mrc 1 0.7\n900 900 m1.mrc 1 0.1\n"
)
BOX = "10 10 100 100\n12 10 100 100\n300 300 100 100\n"


def add(kind: str, name: str, build: Callable[[Path], list[str]], expect: Expect | None = None, **how: Any) -> None:
    CASES.append(Round4Case(kind, name, build, expect, how))


def both(*checks: Expect | None) -> Expect:
    def expect(out: Path, code: int, stderr: str, stdout: str) -> str | None:
        for check in checks:
            problem = check(out, code, stderr, stdout) if check else None
            if problem:
                return problem
        return None

    return expect


def refused(*said: str, status: int = 1) -> Expect:
    """Exit ``status`` (1; 2 for an option's value refused as a usage error), one line holding each of ``said``."""

    def expect(out: Path, code: int, stderr: str, stdout: str) -> str | None:
        lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("Warning: ")]
        if code != status:
            return f"exit {code}, a refusal expected"
        missing = [s for s in said if not any(s in line for line in lines)]
        return f"the line does not say {missing}" if missing else None

    return expect


def succeeded(out: Path, code: int, stderr: str, stdout: str) -> str | None:
    return None if code == 0 else f"exit {code}, a run expected"


# --- paths that lead elsewhere (items 7 and 8) ----------------------------------------------------------------


def nothing_outside(d: Path) -> Expect:
    """Nothing made or changed in ``d/outside`` (a file put there by the case stays as it was)."""

    def expect(out: Path, code: int, stderr: str, stdout: str) -> str | None:
        found = sorted(str(p.relative_to(d / "outside")) for p in (d / "outside").rglob("*"))
        if found != sorted(OUTSIDE_BEFORE.get(str(d), [])):
            return f"written outside the output folder: {found}"
        if (d / "outside" / "victim.txt").exists() and (d / "outside" / "victim.txt").read_text() != "victim\n":
            return "a file outside the output folder was changed"
        return None

    return expect


OUTSIDE_BEFORE: dict[str, list[str]] = {}
PAIRED = {"particles_kept.star": ("particles_kept.star", "particles_rejected.star")}


def _inputs(d: Path, job: str) -> list[str]:
    if job == "particles":
        (d / "in" / "p.star").write_text(STAR)
        return ["particles", str(d / "in" / "p.star")]
    if job == "picker":
        (d / "in" / "picks").mkdir()
        (d / "in" / "picks" / "m1.box").write_text(BOX)
        (d / "in" / "picks" / "m2.box").write_text(BOX)
        return ["particles", str(d / "in" / "picks"), "--mic-psize", "1"]
    rng = np.random.default_rng(0)
    for k in range(3):
        write_mrc(d / "in" / f"mic_{k}.mrc", rng.normal(size=(64, 64)).astype(np.float32), 4.0)
    return ["micrographs", str(d / "in" / "*.mrc"), "--bin", "1", "--accept-untrusted"]


def link_case(job: str, what: str, target: str, *extra: str, refusal: str | None = "symbolic link") -> None:
    """``out/what`` a link to ``target`` (in ``d/outside``: a file, a folder or nothing)."""
    holder: dict[str, Path] = {}

    def build(d: Path) -> list[str]:
        holder["d"] = d
        args = _inputs(d, job)
        (d / "outside").mkdir()
        (d / "outside" / "victim.txt").write_text("victim\n")
        (d / "outside" / "folder").mkdir()
        OUTSIDE_BEFORE[str(d)] = ["folder", "victim.txt"]
        (d / "out").mkdir()
        for name in PAIRED.get(what, (what,)):  # (both of a pair: half of one is what the barrage flags)
            (d / "out" / name).symlink_to(d / "outside" / target)
        return [*args, "-o", str(d / "out"), *extra]

    def expect(out: Path, code: int, stderr: str, stdout: str) -> str | None:
        check = both(nothing_outside(holder["d"]), refused(refusal) if refusal else succeeded)
        return check(out, code, stderr, stdout)

    add("paths", f"{job}: out/{what} -> outside/{target} {' '.join(extra)}".strip(), build, expect)


for job in ("particles", "picker", "micrographs"):
    link_case(job, ".cryodedup.lock", "lockfile")  # dangling
    link_case(job, ".cryodedup.lock", "victim.txt")
    link_case(job, ".cryodedup.lock", "folder")
link_case("picker", "kept", "folder")
link_case("picker", "kept", "folder", "--force")
link_case("picker", "rejected", "folder", "--force")
link_case("picker", "kept", "gone")  # dangling
link_case("picker", "kept", "victim.txt", "--force")
# A link at an output's own name is replaced (renamed over), never written through.
link_case("particles", "particles_kept.star", "victim.txt", "--force", refusal=None)
link_case("particles", "particles_kept.star", "victim.txt", "--force", "--min-dist", "1", refusal=None)
link_case("micrographs", "micrographs_kept.txt", "victim.txt", "--force", refusal=None)
# (not out/seen: a store on another disk through a link is a documented choice: barrage_store.py)
link_case("particles", "report.html", "victim.txt", "--force", "--plot", refusal=None)


def _outdir_link(d: Path) -> list[str]:
    args = _inputs(d, "particles")
    (d / "outside").mkdir()
    OUTSIDE_BEFORE[str(d)] = []
    (d / "link").symlink_to(d / "outside")
    return [*args, "-o", str(d / "link")]


def _written_through_user_link(out: Path, code: int, stderr: str, stdout: str) -> str | None:
    got = sorted(p.name for p in out.resolve().iterdir())
    return None if code == 0 and got == ["particles_kept.star", "particles_rejected.star"] else f"exit {code}, {got}"


add("paths", "particles: -o given as a link (the user's choice)", _outdir_link, _written_through_user_link)


# --- names that act on a terminal (item 9) -------------------------------------------------------------------

PAYLOADS = {
    "OSC title": "\x1b]0;PWNED\x07",
    "clear screen": "\x1b[2J",
    "red": "\x1b[31m",
    "bell": "\x07",
    "backspaces": "\b\b\b\b",
    "carriage return": "\rOK ",
    "DEL": "\x7f",
    "C1 CSI": "\x9b31m",
    "bidi override": "\u202e",
    "ESC c reset": "\x1bc",
}
ACTING = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) not in "\n\t"} | {"\u202e"}


def nothing_acts(out: Path, code: int, stderr: str, stdout: str) -> str | None:
    bad = sorted({repr(ch) for ch in stderr if ch in ACTING})
    if bad:
        return f"stderr holds {', '.join(bad)} raw"
    report = out / "report.html"
    if report.is_file() and any(ch in ACTING for ch in report.read_text(errors="replace")):
        return "report.html holds a control character raw"
    return None


def escape_cases(label: str, payload: str) -> None:
    def missing_input(d: Path) -> list[str]:
        return ["particles", str(d / "in" / f"gone{payload}.star")]

    def picker_names(d: Path) -> list[str]:
        folder = d / "in" / f"picks{payload}"
        folder.mkdir()
        (folder / f"m{payload}1.box").write_text(BOX)
        return ["particles", str(folder), "--mic-psize", "1", "--plot", "-o", str(d / f"out{payload}")]

    def bad_option(d: Path) -> list[str]:
        (d / "in" / "p.star").write_text(STAR)
        return ["particles", str(d / "in" / "p.star"), "--score", f"rln{payload}Score"]

    def micrograph_names(d: Path) -> list[str]:
        rng = np.random.default_rng(0)
        for k in range(3):
            write_mrc(d / "in" / f"m{payload}{k}.mrc", rng.normal(size=(64, 64)).astype(np.float32), 4.0)
        return ["micrographs", str(d / "in" / "*.mrc"), "--bin", "1", "--accept-untrusted"]

    def cs_names(d: Path) -> list[str]:
        records = cs_particles(np.random.default_rng(0), 40)
        records["location/micrograph_path"] = f"J1/m{payload}.mrc".encode("utf-8", "surrogateescape")[:100]
        write_cs(d / "in" / "p.cs", records)
        return ["particles", str(d / "in" / "p.cs"), "--min-support", "3"]

    add("escapes", f"{label}: a missing input's name", missing_input, both(nothing_acts, refused("gone")), quiet=False)
    add("escapes", f"{label}: picker files and -o", picker_names, both(nothing_acts, succeeded), quiet=False)
    add("escapes", f"{label}: --score value", bad_option, both(nothing_acts, refused("score column")), quiet=False)
    # (a line break in a micrograph's name is refused in one line: issue 38's path cases)
    ran = refused("line break") if "\r" in payload else succeeded
    add("escapes", f"{label}: micrograph files", micrograph_names, both(nothing_acts, ran), quiet=False)
    add("escapes", f"{label}: .cs micrograph paths", cs_names, nothing_acts, quiet=False)


for label, payload in PAYLOADS.items():
    escape_cases(label, payload)


# --- FIFOs among --update's arrivals (item 11) ---------------------------------------------------------------


def fifo_case(name: str, fifo: str, *extra: str, expect: Expect | None = None, first: bool = True) -> None:
    def build(d: Path) -> list[str]:
        rng = np.random.default_rng(0)
        (d / "in" / "m").mkdir()
        for k in range(3):
            write_mrc(d / "in" / "m" / f"mic_{k}.mrc", rng.normal(size=(64, 64)).astype(np.float32), 4.0)
        args = [
            "micrographs",
            str(d / "in" / "m" / "*.mrc"),
            "--bin",
            "1",
            "--accept-untrusted",
            "--update",
            "-o",
            str(d / "out"),
        ]
        if first:
            import subprocess

            subprocess.run([sys.executable, "-m", "cryodedup", *args, "-q"], check=True)
        os.mkfifo(d / "in" / "m" / fifo)
        return [*args, *extra]

    add("FIFOs", name, build, expect, shared_folder=first)


fifo_case("a FIFO arriving, --update", "mic_9.mrc", expect=refused("FIFO"))
fifo_case("a FIFO arriving, --update --skip-unreadable", "mic_9.mrc", "--skip-unreadable", expect=succeeded)
fifo_case("a FIFO in the first round, --update", "mic_9.mrc", expect=refused("FIFO"), first=False)
fifo_case("a FIFO first, --update --skip-unreadable", "mic_9.mrc", "--skip-unreadable", expect=succeeded, first=False)
fifo_case("a FIFO arriving, --watch, idle 0.05 min", "mic_9.mrc", "--watch", "1", "--watch-idle", "0.05")
fifo_case(
    "a FIFO arriving, --watch --skip-unreadable",
    "mic_9.mrc",
    "--watch",
    "1",
    "--watch-idle",
    "0.05",
    "--skip-unreadable",
)
fifo_case("a FIFO named .MRC arriving, --update", "MIC_8.MRC")


def _fifo_lock(d: Path) -> list[str]:
    args = _inputs(d, "particles")
    (d / "out").mkdir()
    os.mkfifo(d / "out" / ".cryodedup.lock")
    return [*args, "-o", str(d / "out")]


def _fifo_output(d: Path) -> list[str]:
    args = _inputs(d, "particles")
    (d / "out").mkdir()
    os.mkfifo(d / "out" / "particles_kept.star")
    os.mkfifo(d / "out" / "particles_rejected.star")  # (both: half of a pair is what the barrage flags)
    return [*args, "-o", str(d / "out"), "--force"]


def _fifo_kept_folder(d: Path) -> list[str]:
    args = _inputs(d, "picker")
    (d / "out").mkdir()
    os.mkfifo(d / "out" / "kept")
    return [*args, "-o", str(d / "out"), "--force"]


add("FIFOs", "a FIFO named like the lock", _fifo_lock)
add("FIFOs", "a FIFO named like an output, --force", _fifo_output)
add("FIFOs", "a FIFO where out/kept goes, --force", _fifo_kept_folder)


# --- huge fields under the address-space cap (item 12) -------------------------------------------------------

HEAD = "data_particles\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnMicrographName #3\n"


def _write_huge(path: Path, before: str, size: int, after: str) -> None:
    with open(path, "w") as f:
        f.write(before)
        chunk = "a" * (1 << 20)
        for _ in range(size >> 20):
            f.write(chunk)
        f.write(after)


def huge_case(name: str, size: int, job: str, before: str, after: str, *extra: str, said: str = "at most") -> None:
    def build(d: Path) -> list[str]:
        path = d / "in" / "h.star"
        _write_huge(path, before, size, after)
        return [job, str(path), *extra]

    add("huge fields", name, build, refused(said))


GB, MB200 = 1 << 30, 200 << 20
huge_case("a 1 GB micrograph name", GB, "particles", HEAD + "1 2 m\n3 4 ", "\n", "--mic-psize", "1")
huge_case("a 1 GB column label", GB, "particles", HEAD + "_", " #4\n1 2 m 3\n", "--mic-psize", "1")
huge_case("a 200 MB micrograph name", MB200, "particles", HEAD + "1 2 ", "\n", "--mic-psize", "1")
huge_case("a 200 MB block name", MB200, "particles", "data_", "\n" + HEAD[15:] + "1 2 m\n", "--mic-psize", "1")
huge_case(
    "a 200 MB name in a micrographs STAR",
    MB200,
    "micrographs",
    "data_micrographs\nloop_\n_rlnMicrographName\n",
    "\n",
    said="",
)
huge_case("a 200 MB label in a micrographs STAR", MB200, "micrographs", "data_micrographs\nloop_\n_", "\nm.mrc\n")
huge_case(
    "a 200 MB value of a key-value block", MB200, "particles", "data_general\n_rlnNote ", "\n\n" + HEAD + "1 2 m\n"
)


# --- copick: the write-back stopped or failing (item 10), hostile projects (item 13) -------------------------


def _copick_available() -> bool:
    try:
        import copick  # noqa: F401
    except ImportError:
        return False
    return True


def make_project(folder: Path, runs: int, points: int, big_run: int | None = None) -> Path:
    """A project of ``runs`` runs, two objects, two users' picks (``points`` each; ``big_run`` 50 times more)."""
    from cryodedup.formats.copick import root_logger_kept

    with root_logger_kept():
        import copick
        from copick.models import CopickLocation, CopickPoint, PickableObject

        config = folder / "copick_config.json"
        objects = [
            PickableObject(name=n, is_particle=True, radius=r, label=k + 1)
            for k, (n, r) in enumerate((("apo", 60.0), ("ribo", 150.0)))
        ]
        root = copick.new_config(str(config), str(folder / "overlay"), pickable_objects=objects)
        rng = np.random.default_rng(runs)
        for r in range(runs):
            run = root.new_run(f"TS_{r:03d}")
            n = points * (50 if r == big_run else 1)
            for obj in ("apo", "ribo"):
                for user in ("alice", "bob"):
                    picks = run.new_picks(object_name=obj, session_id="1", user_id=user)
                    centres = rng.uniform(0, 4000, (n, 3))
                    picks.points = [
                        CopickPoint(location=CopickLocation(x=c[0], y=c[1], z=c[2]), score=0.5) for c in centres
                    ]
                    picks.store()
    return config


def written_sets(project: Path, user: str = "cryodedup") -> list[str]:
    return sorted(str(p.relative_to(project)) for p in project.rglob(f"{user}_0_*.json") if p.is_file())


def all_or_none(project: Path, runs: int, user: str = "cryodedup") -> Expect:
    """Every new pick set (runs x 2 objects) or none; none when the run failed or said the previous outputs stay."""

    def expect(out: Path, code: int, stderr: str, stdout: str) -> str | None:
        found = written_sets(project, user)
        temporary = [str(p) for p in project.rglob("*.tmp")]
        if temporary:
            return f"temporary files left in the project: {temporary[:2]}"
        if len(found) not in (0, 2 * runs):
            return f"{len(found)} of {2 * runs} pick sets in the project"
        if found and (code == 1 or "previous outputs (if any) are unchanged" in stderr):
            return f"{len(found)} pick sets left, while the run said none was written (exit {code})"
        if code == 0 and not found:
            return "exit 0, no pick set written"
        return None

    return expect


def copick_case(
    name: str, runs: int, *extra: str, signal_after=None, size_limit=None, big_run=None, blocked=None, pause=None
):
    holder: dict[str, Path] = {}

    def build(d: Path) -> list[str]:
        config = make_project(d / "project", runs, 20, big_run)
        holder["project"] = d / "project"
        if blocked is not None:  # a folder where run ``blocked``'s pick file goes: its rename fails
            (
                d / "project" / "overlay" / "ExperimentRuns" / f"TS_{blocked:03d}" / "Picks" / "cryodedup_0_ribo.json"
            ).mkdir()
        return ["particles", str(config), "--copick-users", "alice,bob", *extra, "-o"]  # (no -o: the project only)

    def expect(out: Path, code: int, stderr: str, stdout: str) -> str | None:
        return all_or_none(holder["project"], runs)(out, code, stderr, stdout)

    how: dict[str, Any] = {"signal_after": signal_after, "file_size_limit": size_limit}
    if pause:
        how["environment"] = {"CRYODEDUP_TEST_PAUSE": pause}
    add("copick", name, build, expect, **how)


if _copick_available():
    for runs in (2, 10, 40):
        for k, fraction in enumerate((0.6, 0.8, 0.95, 1.1)):
            sig = (signal.SIGINT, signal.SIGTERM)[k % 2]
            # (a job of 40 runs x 2 objects takes about 4.5 s here, the write-back its last part; 1.1: past the end)
            delay = fraction * (1.8 + 0.07 * runs)
            copick_case(f"{runs} runs, {signal.Signals(sig).name} at {delay:.2f} s", runs, signal_after=(sig, delay))
    for runs in (2, 10, 40):  # paused after the first set is written, until the signal (sent at 9 s)
        for sig in (signal.SIGINT, signal.SIGTERM):
            name = f"{runs} runs, {signal.Signals(sig).name} in the middle of the write-back"
            copick_case(name, runs, signal_after=(sig, 9.0), pause="copick")
    for runs, big in ((3, 2), (10, 9), (40, 30)):
        copick_case(f"{runs} runs, the disk full at run {big} (RLIMIT_FSIZE)", runs, size_limit=200_000, big_run=big)
    for runs, blocked in ((3, 2), (10, 5), (40, 39)):
        copick_case(f"{runs} runs, a folder where run {blocked}'s pick file goes", runs, "--force", blocked=blocked)

    def hostile_config(name: str, edit: Callable[[dict, str], str], expect: Expect, *extra: str) -> None:
        def build(d: Path) -> list[str]:
            config = make_project(d / "project", 2, 10)
            config.write_text(edit(json.loads(config.read_text()), config.read_text()))
            return ["particles", str(config), *extra, "-o"]

        add("copick", name, build, expect)

    def _radius(value: float) -> Callable[[dict, str], str]:
        def edit(data: dict, text: str) -> str:
            data["pickable_objects"][0]["radius"] = value
            return json.dumps(data)

        return edit

    hostile_config("a radius of 1e308", _radius(1e308), refused("radius"))
    hostile_config("a radius of 1e151", _radius(1e151), refused("radius"))
    hostile_config(
        "a config nested 100,000 deep",
        lambda d, t: t[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        refused("copick"),
    )
    hostile_config(
        "a description of 50 MB", lambda d, t: '{"description": "' + "x" * 50_000_000 + '", ' + t[1:], succeeded
    )
    empty_user = refused("--copick-out-user", status=2)  # (an option's value: a usage error, exit 2)
    hostile_config("--copick-out-user ''", lambda d, t: t, empty_user, "--copick-out-user", "")
    hostile_config(
        "--copick-out-session ' '", lambda d, t: t, refused("--copick-out-session"), "--copick-out-session", " "
    )

    def _deep_pick_file(d: Path) -> list[str]:
        config = make_project(d / "project", 2, 10)
        pick_file = next((d / "project").rglob("alice_1_apo.json"))
        pick_file.write_text('{"points": ' + "[" * 100_000 + "]" * 100_000 + "}")
        return ["particles", str(config), "-o"]

    add("copick", "a pick file nested 100,000 deep", _deep_pick_file, refused("alice"))


# --- the Python API's bad input (item 14) --------------------------------------------------------------------

#: Runs the case's code; a ValueError or TypeError (the package's error is a ValueError) is the one
#: ``Error:`` line of a refusal, anything else keeps its traceback (the barrage counts it).
RUNNER = (
    "import sys, warnings\n"
    "warnings.simplefilter('ignore')\n"
    "import numpy as np, datetime\n"
    "import cryodedup\n"
    "def frame(v):\n"
    "    import pandas as pd\n"
    "    return pd.DataFrame({'rlnCoordinateX': [v, v], 'rlnCoordinateY': [v, v], 'rlnMicrographName': ['m', 'm']})\n"
    "try:\n"
    "    names = {'np': np, 'datetime': datetime, 'cryodedup': cryodedup, 'frame': frame}\n"
    "    result = eval(sys.argv[1], names)\n"
    "except (ValueError, TypeError) as err:\n"
    "    print(f'Error: {type(err).__name__}: {err}'.splitlines()[0][:500], file=sys.stderr)\n"
    "    sys.exit(1)\n"
    "print('accepted', repr(result)[:200])\n"
)


def api_case(name: str, code: str, *said: str) -> None:
    def build(d: Path) -> list[str]:
        return [code]

    add("API", name, build, refused(*said), entry=("-c", RUNNER))


G, C = "np.zeros(2, np.int64)", "np.array([[0.0, 0.0], [1.0, 0.0]])"
DEDUP = "cryodedup.dedup({groups}, {coords}, {scores}, min_dist=5{extra})"
for label, images in {
    "-1": "[-1, 0]",
    "2**64": "[2**64, 0]",
    "1.2 and 1.7": "[1.2, 1.7]",
    "NaN": "[float('nan'), 0]",
    "inf": "[float('inf'), 0]",
    "text": "['a', 'b']",
    "complex": "[1j, 2]",
    "dates": "[datetime.datetime(2020, 1, 1)] * 2",
    "2**70": "[2**70, 1]",
    "-0.5": "[-0.5, 0]",
}.items():
    api_case(
        f"dedup images {label}", DEDUP.format(groups=G, coords=C, scores="None", extra=f", images={images}"), "images"
    )
for label, coords in {
    "complex": f"{C} + 1j",
    "datetime objects": "[[datetime.datetime(2020, 1, 1)] * 2] * 2",
    "datetime64": "np.zeros((2, 2), 'datetime64[s]')",
    "timedelta64": "np.zeros((2, 2), 'timedelta64[s]')",
    "text": "[['1', '2'], ['3', '4']]",
    "None": "[[None, None], [None, None]]",
}.items():
    api_case(f"dedup coords {label}", DEDUP.format(groups=G, coords=coords, scores="None", extra=""), "coords")
    centres = f"cryodedup.remove_duplicate_centres(['a', 'a'], {coords}, min_dist=5)"
    api_case(f"remove_duplicate_centres centres {label}", centres, "centres")
for label, scores in {
    "complex": "[1j, 2j]",
    "dates": "[datetime.datetime(2020, 1, 1)] * 2",
    "text": "['a', 'b']",
}.items():
    api_case(f"dedup scores {label}", DEDUP.format(groups=G, coords=C, scores=scores, extra=""), "scores")
for label, inputs in {
    "2**70": "2**70",
    "1.5": "1.5",
    "[0, 1.5]": "[0, 1.5]",
    "[0, 2**70]": "[0, 2**70]",
    "[0, -1]": "[0, -1]",
    "complex": "[0, 1j]",
    "NaN": "[0, float('nan')]",
}.items():
    api_case(
        f"remove_duplicate_centres inputs {label}",
        f"cryodedup.remove_duplicate_centres(['a', 'a'], {C}, inputs={inputs}, min_dist=5)",
        "inputs",
    )
for label, data in {
    "{'particles': None}": "{'particles': None}",
    "{'particles': 5}": "{'particles': 5}",
    "{'particles': frame(1.0), 'optics': 3}": "{'particles': frame(1.0), 'optics': 3}",
    "a set": "{1, 2}",
    "None": "None",
}.items():
    api_case(f"remove_duplicates {label}", f"cryodedup.remove_duplicates({data}, min_dist=5, mic_psize=1)", "")
for label, value in {
    "complex": "1 + 1j",
    "datetime": "datetime.datetime(2020, 1, 1)",
    "timedelta": "datetime.timedelta(1)",
}.items():
    api_case(
        f"remove_duplicates a frame of {label} coordinates",
        f"cryodedup.remove_duplicates(frame({value}), min_dist=5, mic_psize=1)",
        "not numeric",
    )
api_case("species='ab'", "cryodedup.remove_duplicates(frame(1.0), min_dist=5, mic_psize=1, species='ab')", "species")
api_case(
    "prefer='a.star'", "cryodedup.remove_duplicates(frame(1.0), min_dist=5, mic_psize=1, prefer='a.star')", "prefer"
)
api_case("metadata='x.xml'", "cryodedup.MicrographOptions(metadata='x.xml').check()", "metadata")
