"""A programme after its claim: normalize → ready (or rejected), revisions, receipts, and the
deliveries a ready programme needs. Originals leave the spool for the archive (with a receipt)
or the quarantine (with a note) only after their programme's state is final."""

from __future__ import annotations

import errno
import logging
from datetime import timedelta
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from radiocast.app import App
from radiocast.audio.normalize import NormalizeResult, Tags, normalize
from radiocast.core import metrics
from radiocast.core.errors import AudioError
from radiocast.core.faults import crash_point
from radiocast.core.fsutil import file_away, sha256_file
from radiocast.core.models import Normalized, ProgrammeState
from radiocast.core.months import local_month
from radiocast.core.naming import slugify
from radiocast.core.receipts import acceptance_note, rejection_note
from radiocast.db import approvals, ops, views
from radiocast.db.schema import Programme, priority_rank

log = logging.getLogger(__name__)
RETRY_SECONDS = (30, 120, 600, 1800, 3600)
FINAL = [ProgrammeState.READY.value, ProgrammeState.REJECTED.value,
         ProgrammeState.SUPERSEDED.value]


def pending_normalization(app: App) -> list[int]:
    """Received programmes due for normalizing: emergencies first, then in arrival order."""
    with app.db.read() as s:
        return list(s.scalars(select(Programme.id).where(
            Programme.state == ProgrammeState.RECEIVED.value,
            or_(Programme.next_attempt_at.is_(None),
                Programme.next_attempt_at <= app.clock()))
            .order_by(priority_rank(Programme.priority), Programme.id)))


def stations_of(app: App, p: Programme) -> list[str]:
    """Where the programme goes by the configuration as it is now: its month, its sidecar's
    list, its language."""
    return app.settings.stations_for(p.month, views.programme_stations(p), p.language)


def round_stations(app: App, pids: list[int]) -> list[str]:
    """The stations a round will visit once these programmes are normalized: those with
    deliveries already due (emergencies first), then those the programmes will go to (as
    `mark_ready` queues them)."""
    with app.db.read() as s:
        due = views.due_station_ids(s, app.clock())
        more: set[str] = set()
        for p in s.scalars(select(Programme).where(Programme.id.in_(pids))):
            more.update(stations_of(app, p))
    return due + sorted(more - set(due))


def normalize_programme(app: App, pid: int) -> bool:
    """received → normalizing → ready (or rejected). Returns True when it became ready."""
    with app.db.write() as s:
        p = s.get_one(Programme, pid)
        if p.state != ProgrammeState.RECEIVED.value or not Path(p.spool_path).exists():
            return False
        slug = _unique_slug(s, p)
        ops.start_normalizing(s, p, slug, app.clock())
        src, tags = Path(p.spool_path), Tags(p.title, p.month, app.settings.general.sender,
                                             p.language)
    out = app.settings.spool_dir / "ready" / f"{slug}.mp3"
    try:
        with metrics.NORMALIZE_SECONDS.time():
            res = normalize(src, out, app.settings.audio, tags,
                            max_seconds=app.settings.longest_window_seconds(),
                            work_dir=app.settings.spool_dir / "work")
    except AudioError as exc:
        with app.db.write() as s:
            ops.reject_programme(s, s.get_one(Programme, pid), app.clock(), exc.code,
                                 exc.detail)
        _try_finish_original(app, pid)
        log.warning("programme #%d rejected: %s", pid, exc)
        return False
    except OSError as exc:  # the machine, not the file: disk full, I/O error
        _defer(app, pid, exc)
        return False
    crash_point("after_normalize")
    _make_ready(app, pid, res, out)
    _try_finish_original(app, pid)
    log.info("programme #%d ready: %.1f LUFS, %.1f dBTP, %.0f s", pid,
             res.output.integrated_lufs, res.output.true_peak_dbtp, res.duration_s)
    return True


def _defer(app: App, pid: int, exc: OSError) -> None:
    now = app.clock()
    with app.db.write() as s:
        p = s.get_one(Programme, pid)
        wait = RETRY_SECONDS[min(p.attempts, len(RETRY_SECONDS) - 1)]
        error = f"{exc.strerror or exc}" + (" (disk full)" if exc.errno == errno.ENOSPC else "")
        ops.defer_normalizing(s, p, now, error, now + timedelta(seconds=wait))
    log.error("programme #%d not normalized (%s); trying again in %d s", pid, exc, wait)


