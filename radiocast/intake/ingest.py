"""The drop folder: watch, settle, claim (hash → record → move), dedupe.

A file is claimed in steps that each leave a state the next start completes:
hash it; record a `received` programme row (commit); move it into the spool; record that
(commit). A crash before the record leaves the file in the drop folder; after it, the row
names the file by its sha256 and the next scan resumes the move. Nothing staff dropped is
ever deleted: it ends as an archived original, an archived duplicate, or in quarantine.
What happens to a programme after its claim is `programmes`' business.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from radiocast.app import App
from radiocast.core.faults import crash_point
from radiocast.core.fsutil import (
    COPY_ROOM,
    NOTE_SUFFIX,
    NotRegularFile,
    atomic_write,
    file_away,
    fit_name,
    hash_regular,
    is_wanted,
    move_file,
    note_bytes,
    unique_path,
    walk_files,
)
from radiocast.core.models import Claim, Priority, ProgrammeState
from radiocast.core.months import local_month
from radiocast.core.naming import nfc, title_from, title_key
from radiocast.core.receipts import duplicate_note, rejection_note
from radiocast.db import ops
from radiocast.db.schema import Programme
from radiocast.intake.sidecar import Meta, SidecarError, read_metadata, sidecar_for

log = logging.getLogger(__name__)
MTIME_TRUST_SECONDS = 1.0


# ---------------------------------------------------------------- watching and settling


class _Handler(FileSystemEventHandler):
    def __init__(self, events: queue.SimpleQueue[tuple[str, str]]) -> None:
        self.events = events

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        path = event.dest_path if event.event_type == "moved" else event.src_path
        self.events.put((event.event_type, os.fsdecode(path)))


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    stable_since: float
    writing: bool = False


class DropFolder:
    """Knows which files in the drop folder exist and which have stopped changing."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.cfg = app.settings.ingest
        self.root = self.cfg.drop_dir
        self.excluded = [p.resolve() for p in (self.cfg.archive_dir, self.cfg.quarantine_dir)]
        self.events: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self.seen: dict[Path, _Seen] = {}
        self.observer: BaseObserver | None = None
        self.last_scan = -1e18

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.observer = PollingObserver(timeout=1) if self.cfg.polling else Observer()
        self.observer.schedule(_Handler(self.events), str(self.root), recursive=True)
        self.observer.start()

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=5)
            self.observer = None

    def _wanted(self, path: Path) -> bool:
        return is_wanted(path, self.root, self.excluded)

    def walk(self) -> Iterator[Path]:
        return walk_files(self.root, self.excluded)

    def poll(self, mono_now: float) -> list[Path]:
        """Absorb events (and a full rescan when due); return the files that have settled."""
        while True:
            try:
                kind, raw = self.events.get_nowait()
            except queue.Empty:
                break
            p = Path(raw)
            if not self._wanted(p):
                continue
            self._observe(p, mono_now, writing=kind in ("modified", "created"),
                          closed=kind == "closed")
        if mono_now - self.last_scan >= self.cfg.rescan_seconds:
            self.last_scan = mono_now
            present = set()
            for p in self.walk():
                present.add(p)
                self._observe(p, mono_now)
            for gone in set(self.seen) - present:
                del self.seen[gone]
        settled = []
        for p, st in list(self.seen.items()):
            if not p.exists():
                del self.seen[p]
                continue
            self._observe(p, mono_now)
            quiet = mono_now - st.stable_since
            # an inotify "modified" with no "closed" after it means a writer may still be there;
            # wait for the close, but not forever (events can be lost)
            needed = self.cfg.settle_seconds * (10 if st.writing else 1)
            if quiet >= needed:
                settled.append(p)
        return sorted(settled)

    def _observe(self, p: Path, now: float, writing: bool = False, closed: bool = False) -> None:
        try:
            stat = os.lstat(p)  # a link is judged as itself, never by what it points to
        except FileNotFoundError:
            self.seen.pop(p, None)
            return
        prev = self.seen.get(p)
        if prev is None or (prev.size, prev.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
            # inotify events reach us ~0.5 s late (watchdog pairs moves); a fresh mtime tells
            # when the change really happened. Older mtimes (copies keep the source's) are not
            # trusted: then the change counts from when we saw it.
            age = time.time() - stat.st_mtime
            backdate = age if 0.0 <= age <= MTIME_TRUST_SECONDS else 0.0
            self.seen[p] = _Seen(stat.st_size, stat.st_mtime_ns, now - backdate,
                                 writing or (prev.writing if prev else False))
            prev = self.seen[p]
        if closed:
            prev.writing = False
        elif writing and not self.cfg.polling:
            prev.writing = True

    def forget(self, p: Path) -> None:
        self.seen.pop(p, None)

    def waiting_files(self) -> list[Path]:
        return list(self.walk())



# ---------------------------------------------------------------- claiming


@dataclass(frozen=True)
class Claimed:
    programme_id: int
    rejected: bool  # its sidecar was wrong, or its month is over: in quarantine with a note


def claim_file(app: App, path: Path) -> Claimed | None:
    """Take one settled file. Returns the programme it became (None: a duplicate, or a
    sidecar waiting for its audio)."""
    now = app.clock()
    name = nfc(path.name)
    try:
        sha, size = hash_regular(path)
    except NotRegularFile as exc:
        _quarantine_special(app, path, name, exc.strerror or "not a regular file", now)
        return None
    if path.suffix.lower() == ".toml":
        _orphan_sidecar(app, path, now)
        return None
    crash_point("after_hash")
    meta: Meta | None = None
    try:
        meta = read_metadata(path, app.settings.ingest.drop_dir,
                             local_month(now, app.settings.general.tz),
                             {st.id for st in app.settings.stations}, app.settings.languages)
        refusal = _past_month(app, meta, now)
    except SidecarError as exc:
        refusal = (exc.code, str(exc))
    spool = app.settings.spool_dir / "incoming" / f"{sha[:24]}{path.suffix.lower()}"
    claim = _claim(app, path, name, sha, size, spool, meta, now)
    with app.db.write() as s:
        existing = s.scalars(select(Programme).where(Programme.source_sha256 == sha)).first()
        if existing is not None and not _resumable(existing):
            dup = (existing.id, existing.title)
            ops.record_duplicate(s, sha, name, existing.id, now)
        else:
            dup = None
            pid = ops.claim_programme(s, claim, now, resume=existing)
    if dup is not None:
        _finish_duplicate(app, path, name, dup[0], dup[1], now)
        return None
    crash_point("after_record")
    _spool(app, path, spool, pid, refusal, now)
    if refusal is not None:
        file_away(spool, app.settings.ingest.quarantine_dir, name,
                  rejection_note(name, refusal[0], refusal[1], _local(app, now),
                                 version=_version(app, meta)),
                  spool.with_name(spool.name + ".toml"))
        return Claimed(pid, rejected=True)
    log.info("claimed %s as programme #%d", name, pid)
    return Claimed(pid, rejected=False)


def _claim(app: App, path: Path, name: str, sha: str, size: int, spool: Path,
           meta: Meta | None, now: datetime) -> Claim:
    if meta is None:  # the sidecar is wrong: the programme is rejected right after its move
        title, month = title_from(path) or name, local_month(now, app.settings.general.tz)
        meta = Meta(title, month, "vi", Priority.NORMAL, None, None)
    return Claim(source_sha256=sha, source_name=name, source_size=size, drop_path=str(path),
                 spool_path=str(spool), title=meta.title, title_key=title_key(meta.title),
                 month=meta.month, language=meta.language, priority=meta.priority.value,
                 stations=meta.stations)


def _version(app: App, meta: Meta | None) -> str:
    """The language version a refused file is, for its note ("-" when its name is wrong)."""
    return "-" if meta is None else app.settings.languages.name(meta.language)


def _past_month(app: App, meta: Meta, now: datetime) -> tuple[str, str] | None:
    """A programme for a month that is over is flagged, not delivered silently."""
    current = local_month(now, app.settings.general.tz)
    if meta.month < current:
        return "past_month", f"month {meta.month}, received in {current}"
    return None


def _spool(app: App, path: Path, spool: Path, pid: int, refusal: tuple[str, str] | None,
           now: datetime) -> None:
    """Move the claimed file (and its sidecar) into the spool, then record that."""
    move_file(path, spool)
    crash_point("after_move")
    side = sidecar_for(path)
    if side is not None:
        move_file(side, spool.with_name(spool.name + ".toml"))
    with app.db.write() as s:
        p = s.get_one(Programme, pid)
        ops.record_spooled(s, p, str(spool), now)
        if refusal is not None:
            ops.reject_programme(s, p, now, *refusal)


def _resumable(p: Programme) -> bool:
    """A claim interrupted before its move, or a rejected file dropped again."""
    if p.state == ProgrammeState.REJECTED.value:
        return True
    return p.state == ProgrammeState.RECEIVED.value and not Path(p.spool_path).exists()


def _finish_duplicate(app: App, path: Path, name: str, dup_id: int, title: str,
                      now: datetime) -> None:
    side = sidecar_for(path)
    file_away(path, app.settings.ingest.archive_dir, name,
              duplicate_note(name, dup_id, title, _local(app, now)), side,
              side.name if side else None)
    log.info("%s duplicates programme #%d; archived", name, dup_id)


def _has_audio_sibling(sidecar: Path) -> bool:
    if (sidecar.parent / sidecar.name[:-5]).exists():
        return True
    return any(q != sidecar and q.stem == sidecar.stem and q.suffix.lower() != ".toml"
               for q in sidecar.parent.iterdir())


def _orphan_sidecar(app: App, path: Path, now: datetime) -> None:
    if _has_audio_sibling(path):
        return  # its audio file is still settling: they travel together
    audio_name = path.name[:-5]
    with app.db.read() as s:
        owner = s.scalars(select(Programme).where(
            Programme.drop_path.in_([str(path.with_name(audio_name)), str(path.with_suffix(""))])
        )).first()
    if owner is not None:  # its audio was claimed before a crash moved the sidecar too
        move_file(path, unique_path(app.settings.ingest.archive_dir / path.name))
        return
    file_away(path, app.settings.ingest.quarantine_dir, nfc(path.name),
              rejection_note(nfc(path.name), "orphan_sidecar", "", _local(app, now)))


def _quarantine_special(app: App, path: Path, name: str, what: str, now: datetime) -> None:
    """A symlink, FIFO or device in the drop folder: moved (as itself, never followed or
    opened) into quarantine with a note. If it cannot be moved it is left where it is."""
    qdir = app.settings.ingest.quarantine_dir
    dst = unique_path(qdir / fit_name(name, len(NOTE_SUFFIX) + COPY_ROOM))
    try:
        atomic_write(dst.with_name(dst.name + NOTE_SUFFIX), note_bytes(rejection_note(
            name, "not_a_file", what, _local(app, now))))
        os.rename(path, dst)
    except OSError as exc:
        log.warning("%s is %s and could not be moved to quarantine: %s", name, what, exc)
        return
    log.warning("%s is %s: moved to quarantine", name, what)


def _local(app: App, dt: datetime) -> datetime:
    return dt.astimezone(app.settings.general.tz)
