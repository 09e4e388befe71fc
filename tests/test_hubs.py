"""Active and standby hubs on one database: the lease, its fence, and real hub processes
killed (SIGKILL), paused (SIGSTOP), skewed (libfaketime) and cut off from PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from radiocast.app import App, open_app
from radiocast.core.errors import LeaseLost
from radiocast.core.models import AiringState, DeliveryState
from radiocast.db import lease, ops
from radiocast.db.engine import open_database
from radiocast.db.schema import Airing, Delivery, Event, Station
from radiocast.stations import deliver
from radiocast.stations.transport import StationLink

from . import pg
from .conftest import Site, ready_programme, station_toml
from .sshd import Sshd, station_dir
from .test_airing import next_window, set_zone_and_play

LEASE = 3  # seconds: the hubs below take over within 2 × LEASE
FAKETIME_LIB = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))


def wait_for(cond: Callable[[], object], timeout: float, step: float = 0.05) -> float:
    """Seconds until `cond()` is true; fails after `timeout`."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(step)
    return time.monotonic() - t0


# ---------------------------------------------------------------- the lease itself


def test_one_leader_at_a_time_and_the_epoch_grows_at_each_taking(db_url: str) -> None:
    db = open_database(db_url)
    with db.write() as s:
        assert lease.acquire(s, "a", 1.0) == 1
    with db.write() as s:
        assert lease.acquire(s, "b", 1.0) is None  # held
        assert lease.renew(s, "a", 1, 1.0)
        assert not lease.renew(s, "b", 1, 1.0) and not lease.renew(s, "a", 7, 1.0)
    time.sleep(1.2)  # the database's clock passes the expiry
    with db.write() as s:
        assert not lease.renew(s, "a", 1, 1.0)  # expired: a renewal cannot revive it
        assert lease.acquire(s, "b", 1.0) == 2
    with db.write() as s:
        assert lease.acquire(s, "a", 1.0) is None
        row = lease.current(s)
        assert row is not None and (row.holder, row.epoch) == ("b", 2) and row.expires_in > 0
        lease.release(s, "b", 2)
    with db.write() as s:
        assert lease.acquire(s, "a", 1.0) == 3  # released: no need to wait for the expiry
    db.dispose()


def test_a_hub_that_lost_its_lease_writes_nothing_and_contacts_no_station(
        site: Callable[..., Site], tmp_path: Path) -> None:
    s = site(1)
    app = s.app
    with app.db.write() as w:
        epoch = lease.acquire(w, "a", 1.0)
    assert epoch == 1
    fence = lease.Fence("a", epoch, 30.0)  # locally valid long after the 1 s in the database
    fence.renewed(time.monotonic())
    app.db.fence = fence
    lease.install(fence)
    try:
        with app.db.write() as w:  # while it holds the lease: written, with its epoch
            ops.record_event(w, app.clock(), "hub", "a", "test")
        with app.db.read() as r:
            assert r.scalar(select(Event.epoch).where(Event.action == "test")) == 1
        time.sleep(1.2)
        with app.db.lease_write() as w:
            assert lease.acquire(w, "b", 30.0) == 2  # another hub takes over
        fence.valid_until = time.monotonic() + 60  # even a hub that has not noticed yet:
        with pytest.raises(LeaseLost), app.db.write() as w:  # the write is refused inside
            ops.record_event(w, app.clock(), "hub", "a", "late")
        with app.db.read() as r:
            assert r.scalar(select(func.count()).select_from(Event).where(
                Event.action == "late")) == 0
        with pytest.raises(LeaseLost):  # and it dials no station any more
            StationLink(app.settings.stations[0], app.settings.delivery).connect()
    finally:
        app.db.fence = None
        lease.install(None)
    with StationLink(app.settings.stations[0], app.settings.delivery) as link:
        assert link.list_files() == []  # the same link works for a process that is no hub


# ---------------------------------------------------------------- real hub processes

