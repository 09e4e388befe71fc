"""The fault-injection seam of the crash tests: SIGKILL this process at a named step."""

from __future__ import annotations

import os
import signal

ENV = "RADIOCAST_CRASH_AT"


def crash_point(step: str) -> None:
    """Dies here when $RADIOCAST_CRASH_AT names this step; does nothing otherwise."""
    if os.environ.get(ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
