"""A real OpenSSH sshd on 127.0.0.1 with a temporary config and keys, for tests."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


class Sshd:
    def __init__(self, root: Path, client_pub: Path, extra: str = "") -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.host_key = root / "host_ed25519"
        if not self.host_key.exists():
            keygen(self.host_key)
        self.port = free_port()
        self.authorized = root / "authorized_keys"
        shutil.copy(client_pub, self.authorized)
        os.chmod(self.authorized, 0o600)
        self.config = root / "sshd_config"
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "sshd.log"
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)

    def write_config(self) -> None:
        self.config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.host_key}\n"
            f"AuthorizedKeysFile {self.authorized}\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\n"
            "StrictModes no\nPermitRootLogin prohibit-password\n"
            f"PidFile {self.root / 'sshd.pid'}\nSubsystem sftp internal-sftp\n"
            "MaxStartups 100:30:200\nMaxSessions 50\nLogLevel ERROR\n" + self.extra)

    def start(self) -> None:
        self.write_config()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)],
                                         stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not start: {self.log.read_text()}")

    def stop(self, kill_sessions: bool = True) -> None:
        if self.proc is None:
            return
        # sshd -D children (per-connection processes) share its process group only when
        # started by a shell; find them by parent pid and kill them too.
        if kill_sessions:
            out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                                 text=True).stdout.split()
            for pid in out:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    @property
    def user(self) -> str:
        return getpass.getuser()

    def known_hosts_line(self) -> str:
        pub = (self.host_key.with_suffix(".pub") if self.host_key.suffix else
               Path(str(self.host_key) + ".pub")).read_text().split()
        return f"[127.0.0.1]:{self.port} {pub[0]} {pub[1]}\n"
