"""SSH/SFTP to one station: host-key trust, atomic resumable verified upload, remote exec.

The only module that touches paramiko. Every outside error is translated here, once, into
TransientDeliveryError (try again later) or PermanentDeliveryError (a person must act).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import shlex
import socket
import stat as stat_mod
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
from paramiko.sftp import CMD_EXTENDED

from radiocast.config import DeliverySettings, StationSettings
from radiocast.errors import PermanentDeliveryError, TransientDeliveryError

log = logging.getLogger(__name__)
BLOCK = 32 * 1024
RESUME_REWIND = 1 << 20  # rewrite the last MiB: pipelined writes before a break may be lost
WINDOW = 8 << 20


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int


@dataclass(frozen=True)
class ExecResult:
    status: int
    stdout: str
    stderr: str


class _StallWatchdog:
    """Closes the transport when no bytes have moved for `limit` seconds."""

    def __init__(self, transport: paramiko.Transport, limit: float) -> None:
        self.transport = transport
        self.limit = limit
        self.last = time.monotonic()
        self.fired = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="radiocast-stall", daemon=True)
        self._thread.start()

    def tick(self) -> None:
        self.last = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(min(1.0, self.limit / 4)):
            if time.monotonic() - self.last > self.limit:
                self.fired = True
                self.transport.close()
                return

    def stop(self) -> None:
        self._stop.set()


def _tcp_socket(host: str, port: int, timeout: float, stall: float) -> socket.socket:
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError as exc:
        raise TransientDeliveryError(host, f"connection to {host}:{port} timed out") from exc
    except OSError as exc:
        raise TransientDeliveryError(host, f"cannot connect to {host}:{port}: "
                                     f"{exc.strerror or exc}") from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for opt, val in (("TCP_KEEPIDLE", 15), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3),
                     ("TCP_USER_TIMEOUT", int(stall * 1000))):
        if hasattr(socket, opt):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), val)
    return sock


def _load_key(path: Path) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(path)
    except FileNotFoundError as exc:
        raise PermanentDeliveryError("-", f"private key {path} not found") from exc
    except (paramiko.SSHException, ValueError, OSError) as exc:
        raise PermanentDeliveryError("-", f"cannot read private key {path}: {exc}") from exc


def _known_hosts_name(st: StationSettings) -> str:
    return st.host if st.port == 22 else f"[{st.host}]:{st.port}"


def _ssh_login(st: StationSettings, cfg: DeliverySettings,
               pkey: paramiko.PKey) -> paramiko.SSHClient:
    """Connect, check the host key against known_hosts (never accept a new one), log in with
    radiocast's key; paramiko's failures become delivery errors that say what to do."""
    sock = _tcp_socket(st.host, st.port, cfg.connect_timeout_seconds, cfg.stall_timeout_seconds)
    client = paramiko.SSHClient()
    client.load_host_keys(str(st.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            st.host, port=st.port, username=st.user, pkey=pkey, sock=sock,
            timeout=cfg.connect_timeout_seconds, banner_timeout=cfg.connect_timeout_seconds,
            auth_timeout=cfg.connect_timeout_seconds,
            channel_timeout=cfg.connect_timeout_seconds,
            look_for_keys=False, allow_agent=False,
        )
    except paramiko.BadHostKeyException as exc:
        sock.close()
        raise PermanentDeliveryError(st.id, "host key does not match known_hosts "
                                     "(possible impostor, or the station was reinstalled; "
                                     "verify, then enroll again)") from exc
    except paramiko.AuthenticationException as exc:
        sock.close()
        raise PermanentDeliveryError(st.id, f"login as {st.user} refused "
                                     "(key not authorized at the station)") from exc
    except paramiko.SSHException as exc:
        sock.close()
        if "not found in known_hosts" in str(exc):
            raise PermanentDeliveryError(
                st.id, f"unknown host key; run `radiocast stations enroll {st.id}` "
                "and compare the fingerprint with the station") from exc
        raise TransientDeliveryError(st.id, f"SSH failed: {exc}") from exc
    except (OSError, EOFError) as exc:
        sock.close()
        raise TransientDeliveryError(st.id, f"connection lost: {exc}") from exc
    return client


class StationLink:
    """One authenticated SSH connection to a station, with SFTP; use as a context manager."""

    def __init__(self, station: StationSettings, settings: DeliverySettings) -> None:
        self.station = station
        self.settings = settings
        self.client: paramiko.SSHClient | None = None
        self.sftp: paramiko.SFTPClient | None = None
        self.watchdog: _StallWatchdog | None = None

    # ------------------------------------------------------------ connection

    def __enter__(self) -> StationLink:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        st, cfg = self.station, self.settings
        if not st.known_hosts.exists():
            raise PermanentDeliveryError(st.id, f"known_hosts file {st.known_hosts} missing; "
                                         f"run `radiocast stations enroll {st.id}`")
        self.client = _ssh_login(st, cfg, _load_key(st.key_file))
        transport = self.client.get_transport()
        assert transport is not None
        transport.set_keepalive(15)
        self.watchdog = _StallWatchdog(transport, cfg.stall_timeout_seconds)
        try:
            self.sftp = paramiko.SFTPClient.from_transport(transport, window_size=WINDOW)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise TransientDeliveryError(st.id, f"SFTP subsystem unavailable: {exc}") from exc
        assert self.sftp is not None
        channel = self.sftp.get_channel()
        if channel is not None:
            channel.settimeout(cfg.stall_timeout_seconds)

    def close(self) -> None:
        if self.watchdog:
            self.watchdog.stop()
        with contextlib.suppress(Exception):
            if self.sftp:
                self.sftp.close()
        with contextlib.suppress(Exception):
            if self.client:
                self.client.close()
        self.sftp = None
        self.client = None

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        st = self.station
        try:
            yield
        except PermissionError as exc:
            raise PermanentDeliveryError(st.id, f"{what}: permission denied") from exc
        except OSError as exc:
            if self.watchdog and self.watchdog.fired:
                raise TransientDeliveryError(st.id, f"{what}: link stalled (no bytes for "
                                             f"{self.settings.stall_timeout_seconds:.0f} s)") \
                    from exc
            msg = str(exc)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT) or "No space" in msg \
                    or "quota" in msg.lower():
                raise PermanentDeliveryError(st.id, f"{what}: station disk full") from exc
            if exc.errno == errno.EACCES or "Permission denied" in msg:
                raise PermanentDeliveryError(st.id, f"{what}: permission denied") from exc
            raise TransientDeliveryError(st.id, f"{what}: {msg or exc.__class__.__name__}") \
                from exc
        except (paramiko.SSHException, EOFError, TimeoutError) as exc:
            fired = self.watchdog is not None and self.watchdog.fired
            detail = "link stalled" if fired else f"{exc.__class__.__name__}: {exc}"
            raise TransientDeliveryError(st.id, f"{what}: {detail}") from exc

    def _sftp(self) -> paramiko.SFTPClient:
        if self.sftp is None:
            raise TransientDeliveryError(self.station.id, "not connected")
        return self.sftp

    # ------------------------------------------------------------ files

    def remote_path(self, name: str) -> str:
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"unsafe remote name {name!r}")
        return f"{self.station.remote_dir}/{name}"

    def list_files(self) -> list[RemoteFile]:
        with self._errors("listing remote_dir"):
            return [RemoteFile(a.filename, a.st_size or 0)
                    for a in self._sftp().listdir_attr(self.station.remote_dir)
                    if a.st_mode is not None and stat_mod.S_ISREG(a.st_mode)]

    def read_small(self, name: str, limit: int = 65536) -> bytes | None:
        try:
            with self._errors("reading"), self._sftp().open(self.remote_path(name), "rb") as fh:
                return fh.read(limit)
        except TransientDeliveryError as exc:
            if isinstance(exc.__cause__, FileNotFoundError):
                return None
            raise

    def write_small(self, name: str, data: bytes) -> None:
        """Write a small file atomically: temporary name, then rename into place."""
        sftp = self._sftp()
        tmp = self.remote_path(f".{name}.part")
        with self._errors(f"writing {name}"):
            with sftp.open(tmp, "wb") as fh:
                fh.write(data)
            self._rename(tmp, self.remote_path(name))

    def remove(self, name: str) -> None:
        with self._errors(f"removing {name}"), contextlib.suppress(FileNotFoundError):
            self._sftp().remove(self.remote_path(name))

    def _rename(self, src: str, dst: str) -> None:
        sftp = self._sftp()
        try:
            sftp.posix_rename(src, dst)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            # servers without posix-rename@openssh.com: plain SFTP rename fails if dst exists
            with contextlib.suppress(FileNotFoundError):
                sftp.remove(dst)
            sftp.rename(src, dst)

    def upload(self, local: Path, name: str, sha256: str,
               progress: Callable[[int], None] | None = None, check_remote: bool = False) -> int:
        """Put `local` at `remote_dir/name`, atomically and verified; returns bytes sent."""
        sftp = self._sftp()
        tmp = self.remote_path(f".{name}.part")
        final = self.remote_path(name)
        size = local.stat().st_size
        sent = 0
        with self._errors(f"uploading {name}"):
            try:
                have = sftp.stat(tmp).st_size or 0
            except FileNotFoundError:
                have = 0
            offset = max(0, min(have, size) - RESUME_REWIND) if have <= size else 0
            offset -= offset % BLOCK
            with open(local, "rb") as fh, sftp.open(tmp, "r+b" if offset else "wb") as rf:
                rf.set_pipelined(True)
                if offset:
                    log.info("%s: resuming %s at %d of %d bytes", self.station.id, name,
                             offset, size)
                fh.seek(offset)
                rf.seek(offset)
                while block := fh.read(BLOCK):
                    rf.write(block)
                    sent += len(block)
                    if self.watchdog:
                        self.watchdog.tick()
                    if progress:
                        progress(len(block))
                if have > size:
                    rf.truncate(size)
            remote_size = sftp.stat(tmp).st_size
            if remote_size != size:
                raise TransientDeliveryError(self.station.id, f"size after upload "
                                             f"{remote_size} != {size}")
            if check_remote:  # the station runs commands: compare what it really stored
                remote = self.remote_sha256(f".{name}.part")
                if remote is not None and remote != sha256:
                    sftp.remove(tmp)
                    raise TransientDeliveryError(self.station.id, f"sha256 at the station "
                                                 f"{remote[:12]}… != {sha256[:12]}…")
            self._rename(tmp, final)
            self.write_small(f"{name}.sha256", f"{sha256}  {name}\n".encode("ascii"))
        return sent

    def free_bytes(self) -> int | None:
        """Free space in remote_dir, when the server offers statvfs@openssh.com."""
        try:
            request = self._sftp()._request  # type: ignore[attr-defined]
            _t, msg = request(CMD_EXTENDED, "statvfs@openssh.com", self.station.remote_dir)
        except Exception:
            return None
        if msg is None:
            return None
        _bsize, frsize, _blocks, _bfree, bavail = (msg.get_int64() for _ in range(5))
        return int(frsize * bavail)

    # ------------------------------------------------------------ commands

    def run(self, command: str, timeout: float) -> ExecResult:
        """Run a command at the station; `timeout` bounds the whole run."""
        client = self.client
        if client is None:
            raise TransientDeliveryError(self.station.id, "not connected")
        with self._errors("running a command"):
            _stdin, stdout, stderr = client.exec_command(command, timeout=timeout)
            channel = stdout.channel
            deadline = time.monotonic() + timeout
            # wake as soon as the exit status arrives; tick the stall watchdog meanwhile
            while not channel.status_event.wait(timeout=1.0):
                if time.monotonic() > deadline:
                    channel.close()
                    raise TransientDeliveryError(self.station.id,
                                                 f"command timed out after {timeout:.0f} s")
                if self.watchdog:
                    self.watchdog.tick()
            out = stdout.read().decode("utf-8", "replace")
            err = stderr.read().decode("utf-8", "replace")
            return ExecResult(channel.recv_exit_status(), out, err)

    def remote_sha256(self, name: str) -> str | None:
        """sha256 of a station file via `sha256sum`, or None if the station runs no commands."""
        try:
            res = self.run(f"sha256sum -- {shlex.quote(self.remote_path(name))}", 120)
        except TransientDeliveryError:
            return None
        if res.status != 0 or not res.stdout:
            return None
        return res.stdout.split()[0]


# ---------------------------------------------------------------- probing and enrolment


def probe_station(st: StationSettings, settings: DeliverySettings) -> None:
    """Connect, verify the host key, log in, check that remote_dir is writable."""
    with StationLink(st, settings) as link:
        link.write_small(".radiocast-check", b"ok\n")
        link.remove(".radiocast-check")


def fetch_host_key(st: StationSettings, timeout: float) -> paramiko.PKey:
    """The key the station presents now (for the operator to confirm; not trusted yet)."""
    sock = _tcp_socket(st.host, st.port, timeout, timeout)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise TransientDeliveryError(st.id, f"SSH handshake failed: {exc}") from exc
    finally:
        transport.close()


def record_host_key(st: StationSettings, key: paramiko.PKey) -> None:
    keys = paramiko.HostKeys()
    if st.known_hosts.exists():
        keys.load(str(st.known_hosts))
    keys.add(_known_hosts_name(st), key.get_name(), key)
    st.known_hosts.parent.mkdir(parents=True, exist_ok=True)
    keys.save(str(st.known_hosts))

