"""The options of the micrograph job (``MicrographOptions``) and the ranges they must lie in.

Light on purpose: the command line imports it to build its options without loading the job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import CryodedupError
from ...outputs import check_plotting

CANDIDATES = ("auto", "window", "pattern", "all", "metadata")


# --candidates auto compares every pair of a set up to this size, and a --window beyond it.
# Every pair of 200 micrographs costs what a 100-image window costs (about 100 pairs per
# image), so up to 200 nothing is saved by leaving pairs out. Measured (benches/RESULTS.md,
# K3 at 12 Å, 2 cores): reading and binning one image costs as much as 31-35 pairs.
ALL_PAIRS_UPTO = 200


ORDERS = ("auto", "metadata", "epu", "mtime", "natural", "input")


@dataclass
class MicrographOptions:
    """The parameters of ``cryodedup micrographs``."""

    target_psize: float = 12.0  # Å per binned pixel
    bin: int | None = None
    lowpass: float | None = None  # Å; default 4 binned pixels (0.25 cycles/pixel)
    highpass: float | None = None  # Å; default 25 binned pixels (0.04 cycles/pixel)
    candidates: str = "auto"
    window: int = 100
    scan_range: int = 48
    images_per_move: int = 16
    images_per_hole: int = 4
    order: str = "auto"
    min_z: float = 8.0
    min_pearson: float = 0.15
    psize: float | None = None
    project_dir: Path | None = None
    skip_unreadable: bool = False
    batch: int = 32
    plot: bool = False
    plot_pairs: int = 12
    metadata: list[Path] = field(default_factory=list)  # EPU .xml, SerialEM .mdoc: files, folders, globs
    shift_calibration: float | None = None  # µm per shift unit; None: inferred
    beam_diameter: float | None = None  # µm; None: the metadata's, else the field's diagonal
    no_images: bool = False  # decide from the metadata alone

    def check(self) -> None:
        """Raises a ``CryodedupError`` naming the first option out of its range."""
        if self.candidates not in CANDIDATES:
            raise CryodedupError(f"--candidates is one of {', '.join(CANDIDATES)}, got {self.candidates!r}")
        if self.order not in ORDERS:
            raise CryodedupError(f"--order is one of {', '.join(ORDERS)}, got {self.order!r}")
        for name in ("window", "scan_range", "images_per_move", "images_per_hole"):
            if getattr(self, name) < 1:
                raise CryodedupError(f"--{name.replace('_', '-')} must be at least 1")
        if self.bin is not None and self.bin < 1:
            raise CryodedupError(f"--bin must be at least 1, got {self.bin}")
        for name in ("target_psize", "lowpass", "highpass", "psize"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value > 0):
                raise CryodedupError(f"--{name.replace('_', '-')} must be a finite number of Å > 0, got {value}")
        if self.lowpass is not None and self.highpass is not None and self.highpass <= self.lowpass:
            raise CryodedupError(
                f"--highpass ({self.highpass} Å, the coarsest detail used) must be above --lowpass "
                f"({self.lowpass} Å, the finest); the band between them would be empty"
            )
        if not np.isfinite(self.min_z):
            raise CryodedupError(f"--min-z must be a finite number of standard deviations, got {self.min_z}")
        if not -1 <= self.min_pearson <= 1:  # NaN fails too
            raise CryodedupError(f"--min-pearson must be a coefficient from -1 to 1, got {self.min_pearson}")
        check_plotting(self.plot)
        self._check_metadata()

    def _check_metadata(self) -> None:
        needs = [
            what
            for what, used in (
                ("--candidates metadata", self.candidates == "metadata"),
                ("--no-images", self.no_images),
                ("--order metadata", self.order == "metadata"),
                ("--shift-calibration", self.shift_calibration is not None),
                ("--beam-diameter", self.beam_diameter is not None),
            )
            if used
        ]
        if needs and not self.metadata:
            raise CryodedupError(f"{needs[0]} needs --metadata (EPU .xml or SerialEM .mdoc files, folders or globs)")
        if self.shift_calibration is not None and not (np.isfinite(self.shift_calibration) and self.shift_calibration):
            raise CryodedupError(
                f"--shift-calibration must be a finite, non-zero µm per unit, got {self.shift_calibration}"
            )
        if self.beam_diameter is not None and not (np.isfinite(self.beam_diameter) and self.beam_diameter > 0):
            raise CryodedupError(f"--beam-diameter must be a finite number of µm > 0, got {self.beam_diameter}")
