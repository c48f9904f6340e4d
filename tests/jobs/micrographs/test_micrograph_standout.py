"""A screen that cannot be trusted names what it saw; TRUSTED only where a re-exposure would have passed (issue 97).

On main, the real 52 micrographs with noise of twice each image's SD were refused "blind" with no
pair named, though the run's own two strongest pairs, 04700/04736 and 04701/04737 at one shift,
were the answer; its ``--json`` had no ``trusted``, ``why`` null, no estimate as a number, no
timings. Small sessions were TRUSTED where a re-exposure of their images scored under the
threshold (the estimate from 8 sampled images, none under 30 pairs, none against ``--min-z``).

The oracle: an independent screen written here (numpy phase correlation, whitened, band-passed
from 25 to 4 pixels, the peak in standard deviations of the map), not the package's scores.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from test_micrograph_trusted import write_noisy_copies

from cryodedup.cli import main
from helpers import shared_file

#: The real set's two re-exposures its noisy copy (seed 1) shows at one shift (indices in the 52).
NAMED = {(0, 36), (1, 37)}


def screen(folder, out, *extra: str):
    args = ["micrographs", str(folder / "*.mrc"), "-o", str(out), "--json", *extra]
    return CliRunner().invoke(main, args)


def independent_z(first: np.ndarray, second: np.ndarray) -> float:
    """The phase correlation's peak of two images, in standard deviations of its map (brute force, numpy).

    Each image less its mean, edges tapered (a cosine over 8 % of each side), padded to twice its
    size; the cross-power spectrum whitened and weighted 1 between 25 and 4 pixels per cycle, 0 outside.
    """

    def spectrum(image: np.ndarray) -> np.ndarray:
        ny, nx = image.shape
        taper = np.outer(
            *(np.minimum(1, np.sin(np.pi * (np.arange(n) + 0.5) / n) / np.sin(np.pi * 0.08)) for n in (ny, nx))
        )
        return np.fft.rfft2((image - image.mean()) * taper, (2 * ny, 2 * nx))

    a, b = spectrum(first.astype(float)), spectrum(second.astype(float))
    fy, fx = np.fft.fftfreq(a.shape[0])[:, None], np.fft.rfftfreq(2 * first.shape[1])[None, :]
    band = (np.hypot(fy, fx) >= 1 / 25) & (np.hypot(fy, fx) <= 1 / 4)
    cross = a * np.conj(b)
    cmap = np.fft.irfft2(np.where(band, cross / np.maximum(np.abs(cross), 1e-30), 0), (a.shape[0], 2 * first.shape[1]))
    return float((cmap.max() - cmap.mean()) / cmap.std())


def read(folder, number: str) -> np.ndarray:
    import mrcfile

    (path,) = folder.glob(f"CU428_{number}_*.mrc")
    return mrcfile.read(path).astype(np.float32)


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """The real 52 micrographs with noise of twice each image's SD (seed 1), in a temporary folder."""
    folder = tmp_path_factory.mktemp("noisy")
    write_noisy_copies(shared_file("micrographs"), folder, scale=2.0, seed=1)
    return folder


@pytest.mark.real_data
def test_a_blind_refusal_names_the_pairs_standing_out_at_one_shift(noisy, tmp_path):
    result = screen(noisy, tmp_path / "out")
    assert result.exit_code == 1 and not (tmp_path / "out" / "pairs.csv").exists()
    document = json.loads(result.stdout)
    verdict = document["verdict"]
    assert verdict["word"] == "refused" and verdict["trusted"] is False
    assert verdict["why"].startswith("blind at 11 Å per pixel: a re-exposure of these images would score z")
    power = document["power"]
    assert power["images"] == 52 and power["low"] <= power["z"] < 8.0 <= power["high"], power
    assert document["timings"]["seconds"] > 0 and document["timings"]["decide"] > 0
    at_one_shift = {(r["index_a"], r["index_b"]) for r in document["standing_out"] if r["agreeing"]}
    assert at_one_shift == NAMED, document["standing_out"]
    assert "CU428_04700_4-1.mrc/CU428_04736_1-1.mrc z 6.46" in result.stderr
    assert "CU428_04701_4-2.mrc/CU428_04737_1-2.mrc z 6.25" in result.stderr
    # The independent screen: of the pairs 36 images apart (a hole imaged again), these two stand
    # highest, and far over its null (every pair 1-3 images apart: unrelated, PROVENANCE.md).
    z = {(k, k + 36): independent_z(read(noisy, f"{4700 + k:05d}"), read(noisy, f"{4736 + k:05d}")) for k in range(16)}
    null = np.array(
        [
            independent_z(read(noisy, f"{n:05d}"), read(noisy, f"{n + d:05d}"))
            for n in range(4704, 4744, 3)
            for d in (1, 2)
        ]
    )
    median, sd = np.median(null), 1.4826 * np.median(np.abs(null - np.median(null)))
    assert set(sorted(z, key=z.get)[-2:]) == NAMED, z
    assert all((z[pair] - median) / sd > 4 for pair in NAMED), (z, median, sd)
    print({pair: round((z[pair] - median) / sd, 1) for pair in z}, median, sd)
    # The advice as printed: --accept-untrusted writes what the thresholds gave, the pairs left to check.
    assert "--accept-untrusted writes what the thresholds gave" in result.stderr
    accepted = screen(noisy, tmp_path / "accepted", "--accept-untrusted", "-q")
    assert accepted.exit_code == 0
    summary = json.loads(accepted.stdout)
    assert summary["verdict"]["word"] == "NOT TRUSTED" and summary["power"] == power
    assert {(r["index_a"], r["index_b"]) for r in summary["standing_out"] if r["agreeing"]} == NAMED


