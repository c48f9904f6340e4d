"""CryoSPARC's files: the ``.cs`` container, and what CryoSPARC's particles and exposures mean in it.

``dataset``: ``.cs`` files in both encodings and ``.csg`` result groups, their fields read
and subsets written (the one ``.cs`` writer), knowing no field's meaning, as
cryosparc-tools' ``Dataset``. ``particles``: CryoSPARC particles (locations, alignments,
passthrough files joined on uid) read into a ``ParticleSet`` and written back as the
input's files. ``exposures``: CryoSPARC exposures (micrograph paths, pixel sizes, shapes).
"""

__all__: list[str] = []
