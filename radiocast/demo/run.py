"""`radiocast demo`: the whole job on this machine, with simulated stations on loopback."""

from __future__ import annotations

import json
import logging
import shlex
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select

from radiocast.agent.agent import Agent
from radiocast.agent.config import StationConfig
from radiocast.agent.run import serve
from radiocast.app import App, open_app
from radiocast.core.errors import ExitCode
from radiocast.core.i18n import t
from radiocast.core.models import AiringKind, AiringState, DeliveryState, ProgrammeState, utc_now
from radiocast.core.months import local_month
from radiocast.core.sysd import SdNotify
from radiocast.db import evidence
from radiocast.db.schema import Airing, Delivery, Programme, Station
from radiocast.demo.console import LOG_FILE, log_to, own_command
from radiocast.demo.samples import SAMPLES, Later, drop_samples
from radiocast.demo.simstation import SimStations, make_client_key
from radiocast.report.build import build_report
from radiocast.report.files import render_report
from radiocast.status.problems import build_status
from radiocast.status.screen import render_status

log = logging.getLogger(__name__)


class Runner(Protocol):
    """The daemon, as the demo drives it (the CLI passes radiocast.daemon.Daemon in)."""

    stop: threading.Event

    def run(self, once: bool = False) -> int: ...


COMMUNES = [  # not-ui
    ("trung-ha", "Xã Trung Hạ"), ("tam-thanh", "Xã Tam Thanh"), ("son-thuy", "Xã Sơn Thủy"),
    ("na-meo", "Xã Na Mèo"), ("quan-son", "Xã Quan Sơn"), ("tam-lu", "Xã Tam Lư"),
    ("son-dien", "Xã Sơn Điện"), ("muong-min", "Xã Mường Mìn")]
DEMO_WINDOWS = 4  # the premiere and three replays, all today: they fit even on a month's end
# the latest time of day a demo starts at: its four windows of 20 min, 5 min apart, end by 23:30
LATEST_START = clock_time(21, 45)
ZONE = "Asia/Ho_Chi_Minh"  # not-ui: the demo district's zone (UTC+7 all year)
ZONE_HOURS = 7


