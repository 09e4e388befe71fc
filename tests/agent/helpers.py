"""A hub with one agent station over real sshd, and an agent on the same folder."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from radiocast.agent.agent import Agent
from radiocast.agent.config import StationConfig
from radiocast.app import App, open_app
from radiocast.db.schema import Airing

from ..conftest import Clock, Site

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SLOTS = '["06:00-06:45", "11:00-11:45", "17:30-18:15", "20:00-20:45"]'


@dataclass
class AgentSite:
    site: Site
    hub: App
    hub_clock: Clock
    cfg: StationConfig
    clock: Clock
    log: Path

    def agent(self) -> Agent:
        return Agent(self.cfg, clock=self.clock)


def agent_site(site: object, tmp_path: Path, start: datetime, extra: str = "",
               player: str | None = None) -> AgentSite:
    s = site(1, station_extra='playout = "agent"', extra=extra)  # type: ignore[operator]
    cfg_path = s.app.settings.path
    assert cfg_path is not None
    hub_clock = Clock(start)
    hub = open_app(cfg_path, clock=hub_clock)
    log = tmp_path / "played.log"
    cfg = StationConfig(id="st0", media_dir=s.remotes[0], state_dir=tmp_path / "agent-state",
                        player=player or f"echo {{file}} >> {log}", timezone="Asia/Ho_Chi_Minh")
    return AgentSite(s, hub, hub_clock, cfg, Clock(start), log)


def wait_player(agent: Agent, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while agent.current is not None and agent.current.player.poll() is None:
        assert time.monotonic() < deadline, "the player did not finish"
        time.sleep(0.02)


def airings(app: App) -> list[Airing]:
    with app.db.read() as s:
        return list(s.scalars(select(Airing).order_by(Airing.planned_at, Airing.id)))


def states(app: App) -> dict[int, str]:
    return {a.id: a.state for a in airings(app)}


def play_through(agent: Agent, clock: Clock, until: datetime) -> int:
    """Run the agent's clock forward to `until`, stopping at every airing; returns how many
    airings it started."""
    started = 0
    items = [i for i in agent.keeper.current.items if i.start <= until]
    for item in items:
        clock.now = item.start + timedelta(seconds=1)
        agent.tick()
        if agent.current is not None:
            started += 1
        wait_player(agent)
        agent.tick()
    clock.now = until
    agent.tick()
    return started


def write_playbook(media: Path, station: str, items: list[dict[str, object]],
                   version: int = 1) -> None:
    doc = {"format": 1, "station_id": station, "version": version, "generated_at": "",
           "timezone": "Asia/Ho_Chi_Minh", "airings": items}
    tmp = media / ".playbook.tmp"
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, media / "playbook.json")


def media_file(media: Path, name: str, size: int = 20_000) -> str:
    data = os.urandom(size)
    (media / name).write_bytes(data)
    return hashlib.sha256(data).hexdigest()
