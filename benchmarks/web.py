"""The web page at a nation's size: the overview and a station page, server time, on a database
of N stations (3,321 by default, the number of commune-level units after the 2025 merger) with
a year of history, beside the same document built for `radiocast status --json` (the
baseline: what the page starts from).

    python benchmarks/web.py [--dir DIR] [--stations 3321] [--months 12] [--runs 5]

The database is built once per folder and reused: the year ending this month, one programme a
month delivered to every station, four airings a station a month (aired, one in 40 missed;
this month's still planned), written in bulk (the planner at this size is
benchmarks/plan.py's business, not this one's).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from datetime import UTC, datetime, timedelta  # noqa: E402

import httpx  # noqa: E402
from sqlalchemy import update  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from benchmarks.scale_db import write_config  # noqa: E402
from radiocast.app import open_app  # noqa: E402
from radiocast.core.models import AiringKind, AiringState, DeliveryState  # noqa: E402
from radiocast.core.months import local_month, next_month  # noqa: E402
from radiocast.db import ops  # noqa: E402
from radiocast.db.schema import Airing, Delivery  # noqa: E402
from radiocast.status.problems import build_status  # noqa: E402
from radiocast.web import accounts  # noqa: E402
from radiocast.web.app import build as build_web  # noqa: E402
from tests.conftest import Clock, ready_programme  # noqa: E402

PASSWORD = "benchmark-password-1"


def build(root: Path, n: int, months: int) -> Path:
    cfg = root / "radiocast.toml"
    if cfg.exists():
        return cfg
    root.mkdir(parents=True, exist_ok=True)
    write_config(root, n)
    now = datetime.now(UTC)
    clock = Clock(now)
    app = open_app(cfg, clock=clock)
    tz = app.settings.general.tz
    month = local_month(now, tz)
    for _ in range(months - 1):
        month = f"{int(month[:4]) - 1}-12" if month.endswith("-01") else \
            f"{month[:4]}-{int(month[5:]) - 1:02d}"
    media = root / "media"
    media.mkdir(exist_ok=True)
    ids = [st.id for st in app.settings.stations]
    for _ in range(months):
        start = datetime.fromisoformat(f"{month}-01T06:00:00").replace(tzinfo=tz)
        clock.now = start.astimezone(UTC)
        f = media / f"{month}.mp3"
        f.write_bytes(b"\xff\xfb" * 1000 + month.encode())
        pid = ready_programme(app, f, title=f"Chuyển đổi số tháng {month}", month=month)
        with app.db.write() as s:
            s.execute(update(Delivery).where(Delivery.programme_id == pid).values(
                state=DeliveryState.DELIVERED.value, delivered_at=clock.now))
            rows = [(pid, sid, AiringKind.PREMIERE if k == 0 else AiringKind.REPLAY,
                     start + timedelta(days=1 + 7 * k, minutes=n % 40), None)
                    for n, sid in enumerate(ids) for k in range(4)]
            new = ops.add_airings(s, rows, month, clock.now)
            past = [a for a, r in zip(new, rows, strict=True) if r[3] < now]
            s.execute(update(Airing).where(Airing.id.in_(past)).values(
                state=AiringState.AIRED.value, detail="exit 0"))
            s.execute(update(Airing).where(Airing.id.in_(past[7::40])).values(
                state=AiringState.MISSED.value, detail="station unreachable"))
        month = next_month(month)
    app.close()
    return cfg


def timed(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm: templates compiled, caches filled
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path)
    ap.add_argument("--stations", type=int, default=3321)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    root = a.dir or Path(tempfile.gettempdir()) / f"radiocast-web-{a.stations}-{a.months}"
    t0 = time.perf_counter()
    cfg = build(root, a.stations, a.months)
    print(f"database: {root} ({time.perf_counter() - t0:.0f} s to build or open)")
    app = open_app(cfg)
    if not any(u["name"] == "bench" for u in accounts.listing(app)):
        accounts.add(app, "bench", "operator", PASSWORD)
    station = app.settings.stations[len(app.settings.stations) // 2].id
    with TestClient(build_web(app), base_url="http://127.0.0.1") as client:
        page = client.get("/login")
        token = page.text.split('name="csrf" value="')[1].split('"')[0]
        r = client.post("/login", data={"name": "bench", "password": PASSWORD, "csrf": token},
                        follow_redirects=False)
        assert r.status_code == 303, r.text[:300]

        def get(path: str) -> Callable[[], httpx.Response]:
            def go() -> httpx.Response:
                res = client.get(path)
                assert res.status_code == 200, (path, res.status_code)
                return res
            return go
        base = timed(lambda: build_status(app, "vi"), a.runs)
        rows = [("build_status (the CLI's status document)", base),
                ("GET /  (overview)", timed(get("/"), a.runs)),
                (f"GET /stations/{station}", timed(get(f"/stations/{station}"), a.runs)),
                ("GET /api/status", timed(get("/api/status"), a.runs))]
    print(f"\n{a.stations} stations, {a.months} months of history; median of {a.runs} runs, "
          "server time (in-process, no network)")
    print(f"{'':44} {'seconds':>8} {'vs baseline':>12} {'goal 0.5 s':>11}")
    for name, secs in rows:
        print(f"{name:44} {secs:8.3f} {secs / base:11.2f}x {'ok' if secs < 0.5 else 'OVER':>11}")


if __name__ == "__main__":
    main()
