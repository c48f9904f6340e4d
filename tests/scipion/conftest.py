"""A Scipion installation of its own for the plugin's tests: SCIPION_HOME with config/hosts.conf,
SCIPION_USER_DATA with projects/, the running Python's bin/ first on PATH (protocols run in a
child process started from there).

pyworkflow reads these variables when it is first imported, so they are set here, before any
test module imports it. Without scipion-em (pwem) installed nothing is set and the tests skip.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

HOSTS_CONF = """[localhost]
PARALLEL_COMMAND = mpirun -np %_(JOB_NODES)d %_(COMMAND)s
NAME = SCIPION_INTERACTIVE
MANDATORY = False
SUBMIT_COMMAND =
CANCEL_COMMAND =
CHECK_COMMAND =
SUBMIT_TEMPLATE =
QUEUE_SYSTEM = False
"""


def _scipion_home() -> None:
    root = Path(tempfile.mkdtemp(prefix="cryodedup-scipion-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    (root / "home" / "config").mkdir(parents=True)
    (root / "home" / "config" / "hosts.conf").write_text(HOSTS_CONF)
    (root / "user" / "projects").mkdir(parents=True)
    os.environ["SCIPION_HOME"] = str(root / "home")
    os.environ["SCIPION_USER_DATA"] = str(root / "user")
    os.environ["SCIPION_NOTIFY"] = "False"
    os.environ["SCIPION_DOMAIN"] = "pwem"  # the child process that runs a protocol reads it too
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


if importlib.util.find_spec("pwem") is not None and "pyworkflow" not in sys.modules:
    _scipion_home()
