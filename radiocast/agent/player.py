"""The audio player, as a child process in its own process group (so stopping it stops
everything it started, and systemd's stop reaches it too)."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
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
        """Stop the whole process group: SIGTERM, and SIGKILL for whatever of it is still
        there after `wait` seconds — also when the `sh -c` wrapper went at once and left a
        player that ignores SIGTERM behind."""
        self._signal(signal.SIGTERM)
        if not self._gone_within(wait):
            self._signal(signal.SIGKILL)
            self._gone_within(wait)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=wait)

    def _gone_within(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self._group_alive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def _group_alive(self) -> bool:
        """Is any process of the group still running (a zombie waiting for its reaper has
        ended; the wrapper is reaped here)."""
        self.proc.poll()
        try:
            os.killpg(self.proc.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return any(_running_in_group(p, self.proc.pid) for p in Path("/proc").iterdir()
                   if p.name.isdigit()) if Path("/proc/self/stat").exists() else True

    def stderr_tail(self) -> str:
        try:
            return self.err_path.read_bytes()[-STDERR_TAIL:].decode("utf-8", "replace").strip()
        except OSError:
            return ""


def _running_in_group(proc_dir: Path, pgid: int) -> bool:
    """Is the process of `/proc/PID` in group `pgid` and not a zombie?"""
    try:
        fields = (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] not in ("Z", "X") and int(fields[2]) == pgid
