"""Scipion plugin for cryodedup: duplicate coordinates, particles and micrographs.

Scipion finds the plugin through the ``pyworkflow.plugin`` entry point; its protocols
(``cryodedup_scipion.protocols``) call cryodedup's Python API in the protocol's own process,
and its viewer (``cryodedup_scipion.viewers``) opens a run's report.
"""

import pwem

__version__ = "0.1.0"
_logo = ""
_references = []


class Plugin(pwem.Plugin):
    """cryodedup is a Python package: nothing to install into Scipion's software folder."""

    _url = "https://github.com/cryodedup/cryodedup"

    @classmethod
    def _defineVariables(cls):
        pass

    @classmethod
    def getActiveVersion(cls, *args, **kwargs):
        """The version of the cryodedup package the protocols call."""
        import cryodedup

        return cryodedup.__version__

    @classmethod
    def validateInstallation(cls):
        """An error when cryodedup cannot be imported in Scipion's Python."""
        try:
            import cryodedup  # noqa: F401
        except ImportError as err:
            return [f"cryodedup is not installed in Scipion's Python: {err}"]
        return []
