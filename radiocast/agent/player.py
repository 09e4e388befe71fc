"""The audio player, as a child process in its own process group (so stopping it stops
everything it started, and systemd's stop reaches it too)."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
from pathlib import Path

STDERR_TAIL = 300


class Player:
    def __init__(self, command: str, file: Path, log_dir: Path) -> None:
        self.err_path = log_dir / "player.err"
        cmd = command.replace("{file}", shlex.quote(str(file)))
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(["sh", "-c", cmd], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err,
                                         start_new_session=True)

    def poll(self) -> int | None:
        return self.proc.poll()

    def stop(self, wait: float = 5.0) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stderr_tail(self) -> str:
        try:
            return self.err_path.read_bytes()[-STDERR_TAIL:].decode("utf-8", "replace").strip()
        except OSError:
            return ""
