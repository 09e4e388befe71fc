"""The web page at a nation's size: the overview and a station page, server time, on a database
of N stations (3,321 by default, the number of commune-level units after the 2025 merger) with
a year of history, beside the same document built for `radiocast status --json` (the
baseline: what the page starts from).

    python benchmarks/web.py [--dir DIR] [--stations 3321] [--months 12] [--runs 5]

The database is built once per folder (benchmarks/scale_db.py) and reused.
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

import httpx  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from benchmarks.scale_db import build  # noqa: E402
from radiocast.app import open_app  # noqa: E402
from radiocast.status.problems import build_status  # noqa: E402
from radiocast.web import accounts  # noqa: E402
from radiocast.web.app import build as build_web  # noqa: E402

PASSWORD = "benchmark-password-1"


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
