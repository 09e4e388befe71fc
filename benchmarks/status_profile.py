"""`status` on a province-sized database: how long it takes, and proof (a profile) that it runs
no planner code — it reads the shortfalls the planner recorded.

    python benchmarks/status_profile.py [--dir DIR] [--stations 300]

Builds the database with benchmarks/scale_db.py when DIR has none (about a minute).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.scale_db import build  # noqa: E402
from radiocast.app import open_app  # noqa: E402
from radiocast.status.problems import build_status  # noqa: E402

PLANNER_FILES = ("radiocast/airing/plan.py", "radiocast/airing/planning.py")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path)
    ap.add_argument("--stations", type=int, default=300)
    args = ap.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="radiocast-scale-"))
    cfg = build(root, args.stations)
    at = datetime(2026, 12, 10, 3, tzinfo=UTC)
    app = open_app(cfg, clock=lambda: at, migrate=False)
    build_status(app)  # warm: imports, first connection
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    doc = build_status(app)
    prof.disable()
    took = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    planner = {f"{Path(f).name}:{fn}": v[1] for (f, _l, fn), v in stats.stats.items()  # type: ignore[attr-defined]
               if f.endswith(PLANNER_FILES)}
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(8)
    cli = [sys.executable, "-m", "radiocast", "--config", str(cfg), "status", "--json"]
    t1 = time.perf_counter()
    subprocess.run(cli, check=True, capture_output=True, cwd=REPO)
    cli_took = time.perf_counter() - t1
    print(f"database: {args.stations} stations, 12 months of 2026, in {root}")
    print(f"status (in process, {len(doc['deliveries'])} deliveries, "
          f"{len(doc['problems'])} problems): {took:.3f} s")
    print(f"`radiocast status --json` as a command (interpreter start included): "
          f"{cli_took:.3f} s")
    print(f"calls into the planner ({', '.join(PLANNER_FILES)}): {sum(planner.values())}"
          + (f" {planner}" if planner else ""))
    print("profile, top by cumulative time:")
    print("\n".join(out.getvalue().splitlines()[:30]))


if __name__ == "__main__":
    main()
