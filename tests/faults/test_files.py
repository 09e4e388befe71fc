"""Faults in what staff drop and where radiocast keeps files: names too long for a receipt,
links and special files, months that are not months, folders that refuse writes, a full
disk. Each item is isolated: recorded, shown as a problem, retried where it makes sense."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from radiocast.app import App
from radiocast.core.models import ProgrammeState
from radiocast.core.months import local_month
from radiocast.core.naming import month_from
from radiocast.db.schema import Programme
from radiocast.intake import programmes
from radiocast.status.problems import find_problems

from ..conftest import SAMPLES, write_config

TZ = "Asia/Ho_Chi_Minh"


def run_once(app: App, *env: tuple[str, str],
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    cfg = app.settings.path
    assert cfg is not None
    return subprocess.run([sys.executable, "-m", "radiocast", "--config", str(cfg), "-v", "run",
                           "--once"], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **dict(env)}, check=False)


def this_month(app: App) -> str:
    return local_month(app.clock(), app.settings.general.tz)


def rows(app: App) -> list[Programme]:
    with app.db.read() as s:
        return list(s.scalars(select(Programme).order_by(Programme.id)))


def test_a_name_of_255_bytes_is_received_and_its_receipt_fits(
        make_app: Callable[..., App]) -> None:
    app = make_app()
    drop = app.settings.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    stem = f"{this_month(app)} " + "Chuyển đổi số ở xã vùng cao " * 9
    while len((stem + ".mp3").encode()) > 255:
        stem = stem[:-1]
    name = stem + ".mp3"
    assert 247 <= len(name.encode()) <= 255
    shutil.copy(SAMPLES / "an-toan-thong-tin.mp3", drop / name)
    res = run_once(app)
    assert res.returncode in (0, 1), res.stderr[-2000:]
    [p] = rows(app)
    assert p.state == ProgrammeState.READY.value
    archived = [f for f in app.settings.ingest.archive_dir.iterdir()]
    audio = [f for f in archived if f.suffix == ".mp3"]
    notes = [f for f in archived if f.name.endswith(".mp3.txt")]
    assert len(audio) == 1 and len(notes) == 1
    assert all(len(f.name.encode()) <= 255 for f in archived)
    assert name in notes[0].read_text(encoding="utf-8")  # the receipt names the whole file
    # and a second start is an ordinary start
    assert run_once(app).returncode in (0, 1)


def test_a_quarantine_that_refuses_writes_stops_nothing_else(
        make_app: Callable[..., App]) -> None:
    app = make_app()
    drop = app.settings.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    q = app.settings.ingest.quarantine_dir
    q.parent.mkdir(parents=True, exist_ok=True)
    q.write_text("a file where the quarantine folder should be\n")  # ENOTDIR, even for root
    month = this_month(app)
    (drop / f"{month} Hỏng.mp3").write_text("không phải âm thanh\n" * 40)
    shutil.copy(SAMPLES / "an-toan-thong-tin.mp3", drop / f"{month} Tốt.mp3")
    res = run_once(app)
    assert res.returncode in (0, 1) and "Traceback" not in res.stderr, res.stderr[-2000:]
    states = {p.source_name: p.state for p in rows(app)}
    assert states == {f"{month} Hỏng.mp3": "rejected", f"{month} Tốt.mp3": "ready"}
    # the rejected original waits in the spool, and status says what to do
    stuck = [p for p in find_problems(_later(app), "en") if p.code == "original_stuck"]
    assert len(stuck) == 1 and "writable" in stuck[0].action
    # the start after that does not die either, and once the folder is back it finishes
    again = run_once(app)
    assert again.returncode in (0, 1) and "Traceback" not in again.stderr, again.stderr[-2000:]
    assert "original not moved out of the spool" in again.stderr
    q.unlink()
    q.mkdir()
    assert programmes.finish_originals(app) == 0
    assert (q / f"{month} Hỏng.mp3").exists() and (q / f"{month} Hỏng.mp3.txt").exists()


def _later(app: App) -> App:
    """The app an hour from now (past every grace period), whatever the time of day: the
    old `replace(hour=…)` stood still from 23:00 to 23:59 UTC and the test failed then."""
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    return App(app.settings, app.db, app.lang, clock=lambda: later)


def test_links_fifos_and_devices_are_never_followed(make_app: Callable[..., App],
                                                    tmp_path: Path) -> None:
    app = make_app()
    drop = app.settings.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    secret = tmp_path / "id_ed25519"
    secret.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\n" + os.urandom(400))
    month = this_month(app)
    (drop / f"{month} khóa.mp3").symlink_to(secret)
    (drop / f"{month} không đáy.mp3").symlink_to("/dev/zero")
    os.mkfifo(drop / f"{month} ống.mp3")
    (drop / "lối tắt.mp3.toml").symlink_to(secret)
    shutil.copy(SAMPLES / "an-toan-thong-tin.mp3", drop / f"{month} Thật.mp3")
    res = run_once(app, timeout=90)  # a FIFO or /dev/zero would hang it
    assert res.returncode in (0, 1), res.stderr[-2000:]
    assert [p.source_name for p in rows(app)] == [f"{month} Thật.mp3"]
    spool = app.settings.spool_dir
    everything = b"".join(f.read_bytes() for f in spool.rglob("*") if f.is_file()
                          and not f.is_symlink())
    assert b"OPENSSH PRIVATE KEY" not in everything
    q = app.settings.ingest.quarantine_dir
    for name in (f"{month} khóa.mp3", f"{month} không đáy.mp3", f"{month} ống.mp3"):
        assert os.path.lexists(q / name), name
        assert "lối tắt" in (q / f"{name}.txt").read_text(encoding="utf-8")
    assert (q / f"{month} khóa.mp3").is_symlink()  # moved as itself
    assert secret.exists()


@pytest.mark.parametrize(("name", "month"), [
    ("Bản tin 2025 10 điều cần biết.mp3", None),
    ("2026 05 Chuyển đổi số.mp3", None),
    ("202611 Chuyển đổi số.mp3", None),
    ("2026-11 Chuyển đổi số.mp3", "2026-11"),
    ("2026_11 Chuyển đổi số.mp3", "2026-11"),
    ("Chuyển đổi số tháng 3-2027.mp3", "2027-03"),
    ("Tháng 03.2027 Chuyển đổi số.mp3", "2027-03"),
    ("Chuyen doi so thang 12-2026.mp3", "2026-12"),
])
def test_a_month_is_read_only_from_an_explicit_pattern(name: str, month: str | None) -> None:
    assert month_from(Path("/d") / name, Path("/d")) == month


def test_a_programme_for_a_past_month_is_flagged_not_delivered(
        make_app: Callable[..., App]) -> None:
    app = make_app(stations='[[stations]]\nid = "a"\nname = "A"\nhost = "a.invalid"\n')
    drop = app.settings.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLES / "an-toan-thong-tin.mp3", drop / "2020-01 Chuyển đổi số.mp3")
    assert run_once(app).returncode in (0, 1)
    [p] = rows(app)
    assert (p.state, p.reason_code) == ("rejected", "past_month")
    note = app.settings.ingest.quarantine_dir / "2020-01 Chuyển đổi số.mp3.txt"
    assert "đã qua" in note.read_text(encoding="utf-8")


@pytest.fixture
def tiny_data(make_app: Callable[..., App], tmp_path: Path) -> Iterator[App]:
    """An app whose data folder (spool) is a 1 MiB tmpfs: room for the dropped file, not for
    its decoded sound. Needs root; skipped, saying so, otherwise."""
    data = tmp_path / "data"
    data.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(data)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        pytest.skip(f"needs root to mount a small tmpfs for ENOSPC: {res.stderr.strip()}")
    try:
        cfg = write_config(tmp_path)
        cfg.write_text(cfg.read_text().replace(
            "[radiocast]\n", f'[radiocast]\ndatabase_url = "sqlite:///{tmp_path}/db/r.db"\n'))
        yield make_app()
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)


def test_a_full_disk_while_normalizing_is_retried_and_shown(tiny_data: App) -> None:
    app = tiny_data
    drop = app.settings.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLES / "an-toan-thong-tin.mp3", drop / f"{this_month(app)} Đầy đĩa.mp3")
    res = run_once(app)  # claimed into the spool (it fits); its 2.4 MB of PCM do not
    assert res.returncode in (0, 1), res.stderr[-2000:]
    [p] = rows(app)
    assert p.state == ProgrammeState.RECEIVED.value and p.attempts == 1, p.state
    assert "disk full" in (p.last_error or "") and p.next_attempt_at is not None
    assert programmes.pending_normalization(app) == []  # not before its retry time
    spool = app.settings.spool_dir
    assert not [f for f in spool.rglob(".*") if f.suffix in (".pcm", ".part")]
    problem = [x for x in find_problems(app, "en") if x.code == "normalize_retrying"]
    assert problem and str(app.settings.general.data_dir) in problem[0].action
    # the operator makes room; at the retry time it goes through
    subprocess.run(["mount", "-o", "remount,size=64m", str(app.settings.general.data_dir)],
                   check=True)
    at = p.next_attempt_at
    later = App(app.settings, app.db, app.lang, clock=lambda: at)
    assert programmes.pending_normalization(later) == [p.id]
    assert programmes.normalize_programme(later, p.id)
    assert not [x for x in find_problems(later, "en") if x.code == "normalize_retrying"]
