"""A pull station's month on the wire: bytes per station per month for a 15-minute programme.

    sudo python benchmarks/pull.py [--minutes 15] [--polls 300]

A real hub sshd (chrooted account, made by `radiocast stations provision --apply`) and a real
agent, through a counting proxy on 127.0.0.1. Each part is measured separately, in TCP
payload bytes both ways (what the SSH connection carries; IP/TCP headers come on top, about
52 bytes per packet): the connection itself (handshake, login, SFTP start), the programme
file, the playbook, the as-run of the month's airings (upload + acknowledgement), the status
the agent sends at least hourly, and the polls (one `stat` of the outbox each). Polls are
measured over `--polls` real polls and scaled to a 30-day month at poll_seconds 30 and 300.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from radiocast.agent.agent import Agent  # noqa: E402
from radiocast.agent.sync import HubSync  # noqa: E402
from radiocast.airing import agents  # noqa: E402
from radiocast.airing.planning import plan_all  # noqa: E402
from radiocast.airing.playbook import publish_playbook  # noqa: E402
from radiocast.core.months import local_month, next_month  # noqa: E402
from radiocast.stations import deliver  # noqa: E402
from tests.agent.helpers import TZ, play_through  # noqa: E402
from tests.conftest import Clock, ready_programme  # noqa: E402
from tests.netproxy import Proxy  # noqa: E402
from tests.pull.helpers import pull_world  # noqa: E402

MONTH_S = 30 * 86400
AIRINGS = 4  # the directive: one premiere and at least three replays a month
SCHEDULE = "[schedule]\nreplays_per_month = 3\nmin_gap_days = 3\nlead_minutes = 0\n"


def wire(proxy: Proxy) -> int:
    return proxy.upstream_bytes + proxy.downstream_bytes


def measure(minutes: float, polls: int) -> dict[str, float]:
    month = next_month(local_month(datetime.now(TZ), TZ))
    start = datetime.fromisoformat(f"{month}-01T00:05:00").replace(tzinfo=TZ)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, \
            pull_world(Path(tmp), ["na-meo"], start, extra=SCHEDULE) as w:
        size = int(minutes * 60 * 64_000 / 8)  # 64 kb/s mono MP3: incompressible bytes
        prog = Path(tmp) / "p.mp3"
        prog.write_bytes(os.urandom(size))
        ready_programme(w.hub, prog, month=month)
        deliver.deliver_due(w.hub)
        proxy = Proxy(w.sshd.port)
        cfg = w.agent_config("na-meo", port=proxy.port)
        clock = Clock(start)
        agent = Agent(cfg, clock=clock)
        sync = HubSync(cfg, agent.news.set)
        st = w.hub.settings.station("na-meo")

        sync._connect()
        out["connection"] = wire(proxy)
        mark = wire(proxy)
        sync.sync_once()  # the programme comes down
        out["programme file"] = wire(proxy) - mark
        out["programme bytes"] = size
        agent.tick()
        sync.status_sent = None
        mark = wire(proxy)
        sync.sync_once()  # the status that says it is here
        status_bytes = wire(proxy) - mark
        agents.collect(w.hub, st)
        plan_all(w.hub)
        publish_playbook(w.hub, "na-meo")
        mark = wire(proxy)
        sync.sync_once()
        out["playbook"] = wire(proxy) - mark
        agent.tick()
        end = max(i.start for i in agent.keeper.current.items) + timedelta(hours=1)
        played = play_through(agent, clock, end)
        mark = wire(proxy)
        sync.sync_once()  # as-run up
        agents.collect(w.hub, st)
        sync.sync_once()  # ack down
        agent.tick()
        sync.sync_once()  # the inbox let go
        out["as-run (month)"] = (wire(proxy) - mark) * AIRINGS / max(played, 1)
        out["airings played"] = played
        out["status (one upload)"] = status_bytes
        mark = wire(proxy)
        for _ in range(20):
            sync._alive()
        out["alive (one)"] = (wire(proxy) - mark) / 20
        mark = wire(proxy)
        for _ in range(polls):
            sync.sync_once()
        out["poll"] = (wire(proxy) - mark) / polls
        sync.close()
        agent.close()
        proxy.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--polls", type=int, default=300)
    args = ap.parse_args()
    m = measure(args.minutes, args.polls)
    prog = m["programme bytes"]
    print(f"one {args.minutes:.0f}-minute programme: {prog / 1e6:.2f} MB; one poll "
          f"{m['poll']:.0f} B; one status upload {m['status (one upload)']:.0f} B; one "
          f"alive {m['alive (one)']:.0f} B; connection {m['connection']:.0f} B")
    print()
    print("| per station, 30-day month | poll 30 s | poll 300 s |")
    print("|---|---|---|")
    rows: dict[str, tuple[float, float]] = {}
    for poll_s in (30, 300):
        polls = MONTH_S / poll_s
        # daily, plus each change (file held, each airing's outcome); "alive" every hour
        status = (30 + 1 + AIRINGS) * m["status (one upload)"]
        alive = MONTH_S / 3600 * m["alive (one)"]
        parts = {
            "programme file": m["programme file"],
            "playbook": m["playbook"],
            f"as-run ({AIRINGS} airings, with acks)": m["as-run (month)"],
            "connection (one a day: NAT or link drops)": 30 * m["connection"],
            "status (daily and on change)": status,
            "alive (one rename an hour)": alive,
            "polling (one stat per poll)": polls * m["poll"],
        }
        parts["overhead: polling + status + alive + connections"] = (
            parts["polling (one stat per poll)"] + status + alive + 30 * m["connection"])
        parts["total"] = sum(v for k, v in parts.items() if not k.startswith("overhead"))
        for k, v in parts.items():
            rows.setdefault(k, (0.0, 0.0))
            rows[k] = (v, rows[k][1]) if poll_s == 30 else (rows[k][0], v)
    for k, (a, b) in rows.items():
        print(f"| {k} | {a / 1e3:,.0f} kB ({a / prog:.1%}) | {b / 1e3:,.0f} kB ({b / prog:.1%}) |")
    polling = rows["polling (one stat per poll)"][1] / prog
    over = rows["overhead: polling + status + alive + connections"][1] / prog
    print(f"\ngoal at 300 s: polling under 10 % of the programme: {polling:.1%} — "
          f"{'met' if polling < 0.10 else 'NOT met'}; with status, alive and a daily "
          f"reconnection: {over:.1%}")


if __name__ == "__main__":
    main()
