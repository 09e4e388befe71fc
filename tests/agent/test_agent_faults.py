"""The agent at the station when its own parts misbehave: a player that never exits, or one
that shrugs off SIGTERM. One bad airing costs that airing, never the ones after it."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path

from radiocast.agent.agent import OVERRUN_MIN, Agent
from radiocast.agent.config import StationConfig
from radiocast.agent.player import Player

from ..conftest import Clock
from .helpers import TZ, media_file, write_playbook

# the wrapper dies on SIGTERM; the player it started ignores it and would play on for 10 min
STUBBORN = "(trap '' TERM; exec sleep 600) & echo $! > {pidfile}; wait; echo {{file}}"


def gone(pid: int) -> bool:
    """The process has ended (a zombie waiting for its reaper counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_stopping_a_player_stops_its_whole_group_even_what_ignores_sigterm(
        tmp_path: Path) -> None:
    pidfile = tmp_path / "player.pid"
    player = Player(STUBBORN.format(pidfile=pidfile), tmp_path / "x.mp3", tmp_path)
    for _ in range(100):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        player.proc.poll()
        time.sleep(0.02)
    pid = int(pidfile.read_text())
    assert not gone(pid)
    player.stop(wait=1.0)
    assert gone(pid), "a player that ignores SIGTERM outlived stop()"


def events(media: Path) -> list[dict[str, object]]:
    return [json.loads(line) for seg in sorted((media / "asrun").glob("*.jsonl"))
            for line in seg.read_text().splitlines()]


def test_a_player_that_never_exits_is_stopped_recorded_failed_and_the_next_airing_plays(
        tmp_path: Path) -> None:
    media, pidfile = tmp_path / "media", tmp_path / "player.pid"
    media.mkdir()
    cfg = StationConfig(id="na-meo", media_dir=media, state_dir=tmp_path / "state",
                        player=STUBBORN.format(pidfile=pidfile))
    sha = media_file(media, "2026-12-chuyen-doi-so.mp3")
    start = datetime(2026, 12, 1, 6, 0, tzinfo=TZ)
    write_playbook(media, "na-meo", [
        {"airing_id": n, "start": (start + timedelta(hours=n - 1)).isoformat(),
         "file": "2026-12-chuyen-doi-so.mp3", "sha256": sha, "duration_s": 60,
         "kind": "premiere" if n == 1 else "replay", "priority": "normal"} for n in (1, 2)])
    clock = Clock(start + timedelta(seconds=1))
    agent = Agent(cfg, clock=clock)
    try:
        agent.tick()
        assert agent.current is not None and agent.current.item.airing_id == 1
        clock.now = start + timedelta(seconds=60) + OVERRUN_MIN - timedelta(seconds=5)
        agent.tick()
        assert agent.current is not None  # still within its length and the margin
        clock.now = start + timedelta(seconds=60) + OVERRUN_MIN + timedelta(seconds=5)
        agent.tick()
        assert agent.current is None
        [first] = events(media)
        assert first["airing_id"] == 1 and first["status"] == "failed"
        assert "still running" in str(first["detail"])
        assert gone(int(pidfile.read_text()))
        clock.now = start + timedelta(hours=1, seconds=1)
        agent.tick()
        assert agent.current is not None and agent.current.item.airing_id == 2
    finally:
        agent.stop()
        agent.close()
    assert [e["status"] for e in events(media)] == ["failed", "interrupted"]
