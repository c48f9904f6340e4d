"""Advice that runs as printed (issue 63 item 3): every command an error or a warning suggests, pasted, runs.

Two parts. The messages' options, from the sources: every ``--option`` an error or a warning
names is an option of a command (a typo, or an option a command lost, is found here). And a
table of inputs that trigger each suggestion this issue met: each run's error or warnings are
read, the options they suggest taken from the text as a user would copy them, and the run
repeated with them: it must succeed. (The same for ``copick process dedup``'s refusal:
tests/formats/test_copick.py; the micrograph screen's binning: test_micrograph_binnings.py.)

Issue 76 added: advice that would keep the duplicates (a transform for copies each offset by
its own origin: none is printed, the shift-aware key is named and run); the outputs' and
stores' advice (--force, --update --repair, --update --force, --skip-unreadable), the
filaments' rules, --mic-psize and --shift-key none, each run as printed; and the Python
API's ``force=True`` (--prefer's advice: tests/cli/test_numbers_shown.py).
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import starfile
from click.testing import CliRunner

import cryodedup.errors
from cryodedup.cli import main
from fixtures.synthetic import cs_particles, write_cs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "python" / "cryodedup" / "examples"

# --- the messages' options, from the sources ---------------------------------------------------------------

#: Flags of other programs that messages name (RELION's, Slurm's, pip's), never cryodedup's.
OTHER_PROGRAMS = {
    "--array",  # sbatch
    "--i", "--o", "--coord_list", "--coord_dir", "--coord_suffix", "--scale_factor", "--add_factor",  # RELION
    "--centered", "--remove_substring",
    "--relion5-compat",  # pytom_extract_candidates.py
    "--help", "--version",
}  # fmt: skip


#: CryodedupError and its kinds (InputFileError, PixelSizeError ...): each raise makes a user's message.
ERROR_KINDS = {
    name for name, value in vars(cryodedup.errors).items() if isinstance(value, type) and issubclass(value, ValueError)
}


def _message_calls(tree: ast.AST) -> list[ast.Call]:
    """The calls that make a user's message: an error raised, a warning given."""
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in (*ERROR_KINDS, "warn", "UsageError", "BadParameter"):
                calls.append(node)
    return calls


