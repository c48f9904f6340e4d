"""What every Python fuzz target shares.

The error that is a correct answer, the scratch folder on tmpfs, and the atheris loop that
instruments only the reader's own modules.

A target module defines ``MODULES`` (the modules whose code it fuzzes, instrumented for
coverage) and ``check(data, scratch)``: it hands ``data`` to the reader and asserts what
the reader returns. ``CryodedupError`` is a correct answer to bad bytes; any other
exception, a broken assertion, a hang (``-timeout``) or runaway memory (``-rss_limit_mb``)
is a crash. ``tests/project/test_fuzz_corpus.py`` calls the same ``check`` on the kept corpus.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from cryodedup.errors import CryodedupError

Check = Callable[[bytes, Path], None]

#: Functions left uninstrumented: atheris 3.0's comparison hook leaks the array that a numpy
#: ``==`` returns (about 1 KB a call of ``_json_depth``: 2 GB, libFuzzer's RSS limit, within
#: 1M executions of ``job_json``). The targets still check what they return.
UNINSTRUMENTED = {"cryodedup.formats.files._json_depth"}


def answered(check: Check, data: bytes, scratch: Path) -> None:
    """``check(data, scratch)``, a ``CryodedupError`` being one of its correct outcomes.

    A warning is raised as an error: numpy's RuntimeWarnings, with their source lines, are
    no message for a user.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with contextlib.suppress(CryodedupError):
            check(data, scratch)


def _instrument(modules: Sequence[str]) -> None:
    """Coverage instrumentation for the functions and methods defined in ``modules`` only.

    Instrumenting all of numpy and the package would cost most of each execution.
    """
    import atheris

    for name in modules:
        module = importlib.import_module(name)
        functions = []
        for value in vars(module).values():
            if getattr(value, "__module__", None) != name:
                continue
            if inspect.isfunction(value):
                if f"{name}.{value.__qualname__}" not in UNINSTRUMENTED:
                    functions.append(value)
            elif inspect.isclass(value):
                for member in vars(value).values():
                    function = getattr(member, "__func__", member)  # classmethods, staticmethods
                    if inspect.isfunction(function):
                        functions.append(function)
        # A module that defines nothing here has moved (a package re-exporting its names):
        # fuzzing on would run without the coverage of that code.
        assert functions, f"{name} defines no function: name the module the code moved to"
        for function in functions:
            atheris.instrument_func(function)


def main(check: Check, modules: Sequence[str]) -> None:
    """The atheris loop: ``python fuzz/python/TARGET.py CORPUS... -runs=N`` (libFuzzer's flags)."""
    import atheris

    _instrument(modules)
    # libFuzzer ends the process itself (no clean-up runs): run.sh makes the folder and removes it.
    scratch = Path(os.environ.get("CRYODEDUP_FUZZ_SCRATCH") or tempfile.mkdtemp(prefix="cryodedup-fuzz-"))
    atheris.Setup(sys.argv, lambda data: answered(check, data, scratch))
    atheris.Fuzz()