#: Small sessions (issue 97, item 8): the images of each, and the one re-exposure planted in its twin.
SESSIONS = {
    "10 noisy": ("noisy", [f"0{n}" for n in range(4704, 4714)]),
    "7 noisy": ("noisy", [f"0{n}" for n in range(4704, 4711)]),
    "5 noisy": ("noisy", [f"0{n}" for n in range(4704, 4709)]),
    "5 clean, --min-z 300": ("clean", [f"0{n}" for n in range(4704, 4709)]),
}


@pytest.mark.real_data
@pytest.mark.parametrize("session", SESSIONS)
def test_a_small_session_is_never_trusted_where_a_reexposure_would_score_under_the_threshold(noisy, tmp_path, session):
    source, numbers = SESSIONS[session]
    folder = noisy if source == "noisy" else shared_file("micrographs")
    extra = ("--min-z", "300") if "min-z" in session else ()
    without, with_pair = tmp_path / "without", tmp_path / "with"
    for target, chosen in ((without, numbers), (with_pair, [*numbers[:-2], "04700", "04736"])):
        target.mkdir()
        for number in chosen:
            (path,) = folder.glob(f"CU428_{number}_*.mrc")
            (target / path.name).symlink_to(path)
    verdicts = {}
    for target in (without, with_pair):
        result = screen(target, tmp_path / f"{target.name}_out", *extra)
        document = json.loads(result.stdout)
        named = {(r["name_a"][6:11], r["name_b"][6:11]) for r in document.get("standing_out") or []}
        verdicts[target.name] = (document["verdict"]["word"], named)
    # Written as accepted, the planted re-exposure is no duplicate: it scores under the threshold at this noise
    # (and the independent screen puts it over every other pair of the session: a re-exposure indeed).
    accepted = screen(with_pair, tmp_path / "accepted", "--accept-untrusted", *extra)
    assert json.loads(accepted.stdout)["duplicate_pairs"] == 0, accepted.output
    z = {
        (a.name[6:11], b.name[6:11]): independent_z(*(read(with_pair, n.name[6:11]) for n in (a, b)))
        for k, a in enumerate(sorted(with_pair.iterdir()))
        for b in sorted(with_pair.iterdir())[k + 1 :]
    }
    assert max(z, key=z.get) == ("04700", "04736"), z
    # So neither run is TRUSTED, and the verdict flips on the planted re-exposure: named there, none without it.
    assert all(word == "refused" for word, _ in verdicts.values()), (session, verdicts)
    assert verdicts["without"][1] == set() and ("04700", "04736") in verdicts["with"][1], verdicts


