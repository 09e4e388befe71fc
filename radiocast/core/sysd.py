"""What a systemd service needs without libsystemd: sd_notify datagrams, log lines journald
files at their priority, and the single-instance lock."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
from pathlib import Path
from typing import IO

from radiocast.core.errors import LockHeldError
from radiocast.core.i18n import t


class SdNotify:
    """sd_notify(3): a datagram to $NOTIFY_SOCKET, if systemd gave one."""

    def __init__(self) -> None:
        addr = os.environ.get("NOTIFY_SOCKET")
        self.addr = ("\0" + addr[1:]) if addr and addr.startswith("@") else addr
        usec = os.environ.get("WATCHDOG_USEC")
        self.watchdog_interval = int(usec) / 2e6 if usec and usec.isdigit() else None

    def send(self, msg: str) -> None:
        if not self.addr:
            return
        with contextlib.suppress(OSError), \
                socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(self.addr)
            sock.sendall(msg.encode())


def acquire_lock(path: Path, lang: str = "vi") -> IO[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the daemon's life
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise LockHeldError(t("cli.locked", lang, path=path)) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


def under_systemd() -> bool:
    return bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("NOTIFY_SOCKET"))


def syslog_priority(levelno: int) -> int:
    """sd-daemon(3) priority of a Python log level: 2 crit, 3 err, 4 warning, 6 info, 7 debug."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    return 6 if levelno >= logging.INFO else 7


class JournalFormatter(logging.Formatter):
    """Every line starts with `<N>`, N its syslog priority, so journald stores it at that
    priority (`journalctl -p warning -u radiocast` shows warnings and worse) and strips the
    prefix. A traceback's lines carry it too: journald reads each line on its own."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())
