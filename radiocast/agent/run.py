"""`radiocast station …`: run the agent under systemd (READY, WATCHDOG, STOPPING), show its
state, and check the audio output."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from watchdog.events import EVENT_TYPE_MODIFIED, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from radiocast.agent.agent import STATUS_FILE, Agent
from radiocast.agent.config import StationConfig
from radiocast.agent.journal import ASRUN_DIR
from radiocast.agent.player import Player
from radiocast.agent.sync import HubSync
from radiocast.core.fsutil import FILE_CHANGES
from radiocast.core.i18n import t
from radiocast.core.sysd import SdNotify, acquire_lock

if TYPE_CHECKING:
    from radiocast.audio.capture import Heard

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0  # at most this often on its own; at once for a change that matters
# what wakes it: a change, never a read (every tick reads asrun.ack and stats the playbook, and
# inotify reports those opens: waking on them kept an idle agent at a quarter of a core)
WAKE_ON = FILE_CHANGES
TEST_TONE = Path(__file__).with_name("data") / "test-tone.mp3"
TEST_LISTEN = 8.0  # seconds of the repeated tone a play-test listens to, with [capture]
SILENT_MAX = 0.5  # the hub's default [schedule] silent_max: a play-test judges as it would


def run_agent(cfg: StationConfig, notify: SdNotify | None = None) -> int:
    """The agent under systemd: SIGTERM stops it (the airing in progress is recorded)."""
    stop = threading.Event()
    lock = acquire_lock(cfg.state_dir / "agent.lock")

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    agent = Agent(cfg)
    link = None
    if cfg.hub is not None:  # a pull station: the agent fetches from the hub itself
        link = threading.Thread(target=HubSync(cfg, agent.news.set).run, args=(stop,),
                                name="radiocast-hub", daemon=True)
        link.start()
    try:
        serve(agent, stop, notify or SdNotify())
    finally:
        stop.set()
        if link is not None:
            link.join(timeout=10)
        agent.close()
        for s, h in old.items():
            signal.signal(s, h)
        lock.close()
    return 0


class _Wake(FileSystemEventHandler):
    """inotify on the media folder: a new playbook (an emergency), a programme file or the
    hub's acknowledgement is seen at once. Reads, its own status.json and temporary files
    (".…") never wake it."""

    def __init__(self, event: threading.Event, kinds: frozenset[str] | None) -> None:
        self.event = event
        self.kinds = kinds

    def on_any_event(self, event: FileSystemEvent) -> None:
        if self.kinds is not None and (event.event_type not in self.kinds or (
                event.is_directory and event.event_type == EVENT_TYPE_MODIFIED)):
            return  # a read, or the folder's own "modified" that comes with every file event
        names = {Path(str(p)).name for p in (event.src_path, event.dest_path) if p}
        if self.kinds is None or any(n != STATUS_FILE and not n.startswith(".") for n in names):
            self.event.set()


def serve(agent: Agent, stop: threading.Event, notify: SdNotify,
          wake_on: frozenset[str] | None = WAKE_ON) -> None:
    """Tick until `stop` (at once when the media folder changes, else every TICK_SECONDS);
    a failing tick is logged and the month goes on. `wake_on` None: every inotify event
    wakes it (how it was; for benchmarks/agent_idle.py)."""
    notify.send("READY=1")
    log.info("radiocast station %s running; media %s", agent.cfg.id, agent.cfg.media_dir)
    wake = threading.Event()
    observer = Observer()
    observer.schedule(_Wake(wake, wake_on), str(agent.cfg.media_dir), recursive=False)
    observer.start()
    last_ping = 0.0
    try:
        while not stop.is_set():
            try:
                agent.tick()
            except Exception:  # a bug must not stop the month: log it, keep playing
                log.exception("agent step failed; continuing")
            mono = time.monotonic()
            if notify.watchdog_interval and mono - last_ping >= notify.watchdog_interval:
                notify.send("WATCHDOG=1")
                last_ping = mono
            wake.wait(TICK_SECONDS)
            wake.clear()
    finally:
        observer.stop()
        observer.join(timeout=5)
        notify.send("STOPPING=1")
        agent.stop()


def station_status(cfg: StationConfig) -> dict[str, Any]:
    """What the running agent last wrote, plus the backlog on disk (reads only)."""
    doc: dict[str, Any] = {"station_id": cfg.id, "media_dir": str(cfg.media_dir)}
    try:
        doc["heartbeat"] = json.loads((cfg.media_dir / STATUS_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        doc["heartbeat"] = None
    segments = sorted((cfg.media_dir / ASRUN_DIR).glob("*.jsonl"))
    doc["unsent_segments"] = [p.name for p in segments]
    return doc


@dataclass(frozen=True)
class PlayTest:
    """What `station play-test` found: the player's exit status and error output, and what
    the capture heard (None without `[capture]`)."""

    code: int
    err: str
    heard: Heard | None = None

    @property
    def silent(self) -> bool:
        h = self.heard
        return h is not None and not h.error and (h.silent_fraction or 0.0) >= SILENT_MAX


def play_test(cfg: StationConfig, seconds: float = 30.0, lang: str = "vi") -> PlayTest:
    """Play a short tone through the configured player; with `[capture]`, the tone plays
    until the capture has had TEST_LISTEN seconds of it (the capture is listened to as an
    airing is)."""
    capture = None
    if cfg.capture is not None:
        from radiocast.audio.capture import Capture

        capture = Capture(cfg.capture.source, cfg.capture.silence_lufs, cfg.capture.channels,
                          cfg.state_dir)
    deadline = time.monotonic() + seconds
    listen_until = time.monotonic() + (TEST_LISTEN if capture is not None else 0.0)
    code, err = 0, ""
    while True:
        code, err = _play_once(cfg, deadline, seconds, lang)
        if code != 0 or time.monotonic() >= min(listen_until, deadline):
            break
    heard = capture.finish() if capture is not None else None
    return PlayTest(code, err, heard)


def _play_once(cfg: StationConfig, deadline: float, seconds: float,
               lang: str) -> tuple[int, str]:
    player = Player(cfg.player, TEST_TONE, cfg.state_dir)
    while player.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if player.poll() is None:
        player.stop()
        return 124, t("cli.player_timeout", lang, seconds=f"{seconds:g}")
    return int(player.poll() or 0), player.stderr_tail()
