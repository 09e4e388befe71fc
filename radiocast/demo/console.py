"""The demo at the terminal: its daemon's log lines go to a file, so the screen stays the
progress a newcomer reads in their language, and the closing hint is a command that runs as
typed."""

from __future__ import annotations

import contextlib
import logging
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

LOG_FILE = "demo.log"


def own_command() -> str:
    """How to run this very radiocast again, as typed in a shell: the script that runs now
    (`.venv/bin/radiocast`, which is rarely on PATH), or this interpreter with -m."""
    script = Path(sys.argv[0])
    if script.name == "radiocast" and script.exists():
        return shlex.quote(str(script.resolve()))
    return f"{shlex.quote(sys.executable)} -m radiocast"


@contextlib.contextmanager
def log_to(path: Path) -> Iterator[None]:
    """The daemon's log lines go to `path` while the demo runs: the screen stays the
    progress a newcomer reads, in their language."""
    root = logging.getLogger()
    saved = root.handlers[:]
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers = [handler]
    try:
        yield
    finally:
        root.handlers = saved
        handler.close()
