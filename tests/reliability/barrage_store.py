"""The barrage's cases of the ``--update`` store (``seen/store.sqlite``) and of paths (issues 38 and 65).

Registered into ``tests/reliability/barrage.py``'s ``CASES`` by :func:`register`. A store case builds
a real store of two rounds (5 micrographs of 64 x 64, rounds of 3 and 2, through the
package's API), damages or edits it, and runs ``micrographs --update`` (or with ``--force``,
or ``--watch``). Besides the barrage's own columns, each case checks its result
(``wrong result``):

- a damaged store, plain ``--update``: exit 1 with "--update --force rebuilds it", and the
  output folder exactly as it was (the store untouched, the outputs of the last round);
- ``--update --force`` of it: exit 0, the outputs byte for byte those of a fresh run of the
  same micrographs, every file the store did not write still there (moved aside at most);
- a valid store (extra files, links, another folder's store): exit 0, the outputs a fresh
  run's, the files put in ``seen/`` by hand untouched.

Path cases give micrographs (or the output folder) hostile names: a line break or bytes
that are not UTF-8 in a name are refused in one line; spaces, tabs, quotes, commas, other
scripts, very long names are written whole.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the data generator: tests/fixtures

from fixtures.store_damage import DAMAGES, sql
from fixtures.synthetic import write_mrc

OUTPUTS = ("pairs.csv", "duplicates.csv", "micrographs_kept.txt", "micrographs_rejected.txt")
STORE, DATABASE = "seen", "store.sqlite"
#: Files each case's build put in ``out`` by hand, with their checksums, and ``out``'s checksums then.
SNAPSHOTS: dict[str, dict[str, Any]] = {}
Check = Callable[[Path, int, str], str]


def micrographs(folder: Path, count: int = 5, names: list[bytes] | None = None) -> list[str]:
    """``count`` MRC files of 64 x 64 noise (seeded), the 5th a re-exposure of the 2nd; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(38)
    images = [rng.normal(size=(64, 64)).astype(np.float32) for _ in range(count)]
    if count >= 5:
        images[4] = np.roll(images[1], 9, axis=1) + 0.3 * images[4]
    paths = []
    for k, image in enumerate(images):
        name = names[k] if names else f"mic_{k + 1}.mrc".encode()
        path = os.path.join(os.fsencode(folder), name)
        write_mrc(os.fsdecode(path), image, 12.0)
        paths.append(os.fsdecode(path))
    return paths


def screen_command(mics: list[str], *more: str) -> list[str]:
    """The command line of a store case's ``micrographs`` run: white noise, so the untrusted verdict accepted."""
    return ["micrographs", *mics, "--bin", "1", "--accept-untrusted", *more]


def update_round(mics: list[str], out: Path, force: bool = False) -> None:
    """One ``--update`` round through the API (the barrage's parent process builds stores fast).

    White-noise images carry no signal, so a screen of a few is blind and refused: the store's
    cases test the store, so the rounds accept the untrusted verdict.
    """
    from cryodedup import MicrographOptions, find_duplicate_micrographs

    options = MicrographOptions(bin=1, accept_untrusted=True)
    find_duplicate_micrographs(mics, out, options, update=True, force=force)


def checksums(folder: Path) -> dict[str, str]:
    """{path below ``folder``: what it is} of everything there (files by content, links by target)."""
    found = {}
    if not os.path.lexists(folder):
        return found
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            found[key] = "link:" + os.readlink(path)
        elif path.is_file():
            size = path.stat().st_size
            # A sparse file of gigabytes by its size and time: read whole it would be the barrage's time.
            big = size > 1 << 26
            found[key] = f"{size}:{path.stat().st_mtime_ns}" if big else hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[key] = "folder" if path.is_dir() else "other"
    if folder.is_symlink() or not folder.is_dir():
        found["."] = "not a folder"
    return found