needs_pg = pytest.mark.skipif(not pg.wanted(), reason="two hubs share PostgreSQL: runs on the "
                              "PostgreSQL run (RADIOCAST_TEST_DATABASE=postgresql)")


class Hubs:
    """Hub processes on one configuration (shared data and drop folders, one database)."""

    def __init__(self, cfg: Path, root: Path) -> None:
        self.cfg, self.root = cfg, root
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, skew: str | None = None) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "radiocast", "--config", str(self.cfg), "-v", "run"]
        env = dict(os.environ)
        if skew is not None:  # this hub's wall clock is off by `skew` (libfaketime)
            env.update(LD_PRELOAD=str(FAKETIME_LIB[0]), FAKETIME=skew,
                       FAKETIME_DONT_FAKE_MONOTONIC="1")
        with open(self.log(name), "ab") as fh:
            proc = subprocess.Popen(cmd, stdout=fh, stderr=fh, env=env)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> Path:
        return self.root / f"hub-{name}.log"

    def text(self, name: str) -> str:
        return self.log(name).read_text(errors="replace")

    def leader(self, app: App) -> tuple[int, int] | None:
        """(pid, epoch) of the hub holding an unexpired lease."""
        with app.db.read() as s:
            row = lease.current(s)
        if row is None or row.expires_in <= 0:
            return None
        return int(row.holder.split(":")[1]), row.epoch

    def wait_leading(self, app: App, name: str, timeout: float = 30) -> float:
        pid = self.procs[name].pid
        return wait_for(lambda: (self.leader(app) or (0, 0))[0] == pid, timeout)

    def wait_standby(self, name: str, timeout: float = 30) -> None:
        wait_for(lambda: "standing by" in self.text(name), timeout)

    def pair(self, app: App) -> subprocess.Popen[bytes]:
        """Hub "a" leading and hub "b" standing by; returns the leader's process."""
        leader = self.start("a")
        self.wait_leading(app, "a")
        self.start("b")
        self.wait_standby("b")
        return leader

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


@pytest.fixture
def hubs(tmp_path: Path) -> Iterator[Callable[[App], Hubs]]:
    made: list[Hubs] = []

    def make(app: App) -> Hubs:
        assert app.settings.path is not None
        h = Hubs(app.settings.path, tmp_path)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def twenty_stations(sshd_factory: Callable[..., Sshd], client_key: Path, tmp_path: Path,
                    make_app: Callable[..., App], extra: str = "") -> tuple[App, list[Path]]:
    srv = sshd_factory("shared")
    (tmp_path / "known_hosts").write_text(srv.known_hosts_line())
    remotes = [station_dir(tmp_path / f"xa{i}") for i in range(20)]
    toml = "".join(station_toml(f"xa-{i:02d}", srv, remotes[i], client_key,
                                tmp_path / "known_hosts") for i in range(20))
    app = make_app(stations=toml, extra=f"[hub]\nlease_seconds = {LEASE}\n{extra}")
    return app, remotes


def station_lines(remotes: list[Path]) -> list[int]:
    return [len((r / "asrun.log").read_text().splitlines()) if (r / "asrun.log").exists()
            else 0 for r in remotes]


def events_after(app: App, epoch: int, since: datetime) -> list[Event]:
    with app.db.read() as s:
        return list(s.scalars(select(Event).where(Event.epoch == epoch, Event.at > since)))


