"""The restore drill (operations.md): back the hub up, lose a day of work, restore. Every airing
planned afterwards airs once, and acknowledgements move on."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from radiocast.agent.agent import Agent
from radiocast.airing import agents
from radiocast.airing.planning import plan_all
from radiocast.airing.playbook import publish_playbook
from radiocast.app import App, open_app
from radiocast.core.models import AiringState
from radiocast.db.schema import Airing, Event, Station
from radiocast.stations import deliver

from .. import pg
from ..conftest import Site, ready_programme
from .helpers import airings, play_through
from .test_agent import planned_month


def backup(app: App, to: Path) -> None:
    """The documented backup, taken while the hub runs."""
    url = app.settings.database_url
    if url.startswith("sqlite"):
        subprocess.run(["sqlite3", url.split("///", 1)[1], f".backup {to}"], check=True)
    else:
        subprocess.run([str(pg.tool("pg_dump")), "-Fc", "-f", str(to),
                        url.replace("+psycopg", "")], check=True)


def restore(app: App, copy: Path) -> None:
    """The documented restore, the hub stopped."""
    url = app.settings.database_url
    app.close()
    if url.startswith("sqlite"):
        subprocess.run(["sqlite3", url.split("///", 1)[1], f".restore {copy}"], check=True)
    else:
        subprocess.run([str(pg.tool("pg_restore")), "--clean", "--if-exists",
                        "--single-transaction", "-d", url.replace("+psycopg", ""), str(copy)],
                       check=True, capture_output=True)


def contact(hub: App, agent: Agent) -> agents.Collected:
    """One contact: the agent's heartbeat read, its events stored, the acknowledgement and
    the playbook written (the daemon writes it when the plan or the hub's numbers moved)."""
    agent.heartbeat(agent.clock())
    got = agents.collect(hub, hub.settings.station("st0"))
    assert publish_playbook(hub, "st0")
    agent.tick()
    return got


def test_restore_drill_backup_lose_a_day_restore(site: Callable[..., Site],
                                                  tmp_path: Path) -> None:
    if shutil.which("sqlite3") is None and not pg.wanted():
        raise AssertionError("the drill uses the sqlite3 shell: scripts/test installs sqlite3")
    a = planned_month(site, tmp_path)
    agent = a.agent()
    agent.tick()
    day = timedelta(days=1)
    # day 1: the month's first airings play; the hub hears of them; then the nightly backup
    play_through(agent, a.clock, a.clock.now + day)
    a.hub_clock.now = a.clock.now
    contact(a.hub, agent)
    acked_before = agent.journal.acked()
    copy = tmp_path / "backup.db"
    backup(a.hub, copy)
    # day 2, the day that will be lost: a second programme, planned, published and aired
    a.hub_clock.now = a.clock.now = a.clock.now + timedelta(minutes=5)
    second = tmp_path / "second.mp3"
    second.write_bytes(os.urandom(30_000))
    ready_programme(a.hub, second, title="Bản tin chiều", month=a.hub_clock.now.strftime("%Y-%m"))
    assert sum(o.delivered for o in deliver.deliver_due(a.hub)) == 1
    plan_all(a.hub)
    assert publish_playbook(a.hub, "st0")
    agent.tick()
    play_through(agent, a.clock, a.clock.now + day)
    a.hub_clock.now = a.clock.now
    contact(a.hub, agent)
    lost_top = int(agent.ledger.db.execute("SELECT MAX(airing_id) FROM played").fetchone()[0])
    acked = agent.journal.acked()
    assert acked == agent.journal.next_seq - 1 > 0
    # the disk dies: the hub is restored from last night's copy, and staff drop the second
    # programme again
    restore(a.hub, copy)
    cfg = a.hub.settings.path
    assert cfg is not None
    hub = open_app(cfg, clock=a.hub_clock)
    a.hub_clock.now = a.clock.now = a.clock.now + timedelta(minutes=5)
    ready_programme(hub, second, title="Bản tin chiều", month=a.hub_clock.now.strftime("%Y-%m"))
    deliver.deliver_due(hub)
    plan_all(hub)
    with hub.db.read() as s:
        reused = list(s.scalars(select(Airing.id).where(
            Airing.state == AiringState.PLANNED.value, Airing.id <= lost_top)))
    assert reused, "the restored hub numbers new airings again from the backup's"
    publish_playbook(hub, "st0")
    # contacts: the hub finds itself behind the station, moves its numbers past the station's,
    # and plans again what its agent would never play
    for _ in range(3):
        contact(hub, agent)
    with hub.db.read() as s:
        st = s.get_one(Station, "st0")
        assert st.asrun_acked == acked and st.airing_id_seen == lost_top
        assert s.scalar(select(Event.id).where(Event.action == "hub_behind")) is not None
        ahead = list(s.scalars(select(Airing).where(
            Airing.state == AiringState.PLANNED.value, Airing.planned_at > a.clock.now)))
    again = len(set(reused) & agent.ledger.known())
    # nothing planned carries an id the station has used; the hub numbers past them
    assert ahead and not {x.id for x in ahead} & agent.ledger.known()
    assert set(reused) & agent.ledger.known(), "the drill had ids numbered twice"
    assert max(x.id for x in airings(hub)) > lost_top
    assert agent.keeper.error == ""
    assert {i.airing_id for i in agent.keeper.current.items if i.start > a.clock.now} == \
        {x.id for x in ahead}, "the agent holds the restored hub's plan"
    # the rest of the month: every airing planned after the restore airs once
    log_before = len(a.log.read_text().splitlines())
    end = max(x.planned_at for x in ahead) + timedelta(hours=2)
    play_through(agent, a.clock, end)
    a.hub_clock.now = a.clock.now
    for _ in range(2):
        contact(hub, agent)
    played = a.log.read_text().splitlines()[log_before:]
    assert len(played) == len(ahead)
    done = {x.id: x.state for x in airings(hub)}
    assert [x.id for x in ahead if done[x.id] != AiringState.AIRED.value] == []
    with agent.ledger.db:
        twice = agent.ledger.db.execute(
            "SELECT airing_id FROM played GROUP BY airing_id HAVING COUNT(*) > 1").fetchall()
    assert twice == []
    # acknowledgements moved on: nothing waits at the station
    with hub.db.read() as s:
        assert s.get_one(Station, "st0").asrun_acked == agent.journal.next_seq - 1
    assert agent.journal.backlog() == 0 and not agent.journal.segments()
    print(f"\n[restore drill] the lost day's top airing id {lost_top}; {len(reused)} id(s) "
          f"numbered again by the restored hub, {again} of them already used by the station "
          f"and planned again; {len(ahead)} airings after the restore played once each; "
          f"acknowledged up to seq {agent.journal.next_seq - 1} (the backup had {acked_before})")
    hub.close()
    agent.close()
