"""A cold round, as a user meets it: staff drop one programme, and a fresh `radiocast run
--once` ingests it (normalize included), delivers it to N stations over real SSH (ssh-command
playout, the content verified by `sha256sum` at the station before the rename) and plans and
publishes the month; side by side with `xargs -P 8 sftp` sending the same normalized file to
the same N accounts (put to a temporary name, then rename: no verification).

    python benchmarks/round.py [N] [--runs 3] [--minutes 5]

One loopback sshd (MaxStartups raised for the load), N station folders. Each run starts from a
fresh site (an empty database, empty station folders) and a fresh interpreter: cold. Printed:
both times per run, the medians and their ratio (goal: radiocast ≤ 0.75× xargs sftp).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.fanout import machine_cpu  # noqa: E402
from tests.conftest import noisy_programme, station_toml  # noqa: E402
from tests.sshd import Sshd, keygen, station_dir  # noqa: E402

GOAL = 0.75


def programme(path: Path, minutes: float) -> Path:
    """A speech-like stereo MP3 as staff save it (128 kb/s, 44.1 kHz): a swelling tone with
    pauses over pink noise."""
    return noisy_programme(path, minutes * 60)


def site(root: Path, srv: Sshd, key: Path, n: int) -> tuple[Path, list[Path]]:
    root.mkdir()
    kh = root / "known_hosts"
    kh.write_text(srv.known_hosts_line())
    remotes = [station_dir(root / f"st{i:03d}") for i in range(n)]
    toml = "".join(station_toml(f"xa-{i:03d}", srv, remotes[i], key, kh) for i in range(n))
    cfg = root / "radiocast.toml"
    cfg.write_text('[radiocast]\ndata_dir = "data"\n[ingest]\ndrop_dir = "drop"\n'
                   "settle_seconds = 0.2\n[schedule]\nlead_minutes = 0\n"
                   "[delivery]\nmax_parallel = 8\nretry_backoff_seconds = [1]\n" + toml)
    (root / "drop").mkdir()
    return cfg, remotes


def ours(cfg: Path, prog: Path, remotes: list[Path]) -> tuple[float, int, Path]:
    """Drop the programme and time a cold `run --once`: (seconds, stations holding it, the
    normalized file)."""
    drop = cfg.parent / "drop" / "2026-12 Chuyen doi so.mp3"
    drop.write_bytes(prog.read_bytes())
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "radiocast", "--config", str(cfg), "run", "--once"],
                   cwd=cfg.parent, check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)})
    wall = time.perf_counter() - t0
    held = [next((p for p in d.iterdir() if p.suffix == ".mp3"), None) for d in remotes]
    got = [p for p in held if p is not None]
    if not got:
        raise SystemExit("radiocast delivered nothing: see its log (run it by hand)")
    return wall, len(got), got[0]


def xargs_sftp(srv: Sshd, key: Path, kh: Path, normalized: Path, dsts: list[Path]) -> float:
    cmd = (f"-i {key} -P {srv.port} -o UserKnownHostsFile={kh} "
           f"-o StrictHostKeyChecking=yes {srv.user}@127.0.0.1")
    t0 = time.perf_counter()
    subprocess.run(["xargs", "-P", "8", "-I", "{}", "sh", "-c",
                    f"printf 'put {normalized} {{}}/.p.part\\nrename {{}}/.p.part "
                    f"{{}}/p.mp3\\n' | sftp -q -b - {cmd}"], input="\n".join(map(str, dsts)),
                   text=True, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    missing = [d for d in dsts if not (d / "p.mp3").exists()]
    if missing:
        raise SystemExit(f"sftp missed {len(missing)} stations")
    return wall


def children_cpu() -> float:
    """CPU seconds of this process's children that have ended (the hub side of each tool)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def tree_cpu(srv: Sshd) -> float:
    """CPU seconds of sshd and of the sessions it has reaped (they count when they end)."""
    f = Path(f"/proc/{srv.proc.pid}/stat").read_text().rsplit(")", 1)[1].split() \
        if srv.proc else []
    return sum(int(x) for x in f[11:15]) / os.sysconf("SC_CLK_TCK") if f else 0.0