def _flags_named(call: ast.Call) -> set[str]:
    texts = [n.value for n in ast.walk(call) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return {flag for text in texts for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9]", text)}


def _command_flags() -> set[str]:
    """Every option of every command: cryodedup's, its RELION External job's, copick's plugins'."""
    import click

    flags: set[str] = set()

    def walk(command: click.Command) -> None:
        for param in command.params:
            flags.update(o for o in (*param.opts, *param.secondary_opts) if o.startswith("--"))
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(main)
    try:
        from cryodedup.copick_command import comparepicks, dedup
    except ModuleNotFoundError:  # (no copick, as `pip install .[test]` leaves it: the commands' declarations)
        from cryodedup.commands import COPICK_COMPARE, COPICK_DEDUP

        for command in (COPICK_DEDUP, COPICK_COMPARE):
            flags.update(f for flag in command.options for f in flag.flags if f.startswith("--"))
        return flags | {"--config", "--debug"}  # (copick's own, added by its add_config_option and add_debug_option)
    walk(dedup)
    walk(comparepicks)
    return flags


def test_every_option_a_message_names_is_an_option_of_a_command():
    known = _command_flags() | OTHER_PROGRAMS
    unknown = {}
    for path in sorted((ROOT / "python" / "cryodedup").rglob("*.py")):
        for call in _message_calls(ast.parse(path.read_text())):
            for flag in _flags_named(call) - known:
                unknown.setdefault(flag, f"{path.relative_to(ROOT)}:{call.lineno}")
    assert not unknown, unknown


# --- the table: inputs that trigger each suggestion, and the suggestion run ---------------------------------


def _run(args: list[str]) -> tuple[int, str, list[str]]:
    """A command line's status, its error (or output) and its warnings (from --json where it ran)."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    warnings: list[str] = []
    if result.exit_code == 0 and "--json" in args:
        warnings = json.loads(result.stdout.splitlines()[-1]).get("warnings", [])
    # (refused: its stderr; stdout then holds --json's document of the refusal alone)
    return result.exit_code, result.stderr if result.exit_code else result.output, warnings


def _shifted_star(tmp: Path) -> Path:
    blocks = starfile.read(EXAMPLES / "particles_log.star", always_dict=True)
    particles = blocks["particles"].copy()
    particles["rlnCoordinateX"] += 300.0
    particles["rlnCoordinateY"] -= 200.0
    path = tmp / "moved" / "particles.star"
    path.parent.mkdir(parents=True)
    starfile.write({"optics": blocks["optics"], "particles": particles}, path)
    return path


def _topaz_pair(tmp: Path, shift: tuple[float, float] = (64.0, -128.0)) -> list[Path]:
    rng = np.random.default_rng(4)
    xy, mics = np.round(rng.uniform(300, 3000, (400, 2)), 3), rng.integers(0, 5, 400)
    paths = [tmp / "a" / "picks.txt", tmp / "b" / "picks.txt"]
    for path, centres in zip(paths, (xy, xy + np.array(shift))):
        path.parent.mkdir(parents=True)
        rows = [f"mic{m}\t{x:.3f}\t{y:.3f}" for m, (x, y) in zip(mics, centres)]
        path.write_text("\n".join(["image_name\tx_coord\ty_coord", *rows]) + "\n")
    return paths


def _cs_pair(tmp: Path) -> list[Path]:
    records = cs_particles(np.random.default_rng(2), 600, per_mic=150)
    moved = records.copy()
    moved["uid"] += np.uint64(1)
    _, nx = records["location/micrograph_shape"][0]
    moved["location/center_x_frac"] += np.float32(200 / nx)
    write_cs(tmp / "a.cs", records)
    write_cs(tmp / "b.cs", moved)
    return [tmp / "a.cs", tmp / "b.cs"]


def _star_pair(tmp: Path) -> list[str]:
    return [str(EXAMPLES / "particles_log.star"), str(_shifted_star(tmp))]


def _two_pixel_sizes(tmp: Path) -> list[Path]:
    """The LoG picks as two exports without a micrograph pixel size, b's pixels 1.25 times a's."""
    blocks = starfile.read(EXAMPLES / "particles_log.star", always_dict=True)
    optics = blocks["optics"].drop(columns=["rlnMicrographOriginalPixelSize"])
    paths = []
    for name, factor in (("a", 1.0), ("b", 1.25)):
        particles = blocks["particles"].copy()
        particles[["rlnCoordinateX", "rlnCoordinateY"]] /= factor
        paths.append(tmp / name / "particles.star")
        paths[-1].parent.mkdir()
        starfile.write({"optics": optics, "particles": particles}, paths[-1])
    return paths


def _few_micrographs(tmp: Path) -> list[Path]:
    """a picked 24 micrographs, b 5 of them."""
    rng = np.random.default_rng(3)
    a, ma = rng.uniform(0, 4000, (24 * 40, 2)), np.repeat(np.arange(24), 40)
    paths = [tmp / "a.txt", tmp / "b.txt"]
    for path, (xy, mics) in zip(paths, ((a, ma), (a[ma < 5], ma[ma < 5]))):
        rows = [f"mic{m}\t{x:.3f}\t{y:.3f}" for m, (x, y) in zip(mics, xy)]
        path.write_text("\n".join(["image_name\tx_coord\ty_coord", *rows]) + "\n")
    return paths


def _relion30_origins_in_pixels(tmp: Path) -> Path:
    """RELION 3.0's layout (one block) with rlnOriginX/Y in particle pixels and nothing giving their size."""
    from helpers import write_star

    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnOriginX", "rlnOriginY", "rlnMicrographName"]
    rows = [[100.0, 100.0, 1.0, 2.0, "m.mrc"], [104.0, 100.0, 0.0, 0.0, "m.mrc"], [900.0, 900.0, 0.0, 1.0, "m.mrc"]]
    return write_star(tmp / "p30.star", labels, rows)


MICS = ["--micrographs", str(EXAMPLES / "micrographs_ctf.star")]
TOPAZ = ["--mic-psize", "1", "--topaz-scale", "1"]
#: A suggestion as a user copies it: an option and its value, a quoted value whole.
TRANSFORM = r"(--transform '[^']+')"
WARN = r"(--registration warn)"

#: name: (the command line but its output folder, made from a folder; where the advice is; what it suggests).
CASES: dict[str, tuple[Callable[[Path], list[str]], str, list[str]]] = {
    "STAR inputs in two frames": (
        lambda t: ["particles", *_star_pair(t), *MICS, "--min-dist", "100"],
        "error",
        [TRANSFORM, WARN],
    ),
    "pickers in two frames, one RELION coordinate job": (
        lambda t: ["particles", *_topaz_pair(t), *TOPAZ, "--min-dist", "30", "--output-format", "relion"],
        "error",
        [TRANSFORM, WARN],
    ),
    "STAR exports at two pixel sizes, one --mic-psize": (
        lambda t: ["particles", *_two_pixel_sizes(t), "--mic-psize", "1.06", "--min-dist", "100"],
        "error",
        [TRANSFORM, WARN],
    ),
    "CryoSPARC particles in two frames": (
        lambda t: ["particles", *_cs_pair(t), "--min-dist", "40"],
        "error",
        [TRANSFORM, WARN],
    ),
    "two pickers' figures of merit on two scales": (
        lambda t: ["particles", EXAMPLES / "particles_log.star", EXAMPLES / "particles_template.star", *MICS],
        "warning",
        [r"(--score-normalize rank)", r"(--score rlnMaxValueProbDistribution)"],
    ),
    "a score whose direction is unknown": (
        lambda t: ["particles", *_star_pair(t), *MICS, "--score", "rlnCtfFigureOfMerit", "--registration", "ignore"],
        "error",
        [r"(--score-order max)", r"(--score-order min)"],
    ),
    "RELION 3.0 origins in pixels of no known size": (
        lambda t: ["particles", _relion30_origins_in_pixels(t), "--mic-psize", "1", "--min-dist", "10"],
        "error",
        [r"use (--shift-key none) to ignore"],
    ),
    "compare: a picker that ran on few micrographs": (
        lambda t: ["compare", *_few_micrographs(t), *TOPAZ, "--reference", "1", "--radius", "20"],
        "output",
        [r"(--over all)"],
    ),
}


def _suggested(text: str, patterns: list[str]) -> list[list[str]]:
    found = []
    for pattern in patterns:
        match = re.search(pattern, text)
        assert match, (pattern, text)
        found.append(shlex.split(match.group(1)))
    return found


def _with(args: list[str], option: list[str]) -> list[str]:
    """``args`` with ``option`` (a flag and its value) in place of the same flag's, if given."""
    flag = option[0]
    if flag in args and flag != "--transform":
        at = args.index(flag)
        return [*args[:at], *option, *args[at + 2 :]]
    return [*args, *option]


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_suggestion_runs_as_printed(tmp_path, case):
    make, where, patterns = CASES[case]
    args = [str(a) for a in make(tmp_path)]
    output = ["-o", str(tmp_path / "first")] if args[0] == "particles" else []
    status, text, warnings = _run([*args, *output, "--json"])
    if where == "error":
        assert status == 1, text
    elif where == "warning":
        assert status == 0, text
        text = "\n".join(warnings)
    else:
        assert status == 0, text
    for k, option in enumerate(_suggested(text, patterns)):
        output = ["-o", str(tmp_path / f"run{k}")] if args[0] == "particles" else []
        status, done, _ = _run([*_with(args, option), *output, "-q"])
        assert status == 0, (option, done)


# --- advice that would keep the duplicates: a re-extraction with --recenter (issue 76 item 2) ----------------


def _recentered(tmp: Path, monkeypatch, origins: bool = True) -> tuple[list[str], int]:
    from fixtures.relion_project import recentered_reextraction

    n = recentered_reextraction(tmp, origins=origins)
    monkeypatch.chdir(tmp)
    return ["particles", "Class3D/job016/run_it025_data.star", "Extract/job018/particles.star"], n


def _kept_particles(folder: Path) -> np.ndarray:
    """Each kept row's particle: the number before @ (row k of either file is particle k)."""
    kept = starfile.read(folder / "particles_kept.star", always_dict=True)["particles"]
    return np.array([int(name.split("@")[0]) for name in kept["rlnImageName"]])


@pytest.mark.parametrize("mode", ["check", "warn"])
def test_recentered_copies_name_the_shift_aware_key_not_a_transform(tmp_path, monkeypatch, mode):
    """Each copy's offset is its own origin: the advice drops --shift-key none, and run as printed keeps one of each.

    The oracle: row k of the refined set and row k of the re-extraction are one particle
    (the fixture writes them so); exactly one of each pair is kept.
    """
    args, n = _recentered(tmp_path, monkeypatch)
    given = [*args, "--min-dist", "0", "--shift-key", "none", "--registration", mode]
    status, text, warnings = _run([*given, "-o", "first", "--json"])
    said = text if mode == "check" else "\n".join(warnings)
    assert status == (1 if mode == "check" else 0), text
    assert "--transform" not in said, said
    assert "differ by their own per-particle origins" in said and "drop --shift-key none" in said, said
    (distance,) = _suggested(said, [r"give (--min-dist [0-9.]+)"])
    status, done, _ = _run([*args, *distance, "-o", "second", "-q"])
    assert status == 0, done
    assert sorted(_kept_particles(tmp_path / "second")) == list(range(1, n + 1))


@pytest.mark.parametrize("mode", ["check", "warn"])
def test_the_recentred_advice_followed_by_half_names_the_distance_left(tmp_path, monkeypatch, mode):
    """The advice's --shift-key half alone (--min-dist 0 kept): said in one line, and the distance it names runs.

    Before, that run kept every copy, said only by a low agreement. The oracle: row k of the
    refined set and row k of the re-extraction are one particle; one of each pair is kept.
    """
    args, n = _recentered(tmp_path, monkeypatch)
    status, text, _ = _run([*args, "--min-dist", "0", "--shift-key", "none", "-o", "first"])
    assert status == 1 and "drop --shift-key none" in text and "give --min-dist" in text, text
    half = [*args, "--min-dist", "0", "--registration", mode]
    status, text, warnings = _run([*half, "-o", "half", "--json"])
    said = text if mode == "check" else "\n".join(warnings)
    assert status == (1 if mode == "check" else 0), text
    assert "within a pixel of each other but not at one centre" in said and "--min-dist 0 pairs only" in said, said
    if mode == "check":
        assert len(text.strip().splitlines()) == 1, text
    (distance,) = _suggested(said, [r"give (--min-dist [0-9.]+) in place of --min-dist 0"])
    status, done, _ = _run([*_with(half, distance), "-o", "second", "-q"])
    assert status == 0, done
    assert sorted(_kept_particles(tmp_path / "second")) == list(range(1, n + 1))


def test_copies_at_one_centre_stay_quiet_at_min_dist_zero(tmp_path, monkeypatch):
    """RELION's re-extraction keeps each origin's remainder: --min-dist 0 alone pairs every copy, and says nothing.

    The oracle: row k of each file is one particle, at one centre (coordinates minus origins).
    """
    from fixtures.relion_project import recentered_reextraction

    n = recentered_reextraction(tmp_path, remainders=True)
    monkeypatch.chdir(tmp_path)
    args = ["particles", "Class3D/job016/run_it025_data.star", "Extract/job018/particles.star", "--min-dist", "0"]
    status, text, warnings = _run([*args, "--mic-psize", "0.885", "-o", "out", "--json"])
    assert status == 0, text
    assert not [w for w in warnings if "pixel" in w or "agreement" in w or "origin" in w], warnings
    assert sorted(_kept_particles(tmp_path / "out")) == list(range(1, n + 1))
    assert json.loads(text.splitlines()[-1])["rejected"] == n


def test_copies_at_one_centre_under_shift_key_none_are_not_blamed_on_rounded_origins(tmp_path, monkeypatch):
    """RELION's re-extraction keeps each origin's remainder: with the origins subtracted the copies coincide.

    Before, the refusal at --min-dist 0 --shift-key none asked for --min-dist 0.89 "as a re-extraction moves each
    centre by its origin rounded to a whole pixel". The oracle: row k of each file is one particle at one centre
    (coordinates x 0.885 - origins, by hand); the advice followed (the default key, --min-dist 0) keeps one of each.
    """
    from fixtures.relion_project import MIC_PSIZE, recentered_reextraction

    n = recentered_reextraction(tmp_path, remainders=True)
    monkeypatch.chdir(tmp_path)
    centres = []
    for path in ("Class3D/job016/run_it025_data.star", "Extract/job018/particles.star"):
        rows = starfile.read(path, always_dict=True)["particles"]
        x = rows["rlnCoordinateX"] * MIC_PSIZE - rows["rlnOriginXAngst"]
        y = rows["rlnCoordinateY"] * MIC_PSIZE - rows["rlnOriginYAngst"]
        centres.append(np.stack([x, y], axis=1))
    assert np.abs(centres[0] - centres[1]).max() < 1e-3  # (one centre each: RELION's remainders)
    args = ["particles", "Class3D/job016/run_it025_data.star", "Extract/job018/particles.star", "--mic-psize", "0.885"]
    status, text, _ = _run([*args, "--min-dist", "0", "--shift-key", "none", "-o", "first"])
    assert status == 1 and "drop --shift-key none" in text and "at one centre" in text, text
    assert "rounded" not in text and "give --min-dist" not in text, text
    status, done, _ = _run([*args, "--min-dist", "0", "-o", "second", "-q"])
    assert status == 0, done
    assert sorted(_kept_particles(tmp_path / "second")) == list(range(1, n + 1))


def test_half_followed_cryosparc_advice_names_the_distance(tmp_path):
    """CryoSPARC's re-centred copies (shifts zeroed) at --min-dist 0 without --shift-key none: refused, naming a pixel.

    Its distance, run as printed, rejects one of each pair (row k of one file is row k of the other).
    """
    a = _recentered_cs(tmp_path)
    args = ["particles", tmp_path / "a.cs", tmp_path / "b.cs", "--min-dist", "0"]
    status, text, _ = _run([*args, "-o", tmp_path / "first"])
    assert status == 1 and "not at one centre" in text and len(text.strip().splitlines()) == 1, text
    (distance,) = _suggested(text, [r"give (--min-dist [0-9.]+) in place of --min-dist 0"])
    status, done, _ = _run([*_with(args, distance), "-o", tmp_path / "second", "--json"])
    assert status == 0, done
    assert json.loads(done.splitlines()[-1])["rejected"] == len(a)


def test_no_transform_for_offsets_that_differ_pick_by_pick(tmp_path, monkeypatch):
    """Copies each moved by its own offset (the origins left out): no transform is advised, none would fix them.

    Moved by the mode of their offsets, a few more of them pair than as read and most stay
    apart: today's "add --transform" then keeps most copies. Counted here by brute force.
    """
    args, _ = _recentered(tmp_path, monkeypatch, origins=False)
    first = starfile.read("Class3D/job016/run_it025_data.star", always_dict=True)["particles"]
    again = starfile.read("Extract/job018/particles.star", always_dict=True)["particles"]
    apart = (first[["rlnCoordinateX", "rlnCoordinateY"]] - again[["rlnCoordinateX", "rlnCoordinateY"]]).to_numpy()
    # (the best any one shift does: the copies within the 5 px measured at, moved by their mode, rounded)
    mode = np.round(np.median(apart, axis=0))
    assert np.mean(np.linalg.norm(apart - mode, axis=1) <= 5) < 0.35
    status, text, _ = _run([*args, "--min-dist", "0", "-o", "out", "--json"])
    assert status == 0, text
    assert "--transform" not in text, text
    assert "pairs few of the picks it brings near each other" in text, text


# --- the Python API's advice in Python's words (issue 76 item 4) --------------------------------------------


def _keyword_advice(call: Callable[..., object]) -> dict[str, object]:
    """The keyword an error of ``call()`` advises (``force=True``), refused with no flag of the command line in it."""
    with pytest.raises(cryodedup.errors.CryodedupError) as raised:
        call()
    text = str(raised.value)
    assert "--" not in text, text
    name, value = re.search(r"use (\w+)=(True)\b", text).groups()  # (as a caller copies it)
    return {name: value == "True"}


def test_the_apis_already_exists_error_names_force_true_and_it_works(tmp_path):
    """remove_duplicates, remove_duplicate_particles, find_duplicate_micrographs: a second run into one folder.

    Each says ``force=True`` (not ``--force``, which Python cannot take), and called with it each runs.
    """
    import warnings

    from cryodedup import find_duplicate_micrographs, remove_duplicate_particles, remove_duplicates
    from cryodedup.options import MicrographOptions, ParticleOptions
    from helpers import write_planted_micrographs

    star, mics = str(EXAMPLES / "particles_log.star"), str(EXAMPLES / "micrographs_ctf.star")
    (tmp_path / "m").mkdir()
    images = write_planted_micrographs(tmp_path / "m", 4, {3: 1})
    calls: list[Callable[..., object]] = [
        lambda **kw: remove_duplicates(star, tmp_path / "a", micrographs=mics, **kw),
        lambda **kw: remove_duplicate_particles([star], tmp_path / "b", ParticleOptions(micrographs=mics), **kw),
        lambda **kw: find_duplicate_micrographs(images, tmp_path / "c", MicrographOptions(bin=1), **kw).to_json(),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for call in calls:
            call()
            advice = _keyword_advice(call)
            assert advice == {"force": True}
            call(**advice)


# --- the outputs' and stores' advice, run as printed (issue 76: every suggestion the CLI prints) -------------


def _advised(text: str, pattern: str) -> list[str]:
    """The flags a one-line error advises, as a user copies them out of it."""
    match = re.search(pattern, text)
    assert match, (pattern, text)
    return shlex.split(match.group(1))


def test_outputs_that_exist_are_replaced_with_the_force_advised(tmp_path):
    """A second run into one folder is refused naming --force; run with it, it replaces them (the same counts)."""
    args = ["particles", EXAMPLES / "particles_log.star", *MICS, "-o", tmp_path / "out"]
    status, _, _ = _run([*args, "-q"])
    assert status == 0
    first = (tmp_path / "out" / "particles_kept.star").read_bytes()
    status, text, _ = _run([*args, "-q"])
    assert status == 1 and "particles_kept.star: already exists" in text, text
    status, text, _ = _run([*args, *_advised(text, r"use (--force) to overwrite"), "-q"])
    assert status == 0, text
    assert (tmp_path / "out" / "particles_kept.star").read_bytes() == first


def test_a_running_file_changed_by_hand_is_repaired_or_started_anew_as_advised(tmp_path):
    """--update: a running kept file edited between rounds refuses the round, naming --update --repair and --force.

    Run as printed, --repair writes the file again as the store has it (the bytes of the
    round before the edit), and the next round then runs; --update --force starts anew.
    """
    out = tmp_path / "out"
    batch = [*MICS, "--update", "-o", out, "-q"]
    status, text, _ = _run(["particles", EXAMPLES / "particles_log.star", *batch])
    assert status == 0, text
    running = out / "particles_kept.star"
    before = running.read_bytes()
    running.write_bytes(before + b"# edited\n")
    second = ["particles", EXAMPLES / "particles_template.star", *batch]
    status, text, _ = _run(second)
    assert status == 1 and "changed since the last --update round" in text, text
    repair = _advised(text, r"; (--update --repair) writes it again")
    status, done, _ = _run(["particles", "-o", out, *repair])
    assert status == 0, done
    assert running.read_bytes() == before
    status, done, _ = _run(second)
    assert status == 0, done
    running.write_bytes(running.read_bytes() + b"# edited\n")
    status, text, _ = _run(second)
    anew = _advised(text, r", or (--update --force) starts anew")
    status, done, _ = _run([a for a in second if a != "--update"] + anew)
    assert status == 0, done


def _micrograph_list(tmp: Path, missing: int) -> Path:
    """A micrographs STAR of 6 planted micrographs, ``missing`` of whose files are gone."""
    from helpers import write_planted_micrographs, write_star

    folder = tmp / "Movies"
    folder.mkdir()
    paths = write_planted_micrographs(folder)[:6]
    for path in paths[:missing]:
        path.unlink()
    listed = tmp / "micrographs.star"
    rows = [[f"Movies/{p.name}", 1] for p in paths]
    write_star(listed, ["rlnMicrographName", "rlnOpticsGroup"], rows, optics=[[1, "opticsGroup1", 12.0, 12.0]],
               block="micrographs")  # fmt: skip
    return listed


def test_missing_micrographs_are_skipped_as_advised(tmp_path, monkeypatch):
    """One of 6 listed micrographs missing: refused naming --skip-unreadable; with it the other 5 are screened."""
    monkeypatch.chdir(tmp_path)  # (the list's paths start from the project folder)
    args = ["micrographs", _micrograph_list(tmp_path, 1), "--bin", "1", "-o", tmp_path / "out"]
    status, text, _ = _run(args)
    assert status == 1 and "micrograph file not found" in text, text
    status, done, _ = _run([*args, *_advised(text, r"use (--skip-unreadable) to go on"), "--json"])
    assert status == 0, done
    summary = json.loads(done.strip().splitlines()[-1])
    assert summary["micrographs"] == 6 and len(summary["unreadable"]) == 1, summary  # (listed, one skipped)


def test_micrographs_dropped_from_an_update_are_screened_anew_with_the_force_advised(tmp_path):
    """--update given fewer micrographs than it screened: refused naming --force; with it, a full run of those given."""
    from helpers import write_planted_micrographs

    (tmp_path / "m").mkdir()
    images = write_planted_micrographs(tmp_path / "m")
    out = ["--bin", "1", "--update", "-o", tmp_path / "out"]
    status, text, _ = _run(["micrographs", *images, *out])
    assert status == 0, text
    status, text, _ = _run(["micrographs", *images[:-1], *out])
    assert status == 1 and "no longer in the inputs" in text, text
    status, done, _ = _run(
        ["micrographs", *images[:-1], *out, *_advised(text, r"or use (--force) for a full run"), "--json"]
    )
    assert status == 0, done
    assert json.loads(done.strip().splitlines()[-1])["micrographs"] == len(images) - 1


def _tubes(tmp: Path) -> Path:
    """Two filaments' segments on one micrograph, 10 px apart along each tube, one image named twice."""
    from helpers import write_star

    labels = ["rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup", "rlnAutopickFigureOfMerit",
              "rlnImageName", "rlnHelicalTubeID"]  # fmt: skip
    rows = [[100 + 10 * k, 100 + 300 * t, "m.mrc", 1, 0.5 + 0.01 * k, f"{6 * t + k + 1}@s.mrcs", t + 1]
            for t in range(2) for k in range(6)]  # fmt: skip
    rows[-1][5] = rows[0][5]  # (one particle image named twice: what --same-image looks at)
    return write_star(tmp / "h.star", labels, rows, optics=[[1, "og1", 2.0, 1.0]])


@pytest.mark.parametrize(
    ("given", "advised"),
    [
        (["--select", "best-score"], r"give (--filament-mode segment)"),
        (["--same-image", "reject"], r"give (--filament-mode segment)"),
        (["--same-image", "reject"], r"or (--same-image warn)"),
    ],
)
def test_whole_tubes_and_a_rule_on_segments_are_refused_naming_a_rule_that_runs(tmp_path, given, advised):
    """--filament-mode tube with a rule on segments: refused; each way out it names, taken, runs."""
    args = ["particles", _tubes(tmp_path), "--min-dist", "30", "--filament-mode", "tube", *given]
    status, text, _ = _run([*args, "-o", tmp_path / "first"])
    assert status == 1 and "--filament-mode tube" in text, text
    option = _advised(text, advised)
    status, done, _ = _run([*_with(args, option), "-o", tmp_path / "second", "-q"])
    assert status == 0, done


def test_the_pixel_size_taken_from_the_original_is_confirmed_as_advised(tmp_path):
    """rlnMicrographOriginalPixelSize alone: a warning naming --mic-psize; given the size it used, none."""
    blocks = starfile.read(EXAMPLES / "particles_log.star", always_dict=True)
    star = tmp_path / "p.star"
    starfile.write(blocks, star)
    status, text, warnings = _run(["particles", star, "-o", tmp_path / "a", "--json"])
    assert status == 0, text
    (said,) = [w for w in warnings if "has no rlnMicrographPixelSize" in w]
    size = re.search(r"using rlnMicrographOriginalPixelSize ([0-9.]+) Å", said).group(1)
    assert "give the micrograph pixel size with --mic-psize" in said, said
    status, text, warnings = _run(["particles", star, "--mic-psize", size, "-o", tmp_path / "b", "--json"])
    assert status == 0 and not [w for w in warnings if "rlnMicrographPixelSize" in w], warnings


def _recentered_cs(tmp: Path) -> np.ndarray:
    """Picks (a.cs) and their copies re-centred by their 2D shifts, rounded to a pixel, shifts zeroed (b.cs)."""
    rng = np.random.default_rng(7)
    a = cs_particles(rng, 3000, per_mic=150, duplicate_fraction=0.0)
    b = a.copy()
    ny, nx = a["location/micrograph_shape"][0]
    picked = np.stack([a["location/center_x_frac"] * nx, a["location/center_y_frac"] * ny], axis=1)
    centred = np.round(picked - a["alignments2D/shift"] * a["alignments2D/psize_A"][:, None] / 0.83)
    b["uid"] = a["uid"] + np.uint64(1)
    b["location/center_x_frac"], b["location/center_y_frac"] = centred[:, 0] / nx, centred[:, 1] / ny
    b["alignments2D/shift"] = 0
    write_cs(tmp / "a.cs", a)
    write_cs(tmp / "b.cs", b)
    return a


def test_recentered_cryosparc_copies_name_the_shift_aware_key(tmp_path):
    """CryoSPARC: picks and their copies re-centred by their 2D shifts (rounded to a pixel, shifts zeroed).

    Under --shift-key none their offsets are each pick's own shift, measured only loosely as one
    offset (before: "give more micrographs", and every copy kept). The advice, run as printed,
    keeps exactly one of each pair: row k of one file is row k of the other (uids differ by 1).
    """
    a = _recentered_cs(tmp_path)
    args = ["particles", tmp_path / "a.cs", tmp_path / "b.cs", "--min-dist", "0"]
    status, text, _ = _run([*args, "--shift-key", "none", "-o", tmp_path / "first"])
    assert status == 1 and "differ by their own per-particle origins" in text, text
    assert "drop --shift-key none" in text and "--transform" not in text, text
    (distance,) = _suggested(text, [r"give (--min-dist [0-9.]+)"])
    status, done, _ = _run([*_with(args, distance), "-o", tmp_path / "second", "--json"])
    assert status == 0, done
    assert json.loads(done.splitlines()[-1])["rejected"] == len(a)


# --- the micrograph job's remaining advice, run as printed (issue 76: every suggestion the CLI prints) ------


def _small_session(tmp: Path, moved_um: float = 0.0, **kw) -> tuple[Path, set[tuple[str, str]]]:
    """A one-square EPU session (4 stops of 3 x 3 holes, 2 re-exposures) and its micrographs; the true pairs.

    ``moved_um``: the last stage stop (and all taken there) that much further along x than the template.
    """
    import dataclasses

    from fixtures.synthetic import multihole_session, write_epu_session, write_session_micrographs

    rng = np.random.default_rng(13)
    exposures = multihole_session(rng, **{"squares": 1, "stops": (2, 2), "reexposures": 2, **kw})
    last = max(e.stage_um for e in exposures)
    move = lambda xy: (xy[0] + moved_um, xy[1])  # noqa: E731
    exposures = [dataclasses.replace(e, stage_um=move(e.stage_um), position_um=move(e.position_um))
                 if e.stage_um == last else e for e in exposures]  # fmt: skip
    write_epu_session(tmp / "EPU", exposures)
    write_session_micrographs(tmp / "Mics", exposures, rng)
    return tmp, {(exposures[e.original].name, e.name) for e in exposures if e.original >= 0}


def _pairs_found(folder: Path) -> set[tuple[str, str]]:
    import csv

    stem = lambda p: Path(p).name.removesuffix("_fractions.mrc")  # noqa: E731
    with open(folder / "duplicates.csv") as f:
        return {(stem(r["Original"]), stem(r["Duplicate"])) for r in csv.DictReader(f)}


@pytest.mark.parametrize("way", ["dask", "one process"])
def test_metadata_with_a_shard_runs_as_advised(tmp_path, way):
    """--metadata with --shard: refused naming --dask local in its place, or one process; each finds the pairs."""
    if way == "dask":
        pytest.importorskip("dask.distributed")
    folder, truth = _small_session(tmp_path)
    args = ["micrographs", str(folder / "Mics" / "*.mrc"), "--metadata", folder / "EPU", "--candidates", "metadata"]
    status, text, _ = _run([*args, "--shard", "1/2", "-o", tmp_path / "first"])
    assert status == 2 and "--metadata cannot be given with --shard" in text, text
    if way == "dask":
        advice = _advised(text, r"use (--dask local) \(or a scheduler's address\) in place of --shard")
    else:
        assert "or one process" in text, text
        advice = []  # (one process: --shard left out)
    status, done, _ = _run([*args, *advice, "-o", tmp_path / "out", "-q"])
    assert status == 0, done
    assert _pairs_found(tmp_path / "out") == truth != set()


def test_a_shard_of_another_run_is_replaced_with_the_force_advised(tmp_path):
    """A shard folder holding another run's shard: refused naming --force; with it, the shard is this run's.

    The oracle: the merge of both shards finds what one process finds on the same micrographs.
    """
    from helpers import write_planted_micrographs

    (tmp_path / "m").mkdir()
    images = write_planted_micrographs(tmp_path / "m")
    args = ["micrographs", *images, "--bin", "1", "-o", tmp_path / "shards"]
    for k in (1, 2):
        status, text, _ = _run([*args, "--window", "8", "--shard", f"{k}/2", "-q"])
        assert status == 0, text
    status, text, _ = _run([*args, "--shard", "2/2", "-q"])
    assert status == 1 and "holds a shard of another run (--window" in text, text
    advice = _advised(text, r"use (--force) to replace it")
    for k in (1, 2):
        status, done, _ = _run([*args, "--shard", f"{k}/2", *advice, "-q"])
        assert status == 0, done
    status, done, _ = _run(["micrographs-merge", tmp_path / "shards", "-o", tmp_path / "merged", "-q"])
    assert status == 0, done
    status, done, _ = _run(["micrographs", *images, "--bin", "1", "-o", tmp_path / "single", "-q"])
    assert status == 0, done
    assert _pairs_found(tmp_path / "merged") == _pairs_found(tmp_path / "single") != set()


def test_an_earlier_cryodedups_store_is_replaced_with_the_force_advised(tmp_path):
    """--update over an earlier cryodedup's store (seen.json): refused naming --force; with it a full run, and the
    next --update round then reads its own store (no refusal, the same pairs as one full run)."""
    from helpers import write_planted_micrographs

    (tmp_path / "m").mkdir()
    images = write_planted_micrographs(tmp_path / "m")
    out, seen = tmp_path / "out", tmp_path / "out" / "seen"  # (the store's folder, as --update keeps it)
    seen.mkdir(parents=True)
    (seen / "seen.json").write_text('{"format": "cryodedup micrograph update store 2"}\n')
    (seen / "images-0.npy").write_bytes(b"x")
    args = ["micrographs", *images, "--bin", "1", "--update", "-o", out, "-q"]
    status, text, _ = _run(args)
    assert status == 1 and "a store written by an earlier cryodedup" in text, text
    status, done, _ = _run([*args, *_advised(text, r"use (--force) for a full run")])
    assert status == 0, done
    assert not (seen / "seen.json").exists() and not (seen / "images-0.npy").exists()
    status, done, _ = _run(args)
    assert status == 0, done
    status, done, _ = _run(["micrographs", *images, "--bin", "1", "-o", tmp_path / "single", "-q"])
    assert status == 0, done
    assert _pairs_found(out) == _pairs_found(tmp_path / "single") != set()


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ([], "cannot infer the shift calibration"),  # (one stage stop a square: no step to measure it along)
        (["--shift-calibration", "1e12"], "beyond any stage"),  # (a calibration mistyped by orders of magnitude)
    ],
)
def test_a_shift_calibration_not_known_is_given_as_advised(tmp_path, given, said):
    """--metadata whose calibration cannot be inferred, or places images off any stage: refused naming
    --shift-calibration UM_PER_UNIT; given the microscope's (the session's 20 µm per unit, as a user reads
    it from the microscope's set-up), every re-exposure is found."""
    folder, truth = _small_session(tmp_path, stops=(1, 1))
    args = ["micrographs", str(folder / "Mics" / "*.mrc"), "--metadata", folder / "EPU", *given]
    status, text, _ = _run([*args, "-o", tmp_path / "first"])
    assert status == 1 and said in text, text
    (flag,) = _advised(text, r"give (--shift-calibration) UM_PER_UNIT")
    status, done, _ = _run([*_with(args, [flag, "20"]), "-o", tmp_path / "out", "-q"])
    assert status == 0, done
    assert _pairs_found(tmp_path / "out") == truth != set()


