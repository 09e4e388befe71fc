"""The agent's loop: take the newest good playbook, play each airing at its time (emergencies
first, pre-empting), record every outcome as an event, take the hub's acknowledgements, and
rewrite `status.json` every minute. Time is injected: tests play a week in seconds."""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from radiocast import __version__
from radiocast.agent.config import StationConfig
from radiocast.agent.journal import Journal, event_id
from radiocast.agent.ledger import Ledger, Started
from radiocast.agent.playbook import Item, Keeper
from radiocast.agent.player import Player
from radiocast.core.fsutil import HashCache, atomic_write
from radiocast.core.models import Clock, utc_now

if TYPE_CHECKING:
    from radiocast.audio.capture import Capture, Heard

log = logging.getLogger(__name__)
STATUS_FILE = "status.json"
OVERRUN_MIN = timedelta(minutes=5)  # a player may run this much past its item's duration…
OVERRUN_SHARE = 0.25  # …or this share of it, whichever is longer; then it is stopped
UNKNOWN_LENGTH = timedelta(hours=3)  # an item whose duration the playbook does not give


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


@dataclass
class Playing:
    item: Item
    player: Player
    started_at: datetime
    monotonic_s: float
    capture: Capture | None = None

    def heard(self) -> Heard | None:
        """What the capture heard while it played (None without `[capture]`)."""
        return self.capture.finish() if self.capture is not None else None


