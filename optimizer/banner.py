"""Keep HiGHS's start-up banner off standard output.

highspy >= 1.16 prints a copyright banner to the process's standard output (file descriptor 1,
from C++, so ``contextlib.redirect_stdout`` cannot catch it) the first time a solver is
created. A command whose output is JSON (``sitecharge plan problem.json > plan.json``) would
then write invalid JSON, and a JSON log on stderr would get a line that is not JSON. The banner
comes once per process: the first solver is created here, with descriptor 1 on the null device.
"""

from __future__ import annotations

import os
import sys
import threading

import highspy

_lock = threading.Lock()
_done = False


def silence_banner() -> None:
    global _done
    with _lock:
        if _done:
            return
        _done = True
        sys.stdout.flush()
        saved = os.dup(1)
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
            highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(null)
