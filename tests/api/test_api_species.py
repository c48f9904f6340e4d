"""Several species in memory (issue 58, item 1): the API decides them as the command line does.

The oracle is a brute force written here from docs/design.md sections 2 and 13: within each
species, score-ordered greedy suppression (best first, ties by row order, NaN and RELION's
-999 last; duplicates within the species' distance, inclusive, on one micrograph, or one image
anywhere with ``same_image="reject"``); with ``cross_species``, the survivors walked by their
percentile within their species, a kept pick displacing the picks of other species closer than
the sum of the radii.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryodedup import CryodedupError, remove_duplicates
from cryodedup.cli import main
from fixtures.synthetic import cs_particles

MIN_DIST = 10.0


def no_score(score: float) -> bool:
    return math.isnan(score) or score == -999.0


def best_first(rows: list[int], scores: list[float]) -> list[int]:
    return sorted(rows, key=lambda i: (no_score(scores[i]), 0.0 if no_score(scores[i]) else -scores[i], i))


def percentiles(frame: pd.DataFrame) -> list[float]:
    """Each pick's percentile among its species' scores, (worse + equal / 2) / count; NaN for no score."""
    scores, classes = frame.score.tolist(), frame.cls.tolist()
    out = []
    for i, s in enumerate(scores):
        mine = [t for t, c in zip(scores, classes) if c == classes[i] and not no_score(t)]
        if no_score(s):
            out.append(math.nan)
            continue
        worse, equal = sum(t < s for t in mine), sum(t == s for t in mine)
        out.append((worse + equal / 2) / len(mine))
    return out


def brute_force(frame: pd.DataFrame, distances: dict[str, float], radii: dict[str, float] | None, reject: bool):
    """The kept rows (indices) by the design's rule, every pair compared."""
    mic, x, y, cls, img = (frame[c].tolist() for c in ("mic", "x", "y", "cls", "image"))
    scores = frame.score.tolist()

    def d2(i: int, j: int) -> float:
        return (x[i] - x[j]) ** 2 + (y[i] - y[j]) ** 2

    kept: list[int] = []
    for species in sorted(set(cls)):
        limit = distances.get(str(species), MIN_DIST)
        mine: list[int] = []
        for i in best_first([i for i in range(len(cls)) if cls[i] == species], scores):
            if not any((mic[j] == mic[i] and d2(i, j) <= limit**2) or (reject and img[j] == img[i]) for j in mine):
                mine.append(i)
        kept += mine
    if radii is None:
        return sorted(kept)
    rank = percentiles(frame)
    walk = sorted(kept, key=lambda i: (math.isnan(rank[i]), 0.0 if math.isnan(rank[i]) else -rank[i], i))
    displaced: set[int] = set()
    for at, i in enumerate(walk):
        if i in displaced:
            continue
        for j in walk[at + 1 :]:  # (a better-ranked pick was walked already: kept, or displaced)
            reach = radii[str(cls[i])] + radii[str(cls[j])]
            if cls[j] != cls[i] and mic[j] == mic[i] and d2(i, j) < reach**2:
                displaced.add(j)
    return sorted(set(kept) - displaced)


