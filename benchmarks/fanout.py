"""SFTP fan-out: radiocast vs OpenSSH's sftp, side by side, against a loopback sshd.

    python benchmarks/fanout.py [--quick]
    python benchmarks/fanout.py --stations 300 [--size-mb 0.96]

(1) one 20 MB file to one station; (2) a 7 MB file to 50 stations, 8 in parallel (vs
`xargs -P 8 sftp`); (3) a 2 MB file to 10 stations, 8 in parallel, each through a proxy
throttled to 1 Mbit/s (vs the ideal: 2 rounds of size/bandwidth); (4) a connection cut at 50 %:
bytes sent in total over the file size.

With --stations N: one programme to N stations on one loopback sshd (MaxStartups and
MaxSessions raised for the load), side by side: radiocast's `run --once` (delivery, planning,
playbooks; the programme is already normalized), `xargs -P 8 sftp` (put to a temporary name,
then rename) and `xargs -P 8 rsync --partial`, each to its own N fresh folders; then where
radiocast's time went, summed over its threads.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import select  # noqa: E402

from radiocast.app import App, open_app  # noqa: E402
from radiocast.db.schema import Delivery  # noqa: E402
from radiocast.stations import deliver  # noqa: E402
from tests.conftest import ready_programme, station_toml  # noqa: E402
from tests.netproxy import Proxy  # noqa: E402
from tests.sshd import Sshd, keygen, station_dir  # noqa: E402


def make_site(root: Path, srv: Sshd, key: Path, n: int, ports: list[int] | None = None,
              parallel: int = 8) -> tuple[App, list[Path]]:
    site = root / f"site-{time.monotonic_ns()}"
    site.mkdir()
    kh = site / "known_hosts"
    lines = srv.known_hosts_line()
    for p in set(ports or []):
        lines += srv.known_hosts_line().replace(f":{srv.port} ", f":{p} ")
    kh.write_text(lines)
    remotes = [station_dir(site / f"st{i}") for i in range(n)]
    toml = "".join(station_toml(f"st{i}", srv, remotes[i], key, kh, "",
                                ports[i] if ports else None) for i in range(n))
    (site / "radiocast.toml").write_text(
        f'[radiocast]\ndata_dir = "data"\n[ingest]\ndrop_dir = "drop"\n'
        f"[delivery]\nmax_parallel = {parallel}\nretry_backoff_seconds = [1]\n" + toml)
    return open_app(site / "radiocast.toml"), remotes


def bytes_sent(app: App) -> int:
    with app.db.read() as s:
        return sum(d.bytes_sent for d in s.scalars(select(Delivery)))


def sftp_put(srv: Sshd, key: Path, kh: Path, local: Path, remote: Path) -> None:
    subprocess.run(["sftp", "-q", "-b", "-", "-i", str(key), "-P", str(srv.port),
                    "-o", f"UserKnownHostsFile={kh}", "-o", "StrictHostKeyChecking=yes",
                    f"{srv.user}@127.0.0.1"], input=f"put {local} {remote}/x.mp3\n",
                   text=True, check=True, capture_output=True)


def timed(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t


class Phases:
    """Thread time spent in named functions, summed over all threads (wraps them in place)."""

    def __init__(self) -> None:
        self.total: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.span: dict[str, tuple[float, float]] = {}  # first start, last end (perf_counter)
        self.lock = threading.Lock()
        self.undo: list[tuple[object, str, object]] = []

    def wrap(self, owner: object, attr: str, label: str) -> None:
        real = getattr(owner, attr)

        def timed_call(*a: object, **k: object) -> object:
            t = time.perf_counter()
            try:
                return real(*a, **k)
            finally:
                self.add(label, t)

        setattr(owner, attr, timed_call)
        self.undo.append((owner, attr, real))

    def wrap_context(self, owner: object, attr: str, label: str) -> None:
        """The same for a method returning a context manager: the time inside the block."""
        real = getattr(owner, attr)
        phases = self

        @contextlib.contextmanager
        def timed_cm(*a: object, **k: object) -> Iterator[object]:
            t = time.perf_counter()
            try:
                with real(*a, **k) as value:
                    yield value
            finally:
                phases.add(label, t)

        setattr(owner, attr, timed_cm)
        self.undo.append((owner, attr, real))

    def add(self, label: str, start: float) -> None:
        end = time.perf_counter()
        with self.lock:
            self.total[label] = self.total.get(label, 0.0) + end - start
            self.calls[label] = self.calls.get(label, 0) + 1
            first, _ = self.span.get(label, (start, end))
            self.span[label] = (min(first, start), end)

    def restore(self) -> None:
        for owner, attr, real in reversed(self.undo):
            setattr(owner, attr, real)


def machine_cpu() -> float:
    """CPU seconds the whole machine has spent (user + nice + system), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return (int(fields[0]) + int(fields[1]) + int(fields[2])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def scale(root: Path, n: int, size_mb: float) -> None:
    """radiocast vs xargs -P 8 sftp / rsync, one programme to n stations."""
    from radiocast.daemon import Daemon
    from radiocast.db.engine import Database
    from radiocast.stations import transport

    key = root / "id_ed25519"
    keygen(key)
    srv = Sshd(root / "sshd", Path(str(key) + ".pub"), max_startups=f"{n + 50}:30:{n + 100}")
    srv.start()
    try:
        kh = root / "kh"
        kh.write_text(srv.known_hosts_line())
        prog = root / "p.mp3"
        prog.write_bytes(os.urandom(int(size_mb * 1_000_000)))
        app, remotes = make_site(root, srv, key, n)
        ready_programme(app, prog)
        phases = Phases()
        phases.wrap(transport.StationLink, "connect", "connect (TCP, key exchange, auth, SFTP)")
        phases.wrap(transport.StationLink, "upload", "upload (write, verify, rename)")
        phases.wrap(deliver, "sync_inventory", "inventory (list, stat)")
        phases.wrap(transport.StationLink, "write_small", "small files (playbook)")
        phases.wrap_context(Database, "write", "database writes (wait, BEGIN … COMMIT)")
        daemon = Daemon(app)
        cpu0, own0 = machine_cpu(), own_cpu()
        ours = timed(daemon.run_once)
        cpu_all, cpu_own = machine_cpu() - cpu0, own_cpu() - own0
        phases.restore()
        ok = sum(1 for d in remotes if any(p.suffix == ".mp3" for p in d.iterdir()))
        app.close()
        cmd = (f"-i {key} -P {srv.port} -o UserKnownHostsFile={kh} "
               f"-o StrictHostKeyChecking=yes {srv.user}@127.0.0.1")
        dsts = [station_dir(root / f"x{i}") for i in range(n)]
        cpu0 = machine_cpu()
        sftp_s = timed(lambda: subprocess.run(
            ["xargs", "-P", "8", "-I", "{}", "sh", "-c",
             f"printf 'put {prog} {{}}/.p.part\\nrename {{}}/.p.part {{}}/p.mp3\\n' | "
             f"sftp -q -b - {cmd}"], input="\n".join(map(str, dsts)), text=True, check=True,
            capture_output=True))
        sftp_cpu = machine_cpu() - cpu0
        sftp_ok = sum(1 for d in dsts if (d / "p.mp3").exists())
        rsync_s = rsync_ok = 0.0
        if shutil.which("rsync"):
            rdsts = [station_dir(root / f"r{i}") for i in range(n)]
            ssh = (f"ssh -i {key} -p {srv.port} -o UserKnownHostsFile={kh} "
                   "-o StrictHostKeyChecking=yes")
            rsync_s = timed(lambda: subprocess.run(
                ["xargs", "-P", "8", "-I", "{}", "rsync", "--partial", "-e", ssh, str(prog),
                 f"{srv.user}@127.0.0.1:{{}}/p.mp3"], input="\n".join(map(str, rdsts)),
                text=True, check=True, capture_output=True))
            rsync_ok = sum(1 for d in rdsts if (d / "p.mp3").exists())
    finally:
        srv.stop()
    print(f"one {size_mb:.2f} MB programme to {n} stations (one loopback sshd)")
    print(f"{'tool':<28} {'wall s':>8} {'stations ok':>12} {'radiocast ×':>12}")
    print(f"{'radiocast run --once':<28} {ours:>8.2f} {ok:>12} {1.0:>12.2f}")
    print(f"{'xargs -P 8 sftp put+rename':<28} {sftp_s:>8.2f} {sftp_ok:>12} "
          f"{ours / sftp_s:>12.2f}")
    if rsync_s:
        print(f"{'xargs -P 8 rsync --partial':<28} {rsync_s:>8.2f} {rsync_ok:>12.0f} "
              f"{ours / rsync_s:>12.2f}")
    print()
    print(f"CPU, whole machine: radiocast {cpu_all:.1f} s (its own process {cpu_own:.1f} s, "
          f"sshd and its children {cpu_all - cpu_own:.1f} s); sftp {sftp_cpu:.1f} s")
    print(f"radiocast, thread time by phase (summed over threads; wall {ours:.2f} s)")
    for label, total in sorted(phases.total.items(), key=lambda kv: -kv[1]):
        print(f"  {label:<46} {total:>8.2f} s  {phases.calls[label]:>6} calls")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller case (2): 10 stations")
    ap.add_argument("--stations", type=int, default=0,
                    help="only the scale case: one programme to this many stations")
    ap.add_argument("--size-mb", type=float, default=0.96)
    args = ap.parse_args()
    if shutil.which("sftp") is None:
        sys.exit("needs the OpenSSH sftp client")
    if args.stations:
        with tempfile.TemporaryDirectory() as tmp:
            scale(Path(tmp), args.stations, args.size_mb)
        return
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        key = root / "id_ed25519"
        keygen(key)
        srv = Sshd(root / "sshd", Path(str(key) + ".pub"))
        srv.start()
        try:
            kh = root / "kh"
            kh.write_text(srv.known_hosts_line())
            big = root / "p20.mp3"
            big.write_bytes(os.urandom(20_000_000))

            # (1) one 20 MB file, one station
            app, remotes = make_site(root, srv, key, 1)
            ready_programme(app, big)
            ours = timed(lambda: deliver.deliver_due(app))
            dst = station_dir(root / "sftp1")
            theirs = timed(lambda: sftp_put(srv, key, kh, big, dst))
            rows.append(("(1) 20 MB → 1 station", f"{ours:.2f} s", f"{theirs:.2f} s (sftp)",
                         f"throughput {theirs / ours:.2f}× OpenSSH"))
            app.close()

            # (2) 7 MB to 50 stations, 8 in parallel
            n = 10 if args.quick else 50
            mid = root / "p7.mp3"
            mid.write_bytes(os.urandom(7_000_000))
            app, remotes = make_site(root, srv, key, n)
            ready_programme(app, mid)
            ours = timed(lambda: deliver.deliver_due(app))
            dsts = [station_dir(root / f"x{i}") for i in range(n)]
            script = "\n".join(str(d) for d in dsts)
            cmd = (f"sftp -q -b - -i {key} -P {srv.port} -o UserKnownHostsFile={kh} "
                   f"-o StrictHostKeyChecking=yes {srv.user}@127.0.0.1")
            theirs = timed(lambda: subprocess.run(
                ["xargs", "-P", "8", "-I", "{}", "sh", "-c",
                 f"echo 'put {mid} {{}}/x.mp3' | {cmd}"], input=script, text=True,
                check=True, capture_output=True))
            ok = sum(1 for d in remotes if any(p.suffix == ".mp3" for p in d.iterdir()))
            rows.append((f"(2) 7 MB → {n} stations, 8 parallel", f"{ours:.2f} s ({ok} ok)",
                         f"{theirs:.2f} s (xargs -P 8 sftp)",
                         f"throughput {theirs / ours:.2f}× OpenSSH"))
            app.close()

            # (3) 2 MB to 10 stations through 1 Mbit/s proxies, 8 in parallel
            small = root / "p2.mp3"
            small.write_bytes(os.urandom(2_000_000))
            proxies = [Proxy(srv.port, rate_bps=1_000_000) for _ in range(10)]
            app, remotes = make_site(root, srv, key, 10, [p.port for p in proxies])
            ready_programme(app, small)
            ours = timed(lambda: deliver.deliver_due(app))
            ideal = 2 * small.stat().st_size * 8 / 1_000_000
            rows.append(("(3) 2 MB → 10 stations at 1 Mbit/s", f"{ours:.1f} s",
                         f"{ideal:.1f} s (ideal)", f"{ours / ideal:.2f}× ideal"))
            for p in proxies:
                p.close()
            app.close()

            # (4) connection cut at 50 %
            proxy = Proxy(srv.port)
            proxy.cut_after = big.stat().st_size // 2
            app, remotes = make_site(root, srv, key, 1, [proxy.port])
            ready_programme(app, big)
            deliver.deliver_due(app)
            time.sleep(1.3)
            deliver.deliver_due(app)
            with app.db.read() as s:
                state = s.scalars(select(Delivery)).one().state
            ratio = bytes_sent(app) / big.stat().st_size
            rows.append(("(4) 20 MB, cut at 50 %", f"{bytes_sent(app) / 1e6:.1f} MB sent",
                         f"{big.stat().st_size / 1e6:.1f} MB file", f"{ratio:.2f} ({state})"))
            proxy.close()
            app.close()
        finally:
            srv.stop()
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    print(f"{'case':<{w[0]}}  {'radiocast':<{w[1]}}  {'baseline':<{w[2]}}  ratio")
    for r in rows:
        print(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}")


if __name__ == "__main__":
    main()
