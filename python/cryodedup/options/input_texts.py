"""Options that name an input: ``--dataset INPUT=LABEL`` and ``--transform INPUT=OPS``, checked as texts.

Which input each names is known only once the inputs are read; here each text is checked to parse.
"""

from __future__ import annotations

from ..errors import CryodedupError, one_line

__all__ = ["check_dataset_values", "check_transforms"]


def check_dataset_values(values: object) -> None:
    """Each ``--dataset`` value is ``INPUT=LABEL`` with both parts (which input it names is known once read)."""
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise CryodedupError(f"--dataset takes a list of INPUT=LABEL texts, got {values!r}")
    for value in values:
        where, _, label = value.rpartition("=")
        if not where.strip() or not label.strip():
            raise CryodedupError(f"--dataset {one_line(value)}: expected INPUT=LABEL (an input, =, and its dataset)")


def check_transforms(transforms: object) -> None:
    """Each ``--transform`` is INPUT=OPS with OPS that parse (the inputs are named once they are read)."""
    if not isinstance(transforms, (list, tuple)) or not all(isinstance(t, str) for t in transforms):
        raise CryodedupError(f"--transform takes a list of INPUT=OPS texts, got {transforms!r}")
    if not transforms:
        return
    from ..algo.registration import TRANSFORM_OPS, parse_steps  # (a run without --transform does not load it)

    for text in transforms:
        target, equals, ops = text.rpartition("=")
        if not equals or not target.strip():
            raise CryodedupError(
                f"--transform {one_line(text)}: INPUT=OPS expected (an input, '=', then {TRANSFORM_OPS})"
            )
        try:
            parse_steps(ops)
        except ValueError as err:
            raise CryodedupError(f"--transform {one_line(text)}: {err}") from None
