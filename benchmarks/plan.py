"""Planning a nation's month, and what the daemon's loop costs when nothing has changed.

    python benchmarks/plan.py [--stations 3321] [--ticks 20] [--versions]

One programme, ready and delivered to every station, planned for December 2026 at 08:00 on
1 December (Asia/Ho_Chi_Minh) under an injected clock:
  first plan     `planning.plan_all`: build the month's plan and write every airing
  re-plan        the same with nothing changed (what the loop does every few minutes)
  no-change tick one pass of the daemon loop's steps (ingest, normalize, originals, airing
                 sync, station needs, problems) once the stations have been served; CPU time
                 of the process (time.process_time), median and max over --ticks; the
                 station look (`Contacts.step`) is forced on every tick (it runs once a second)
  late version   (--versions: every second station airs ["vi", "blt"]) the Thái version of
                 the programme arrives on the 5th and is delivered: the re-plan that gives it
                 the future turns of those stations (airings revised, none added or moved)
Also the hub's resident memory with every station configured (ru_maxrss).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402

from benchmarks.scale_db import write_config  # noqa: E402
from radiocast.airing import planning  # noqa: E402
from radiocast.app import App, open_app  # noqa: E402
from radiocast.core.models import DeliveryState  # noqa: E402
from radiocast.daemon import AiringCycle, Daemon  # noqa: E402
from radiocast.db import ops  # noqa: E402
from radiocast.db.schema import Airing, Delivery, Event  # noqa: E402
from radiocast.status.problems import ProblemLog  # noqa: E402
from tests.conftest import Clock, ready_programme  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stations", type=int, default=3321)
    ap.add_argument("--ticks", type=int, default=20)
    ap.add_argument("--versions", action="store_true")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="radiocast-plan-"))
    cfg = write_config(root, args.stations)
    if args.versions:  # every second station airs Thái too
        text = cfg.read_text(encoding="utf-8").split("[[stations]]")
        cfg.write_text("[[stations]]".join(
            part + ('languages = ["vi", "blt"]\n' if n % 2 == 0 and n else "")
            for n, part in enumerate(text)), encoding="utf-8")
    clock = Clock(datetime(2026, 12, 1, 1, tzinfo=UTC))
    t = time.perf_counter()
    app = open_app(cfg, clock=clock)
    opened = time.perf_counter() - t
    media = root / "p.mp3"
    media.write_bytes(b"\xff\xfb" * 1000)
    ready_programme(app, media, title="Chuyển đổi số tháng 12")
    with app.db.write() as s:
        for d in s.scalars(select(Delivery).where(Delivery.state == DeliveryState.QUEUED.value)):
            ops.mark_delivered(s, d, clock.now)
    t = time.perf_counter()
    changed = planning.plan_all(app)
    first = time.perf_counter() - t
    with app.db.read() as s:
        airings = s.scalar(select(func.count()).select_from(Airing))
    t = time.perf_counter()
    again = planning.plan_all(app)
    replan = time.perf_counter() - t
    late = _late_version(app, clock, root) if args.versions else None

    daemon = Daemon(app)
    contacts = daemon.contacts
    cycle = AiringCycle(app, contacts)
    problems = ProblemLog(app)
    steps = (daemon.step_ingest, daemon.step_normalize, daemon.step_originals, cycle.sync,
             problems.update)
    for step in steps:  # the first pass plans, schedules and reads problems
        step()
    mono = time.monotonic()
    contacts.published.update(contacts.changes)  # served: playbooks written, inventories and
    # outcomes read
    for st in app.settings.stations:
        contacts.last_inventory[st.id] = mono
        contacts.last_outcome[st.id] = mono
    cpu: list[float] = []
    for _ in range(args.ticks):
        c = time.process_time()
        for step in steps:
            step()
        contacts.last_look = -1e9
        contacts.step()
        cpu.append(time.process_time() - c)
    busy = len(contacts.busy)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cycle.shutdown()
    daemon.shutdown()
    app.close()
    print(f"{args.stations} stations, one programme, December 2026")
    print(f"  open (config + database)     {opened:8.3f} s")
    print(f"  first plan                   {first:8.3f} s  ({airings} airings, "
          f"{len(changed)} stations changed)")
    print(f"  re-plan, nothing changed     {replan:8.3f} s  ({len(again)} stations changed)")
    print(f"  no-change tick, CPU          {statistics.median(cpu) * 1000:8.1f} ms median, "
          f"{max(cpu) * 1000:.1f} ms max over {args.ticks} ticks ({busy} station visits "
          "started)")
    if late is not None:
        print(f"  late version re-plan         {late[0]:8.3f} s  ({late[1]} airings revised, "
              f"{late[2]} added)")
    print(f"  hub peak RSS                 {rss:8.0f} MiB")


def _late_version(app: App, clock: Clock, root: Path) -> tuple[float, int, int]:
    """The Thái version on the 5th: ready, delivered, planned. (seconds, revised, added)."""
    clock.now = datetime(2026, 12, 5, 1, tzinfo=UTC)
    media = root / "thai.mp3"
    media.write_bytes(b"\xff\xfb" * 1100)
    with app.db.read() as s:
        before = s.scalar(select(func.count()).select_from(Airing))
    ready_programme(app, media, title="Chuyển đổi số tháng 12", language="blt")
    with app.db.write() as s:
        for d in s.scalars(select(Delivery).where(Delivery.state == DeliveryState.QUEUED.value)):
            ops.mark_delivered(s, d, clock.now)
    t = time.perf_counter()
    planning.plan_all(app)
    took = time.perf_counter() - t
    with app.db.read() as s:
        revised = s.scalar(select(func.count()).select_from(Event).where(
            Event.action == "version"))
        after = s.scalar(select(func.count()).select_from(Airing))
    return took, revised or 0, (after or 0) - (before or 0)


if __name__ == "__main__":
    main()