def fresh_outputs(d: Path, mics: list[str]) -> dict[str, bytes]:
    """The outputs of a fresh run (no --update) of ``mics``: the oracle of a store's round."""
    from cryodedup import MicrographOptions, find_duplicate_micrographs

    find_duplicate_micrographs(mics, d / "fresh", MicrographOptions(bin=1, accept_untrusted=True))
    return {name: (d / "fresh" / name).read_bytes() for name in OUTPUTS}


def built_store(d: Path) -> tuple[list[str], Path]:
    """A store of two rounds in ``d/out`` (3 micrographs, then 5) and the micrographs in ``d/in``."""
    mics = micrographs(d / "in")
    out = d / "out"
    update_round(mics[:3], out)
    update_round(mics, out)
    return mics, out


def snapshot(d: Path, out: Path, mics: list[str], theirs: dict[str, str]) -> None:
    """Notes, for the check, the output folder as the build left it and the outputs a fresh run writes."""
    SNAPSHOTS[str(d)] = {"out": checksums(out), "theirs": theirs, "fresh": fresh_outputs(d, mics)}


def judged(d: Path, code: int, stderr: str, *, refused: bool, words: str = "") -> str:
    """What is wrong with the run's result (empty: nothing); ``refused``: exit 1 expected, else 0."""
    noted = SNAPSHOTS.pop(str(d))
    out = d / "out"
    lines = [line for line in stderr.splitlines() if line.strip()]
    if refused:
        if code != 1:
            return f"exit {code}, expected a refusal"
        if words and words not in lines[-1]:
            return f"the error does not say {words!r}: {lines[-1]}"
        after = checksums(out)
        if after != noted["out"]:
            changed = sorted(set(after.items()) ^ set(noted["out"].items()))[:3]
            return f"a refused run changed the output folder: {changed}"
        return ""
    if code != 0:
        return f"exit {code}: {lines[-1:]}"
    for name in OUTPUTS:
        if (out / name).read_bytes() != noted["fresh"][name]:
            return f"{name} differs from a fresh run's"
    after = checksums(out)
    for key, what in noted["theirs"].items():
        if after.get(key) != what and not any(k.startswith(key + ".aside-") or ".aside-" in k for k in after):
            return f"{key}, put there by hand, is gone or changed"
    return ""


# --- the cases ------------------------------------------------------------------------------------------------


def damaged_case(name: str, damage: Callable[[Path], None], force: bool) -> tuple[str, Callable, Check]:
    def build(d: Path) -> list[str]:
        mics, out = built_store(d)
        damage(out / STORE)
        theirs = {k: v for k, v in checksums(out).items() if "user's" in k}
        snapshot(d, out, mics, theirs)
        return screen_command(mics, "-o", str(out), "--update", *(["--force"] if force else []))

    def check(d: Path, code: int, stderr: str) -> str:
        return judged(d, code, stderr, refused=not force, words="--update --force rebuilds it")

    return (f"{name}{', --force' if force else ''}", build, check)


def seen_replaced(how: str) -> Callable[[Path], None]:
    """``seen`` itself replaced: by a file, a dangling link, a link to a file."""

    def damage(out: Path) -> None:
        shutil.rmtree(out / STORE)
        if how == "a file":
            (out / STORE).write_text("a user's notes")
        elif how == "a dangling link":
            (out / STORE).symlink_to(out.parent / "nowhere")
        else:
            (out.parent / "notes.txt").write_text("a user's")
            (out / STORE).symlink_to(out.parent / "notes.txt")

    return damage


def seen_case(how: str, force: bool) -> tuple[str, Callable, Check]:
    def build(d: Path) -> list[str]:
        mics, out = built_store(d)
        seen_replaced(how)(out)
        snapshot(d, out, mics, {})
        return screen_command(mics, "-o", str(out), "--update", *(["--force"] if force else []))

    def check(d: Path, code: int, stderr: str) -> str:
        problem = judged(d, code, stderr, refused=not force, words="not a folder")
        if not problem and force and not os.path.lexists(d / "out" / f"{STORE}.aside-1"):
            problem = "seen was not moved aside"
        return problem

    return (f"seen/ {how}{', --force' if force else ''}", build, check)


