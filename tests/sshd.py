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


STATION_USER = "rcstation"


def station_user() -> str:
    """The account stations log in as: an unprivileged one when tests run as root (CI), so
    that file permissions at the "station" mean something."""
    if os.geteuid() != 0:
        return getpass.getuser()
    if subprocess.run(["id", STATION_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", STATION_USER],
                       check=True)
        # "!" (locked) makes sshd refuse even key logins without PAM; "*" is no password
        subprocess.run(["usermod", "-p", "*", STATION_USER], check=True)
    return STATION_USER


def station_dir(base: Path) -> Path:
    """A folder the station account can write, in a place it can reach."""
    import pwd
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="radiocast-station-", dir="/tmp"))
    root.chmod(0o755)
    d = root / base.name
    d.mkdir()
    pw = pwd.getpwnam(station_user())
    os.chown(root, pw.pw_uid, pw.pw_gid)
    os.chown(d, pw.pw_uid, pw.pw_gid)
    return d


def descendants(root: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True,
                         check=True).stdout.split()
    children: dict[int, list[int]] = {}
    for pid, ppid in zip(out[::2], out[1::2], strict=True):
        children.setdefault(int(ppid), []).append(int(pid))
    found, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


class Sshd:
    def __init__(self, root: Path, client_pub: Path, extra: str = "",
                 max_startups: str = "100:30:200", log_level: str = "ERROR") -> None:
        self.max_startups = max_startups
        self.log_level = log_level
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.host_key = root / "host_ed25519"
        if not self.host_key.exists():
            keygen(self.host_key)
        self.port = free_port()
        # sshd reads authorized_keys as the station user: keep it where that user can
        import tempfile

        pub_dir = Path(tempfile.mkdtemp(prefix="radiocast-sshd-", dir="/tmp"))
        pub_dir.chmod(0o755)
        self.authorized = pub_dir / "authorized_keys"
        shutil.copy(client_pub, self.authorized)
        os.chmod(self.authorized, 0o644)
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
            f"MaxStartups {self.max_startups}\nMaxSessions 50\nLogLevel {self.log_level}\n"
            + self.extra)

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
        # the per-connection processes (and their session children, which call setsid) keep
        # serving an open connection after the listener dies: kill every descendant
        if kill_sessions:
            for pid in descendants(self.proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    @property
    def user(self) -> str:
        return station_user()

    def known_hosts_line(self) -> str:
        pub = (self.host_key.with_suffix(".pub") if self.host_key.suffix else
               Path(str(self.host_key) + ".pub")).read_text().split()
        return f"[127.0.0.1]:{self.port} {pub[0]} {pub[1]}\n"
