"""The whole pipeline with real OpenSSH sshd stations and a real daemon: drop → report."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from radiocast.app import open_app
from radiocast.core.models import AiringState, DeliveryState, ProgrammeState
from radiocast.db.schema import Airing, Delivery, Programme

from .conftest import SAMPLES, Site
from .test_airing import next_window, set_zone_and_play


def wait_for(cond: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_drop_to_report(site: Callable[..., Site], tmp_path: Path) -> None:
    tzname, start = next_window()
    window = f"{start:%H:%M}-{start + timedelta(minutes=15):%H:%M}"
    s = site(2, extra=f'[schedule]\nslots = ["{window}"]\nlead_minutes = 0\nmin_gap_days = 3')
    cfg = s.app.settings.path
    assert cfg is not None
    logs = [r / "asrun.log" for r in s.remotes]
    set_zone_and_play(cfg, tzname, [f"echo aired {{file}} >> {lg}" for lg in logs])
    app = open_app(cfg)
    month = f"{start:%Y-%m}"
    drop = app.settings.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    sample = SAMPLES / "thanh-toan-khong-dung-tien-mat.mp3"
    shutil.copy(sample, drop / f"{month} Chuyển đổi số.mp3")              # good
    (drop / f"{month} Hỏng.mp3").write_text("không phải âm thanh\n" * 30)  # broken
    log = tmp_path / "daemon.log"
    with open(log, "ab") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "radiocast", "--config", str(cfg), "-v",
                                 "run"], stdout=fh, stderr=fh)
    try:
        def progs() -> list[Programme]:
            with app.db.read() as sess:
                return list(sess.scalars(select(Programme).order_by(Programme.id)))

        wait_for(lambda: len([p for p in progs() if p.state == "ready"]) == 1, 60, "v1 ready")
        shutil.copy(sample, drop / "bản sao.mp3")  # a duplicate of v1
        v2 = tmp_path / "v2.mp3"  # a corrected programme: same title and month
        shutil.copy(SAMPLES / "an-toan-thong-tin.mp3", v2)
        os.replace(v2, drop / f"{month} chuyển đổi số.mp3")
        wait_for(lambda: any(p.revision == 2 and p.state == "ready" for p in progs()), 60,
                 "the revision")
        rows = progs()
        states = sorted(p.state for p in rows)
        assert states == ["ready", "rejected", "superseded"]
        current = next(p for p in rows if p.state == ProgrammeState.READY.value)

        def delivered() -> bool:
            with app.db.read() as sess:
                ds = sess.scalars(select(Delivery).where(
                    Delivery.programme_id == current.id)).all()
            return len(ds) == 2 and all(d.state == DeliveryState.DELIVERED.value for d in ds)

        wait_for(delivered, 60, "delivery of the revision to both stations")
        for r in s.remotes:
            assert (r / f"{current.slug}.mp3").exists()
            assert "airing_id" in (r / "playbook.json").read_text()

        def planned() -> list[Airing]:
            with app.db.read() as sess:
                return list(sess.scalars(select(Airing).where(
                    Airing.programme_id == current.id).order_by(Airing.planned_at)))

        wait_for(lambda: len(planned()) >= 2, 30, "airings of the revision")
        for sid in ("st0", "st1"):
            mine = [a for a in planned() if a.station_id == sid]
            kinds = [a.kind for a in mine]
            last_day = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - \
                timedelta(days=1)
            if (last_day.date() - start.date()).days >= 3:
                assert kinds == ["premiere", "replay", "replay", "replay"]
            assert mine[0].planned_at == start.astimezone(mine[0].planned_at.tzinfo)
        wait_for(lambda: all(lg.exists() for lg in logs), 100, "the premiere at each station")
        wait_for(lambda: sum(a.state == AiringState.AIRED.value for a in planned()) == 2, 20,
                 "the premieres recorded")
        for lg in logs:
            assert lg.read_text().count(f"{current.slug}.mp3") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    res = subprocess.run([sys.executable, "-m", "radiocast", "--config", str(cfg), "report",
                          "--period", month, "--format", "json"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert [st["station_id"] for st in doc["stations"]] == ["st0", "st1"]
    for st in doc["stations"]:
        [cell] = st["months"]
        assert cell["programme_id"] == current.id
        assert cell["premiere_at"] is not None and cell["delivered"]
        assert cell["replays_aired"] == 0 and not cell["compliant"]  # the month has just begun
    q = app.settings.ingest.quarantine_dir
    assert (q / f"{month} Hỏng.mp3.txt").exists()
    assert "TỆP TRÙNG" in (app.settings.ingest.archive_dir / "bản sao.mp3.txt").read_text()
