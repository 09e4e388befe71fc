"""`radiocast publish`: build each target's site from what the database holds and put it in
place when it changed. One target that fails (its server down, its disk full) is recorded,
retried with a backoff, and shown as a problem; the others and the hub go on."""

from __future__ import annotations

import hashlib
import logging
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import select

from radiocast.app import App
from radiocast.config.publish import PublishTarget
from radiocast.core.errors import RadiocastError, UsageError
from radiocast.db import ops
from radiocast.db.schema import Event
from radiocast.publish import site, targets

log = logging.getLogger(__name__)
BACKOFF = (30.0, 120.0, 600.0, 1800.0)


@dataclass(frozen=True)
class Result:
    target: str
    ok: bool
    changed: bool
    episodes: int = 0
    airings: int = 0
    error: str = ""


def fingerprint(app: App, target: PublishTarget) -> str:
    """What the site would hold, without building it: publish only when it changed."""
    now = app.clock()
    eps = site.episodes(app, target, now)
    shows = site.schedule(app, target, now)
    h = hashlib.sha256(repr(target).encode())
    for e in eps:
        h.update(f"{e.id}:{e.file}:{e.size}:{e.premiere.isoformat()}\n".encode())
    for x in shows:
        h.update(f"{x.airing_id}:{x.start.isoformat()}:{x.title}\n".encode())
    return h.hexdigest()


def _published(app: App, target: PublishTarget) -> str:
    with app.db.read() as s:
        detail = s.scalar(select(Event.detail).where(
            Event.entity == "publish", Event.entity_id == target.id,
            Event.action == "published").order_by(Event.id.desc()).limit(1))
    return (detail or "").split(" ", 1)[0]


def publish_target(app: App, target: PublishTarget, dry_run: bool = False,
                   force: bool = False) -> Result:
    mark = fingerprint(app, target)
    if not force and not dry_run and mark == _published(app, target):
        return Result(target.id, True, False)
    work = app.settings.general.data_dir / "publish"
    work.mkdir(parents=True, exist_ok=True)
    built = work / f"{target.id}.build-{secrets.token_hex(4)}"
    try:
        held = site.build_site(app, target, built, app.clock())
        if dry_run:
            return Result(target.id, True, True, len(held["episodes"]), held["airings"])
        if target.sftp:
            targets.upload_sftp(built, target, app.settings)
        else:
            assert target.dir is not None
            targets.swap_local(built, target.dir)
    except (OSError, RadiocastError) as exc:
        error = str(exc)[:300]
        with app.db.write() as s:
            ops.record_event(s, app.clock(), "publish", target.id, "failed", detail=error)
        log.warning("publish %s: %s", target.id, error)
        return Result(target.id, False, True, error=error)
    finally:
        shutil.rmtree(built, ignore_errors=True)
    with app.db.write() as s:
        ops.record_event(s, app.clock(), "publish", target.id, "published",
                         detail=f"{mark} {len(held['episodes'])} episodes")
    return Result(target.id, True, True, len(held["episodes"]), held["airings"])


def publish_all(app: App, target_id: str | None = None, dry_run: bool = False,
                force: bool = False) -> list[Result]:
    chosen = [t for t in app.settings.publish if target_id in (None, t.id)]
    if target_id is not None and not chosen:
        raise UsageError(f"no [[publish]] target {target_id!r}")
    return [publish_target(app, t, dry_run, force) for t in chosen]


@dataclass
class Publisher:
    """The daemon's publishing, off its loop thread: at most one run at a time, soon after
    something changed (checked every `every` seconds), a failing target retried with a
    backoff."""

    app: App
    every: float = 60.0
    busy: threading.Thread | None = None
    last: float = -1e9
    failures: dict[str, int] = field(default_factory=dict)
    not_before: dict[str, float] = field(default_factory=dict)

    def step(self) -> None:
        if not self.app.settings.publish or (self.busy is not None and self.busy.is_alive()):
            return
        mono = time.monotonic()
        if mono - self.last < self.every:
            return
        self.last = mono
        self.busy = threading.Thread(target=self._run, name="radiocast-publish", daemon=True)
        self.busy.start()

    def _run(self) -> None:
        for t in self.app.settings.publish:
            if time.monotonic() < self.not_before.get(t.id, 0.0):
                continue
            try:
                res = publish_target(self.app, t)
            except Exception:
                log.exception("publish %s failed; the other targets go on", t.id)
                res = Result(t.id, False, True, error="internal error")
            if res.ok:
                self.failures.pop(t.id, None)
                self.not_before.pop(t.id, None)
            else:
                n = self.failures[t.id] = self.failures.get(t.id, 0) + 1
                self.not_before[t.id] = time.monotonic() + BACKOFF[min(n, len(BACKOFF)) - 1]
