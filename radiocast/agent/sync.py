"""A pull station's link to the hub: the agent dials the hub's sshd (its own chrooted SFTP
account, host key pinned at enrolment) and keeps one connection open.

Every `poll_seconds` it `stat`s the outbox folder (every change the hub makes there moves
the folder's whole-second mtime forward, see `OutboxLink`). Only when that changed does it
list the outbox, download new media resumably
(`.partial/<name>.<sha>.part`, verified by sha256, fsync, rename), take `playbook.json` and
`asrun.ack` by temporary name and rename. Then it uploads what changed on its side: its
as-run segments and, when its substance changed or at least every `status_seconds`, its
`status.json`; and at least every `alive_seconds` it says "I am here" by one rename in its
inbox (the hub sees the inbox's mtime move). A dead link costs nothing but a backoff:
exponential, with a random ("full") jitter per station, so that hundreds of stations coming
back after an outage do not all dial the hub at the same moment.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import stat as stat_mod
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paramiko

from radiocast.agent.config import HubConfig, StationConfig
from radiocast.agent.journal import ACK_FILE, ASRUN_DIR
from radiocast.agent.playbook import PLAYBOOK, SAFE_FILE, SHA_RE, PlaybookError, parse
from radiocast.core.errors import DeliveryError
from radiocast.core.fsutil import HashCache, atomic_write, fsync_dir, sha256_file
from radiocast.stations.ssh import StallWatchdog, load_key, ssh_login

log = logging.getLogger(__name__)
OUTBOX = "/outbox"
INBOX = "/inbox"
PARTIAL = ".partial"
STATUS_FILE = "status.json"
BLOCK = 32 * 1024
REWIND = 64 * 1024  # a power cut may leave the last writes of a .part unwritten
SMALL_LIMIT = 4 << 20


class SyncError(Exception):
    """The link failed: close it and back off."""


@dataclass
class SyncStats:
    polls: int = 0
    full: int = 0
    connects: int = 0
    failures: int = 0
    downloaded: int = 0  # media bytes received
    files: int = 0


class HubSync:
    """One station's side of the pull transfer. `sync_once` does one poll; `run` loops."""

    def __init__(self, cfg: StationConfig, on_change: Callable[[], None] | None = None,
                 rng: random.Random | None = None) -> None:
        if cfg.hub is None:
            raise ValueError("no [hub] in the station's configuration")
        self.cfg = cfg
        self.hub: HubConfig = cfg.hub
        self.media = cfg.media_dir
        self.on_change = on_change or (lambda: None)
        self.rng = rng or random.Random()
        self.stats = SyncStats()
        self.client: paramiko.SSHClient | None = None
        self.sftp: paramiko.SFTPClient | None = None
        self.watchdog: StallWatchdog | None = None
        self.mark: tuple[int, int] | None = None
        self.sidecars: dict[tuple[str, int, int], str] = {}
        self.fetched: dict[str, tuple[int, int]] = {}
        self.remote_segments: dict[str, int] | None = None
        self.pushed: dict[str, str] = {}  # segment → sha256 of what was sent
        self.status_sent: tuple[str, float] | None = None
        self.alive_at = -1e18
        self.hashes = HashCache(cfg.media_dir)
        self.error = ""

    # ------------------------------------------------------------ the loop

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            stop.wait(self.step())
        self.close()

    def step(self) -> float:
        """One poll; returns how long to wait before the next."""
        try:
            self.sync_once()
        except SyncError as exc:
            self.close()
            self.stats.failures += 1
            wait = self.backoff()
            log.warning("hub: %s; next try in %.0f s", exc, wait)
            return wait
        self.stats.failures = 0
        return float(self.hub.poll_seconds)

    def backoff(self) -> float:
        """Exponential, capped, with full jitter: a random point below the ceiling."""
        n = max(1, self.stats.failures)
        ceiling = min(self.hub.retry_max_seconds, self.hub.retry_min_seconds * 2 ** (n - 1))
        return max(0.1, self.rng.uniform(0.0, ceiling))

    def sync_once(self) -> None:
        try:
            self._connect()
            self.stats.polls += 1
            mark = self._outbox_mark()
            if mark != self.mark:
                self._pull()
                self.mark = mark  # only once all of it is in
                self.stats.full += 1
            self._push()
        except DeliveryError as exc:
            raise SyncError(exc.detail) from exc
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if self.watchdog is not None and self.watchdog.fired:
                raise SyncError("link stalled") from exc
            raise SyncError(f"{exc.__class__.__name__}: {exc}") from exc

    # ------------------------------------------------------------ connection

    def _connect(self) -> None:
        if self.sftp is not None:
            return
        hub = self.hub
        self.client = ssh_login(hub, hub, load_key(hub.key_file), compress=True)
        transport = self.client.get_transport()
        assert transport is not None
        self.watchdog = StallWatchdog(transport, hub.stall_timeout_seconds)
        self.sftp = self.client.open_sftp()
        channel = self.sftp.get_channel()
        if channel is not None:
            channel.settimeout(hub.stall_timeout_seconds)
        self.remote_segments = None
        self.stats.connects += 1
        log.info("hub: connected to %s as %s", hub.host, hub.user)

    def close(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()
        for thing in (self.sftp, self.client):
            with contextlib.suppress(Exception):
                if thing is not None:
                    thing.close()
        self.sftp = self.client = self.watchdog = None

    def _sftp(self) -> paramiko.SFTPClient:
        if self.sftp is None:
            raise SyncError("not connected")
        if self.watchdog is not None:
            self.watchdog.tick()
        return self.sftp

    def _outbox_mark(self) -> tuple[int, int]:
        st = self._sftp().stat(OUTBOX)
        return int(st.st_mtime or 0), int(st.st_size or 0)

    # ------------------------------------------------------------ hub → station

    def _pull(self) -> None:
        entries = {a.filename: a for a in self._sftp().listdir_attr(OUTBOX)
                   if a.st_mode is not None and stat_mod.S_ISREG(a.st_mode)}
        wanted: dict[str, tuple[str, int]] = {}
        for name, attr in entries.items():
            side = entries.get(f"{name}.sha256")
            if SAFE_FILE.match(name) and side is not None:
                sha = self._sidecar(f"{name}.sha256", side)
                if sha:
                    wanted[name] = (sha, int(attr.st_size or 0))
        for name, (sha, size) in sorted(wanted.items()):
            if self.local_sha(name) != sha:
                self._download_one(name, sha, size)
        for small in (PLAYBOOK, ACK_FILE):
            if small in entries:
                self._fetch_small(small, entries[small])
        self._prune(set(wanted), {f"{n}.{sha[:16]}.part" for n, (sha, _) in wanted.items()})

    def _sidecar(self, name: str, attr: paramiko.SFTPAttributes) -> str | None:
        key = (name, int(attr.st_size or 0), int(attr.st_mtime or 0))
        if key not in self.sidecars:
            with self._sftp().open(f"{OUTBOX}/{name}", "rb") as fh:
                text = fh.read(200).decode("ascii", "replace").split()
            if not text or not SHA_RE.match(text[0]):
                return None
            self.sidecars[key] = text[0]
        return self.sidecars[key]

    def _fetch_small(self, name: str, attr: paramiko.SFTPAttributes) -> None:
        key = (int(attr.st_size or 0), int(attr.st_mtime or 0))
        if self.fetched.get(name) == key and (self.media / name).exists():
            return
        with self._sftp().open(f"{OUTBOX}/{name}", "rb") as fh:
            data = fh.read(SMALL_LIMIT)
        atomic_write(self.media / name, data)
        self.fetched[name] = key
        self.on_change()

    def _download_one(self, name: str, sha: str, size: int) -> None:
        try:
            self.download(name, sha, size)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError) or exc.errno is None:
                raise  # the hub side (paramiko's errors carry no errno): the link
            self.error = f"{name}: {exc.strerror or exc}"  # our disk: this file only
            log.error("hub: cannot store %s: %s", name, exc)

    def download(self, name: str, sha: str, size: int) -> None:
        """Fetch `name` into the media folder, resuming a `.part` of the same content only."""
        partial = self.media / PARTIAL
        partial.mkdir(exist_ok=True)
        part = partial / f"{name}.{sha[:16]}.part"
        have = part.stat().st_size if part.exists() else 0
        offset = 0 if have > size else max(0, have - REWIND)
        offset -= offset % BLOCK
        with open(part, "r+b" if part.exists() else "wb") as out, \
                self._sftp().open(f"{OUTBOX}/{name}", "rb") as fh:
            out.truncate(offset)
            out.seek(offset)
            fh.seek(offset)
            self._copy(fh, out, size - offset)
            out.flush()
            os.fsync(out.fileno())
        if sha256_file(part) != sha:
            part.unlink()
            raise SyncError(f"{name}: sha256 differs after download; fetched again next time")
        os.replace(part, self.media / name)
        fsync_dir(self.media)
        self.stats.files += 1
        self.error = ""
        log.info("hub: received %s (%d bytes, %d resumed)", name, size, offset)
        self.on_change()

    def _copy(self, fh: paramiko.SFTPFile, out: Any, todo: int) -> None:
        rate = self.hub.max_kbps * 125  # bytes per second; 0: as fast as the link goes
        if not rate:
            fh.prefetch(todo + fh.tell())
        began, done = time.monotonic(), 0
        while done < todo:
            block = fh.read(min(BLOCK, todo - done))
            if not block:
                raise SyncError("the file ended early at the hub")
            out.write(block)
            done += len(block)
            self.stats.downloaded += len(block)
            if self.watchdog is not None:
                self.watchdog.tick()
            if rate:
                ahead = done / rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)

    def _prune(self, wanted: set[str], parts: set[str]) -> None:
        """Media the hub no longer offers and no airing in the playbook needs: removed; and
        every `.part` that is not of a content the hub offers now."""
        needed = set(wanted)
        with contextlib.suppress(OSError, PlaybookError):
            book = parse((self.media / PLAYBOOK).read_bytes(), self.cfg.id)
            needed |= {i.file for i in book.items}
        for path in self.media.glob("*.mp3"):
            if path.name not in needed:
                path.unlink()
                log.info("hub: removed %s (no longer offered)", path.name)
        for part in (self.media / PARTIAL).glob("*.part"):
            if part.name not in parts:
                part.unlink()

    def local_sha(self, name: str) -> str | None:
        return self.hashes.get(name)

    # ------------------------------------------------------------ station → hub

    def _push(self) -> None:
        sftp = self._sftp()
        if self.remote_segments is None:
            self.remote_segments = {a.filename: int(a.st_size or 0)
                                    for a in sftp.listdir_attr(f"{INBOX}/{ASRUN_DIR}")}
        local = {p.name: p for p in (self.media / ASRUN_DIR).glob("*.jsonl")}
        for name, path in sorted(local.items()):
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            # by content: a segment rebuilt at the same length is sent again (the size alone
            # is all there is to compare after a restart)
            if self.remote_segments.get(name) != len(data) or \
                    self.pushed.get(name, digest) != digest:
                self._put(f"{INBOX}/{ASRUN_DIR}", name, data)
                self.remote_segments[name] = len(data)
            self.pushed[name] = digest
        for name in set(self.remote_segments) - set(local):
            if name.endswith(".jsonl"):  # acknowledged by the hub and let go here
                with contextlib.suppress(FileNotFoundError):
                    sftp.remove(f"{INBOX}/{ASRUN_DIR}/{name}")
            del self.remote_segments[name]
            self.pushed.pop(name, None)
        if not self._push_status() and \
                time.monotonic() - self.alive_at >= self.hub.alive_seconds:
            self._alive()

    def _alive(self) -> None:
        """"I am here", for the price of one rename: the inbox's mtime moves (by the hub's
        clock), which the hub takes as a contact."""
        sftp = self._sftp()
        a, b = f"{INBOX}/.alive-a", f"{INBOX}/.alive-b"
        try:
            sftp.posix_rename(a, b)
        except FileNotFoundError:
            try:
                sftp.posix_rename(b, a)
            except FileNotFoundError:
                sftp.open(a, "wb").close()
        self.alive_at = time.monotonic()

    def _push_status(self) -> bool:
        """Send status.json when what it says changed, or at least every status_seconds."""
        try:
            raw = (self.media / STATUS_FILE).read_bytes()
            doc = json.loads(raw)
        except (OSError, ValueError):
            return False
        if self.error:
            doc["last_error"] = doc.get("last_error") or self.error
            raw = json.dumps(doc, ensure_ascii=False).encode()
        digest = _substance(doc)
        mono = time.monotonic()
        if self.status_sent is not None and self.status_sent[0] == digest and \
                mono - self.status_sent[1] < self.hub.status_seconds:
            return False
        self._put(INBOX, STATUS_FILE, raw)
        self.status_sent = (digest, mono)
        self.alive_at = mono
        return True

    def _put(self, folder: str, name: str, data: bytes) -> None:
        sftp = self._sftp()
        tmp = f"{folder}/.{name}.tmp"
        with sftp.open(tmp, "wb") as fh:
            fh.write(data)
        try:
            sftp.posix_rename(tmp, f"{folder}/{name}")
        except OSError:
            with contextlib.suppress(FileNotFoundError):
                sftp.remove(f"{folder}/{name}")
            sftp.rename(tmp, f"{folder}/{name}")


def _substance(doc: dict[str, Any]) -> str:
    """What in a status is news to the hub (not the time, nor a few MB of free space)."""
    keep = {k: v for k, v in doc.items() if k not in ("time", "uptime_s", "free_bytes")}
    free = doc.get("free_bytes")
    keep["free_100mb"] = free // (100 << 20) if isinstance(free, int) else None
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()
