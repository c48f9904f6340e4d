"""The checks of the options that exclude picks: the ellipsoid, the mask and the edge, the overrides.

``--min-dist-ellipsoid``: its semi-axes, and the rules it cannot be given with; ``--mask`` and
``--edge``: in range, and given with what they serve; ``--overrides``: a file, and the rules it is
not taken with yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..algo import MAX_CENTRE
from ..errors import CryodedupError
from .fields import is_real_number
from .species import parse_ellipsoids

__all__ = ["check_ellipsoids", "check_masks", "check_overrides", "ellipsoid_text_parses"]


def ellipsoid_text_parses(text: str) -> bool:
    """Whether ``text`` reads as --min-dist-ellipsoid's value (A,B,C, NAME=A,B,C, ...)."""
    try:
        parse_ellipsoids(text)
    except ValueError:
        return False
    return True


def check_ellipsoids(options: Any) -> None:
    """``--min-dist-ellipsoid``: three semi-axes above 0 each, and no other rule for the same particles.

    ``options``: a :class:`~cryodedup.options.ParticleOptions` (not imported here: it imports this module).
    """
    given_text: Any = options.min_dist_ellipsoid
    if isinstance(given_text, str):  # (the API's text that does not parse: say why)
        try:
            parse_ellipsoids(given_text)
        except ValueError as err:
            raise CryodedupError(str(err)) from None
    given: dict[str, Any] = {f"{name}=": axes for name, axes in options.species_min_dist_ellipsoid.items()}
    if options.min_dist_ellipsoid is not None:
        given[""] = options.min_dist_ellipsoid
    for label, axes in given.items():
        if not (
            isinstance(axes, (tuple, list))
            and len(axes) == 3
            and all(is_real_number(a) and 0 < a <= MAX_CENTRE for a in axes)
        ):
            raise CryodedupError(
                f"--min-dist-ellipsoid {label}{axes!r}: three semi-axes in Å above 0, to 1e150, were expected (A,B,C)"
            )
    if not options.own_frame:
        return
    if options.min_dist_z is not None or options.species_min_dist_z:
        raise CryodedupError(
            "--min-dist-ellipsoid and --min-dist-z exclude each other: the ellipsoid turns with each particle, "
            "--min-dist-z's lies along the tomogram's z; give one"
        )
    if options.min_dist_ellipsoid is not None and options.min_dist_given:
        raise CryodedupError(
            "--min-dist-ellipsoid replaces --min-dist (the ellipsoid is the exclusion): give one, or name the "
            "species each is for (NAME=...)"
        )
    both = sorted(set(options.species_min_dist) & set(options.species_min_dist_ellipsoid))
    if both:
        raise CryodedupError(f"--min-dist and --min-dist-ellipsoid both name species {both[0]!r}: give it one")
    if options.filament_mode == "tube":
        raise CryodedupError(
            "--min-dist-ellipsoid and --filament-mode tube exclude each other: tubes are compared whole"
        )
    if options.plot:
        raise CryodedupError(
            "--plot draws each pick's neighbours within a sphere, not the ellipsoids of --min-dist-ellipsoid "
            "(not drawn yet): drop --plot"
        )


def check_masks(options: Any) -> None:
    """``--mask``, ``--mask-label``, ``--mask-psize`` and ``--edge``: in range, and asked with what they serve."""
    if options.mask is not None and not Path(options.mask).exists():
        raise CryodedupError(f"--mask {options.mask}: no such file or folder")
    for flag, value in (("--mask-label", options.mask_label), ("--mask-psize", options.mask_psize)):
        if value is not None and options.mask is None:
            raise CryodedupError(f"{flag} describes the mask: give --mask too")
    if options.mask_psize is not None and not (np.isfinite(options.mask_psize) and options.mask_psize > 0):
        raise CryodedupError(f"--mask-psize must be a voxel size in Å > 0, got {options.mask_psize}")
    if options.edge is not None and not (np.isfinite(options.edge) and options.edge >= 0):
        raise CryodedupError(f"--edge must be a distance in Å of 0 or more, got {options.edge}")


def check_overrides(options: Any) -> None:
    """``--overrides``: a file, and none of the rules a forced particle is not decided with yet.

    ``options``: a :class:`~cryodedup.options.ParticleOptions` (not imported here: it imports this module).
    """
    if options.overrides is None:
        return
    given: object = options.overrides  # (the Python API's options arrive unchecked)
    if not isinstance(given, (str, Path)) or not Path(given).is_file():
        raise CryodedupError(f"--overrides {options.overrides}: no such file (a CSV of corrections was expected)")
    # (taken with --remove-entirely, --max-angle, --min-dist-ellipsoid, --mask and --edge: a forced keep kept,
    # rejecting the rows within their rule of it; a forced reject out; the rest decided by them as before)
    refused = [
        (options.min_support > 1, f"--min-support {options.min_support}", "a forced pick's support is not defined"),
        (
            options.same_image == "reject",
            "--same-image reject",
            "a forced pick's image may lie on other micrographs, whose rows the file does not decide",
        ),
        (
            options.filament_mode == "tube",
            "--filament-mode tube",
            "tubes are kept or rejected whole, and an override names one segment",
        ),
        (
            bool(options.species or options.species_column or options.cross_species),
            "--species",
            "each species is decided at its own distance, which a forced pick's neighbours are not yet",
        ),
        (options.audit, "--audit", "an audit writes no particle files for the overrides to decide"),
    ]
    for asked, flag, why in refused:
        if asked:
            raise CryodedupError(f"--overrides with {flag}: not taken together ({why})")