def _make_ready(app: App, pid: int, res: NormalizeResult, out: Path) -> None:
    """Record the result; a revision replaces the programme it corrects; enqueue deliveries."""
    made = Normalized(res.duration_s, res.input.integrated_lufs, res.input.lra_lu,
                      res.input.true_peak_dbtp, res.output.integrated_lufs,
                      res.output.true_peak_dbtp, str(out), sha256_file(out), out.stat().st_size)
    with app.db.write() as s:
        p = s.get_one(Programme, pid)
        now = app.clock()
        ops.mark_ready(s, p, made, now)
        # supersession follows arrival (claim) order, not the order normalizing finishes
        newer = views.newer_revision(s, p)
        if newer is not None:
            ops.supersede_late(s, p, newer, now)
            return
        rules = app.settings.approval
        waits = rules.needed(p.priority)
        if waits:  # its file goes to the stations now; it airs once approved
            approvals.await_approval(s, p, now)
        old = views.current_programme_for(s, p.month, p.title_key, p.id, p.language)
        if old is not None:  # an approved version airs until its revision is approved; one
            # that never was (still waiting, or declined) is replaced in the queue at once
            ops.supersede(s, old, p, now, at_once=not waits or rules.airs_first(p.priority)
                          or old.approval not in approvals.AIRABLE)
        ops.enqueue_deliveries(s, p, stations_of(app, p), now)


def _unique_slug(s: Session, p: Programme) -> str:
    # a version's file names its language: "2026-12-chuyen-doi-so-blt"
    tail = "" if p.language == "vi" else f"-{p.language}"
    base = f"{p.month}-{slugify(p.title, 50)}{tail}"
    same_title = s.scalars(select(Programme.id).where(
        Programme.month == p.month, Programme.title_key == p.title_key,
        Programme.language == p.language,
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
        at = p.updated_at.astimezone(app.settings.general.tz)
        if p.state == ProgrammeState.REJECTED.value:
            folder = app.settings.ingest.quarantine_dir
            note = rejection_note(p.source_name, p.reason_code or "internal",
                                  p.reason_detail or "", at, limits(app),
                                  app.settings.languages.name(p.language))
        else:
            folder = app.settings.ingest.archive_dir
            note = acceptance_note(p.source_name, p.title, p.month, p.duration_s, at, pid,
                                   p.revision, app.settings.languages.name(p.language))
        name = p.source_name
    file_away(spool, folder, name, note, spool.with_name(spool.name + ".toml"))


def _try_finish_original(app: App, pid: int) -> None:
    try:
        finish_original(app, pid)
    except OSError as exc:  # the programme's state is final; the original is filed later
        log.error("programme #%d: original not moved out of the spool yet: %s", pid, exc)


def finish_originals(app: App) -> int:
    """File away every finished programme's original still in the spool. One that cannot be
    moved (folder not writable, disk full, a name the file system refuses) is logged and left
    for the next try, and status shows it (`original_stuck`); the others go on. Returns how
    many failed."""
    with app.db.read() as s:
        rows = list(s.execute(select(Programme.id, Programme.spool_path).where(
            Programme.state.in_(FINAL))))
    failed = 0
    for pid, spool in rows:
        if not Path(spool).exists():
            continue
        try:
            finish_original(app, pid)
        except OSError as exc:
            failed += 1
            log.error("programme #%d: original not moved out of the spool: %s", pid, exc)
    return failed


def recover(app: App) -> None:
    """At start: normalizing → received; finish moving originals of finished programmes;
    deliveries for stations the configuration gained (or that now air a language)."""
    with app.db.write() as s:
        ops.reset_normalizing(s, app.clock())
    finish_originals(app)
    reconcile_deliveries(app)


def reconcile_deliveries(app: App) -> int:
    """Every ready programme of this month or later goes to every station that should have
    it by the configuration as it is now (a station added, or given a language, after the
    programme was ready). Only adds: nothing already queued or delivered is touched."""
    now = app.clock()
    month = local_month(now, app.settings.general.tz)
    added = 0
    with app.db.write() as s:
        for p in s.scalars(select(Programme).where(
                Programme.state == ProgrammeState.READY.value, Programme.month >= month)):
            added += ops.enqueue_deliveries(s, p, stations_of(app, p), now)
    if added:
        log.info("%d deliveries queued for stations the configuration gained", added)
    return added


def limits(app: App) -> dict[str, str]:
    """The configured limits a rejection note quotes."""
    return {"min_seconds": f"{app.settings.audio.min_seconds:g}",
            "window_minutes": f"{app.settings.longest_window_seconds() / 60:g}"}