@pytest.mark.real_data
def test_a_small_session_without_a_reexposure_may_name_unrelated_pairs_to_check(noisy, tmp_path):
    # What docs/guides/micrographs.md says of small sessions (a new user's trial: it claimed none named a pair
    # where no re-exposure was): 04710-04719 at this noise names two pairs 2 images apart (unrelated,
    # PROVENANCE.md), neither at one shift with another, and is refused.
    session = tmp_path / "session"
    session.mkdir()
    for number in range(4710, 4720):
        (path,) = noisy.glob(f"CU428_0{number}_*.mrc")
        (session / path.name).symlink_to(path)
    document = json.loads(screen(session, tmp_path / "out").stdout)
    named = {(r["name_a"][6:11], r["name_b"][6:11]): r for r in document["standing_out"]}
    assert document["verdict"]["word"] == "refused" and set(named) == {("04715", "04717"), ("04711", "04713")}
    assert [round(named[pair]["z"], 2) for pair in sorted(named)] == [5.69, 5.89]
    assert not any(r["agreeing"] for r in named.values())


def test_report_says_each_uncertain_pairs_own_reason():
    # On main the table's heading gave every uncertain pair the joint score's reason ("within 1.25x of 1"),
    # also to a pair left to check for lying at confirmed re-exposures' shift with a joint score of 0.44.
    from test_micrograph_trusted import RULES, plan_at, planted

    from cryodedup.jobs.micrographs.decide import decide
    from cryodedup.jobs.micrographs.pictures import _why_uncertain

    d = decide(planted((3, 39, 6.5, 0.066, -8, 14)), RULES, None, plan_at(4, 43.84))
    assert d.joint[3] == pytest.approx(0.066 / 0.15) and d.uncertain[3]  # (by hand: min(6.5 / 8, 0.066 / 0.15))
    assert _why_uncertain(d, 3) == "at the shift of confirmed re-exposures"
    d.joint[3] = 0.9  # (in the band too: both said)
    assert _why_uncertain(d, 3) == "joint score within 1.25x of 1; at the shift of confirmed re-exposures"


@pytest.mark.real_data
@pytest.mark.parametrize("count", [2, 3, 4])
def test_a_session_of_two_to_four_images_is_judged_as_a_larger_one(noisy, tmp_path, count):
    # On main sessions under 5 images were never judged blind: 2-4 noisy images TRUSTED, though a
    # re-exposure of them scores under the threshold (written as accepted: no duplicate). At their own
    # noise a re-exposure passes, and the verdict flips on it (TRUSTED, then one duplicate found).
    numbers = [f"0{n}" for n in range(4704, 4704 + count)]
    words, named, found = {}, {}, {}
    for source in ("noisy", "clean"):
        folder = noisy if source == "noisy" else shared_file("micrographs")
        for planted, chosen in ((False, numbers), (True, [*numbers[:-2], "04700", "04736"])):
            target = tmp_path / f"{source}{planted}"
            target.mkdir()
            for number in chosen:
                (path,) = folder.glob(f"CU428_{number}_*.mrc")
                (target / path.name).symlink_to(path)
            document = json.loads(screen(target, tmp_path / f"{target.name}_out").stdout)
            words[source, planted] = document["verdict"]["word"]
            named[source, planted] = {
                (r["name_a"][6:11], r["name_b"][6:11]) for r in document.get("standing_out") or []
            }
            if source == "noisy":
                assert document["power"]["images"] == count and document["verdict"]["why"].startswith("blind")
                accepted = screen(target, tmp_path / f"{target.name}_accepted", "--accept-untrusted")
                found[planted] = json.loads(accepted.stdout)["duplicate_pairs"]
            else:
                found["clean", planted] = document["duplicate_pairs"]
    assert words["noisy", False] == words["noisy", True] == "refused", words
    assert found == {False: 0, True: 0, ("clean", False): 0, ("clean", True): 1}, found
    assert words["clean", False] == words["clean", True] == "TRUSTED", words
    # 4 images make the 6 pairs a spread needs: the planted pair is named there, none without it.
    if count == 4:
        assert named["noisy", False] == set() and named["noisy", True] == {("04700", "04736")}, named
    # The independent screen: the planted pair is a re-exposure (far over the session's unrelated pairs
    # at their own noise), and at twice the noise it stays over them (it is the one the screen cannot pass).
    clean = {n: read(shared_file("micrographs"), n) for n in ("04700", "04736", *numbers)}
    planted_z = independent_z(clean["04700"], clean["04736"])
    unrelated = [independent_z(clean[a], clean[b]) for k, a in enumerate(numbers) for b in numbers[k + 1 :]]
    assert planted_z > 3 * max(unrelated), (planted_z, unrelated)
    assert independent_z(read(noisy, "04700"), read(noisy, "04736")) > max(
        independent_z(read(noisy, a), read(noisy, b)) for k, a in enumerate(numbers) for b in numbers[k + 1 :]
    )
