"""The cryodedup protocols' viewer: a run's report (pictures and summary), else its summary file."""

from __future__ import annotations

import os
from typing import ClassVar

import pyworkflow.viewer as pwviewer

from .protocols import ProtCryodedupCoordinates, ProtCryodedupMicrographs, ProtCryodedupParticles
from .protocols.base import SUMMARY
from .protocols.protocol_micrographs import OUTDIR


class FileView(pwviewer.View):
    """A file opened with the desktop's program for it (a browser for report.html)."""

    def __init__(self, path: str):
        pwviewer.View.__init__(self)
        self.path = os.path.abspath(path)

    def show(self):
        """Opens the file with the desktop's program."""
        from pyworkflow.gui.text import _open_cmd

        _open_cmd(self.path)


class CryodedupViewer(pwviewer.Viewer):
    """Opens the run's report.html (the micrograph job's pictures), else its summary and pairs table."""

    _label = "cryodedup report"
    _environments: ClassVar[list] = [pwviewer.DESKTOP_TKINTER]
    _targets: ClassVar[list] = [ProtCryodedupCoordinates, ProtCryodedupParticles, ProtCryodedupMicrographs]

    def _visualize(self, obj, **kwargs):
        files = [
            obj._getExtraPath(OUTDIR, "report.html"),
            obj._getExtraPath(OUTDIR, "pairs.csv"),
            obj._getExtraPath(SUMMARY),
        ]
        found = [path for path in files if os.path.exists(path)]
        if not found:
            return [self.infoMessage("This run has no report yet.", title="cryodedup")]
        return [FileView(found[0])]