@needs_pg
def test_standby_takes_over_a_fan_out_from_a_killed_leader_and_nothing_is_sent_twice(
        sshd_factory: Callable[..., Sshd], client_key: Path, tmp_path: Path,
        make_app: Callable[..., App], hubs: Callable[[App], Hubs],
        capsys: pytest.CaptureFixture[str]) -> None:
    app, remotes = twenty_stations(sshd_factory, client_key, tmp_path, make_app,
                                   "[delivery]\nmax_parallel = 2\n")
    h = hubs(app)
    h.pair(app)
    f = tmp_path / "p.mp3"
    f.write_bytes(os.urandom(24_000_000))
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    ready_programme(app, f)  # the leader fans it out to 20 stations, two at a time

    def delivered() -> int:
        with app.db.read() as s:
            return int(s.scalar(select(func.count()).select_from(Delivery).where(
                Delivery.state == DeliveryState.DELIVERED.value)) or 0)

    wait_for(lambda: delivered() >= 2, 60)
    h.procs["a"].kill()  # SIGKILL in the middle of the fan-out
    killed, at_kill = time.monotonic(), delivered()
    assert at_kill < 20  # it really was in the middle
    took = wait_for(lambda: (h.leader(app) or (0, 0))[0] == h.procs["b"].pid, 2 * LEASE + 2)
    wait_for(lambda: delivered() == 20, 120, step=0.2)
    with capsys.disabled():
        print(f"\n[fan-out, leader SIGKILLed after {at_kill}/20] standby leads after "
              f"{took:.1f} s (lease {LEASE} s); all 20 delivered "
              f"{time.monotonic() - killed:.1f} s after the kill")
    assert took <= 2 * LEASE
    with app.db.read() as s:
        done = s.execute(select(Event.entity_id, func.count()).where(
            Event.entity == "delivery", Event.to_state == DeliveryState.DELIVERED.value)
            .group_by(Event.entity_id)).all()
        epochs = set(s.scalars(select(Event.epoch).where(Event.entity == "delivery")))
    assert len(done) == 20 and all(n == 1 for _, n in done)  # each delivered once
    assert epochs - {None} == {1, 2}  # by the first leader, then the second (None: the test)
    for r in remotes:  # one whole, verified file at each station
        files = [p for p in r.iterdir() if p.suffix == ".mp3"]
        assert len(files) == 1 and hashlib.sha256(files[0].read_bytes()).hexdigest() == sha


def _window_site(sshd_factory: Callable[..., Sshd], client_key: Path, tmp_path: Path,
                 make_app: Callable[..., App]) -> tuple[App, list[Path], datetime]:
    tzname, start = next_window()
    window = f"{start:%H:%M}-{start + timedelta(minutes=10):%H:%M}"
    app, remotes = twenty_stations(sshd_factory, client_key, tmp_path, make_app,
                                   f'[schedule]\nslots = ["{window}"]\nlead_minutes = 0\n')
    cfg = app.settings.path
    assert cfg is not None
    set_zone_and_play(cfg, tzname, [f"date +%s.%N >> {r}/asrun.log; echo {{file}} >/dev/null; "
                                    "sleep 5" for r in remotes])
    app = open_app(cfg)
    f = tmp_path / "p.mp3"
    f.write_bytes(os.urandom(100_000))
    ready_programme(app, f)
    assert sum(o.delivered for o in deliver.deliver_due(app)) == 20
    return app, remotes, start


