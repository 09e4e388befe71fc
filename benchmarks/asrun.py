"""Proof-of-play collection: bytes on the wire and time, against the size of the events.

    python benchmarks/asrun.py [--stations 300]

(1) one station back after 30 days offline: 4 airings a day = 120 events;
(2) a month at N stations (default 300): 4 events each, one contact per station.
Events are written by the agent's own journal; the hub collects them over a real sshd on
127.0.0.1 through a counting proxy. "contact" counts everything on the wire including the SSH
handshake; "as-run" counts only what collection adds to a contact that is open anyway (the
hub also delivers and publishes over it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from radiocast.agent.journal import Journal, event_id  # noqa: E402
from radiocast.agent.ledger import Ledger  # noqa: E402
from radiocast.airing import agents  # noqa: E402
from radiocast.app import App, open_app  # noqa: E402
from radiocast.core.models import AiringKind  # noqa: E402
from radiocast.db import ops  # noqa: E402
from radiocast.stations.transport import StationLink  # noqa: E402
from tests.conftest import ready_programme, station_toml  # noqa: E402
from tests.netproxy import Proxy  # noqa: E402
from tests.sshd import Sshd, keygen, station_dir  # noqa: E402

START = datetime(2026, 11, 1, 1, tzinfo=UTC)


def site(root: Path, srv: Sshd, key: Path, proxy: Proxy, n: int) -> tuple[App, list[Path]]:
    kh = root / "known_hosts"
    kh.write_text(srv.known_hosts_line().replace(f":{srv.port} ", f":{proxy.port} "))
    remotes = [station_dir(root / f"st{i}") for i in range(n)]
    toml = "".join(station_toml(f"st{i}", srv, remotes[i], key, kh, 'playout = "agent"',
                                proxy.port) for i in range(n))
    (root / "radiocast.toml").write_text(
        '[radiocast]\ndata_dir = "data"\n[ingest]\ndrop_dir = "drop"\n' + toml)
    return open_app(root / "radiocast.toml", clock=lambda: START + timedelta(days=31)), remotes


def backlog(app: App, sid: str, media: Path, state: Path, n: int, pid: int) -> int:
    """`n` aired events for `n` airings, written by the agent's journal; returns their bytes."""
    ledger = Ledger(state)
    journal = Journal(media, ledger)
    with app.db.write() as s:
        ids = [ops.add_airing(s, pid, sid, "2026-11", AiringKind.REPLAY,
                              START + timedelta(hours=6 * k), START).id for k in range(n)]
    for k, aid in enumerate(ids):
        at = START + timedelta(hours=6 * k)
        journal.append({
            "event_id": event_id(sid, aid), "station_id": sid, "airing_id": aid,
            "file": "2026-11-chuyen-doi-so-thang-nay.mp3", "sha256": "a" * 64,
            "scheduled_at": at.isoformat(), "started_at": at.isoformat(),
            "finished_at": (at + timedelta(minutes=14)).isoformat(), "status": "aired",
            "detail": "exit 0", "clock": {"boot_id": "5f1c" * 8, "monotonic_s": 1000.0 + k}},
            day=f"{at:%Y-%m-%d}")
    ledger.close()
    return sum(p.stat().st_size for p in (media / "asrun").glob("*.jsonl"))


def measure(app: App, proxy: Proxy, sids: list[str]) -> tuple[int, int, float, float, int]:
    """(contact bytes, as-run bytes, contact seconds, as-run seconds, events stored)."""
    total = asrun = 0
    t_total = t_asrun = 0.0
    stored = 0
    for sid in sids:
        before = proxy.upstream_bytes + proxy.downstream_bytes
        t0 = time.perf_counter()
        with StationLink(app.settings.station(sid), app.settings.delivery,
                         compress=True) as link:
            opened = proxy.upstream_bytes + proxy.downstream_bytes
            t1 = time.perf_counter()
            got = agents.collect_on(app, link)
            t_asrun += time.perf_counter() - t1
            asrun += proxy.upstream_bytes + proxy.downstream_bytes - opened
        t_total += time.perf_counter() - t0
        total += proxy.upstream_bytes + proxy.downstream_bytes - before
        stored += got.stored
    return total, asrun, t_total, t_asrun, stored


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stations", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        key = root / "id_ed25519"
        keygen(key)
        srv = Sshd(root / "sshd", Path(str(key) + ".pub"))
        srv.start()
        proxy = Proxy(srv.port)
        rows = []
        try:
            for label, n_st, per in (("(1) 1 station, 30 days offline (120 events)", 1, 120),
                                     (f"(2) {args.stations} stations, a month (4 events each)",
                                      args.stations, 4)):
                case = root / f"case{n_st}"
                case.mkdir()
                app, remotes = site(case, srv, key, proxy, n_st)
                f = case / "p.mp3"
                f.write_bytes(b"\xff\xfb" * 500)
                pid = ready_programme(app, f, month="2026-11")
                events = sum(backlog(app, f"st{i}", remotes[i], case / f"state{i}", per, pid)
                             for i in range(n_st))
                total, asrun, t_total, t_asrun, stored = measure(
                    app, proxy, [f"st{i}" for i in range(n_st)])
                assert stored == n_st * per, (stored, n_st * per)
                rows.append((label, events, total, asrun, t_total, t_asrun))
                app.close()
        finally:
            proxy.close()
            srv.stop()
    print(f"{'case':<46}{'events':>10}{'contact':>12}{'ratio':>7}{'as-run':>11}{'ratio':>7}"
          f"{'time':>9}{'as-run':>9}")
    for label, events, total, asrun, t_total, t_asrun in rows:
        print(f"{label:<46}{events / 1024:>8.1f}KB{total / 1024:>10.1f}KB{total / events:>6.2f}×"
              f"{asrun / 1024:>9.1f}KB{asrun / events:>6.2f}×{t_total:>8.2f}s{t_asrun:>8.2f}s")


if __name__ == "__main__":
    main()
