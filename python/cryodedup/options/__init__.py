"""Every option of the jobs, declared once: its field, its flag, its help and its check.

A job's options are a dataclass (:class:`ParticleOptions`, :class:`MicrographOptions`) whose
fields are made by :func:`option`: the field's default, and in its metadata the
:class:`Flag` (the command line's flag, click type, help). The check of the values (the
Python API's options arrive unchecked) is the dataclass's ``check``; how a micrograph job
runs (a shard, on Dask, during collection) is checked with its options by
:class:`MicrographRun`, for the command line and the Python API alike. Each command's
options in order, those that are no job's field among them, are in ``commands.py``.

``fields.py``: how an option is declared and the checks both jobs share; ``particles.py``:
:class:`ParticleOptions`; ``micrographs.py``: :class:`MicrographOptions` and :class:`MicrographRun`.

Imported by the command line at start-up: nothing here imports a job, and each job's options
are imported when first used (PEP 562): a particle job does not load the micrograph job's.
"""

from __future__ import annotations

__all__ = ["CompareOptions", "MicrographOptions", "MicrographRun", "ParticleOptions", "SelectOptions"]

_WHERE = {
    "CompareOptions": "compare",
    "MicrographOptions": "micrographs",
    "MicrographRun": "micrographs",
    "ParticleOptions": "particles",
    "SelectOptions": "select",
}

# Not typing's TYPE_CHECKING (as in the package's __init__); mypy takes any TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .compare import CompareOptions
    from .micrographs import MicrographOptions, MicrographRun
    from .particles import ParticleOptions
    from .select import SelectOptions


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
