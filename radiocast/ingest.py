"""The drop folder: watch, settle, claim (hash → record → move), dedupe, receipts.

A file is claimed in steps that each leave a state the next start completes:
hash it; record a `received` programme row (commit); move it into the spool; record that
(commit). A crash before the record leaves the file in the drop folder; after it, the row
names the file by its sha256 and the next scan resumes the move. Nothing staff dropped is
ever deleted: it ends as an archived original, an archived duplicate, or in quarantine.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from radiocast import audio
from radiocast.app import App
from radiocast.config import priority_of
from radiocast.db import ops
from radiocast.db.schema import Programme
from radiocast.errors import AudioError, ConfigError
from radiocast.fsutil import atomic_write, move_file, sha256_file, unique_path
from radiocast.models import Priority, ProgrammeState
from radiocast.naming import (
    is_clutter,
    month_from,
    month_of,
    nfc,
    slugify,
    title_from,
    title_key,
)
from radiocast.receipts import acceptance_note, duplicate_note, reason_text, rejection_note

log = logging.getLogger(__name__)
SIDECAR_KEYS = {"title", "month", "language", "priority", "stations"}
MTIME_TRUST_SECONDS = 1.0


def crash_point(step: str) -> None:
    """Fault-injection seam for the crash tests: SIGKILL ourselves at a named step."""
    if os.environ.get("RADIOCAST_CRASH_AT") == step:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Meta:
    title: str
    month: str
    language: str
    priority: Priority
    stations: list[str] | None
    sidecar: Path | None


class SidecarError(Exception):
    pass


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
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return False
        if any(is_clutter(part) for part in rel.parts):
            return False
        resolved = path.resolve()
        return not any(resolved == ex or ex in resolved.parents for ex in self.excluded)

    def walk(self) -> Iterator[Path]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            d = Path(dirpath)
            dirnames[:] = [n for n in dirnames if self._wanted(d / n)]
            for name in filenames:
                p = d / name
                if self._wanted(p):
                    yield p

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
            stat = p.stat()
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


# ---------------------------------------------------------------- metadata


def sidecar_for(path: Path) -> Path | None:
    for cand in (path.with_name(path.name + ".toml"), path.with_suffix(".toml")):
        if cand != path and cand.exists():
            return cand
    return None


def read_metadata(app: App, path: Path, arrived: datetime) -> Meta:
    root = app.settings.ingest.drop_dir
    month = month_from(path, root) or month_of(arrived.astimezone(app.settings.general.tz))
    title = title_from(path) or f"Chương trình tháng {month[5:]}/{month[:4]}"
    meta = Meta(title, month, "vi", Priority.NORMAL, None, sidecar_for(path))
    if meta.sidecar is None:
        return meta
    try:
        data: dict[str, Any] = tomllib.loads(meta.sidecar.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SidecarError(f"{meta.sidecar.name}: {exc}") from exc
    unknown = sorted(set(data) - SIDECAR_KEYS)
    if unknown:
        raise SidecarError(f"{meta.sidecar.name}: unknown key {unknown[0]!r}")
    try:
        if "title" in data:
            if not isinstance(data["title"], str) or not data["title"].strip():
                raise SidecarError("title: must be a non-empty string")
            meta.title = nfc(data["title"].strip())
        if "month" in data:
            m = str(data["month"])
            if len(m) != 7 or month_from(Path(root / f"{m}.x"), root) != m:
                raise SidecarError(f"month: must look like 2026-11, got {m!r}")
            meta.month = m
        if "language" in data:
            if data["language"] not in ("vi", "en") and not str(data["language"]).isalpha():
                raise SidecarError("language: must be a language code such as vi")
            meta.language = str(data["language"])
        if "priority" in data:
            meta.priority = priority_of("priority", data["priority"])
        if "stations" in data:
            ids = data["stations"]
            known = {s.id for s in app.settings.stations}
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise SidecarError("stations: must be a list of station ids")
            bad = [i for i in ids if i not in known]
            if bad:
                raise SidecarError(f"stations: unknown station {bad[0]!r}")
            meta.stations = ids
    except ConfigError as exc:
        raise SidecarError(str(exc)) from exc
    return meta


# ---------------------------------------------------------------- claiming


def claim_file(app: App, path: Path) -> int | None:
    """Take one settled file. Returns the programme id it became (None: duplicate/rejected)."""
    now = app.clock()
    name = nfc(path.name)
    if path.suffix.lower() == ".toml":
        _orphan_sidecar(app, path, now)
        return None
    sha = sha256_file(path)
    size = path.stat().st_size
    crash_point("after_hash")
    try:
        meta: Meta | None = read_metadata(app, path, now)
        sidecar_error = None
    except SidecarError as exc:
        meta, sidecar_error = None, str(exc)
    spool = app.settings.spool_dir / "incoming" / f"{sha[:24]}{path.suffix.lower()}"
    with app.db.write() as s:
        existing = s.scalars(select(Programme).where(Programme.source_sha256 == sha)).first()
        if existing is not None and not _resumable(existing):
            dup_id, dup_title = existing.id, existing.title
            ops.record_event(s, now, "file", sha[:16], "duplicate", detail=f"{name} = #{dup_id}")
        else:
            dup_id = None
            p = existing or Programme(source_sha256=sha, revision=1)
            p.source_name, p.source_size = name, size
            p.drop_path, p.spool_path = str(path), str(spool)
            if meta is not None:
                p.title, p.month, p.language = meta.title, meta.month, meta.language
                p.priority = meta.priority.value
                p.stations = json.dumps(meta.stations) if meta.stations else None
            else:
                p.title, p.month = title_from(path) or name, month_of(now)
                p.language, p.priority = "vi", Priority.NORMAL.value
            p.title_key = title_key(p.title)
            p.reason = p.reason_code = None
            if existing is not None:
                ops.set_programme_state(s, p, ProgrammeState.RECEIVED, now, "claimed again")
            else:
                ops.claim_programme(s, p, now)
            pid = p.id
    if dup_id is not None:
        _finish_duplicate(app, path, name, dup_id, dup_title, now)
        return None
    crash_point("after_record")
    move_file(path, spool)
    crash_point("after_move")
    side = sidecar_for(path)
    if side is not None:
        move_file(side, spool.with_name(spool.name + ".toml"))
    with app.db.write() as s:
        p = s.get_one(Programme, pid)
        ops.record_event(s, now, "programme", pid, "spooled", detail=str(spool))
        if sidecar_error is not None:
            ops.reject_programme(s, p, now, "sidecar", f"{reason_text('sidecar')} {sidecar_error}")
    if sidecar_error is not None:
        finish_original(app, pid)
        return None
    log.info("claimed %s as programme #%d", name, pid)
    return pid


def _resumable(p: Programme) -> bool:
    """A claim interrupted before its move, or a rejected file dropped again."""
    if p.state == ProgrammeState.REJECTED.value:
        return True
    return p.state == ProgrammeState.RECEIVED.value and not Path(p.spool_path).exists()


def _finish_duplicate(app: App, path: Path, name: str, dup_id: int, title: str,
                      now: datetime) -> None:
    archive = app.settings.ingest.archive_dir
    dst = unique_path(archive / name)
    atomic_write(dst.with_name(dst.name + ".txt"),
                 duplicate_note(name, dup_id, title, _local(app, now)).encode("utf-8"))
    move_file(path, dst)
    side = sidecar_for(path)
    if side is not None:
        move_file(side, unique_path(archive / side.name))
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
    qdir = app.settings.ingest.quarantine_dir
    dst = unique_path(qdir / nfc(path.name))
    atomic_write(dst.with_name(dst.name + ".txt"), rejection_note(
        nfc(path.name), "orphan_sidecar", "", _local(app, now)).encode("utf-8"))
    move_file(path, dst)


def _local(app: App, dt: datetime) -> datetime:
    return dt.astimezone(app.settings.general.tz)


# ---------------------------------------------------------------- normalizing and finishing


def longest_window_seconds(app: App) -> float:
    slots = list(app.settings.schedule.slots)
    for st in app.settings.stations:
        slots.extend(st.slots or ())
    return max(s.minutes for s in slots) * 60.0


def pending_normalization(app: App) -> list[int]:
    with app.db.read() as s:
        return list(s.scalars(select(Programme.id).where(
            Programme.state == ProgrammeState.RECEIVED.value).order_by(Programme.id)))


def normalize_programme(app: App, pid: int) -> bool:
    """received → normalizing → ready (or rejected). Returns True when it became ready."""
    now = app.clock()
    with app.db.write() as s:
        p = s.get_one(Programme, pid)
        if p.state != ProgrammeState.RECEIVED.value or not Path(p.spool_path).exists():
            return False
        ops.set_programme_state(s, p, ProgrammeState.NORMALIZING, now)
        slug = _unique_slug(s, p)
        p.slug = slug
        src, title, month, language = Path(p.spool_path), p.title, p.month, p.language
    out = app.settings.spool_dir / "ready" / f"{slug}.mp3"
    try:
        res = audio.normalize(src, out, app.settings.audio,
                              audio.Tags(title, month, app.settings.general.sender, language),
                              max_seconds=longest_window_seconds(app),
                              work_dir=app.settings.spool_dir / "work")
    except AudioError as exc:
        with app.db.write() as s:
            p = s.get_one(Programme, pid)
            ops.reject_programme(s, p, app.clock(), exc.code,
                                 f"{reason_text(exc.code)} ({exc.detail})" if exc.detail
                                 else reason_text(exc.code))
        finish_original(app, pid)
        log.warning("programme #%d rejected: %s", pid, exc)
        return False
    digest = sha256_file(out)
    from radiocast.deliver import enqueue_for

    with app.db.write() as s:
        p = s.get_one(Programme, pid)
        p.duration_s = res.duration_s
        p.input_lufs, p.input_lra = res.input.integrated_lufs, res.input.lra_lu
        p.input_true_peak_dbtp = res.input.true_peak_dbtp
        p.output_lufs, p.output_true_peak_dbtp = (res.output.integrated_lufs,
                                                  res.output.true_peak_dbtp)
        p.output_path, p.sha256, p.size = str(out), digest, out.stat().st_size
        p.ready_at = app.clock()
        ops.set_programme_state(s, p, ProgrammeState.READY, p.ready_at,
                                f"{res.output.integrated_lufs:.1f} LUFS")
        old = ops.current_programme_for(s, p.month, p.title_key, p.id)
        if old is not None and old.id < p.id:
            p.revision = old.revision + 1
            ops.supersede(s, old, p, p.ready_at)
        enqueue_for(app, s, p)
    finish_original(app, pid)
    log.info("programme #%d ready: %.1f LUFS, %.1f dBTP, %.0f s", pid,
             res.output.integrated_lufs, res.output.true_peak_dbtp, res.duration_s)
    return True


def _unique_slug(s: Session, p: Programme) -> str:
    base = f"{p.month}-{slugify(p.title, 50)}"
    same_title = s.scalars(select(Programme.id).where(
        Programme.month == p.month, Programme.title_key == p.title_key,
        Programme.id < p.id, Programme.sha256.is_not(None))).all()
    slug = base if not same_title else f"{base}-v{len(same_title) + 1}"
    clash = s.scalars(select(Programme.id).where(Programme.slug == slug,
                                                 Programme.id != p.id)).first()
    return slug if clash is None else f"{slug}-{p.id}"


def finish_original(app: App, pid: int) -> None:
    """Move a processed original from the spool to the archive (receipt) or quarantine (note)."""
    with app.db.read() as s:
        p = s.get_one(Programme, pid)
        if p.state in (ProgrammeState.RECEIVED.value, ProgrammeState.NORMALIZING.value):
            return
        spool = Path(p.spool_path)
        if not spool.exists():
            return
        rejected = p.state == ProgrammeState.REJECTED.value
        name, title, month, dur, rev = (p.source_name, p.title, p.month, p.duration_s,
                                        p.revision)
        code = p.reason_code or "internal"
        detail = (p.reason or "").removeprefix(reason_text(code)).strip(" ()")
        at = _local(app, p.updated_at)
    folder = app.settings.ingest.quarantine_dir if rejected else app.settings.ingest.archive_dir
    dst = unique_path(folder / name)
    note = (rejection_note(name, code, detail, at) if rejected
            else acceptance_note(name, title, month, dur, at, pid, rev))
    atomic_write(dst.with_name(dst.name + ".txt"), note.encode("utf-8"))
    side = spool.with_name(spool.name + ".toml")
    if side.exists():
        move_file(side, unique_path(folder / (Path(name).stem + ".toml")))
    move_file(spool, dst)


def recover(app: App) -> None:
    """At start: normalizing → received; finish moving originals of finished programmes."""
    now = app.clock()
    with app.db.write() as s:
        for p in s.scalars(select(Programme).where(
                Programme.state == ProgrammeState.NORMALIZING.value)):
            ops.set_programme_state(s, p, ProgrammeState.RECEIVED, now, "interrupted; again")
        finished = list(s.scalars(select(Programme.id).where(Programme.state.in_(
            [ProgrammeState.READY.value, ProgrammeState.REJECTED.value,
             ProgrammeState.SUPERSEDED.value]))))
    for pid in finished:
        finish_original(app, pid)
