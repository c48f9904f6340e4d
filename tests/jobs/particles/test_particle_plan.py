"""The particle job's plan (jobs/particles/plan.py): the options resolved once, the one place they are read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cryodedup.errors import CryodedupError
from cryodedup.jobs.particles.plan import plan
from cryodedup.options import ParticleOptions
from cryodedup.particle_set import ParticleSet
from helpers import functions_taking

PACKAGE = Path(__file__).resolve().parents[3] / "python" / "cryodedup"

#: The functions outside options/ that take a whole ParticleOptions: the entry points that are given it (the
#: command line, the Python API, compare's reading, select's reading as the command line gives it) and the plan that
#: resolves it; the job's run and an --update round around it take the plan (the round's store and refusals its
#: RoundPlan).
TAKERS = {
    "cli.py run_particle_job",
    "cli.py _checked",
    "jobs/compare.py compare_picks",
    "jobs/particles/entrance.py remove_duplicate_particles",
    "jobs/particles/plan.py plan",
}


def _takers() -> set[str]:
    """Each function outside options/ with a parameter annotated ``ParticleOptions``, as ``path name``."""
    return functions_taking(PACKAGE, "ParticleOptions")


def test_only_the_entry_points_and_the_plan_take_the_whole_options():
    # A stage takes the plan's values (read, decide, write, record, summarise, draw, page, regions,
    # registration, species): a new function given the whole options is a stage that reads the flag bag.
    assert _takers() <= TAKERS, sorted(_takers() - TAKERS)


def _species_set(names: list[str], radii: dict[str, float]) -> ParticleSet:
    n = len(names)
    return ParticleSet(
        inputs=["picks.star"],
        input_of=np.zeros(n, np.uint8),
        mic_names=["TS_01"],
        groups=np.zeros(n, np.int64),
        centres=np.zeros((n, 3)),
        psize=np.ones(n),
        pixel_sizes=[],
        scores=None,
        score_label=None,
        higher_is_better=True,
        species=np.arange(n, dtype=np.uint32),
        species_names=list(names),
        species_radii=radii,
    )


def test_each_species_distance_is_resolved_once_as_worked_by_hand():
    # By hand (ParticleOptions' --min-dist help): a species' own NAME=Å first, then a --min-dist given, then
    # a copick object's radius, then 20 Å; along z its own NAME=Å, else --min-dist-z (None: a sphere).
    particles = _species_set(["ribosome", "apoferritin", "proteasome"], {"apoferritin": 60.0, "proteasome": 80.0})
    options = ParticleOptions(min_dist="ribosome=150", min_dist_z="proteasome=30")
    distances = plan(options).for_rows(particles).distances
    assert distances.by_species == [150.0, 60.0, 80.0]
    assert distances.z_of_species == [None, None, 30.0]
    assert distances.z_by_species and distances.radii is None
    # A bare --min-dist given: the objects' radii no longer apply; a species named keeps its own.
    distances = plan(ParticleOptions(min_dist="ribosome=150,25")).for_rows(particles).distances
    assert distances.by_species == [150.0, 25.0, 25.0]
    # One distance for all: the summary's min_dist_A; species at different distances: none named there.
    assert plan(ParticleOptions(min_dist=25.0)).for_rows(particles).distances.used() == (25.0, None)
    assert distances.used() == (None, None)


def test_cross_species_radii_are_resolved_with_the_distances():
    particles = _species_set(["ribosome", "apoferritin"], {"apoferritin": 60.0})
    distances = plan(ParticleOptions(cross_species=True, radius={"ribosome": 120.0})).for_rows(particles).distances
    assert distances.radii.tolist() == [120.0, 60.0]
    with pytest.raises(CryodedupError, match="--cross-species compares each species' size, and ribosome has none"):
        plan(ParticleOptions(cross_species=True)).for_rows(particles)


def test_the_output_plan_says_whether_the_partners_are_kept():
    # The pictures' page and the record of rejections name each rejected pick's partner; a plain run keeps none.
    assert not plan(ParticleOptions()).deciding.partners
    assert plan(ParticleOptions(plot=True)).deciding.partners
    assert plan(ParticleOptions(decisions=True)).deciding.partners
    # The one pass: the page's partners kept a row; the record written by the scan from each batch's own.
    recorded = plan(ParticleOptions(decisions=True)).read
    assert (recorded.partners, recorded.record) == (False, True)
    plotted = plan(ParticleOptions(plot=True)).read
    assert (plotted.partners, plotted.record) == (True, False)
