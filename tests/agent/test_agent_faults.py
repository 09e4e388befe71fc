"""The agent at the station when its own parts misbehave: a player that never exits, or one
that shrugs off SIGTERM. One bad airing costs that airing, never the ones after it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

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


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB file system of its own (tmpfs), to fill for real."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root (CI runs as root)")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(disk: Path) -> Path:
    """Fill `disk` to the last byte; returns the filler (remove it to make room)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for block in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * block) == block:
                    pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_at_the_station_delays_proof_of_play_and_loses_nothing(
        tmp_path: Path, small_disk: Path) -> None:
    """The media disk fills while a programme plays: its 'aired' is decided in the ledger and
    written to the journal once there is room, the agent restarts on the full disk, and the
    airing is neither replayed nor reported interrupted."""
    media, log = small_disk / "media", tmp_path / "played.log"
    media.mkdir()
    cfg = StationConfig(id="na-meo", media_dir=media, state_dir=tmp_path / "state",
                        player=f"echo {{file}} >> {log}")
    sha = media_file(media, "2026-12-chuyen-doi-so.mp3", size=20_000)
    start = datetime(2026, 12, 1, 6, 0, tzinfo=TZ)
    write_playbook(media, "na-meo", [
        {"airing_id": 1, "start": start.isoformat(), "file": "2026-12-chuyen-doi-so.mp3",
         "sha256": sha, "duration_s": 60, "kind": "premiere", "priority": "normal"}])
    clock = Clock(start + timedelta(seconds=1))
    agent = Agent(cfg, clock=clock)
    agent.tick()
    assert agent.current is not None
    while agent.current.player.poll() is None:
        time.sleep(0.02)
    filler = fill(small_disk)
    clock.now += timedelta(seconds=2)
    agent.tick()  # the outcome: decided, its event waits for room; nothing escapes the tick
    assert agent.current is None and events(media) == []
    assert "No space left" in agent.last_error or "did not fit" in agent.last_error
    agent.close()
    again = Agent(cfg, clock=clock)  # restarted with the disk still full
    clock.now += timedelta(minutes=30)
    again.tick()
    assert events(media) == [] and len(log.read_text().splitlines()) == 1  # not replayed
    filler.unlink()
    again.tick()
    [aired] = events(media)
    assert (aired["airing_id"], aired["status"]) == (1, "aired")
    again.tick()
    assert len(events(media)) == 1  # written once
    again.close()


def agent_with(tmp_path: Path, items: list[dict[str, object]], clock: Clock,
               extra: dict[str, object] | None = None) -> Agent:
    media = tmp_path / "media"
    media.mkdir(exist_ok=True)
    cfg = StationConfig(id="na-meo", media_dir=media, state_dir=tmp_path / "state",
                        player=f"echo {{file}} >> {tmp_path / 'played.log'}")
    doc = {"format": 1, "station_id": "na-meo", "version": 1, "generated_at": "",
           "timezone": "Asia/Ho_Chi_Minh", "airings": items, **(extra or {})}
    (media / "playbook.json").write_text(json.dumps(doc))
    return Agent(cfg, clock=clock)


def test_late_airings_of_one_programme_do_not_stack(tmp_path: Path) -> None:
    """Its file arrives 12 minutes late: of the programme's two airings both still within the
    grace, only the later plays; the earlier is skipped (the hub plans its make-up)."""
    start = datetime(2026, 12, 1, 6, 0, tzinfo=TZ)
    media = tmp_path / "media"
    media.mkdir()
    data = os.urandom(20_000)
    sha = hashlib.sha256(data).hexdigest()
    items = [{"airing_id": n, "start": (start + timedelta(minutes=5 * (n - 1))).isoformat(),
              "file": "2026-12-chuyen-doi-so.mp3", "sha256": sha, "duration_s": 60,
              "kind": "replay", "priority": "normal", "programme": "2026-12/chuyển đổi số"}
             for n in (1, 2)]
    clock = Clock(start + timedelta(minutes=1))
    agent = agent_with(tmp_path, items, clock)
    try:
        agent.tick()
        assert agent.current is None  # the file is not there yet
        (media / "2026-12-chuyen-doi-so.mp3").write_bytes(data)  # repaired, 12 min late
        clock.now = start + timedelta(minutes=12)
        agent.tick()
        assert agent.current is not None and agent.current.item.airing_id == 2
        while agent.current.player.poll() is None:
            time.sleep(0.02)
        clock.now += timedelta(minutes=2)
        agent.tick()
        agent.tick()
        assert agent.current is None  # airing 1 is not played after it
    finally:
        agent.close()
    outcomes = {e["airing_id"]: (e["status"], e["detail"]) for e in events(media)}
    assert outcomes[2][0] == "aired"
    assert outcomes[1][0] == "skipped" and "overtaken by airing #2" in str(outcomes[1][1])
    assert len((tmp_path / "played.log").read_text().splitlines()) == 1


def test_the_playbook_carries_the_hubs_grace_and_refuses_a_date_out_of_range(
        tmp_path: Path) -> None:
    start = datetime(2026, 12, 1, 6, 0, tzinfo=TZ)
    media = tmp_path / "media"
    media.mkdir()
    sha = media_file(media, "2026-12-chuyen-doi-so.mp3")
    item = {"airing_id": 1, "start": start.isoformat(), "file": "2026-12-chuyen-doi-so.mp3",
            "sha256": sha, "duration_s": 60, "kind": "premiere", "priority": "normal"}
    clock = Clock(start + timedelta(minutes=7))
    agent = agent_with(tmp_path, [item], clock, {"late_grace_minutes": 5})
    try:
        agent.tick()  # 7 min late: within the agent's own 15, past the hub's 5
        assert agent.current is None
        assert [e["status"] for e in events(media)] == ["skipped"]
        far = {**item, "airing_id": 2, "start": "9999-12-31T06:00:00+07:00"}
        write_playbook(media, "na-meo", [far], version=2)
        agent.tick()
        assert agent.keeper.current.version == 1 and "not a real date" in agent.keeper.error
    finally:
        agent.close()
