"""cryodedup as a node of the pipelines users work in.

- :mod:`cryodedup.pipelines.relion_external`: the ``cryodedup-relion`` program of a RELION
  External job (RELION 3.1, 4 and 5).
- :mod:`cryodedup.pipelines.ccpem`: the three jobs as CCP-EM pipeliner plugins
  (``pip install "cryodedup[ccpem]"``).

Both run the command line's own commands (``cryodedup particles``, ``cryodedup
micrographs``) through :mod:`cryodedup.pipelines.job_types`, which says what each job reads
and writes.
"""

__all__: list[str] = []
