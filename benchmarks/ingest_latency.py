"""Time from a file's last write to its programme row, minus settle_seconds (20 files).

Runs the real watchdog observer and the daemon's claim step on a temporary folder:
    python benchmarks/ingest_latency.py [--settle 2] [--files 20] [--polling]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from radiocast.app import open_app
from radiocast.core.months import local_month
from radiocast.db.schema import Programme
from radiocast.intake import ingest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--polling", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "radiocast.toml").write_text(
            f'[radiocast]\ndata_dir = "data"\n[ingest]\ndrop_dir = "drop"\n'
            f"settle_seconds = {args.settle}\npolling = {str(args.polling).lower()}\n",
            encoding="utf-8")
        app = open_app(root / "radiocast.toml")
        drop = ingest.DropFolder(app)
        drop.start()
        stop = threading.Event()

        def loop() -> None:  # the daemon's ingest step, ticking as the daemon does
            while not stop.is_set():
                for path in drop.poll(time.monotonic()):
                    ingest.claim_file(app, path)
                    drop.forget(path)
                stop.wait(0.05)

        t = threading.Thread(target=loop)
        t.start()
        latencies = []
        for i in range(args.files):
            month = local_month(app.clock(), app.settings.general.tz)
            path = app.settings.ingest.drop_dir / f"{month} Chương trình {i:02d}.mp3"
            with open(path, "wb") as fh:
                fh.write(os.urandom(256 * 1024))
            last_write = time.monotonic()
            while True:
                with app.db.read() as s:
                    n = s.scalar(select(func.count(Programme.id)))
                if n == i + 1:
                    break
                time.sleep(0.005)
            latencies.append(time.monotonic() - last_write - args.settle)
        stop.set()
        t.join()
        drop.stop()
        app.close()
    print(f"observer: {'polling' if args.polling else 'inotify'}; settle_seconds = {args.settle}")
    print(f"files: {len(latencies)}")
    print(f"latency minus settle, median: {statistics.median(latencies) * 1000:.0f} ms")
    print(f"latency minus settle, worst:  {max(latencies) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