def valid_case(name: str, prepare: Callable[[Path, list[str]], dict[str, str]], *extra: str):
    """A valid store with something added (``prepare`` returns {file: checksum} of what it put there)."""

    def build(d: Path) -> list[str]:
        mics, out = built_store(d)
        theirs = prepare(d, mics)
        snapshot(d, out, mics, theirs)
        return screen_command(mics, "-o", str(out), "--update", *extra)

    def check(d: Path, code: int, stderr: str) -> str:
        return judged(d, code, stderr, refused=False)

    return (name, build, check)


def _users_files(d: Path, mics: list[str]) -> dict[str, str]:
    seen = d / "out" / STORE
    (seen / "notes.txt").write_text("mine")
    (seen / "images-900.npy.bak").write_text("mine")
    (seen / "sub").mkdir()
    (seen / "sub" / "images-1.npy").write_text("mine")
    return {k: v for k, v in checksums(d / "out").items() if k.endswith(("notes.txt", ".bak", "sub/images-1.npy"))}


def _links_inside(d: Path, mics: list[str]) -> dict[str, str]:
    seen = d / "out" / STORE
    (seen / "images-3.npy").symlink_to(mics[0])  # a link named as an earlier store's file, to an input
    (seen / "notes").symlink_to(d / "in")
    return {f"{STORE}/images-3.npy": "link:" + mics[0], f"{STORE}/notes": "link:" + str(d / "in")}


def _another_folders_store(d: Path, mics: list[str]) -> dict[str, str]:
    update_round(mics, d / "other")
    shutil.rmtree(d / "out" / STORE)
    shutil.copytree(d / "other" / STORE, d / "out" / STORE)
    return {}


def _seen_a_link_to_a_folder(d: Path, mics: list[str]) -> dict[str, str]:
    shutil.move(d / "out" / STORE, d / "fast-disk")
    (d / "out" / STORE).symlink_to(d / "fast-disk")
    return {}


def _numbered_users_file(d: Path, mics: list[str]) -> dict[str, str]:
    (d / "out" / STORE / "images-3.npy").write_text("a user's file named as an earlier store's")
    return {f"{STORE}/images-3.npy": checksums(d / "out")[f"{STORE}/images-3.npy"]}


def _hot_journal(d: Path, mics: list[str]) -> dict[str, str]:
    """A round killed in its transaction: its journal left (the store rolled back as it is opened)."""
    seen = d / "out" / STORE
    before = (seen / DATABASE).read_bytes()
    script = (
        "import os, sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None); "
        "db.execute('PRAGMA journal_mode=TRUNCATE'); db.execute('BEGIN IMMEDIATE'); "
        "db.execute('DELETE FROM pairs'); db.execute('DELETE FROM images'); db.execute('PRAGMA cache_size=0'); "
        "db.execute('CREATE TABLE junk(x)'); db.execute('INSERT INTO junk VALUES (zeroblob(1 << 20))'); os._exit(9)"
    )
    subprocess.run([sys.executable, "-c", script, str(seen / DATABASE)], check=False)
    assert (seen / DATABASE).read_bytes() != before and os.path.getsize(seen / f"{DATABASE}-journal") > 0
    return {}


def appending_case(name: str, change: Callable[[Path, list[str]], None]) -> tuple[str, Callable, Check]:
    """A round of 3 micrographs, ``change`` to its pairs.csv or to what the store says of it, a round of 5:
    pairs.csv is not appended to (issue 43), the outputs are a fresh run's."""

    def build(d: Path) -> list[str]:
        mics = micrographs(d / "in")
        out = d / "out"
        update_round(mics[:3], out)
        change(out, mics)
        snapshot(d, out, mics, {})
        return screen_command(mics, "-o", str(out), "--update")

    def check(d: Path, code: int, stderr: str) -> str:
        return judged(d, code, stderr, refused=False)

    return (name, build, check)


def _pairs_csv_edited(out: Path, mics: list[str]) -> None:
    with open(out / "pairs.csv", "a") as f:
        f.write("0,1,a user's row\r\n")