def phases(root: Path, srv: Sshd, key: Path, n: int, prog: Path) -> None:
    """One more round, in this process, with the time of each part (summed over threads)
    and when each stage ended: where a cold round's time goes."""
    from benchmarks.fanout import Phases, own_cpu
    from radiocast.airing import planning
    from radiocast.app import open_app
    from radiocast.daemon import Daemon
    from radiocast.db.engine import Database
    from radiocast.intake import programmes
    from radiocast.stations import deliver, transport

    cfg, _ = site(root / "phases", srv, key, n)
    (cfg.parent / "drop" / "2026-12 Chuyen doi so.mp3").write_bytes(prog.read_bytes())
    t0 = time.perf_counter()
    app = open_app(cfg)
    opened = time.perf_counter() - t0
    p = Phases()
    p.wrap(programmes, "normalize_programme", "normalize (ffmpeg, meter, encode, verify)")
    p.wrap(transport.StationLink, "connect", "connect (TCP, key exchange, auth, SFTP)")
    p.wrap(transport.StationLink, "upload", "upload (write, remote sha256, rename)")
    p.wrap(deliver, "sync_inventory", "inventory (list, stat)")
    p.wrap_context(Database, "write", "database writes (wait, BEGIN … COMMIT)")
    p.wrap(transport.StationLink, "write_small", "small files (sha256, playbook)")
    p.wrap(planning, "plan_all", "plan the month")
    cpu0, own0, sshd0 = machine_cpu(), own_cpu(), tree_cpu(srv)
    t1 = time.perf_counter()
    Daemon(app).run_once()
    wall = time.perf_counter() - t1
    busy, own = machine_cpu() - cpu0, own_cpu() - own0
    p.restore()
    app.close()  # the sessions end: sshd has reaped them, their CPU is counted
    time.sleep(0.5)
    sshd = tree_cpu(srv) - sshd0
    print(f"\nin-process round: open the app {opened:.2f} s, run_once {wall:.2f} s; the "
          f"machine's CPU {busy:.1f} s of {wall * (os.cpu_count() or 1):.1f} s, this "
          f"process {own:.1f} s, sshd and its sessions {sshd:.1f} s; thread time by part "
          "(summed over threads), and when the part first started and last ended (s after "
          "the start):")
    for label, total in sorted(p.total.items(), key=lambda kv: -kv[1]):
        first, last = p.span[label]
        print(f"  {label:<46} {total:>8.2f} s  {p.calls[label]:>6} calls  "
              f"{first - t1:>6.2f} → {last - t1:>6.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("stations", nargs="?", type=int, default=300)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--phases", action="store_true",
                    help="then one round in-process, with where its time went")
    args = ap.parse_args()
    n = args.stations
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        key = root / "id_ed25519"
        keygen(key)
        srv = Sshd(root / "sshd", Path(str(key) + ".pub"),
                   max_startups=f"{n + 50}:30:{n + 100}")
        srv.start()
        try:
            prog = programme(root / "drop.mp3", args.minutes)
            for run in range(args.runs):
                cfg, remotes = site(root / f"run{run}", srv, key, n)
                c0, k0 = machine_cpu(), children_cpu()
                wall, ok, normalized = ours(cfg, prog, remotes)
                c1, k1 = machine_cpu(), children_cpu()
                dsts = [station_dir(root / f"run{run}" / f"x{i:03d}") for i in range(n)]
                sftp = xargs_sftp(srv, key, cfg.parent / "known_hosts", normalized, dsts)
                c2, k2 = machine_cpu(), children_cpu()
                rows.append((wall, ok, sftp, normalized.stat().st_size))
                print(f"run {run + 1}: radiocast {wall:.2f} s ({ok}/{n} stations; CPU: the "
                      f"machine {c1 - c0:.1f} s, radiocast and its ffmpeg {k1 - k0:.1f} s), "
                      f"xargs -P 8 sftp {sftp:.2f} s (CPU: the machine {c2 - c1:.1f} s, the "
                      f"sftp and ssh clients {k2 - k1:.1f} s), ratio {wall / sftp:.2f}",
                      flush=True)
            if args.phases:
                phases(root, srv, key, n, prog)
        finally:
            srv.stop()
    if not rows:  # --runs 0 --phases: only where the time goes
        return 0
    ours_s = statistics.median(r[0] for r in rows)
    sftp_s = statistics.median(r[2] for r in rows)
    print(f"\none {args.minutes:g}-minute programme ({rows[0][3] / 1e6:.2f} MB normalized) to "
          f"{n} stations, cold, median of {len(rows)}")
    print(f"{'tool':<44}{'wall s':>9}")
    print(f"{'radiocast run --once (ingest, normalize, deliver':<44}")
    print(f"{'  verified, plan, playbooks)':<44}{ours_s:>9.2f}")
    print(f"{'xargs -P 8 sftp (put + rename)':<44}{sftp_s:>9.2f}")
    ratio = ours_s / sftp_s
    print(f"ratio {ratio:.2f} (goal ≤ {GOAL}): {'met' if ratio <= GOAL else 'NOT met'}")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
