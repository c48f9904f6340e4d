"""``cryodedup audit PROJECT_DIR``: every particle set of a RELION or CryoSPARC project audited for duplicates.

:mod:`.project` reads the project's jobs and their lineage (RELION's ``default_pipeline.star``,
CryoSPARC's ``job.json`` files),
:mod:`.check` audits one particle set with the particle job, :mod:`.job` traces where
duplicates entered and words one line per job.
"""

__all__: list[str] = []
