"""The station agent at rest: share of one core while nothing is due, with a month of state.

    python benchmarks/agent_idle.py [--seconds 20]

A media folder with a month of airings ahead (120, all in the future), their file, an
acknowledgement and 30 days of as-run segments; the agent's real loop (`serve`, inotify and
all) runs for the given time in this process, and the process's CPU time is measured. Printed
side by side: the agent as it is (it wakes on changes only, and at most once a second on its
own) and the agent woken by every inotify event, its own reads included (how it was before).
Goal: under 1 % of a core.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from radiocast.agent.agent import Agent  # noqa: E402
from radiocast.agent.config import StationConfig  # noqa: E402
from radiocast.agent.run import WAKE_ON, serve  # noqa: E402
from radiocast.core.sysd import SdNotify  # noqa: E402

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
FILE = "2026-12-chuyen-doi-so.mp3"


def month_of_state(root: Path) -> StationConfig:
    media = root / "media"
    (media / "asrun").mkdir(parents=True)
    data = os.urandom(500_000)
    (media / FILE).write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    start = datetime.now(TZ) + timedelta(days=1)
    items = [{"airing_id": n, "start": (start + timedelta(hours=6 * n)).isoformat(),
              "file": FILE, "sha256": sha, "duration_s": 900, "kind": "replay",
              "priority": "normal"} for n in range(1, 121)]
    doc = {"format": 1, "station_id": "na-meo", "version": 1, "generated_at": "",
           "timezone": "Asia/Ho_Chi_Minh", "airings": items}
    (media / "playbook.json").write_text(json.dumps(doc))
    (media / "asrun.ack").write_text("0\n")
    for day in range(30):  # a month offline: its proof of play waits for the hub
        (media / "asrun" / f"2026-11-{day + 1:02d}.jsonl").write_text(
            json.dumps({"seq": day + 1, "event_id": "x", "airing_id": 1000 + day}) + "\n")
    return StationConfig(id="na-meo", media_dir=media, state_dir=root / "state",
                         player="true {file}")


def cpu_share(wake_on: frozenset[str] | None, seconds: float) -> tuple[float, int]:
    """(share of one core, ticks) of the agent's loop at rest for `seconds`."""
    with tempfile.TemporaryDirectory() as tmp:
        agent = Agent(month_of_state(Path(tmp)))
        ticks = [0]
        real = agent.tick

        def counted() -> None:
            ticks[0] += 1
            real()

        agent.tick = counted  # type: ignore[method-assign]
        stop = threading.Event()
        loop = threading.Thread(target=serve, args=(agent, stop, SdNotify(), wake_on))
        loop.start()
        time.sleep(2)  # start-up: the first ticks hash the file and write the status
        cpu0, wall0, ticks0 = time.process_time(), time.monotonic(), ticks[0]
        time.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        n = ticks[0] - ticks0
        stop.set()
        loop.join(timeout=30)
        agent.close()
    return cpu / wall, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    now, now_ticks = cpu_share(WAKE_ON, args.seconds)
    before, before_ticks = cpu_share(None, args.seconds)
    print(f"agent at rest for {args.seconds:g} s, a month of state (120 airings ahead, "
          "30 unacknowledged segments)")
    print(f"{'':28} {'share of a core':>16} {'ticks':>8} {'ticks/s':>8}")
    for name, share, ticks in (("now (changes only, ≤1/s)", now, now_ticks),
                               ("every inotify event (before)", before, before_ticks)):
        print(f"{name:28} {share * 100:15.2f}% {ticks:8d} {ticks / args.seconds:8.1f}")
    ratio = now / before if before else float("nan")
    print(f"ratio now / before: {ratio:.3f}; goal: under 1 % of a core "
          f"({'met' if now < 0.01 else 'NOT met'})")


if __name__ == "__main__":
    main()
