"""A command typed at the hub, as a user meets it: `radiocast --help`, `status`, `schedule` and
`programmes` on a database with a month of 300 stations, timed from the shell (the
interpreter's start included), the median of several runs.

    python benchmarks/startup.py [--stations 300] [--runs 7] [--baseline REV]

Side by side: the baseline revision (a git worktree of REV, by default the main before the
start-up work), this tree with the hub running (`radiocast run`: the command asks it on its
socket), and this tree with no hub (the command reads the database itself). Each tree builds
its own database with its own code (benchmarks/scale_db.py). Goal: each under 0.35 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL = 0.35
COMMANDS = (["--help"], ["status"], ["schedule"], ["programmes"])
BASELINE = "64bfe08"  # main before #35's start-up work


def timed(code: Path, config: Path, args: list[str], runs: int, hub: bool) -> float:
    env = {**os.environ, "PYTHONPATH": str(code), "RADIOCAST_NO_HUB_ANSWER": "" if hub else "1"}
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "radiocast", "--config", str(config), *args],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                       check=True, cwd=config.parent)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def build(code: Path, root: Path, stations: int) -> Path:
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run([sys.executable, str(code / "benchmarks" / "scale_db.py"), str(root),
                          "--stations", str(stations), "--months", "1"], env=env,
                         capture_output=True, text=True, check=True, cwd=code).stdout
    return Path(next(line for line in out.splitlines() if line.endswith(".toml")))


def start_hub(config: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    hub = subprocess.Popen([sys.executable, "-m", "radiocast", "--config", str(config), "run"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                           cwd=config.parent)
    sock = config.parent / "data" / "hub.sock"
    deadline = time.monotonic() + 60
    while not sock.exists():
        if time.monotonic() > deadline or hub.poll() is not None:
            raise SystemExit("the hub did not start answering")
        time.sleep(0.2)
    time.sleep(2)  # its first tick (recovery, a round) done
    return hub


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stations", type=int, default=300)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--baseline", default=BASELINE)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base_code = root / "baseline"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-f", "--detach",
                        str(base_code), args.baseline], check=True, capture_output=True)
        try:
            base_cfg = build(base_code, root / "db-baseline", args.stations)
            cfg = build(REPO, root / "db-now", args.stations)
            floor = statistics.median(
                _bare() for _ in range(args.runs))
            base = {tuple(c): timed(base_code, base_cfg, c, args.runs, False) for c in COMMANDS}
            cold = {tuple(c): timed(REPO, cfg, c, args.runs, False) for c in COMMANDS}
            hub = start_hub(cfg)
            try:
                warm = {tuple(c): timed(REPO, cfg, c, args.runs, True) for c in COMMANDS}
            finally:
                hub.terminate()
                hub.wait(timeout=30)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                            str(base_code)], check=False, capture_output=True)
    print(f"{args.stations} stations, a month of airings; median of {args.runs} runs; "
          f"`python -c pass` takes {floor:.3f} s\n")
    print(f"{'command':<14}{'baseline ' + args.baseline:>18}{'now, hub running':>18}"
          f"{'ratio':>8}{'now, no hub':>14}{'ratio':>8}{'goal':>7}")
    met = True
    for c in COMMANDS:
        key = tuple(c)
        b, w, n = base[key], warm[key], cold[key]
        met &= w <= GOAL
        print(f"{' '.join(c):<14}{b:>17.3f}s{w:>17.3f}s{w / b:>7.2f}x{n:>13.3f}s{n / b:>7.2f}x"
              f"{'met' if w <= GOAL else 'NOT':>7}")
    print(f"\nwith the hub running every command is {'under' if met else 'NOT under'} "
          f"{GOAL} s")
    return 0 if met else 1


def _bare() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
