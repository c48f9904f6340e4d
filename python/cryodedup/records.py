"""Stock :func:`dataclasses.dataclass`, for the four modules that still import it from here (to remove).

The package's own dataclass decorator (issue 43: ``__init__`` compiled when a class's first
object was made, to save about 20 ms of start-up) is gone (issue 56, item 4); every module
imports ``dataclasses.dataclass``. Once ``jobs/particles``, ``api``, ``algo/dedup`` and
``formats/star/particle_writer`` do too, this module goes.
"""

from dataclasses import dataclass

__all__ = ["dataclass"]
