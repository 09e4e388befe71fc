"""The agent plays the month by itself and its proof of play reaches the hub exactly once."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from radiocast.agent.agent import Agent
from radiocast.agent.run import serve
from radiocast.airing import agents
from radiocast.airing.planning import plan_all
from radiocast.airing.playbook import publish_playbook
from radiocast.core.models import AiringKind, AiringState, DeliveryState
from radiocast.core.months import local_month, next_month
from radiocast.core.sysd import SdNotify
from radiocast.db import ops
from radiocast.db.schema import AsRunEvent, Delivery
from radiocast.report.build import build_report
from radiocast.report.files import render_report
from radiocast.stations import deliver
from radiocast.status.problems import find_problems

from ..conftest import Site, ready_programme
from ..netproxy import Proxy
from ..test_deliver import through_proxy
from .helpers import (
    SLOTS,
    TZ,
    AgentSite,
    agent_site,
    airings,
    media_file,
    play_through,
    states,
    wait_player,
    write_playbook,
)

MANY = (f"[schedule]\nslots = {SLOTS}\nreplays_per_month = 27\nmin_gap_days = 0\n"
        "lead_minutes = 0\n")


def month_ahead() -> tuple[str, datetime]:
    month = next_month(local_month(datetime.now(TZ), TZ))
    return month, datetime.fromisoformat(f"{month}-01T00:05:00").replace(tzinfo=TZ)


def planned_month(site: Callable[..., Site], tmp_path: Path, extra: str = MANY,
                  player: str | None = None) -> AgentSite:
    month, start = month_ahead()
    a = agent_site(site, tmp_path, start, extra, player)
    f = tmp_path / "p.mp3"
    f.write_bytes(os.urandom(30_000))
    ready_programme(a.hub, f, month=month)
    assert sum(o.delivered for o in deliver.deliver_due(a.hub)) == 1
    plan_all(a.hub)
    assert publish_playbook(a.hub, "st0")
    return a


def test_a_week_without_the_hub(site: Callable[..., Site], tmp_path: Path) -> None:
    a = planned_month(site, tmp_path)
    agent = a.agent()
    agent.tick()
    week_end = a.clock.now + timedelta(days=7)
    week = [x for x in airings(a.hub) if x.planned_at < week_end]
    assert len(week) >= 20
    # the link is down all week: the hub hears nothing; the agent plays every airing on time
    assert play_through(agent, a.clock, week_end) == len(week)
    played = a.log.read_text().splitlines()
    assert len(played) == len(week) and all(p.endswith(".mp3") for p in played)
    with agent.ledger.db:
        rows = agent.ledger.db.execute("SELECT airing_id, started_at FROM played").fetchall()
    for aid, started in rows:
        planned = next(x.planned_at for x in week if x.id == aid)
        assert timedelta(0) <= datetime.fromisoformat(started) - planned < timedelta(seconds=5)
    assert agent.journal.backlog() == len(week)
    # the link returns: the whole backlog reaches the hub and the report counts it
    a.hub_clock.now = week_end
    got = agents.collect(a.hub, a.hub.settings.station("st0"))
    assert (got.stored, got.duplicates, got.bad, got.acked) == (len(week), 0, 0, len(week))
    agent.tick()  # the agent sees the acknowledgement and lets its segments go
    assert agent.journal.backlog() == 0 and not agent.journal.segments()
    aired = [x for x in airings(a.hub) if x.state == AiringState.AIRED.value]
    assert len(aired) == len(week)
    data = build_report(a.hub, local_month(week_end, TZ))
    [cell] = data["stations"][0]["months"]
    assert cell["premiere_at"] is not None and cell["replays_aired"] == len(week) - 1
    md = render_report(data, "md", "vi").decode("utf-8")
    assert f"{len(week)} do phần mềm tại đài xác nhận" in md  # the evidence, counted
    agent.close()


def test_nothing_lost_nothing_twice_through_cuts_and_lost_acks(
        site: Callable[..., Site], tmp_path: Path) -> None:
    a = planned_month(site, tmp_path)
    proxy = Proxy(a.site.servers[0].port)
    cfg = through_proxy(a.site, proxy)
    from radiocast.app import open_app

    hub = open_app(cfg, clock=a.hub_clock)
    st = hub.settings.station("st0")
    agent = a.agent()
    agent.tick()
    items = list(agent.keeper.current.items)
    rng = random.Random(7)
    cuts = lost_acks = n = 0
    while cuts < 100 or lost_acks < 100:
        n += 1
        assert n < 1000
        if n <= len(items):  # a new airing plays between contacts
            a.clock.now = items[n - 1].start + timedelta(seconds=1)
            agent.tick()
            wait_player(agent)
            agent.tick()
        proxy.cut_after = proxy.upstream_bytes + rng.randint(300, 9000)  # somewhere in it
        agents.collect(hub, st)
        cuts += proxy.cut_after is None
        proxy.cut_after = None
        if rng.random() < 0.6:  # the acknowledgement never reaches the agent
            (a.cfg.media_dir / "asrun.ack").unlink(missing_ok=True)
            lost_acks += 1
        agent.tick()
    for _ in range(3):  # the link holds at last
        agents.collect(hub, st)
        agent.tick()
    written = agent.journal.next_seq - 1
    with hub.db.read() as s:
        stored = s.scalar(select(func.count()).select_from(AsRunEvent))
        distinct = s.scalar(select(func.count(func.distinct(AsRunEvent.airing_id))))
    print(f"\n[as-run] {written} events written, {stored} stored, {cuts} cut contacts, "
          f"{lost_acks} lost acknowledgements")
    assert stored == distinct == written == len(items)
    assert agent.journal.backlog() == 0
    aired = [x for x in airings(hub) if x.state == AiringState.AIRED.value]
    assert len(aired) == written
    proxy.close()
    agent.close()


def test_killed_while_playing_is_interrupted_never_replayed_and_made_up(
        site: Callable[..., Site], tmp_path: Path) -> None:
    now = datetime.now(TZ).replace(microsecond=0)
    a = agent_site(site, tmp_path, now, extra='[schedule]\nslots = ["00:00-23:59"]\n'
                   "lead_minutes = 0\n",
                   player=f"echo start >> {tmp_path}/played.log; sleep 60 # {{file}}")
    f = tmp_path / "p.mp3"
    f.write_bytes(os.urandom(30_000))
    pid = ready_programme(a.hub, f)
    deliver.deliver_due(a.hub)
    with a.hub.db.write() as s:
        aid = ops.add_airing(s, pid, "st0", local_month(now, TZ), AiringKind.PREMIERE,
                             now + timedelta(seconds=2), now).id
    assert publish_playbook(a.hub, "st0")
    toml = tmp_path / "station.toml"
    toml.write_text(f'[station]\nid = "st0"\nmedia_dir = "{a.cfg.media_dir}"\n'
                    f'state_dir = "{a.cfg.state_dir}"\nplayer = "{a.cfg.player}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "radiocast", "station", "--config",
                             str(toml), "run"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not a.log.exists():
        time.sleep(0.1)
    assert a.log.exists(), "the agent never started the airing"
    proc.kill()  # kill -9 during playback (and the power goes: the player dies too)
    proc.wait()
    subprocess.run(["pkill", "-9", "-f", "sleep 60 # "], check=False)
    # a power cut also leaves half a line at the end of the newest segment
    seg_dir = a.cfg.media_dir / "asrun"
    seg_dir.mkdir(exist_ok=True)
    with open(seg_dir / "9999-12-31.jsonl", "ab") as fh:
        fh.write(b'{"event_id": "half an ev')
    a.clock.now = datetime.now(TZ)
    agent = a.agent()  # the restart
    agent.tick()
    time.sleep(0.5)
    agent.tick()
    assert a.log.read_text().count("start") == 1  # not replayed
    a.hub_clock.now = datetime.now(TZ)
    got = agents.collect(a.hub, a.hub.settings.station("st0"))
    assert got.stored == 1 and got.bad == 0  # the half line was cut before it could be read
    assert states(a.hub)[aid] == AiringState.INTERRUPTED.value
    plan_all(a.hub)
    makeups = [x for x in airings(a.hub) if x.replaces_id == aid]
    if not makeups:  # only when the month has no window left, and then it says so
        assert [p for p in find_problems(a.hub, "en") if p.code == "quota_at_risk"]
    else:
        assert makeups[0].kind == AiringKind.MAKEUP.value
    agent.close()


def test_a_damaged_file_is_not_played_and_is_sent_again(site: Callable[..., Site],
                                                         tmp_path: Path) -> None:
    a = planned_month(site, tmp_path)
    agent = a.agent()
    agent.tick()
    first = agent.keeper.current.items[0]
    path = a.cfg.media_dir / first.file
    damaged = bytearray(path.read_bytes())
    damaged[100:110] = b"\0" * 10
    path.write_bytes(bytes(damaged))
    a.clock.now = first.start + timedelta(seconds=1)
    agent.tick()
    assert agent.current is None and not a.log.exists()  # never plays a wrong file
    doc = agent.heartbeat(a.clock.now)
    assert doc["files"]["corrupt"] == [first.file]
    a.hub_clock.now = a.clock.now
    agents.collect(a.hub, a.hub.settings.station("st0"))
    with a.hub.db.read() as s:
        assert s.scalars(select(Delivery)).one().state == DeliveryState.QUEUED.value
    assert sum(o.delivered for o in deliver.deliver_due(a.hub)) == 1  # re-pushed
    a.clock.now = first.start + timedelta(minutes=3)  # still within the airing's grace
    agent.tick()
    wait_player(agent)
    agent.tick()
    assert a.log.read_text().count(first.file) == 1
    agent.close()


@pytest.mark.parametrize(("hours", "word"), [(2, "ahead"), (-2, "behind")])
def test_clock_skew_is_a_problem_and_a_clock_stepped_back_replays_nothing(
        site: Callable[..., Site], tmp_path: Path, hours: int, word: str) -> None:
    a = planned_month(site, tmp_path)
    agent = a.agent()
    agent.tick()
    first = agent.keeper.current.items[0]
    a.clock.now = first.start + timedelta(seconds=1)
    agent.tick()
    wait_player(agent)
    agent.tick()
    a.clock.now = first.start + timedelta(hours=hours)  # the station's clock is 2 h off
    agent.heartbeat(a.clock.now)
    a.hub_clock.now = first.start
    agents.collect(a.hub, a.hub.settings.station("st0"))
    [skew] = [p for p in find_problems(a.hub, "en") if p.code == "clock_skew"]
    assert f"min {word}" in skew.message and abs(int(skew.message.split()[3]) - 120) <= 1
    a.clock.now = first.start - timedelta(hours=1)  # and then stepped back
    for minutes in range(0, 70, 5):
        a.clock.now = first.start - timedelta(hours=1) + timedelta(minutes=minutes)
        agent.tick()
        wait_player(agent)
    agent.tick()
    assert a.log.read_text().splitlines().count(f"{a.cfg.media_dir}/{first.file}") == 1
    assert agent.journal.next_seq - 1 == 1  # one event; nothing lost, nothing doubled
    a.clock.now = first.start + timedelta(minutes=1)
    agent.heartbeat(a.clock.now)
    agents.collect(a.hub, a.hub.settings.station("st0"))
    assert not [p for p in find_problems(a.hub, "en") if p.code == "clock_skew"]
    agent.close()


def test_an_emergency_pre_empts_a_normal_airing_within_five_seconds(tmp_path: Path) -> None:
    from radiocast.agent.config import StationConfig

    media = tmp_path / "media"
    media.mkdir()
    log = tmp_path / "played.log"
    cfg = StationConfig(id="na-meo", media_dir=media, state_dir=tmp_path / "state",
                        player=f"echo start $(date +%s.%N) {{file}} >> {log}; sleep 30")
    normal_sha = media_file(media, "2026-11-chuyen-doi-so.mp3")
    urgent_sha = media_file(media, "2026-11-bao-lu.mp3")
    now = datetime.now(TZ)
    write_playbook(media, "na-meo", [
        {"airing_id": 1, "start": now.isoformat(), "file": "2026-11-chuyen-doi-so.mp3",
         "sha256": normal_sha, "duration_s": 30, "kind": "premiere", "priority": "normal"}])
    agent = Agent(cfg)
    stop = threading.Event()
    loop = threading.Thread(target=serve, args=(agent, stop, SdNotify()), daemon=True)
    loop.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not log.exists():
            time.sleep(0.05)
        assert log.exists()
        landed = time.time()
        write_playbook(media, "na-meo", [
            {"airing_id": 1, "start": now.isoformat(), "file": "2026-11-chuyen-doi-so.mp3",
             "sha256": normal_sha, "duration_s": 30, "kind": "premiere",
             "priority": "normal"},
            {"airing_id": 2, "start": datetime.now(TZ).isoformat(), "file": "2026-11-bao-lu.mp3",
             "sha256": urgent_sha, "duration_s": 30, "kind": "emergency",
             "priority": "emergency"}], version=2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and log.read_text().count("start") < 2:
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(timeout=30)
        agent.close()
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and "bao-lu" in lines[1]
    delay = float(lines[1].split()[1]) - landed
    print(f"\n[emergency] started {delay:.2f} s after its playbook landed")
    assert delay < 5.0
    events = [json.loads(x) for seg in sorted((media / "asrun").glob("*.jsonl"))
              for x in seg.read_text().splitlines()]
    assert [(e["airing_id"], e["status"]) for e in events][:1] == [(1, "interrupted")]
    assert "pre-empted by emergency #2" in events[0]["detail"]


@pytest.fixture(autouse=True)
def _no_stray_players() -> Iterator[None]:
    yield None
    subprocess.run(["pkill", "-f", "sleep 60 # "], check=False)


def test_the_hub_reads_only_segments_it_has_not_stored(site: Callable[..., Site],
                                                        tmp_path: Path) -> None:
    a = planned_month(site, tmp_path)
    agent = a.agent()
    agent.tick()
    for item in agent.keeper.current.items[:3]:
        a.clock.now = item.start + timedelta(seconds=1)
        agent.tick()
        wait_player(agent)
        agent.tick()
    st = a.hub.settings.station("st0")
    cache: dict[str, int] = {}
    first = agents.collect(a.hub, st, cache)
    assert (first.stored, first.duplicates) == (3, 0) and cache
    (a.cfg.media_dir / "asrun.ack").unlink()  # the agent never saw the acknowledgement
    again = agents.collect(a.hub, st, cache)
    assert (again.stored, again.duplicates) == (0, 0)  # nothing read twice
    forgetful = agents.collect(a.hub, st, {})  # a restarted hub re-reads, stores nothing twice
    assert (forgetful.stored, forgetful.duplicates) == (0, 3)
    agent.tick()
    assert agent.journal.backlog() == 0
    agent.close()


def test_at_rest_the_agent_wakes_only_for_changes_that_matter(tmp_path: Path) -> None:
    """A month of airings ahead, an acknowledgement on disk: its own reads of asrun.ack and the
    playbook, and its own status.json, never wake it; a new playbook does, at once."""
    from radiocast.agent.config import StationConfig
    from radiocast.agent.run import TICK_SECONDS

    media = tmp_path / "media"
    media.mkdir()
    cfg = StationConfig(id="na-meo", media_dir=media, state_dir=tmp_path / "state",
                        player="true {file}", heartbeat_seconds=5)
    sha = media_file(media, "2026-11-chuyen-doi-so.mp3")
    start = datetime.now(TZ) + timedelta(days=1)
    items = [{"airing_id": n, "start": (start + timedelta(hours=8 * n)).isoformat(),
              "file": "2026-11-chuyen-doi-so.mp3", "sha256": sha, "duration_s": 600,
              "kind": "replay", "priority": "normal"} for n in range(1, 91)]
    write_playbook(media, "na-meo", items)
    (media / "asrun.ack").write_text("0\n")
    agent = Agent(cfg)
    ticks: list[float] = []
    real_tick = agent.tick

    def counted() -> None:
        ticks.append(time.monotonic())
        real_tick()

    agent.tick = counted  # type: ignore[method-assign]
    stop = threading.Event()
    loop = threading.Thread(target=serve, args=(agent, stop, SdNotify()), daemon=True)
    loop.start()
    try:
        time.sleep(6)
        at_rest = len(ticks)
        write_playbook(media, "na-meo", items, version=2)  # the hub sends a new one
        time.sleep(0.5)
        woke = [t for t in ticks[at_rest:] if t > ticks[at_rest - 1] + 0.01]
    finally:
        stop.set()
        loop.join(timeout=10)
        agent.close()
    assert at_rest <= 6 / TICK_SECONDS + 2, f"{at_rest} ticks in 6 s at rest"
    assert woke and woke[0] - ticks[at_rest - 1] < TICK_SECONDS  # sooner than its own tick
    assert agent.keeper.current.version == 2
