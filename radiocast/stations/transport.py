"""SSH/SFTP to one station: host-key trust, atomic resumable verified upload, remote exec.

With `ssh` (connection, keys, enrolment), the only modules that touch paramiko. Every outside
error is translated there, once, into TransientDeliveryError (try again later) or
PermanentDeliveryError (a person must act).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import shlex
import stat as stat_mod
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import paramiko
from paramiko.sftp import CMD_EXTENDED

from radiocast.config.settings import DeliverySettings, StationSettings
from radiocast.core.errors import PermanentDeliveryError, TransientDeliveryError
from radiocast.core.faults import crash_point
from radiocast.db.lease import guard
from radiocast.stations.ssh import RemoteFile, StallWatchdog, load_key, ssh_login

log = logging.getLogger(__name__)
BLOCK = 32 * 1024
# One SFTP write in one SSH packet: OpenSSH's session channels take at most 32 KiB of data per
# packet, and a write request adds its own header (id, handle, offset) to the data. A full
# 32 KiB of data was two packets each time, the second a few dozen bytes: twice the packets to
# encrypt, authenticate and hand on at both ends.
WRITE_BLOCK = BLOCK - 128
RESUME_REWIND = 1 << 20  # rewrite the last MiB: pipelined writes before a break may be lost
WINDOW = 8 << 20


@dataclass(frozen=True)
class ExecResult:
    status: int
    stdout: str
    stderr: str


def part_name(name: str, sha256: str) -> str:
    """The temporary name of an upload: hidden, and named by content."""
    return f".{name}.{sha256[:8]}.part"


PART_RE = re.compile(r"^\.(?P<base>.+)\.(?P<sha8>[0-9a-f]{8})\.part$|^\.(?P<old>.+)\.part$")


class StationLink:
    """One authenticated SSH connection to a station, with SFTP; use as a context manager."""

    def __init__(self, station: StationSettings, settings: DeliverySettings,
                 compress: bool = False) -> None:
        """`compress`: zlib on the wire, for contacts that move text (as-run, status), not
        MP3 (which does not compress and would only cost CPU)."""
        self.station = station
        self.settings = settings
        self.compress = compress
        self.client: paramiko.SSHClient | None = None
        self.sftp: paramiko.SFTPClient | None = None
        self.watchdog: StallWatchdog | None = None

    # ------------------------------------------------------------ connection

    def __enter__(self) -> StationLink:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        guard()  # a hub that no longer leads contacts no station
        st, cfg = self.station, self.settings
        if not st.known_hosts.exists():
            raise PermanentDeliveryError(st.id, f"known_hosts file {st.known_hosts} missing; "
                                         f"run `radiocast stations enroll {st.id}`")
        self.client = ssh_login(st, cfg, load_key(st.key_file), self.compress)
        transport = self.client.get_transport()
        assert transport is not None
        transport.set_keepalive(15)
        self.watchdog = StallWatchdog(transport, cfg.stall_timeout_seconds, while_busy=True)
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
            with self.watchdog.busy() if self.watchdog else contextlib.nullcontext():
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

    def remote_path(self, name: str, sub: str | None = None) -> str:
        """A path in remote_dir (or its folder `sub`); never anything outside it."""
        for part in (name, sub or "x"):
            if "/" in part or part in ("", ".", ".."):
                raise ValueError(f"unsafe remote name {part!r}")
        return f"{self.station.remote_dir}/{sub}/{name}" if sub else \
            f"{self.station.remote_dir}/{name}"

    def list_names(self, sub: str) -> list[RemoteFile]:
        """Regular files in the folder `sub` of remote_dir (none when it does not exist)."""
        try:
            with self._errors(f"listing {sub}"):
                attrs = self._sftp().listdir_attr(self.remote_path("x", sub).rsplit("/", 1)[0])
        except TransientDeliveryError as exc:
            if isinstance(exc.__cause__, FileNotFoundError):
                return []
            raise
        return [RemoteFile(a.filename, a.st_size or 0) for a in attrs
                if a.st_mode is not None and stat_mod.S_ISREG(a.st_mode)]

    def list_files(self) -> list[RemoteFile]:
        with self._errors("listing remote_dir"):
            return [RemoteFile(a.filename, a.st_size or 0)
                    for a in self._sftp().listdir_attr(self.station.remote_dir)
                    if a.st_mode is not None and stat_mod.S_ISREG(a.st_mode)]

    def stat_files(self, names: list[str]) -> dict[str, float]:
        """Modification times (station clock) of those of `names` that exist."""
        sftp = self._sftp()
        out: dict[str, float] = {}
        for name in names:
            try:
                with self._errors(f"checking {name}"):
                    attr = sftp.stat(self.remote_path(name))
            except TransientDeliveryError as exc:
                if isinstance(exc.__cause__, FileNotFoundError):
                    continue
                raise
            out[name] = float(attr.st_mtime or 0)
        return out

    def read_small(self, name: str, limit: int = 65536, sub: str | None = None) -> bytes | None:
        try:
            with self._errors("reading"), \
                    self._sftp().open(self.remote_path(name, sub), "rb") as fh:
                size = fh.stat().st_size or 0
                if size > 32768:  # pipelined reads: one round trip, not one per 32 KiB
                    fh.prefetch(min(size, limit))
                return fh.read(limit)
        except TransientDeliveryError as exc:
            if isinstance(exc.__cause__, FileNotFoundError):
                return None
            raise

    def write_small(self, name: str, data: bytes) -> None:
        """Write a small file atomically: temporary name, then rename into place."""
        guard()
        sftp = self._sftp()
        tmp = self.remote_path(f".{name}.part")
        with self._errors(f"writing {name}"):
            with sftp.open(tmp, "wb") as fh:
                fh.write(data)
            self._rename(tmp, self.remote_path(name))

    def remove(self, name: str) -> None:
        guard()
        with self._errors(f"removing {name}"), contextlib.suppress(FileNotFoundError):
            self._sftp().remove(self.remote_path(name))

    def _rename(self, src: str, dst: str) -> None:
        guard()
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
               progress: Callable[[int], None] | None = None, can_exec: bool = False,
               gate: AbstractContextManager[object] | None = None) -> int:
        """Put `local` at `remote_dir/name`, atomically and verified; returns bytes sent.

        The temporary file is named by content (`part_name`), so a resume only ever continues
        the same bytes. Before the rename the content is verified: by `sha256sum` at the
        station when it runs commands, else by reading back the part that was not written in
        this session (what was written now came through SSH's integrity-checked channel and
        was acknowledged by the server). `gate` (the hub's `max_parallel`) is held while
        the bytes move, not while the station checks and renames them."""
        sftp = self._sftp()
        tmp_name = part_name(name, sha256)
        tmp = self.remote_path(tmp_name)
        size = local.stat().st_size
        with self._errors(f"uploading {name}"):
            try:
                have = sftp.stat(tmp).st_size or 0
            except FileNotFoundError:
                have = 0
            offset = max(0, min(have, size) - RESUME_REWIND) if have <= size else 0
            offset -= offset % BLOCK
            with gate or contextlib.nullcontext():
                sent = self._write_from(local, tmp, offset, have > size, progress)
            remote_size = sftp.stat(tmp).st_size
            if remote_size != size:
                raise TransientDeliveryError(self.station.id, f"size after upload "
                                             f"{remote_size} != {size}")
            crash_point("after_upload")
            self._verify(local, tmp_name, sha256, offset, can_exec)
            self._rename(tmp, self.remote_path(name))
            crash_point("after_rename")
            self.write_small(f"{name}.sha256", f"{sha256}  {name}\n".encode("ascii"))
        return sent

    def _write_from(self, local: Path, tmp: str, offset: int, truncate: bool,
                    progress: Callable[[int], None] | None) -> int:
        sent = 0
        size = local.stat().st_size
        with open(local, "rb") as fh, self._sftp().open(tmp, "r+b" if offset else "wb") as rf:
            rf.set_pipelined(True)
            if offset:
                log.info("%s: resuming %s at %d of %d bytes", self.station.id, tmp, offset,
                         size)
            fh.seek(offset)
            rf.seek(offset)
            while block := fh.read(WRITE_BLOCK):
                guard()  # a hub paused mid-transfer sends nothing once its lease is gone
                rf.write(block)
                sent += len(block)
                if self.watchdog:
                    self.watchdog.tick()
                if progress:
                    progress(len(block))
            if truncate:
                rf.truncate(size)
        return sent

    def _verify(self, local: Path, tmp_name: str, sha256: str, resumed: int,
                can_exec: bool) -> None:
        """Raise (and drop the temporary file) unless the station holds exactly `local`."""
        remote = self.remote_sha256(tmp_name) if can_exec else None
        if remote is not None:
            ok, why = remote == sha256, f"sha256 at the station {remote[:12]}… != {sha256[:12]}…"
        else:
            ok, why = self._same_prefix(local, tmp_name, resumed), "resumed part differs"
        if not ok:
            with contextlib.suppress(OSError):
                self._sftp().remove(self.remote_path(tmp_name))
            raise TransientDeliveryError(self.station.id, why)

    def _same_prefix(self, local: Path, name: str, upto: int) -> bool:
        if upto <= 0:
            return True
        with open(local, "rb") as fh, self._sftp().open(self.remote_path(name), "rb") as rf:
            rf.prefetch(upto)
            done = 0
            while done < upto:
                n = min(BLOCK * 8, upto - done)
                if rf.read(n) != fh.read(n):
                    return False
                done += n
                if self.watchdog:
                    self.watchdog.tick()
        return True

    def free_bytes(self) -> int | None:
        """Free space in remote_dir, when the server offers statvfs@openssh.com."""
        try:
            request = self._sftp()._request  # type: ignore[attr-defined]
            with self.watchdog.busy() if self.watchdog else contextlib.nullcontext():
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
        guard()
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


