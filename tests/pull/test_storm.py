"""300 pull stations come back after a provincial outage at once: with exponential backoff
and per-station jitter they all sync, and the hub's sshd (default MaxStartups 10:30:100)
refuses only a few of their connections (each retried)."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from pathlib import Path

from radiocast.agent.sync import HubSync
from radiocast.core.months import local_month, next_month

from ..agent.helpers import TZ
from .helpers import needs_root, pull_world
from .test_pull import publish

pytestmark = needs_root
N = 300


def test_300_agents_reconnect_after_an_outage(tmp_path: Path) -> None:
    month = next_month(local_month(datetime.now(TZ), TZ))
    start = datetime.fromisoformat(f"{month}-01T00:05:00").replace(tzinfo=TZ)
    ids = [f"xa-{n:03d}" for n in range(N)]
    with pull_world(tmp_path, ids, start, max_startups="10:30:100", log_level="INFO",
                    bulk=True) as w:
        publish(w, 64_000, month)
        syncs = []
        for sid in ids:
            cfg = w.agent_config(sid, poll_seconds=5, retry_min_seconds=1.0,
                                 retry_max_seconds=20.0, connect_timeout_seconds=30.0)
            (cfg.media_dir / "status.json").write_text(json.dumps(
                {"station_id": sid, "time": start.isoformat(), "held": {}}))
            syncs.append(HubSync(cfg))
        w.sshd.stop()  # the outage: every agent finds the hub gone and backs off
        stop = threading.Event()
        threads = [threading.Thread(target=s.run, args=(stop,), daemon=True) for s in syncs]
        for t in threads:
            t.start()
        time.sleep(12)
        failed_in_outage = sum(s.stats.failures for s in syncs)
        log_before = w.sshd.log.read_text() if w.sshd.log.exists() else ""
        began = time.monotonic()
        w.sshd.start()  # the hub is back
        deadline = began + 240
        name = f"{month}-chuyen-doi-so.mp3"
        while time.monotonic() < deadline:
            done = sum(1 for s in syncs if s.stats.files == 1 and s.stats.failures == 0)
            if done == N:
                break
            time.sleep(0.5)
        took = time.monotonic() - began
        stop.set()
        for t in threads:
            t.join(timeout=30)
        log = w.sshd.log.read_text()[len(log_before):]
        dropped = log.count("past MaxStartups")
        connects = sum(s.stats.connects for s in syncs)
        print(f"\n{N} agents: {failed_in_outage} failed tries during the outage; all synced "
              f"{took:.1f} s after the hub came back; {connects} connections; {dropped} "
              "refused by MaxStartups")
        assert all((s.cfg.media_dir / name).exists() for s in syncs)
        assert all((w.root / sid / "inbox" / "status.json").exists() for sid in ids)
        assert failed_in_outage >= N
        # the backoff here is squeezed into 1–20 s (defaults 10–900 s). Measured on 2-core
        # machines: 3, 6 and 7 refused, each retried. MaxStartups 10:30:100 refuses at random
        # once 10 logins are pending, so agents dialling in step would lose a large share;
        # 5 % still tells the two apart without failing on a busy machine.
        assert dropped <= N // 20, log[-2000:]