@needs_pg
def test_standby_takes_over_a_window_of_twenty_airings_and_each_starts_at_most_once(
        sshd_factory: Callable[..., Sshd], client_key: Path, tmp_path: Path,
        make_app: Callable[..., App], hubs: Callable[[App], Hubs],
        capsys: pytest.CaptureFixture[str]) -> None:
    app, remotes, start = _window_site(sshd_factory, client_key, tmp_path, make_app)
    h = hubs(app)
    h.pair(app)
    time.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds() + 0.3))
    h.procs["a"].kill()  # SIGKILL while the window's 20 airings are being started
    started_by_a = sum(station_lines(remotes))
    took = wait_for(lambda: (h.leader(app) or (0, 0))[0] == h.procs["b"].pid, 2 * LEASE + 2)
    # decided: aired, or found never started at the station (claimed by the killed leader
    # just before it died) and recorded missed; the hub checks each station's markers
    wait_for(lambda: _all_settled(app, start, AiringState.AIRING), 150, step=0.5)
    lines = station_lines(remotes)
    with app.db.read() as s:
        states = {a.station_id: a.state for a in s.scalars(select(Airing).where(
            Airing.planned_at <= start.astimezone(UTC)))}
    with capsys.disabled():
        print(f"\n[window, leader SIGKILLed at +0.3 s, {started_by_a} started] standby leads "
              f"after {took:.1f} s; aired {sum(lines)}/20; states "
              f"{sorted(set(states.values()))}")
    assert took <= 2 * LEASE
    assert max(lines) <= 1  # at most once, by the stations' own logs
    for i, r in enumerate(remotes):  # and the record agrees with each station
        aired = states[f"xa-{i:02d}"] == AiringState.AIRED.value
        assert aired == (lines[i] == 1), (r, states[f"xa-{i:02d}"])
    with app.db.read() as s:  # who claimed each airing (planned → airing), by lease epoch
        claims = dict(s.execute(select(Event.entity_id, Event.epoch).where(
            Event.entity == "airing", Event.to_state == AiringState.AIRING.value)).all())
        ids = {a.station_id: str(a.id) for a in s.scalars(select(Airing).where(
            Airing.planned_at <= start.astimezone(UTC)))}
    assert len(claims) == 20 and set(claims.values()) <= {1, 2}
    for sid, state in states.items():
        if claims[ids[sid]] == 2:  # claimed by the standby after it took over: aired
            assert state == AiringState.AIRED.value, (sid, state)
        else:  # claimed by the killed leader: aired if it launched, else never started
            assert state in (AiringState.AIRED.value, AiringState.INTERRUPTED.value)


def _all_settled(app: App, start: datetime, *more: AiringState) -> bool:
    """No airing of the window is still waiting to start (the month's replays come later),
    nor in any of the states `more`."""
    waiting = [AiringState.PLANNED.value, *(m.value for m in more)]
    with app.db.read() as s:
        return not s.scalar(select(func.count()).select_from(Airing).where(
            Airing.state.in_(waiting),
            Airing.planned_at <= start.astimezone(UTC)))