class Agent:
    def __init__(self, cfg: StationConfig, clock: Clock = utc_now,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.clock = clock
        self.monotonic = monotonic
        self.tz = ZoneInfo(cfg.timezone)
        self.grace = timedelta(minutes=cfg.late_grace_minutes)
        cfg.media_dir.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(cfg.state_dir)
        self.journal = Journal(cfg.media_dir, self.ledger)
        self.keeper = Keeper(cfg.media_dir, cfg.state_dir, cfg.id)
        self.boot_id = boot_id()
        self.started = monotonic()
        self.current: Playing | None = None
        self.hashes = HashCache(cfg.media_dir)
        self.last_heartbeat = -1e18
        self.last_airing: dict[str, Any] | None = None
        self.last_error = ""
        self.player_exit: int | None = None
        self.news = threading.Event()  # set from another thread: write status.json now
        self._recover()

    def close(self) -> None:
        self.ledger.close()

    # ------------------------------------------------------------ the loop

    def tick(self) -> None:
        """One pass; a step that meets a full disk or a failing file costs only itself."""
        now = self.clock()
        self._safely("playbook", self.keeper.refresh)
        self._safely("asrun.ack", self.journal.take_ack, self.cfg.media_dir)
        self._safely("as-run", self._write_pending)
        self._safely("player", self._check_player, now)
        self._safely("player", self._preempt, now)
        if self.current is None:
            self._safely("player", self._start_due, now)
        self._safely("playbook", self._skip_passed, now)
        if self.news.is_set() or \
                self.monotonic() - self.last_heartbeat >= self.cfg.heartbeat_seconds:
            self.news.clear()
            self._safely(STATUS_FILE, self.heartbeat, now)

    def _safely(self, what: str, step: Callable[..., object], *args: Any) -> None:
        try:
            step(*args)
        except (OSError, sqlite3.Error) as exc:
            self.last_error = f"{what}: {exc}"[:300]
            log.warning("%s: %s (the agent goes on)", what, exc)

    def stop(self, why: str = "the agent was stopped") -> None:
        """Stop playing (systemd stop): the airing in progress is recorded interrupted."""
        if self.current is not None:
            p = self.current
            p.player.stop()
            self._outcome(p.item, "interrupted", why, p.started_at, self.clock(), p.monotonic_s,
                          p.heard())
            self.current = None

    def _recover(self) -> None:
        """Airings the agent was playing when it died (kill -9, power cut): interrupted, never
        replayed automatically; the hub plans a make-up."""
        for s in self.ledger.unfinished():
            item = Item(s.airing_id, datetime.fromisoformat(s.scheduled_at), s.file, s.sha256,
                        0.0, "", "normal", "")
            self._outcome(item, "interrupted", "the station stopped while it played "
                          "(power cut or restart); not played again",
                          datetime.fromisoformat(s.started_at), None, s.monotonic_s)
        self._safely("as-run", self._write_pending)

    # ------------------------------------------------------------ playing

    def _due(self, now: datetime) -> list[Item]:
        known = self.ledger.known()
        due = [i for i in self.keeper.current.items
               if i.airing_id not in known and i.start <= now < i.start + self.late_grace]
        return sorted(due, key=lambda i: (not i.urgent, i.start))

    @property
    def late_grace(self) -> timedelta:
        """How late an airing may still start: the hub's grace from the playbook, else ours."""
        return self.keeper.current.late_grace or self.grace

    def _start_due(self, now: datetime) -> None:
        for item in self._due(now):
            if self.verify(item) != "ok":
                continue  # tried again each tick until its grace ends; then skipped
            if not item.urgent and self._too_soon(item, now):
                continue
            self._start(item, now)
            return

    def _too_soon(self, item: Item, now: datetime) -> bool:
        """Late airings do not stack: of one programme's airings due together (a file repaired
        late, the station back on), only the last plays; the others are skipped and the hub
        plans their make-ups in later windows. With the hub's grace bounding how late an airing
        starts, two airings of a programme are then never closer than the plan put them, less
        that grace."""
        later = [i for i in self._due(now) if i.programme == item.programme and not i.urgent
                 and i.start > item.start and self.verify(i) == "ok"]
        if later:
            self._outcome(item, "skipped", f"overtaken by airing #{later[-1].airing_id} of the "
                          "same programme, due too (late airings do not stack)", None, None, None)
            return True
        return False

    def _start(self, item: Item, now: datetime) -> None:
        mono = self.monotonic()
        started = Started(item.airing_id, item.file, item.sha256, item.start.isoformat(),
                          now.isoformat(), self.boot_id, mono)
        if not self.ledger.start(started):  # written (fsync) before a sound is made
            return
        try:
            player = Player(self.cfg.player, self.cfg.media_dir / item.file, self.cfg.state_dir)
        except OSError as exc:
            self._outcome(item, "failed", f"the player could not start: {exc}", now, now, mono)
            return
        self.current = Playing(item, player, now, mono, self._listen())
        log.info("airing #%d: playing %s", item.airing_id, item.file)

    def _listen(self) -> Capture | None:
        """Start listening to the station's output (`[capture]`) beside the player; a capture
        that cannot start says so in its result and never stops the airing."""
        cap = self.cfg.capture
        if cap is None:
            return None
        from radiocast.audio.capture import Capture

        return Capture(cap.source, cap.silence_lufs, cap.channels, self.cfg.state_dir)

    def _check_player(self, now: datetime) -> None:
        if self.current is None:
            return
        code = self.current.player.poll()
        if code is None:
            self._stop_overrun(now)
            return
        self.player_exit = code
        p = self.current
        if code == 0:
            self._outcome(p.item, "aired", "exit 0", p.started_at, now, p.monotonic_s,
                          p.heard())
        else:
            self._outcome(p.item, "failed", f"exit {code}: {p.player.stderr_tail()}",
                          p.started_at, now, p.monotonic_s, p.heard())
        self.current = None  # only once decided: a ledger that failed is asked again

    def _stop_overrun(self, now: datetime) -> None:
        """A player still running well past its item's length (hung on a device, waiting for
        input) is stopped and the airing recorded failed, so the next airings can play."""
        p = self.current
        assert p is not None
        length = timedelta(seconds=p.item.duration_s) if p.item.duration_s > 0 \
            else UNKNOWN_LENGTH
        limit = length + max(OVERRUN_MIN, length * OVERRUN_SHARE)
        if now - p.started_at <= limit:
            return
        p.player.stop()
        self._outcome(p.item, "failed", f"the player was still running {limit} after it "
                      f"started (the programme is {length} long); stopped",
                      p.started_at, now, p.monotonic_s, p.heard())
        self.current = None

    def _preempt(self, now: datetime) -> None:
        if self.current is None or self.current.item.urgent:
            return
        urgent = [i for i in self._due(now) if i.urgent and self.verify(i) == "ok"]
        if urgent:
            p = self.current
            p.player.stop()
            self.current = None
            self._outcome(p.item, "interrupted", f"pre-empted by emergency #{urgent[0].airing_id}",
                          p.started_at, now, p.monotonic_s, p.heard())
            self._start(urgent[0], now)

    def _skip_passed(self, now: datetime) -> None:
        known = self.ledger.known()
        for item in self.keeper.current.items:
            if item.airing_id in known or now < item.start + self.late_grace:
                continue
            if self.current is not None and self.current.item.airing_id == item.airing_id:
                continue
            state = self.verify(item)
            why = {"missing": "the file was not at the station",
                   "corrupt": "the file at the station is damaged (sha256 differs)"}.get(
                state, "not started in time (the station was busy, off or its clock wrong)")
            self._outcome(item, "skipped", why, None, None, None)

    def _outcome(self, item: Item, status: str, detail: str, started: datetime | None,
                 finished: datetime | None, mono: float | None,
                 heard: Heard | None = None) -> None:
        """Decide the outcome in the ledger, with its event, first; then write the event to
        the journal, now or, with the media disk full, at a later tick. A crash in between
        writes it again under a new seq: the hub stores it once and acknowledges both."""
        event = {
            "event_id": event_id(self.cfg.id, item.airing_id), "station_id": self.cfg.id,
            "airing_id": item.airing_id, "file": item.file, "sha256": item.sha256,
            "scheduled_at": item.start.isoformat(),
            "started_at": started.isoformat() if started else None,
            "finished_at": finished.isoformat() if finished else None,
            "status": status, "detail": detail[:300],
            "clock": {"boot_id": self.boot_id,
                      "monotonic_s": round(mono if mono is not None else self.monotonic(), 3)},
        }
        if heard is not None:  # what came out, as the station's capture heard it
            event["heard"] = heard.as_dict()
        self.ledger.decide(item.airing_id, status, item.file, item.sha256,
                           item.start.isoformat(), started,
                           json.dumps(event, ensure_ascii=False))
        self.last_airing = event
        log.log(logging.INFO if status == "aired" else logging.WARNING,
                "airing #%d: %s (%s)", item.airing_id, status, detail)
        self._safely("as-run", self._write_pending)

    def _write_pending(self) -> None:
        """Every decided event not yet in the journal, in order; stops at the first that
        cannot be written (the rest wait with it)."""
        for airing_id, raw in self.ledger.pending():
            self.journal.append(json.loads(raw), day=f"{self.clock().astimezone(self.tz):%Y-%m-%d}")
            self.ledger.written(airing_id)

    # ------------------------------------------------------------ files and heartbeat

    def verify(self, item: Item) -> str:
        """"ok", "missing" or "corrupt": the file under its final name, with the sha256 the
        playbook names (never a `.part`; hashed again only when it changes)."""
        sha = self.sha256(item.file)
        return "missing" if sha is None else "ok" if sha == item.sha256 else "corrupt"

    def sha256(self, name: str) -> str | None:
        """sha256 of a media file (hashed again only when it changes), None if absent."""
        return self.hashes.get(name)

    def held(self) -> dict[str, str]:
        """Every programme file in the media folder with its sha256 (a pull hub counts a
        delivery by it)."""
        out = {}
        for path in sorted(self.cfg.media_dir.glob("*.mp3"))[:2000]:
            sha = self.sha256(path.name)
            if sha is not None:
                out[path.name] = sha
        return out

    def heartbeat(self, now: datetime) -> dict[str, Any]:
        self.last_heartbeat = self.monotonic()
        files: dict[str, list[str]] = {"ok": [], "missing": [], "corrupt": []}
        ahead = {i.file: i for i in self.keeper.current.items if i.start + self.late_grace >= now}
        for name, item in sorted(ahead.items()):
            files[self.verify(item)].append(name)
        doc = {
            "agent_version": __version__, "station_id": self.cfg.id,
            "time": now.astimezone(self.tz).isoformat(), "boot_id": self.boot_id,
            "uptime_s": round(self.monotonic() - self.started, 1),
            "free_bytes": shutil.disk_usage(self.cfg.media_dir).free,
            "heartbeat_seconds": self.cfg.heartbeat_seconds,
            "playbook_version": self.keeper.current.version, "files": files,
            # what a hub restored from an older backup moves its numbering past
            "airing_id_max": self.ledger.highest(), "acked_seq": self.journal.acked(),
            "reused": self.ledger.reused({i.airing_id: i.start
                                          for i in self.keeper.current.items}),
            "held": self.held(),
            "playing": self.current.item.airing_id if self.current else None,
            "last_airing": self.last_airing, "backlog": self.journal.backlog(),
            "player": {"last_exit": self.player_exit},
            "last_error": self.keeper.error or self.last_error,
        }
        atomic_write(self.cfg.media_dir / STATUS_FILE,
                     json.dumps(doc, ensure_ascii=False, indent=1).encode())
        return doc
