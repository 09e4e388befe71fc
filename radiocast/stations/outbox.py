"""Pull stations at the hub: the folders a station's chrooted SFTP account sees, and a local
link over them with the same surface as `StationLink`, so delivery, playbooks, inventory and
proof of play work for them unchanged, without one outbound connection.

    <pull.root>/<station>/          root-owned (the ChrootDirectory)
        outbox/                     the hub writes, the station reads: media, .sha256,
                                    playbook.json, asrun.ack
        inbox/                      the station writes, the hub reads: status.json, asrun/

Everything in the inbox is untrusted: opened without following links, only regular files,
size-capped.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import stat as stat_mod
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

from radiocast.config.settings import Settings, StationSettings
from radiocast.core.errors import PermanentDeliveryError, TransientDeliveryError
from radiocast.core.fsutil import FILE_CHANGES, atomic_write, fsync_dir, open_dir
from radiocast.db.lease import guard
from radiocast.stations.inbox import ASRUN, INBOX
from radiocast.stations.ssh import RemoteFile

log = logging.getLogger(__name__)

OUTBOX = "outbox"
STATION_WRITES = frozenset({"status.json"})  # read from the inbox; everything else: outbox
SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


def station_root(settings: Settings, sid: str) -> Path:
    return settings.pull.root / sid


def account_name(prefix: str, sid: str) -> str:
    """The station's login at the hub: `prefix` + id, shortened with a hash to fit 32."""
    name = prefix + sid
    if len(name) <= 32:
        return name
    digest = hashlib.sha256(sid.encode()).hexdigest()[:6]
    return f"{prefix}{sid[:31 - len(prefix) - 6]}-{digest}"


def read_untrusted(base: Path, parts: tuple[str, ...], name: str, limit: int) -> bytes | None:
    """A file a station wrote, `base`/`parts`/`name`: no folder and not the file itself
    through a link, never a device or FIFO, at most `limit` bytes. None when it is not there."""
    try:
        dfd = open_dir(base, parts)
    except FileNotFoundError:
        return None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=dfd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(f"{name} is a link; ignored") from None
        raise
    finally:
        os.close(dfd)
    try:
        st = os.fstat(fd)
        if not stat_mod.S_ISREG(st.st_mode):
            raise ValueError(f"{name} is not a regular file; ignored")
        chunks, left = [], limit
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class OutboxLink:
    """A pull station's folders at the hub, behind the `StationLink` surface."""

    def __init__(self, station: StationSettings, root: Path) -> None:
        self.station = station
        self.root = root
        self.outbox = root / OUTBOX
        self.inbox = root / INBOX

    @classmethod
    def of(cls, settings: Settings, st: StationSettings) -> OutboxLink:
        return cls(st, station_root(settings, st.id))

    def __enter__(self) -> OutboxLink:
        if not self.outbox.is_dir() or not self.inbox.is_dir():
            raise PermanentDeliveryError(self.station.id, f"pull folders under {self.root} "
                                         "missing; run `radiocast stations provision "
                                         f"{self.station.id}`")
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _name(self, name: str, sub: str | None = None) -> str:
        for part in (name, sub or "x"):
            if not SAFE_NAME.match(part) or part in (".", ".."):
                raise ValueError(f"unsafe name {part!r}")
        return name

    def _errors(self, what: str, exc: OSError) -> Exception:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return PermanentDeliveryError(self.station.id, f"{what}: the hub's disk is full")
        return TransientDeliveryError(self.station.id, f"{what}: {exc.strerror or exc}")

    # ------------------------------------------------------------ what the station wrote

    def contact_time(self) -> datetime | None:
        """When the station last wrote anything in its inbox (its status, or the hourly "I am
        here" rename), by the hub's clock; None before its first status."""
        if self.status_time() is None:
            return None
        return datetime.fromtimestamp(os.lstat(self.inbox).st_mtime, UTC)

    def status_time(self) -> datetime | None:
        """When its `status.json` was written (by the hub's clock), or None."""
        try:
            return datetime.fromtimestamp(os.lstat(self.inbox / "status.json").st_mtime, UTC)
        except OSError:
            return None

    def read_small(self, name: str, limit: int = 65536, sub: str | None = None) -> bytes | None:
        self._name(name, sub)
        if sub is not None:
            parts: tuple[str, ...] = (INBOX, sub)
        else:
            parts = (INBOX if name in STATION_WRITES else OUTBOX,)
        try:
            return read_untrusted(self.root, parts, name, limit)
        except ValueError as exc:
            raise TransientDeliveryError(self.station.id, str(exc)) from None
        except OSError as exc:
            raise self._errors(f"reading {name}", exc) from exc

    def list_names(self, sub: str) -> list[RemoteFile]:
        """Regular files (not links) in the inbox's folder `sub` (itself never a link)."""
        self._name("x", sub)
        try:
            fd = open_dir(self.root, (INBOX, sub))
        except FileNotFoundError:
            return []
        except ValueError as exc:
            raise TransientDeliveryError(self.station.id, str(exc)) from None
        except OSError as exc:
            raise self._errors(f"listing {sub}", exc) from exc
        try:
            with os.scandir(fd) as it:
                return [RemoteFile(e.name, e.stat(follow_symlinks=False).st_size) for e in it
                        if e.is_file(follow_symlinks=False)]
        except OSError as exc:
            raise self._errors(f"listing {sub}", exc) from exc
        finally:
            os.close(fd)

    # ------------------------------------------------------------ what the hub publishes

    def list_files(self) -> list[RemoteFile]:
        try:
            return [RemoteFile(e.name, e.stat(follow_symlinks=False).st_size)
                    for e in os.scandir(self.outbox) if e.is_file(follow_symlinks=False)]
        except OSError as exc:
            raise self._errors("listing the outbox", exc) from exc

    @contextlib.contextmanager
    def _changing(self, path: Path | None = None) -> Iterator[None]:
        """Every change moves the whole-second mtime of the outbox (and of the file rewritten)
        forward: SFTP shows only seconds, and the agent's poll is one `stat` of the outbox,
        so two changes within one second must still look different."""
        marks = []
        for p in (self.outbox, path):
            with contextlib.suppress(FileNotFoundError):
                if p is not None:
                    marks.append((p, int(os.stat(p).st_mtime)))
        yield
        for p, before in marks:
            if int(os.stat(p).st_mtime) <= before:
                os.utime(p, (before + 1, before + 1))

    def write_small(self, name: str, data: bytes) -> None:
        guard()  # a hub that no longer leads publishes nothing
        path = self.outbox / self._name(name)
        try:
            with self._changing(path):
                atomic_write(path, data, mode=0o644)
        except OSError as exc:
            raise self._errors(f"writing {name}", exc) from exc

    def remove(self, name: str) -> None:
        guard()
        with contextlib.suppress(FileNotFoundError):
            try:
                with self._changing():
                    (self.outbox / self._name(name)).unlink()
            except IsADirectoryError:
                pass
            except OSError as exc:
                raise self._errors(f"removing {name}", exc) from exc

    def free_bytes(self) -> int | None:
        return None  # the station reports its own free space in status.json

    def upload(self, local: Path, name: str, sha256: str,
               progress: Callable[[int], None] | None = None, can_exec: bool = False,
               gate: AbstractContextManager[object] | None = None) -> int:
        """Publish `local` in the outbox as `name`: a hard link to the spool file (no copy)
        when they share a file system, else a copy; by temporary name and rename, with
        `name.sha256` beside it. Returns the bytes copied (0 for a link). `gate` bounds
        transfers over a network: a local file takes none."""
        guard()
        dest = self.outbox / self._name(name)
        tmp = self.outbox / f".{name}.{sha256[:8]}.part"
        copied = 0
        try:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            try:
                os.link(local, tmp)
                os.chmod(tmp, 0o644)  # the station's account reads it (the spool stays closed)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                    raise
                copied = _copy(local, tmp, progress)
            with self._changing():
                os.replace(tmp, dest)
            fsync_dir(self.outbox)
            self.write_small(f"{name}.sha256", f"{sha256}  {name}\n".encode("ascii"))
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise self._errors(f"publishing {name}", exc) from exc
        if progress and not copied:
            progress(local.stat().st_size)
        return copied


