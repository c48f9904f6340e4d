"""Loading the plotting code while a job reads its inputs (``--plot``).

Importing the particle pictures' modules (Pillow, the figure code) takes about 0.05 s of
CPU (matplotlib, which the particle job no longer imports, took 0.3 s). The job reads,
decides and writes in the core with Python's lock released, so a thread can import
meanwhile on the second core: the pictures then start at once when the decision is made.
"""

from __future__ import annotations

import importlib
import threading


def _load(modules: tuple[str, ...]) -> None:
    try:
        for name in modules:
            importlib.import_module(name)
    except Exception:  # the job's own import, later, says what is wrong
        pass


def start(*modules: str) -> threading.Thread:
    """Imports ``modules`` on a thread of their own; join it before drawing."""
    thread = threading.Thread(target=_load, args=(modules,), name="cryodedup-plot-preload", daemon=True)
    thread.start()
    return thread
