"""cryodedup-relion on a RELION 5 optimisation set: the optimisation_set.star it writes is an output node.

RELION 5's tomography jobs take an optimisation set and offer only nodes of its type, so the
External job declares the one it wrote with the label RELION 5 gives such a node. The facts
below are RELION's own spelling, copied from their sources:

- 3dem/relion (master, RELION 5; commit 73f0a3c0): ``src/pipeline_jobs.h`` ``#define
  LABEL_TOMO_OPTSET_CPIPE "TomoOptimisationSet.star.relion"``, and job-specific labels add
  keywords to it (``LABEL_SUBTOMO_OPTSET "TomoOptimisationSet.star.relion.tomo.extract"``);
  ``src/pipeline_jobs.cpp`` ``addTomoInputOptions``: the tomography jobs' ``in_optimisation``
  input takes nodes of type ``LABEL_TOMO_OPTSET_CPIPE``; ``src/gui_entries.cpp``: its Browse
  opens ``.Nodes/<label before its first '.'>``, here ``.Nodes/TomoOptimisationSet``;
  ``src/pipeliner.cpp`` ``getOutputNodesFromStarFile``: an External job's
  RELION_OUTPUT_NODES.star is read for ``_rlnPipeLineNodeName`` and ``_rlnPipeLineNodeTypeLabel``.
- TomoBabel/cets-relion, ``tests/test_data/skeleton_project/Class3D/job017/default_pipeline.star``
  (a RELION 5 project, ``# version 50001``): ``Extract/job010/optimisation_set.star
  TomoOptimisationSet.star.relion.tomo.extract`` and ``Refine3D/job012/run_optimisation_set.star
  TomoOptimisationSet.star.relion.refine3d``, and Extract/job010's set is the input of
  Reconstruct/job011 and Refine3D/job012.
- RELION 4.0's numeric node list (3dem/relion ae114d89, ``src/pipeline_jobs.h``):
  ``#define NODE_TOMO_OPTIMISATION 50``.

The job folder's job.star says which RELION wrote it: ``_rlnJobTypeLabel relion.external`` (4, 5)
or ``_rlnJobType 99`` (3.1, which has no optimisation sets).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from cryodedup.pipelines.relion_external import main
from fixtures.optimisation_set import relion_project
from helpers import missing_program

# RELION 5's label for an optimisation set node (LABEL_TOMO_OPTSET_CPIPE) and its top-level type,
# as cets-relion's RELION 5 pipeline spells it before the job's own keywords.
RELION5_OPTSET_LABEL = "TomoOptimisationSet.star.relion"
RELION5_PARTICLES_LABEL = "ParticleGroupMetadata.star.relion"
RELION5_JOB_STAR = "\n# version 50001\n\ndata_job\n\n_rlnJobTypeLabel             relion.external\n"
RELION5_JOB_STAR += "_rlnJobIsContinue                       0\n_rlnJobIsTomo                           1\n\n"
RELION31_JOB_STAR = "\n# version 30001\n\ndata_job\n\n_rlnJobType                            99\n"
RELION31_JOB_STAR += "_rlnJobIsContinue                       0\n\n"


def run_external(root: Path, job: str, job_star: str) -> Path:
    """The External job run from the project folder as RELION 5 runs it, on the Refine3D optimisation set."""
    folder = root / job
    folder.mkdir(parents=True)
    (folder / "job.star").write_text(job_star)
    argv = shlex.split(f"--o {job}/ --in_parts Refine3D/job012/run_optimisation_set.star --min_dist 20 --plot no")
    here = os.getcwd()
    os.chdir(root)
    try:
        assert main(argv) == 0
    finally:
        os.chdir(here)
    assert (folder / "RELION_JOB_EXIT_SUCCESS").exists()
    return folder


def node_rows(folder: Path) -> dict[str, tuple[str, str]]:
    """RELION_OUTPUT_NODES.star's rows: node name -> (numeric type, type label)."""
    lines = (folder / "RELION_OUTPUT_NODES.star").read_text().splitlines()
    rows = [line.split() for line in lines if line.startswith("External/")]
    return {name: (number, label) for name, number, label in rows}


def test_relion5_gets_the_optimisation_set_as_a_node_of_its_type(tmp_path):
    relion_project(tmp_path)
    folder = run_external(tmp_path, "External/job051", RELION5_JOB_STAR)
    assert (folder / "optimisation_set.star").is_file()
    rows = node_rows(folder)
    assert rows["External/job051/optimisation_set.star"] == ("50", RELION5_OPTSET_LABEL)
    assert rows["External/job051/particles_kept.star"] == ("3", RELION5_PARTICLES_LABEL)
    # The set names the kept particles (TS_01/2, TS_01/3, TS_03/1 by hand): the node feeds them on.
    assert "External/job051/particles_kept.star" in (folder / "optimisation_set.star").read_text()


def test_relion31_gets_no_optimisation_set_node(tmp_path):
    relion_project(tmp_path)
    folder = run_external(tmp_path, "External/job052", RELION31_JOB_STAR)
    assert (folder / "optimisation_set.star").is_file()  # written, but RELION 3.1 has no such node
    rows = node_rows(folder)
    assert "External/job052/optimisation_set.star" not in rows
    assert rows["External/job052/particles_kept.star"] == ("3", RELION5_PARTICLES_LABEL)


def test_the_ccpem_pipeliner_reads_the_nodes_as_their_types(tmp_path):
    """The CCP-EM pipeliner, which knows RELION 5's node types, makes each node as a project reads it."""
    try:
        from pipeliner.node_factory import create_node
        from pipeliner.nodes import ParticleGroupMetadataNode, TomoOptimisationSetNode
    except ImportError:
        missing_program("ccpem-pipeliner is not installed (pip install 'cryodedup[ccpem]')")
    relion_project(tmp_path)
    folder = run_external(tmp_path, "External/job053", RELION5_JOB_STAR)
    made = {}
    for name, (_, label) in node_rows(folder).items():
        # As the pipeliner's ProjectGraph reads a pipeline's node: top-level type, format, keywords;
        # validated here, which reads the STAR file.
        parts = label.split(".")
        node = create_node(str(tmp_path / name), nodetype=parts[0], kwds=parts[2:], do_validation=True)
        made[Path(name).name] = node
        assert node.type == label
    assert isinstance(made["optimisation_set.star"], TomoOptimisationSetNode)
    assert isinstance(made["particles_kept.star"], ParticleGroupMetadataNode)