@needs_pg
def test_a_paused_leader_resumed_after_its_lease_ran_out_does_nothing(
        sshd_factory: Callable[..., Sshd], client_key: Path, tmp_path: Path,
        make_app: Callable[..., App], hubs: Callable[[App], Hubs],
        capsys: pytest.CaptureFixture[str]) -> None:
    app, remotes, start = _window_site(sshd_factory, client_key, tmp_path, make_app)
    h = hubs(app)
    a = h.pair(app)
    time.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds() - 2))
    os.kill(a.pid, signal.SIGSTOP)  # paused just before the window: its jobs are due
    paused = datetime.now(UTC)
    took = wait_for(lambda: (h.leader(app) or (0, 0))[0] == h.procs["b"].pid, 2 * LEASE + 2)
    wait_for(lambda: _all_settled(app, start), 60, step=0.5)
    os.kill(a.pid, signal.SIGCONT)  # resumed: its timers fire, its threads wake up
    wait_for(lambda: "leadership lost" in h.text("a"), 30)
    time.sleep(3)
    lines = station_lines(remotes)
    with capsys.disabled():
        print(f"\n[leader SIGSTOPped 2 s before the window] standby leads after {took:.1f} s; "
              f"stations aired {sum(lines)}/20, each once")
    assert took <= 2 * LEASE
    assert lines == [1] * 20  # the standby aired each; the resumed hub nothing
    assert events_after(app, 1, paused) == []  # not one write under the old epoch
    assert a.poll() is None and "standing by" in h.text("a").split("leadership lost")[-1]
    res = subprocess.run([sys.executable, "-m", "radiocast", "--config", str(h.cfg), "status"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert "Máy chủ điều phối:" in res.stdout, res.stderr[-2000:]
    assert f":{h.procs['b'].pid}:" in res.stdout and "lượt 2" in res.stdout, res.stdout[:500]


@needs_pg
@pytest.mark.skipif(not FAKETIME_LIB, reason="libfaketime not installed (apt-get install "
                    "faketime)")
def test_hub_clocks_five_minutes_apart_change_nothing_in_leadership(
        site: Callable[..., Site], hubs: Callable[[App], Hubs],
        capsys: pytest.CaptureFixture[str]) -> None:
    s = site(1, extra=f"[hub]\nlease_seconds = {LEASE}\n")
    h = hubs(s.app)
    h.start("slow", skew="-5m")
    h.wait_leading(s.app, "slow")
    h.start("fast", skew="+5m")  # 10 minutes ahead of the leader
    h.wait_standby("fast")
    time.sleep(4 * LEASE)  # a hub trusting its own clock would think the lease long gone
    pid, epoch = h.leader(s.app) or (0, 0)
    assert (pid, epoch) == (h.procs["slow"].pid, 1)
    h.procs["slow"].kill()
    took = wait_for(lambda: (h.leader(s.app) or (0, 0))[0] == h.procs["fast"].pid, 2 * LEASE + 2)
    with capsys.disabled():
        print(f"\n[clocks -5 min / +5 min] no takeover in {4 * LEASE} s of a live leader; "
              f"takeover {took:.1f} s after it died")
    assert took <= 2 * LEASE


def deliver_a_new_programme(app: App, tmp_path: Path, timeout: float) -> None:
    """A new programme for the one station; waits until the leading hub has delivered it."""
    f = tmp_path / "p.mp3"
    f.write_bytes(os.urandom(200_000))
    ready_programme(app, f)

    def delivered() -> bool:
        with app.db.read() as r:
            return r.scalar(select(Delivery.state)) == DeliveryState.DELIVERED.value

    wait_for(delivered, timeout, step=0.2)


@needs_pg
def test_postgresql_restarted_under_a_running_hub_which_carries_on(
        site: Callable[..., Site], hubs: Callable[[App], Hubs], pg_cluster: pg.Cluster,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = site(1)
    h = hubs(s.app)
    h.start("a")
    h.wait_leading(s.app, "a")
    pg_cluster.restart()  # every connection of the hub is cut
    back = time.monotonic()
    deliver_a_new_programme(s.app, tmp_path, 30)
    took = time.monotonic() - back
    with capsys.disabled():
        print(f"\n[PostgreSQL restarted] the hub delivered a new programme {took:.1f} s later")
    assert h.procs["a"].poll() is None
    assert any(p.suffix == ".mp3" for p in s.remotes[0].iterdir())
    with s.app.db.read() as r:
        assert r.get(Station, "st0") is not None


@needs_pg
def test_the_database_away_for_30_s_is_an_outage_not_an_exit(
        site: Callable[..., Site], hubs: Callable[[App], Hubs], pg_cluster: pg.Cluster,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """PostgreSQL stopped for 30 s under a leading and a standby hub: both log it, neither
    exits, and a hub leads and delivers again once the database is back."""
    s = site(1, extra=f"[hub]\nlease_seconds = {LEASE}\n")
    h = hubs(s.app)
    h.pair(s.app)
    pg_cluster.stop()
    time.sleep(30)
    alive = {name: proc.poll() is None for name, proc in h.procs.items()}
    pg_cluster.start()
    back = time.monotonic()
    wait_for(lambda: h.leader(s.app) is not None, 60, step=0.5)
    deliver_a_new_programme(s.app, tmp_path, 60)
    took = time.monotonic() - back
    with capsys.disabled():
        print(f"\n[PostgreSQL away 30 s] hubs alive through it: {alive}; a new programme "
              f"delivered {took:.1f} s after it came back")
    assert alive == {"a": True, "b": True}
    assert all(proc.poll() is None for proc in h.procs.values())
    assert "database unreachable" in h.text("a") + h.text("b")