def demo_zone(now: datetime) -> tuple[str, int]:
    """The time zone the demo runs in, and how many hours it sets the time back. Airing
    windows do not cross midnight, so a demo started late in the evening would have its
    premiere window cut short at 23:59 and, on a month's last day, too few windows for the
    replays. Later than LATEST_START it runs in the whole-hour zone west of the district's
    that puts it back before LATEST_START: every clock (the hub, its timed airings, the
    agents, the stations) stays the real one, and the date stays today's."""
    local = now.astimezone(ZoneInfo(ZONE))
    late = local - datetime.combine(local.date(), LATEST_START, local.tzinfo)
    if late <= timedelta(0):
        return ZONE, 0
    back = -(-late // timedelta(hours=1))  # whole hours, rounded up
    return f"Etc/GMT-{ZONE_HOURS - back}", back  # POSIX sign: Etc/GMT-4 is UTC+4


def _zone(lang: str) -> str:
    """The demo's zone now, said on screen when it is not the district's."""
    now = utc_now()
    zone, back = demo_zone(now)
    if back:
        click.echo(t("demo.set_back", lang, now=f"{now.astimezone(ZoneInfo(ZONE)):%H:%M}",
                     hours=back, utc=ZONE_HOURS - back))
    return zone


def _windows(now_local: datetime, quick: bool) -> list[str]:
    """Windows from a minute or two from now: the first for the premieres (20 min), then up
    to three more, 5 min apart, while the day lasts. They recur daily; the planner spreads
    the replays over the coming days, or into today's windows when the month is ending."""
    start = (now_local + timedelta(seconds=60 if quick else 100)).replace(second=0,
                                                                          microsecond=0)
    start += timedelta(minutes=1)
    end = start + timedelta(minutes=20)
    if end.date() != start.date():
        end = start.replace(hour=23, minute=59)
    wins = [f"{start:%H:%M}-{end:%H:%M}"]
    while len(wins) < DEMO_WINDOWS:
        start = end + timedelta(minutes=5)
        if (start + timedelta(minutes=10)).date() != now_local.date():
            break
        end = min(start + timedelta(minutes=20), start.replace(hour=23, minute=59))
        wins.append(f"{start:%H:%M}-{end:%H:%M}")
    return wins


def agent_count(n: int) -> int:
    """How many of the demo's stations run the real station agent (the others are driven by
    the hub over SSH): two, keeping at least one of each kind."""
    return min(2, n - 1)


def play_command(log_path: Path) -> str:
    """The simulated stations' player: note the time and the file in asrun.log."""
    return f'echo "$(date -Iseconds) aired {{file}}" >> {log_path} && sleep 1'


def start_agents(app: App, sims: SimStations, root: Path,
                 stop: threading.Event) -> list[threading.Thread]:
    """The real agent for each `playout = "agent"` station, on the station's own folder."""
    threads = []
    for st in app.settings.stations:
        if st.playout != "agent":
            continue
        sim = sims.stations[st.id]
        cfg = StationConfig(id=st.id, media_dir=sim.remote_dir, state_dir=sim.folder / "agent",
                            player=play_command(sim.folder / "asrun.log"),
                            timezone=app.settings.general.timezone, heartbeat_seconds=5)
        agent = Agent(cfg)
        t = threading.Thread(target=_serve, args=(agent, stop), name=f"agent-{st.id}",
                             daemon=True)
        t.start()
        threads.append(t)
    return threads


def _serve(agent: Agent, stop: threading.Event) -> None:
    try:
        serve(agent, stop, SdNotify())
    finally:
        agent.close()


def agent_summary(app: App, lang: str) -> list[str]:
    """What each agent station proved: events stored at the hub, acknowledged up to."""
    out = []
    with app.db.read() as s:
        for st in app.settings.stations:
            if st.playout != "agent":
                continue
            row = s.get(Station, st.id)
            n = evidence.stored_count(s, st.id)
            out.append(t("demo.agent_line", lang, id=st.id, n=n,
                         acked=(row.asrun_acked if row else 0) or 0))
    return out


def write_config(root: Path, sims: SimStations, n: int, quick: bool, zone: str) -> Path:
    now_local = utc_now().astimezone(ZoneInfo(zone))
    slots = ", ".join(f'"{w}"' for w in _windows(now_local, quick))
    # not-ui: the configuration file (its comments and values are the file's own)
    parts = [f"""# Written by `radiocast demo`: simulated stations on 127.0.0.1.
[radiocast]
timezone = "{zone}"
language = "vi"
sender = "Trung tâm Văn hóa, Thông tin, Thể thao và Du lịch huyện Quan Sơn (demo)"
data_dir = "data"

[ingest]
drop_dir = "drop"
settle_seconds = 1
rescan_seconds = 5

[schedule]
slots = [{slots}]
lead_minutes = 0
min_gap_days = 3

[delivery]
max_parallel = 4
connect_timeout_seconds = 5
stall_timeout_seconds = 15
retry_backoff_seconds = [3, 6, 10]
agent_poll_seconds = 5
"""]
    parts += [_station_table(i, sid, name, sims, n) for i, (sid, name) in
              enumerate(COMMUNES[:n])]
    cfg = root / "radiocast.toml"
    cfg.write_text("".join(parts), encoding="utf-8")
    return cfg


def _station_table(i: int, sid: str, name: str, sims: SimStations, n: int) -> str:
    st = sims.stations[sid]
    playout = "agent" if i < agent_count(n) else "ssh-command"
    # the last station airs Thái too: it receives the Thái version as well
    langs = 'languages = ["vi", "blt"]\n' if i == n - 1 and n > 1 else ""
    return f"""
[[stations]]
id = "{sid}"
name = "{name}"
host = "127.0.0.1"
port = {st.port}
user = "radiocast"
key_file = "keys/id_ed25519"
known_hosts = "keys/known_hosts"
remote_dir = "{st.remote_dir}"
playout = "{playout}"
play_command = {json.dumps(play_command(st.folder / "asrun.log"))}
{langs}"""


class Monitor(threading.Thread):
    """Prints progress, takes one station offline for a while, stops the daemon when done."""

    def __init__(self, app: App, daemon: Runner, sims: SimStations, offline: str | None,
                 offline_s: float, timeout_s: float) -> None:
        super().__init__(name="demo-monitor", daemon=True)
        self.app, self.runner, self.sims = app, daemon, sims
        self.offline, self.offline_s, self.timeout_s = offline, offline_s, timeout_s
        self.done = False
        self.last = ""
        self.later = Later(None, None)

    def snapshot(self) -> tuple[str, bool]:
        with self.app.db.read() as s:
            progs = list(s.scalars(select(Programme)))
            dels = list(s.scalars(select(Delivery)))
            prem = list(s.scalars(select(Airing).where(Airing.kind == AiringKind.PREMIERE.value)))
        ready = [p for p in progs if p.state == ProgrammeState.READY.value]
        self.later.drop_due(progs)
        rejected = [p for p in progs if p.state == ProgrammeState.REJECTED.value]
        lang = self.app.lang
        lines = ["  " + t("demo.programmes", lang, ready=len(ready), rejected=len(rejected),
                          working=len(progs) - len(ready) - len(rejected))]
        for st in self.app.settings.stations:
            mine = [d for d in dels if d.station_id == st.id]
            ok = sum(d.state == DeliveryState.DELIVERED.value for d in mine)
            aired = sum(a.state == AiringState.AIRED.value for a in prem if a.station_id == st.id)
            planned = sum(1 for a in prem if a.station_id == st.id)
            err = next((d.last_error for d in mine if d.last_error
                        and d.state != DeliveryState.DELIVERED.value), None)
            bar = "#" * ok + "." * (len(mine) - ok)
            lines.append("  " + t("demo.station_line", lang, id=f"{st.id:<10}", bar=f"{bar:<3}",
                                  ok=ok, total=len(mine), aired=aired, planned=planned)
                         + ("  " + t("demo.retrying", lang, err=err) if err else ""))
        versions = sum("blt" in st.languages for st in self.app.settings.stations) > 0
        finished = bool(ready) and len(ready) == len(SAMPLES) + versions and all(
            all(d.state == DeliveryState.DELIVERED.value for d in dels if d.station_id == st.id)
            and sum(d.station_id == st.id for d in dels) >= len(SAMPLES)
            for st in self.app.settings.stations) and bool(prem) and all(
            a.state in (AiringState.AIRED.value, AiringState.MISSED.value,
                        AiringState.FAILED.value) for a in prem) and len(
            {a.station_id for a in prem}) == len(self.app.settings.stations)
        return "\n".join(lines), finished

    def run(self) -> None:
        start = time.monotonic()
        back_online = False
        try:
            while not self.runner.stop.is_set():
                elapsed = time.monotonic() - start
                if self.offline and not back_online and elapsed >= self.offline_s:
                    self.sims.online(self.offline)
                    click.echo(f"[{elapsed:5.0f}s] "
                               + t("demo.online", self.app.lang, id=self.offline))
                    back_online = True
                text, finished = self.snapshot()
                if text != self.last:
                    click.echo(f"[{elapsed:5.0f}s]\n{text}")
                    self.last = text
                if finished:
                    self.done = True
                    break
                if elapsed > self.timeout_s:
                    click.echo(t("demo.timeout", self.app.lang))
                    break
                time.sleep(1)
        finally:
            self.runner.stop.set()


def run_demo(directory: Path | None, n_stations: int, lang: str, quick: bool,
             runner: Callable[[App], Runner]) -> int:
    root = (directory or Path(tempfile.mkdtemp(prefix="radiocast-demo-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    if (root / "radiocast.toml").exists():
        raise click.UsageError(t("demo.not_empty", lang, root=root))
    with log_to(root / LOG_FILE):
        return _run(root, n_stations, lang, quick, runner)


def _run(root: Path, n_stations: int, lang: str, quick: bool,
         runner: Callable[[App], Runner]) -> int:
    n = min(n_stations, len(COMMUNES))
    click.echo(t("demo.start", lang, root=root, n=n))
    pub = make_client_key(root / "keys" / "id_ed25519")
    sims = SimStations(root / "stations", [sid for sid, _ in COMMUNES[:n]], pub)
    sims.start()
    try:
        (root / "keys" / "known_hosts").write_text(sims.known_hosts_lines(), encoding="utf-8")
        cfg = write_config(root, sims, n, quick, _zone(lang))
        app = open_app(cfg, lang)
        month = local_month(app.clock(), app.settings.general.tz)
        later = drop_samples(app, month, root / "aside")
        click.echo(t("demo.windows", app.lang,
                     windows=", ".join(map(str, app.settings.schedule.slots))))
        offline = COMMUNES[n - 1][0] if n > 1 else None
        if offline:
            sims.offline(offline)
            click.echo(t("demo.offline", app.lang, id=offline))
        daemon = runner(app)
        agents_stop = threading.Event()
        agents = start_agents(app, sims, root, agents_stop)
        monitor = Monitor(app, daemon, sims, offline, 12 if quick else 40, 380 if quick else 600)
        monitor.later = later
        monitor.start()
        daemon.run(once=False)
        monitor.join(timeout=5)
        agents_stop.set()
        for th in agents:
            th.join(timeout=10)
        click.echo("")
        click.echo(render_status(build_status(app), app.lang))
        report = root / f"bao-cao-{month}.md"
        report.write_bytes(render_report(build_report(app, month), "md", app.lang))
        click.echo("")
        for line in agent_summary(app, app.lang):
            click.echo(line)
        for key, path in (("report", report), ("drop", app.settings.ingest.drop_dir),
                          ("archive", app.settings.ingest.archive_dir),
                          ("quarantine", app.settings.ingest.quarantine_dir),
                          ("stations", root / "stations"), ("log", root / LOG_FILE)):
            click.echo(t(f"demo.{key}", app.lang, path=path))
        click.echo(t("demo.more", app.lang, command=f"{own_command()} --config "
                     f"{shlex.quote(str(cfg))} status"))
        app.close()
        return ExitCode.OK if monitor.done else ExitCode.PARTIAL
    finally:
        sims.stop()