def _tomo_star(path: Path, rows: list[tuple]) -> Path:
    from helpers import write_star

    labels = ["rlnTomoName", "rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst",
              "rlnCenteredCoordinateZAngst", "rlnLCCmax", "rlnClassNumber"]  # fmt: skip
    return write_star(path, labels, [list(row) for row in rows])


def test_cross_species_without_radii_runs_with_the_radii_advised(tmp_path):
    """--cross-species on a class column with no sizes: refused naming --radius 1=50,2=20 (each species' distance, as
    a copick object's radius is its distance). Run as printed, the species are as far apart as their distances: by
    hand, the ribosome at 1010 Å is a copy of the one at 1000 (10 Å < 50) and the ribosome at 0 and the proteasome
    180 Å away are both kept (180 > 50 + 20). Each value replaced with the species' radius a user knows (class 1 a
    ribosome, 150 Å; class 2 a proteasome, 60 Å), as the advice says, the ribosome at 0 loses to the proteasome
    (180 < 150 + 60; it ranks better within its species, as tests/jobs/test_species.py works it).
    """
    ribosomes = [("TS_01", 0, 0, 0, 0.30, 1), ("TS_01", 1000, 0, 0, 0.40, 1), ("TS_01", 1010, 0, 0, 0.20, 1)]
    proteasomes = [("TS_01", 180, 0, 0, 0.25, 2), ("TS_01", 3000, 0, 0, 0.10, 2)]
    star = _tomo_star(tmp_path / "both.star", ribosomes + proteasomes)
    args = ["particles", star, "--score", "rlnLCCmax", "--species-column", "rlnClassNumber", "--min-dist", "1=50,2=20",
            "--cross-species"]  # fmt: skip
    status, text, _ = _run([*args, "-o", tmp_path / "first"])
    assert status == 1 and "have none: give --radius" in text, text
    flag, pairs = _advised(text, r"give (--radius \S+)")
    assert pairs == "1=50,2=20", text
    status, done, _ = _run([*args, flag, pairs, "-o", tmp_path / "pasted", "-q"])
    assert status == 0, done
    kept = starfile.read(tmp_path / "pasted" / "particles_kept.star")
    assert sorted(kept["rlnCenteredCoordinateXAngst"].tolist()) == [0, 180, 1000, 3000]
    sizes = {"1": "150", "2": "60"}
    filled = ",".join(f"{name}={sizes[name]}" for name, _ in (p.split("=") for p in pairs.split(",")))
    status, done, _ = _run([*args, flag, filled, "-o", tmp_path / "out", "-q"])
    assert status == 0, done
    kept = starfile.read(tmp_path / "out" / "particles_kept.star")
    assert sorted(kept["rlnCenteredCoordinateXAngst"].tolist()) == [180, 1000, 3000]


