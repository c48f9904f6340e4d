"""``--metric czii`` without ``--radius``: the challenge's radius per species, else a refusal (issue 89 item 3).

The challenge's metric scores each species at its own radius (its ``particle_radius``: apo-ferritin
60, beta-amylase 65, beta-galactosidase 90, ribosome 150, thyroglobulin 130, virus-like-particle
135 Å; tests/czii_oracle.py). On main every species without a radius was scored at the 20 Å default
(a hit within 10 Å), and picker files (no species) likewise, without a word.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cryodedup.cli import main
from cryodedup.formats.copick import root_logger_kept
from czii_oracle import RADII, WEIGHTS, described_metric

with root_logger_kept():
    copick = pytest.importorskip("copick")
    from copick.models import CopickLocation, CopickPoint, PickableObject

ROUNDED = 5e-5 + 1e-12


def project(tmp_path, reference, candidate, radii):
    """A copick project (copick's API): reference as curation/0, candidate as model/0; ``radii``: each object's
    radius in its config (None: none)."""
    with root_logger_kept():
        config = tmp_path / "project" / "copick_config.json"
        objects = [
            PickableObject(name=n, is_particle=True, radius=r, label=k + 1) for k, (n, r) in enumerate(radii.items())
        ]
        root = copick.new_config(str(config), str(tmp_path / "project" / "overlay"), pickable_objects=objects)
        runs = {}
        for user, rows in (("curation", reference), ("model", candidate)):
            by_set = {}
            for tomogram, name, centre in rows:
                by_set.setdefault((tomogram, name), []).append(centre)
            for (tomogram, name), centres in sorted(by_set.items()):
                if tomogram not in runs:
                    runs[tomogram] = root.new_run(f"TS_{tomogram:03d}")
                picks = runs[tomogram].new_picks(object_name=name, session_id="0", user_id=user)
                picks.points = [
                    CopickPoint(location=CopickLocation(x=c[0], y=c[1], z=c[2]), score=1.0) for c in centres
                ]
                picks.store()
    return config


def ribosome_picks(seed=89):
    """Ribosomes and apo-ferritins picked 0-70 Å and 0-28 Å off (within half their radii), a few missed."""
    rng = np.random.default_rng(seed)
    reference, candidate = [], []
    for tomogram in range(2):
        for name, off in (("ribosome", 70.0), ("apo-ferritin", 28.0)):
            for k in range(12):
                centre = tuple(rng.uniform(500, 5000, 3).round(1))
                reference.append((tomogram, name, centre))
                if k % 4:
                    direction = rng.normal(size=3)
                    moved = np.add(centre, direction / np.linalg.norm(direction) * rng.uniform(0, off))
                    candidate.append((tomogram, name, tuple(moved.round(1))))
    return reference, candidate


def comparepicks(config, *flags):
    from cryodedup.copick_command import comparepicks as command

    args = ["-c", str(config), "--reference", "curation/0", "--candidate", "model/0", "--metric", "czii", "--json"]
    return CliRunner().invoke(command, [*args, *flags])


def test_challenge_species_without_a_radius_are_scored_at_the_challenges(tmp_path):
    # On main: both at 20 Å (hits within 10 Å): ribosome F-beta about 0.1, not 0.77.
    reference, candidate = ribosome_picks()
    config = project(tmp_path, reference, candidate, {"ribosome": None, "apo-ferritin": None})
    result = comparepicks(config)
    assert result.exit_code == 0, result.output
    czii = json.loads(result.stdout.splitlines()[-1])["czii"]
    expected, score = described_metric(reference, candidate, RADII, WEIGHTS)
    for species in czii["species"]:
        name = species["species"]
        assert species["radius_A"] == RADII[name]
        assert (species["tp"], species["fp"], species["fn"]) == expected[name][:3]
    assert czii["score"] == pytest.approx(score, abs=ROUNDED)
    assert score > 0.7


def test_the_challenges_radius_over_a_configs_own(tmp_path):
    # A config whose ribosome is 100 Å: the challenge's metric scores it at 150 all the same (main: 100).
    reference, candidate = ribosome_picks()
    config = project(tmp_path, reference, candidate, {"ribosome": 100.0, "apo-ferritin": 60.0})
    czii = json.loads(comparepicks(config).stdout.splitlines()[-1])["czii"]
    expected, _ = described_metric(reference, candidate, RADII, WEIGHTS)
    ribosome = next(s for s in czii["species"] if s["species"] == "ribosome")
    assert ribosome["radius_A"] == 150.0 and ribosome["tp"] == expected["ribosome"][0]
    # --radius NAME=Å stays the user's
    named = json.loads(comparepicks(config, "--radius", "ribosome=100").stdout.splitlines()[-1])["czii"]
    assert next(s for s in named["species"] if s["species"] == "ribosome")["radius_A"] == 100.0


def test_an_object_of_no_challenge_species_without_a_radius_is_refused_naming_radius(tmp_path):
    reference, candidate = ribosome_picks()
    rename = {"apo-ferritin": "membrane-protein"}
    reference = [(t, rename.get(n, n), c) for t, n, c in reference]
    candidate = [(t, rename.get(n, n), c) for t, n, c in candidate]
    config = project(tmp_path, reference, candidate, {"ribosome": None, "membrane-protein": None})
    result = comparepicks(config)
    assert result.exit_code == 1 and "Traceback" not in result.output
    said = " ".join(result.output.split())
    assert "object 'membrane-protein' has no radius" in said and "--radius membrane-protein=Å" in said


def test_picker_files_with_no_species_are_refused_without_radius(tmp_path):
    # On main: scored at the 20 Å default without a word.
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("image_name\tx_coord\ty_coord\nmic0\t100\t100\nmic0\t500\t500\n")
    args = ["compare", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "--mic-psize", "1", "--topaz-scale", "1"]
    result = CliRunner().invoke(main, [*args, "--reference", "1", "--metric", "czii"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    said = " ".join(result.output.split())
    assert "of no species the CZII challenge scores" in said and "--radius Å" in said
    given = CliRunner().invoke(main, [*args, "--reference", "1", "--metric", "czii", "--radius", "20", "--json", "-q"])
    assert given.exit_code == 0, given.output
    assert json.loads(given.stdout)["czii"]["species"][0]["radius_A"] == 20.0
    matching = CliRunner().invoke(main, [*args, "--reference", "1", "--json", "-q"])  # (the matching: 20 Å as ever)
    assert matching.exit_code == 0 and json.loads(matching.stdout)["radius_A"] == 20.0
