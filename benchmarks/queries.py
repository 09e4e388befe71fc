"""The listing commands on a province's and a nation's database: every answer from indexed
queries, none per row.

    python benchmarks/queries.py [--dir DIR] [--runs 5] [--postgresql SERVER_URL]

Builds (once per DIR, with benchmarks/scale_db.py) 300 stations × 12 months of 2026 and
3,321 stations × 1 month, then times, at 10 December 2026:
  in process   the service function the command calls (median of --runs, warm)
  command      `python -m radiocast … --json` (interpreter start and imports included;
               at the real date, so `status` looks at today)
and counts the SQL statements each one runs (a query per row would show as hundreds).
Goals: each under 0.5 s; `report --period 2026` under 2 s.

With `--postgresql postgresql+psycopg://user@127.0.0.1:5432` the same databases are also
built on that server (databases `radiocast_bench_province`, `radiocast_bench_nation`, created
when missing) and every row is printed for SQLite and PostgreSQL side by side, with the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import event  # noqa: E402

from benchmarks.scale_db import build  # noqa: E402
from radiocast.app import App, open_app  # noqa: E402
from radiocast.db import views  # noqa: E402
from radiocast.report.build import build_report  # noqa: E402
from radiocast.status.problems import build_status  # noqa: E402

AT = datetime(2026, 12, 10, 3, tzinfo=UTC)


def commands(app: App, year_db: bool) -> dict[str, tuple[list[str], Callable[[], Any]]]:
    tz = app.settings.general.tz
    month = "2026-12" if year_db else "2026-01"
    period = "2026" if year_db else "2026-01"

    def schedule() -> Any:
        with app.db.read() as s:
            return views.list_airings(s, tz, month=month)

    def deliveries() -> Any:
        with app.db.read() as s:
            return views.list_deliveries(s, tz)

    def programmes() -> Any:
        with app.db.read() as s:
            return views.list_programmes(s, tz)

    return {
        "status": (["status", "--json"], lambda: build_status(app)),
        f"schedule --month {month}": (["schedule", "--month", month, "--json"], schedule),
        "deliveries": (["deliveries", "--json"], deliveries),
        "programmes": (["programmes", "--json"], programmes),
        f"report --period {period}": (["report", "--period", period, "--format", "json"],
                                      lambda: build_report(app, period=period)),
    }


def count_statements(app: App, fn: Callable[[], Any]) -> int:
    n = 0

    def on(*_a: Any) -> None:
        nonlocal n
        n += 1

    event.listen(app.db.engine, "before_cursor_execute", on)
    try:
        fn()
    finally:
        event.remove(app.db.engine, "before_cursor_execute", on)
    return n


def measure(cfg: Path, label: str, year_db: bool, runs: int) -> list[tuple[str, ...]]:
    app = open_app(cfg, clock=lambda: AT, migrate=False)
    rows = []
    for name, (argv, fn) in commands(app, year_db).items():
        fn()  # warm
        walls = []
        for _ in range(runs):
            t = time.perf_counter()
            fn()
            walls.append(time.perf_counter() - t)
        stmts = count_statements(app, fn)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "radiocast", "--config", str(cfg), *argv],
                       check=True, capture_output=True, cwd=REPO)
        cli = time.perf_counter() - t
        rows.append((label, name, f"{statistics.median(walls):.3f}", f"{cli:.3f}", str(stmts)))
    app.close()
    return rows


def pg_database(server: str, name: str) -> str:
    import psycopg

    dsn = server.replace("postgresql+psycopg://", "postgresql://").rstrip("/") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() \
                is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server.rstrip('/')}/{name}"


def _ratio(a: str, b: str) -> str:
    """b/a, or "—" when either is under a millisecond (noise, not a ratio)."""
    return f"{float(b) / float(a):.2f}" if min(float(a), float(b)) >= 0.001 else "—"


def both(root: Path, runs: int, tag: str, url: Callable[[str], str]) -> list[tuple[str, ...]]:
    t0 = time.perf_counter()
    province = build(root / f"{tag}province", 300, 12, url("province"))
    nation = build(root / f"{tag}nation", 3321, 1, url("nation"))
    print(f"{tag or 'sqlite '}databases built in {time.perf_counter() - t0:.0f} s ({root})",
          file=sys.stderr)
    return measure(province, "300 × 12 months", True, runs) + \
        measure(nation, "3,321 × 1 month", False, runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--postgresql", metavar="SERVER_URL", default="")
    args = ap.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="radiocast-queries-"))
    rows = both(root, args.runs, "", lambda _name: "")
    head: tuple[str, ...] = ("database", "command", "in process s", "command s",
                             "SQL statements")
    if args.postgresql:
        pg = both(root, args.runs, "pg-",
                  lambda name: pg_database(args.postgresql, f"radiocast_bench_{name}"))
        head = (*head[:2], "SQLite in process s", "PostgreSQL in process s", "PG/SQLite",
                "SQLite command s", "PostgreSQL command s", "SQL statements")
        rows = [(a[0], a[1], a[2], b[2], _ratio(a[2], b[2]), a[3],
                 b[3], f"{a[4]}/{b[4]}") for a, b in zip(rows, pg, strict=True)]
    w = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(r)))


if __name__ == "__main__":
    main()