def test_picks_with_no_known_score_are_ranked_by_the_column_advised(tmp_path):
    """pytom's picks (rlnLCCmax, no score --score auto knows): a warning naming --score COLUMN; COLUMN filled with
    the file's score column (rlnLCCmax, what a pytom user types), the warning is gone and of each pair the
    pick of higher LCC is kept (by hand: 6 pairs 10 Å apart, the better one first or second in turn)."""
    rows = [("TS_01", 1000 * k + d, 0, 0, 0.2 + 0.1 * ((k + j) % 2) + 0.01 * k, 1)
            for k in range(6) for j, d in enumerate((0, 10))]  # fmt: skip
    star = _tomo_star(tmp_path / "picks.star", rows)
    args = ["particles", star, "--min-dist", "50"]
    status, text, warnings = _run([*args, "-o", tmp_path / "first", "--json"])
    assert status == 0, text
    (said,) = [w for w in warnings if w.startswith("--score auto: none of")]
    (flag,) = _advised(said, r"rank by a column with (--score) COLUMN")
    status, _, warnings = _run([*args, flag, "rlnLCCmax", "-o", tmp_path / "out", "--json"])
    assert status == 0 and not [w for w in warnings if "--score" in w], warnings
    kept = starfile.read(tmp_path / "out" / "particles_kept.star")
    best = [max((r for r in rows if r[1] // 1000 == k), key=lambda r: r[4])[1] for k in range(6)]
    assert sorted(kept["rlnCenteredCoordinateXAngst"].tolist()) == best


def _picks_of_an_image_elsewhere(tmp: Path) -> Path:
    """Three picks on a 100 x 100 Å micrograph (its MRC header: 1 Å pixels), at x = 5, 50 and 95 Å; the picks in
    ``picks/``, the image in ``project/Movies/`` (named Movies/m.mrc, as from the project folder)."""
    import mrcfile

    (tmp / "project" / "Movies").mkdir(parents=True)
    with mrcfile.new(tmp / "project" / "Movies" / "m.mrc", data=np.zeros((100, 100), np.float32)) as mrc:
        mrc.voxel_size = 1.0
    (tmp / "picks").mkdir()
    rows = "".join(f"{x} 50 Movies/m.mrc 0.{k + 1}\n" for k, x in enumerate((5, 50, 95)))
    path = tmp / "picks" / "p.star"
    path.write_text("data_particles\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnMicrographName\n"
                    "_rlnAutopickFigureOfMerit\n" + rows)  # fmt: skip
    return path


def test_an_edge_on_micrographs_of_unknown_size_runs_with_the_folder_advised(tmp_path, monkeypatch):
    """--edge where no micrograph is found: refused naming --project-dir (it named --micrographs first, which for a
    RELION micrographs STAR gives no size: only tomograms.star does); filled with the folder the images are in,
    the picks within 10 Å of the 100 Å micrograph's edges (x = 5 and 95, by hand) are rejected, x = 50 kept."""
    star = _picks_of_an_image_elsewhere(tmp_path)
    monkeypatch.chdir(tmp_path)
    args = ["particles", star, "--mic-psize", "1", "--edge", "10"]
    status, text, _ = _run([*args, "-o", tmp_path / "first"])
    assert status == 1 and "--edge: the size of Movies/m.mrc is unknown" in text, text
    (flag,) = _advised(text, r"give (--project-dir) where the images are")
    status, done, _ = _run([*args, flag, tmp_path / "project", "-o", tmp_path / "out", "-q"])
    assert status == 0, done
    kept = starfile.read(tmp_path / "out" / "particles_kept.star")
    assert kept["rlnCoordinateX"].tolist() == [50]


def test_a_mask_on_tomograms_of_unknown_size_is_checked_with_the_tomograms_star_advised(tmp_path):
    """--mask on tomograms of no known size: a warning naming RELION 5's tomograms.star as --micrographs; given it
    (the sizes a RELION 5 project's tomograms.star holds), the mask's extent is checked and nothing is warned."""
    mask = np.zeros((4, 10, 20), np.int8)  # (20 x 10 x 4 voxels of 10 Å: 200 x 100 x 40 Å; x < 100 Å inside)
    mask[:, :, :10] = 1
    import mrcfile

    with mrcfile.new(tmp_path / "TS_01_mask.mrc", data=mask) as mrc:
        mrc.voxel_size = 10.0
    (tmp_path / "p.star").write_text("data_particles\nloop_\n_rlnTomoName\n_rlnCoordinateX\n_rlnCoordinateY\n"
                                     "_rlnCoordinateZ\nTS_01 50 50 20\nTS_01 150 50 20\n")  # fmt: skip
    (tmp_path / "tomograms.star").write_text(
        "data_global\nloop_\n_rlnTomoName\n_rlnTomoTiltSeriesPixelSize\n_rlnTomoTomogramBinning\n_rlnTomoSizeX\n"
        "_rlnTomoSizeY\n_rlnTomoSizeZ\nTS_01 1 1 200 100 40\n"
    )
    args = ["particles", tmp_path / "p.star", "--mic-psize", "1", "--min-dist", "0", "--score", "none",
            "--mask", tmp_path / "TS_01_mask.mrc", "--project-dir", tmp_path]  # fmt: skip
    status, text, warnings = _run([*args, "-o", tmp_path / "first", "--json"])
    assert status == 0, text
    (said,) = [w for w in warnings if "its extent was not checked" in w]
    (flag,) = _advised(said, r"RELION 5's tomograms.star as (--micrographs)")
    status, done, warnings = _run([*args, flag, tmp_path / "tomograms.star", "-o", tmp_path / "out", "--json"])
    assert status == 0, done
    assert not [w for w in warnings if "not checked" in w], warnings
    assert json.loads(done.splitlines()[-1])["kept"] == 1  # (x = 50 inside the mask, x = 150 outside)


def _copick_project(tmp: Path) -> tuple[Path, Callable[[str], list[tuple[float, float]]]]:
    """One run's apoferritin picks by alice: two 10 Å apart (scores 0.2, 0.9) and one 500 Å off (0.5).

    Returns the config and a reader of a session's written picks as cryodedup's user: sorted (x, score).
    """
    from cryodedup.formats.copick import root_logger_kept

    with root_logger_kept():  # (copick's import sets up the root logger: put back as it was)
        copick = pytest.importorskip("copick")
        from copick.models import CopickLocation, CopickPoint, PickableObject

        config = tmp / "project" / "copick_config.json"
        objects = [PickableObject(name="apoferritin", is_particle=True, radius=60.0, label=1)]
        root = copick.new_config(str(config), str(tmp / "project" / "overlay"), pickable_objects=objects)
        picks = root.new_run("TS_001").new_picks(object_name="apoferritin", session_id="1", user_id="alice")
        picks.points = [CopickPoint(location=CopickLocation(x=x, y=100.0, z=100.0), score=s)
                        for x, s in ((100.0, 0.2), (110.0, 0.9), (600.0, 0.5))]  # fmt: skip
        picks.store()

    def written(session: str) -> list[tuple[float, float]]:
        with root_logger_kept():
            (held,) = copick.from_file(str(config)).get_run("TS_001").get_picks(user_id="cryodedup",
                                                                                session_id=session)  # fmt: skip
            return sorted((p.location.x, p.score) for p in held.points)

    return config, written


@pytest.mark.parametrize("way", ["--force", "--copick-out-session"])
def test_copicks_earlier_picks_are_replaced_or_kept_apart_as_advised(tmp_path, way):
    """A second run into cryodedup's own copick session: refused naming --force, or another --copick-out-session
    (filled with a name a user would type, "2"); run as printed, the session holds exactly the second run's
    picks (by hand: at 50 Å the pair 10 Å apart keeps its 0.9, the far pick stays)."""
    config, written = _copick_project(tmp_path)
    status, text, _ = _run(["particles", config, "--min-dist", "apoferritin=1", "-q"])
    assert status == 0, text
    assert written("0") == [(100.0, 0.2), (110.0, 0.9), (600.0, 0.5)]
    again = ["particles", config, "--min-dist", "apoferritin=50", "-q"]
    status, text, _ = _run(again)
    assert status == 1 and "cryodedup's earlier picks as user cryodedup, session 0 exist already" in text, text
    if way == "--force":
        status, done, _ = _run([*again, *_advised(text, r"give (--force) to replace them")])
        session = "0"
    else:
        (flag,) = _advised(text, r"or another (--copick-out-session)")
        status, done, _ = _run([*again, flag, "2"])
        session = "2"
    assert status == 0, done
    assert written(session) == [(110.0, 0.9), (600.0, 0.5)]


def test_copicks_earlier_picks_left_out_are_read_with_the_users_advised(tmp_path):
    """An earlier result (cryodedup/0) is left out of the next run's inputs; the copick row names the option that
    reads it too (--copick-users with alice, read now, and cryodedup). Run as printed (into another session), both
    sets are read, none left out; by hand at the 60 Å radius cryodedup/0 holds copies of alice's 110 (0.9) and
    600 (0.5), and alice's 100 (0.2) is 10 Å from her 110: kept 110 and 600."""
    from cryodedup.report.sections.readers import CopickProject

    config, written = _copick_project(tmp_path)
    status, text, _ = _run(["particles", config, "-q"])
    assert status == 0, text
    again = ["particles", config, "--copick-out-session", "1", "--json"]
    status, text, _ = _run(again)
    assert status == 0, text
    summary = json.loads(text.splitlines()[-1])
    assert summary["copick"]["left_out"] == ["cryodedup/0"]
    row = CopickProject.of(summary["copick"]).text()
    advice = _suggested(row, [r"\(to read them too: (--copick-users \S+)\)"])[0]
    assert advice == ["--copick-users", "alice,cryodedup"], row
    status, text, _ = _run([*again, *advice, "--force"])
    assert status == 0, text
    summary = json.loads(text.splitlines()[-1])
    assert summary["copick"]["left_out"] == [] and summary["copick"]["pick_sets"] == 2, summary["copick"]
    assert written("1") == [(110.0, 0.9), (600.0, 0.5)]


def _dynamo_tables_in_two_frames(tmp: Path) -> tuple[list[Path], int]:
    """Two Dynamo tables of the same picks on 3 tomograms (random, each over 60 px from any other of its
    tomogram), b's moved by (64, -128, 0) px: b's copy of each pick is a's moved. Their number."""
    rng = np.random.default_rng(8)
    picks = []
    for tomo in range(3):
        placed: list[np.ndarray] = []
        for centre in rng.uniform((200, 200, 50), (1800, 1800, 150), (200, 3)):
            if all(np.linalg.norm(centre - other) > 60 for other in placed):
                placed.append(centre)
        picks += [(tomo + 1, centre) for centre in placed]
    paths = []
    for name, shift in (("a", (0, 0, 0)), ("b", (64, -128, 0))):
        lines = []
        for k, (tomo, centre) in enumerate(picks):
            values = ["0"] * 35  # (tag, tomogram in column 20, x y z in columns 24-26)
            values[0], values[19] = str(k + 1), str(tomo)
            values[23:26] = [f"{v:.2f}" for v in centre + shift]
            lines.append(" ".join(values))
        paths.append(tmp / f"{name}.tbl")
        paths[-1].write_text("\n".join(lines) + "\n")
    return paths, len(picks)


def test_a_merge_these_outputs_cannot_write_is_seen_under_the_audit_advised(tmp_path):
    """Dynamo tables in two frames: the one table written would hold both (its rows are copied as read), so the
    refusal names the transform under --audit ("to see the merge"); run as printed it writes nothing and
    counts what the merge would remove: by hand, each of b's picks is a's copy, and nothing else is near."""
    tables, n = _dynamo_tables_in_two_frames(tmp_path)
    args = ["particles", *tables, "--mic-psize", "1", "--min-dist", "30"]
    status, text, _ = _run([*args, "-o", tmp_path / "first"])
    assert status == 1 and "copied as read" in text, text
    (advice,) = _suggested(text, [r"\(to see the merge: (--transform '[^']+' --audit), which writes nothing\)"])
    status, done, _ = _run([*args, *advice, "-o", tmp_path / "out", "--json", "-q"])
    assert status == 0, done
    summary = json.loads(done.splitlines()[-1])
    assert (summary["particles"], summary["rejected"]) == (2 * n, n), summary
    assert not (tmp_path / "out").exists()
    (merge_as_they_are,) = _suggested(text, [WARN])  # (the other way out it names: accepted, both frames kept)
    status, done, _ = _run([*args, *merge_as_they_are, "-o", tmp_path / "warned", "-q"])
    assert status == 0, done


def test_a_shift_calibration_the_stops_disagree_on_is_given_as_advised(tmp_path):
    """One stage stop 1 µm off the template's step (its estimate 25 µm per unit, the others' 20): a warning
    naming --shift-calibration UM_PER_UNIT; given the microscope's 20, no warning and every re-exposure found."""
    folder, truth = _small_session(tmp_path, moved_um=1.0, stops=(3, 3))
    args = ["micrographs", str(folder / "Mics" / "*.mrc"), "--metadata", folder / "EPU"]
    status, text, warnings = _run([*args, "-o", tmp_path / "first", "--json"])
    assert status == 0, text
    (said,) = [w for w in warnings if "stage stops that agree within" in w]
    (flag,) = _advised(said, r"give (--shift-calibration) UM_PER_UNIT")
    status, _, warnings = _run([*args, flag, "20", "-o", tmp_path / "out", "--json"])
    assert status == 0 and not [w for w in warnings if "calibration" in w], warnings
    assert _pairs_found(tmp_path / "out") == truth != set()


def test_inputs_that_share_no_score_are_told_of_prefer_and_it_runs_as_advised(tmp_path):
    """A re-extraction beside its source shares no score column: the warning advised "--score COLUMN", which no
    column could fill (a new user's trial); now it names --prefer, INPUT filled with the re-extraction (what a
    user keeps): every pair then keeps the re-extracted particle (by hand: the fixture's rows pair one to one)."""
    from fixtures.relion_project import recentered_reextraction

    n = recentered_reextraction(tmp_path)
    source, reextracted = tmp_path / "Class3D/job016/run_it025_data.star", tmp_path / "Extract/job018/particles.star"
    args = ["particles", source, reextracted, "--min-dist", "1"]
    status, text, warnings = _run([*args, "-o", tmp_path / "first", "--json"])
    assert status == 0, text
    (said,) = [w for w in warnings if w.startswith("--score auto: none of")]
    assert "--score COLUMN" not in said
    (flag,) = _advised(said, r"no column of theirs is a score: (--prefer) INPUT")
    status, text, warnings = _run([*args, flag, reextracted, "-o", tmp_path / "out", "--json"])
    assert status == 0, text
    kept = starfile.read(tmp_path / "out" / "particles_kept.star", always_dict=True)["particles"]
    assert len(kept) == n and set(kept["rlnImageName"]) == set(
        starfile.read(reextracted, always_dict=True)["particles"]["rlnImageName"]
    )


def _reextracted_zeroing_origins(source: Path, folder: Path) -> tuple[str, str, int]:
    """``source`` and its re-extraction that zeroes each origin, recentring by it rounded to a whole pixel.

    Written with starfile, apart from the package: X' = X - round(OriginX / pixel), origin 0,
    the images renamed into another job. Row k of either file is the same particle.
    """
    blocks = starfile.read(source, always_dict=True)
    optics, rows = blocks["optics"], blocks["particles"].copy()
    # (coordinates in the micrograph's pixels, origins in Å: RELION 3.1's micrograph pixel where given)
    size = "rlnMicrographPixelSize" if "rlnMicrographPixelSize" in optics else "rlnImagePixelSize"
    pixel_of = dict(zip(optics["rlnOpticsGroup"], optics[size]))
    pixel = rows["rlnOpticsGroup"].map(pixel_of).to_numpy(float)
    for axis in "XY":
        origin = rows[f"rlnOrigin{axis}Angst"].to_numpy(float)
        rows[f"rlnCoordinate{axis}"] = rows[f"rlnCoordinate{axis}"].to_numpy(float) - np.round(origin / pixel)
        rows[f"rlnOrigin{axis}Angst"] = 0.0
    rows["rlnImageName"] = [f"{i + 1}@Extract/job600/stack.mrcs" for i in range(len(rows))]
    refined = blocks["particles"].copy()
    refined["rlnImageName"] = [f"{i + 1}@Refine3D/job500/stack.mrcs" for i in range(len(refined))]
    starfile.write({"optics": optics, "particles": refined}, folder / "refined.star", overwrite=True)
    starfile.write({"optics": optics, "particles": rows}, folder / "reextracted.star", overwrite=True)
    return "refined.star", "reextracted.star", len(rows)


@pytest.mark.real_data
@pytest.mark.parametrize("name", ["cryodrgn__relion5.star", "cryodrgn__relion31.6opticsgroups.star"])
def test_real_reextraction_advice_at_min_dist_zero_runs_as_printed(tmp_path, monkeypatch, name):
    """A real refined set and its re-extraction (origins zeroed): --min-dist 0 refused, the distance named runs.

    Before: on 17 particles of 2 micrographs the named distance was refused as "two frames" with an
    ``=identity`` transform that --transform does not take; on 139 particles, one a micrograph,
    --min-dist 0 kept every copy ("cannot tell"). The oracle: row k of either file is one particle,
    so the kept rows are each particle once.
    """
    from helpers import SHARED_DATA

    monkeypatch.chdir(tmp_path)
    refined, reextracted, n = _reextracted_zeroing_origins(SHARED_DATA / "star" / name, tmp_path)
    half = ["particles", refined, reextracted, "--min-dist", "0"]
    status, text, _ = _run([*half, "-o", "first"])
    assert status == 1 and "within a pixel of each other but not at one centre" in text, text
    (distance,) = _suggested(text, [r"give (--min-dist [0-9.]+) in place of --min-dist 0"])
    status, done, _ = _run([*_with(half, distance), "-o", "second", "-q"])
    assert status == 0, done
    kept = starfile.read(tmp_path / "second" / "particles_kept.star", always_dict=True)["particles"]
    assert sorted(int(image.split("@")[0]) for image in kept["rlnImageName"]) == list(range(1, n + 1))
