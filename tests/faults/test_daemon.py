"""The hub as a whole under faults: dead links by the dozen, a window every station shares,
and SIGKILL at each step of normalize, upload, rename and airing."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from radiocast.airing import playout
from radiocast.app import App, open_app
from radiocast.core.models import AiringKind, AiringState, DeliveryState, ProgrammeState
from radiocast.core.months import local_month
from radiocast.db import ops
from radiocast.db.schema import Airing, Delivery, Programme
from radiocast.stations import deliver

from ..conftest import SAMPLES, Site, ready_programme, station_toml
from ..sshd import Sshd, station_dir
from ..test_airing import next_window, set_zone_and_play


class BlackHole:
    """A port that completes the TCP handshake (the kernel's backlog) and then says nothing,
    ever: what a 3G link that died mid-session looks like from the hub."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


class Notify:
    """A systemd notify socket: records when each WATCHDOG=1 arrives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.pings: list[float] = []
        self.ready = False

    def drain(self) -> None:
        while True:
            try:
                msg = self.sock.recv(4096).decode()
            except (TimeoutError, BlockingIOError):
                return
            if "WATCHDOG=1" in msg:
                self.pings.append(time.monotonic())
            self.ready |= "READY=1" in msg

    def longest_gap(self) -> float:
        return max((b - a for a, b in zip(self.pings, self.pings[1:], strict=False)),
                   default=0.0)


@pytest.fixture
def blackhole() -> Iterator[BlackHole]:
    bh = BlackHole()
    yield bh
    bh.close()


def many_stations(root: Path, srv: Sshd, key: Path, n: int, port: int | None = None,
                  prefix: str = "dead") -> tuple[str, list[Path]]:
    remotes = [station_dir(root / f"{prefix}{i}") for i in range(n)]
    toml = "".join(station_toml(f"{prefix}-{i:02d}", srv, remotes[i], key,
                                root / "known_hosts", "", port) for i in range(n))
    return toml, remotes


def daemon(cfg: Path, log: Path, notify: Path | None = None) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if notify is not None:
        env.update(NOTIFY_SOCKET=str(notify), WATCHDOG_USEC="2000000")  # a ping every 1 s
    with open(log, "ab") as fh:
        return subprocess.Popen([sys.executable, "-m", "radiocast", "--config", str(cfg), "-v",
                                 "run"], stdout=fh, stderr=fh, env=env)


def stop(proc: subprocess.Popen[bytes], log: Path) -> float:
    """Stop the daemon; returns the longest loop tick it reported."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    m = re.findall(r"longest tick ([0-9.]+) s", log.read_text(errors="replace"))
    assert m, log.read_text(errors="replace")[-3000:]
    return float(m[-1])


def test_fifty_dead_links_cost_the_healthy_station_nothing(
        sshd_factory: Callable[..., Sshd], client_key: Path, make_app: Callable[..., App],
        blackhole: BlackHole, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    srv = sshd_factory("healthy")
    (tmp_path / "known_hosts").write_text(srv.known_hosts_line())
    dead, _ = many_stations(tmp_path, srv, client_key, 50, port=blackhole.port)
    good_remote = station_dir(tmp_path / "healthy")
    good = station_toml("song-ma", srv, good_remote, client_key, tmp_path / "known_hosts")
    tzname, start = next_window()
    window = f"{start:%H:%M}-{start + timedelta(minutes=10):%H:%M}"
    app = make_app(stations=good + dead, extra=(
        f'[schedule]\nslots = ["{window}"]\nlead_minutes = 0\n'
        "[delivery]\nconnect_timeout_seconds = 3\nstall_timeout_seconds = 3\n"))
    cfg = app.settings.path
    assert cfg is not None
    log_file = good_remote / "asrun.log"
    cfg.write_text(cfg.read_text().replace("[radiocast]\n", f'[radiocast]\ntimezone = "{tzname}"\n')
                   .replace('[[stations]]\nid = "song-ma"', '[[stations]]\nid = "song-ma"\n'
                            f'play_command = "date +%s.%N >> {log_file}; echo {{file}} >> '
                            f'{log_file}"', 1))
    app = open_app(cfg)
    f = tmp_path / "p.mp3"
    f.write_bytes(os.urandom(200_000))
    ready_programme(app, f)
    notify = Notify(tmp_path / "notify.sock")
    log = tmp_path / "daemon.log"
    proc = daemon(cfg, log, notify.path)
    try:
        deadline = time.monotonic() + (start - datetime.now(UTC)).total_seconds() + 40
        while time.monotonic() < deadline and not log_file.exists():
            notify.drain()
            time.sleep(0.1)
        for _ in range(30):  # keep listening a little after the airing
            notify.drain()
            time.sleep(0.1)
    finally:
        longest_tick = stop(proc, log)
    assert notify.ready and len(notify.pings) >= 10
    with app.db.read() as s:
        d = s.scalars(select(Delivery).where(Delivery.station_id == "song-ma")).one()
        a = s.scalars(select(Airing).where(Airing.station_id == "song-ma")
                      .order_by(Airing.planned_at)).first()
        dead_errors = s.scalars(select(Delivery.last_error).where(
            Delivery.station_id != "song-ma")).all()
    assert d.state == DeliveryState.DELIVERED.value
    assert a is not None and a.started_at is not None
    started = float(log_file.read_text().split()[0])
    late = started - start.timestamp()
    gap = notify.longest_gap()
    with capsys.disabled():
        print(f"\n[50 black-holed + 1 healthy] longest loop tick {longest_tick:.3f} s, "
              f"longest gap between watchdog pings {gap:.3f} s (interval 1 s), "
              f"healthy airing started {late:+.2f} s from its window, "
              f"{sum(1 for e in dead_errors if e)} dead deliveries with an error recorded")
    assert longest_tick < 5.0 and gap < 5.0
    assert -1.0 <= late <= 5.0


def test_forty_stations_sharing_one_window_all_start_on_time(
        sshd_factory: Callable[..., Sshd], client_key: Path, make_app: Callable[..., App],
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    srv = sshd_factory("shared")
    (tmp_path / "known_hosts").write_text(srv.known_hosts_line())
    toml, remotes = many_stations(tmp_path, srv, client_key, 40, prefix="xa")
    tzname, start = next_window()
    window = f"{start:%H:%M}-{start + timedelta(minutes=10):%H:%M}"
    app = make_app(stations=toml, extra=f'[schedule]\nslots = ["{window}"]\nlead_minutes = 0\n')
    cfg = app.settings.path
    assert cfg is not None
    # each player runs 8 s, as a programme does: nothing may hold a thread for that long
    set_zone_and_play(cfg, tzname, [f"date +%s.%N >> {r}/asrun.log; echo {{file}} >> "
                                    f"{r}/asrun.log; sleep 8" for r in remotes])
    app = open_app(cfg)
    f = tmp_path / "p.mp3"
    f.write_bytes(os.urandom(100_000))
    ready_programme(app, f)
    assert sum(o.delivered for o in deliver.deliver_due(app)) == 40
    log = tmp_path / "daemon.log"
    proc = daemon(cfg, log)
    try:
        deadline = time.monotonic() + (start - datetime.now(UTC)).total_seconds() + 30
        while time.monotonic() < deadline and not all(
                (r / "asrun.log").exists() for r in remotes):
            time.sleep(0.2)
    finally:
        stop(proc, log)
    delays = sorted(float((r / "asrun.log").read_text().split()[0]) - start.timestamp()
                    for r in remotes if (r / "asrun.log").exists())
    with capsys.disabled():
        print(f"\n[40 stations, one window] started: {len(delays)}/40; delay from the window "
              f"min {delays[0]:+.2f} s, median {delays[len(delays) // 2]:+.2f} s, "
              f"max {delays[-1]:+.2f} s")
    assert len(delays) == 40
    assert delays[-1] <= 5.0 and delays[0] >= -1.0
    with app.db.read() as s:
        states = {a.state for a in s.scalars(select(Airing).where(
            Airing.planned_at == start.astimezone(UTC)))}
    assert states <= {AiringState.AIRING.value, AiringState.AIRED.value}


# ---------------------------------------------------------------- SIGKILL at each step


def killed_at(step: str, code: str, cfg: Path) -> None:
    """Run `code` (the daemon's own functions) in a fresh interpreter that SIGKILLs itself at
    the named step, and check that it died there."""
    env = {**os.environ, "RADIOCAST_CRASH_AT": step}
    script = ("import sys\nfrom radiocast.app import open_app\n"
              f"app = open_app({str(cfg)!r})\n" + code)
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]


def restart(app: App) -> None:
    """The next start: `radiocast run --once` (recovery, then all pending work)."""
    cfg = app.settings.path
    res = subprocess.run([sys.executable, "-m", "radiocast", "--config", str(cfg), "run",
                          "--once"], capture_output=True, text=True, timeout=180, check=False)
    assert res.returncode in (0, 1), res.stderr[-3000:]


def test_killed_while_normalizing_finishes_at_the_next_start(
        site: Callable[..., Site]) -> None:
    s = site(1)
    drop = s.app.settings.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    month = local_month(s.app.clock(), s.app.settings.general.tz)
    (drop / f"{month} Chuyển đổi số.mp3").write_bytes(
        (SAMPLES / "an-toan-thong-tin.mp3").read_bytes())
    cfg = s.app.settings.path
    assert cfg is not None
    killed_at("after_normalize", "from radiocast.intake import ingest, programmes\n"
              f"c = ingest.claim_file(app, app.settings.ingest.drop_dir / {month!r} "
              "' Chuyển đổi số.mp3')\nprogrammes.normalize_programme(app, c.programme_id)\n",
              cfg)
    with s.app.db.read() as sess:
        [p] = sess.scalars(select(Programme)).all()
    assert p.state == ProgrammeState.NORMALIZING.value  # died with the encoded file made
    restart(s.app)
    with s.app.db.read() as sess:
        [p] = sess.scalars(select(Programme)).all()
        [d] = sess.scalars(select(Delivery)).all()
    assert p.state == ProgrammeState.READY.value and d.state == DeliveryState.DELIVERED.value
    station = s.remotes[0]
    assert (station / f"{p.slug}.mp3").stat().st_size == p.size
    assert not [x for x in station.iterdir() if x.name.endswith(".part")]
    ready = s.app.settings.spool_dir / "ready"
    assert [x.name for x in ready.iterdir()] == [f"{p.slug}.mp3"]  # no half file, no twin
    assert len(list(s.app.settings.ingest.archive_dir.glob("*.mp3"))) == 1


@pytest.mark.parametrize("step", ["after_upload", "after_rename"])
def test_killed_while_delivering_leaves_one_whole_file(site: Callable[..., Site],
                                                       tmp_path: Path, step: str) -> None:
    s = site(1)
    f = tmp_path / "p.mp3"
    f.write_bytes(os.urandom(2_000_000))
    ready_programme(s.app, f)
    cfg = s.app.settings.path
    assert cfg is not None
    killed_at(step, "from radiocast.stations import deliver\ndeliver.deliver_due(app)\n", cfg)
    station = s.remotes[0]
    with s.app.db.read() as sess:
        p = sess.scalars(select(Programme)).one()
    final = station / f"{p.slug}.mp3"
    if step == "after_upload":
        assert not final.exists()  # never half a file under its final name
    restart(s.app)
    with s.app.db.read() as sess:
        d = sess.scalars(select(Delivery)).one()
    assert d.state == DeliveryState.DELIVERED.value
    assert final.read_bytes() == f.read_bytes()
    assert not [x for x in station.iterdir() if x.name.endswith(".part")]


@pytest.mark.parametrize("step", ["after_start_airing", "after_launch"])
def test_killed_while_starting_an_airing_never_airs_it_twice(
        site: Callable[..., Site], tmp_path: Path, step: str) -> None:
    s = site(1)
    log = s.remotes[0] / "asrun.log"
    cfg = s.app.settings.path
    assert cfg is not None
    cfg.write_text(cfg.read_text().rstrip() + f'\nplay_command = "echo start {{file}} >> {log}"\n')
    app = open_app(cfg)
    f = tmp_path / "p.mp3"
    f.write_bytes(os.urandom(20_000))
    pid = ready_programme(app, f)
    deliver.deliver_due(app)
    now = app.clock()
    with app.db.write() as sess:
        sess.get_one(Programme, pid).duration_s = 1.0
        aid = ops.add_airing(sess, pid, "st0", local_month(now, app.settings.general.tz),
                             AiringKind.PREMIERE, now, now).id
    killed_at(step, f"from radiocast.airing import playout\nplayout.air(app, {aid})\n", cfg)
    restart(app)
    assert playout.air(app, aid) is None  # the restarted hub never starts it again
    later = now + timedelta(seconds=30)
    checked = App(app.settings, app.db, app.lang, clock=lambda: later)
    assert playout.check_station(checked, app.settings.station("st0")) == 1
    with app.db.read() as sess:
        a = sess.get_one(Airing, aid)
    starts = log.read_text().count("start") if log.exists() else 0
    if step == "after_start_airing":  # died before the player was started
        assert starts == 0 and a.state == AiringState.INTERRUPTED.value
    else:  # the player was started just before the kill: it played, and it counts
        assert starts == 1 and a.state == AiringState.AIRED.value
    app.close()


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_a_junk_segment_and_a_locked_database_never_hold_the_watchdog(
        make_app: Callable[..., App], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A running hub: one pull station writes a 2 M-line junk segment (4 MB); then another
    program holds SQLite's write lock for 15 s while staff drop a file. The watchdog is pinged
    throughout (gaps under 10 s), the hub stays under 300 MiB, the other station's proof of
    play is stored, and the file is taken once the lock is free."""
    from ..agent.test_station_input import event

    root = tmp_path / "pull"
    ids = ["junk", "good"]
    for sid in ids:
        for sub in ("outbox", "inbox/asrun"):
            (root / sid / sub).mkdir(parents=True)
    stations = "".join(f'[[stations]]\nid = "{sid}"\nname = "Xã {sid}"\ntransfer = "pull"\n'
                       'playout = "agent"\n' for sid in ids)
    app = make_app(stations=stations, extra=f'[pull]\nroot = "{root}"\n'
                                           "[delivery]\nagent_poll_seconds = 5\n")
    f = tmp_path / "p.mp3"
    f.write_bytes(os.urandom(20_000))
    pid = ready_programme(app, f)
    now = app.clock()
    month = local_month(now, app.settings.general.tz)
    with app.db.write() as s:
        junk, good = (ops.add_airing(s, pid, sid, month, AiringKind.PREMIERE,
                                     now + timedelta(hours=2), now).id for sid in ids)
    cfg = app.settings.path
    assert cfg is not None
    notify = Notify(tmp_path / "notify.sock")
    log = tmp_path / "daemon.log"
    proc = daemon(cfg, log, notify.path)
    sqlite = app.db.is_sqlite  # the external lock is SQLite's; PostgreSQL has its own test

    def listen(seconds: float, until: Callable[[], bool] = lambda: False) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not until():
            notify.drain()
            time.sleep(0.05)

    def aired(aid: int) -> bool:
        with app.db.read() as s:
            return s.get_one(Airing, aid).state == AiringState.AIRED.value

    def gap(since: int) -> float:
        return max((b - a for a, b in zip(notify.pings[since:], notify.pings[since + 1:],
                                          strict=False)), default=99.0)

    try:
        listen(30, lambda: len(notify.pings) >= 3)  # running, and pinging
        seg = "2026-12-01.00000001.jsonl"
        junk_from = len(notify.pings) - 1
        (root / "junk" / "inbox" / "asrun" / seg).write_text(event("junk", junk, 1)
                                                             + "x\n" * 2_000_000)
        (root / "good" / "inbox" / "asrun" / seg).write_text(event("good", good, 1))
        listen(60, lambda: aired(good) and aired(junk))
        assert aired(good) and aired(junk), log.read_text(errors="replace")[-3000:]
        listen(3)
        junk_gap = gap(junk_from)
        # another program takes the write lock and keeps it; staff drop a file meanwhile
        import sqlite3
        other = sqlite3.connect(app.settings.database_url.split("///", 1)[1], timeout=30,
                                isolation_level=None) if sqlite else None
        if other is not None:
            other.execute("BEGIN IMMEDIATE")
        drop = app.settings.ingest.drop_dir / "Chuyển đổi số tháng 12.mp3"
        shutil.copy(SAMPLES / "an-toan-thong-tin.mp3", drop)
        held_from = len(notify.pings) - 1
        listen(15)
        if other is not None:
            other.execute("ROLLBACK")
            other.close()
        listen(2)
        lock_gap = gap(held_from)
        listen(30, lambda: not drop.exists())
        taken = not drop.exists()
        rss = _peak_rss_mib(proc.pid)
    finally:
        stop(proc, log)
    with capsys.disabled():
        held = "SQLite locked 15 s by another program" if sqlite else "PostgreSQL, a file dropped"
        print(f"\n[running hub] 2 M junk lines: longest gap between watchdog pings "
              f"{junk_gap:.2f} s; {held}: longest gap "
              f"{lock_gap:.2f} s (interval 1 s); hub peak memory {rss:.0f} MiB; the dropped "
              f"file taken after the lock: {taken}")
    assert junk_gap < 10.0 and lock_gap < 10.0
    assert rss < 300
    assert taken
    assert "stayed locked" in log.read_text(errors="replace") or not sqlite
