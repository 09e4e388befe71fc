"""Faults in the bookkeeping: revisions finishing out of order, a lease that is not ours,
emergencies behind the queue, formulas in reports, commands that only look but would write."""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from radiocast.airing.planning import build_plan
from radiocast.app import App
from radiocast.core.errors import ExitCode
from radiocast.core.models import Priority, ProgrammeState
from radiocast.core.months import local_month
from radiocast.db import ops, views
from radiocast.db.engine import Database
from radiocast.db.schema import Delivery, Programme
from radiocast.intake import ingest, programmes
from radiocast.report.build import build_report
from radiocast.report.files import render_report

from ..conftest import SAMPLES, Clock, ready_programme
from ..test_db import HEAD

TWO = ('[[stations]]\nid = "a"\nname = "A"\nhost = "a.invalid"\n'
       '[[stations]]\nid = "b"\nname = "B"\nhost = "b.invalid"\n')



def with_a_programme(make_app: Callable[..., App], tmp_path: Path) -> App:
    """Two stations and one ready programme of this month."""
    app = make_app(stations=TWO)
    f = tmp_path / "p.mp3"
    f.write_bytes(os.urandom(1000))
    ready_programme(app, f)
    return app


def test_a_revision_that_finishes_first_still_wins(make_app: Callable[..., App]) -> None:
    app = make_app(stations=TWO)
    drop = app.settings.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    month = local_month(app.clock(), app.settings.general.tz)
    shutil.copy(SAMPLES / "chuyen-doi-so-thang-nay.mp3", drop / f"{month} Chuyển đổi số.mp3")
    old = ingest.claim_file(app, drop / f"{month} Chuyển đổi số.mp3")
    shutil.copy(SAMPLES / "an-toan-thong-tin.mp3", drop / f"{month} chuyển đổi số.mp3")
    new = ingest.claim_file(app, drop / f"{month} chuyển đổi số.mp3")
    assert old and new and old.programme_id < new.programme_id
    # with three or more cores the shorter, newer file is ready first
    assert programmes.normalize_programme(app, new.programme_id)
    assert programmes.normalize_programme(app, old.programme_id)
    with app.db.read() as s:
        rows = {p.id: p for p in s.scalars(select(Programme))}
        dels = list(s.scalars(select(Delivery)))
    assert rows[new.programme_id].state == ProgrammeState.READY.value
    assert rows[old.programme_id].state == ProgrammeState.SUPERSEDED.value
    assert {d.programme_id for d in dels} == {new.programme_id}  # the old one goes nowhere


def test_delivered_only_by_the_lease_holder(make_app: Callable[..., App],
                                            tmp_path: Path) -> None:
    app = with_a_programme(make_app, tmp_path)
    now = app.clock()
    with app.db.write() as s:
        [d] = ops.claim_deliveries(s, "mine", now, timedelta(minutes=5), "a")
        assert not ops.mark_delivered(s, d, now, owner="someone-else")
        assert d.state == "sending"
        assert ops.mark_delivered(s, d, now, owner="mine") and d.state == "delivered"
        assert not ops.mark_delivered(s, d, now, owner="mine")  # not twice


def test_an_emergency_goes_first_and_skips_the_lead_time(make_app: Callable[..., App],
                                                          tmp_path: Path) -> None:
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    app = make_app(stations=TWO, clock=clock, extra="[schedule]\nlead_minutes = 60\n")
    files = []
    for n in range(3):
        files.append(tmp_path / f"p{n}.mp3")
        files[-1].write_bytes(os.urandom(1000 + n))
    normal = ready_programme(app, files[0], title="Bình thường")
    with app.db.write() as s:  # station b has only normal work; a has an emergency waiting
        for d in s.scalars(select(Delivery).where(Delivery.station_id == "a")):
            ops.mark_delivered(s, d, clock.now)
    urgent = ready_programme(app, files[1], title="Khẩn cấp")
    with app.db.write() as s:
        s.get_one(Programme, urgent).priority = Priority.EMERGENCY.value
        for d in s.scalars(select(Delivery).where(Delivery.programme_id == urgent,
                                                  Delivery.station_id == "b")):
            ops.mark_delivered(s, d, clock.now)
    with app.db.read() as s:
        assert views.due_station_ids(s, clock.now) == ["a", "b"]
    with app.db.write() as s:  # at b the emergency is sent before the older normal programme
        claimed = ops.claim_deliveries(s, "x", clock.now, timedelta(minutes=5), "b")
        assert [d.programme_id for d in claimed] == [normal]
        claimed = ops.claim_deliveries(s, "y", clock.now, timedelta(minutes=5), "a")
        assert [d.programme_id for d in claimed] == [urgent]
    plan = build_plan(app, local_month(clock.now, app.settings.general.tz))
    [emergency] = [a for a in plan.add if a.programme_id == urgent]
    assert emergency.station_id == "b"
    assert emergency.planned_at - clock.now <= timedelta(seconds=30)  # not delivered + 60 min