def relion_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows as a RELION particle table (coordinates in pixels of 1 Å)."""
    return pd.DataFrame(
        {
            "rlnCoordinateX": frame.x.astype(float),
            "rlnCoordinateY": frame.y.astype(float),
            "rlnMicrographName": [f"mic{m}.mrc" for m in frame.mic],
            "rlnImageName": frame.image,
            "rlnClassNumber": frame.cls,
            "rlnAutopickFigureOfMerit": frame.score,
        }
    )


def write_star(table: pd.DataFrame, path) -> None:
    """The table as a STAR file, one more column numbering the rows (to find them among the kept)."""
    labels = [*table.columns, "rlnGroupNumber"]
    lines = ["data_particles", "", "loop_", *(f"_{label}" for label in labels)]
    for k, row in enumerate(table.itertuples(index=False)):
        lines.append(" ".join("nan" if isinstance(v, float) and math.isnan(v) else str(v) for v in row) + f" {k}")
    path.write_text("\n".join(lines) + "\n")


def kept_by_the_cli(table: pd.DataFrame, tmp, options: list[str]) -> list[int]:
    import starfile

    write_star(table, tmp / "in.star")
    result = CliRunner().invoke(
        main, ["particles", str(tmp / "in.star"), "-o", str(tmp / "out"), "--force", "--mic-psize", "1", *options]
    )
    assert result.exit_code == 0, result.output
    kept = starfile.read(tmp / "out" / "particles_kept.star", always_dict=True)
    rows = next(iter(kept.values()))
    return sorted(rows["rlnGroupNumber"].astype(int).tolist())


row = st.fixed_dictionaries(
    {
        "mic": st.integers(0, 2),
        "x": st.integers(0, 40),
        "y": st.integers(0, 40),
        "cls": st.integers(1, 3),
        "score": st.sampled_from([math.nan, -999.0, 0.0, 1.0, 1.0, 2.0, 3.5, 7.0]),
        "image": st.sampled_from([f"{k}@s{j}.mrcs" for k in range(1, 4) for j in range(2)] + [None] * 6),
    }
)
cases = st.fixed_dictionaries(
    {
        "rows": st.lists(row, min_size=1, max_size=24),
        "distances": st.dictionaries(st.sampled_from(["1", "2", "3"]), st.sampled_from([0.0, 5.0, 10.0, 25.0])),
        "cross": st.booleans(),
        "reject": st.booleans(),
    }
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases)
def test_species_in_memory_match_the_brute_force_and_the_cli(case, tmp_path):
    frame = pd.DataFrame(case["rows"])
    frame["image"] = [name if isinstance(name, str) else f"{100 + k}@unique.mrcs" for k, name in enumerate(frame.image)]
    present = {str(c) for c in frame.cls}
    distances = {name: d for name, d in case["distances"].items() if name in present}
    radii = {name: 3.0 + 2 * int(name) for name in present} if case["cross"] else None
    want = brute_force(frame, distances, radii, case["reject"])

    options: dict = {"min_dist": MIN_DIST, "mic_psize": 1.0, "species_column": "rlnClassNumber"}
    options |= {"species_min_dist": distances} if distances else {}
    options |= {"cross_species": True, "radius": radii} if radii else {}
    options["same_image"] = "reject" if case["reject"] else "ignore"
    table = relion_frame(frame)
    kept, rejected = remove_duplicates(table, **options)
    assert kept.index.tolist() == want
    assert sorted(kept.index.tolist() + rejected.index.tolist()) == list(range(len(frame)))

    by_species = "".join(f",{n}={d}" for n, d in distances.items())  # (one --min-dist: the last one given counts)
    flags = ["--min-dist", f"{MIN_DIST}{by_species}", "--species-column", "rlnClassNumber"]
    flags += ["--same-image", options["same_image"]]
    flags += ["--cross-species", "--radius", ",".join(f"{n}={r}" for n, r in radii.items())] if radii else []
    assert kept_by_the_cli(table, tmp_path, [str(f) for f in flags]) == want


def species_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rlnCoordinateX": [0.0, 10.0, 20.0],
            "rlnCoordinateY": [0.0, 0.0, 0.0],
            "rlnMicrographName": ["m"] * 3,
            "rlnClassNumber": [1, 2, 1],
            "rlnAutopickFigureOfMerit": [3.0, 2.0, 1.0],
        }
    )


def test_each_class_is_decided_on_its_own_at_its_own_distance():
    table = species_table()
    kept, _ = remove_duplicates(table, species_column="rlnClassNumber", min_dist=15, mic_psize=1.0)
    assert kept.index.tolist() == [0, 1, 2]  # (row 1, of class 2, no longer suppresses row 2)
    kept, _ = remove_duplicates(
        table, species_column="rlnClassNumber", species_min_dist={"1": 25.0}, min_dist=15, mic_psize=1.0
    )
    assert kept.index.tolist() == [0, 1]
    both, _ = remove_duplicates(table.drop(columns="rlnClassNumber"), species=["a"], min_dist=15, mic_psize=1.0)
    assert both.index.tolist() == [0, 2]  # (one species named: the rows decided together)


def test_species_the_data_cannot_have_are_refused():
    table = species_table()
    with pytest.raises(CryodedupError, match="given 2 time"):
        remove_duplicates(table, species=["a", "b"], mic_psize=1.0)
    with pytest.raises(CryodedupError, match="no such column"):
        remove_duplicates(table, species_column="rlnNoSuch", mic_psize=1.0)
    with pytest.raises(CryodedupError, match="no species"):
        remove_duplicates(table, cross_species=True, radius={"a": 5.0}, mic_psize=1.0)
    with pytest.raises(CryodedupError, match="read from RELION STAR files"):
        remove_duplicates(cs_particles(np.random.default_rng(8), 50), species_column="rlnClassNumber")


def test_class_numbers_beyond_two_to_the_53_stay_apart(tmp_path):
    """2^53 and 2^53 + 1 are one float64: read exactly, they are two classes (item 3)."""
    table = species_table().assign(rlnClassNumber=[2**53, 2**53 + 1, 2**53])
    kept, _ = remove_duplicates(table, species_column="rlnClassNumber", min_dist=15, mic_psize=1.0)
    assert kept.index.tolist() == [0, 1, 2]
    kept, _ = remove_duplicates(
        table, species_column="rlnClassNumber", species_min_dist={"9007199254740992": 25.0}, min_dist=5, mic_psize=1.0
    )
    assert kept.index.tolist() == [0, 1]
    path = tmp_path / "big.star"
    write_star(table, path)
    flags = ["--mic-psize", "1", "--min-dist", "15", "--species-column", "rlnClassNumber", "--json"]
    result = CliRunner().invoke(main, ["particles", str(path), "-o", str(tmp_path / "out"), *flags])
    assert result.exit_code == 0, result.output
    assert '"names": ["9007199254740992", "9007199254740993"]' in result.output
    assert '"kept": 3' in result.output