def _pairs_csv_one_digit(out: Path, mics: list[str]) -> None:
    data = bytearray((out / "pairs.csv").read_bytes())
    data[-8] = ord("1") if data[-8] != ord("1") else ord("2")
    (out / "pairs.csv").write_bytes(bytes(data))  # the same size, a later time


def _pairs_csv_record(value: str) -> Callable[[Path, list[str]], None]:
    return lambda out, mics: sql(f"UPDATE meta SET value = {value} WHERE key = 'pairs_csv'")(out / STORE)


def input_inside_case(name: str, where: Callable[[Path, list[str]], list[str]]):
    """Item 1: an input inside the output folder or its store: refused, nothing removed."""

    def build(d: Path) -> list[str]:
        mics, out = built_store(d)
        given = where(d, mics)
        snapshot(d, out, mics, {})
        return screen_command(given, "-o", str(out), "--update")

    def check(d: Path, code: int, stderr: str) -> str:
        return judged(d, code, stderr, refused=True, words="an input inside the output folder")

    return (name, build, check)


def _in_seen(d: Path, mics: list[str]) -> list[str]:
    for path in mics:
        shutil.copy(path, d / "out" / STORE)
    return [str(d / "out" / STORE / "*.mrc")]


def _in_out(d: Path, mics: list[str]) -> list[str]:
    shutil.copy(mics[0], d / "out" / "extra.mrc")
    return [*mics, str(d / "out" / "extra.mrc")]


def _through_a_link(d: Path, mics: list[str]) -> list[str]:
    for path in mics:
        shutil.copy(path, d / "out" / STORE)
    (d / "in" / "link").symlink_to(d / "out" / STORE)
    return [str(d / "in" / "link" / "*.mrc")]


# Cases whose two runs write into one folder at once (the refused one sees the other's outputs appear).
SHARED_FOLDER = {"two --update rounds at once"}


