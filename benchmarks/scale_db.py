"""A province-sized database: 300 stations, one programme a month for a year (2026), planned
by the real planner and aired month by month under an injected clock. Built once per folder.

    python benchmarks/scale_db.py DIR [--stations 300] [--months 12]

Prints the config path. Used by benchmarks/status_profile.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import select  # noqa: E402

from radiocast.airing.planning import plan_all  # noqa: E402
from radiocast.app import App, open_app  # noqa: E402
from radiocast.core.models import AiringState, DeliveryState  # noqa: E402
from radiocast.db import ops  # noqa: E402
from radiocast.db.schema import Airing, Delivery  # noqa: E402
from tests.conftest import Clock, ready_programme  # noqa: E402


def write_config(root: Path, n: int, url: str = "") -> Path:
    stations = "".join(f'[[stations]]\nid = "xa-{i:03d}"\nname = "Xã số {i}"\n'
                       f'host = "xa-{i:03d}.thanhhoa.invalid"\n' for i in range(n))
    cfg = root / "radiocast.toml"
    db = f'database_url = "{url}"\n' if url else ""
    cfg.write_text(f'[radiocast]\ndata_dir = "data"\n{db}[ingest]\ndrop_dir = "drop"\n' +
                   stations, encoding="utf-8")
    return cfg


def air_month(app: App, clock: Clock, month_end: datetime) -> None:
    """Everything planned before `month_end` aired as planned (one in 40 missed)."""
    clock.now = month_end
    with app.db.write() as s:
        rows = list(s.scalars(select(Airing).where(Airing.state == AiringState.PLANNED.value,
                                                   Airing.planned_at < month_end)))
        for n, a in enumerate(rows):
            if n % 40 == 7:
                ops.finish_airing(s, a, AiringState.MISSED, a.planned_at, "station unreachable")
                continue
            ops.start_airing(s, a.id, a.planned_at)
            ops.finish_airing(s, a, AiringState.AIRED, a.planned_at + timedelta(minutes=20),
                              "exit 0")


def build(root: Path, n: int, months: int = 12, url: str = "") -> Path:
    """`url`: an empty PostgreSQL database to fill (default: SQLite in `root`)."""
    cfg = root / "radiocast.toml"
    if cfg.exists():
        return cfg
    root.mkdir(parents=True, exist_ok=True)
    write_config(root, n, url)
    clock = Clock(datetime(2026, 1, 1, 1, tzinfo=UTC))
    app = open_app(cfg, clock=clock)
    media = root / "media"
    media.mkdir(exist_ok=True)
    for m in range(1, months + 1):
        clock.now = datetime(2026, m, 1, 1, tzinfo=UTC)  # 08:00 local on the 1st
        f = media / f"2026-{m:02d}.mp3"
        f.write_bytes(b"\xff\xfb" * 1000 + bytes([m]))
        ready_programme(app, f, title=f"Chuyển đổi số tháng {m}")
        with app.db.write() as s:
            for d in s.scalars(select(Delivery).where(
                    Delivery.state == DeliveryState.QUEUED.value)):
                ops.mark_delivered(s, d, clock.now)
        plan_all(app)
        if m < months:
            air_month(app, clock, datetime(2026, m + 1, 1, tzinfo=UTC) - timedelta(hours=8))
    app.close()
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("--stations", type=int, default=300)
    ap.add_argument("--months", type=int, default=12)
    args = ap.parse_args()
    t0 = time.monotonic()
    print(build(args.dir, args.stations, args.months))
    print(f"built in {time.monotonic() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