def _copy(local: Path, tmp: Path, progress: Callable[[int], None] | None) -> int:
    n = 0
    with open(local, "rb") as src, open(tmp, "wb") as dst:
        while block := src.read(1 << 20):
            dst.write(block)
            n += len(block)
            if progress:
                progress(len(block))
        dst.flush()
        os.fsync(dst.fileno())
    os.chmod(tmp, 0o644)
    return n


class InboxWatch:
    """inotify on `inbox/` and `inbox/asrun/` of every pull station, two watches each and never
    one for a folder a station makes: which stations wrote something since last asked. Only a
    change counts (created, written, moved, deleted), never a read: the hub's own reads of an
    inbox must not make it read that inbox again. A missed event costs only time: the daemon
    also reads each inbox on a timer."""

    @classmethod
    def of(cls, settings: Settings) -> InboxWatch | None:
        """The watch on every pull station's inbox; None without pull stations, or when the
        folders are not provisioned yet (the daemon's timer still reads the inboxes)."""
        pull = {st.id for st in settings.stations if st.pull}
        if not pull:
            return None
        try:
            return cls(settings.pull.root, pull)
        except OSError as exc:
            log.warning("cannot watch %s: %s", settings.pull.root, exc)
            return None

    def __init__(self, root: Path, station_ids: set[str]) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        self.root = root
        self.ids = station_ids
        self.changed: set[str] = set()
        self.lock = threading.Lock()
        watch = self

        class Handler(FileSystemEventHandler):
            def __init__(self, sid: str) -> None:
                self.sid = sid

            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in FILE_CHANGES and not (
                        event.is_directory and event.event_type == "modified"):
                    with watch.lock:
                        watch.changed.add(self.sid)

        self.observer = Observer()
        self.watches = 0
        for sid in sorted(station_ids):
            for folder in (root / sid / INBOX, root / sid / INBOX / ASRUN):
                if folder.is_dir() and not folder.is_symlink():
                    self.observer.schedule(Handler(sid), str(folder), recursive=False)
                    self.watches += 1
        self.observer.daemon = True
        self.observer.start()

    def take(self) -> set[str]:
        with self.lock:
            out, self.changed = self.changed, set()
        return out

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)