def concurrent_case() -> tuple[str, Callable, Check]:
    """Two --update rounds into one folder at once: one runs, the other is refused in one line (or runs after)."""
    other: dict[str, subprocess.Popen] = {}

    def build(d: Path) -> list[str]:
        mics = micrographs(d / "in", 5)
        update_round(mics[:3], d / "out")
        snapshot(d, d / "out", mics, {})
        command = [
            sys.executable,
            "-m",
            "cryodedup",
            "micrographs",
            *mics,
            "--bin",
            "1",
            "--accept-untrusted",
            "-o",
            str(d / "out"),
        ]
        other[str(d)] = subprocess.Popen(
            [*command, "--update", "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        return [*command[3:], "--update"]

    def check(d: Path, code: int, stderr: str) -> str:
        run = other.pop(str(d))
        _, err = run.communicate(timeout=120)
        codes = sorted([code, run.returncode])
        said = stderr + err.decode("utf-8", "replace")
        if codes not in ([0, 0], [0, 1]) or "Traceback" in said:
            return f"exits {codes}: {said[-300:]}"
        if codes == [0, 1] and "another cryodedup run is writing" not in said:
            return f"the refused run does not say why: {said[-300:]}"
        return judged(d, 0, "", refused=False)

    return ("two --update rounds at once", build, check)


def watch_case(name: str, damage: Callable[[Path], None] | None) -> tuple[str, Callable, Check]:
    """--watch over a store (damaged: refused in one line at once; whole: rounds, then idle, exit 0)."""

    def build(d: Path) -> list[str]:
        mics, out = built_store(d)
        if damage:
            damage(out / STORE)
        snapshot(d, out, mics, {})
        watch = ["--watch", "0.2", "--watch-idle", "0.02"]
        return screen_command([str(d / "in" / "*.mrc")], "-o", str(out), *watch)

    def check(d: Path, code: int, stderr: str) -> str:
        return judged(d, code, stderr, refused=damage is not None, words="--update --force rebuilds it")

    return (name, build, check)


def read_only_case(force: bool) -> tuple[str, Callable, Check]:
    """Item 4: seen/ on a read-only mount (a bind mount; root only), the output folder writable."""
    state: dict[str, bool] = {}

    def build(d: Path) -> list[str]:
        mics, out = built_store(d)
        extra = micrographs(d / "in" / "new", 1, [b"mic_9.mrc"])  # a new micrograph: the round must write
        seen = str(out / STORE)
        state[str(d)] = (
            subprocess.run(["mount", "--bind", seen, seen], check=False, capture_output=True).returncode == 0
            and subprocess.run(["mount", "-o", "remount,ro,bind", seen], check=False, capture_output=True).returncode
            == 0
        )
        snapshot(d, out, mics + extra, {})
        return [
            "micrographs",
            *mics,
            *extra,
            "--bin",
            "1",
            "--accept-untrusted",
            "-o",
            str(out),
            "--update",
            *(["--force"] if force else []),
        ]

    def check(d: Path, code: int, stderr: str) -> str:
        seen = str(d / "out" / STORE)
        mounted = state.pop(str(d))
        while any(line.split()[1] == seen for line in Path("/proc/mounts").read_text().splitlines()):
            subprocess.run(["umount", seen], check=True)
        if not mounted:  # no mount here: the run wrote the store as usual
            return judged(d, code, stderr, refused=False) if code == 0 else f"exit {code}"
        return judged(d, code, stderr, refused=True, words="cannot write the --update store")

    return (f"seen/ read-only{', --force' if force else ''}", build, check)


# --- paths ----------------------------------------------------------------------------------------------------


def name_case(name: str, first: bytes, refused: bool, *extra: str) -> tuple[str, Callable, Check]:
    """The first micrograph named ``first``: refused in one line naming it, or written whole."""

    def build(d: Path) -> list[str]:
        names = [first, *(f"mic_{k}.mrc".encode() for k in range(2, 6))]
        mics = micrographs(d / "in", 5, names)
        SNAPSHOTS[str(d)] = {"mics": mics}
        return [
            "micrographs",
            str(d / "in" / "*.mrc"),
            "--bin",
            "1",
            "--accept-untrusted",
            "-o",
            str(d / "out"),
            *extra,
        ]

    def check(d: Path, code: int, stderr: str) -> str:
        mics = SNAPSHOTS.pop(str(d))["mics"]
        if refused:
            return (
                "" if code == 1 and "rename the file" in stderr else f"exit {code}, expected a refusal: {stderr[-200:]}"
            )
        if code != 0:
            return f"exit {code}: {stderr[-200:]}"
        listed = (d / "out" / "micrographs_kept.txt").read_bytes().decode("utf-8").splitlines()
        listed += (d / "out" / "micrographs_rejected.txt").read_bytes().decode("utf-8").splitlines()
        return "" if sorted(listed) == sorted(mics) else f"the lists hold {len(listed)} names for {len(mics)}"

    return (name, build, check)


def outdir_case(name: str, folder: bytes) -> tuple[str, Callable, Check]:
    """An output folder of a hostile name: written there whole (or refused in one line if the system cannot)."""

    def build(d: Path) -> list[str]:
        micrographs(d / "in", 5)
        out = os.fsdecode(os.path.join(os.fsencode(d), folder))
        SNAPSHOTS[str(d)] = {"out": out}
        return screen_command([str(d / "in" / "*.mrc")], "--update", "-o", out)

    def check(d: Path, code: int, stderr: str) -> str:
        out = Path(SNAPSHOTS.pop(str(d))["out"])
        if code == 1 and "Error:" in stderr:
            return ""
        if code != 0:
            return f"exit {code}"
        return (
            ""
            if all(os.path.exists(out / n) for n in OUTPUTS) and (out / STORE / DATABASE).is_file()
            else "outputs missing"
        )

    return (name, build, check)


def cases() -> list[tuple[str, str, Callable, Check]]:
    """Every case of this module: (kind, name, build, check)."""
    found: list[tuple[str, Callable, Check]] = []
    for name, damage in DAMAGES.items():
        found.append(damaged_case(name, damage, force=False))
        found.append(damaged_case(name, damage, force=True))
    for how in ("a file", "a dangling link", "a link to a file"):
        found += [seen_case(how, False), seen_case(how, True)]
    found += [
        valid_case("a user's files and folder in seen/", _users_files),
        valid_case("a user's files in seen/, --force", _users_files, "--force"),
        valid_case("a killed round's journal", _hot_journal),
        valid_case("links inside seen/", _links_inside),
        valid_case("links inside seen/, --force", _links_inside, "--force"),
        valid_case("the store of another output folder", _another_folders_store),
        valid_case("seen/ a link to a folder", _seen_a_link_to_a_folder),
        valid_case("a user's images-3.npy in seen/", _numbered_users_file),
        appending_case("pairs.csv: a row added by hand between rounds", _pairs_csv_edited),
        appending_case("pairs.csv: a digit changed between rounds", _pairs_csv_one_digit),
        appending_case("pairs.csv deleted between rounds", lambda out, mics: os.unlink(out / "pairs.csv")),
        appending_case("the store's pairs_csv not a record", _pairs_csv_record("'junk'")),
        appending_case(
            "the store's pairs_csv of another file", _pairs_csv_record("json_set(value, '$.stamp', json('[1, 2, 3]'))")
        ),
        appending_case(
            "the store's pairs_csv of more rows", _pairs_csv_record("json_set(value, '$.rows', 1000000000)")
        ),
        input_inside_case("inputs in seen/ (the reported loss)", _in_seen),
        input_inside_case("an input in the output folder", _in_out),
        input_inside_case("inputs in seen/ through a link", _through_a_link),
        concurrent_case(),
        watch_case("--watch over a whole store", None),
        watch_case("--watch over a damaged store", DAMAGES["an image cut short"]),
        read_only_case(False),
        read_only_case(True),
    ]
    kinds = [("store", *c) for c in found]
    paths = [
        name_case("a newline in a name", b"a\nb_1.mrc", True),
        name_case("a newline in a name, --update", b"a\nb_1.mrc", True, "--update"),
        name_case("a carriage return in a name", b"a\rb_1.mrc", True),
        name_case("U+2028 in a name", "a\u2028b_1.mrc".encode(), True),
        name_case("a name not UTF-8", b"f\xff_1.mrc", True),
        name_case("a name not UTF-8, --update", b"f\xff_1.mrc", True, "--update"),
        name_case("spaces in a name", b"my mic 1.mrc", False),
        name_case("a tab in a name", b"tab\there_1.mrc", False),
        name_case("quotes and commas in a name", b"a \"b\", 'c'_1.mrc", False),
        name_case("a name of 250 bytes", b"m" * 242 + b"_1.mrc", False),
        name_case("a name in another script", "顕微鏡_1.mrc".encode(), False),
        name_case("glob characters in a name", b"[m]*?_1.mrc", False),
        name_case("a name starting with a dash", b"-m_1.mrc", False),
        outdir_case("an output folder with spaces", b"my out"),
        outdir_case("an output folder with a newline", b"out\nnew"),
        outdir_case("an output folder not UTF-8", b"out\xff"),
        outdir_case("an output path of 5,000 bytes", b"/".join([b"d" * 200] * 25)),
    ]
    return kinds + [("paths", *c) for c in paths]


KINDS = ("store", "paths")


def register(cases_list: list, case_type: type) -> None:
    """Adds this module's cases to the barrage's ``CASES``, each check as the barrage's ``expect``."""
    for kind, name, build, check in cases():
        shared = name in SHARED_FOLDER
        cases_list.append(case_type(kind, name, *as_expect(build, check), shared_folder=shared))


def as_expect(build: Callable[[Path], list[str]], check: Check) -> tuple[Callable, Callable]:
    """The barrage's ``expect`` gets the output folder (``-o``); the checks here want the case's folder."""
    folders: dict[str, Path] = {}

    def built(d: Path) -> list[str]:
        args = build(d)
        folders[str(Path(args[args.index("-o") + 1]))] = d
        return args

    def expect(out: Path, code: int, stderr: str, stdout: str) -> str | None:
        return check(folders.pop(str(out)), code, stderr) or None

    return built, expect