def test_a_title_that_looks_like_a_formula_stays_text(make_app: Callable[..., App],
                                                       tmp_path: Path) -> None:
    app = make_app(stations=TWO)
    f = tmp_path / "p.mp3"
    f.write_bytes(os.urandom(1000))
    ready_programme(app, f, title='=HYPERLINK("http://x.invalid","bấm vào")')
    month = local_month(app.clock(), app.settings.general.tz)
    data = build_report(app, month)
    data["stations"][0]["name"] = "=1+1"
    wb = load_workbook(io.BytesIO(render_report(data, "xlsx", "vi")))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    texts = [c for c in cells if isinstance(c.value, str) and c.value.startswith("=")]
    assert texts and all(c.data_type == "s" for c in texts)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "radiocast", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_a_report_to_a_missing_folder_is_a_clear_error(make_app: Callable[..., App],
                                                        tmp_path: Path) -> None:
    app = with_a_programme(make_app, tmp_path)
    month = local_month(app.clock(), app.settings.general.tz)
    res = run_cli("--config", str(app.settings.path), "report", "--period", month, "-o",
                  str(tmp_path / "missing" / "x.csv"))
    assert res.returncode == ExitCode.USAGE
    assert "Traceback" not in res.stderr and "missing/x.csv" in res.stderr


@pytest.mark.sqlite_only  # files: no -wal, no -shm, not one byte
def test_commands_that_only_look_write_nothing(make_app: Callable[..., App],
                                               tmp_path: Path) -> None:
    app = with_a_programme(make_app, tmp_path)
    app.close()
    db = Path(app.settings.database_url.split("///", 1)[1])
    assert not db.with_name(db.name + "-wal").exists()  # no writer open
    before = {p.name: p.stat().st_mtime_ns for p in db.parent.iterdir()}
    cfg = str(app.settings.path)
    month = local_month(app.clock(), app.settings.general.tz)
    for cmd in (["status", "--json"], ["programmes"], ["deliveries"], ["schedule"],
                ["stations"], ["report", "--period", month, "--format", "json"]):
        res = run_cli("--config", cfg, *cmd)
        assert res.returncode == 0, (cmd, res.stderr)
    after = {p.name: p.stat().st_mtime_ns for p in db.parent.iterdir()}
    assert after == before  # no -wal, no -shm, not one byte written
    # and with a writer holding the write lock (the daemon mid-transaction) they do not wait
    writer = sqlite3.connect(db, timeout=1, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("BEGIN IMMEDIATE")
    try:
        for cmd in (["status", "--json"], ["stations"]):
            began = time.monotonic()
            res = run_cli("--config", cfg, *cmd)
            assert res.returncode == 0, (cmd, res.stderr)
            assert time.monotonic() - began < 10
    finally:
        writer.execute("ROLLBACK")
        writer.close()


@pytest.mark.sqlite_only  # the same check on PostgreSQL: test_db's migrations on both
def test_an_older_schema_is_a_clear_error_for_looking_commands(
        make_app: Callable[..., App]) -> None:
    app = make_app(stations=TWO)
    url = app.settings.database_url
    app.close()
    Path(url.split("///", 1)[1]).unlink()
    old = Database(url)
    old.migrate("0003")
    old.dispose()
    res = run_cli("--config", str(app.settings.path), "status")
    assert res.returncode == ExitCode.DATABASE
    assert "radiocast migrate" in res.stderr and "Traceback" not in res.stderr
    assert run_cli("--config", str(app.settings.path), "migrate").returncode == 0
    assert run_cli("--config", str(app.settings.path), "status").returncode == 0
    con = sqlite3.connect(url.split("///", 1)[1])
    assert con.execute("select version_num from alembic_version").fetchone()[0] == HEAD
    con.close()
