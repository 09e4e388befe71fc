"""Airing for real: a window opening within a minute, real sshd stations, a real daemon."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from radiocast.app import open_app
from radiocast.core.models import AiringKind, AiringState
from radiocast.db.schema import Airing, Event
from radiocast.stations import deliver

from .conftest import Site, ready_programme


def next_window() -> tuple[str, datetime]:
    """A time zone and a window start 25–85 s ahead that does not cross midnight there."""
    for name in ("Asia/Ho_Chi_Minh", "UTC"):
        now = datetime.now(ZoneInfo(name))
        start = (now + timedelta(seconds=25)).replace(second=0, microsecond=0) + \
            timedelta(minutes=1)
        if (start + timedelta(minutes=10)).date() == start.date():
            return name, start
    raise AssertionError("no usable zone")


def set_zone_and_play(cfg: Path, tzname: str, commands: list[str]) -> None:
    """Set the time zone and give station i the play command commands[i]."""
    text = cfg.read_text().replace("[radiocast]\n", f'[radiocast]\ntimezone = "{tzname}"\n')
    parts = text.split("[[stations]]")
    for i, command in enumerate(commands):
        parts[i + 1] = parts[i + 1].rstrip() + f'\nplay_command = "{command}"\n'
    cfg.write_text("[[stations]]".join(parts))


def airings(app: object, sid: str) -> list[Airing]:
    with app.db.read() as s:  # type: ignore[attr-defined]
        return list(s.scalars(select(Airing).where(Airing.station_id == sid)
                              .order_by(Airing.planned_at)))


def daemon(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:
        return subprocess.Popen([sys.executable, "-m", "radiocast", "--config", str(cfg), "-v",
                                 "run"], stdout=fh, stderr=fh)


def test_airs_at_the_window_records_it_never_twice_and_makes_up_misses(
        site: Callable[..., Site], tmp_path: Path) -> None:
    tzname, start = next_window()
    slot = f"{start:%H:%M}-{start + timedelta(minutes=10):%H:%M}"
    later = start + timedelta(minutes=12)
    if (later + timedelta(minutes=10)).date() == start.date():
        slot += f'", "{later:%H:%M}-{later + timedelta(minutes=10):%H:%M}'  # room for make-ups
    s = site(3, extra=f'[schedule]\nslots = ["{slot}"]\nlead_minutes = 0\n'
                      "misfire_grace_minutes = 1")
    cfg = s.app.settings.path
    assert cfg is not None
    logs = [r / "asrun.log" for r in s.remotes]
    plays = ["echo start {file} >> %s; echo end >> %s",  # quick
             "echo start {file} >> %s; echo end >> %s",  # its sshd will be down
             "echo start {file} >> %s; sleep 8; echo end >> %s"]  # long: killed midway
    set_zone_and_play(cfg, tzname, [p % (lg, lg) for p, lg in zip(plays, logs, strict=True)])
    app = open_app(cfg)
    size_file = tmp_path / "p.mp3"
    size_file.write_bytes(os.urandom(300_000))
    ready_programme(app, size_file)
    assert [o.delivered for o in deliver.deliver_due(app)] == [1, 1, 1]

    log = tmp_path / "daemon.log"
    proc = daemon(cfg, log)
    try:
        # the plan: a premiere at the window's start at every station, 3 replays later
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not airings(app, "st2"):
            time.sleep(0.2)
        time.sleep(1)
        first = airings(app, "st0")[0]
        assert first.kind == AiringKind.PREMIERE.value
        assert first.planned_at == start.astimezone(first.planned_at.tzinfo)
        playbook = (s.remotes[0] / "playbook.json").read_text(encoding="utf-8")
        assert f'"start": "{start.isoformat()}' in playbook
        # station 1 goes dark before airing time
        while datetime.now(ZoneInfo(tzname)) < start - timedelta(seconds=3):
            time.sleep(0.2)
        s.servers[1].stop()
        # the daemon dies while station 2's long airing is running
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if logs[2].exists() and "start" in logs[2].read_text():
                break
            time.sleep(0.1)
        time.sleep(2)
        proc.kill()
        proc.wait()
        proc = daemon(cfg, log)
        # the player runs detached at the station: it plays on while radiocast restarts, and
        # its exit status is read back after the programme's end (20 s + a margin)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all(
                airings(app, sid)[0].state in ("aired", "failed", "interrupted", "missed")
                for sid in ("st0", "st2")):
            time.sleep(0.5)
        a0 = airings(app, "st0")[0]
        assert a0.state == AiringState.AIRED.value and a0.detail == "exit 0"
        assert a0.started_at and a0.finished_at and a0.started_at >= first.planned_at
        assert logs[0].read_text().count("start") == 1
        a1 = airings(app, "st1")[0]
        assert a1.state == AiringState.MISSED.value and "unreachable" in (a1.detail or "")
        a2 = airings(app, "st2")[0]
        assert a2.state == AiringState.AIRED.value, a2.detail  # radiocast's death cut nothing
        assert logs[2].read_text().count("start") == 1  # never aired twice
        assert logs[2].read_text().count("end") == 1  # and played to its end
        for sid, bad in (("st1", a1),):
            makeups = [a for a in airings(app, sid) if a.replaces_id == bad.id]
            if makeups:
                assert len(makeups) == 1 and makeups[0].kind == AiringKind.MAKEUP.value
                assert makeups[0].state == AiringState.PLANNED.value
                assert makeups[0].planned_at > bad.planned_at
            else:  # only when the month has no free window left, and then it says so
                with app.db.read() as sess:
                    assert sess.scalars(select(Event).where(
                        Event.entity == "station", Event.entity_id == sid,
                        Event.action == "shortfall")).first() is not None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode in (0, 1), log.read_text()[-3000:]
