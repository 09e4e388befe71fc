"""The drop folder with real files and the real observer: settle, claim, dedupe, reject."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from radiocast.app import App
from radiocast.core.models import ProgrammeState
from radiocast.core.months import local_month, next_month
from radiocast.db.schema import Programme
from radiocast.intake import ingest

from .conftest import SAMPLES, make_tone

# the month the tests run in, and the next: a file for a past month is refused
THIS = local_month(datetime.now(UTC), ZoneInfo("Asia/Ho_Chi_Minh"))
NEXT = next_month(THIS)


def pump(app: App, seconds: float, until: Callable[[], bool] | None = None) -> None:
    """The daemon's ingest step, with the real watchdog observer, for a while."""
    drop = ingest.DropFolder(app)
    drop.start()
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for path in drop.poll(time.monotonic()):
                ingest.claim_file(app, path)
                drop.forget(path)
            if until is not None and until():
                return
            time.sleep(0.05)
    finally:
        drop.stop()


def programmes(app: App) -> list[Programme]:
    with app.db.read() as s:
        return list(s.scalars(select(Programme).order_by(Programme.id)))


def test_a_file_written_slowly_is_taken_once_after_its_last_chunk(
        make_app: Callable[..., App]) -> None:
    app = make_app(settle=1.0)
    drop = app.settings.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    last_write = [0.0]

    def writer() -> None:
        with open(drop / f"{THIS} Chậm.mp3", "wb") as fh:
            for _ in range(8):  # 8 chunks over ~3.5 s, as over a slow link
                fh.write(os.urandom(64 * 1024))
                fh.flush()
                last_write[0] = time.monotonic()
                time.sleep(0.5)

    t = threading.Thread(target=writer)
    t.start()
    seen_early = []

    def check() -> bool:
        if t.is_alive() and programmes(app):
            seen_early.append(True)
        return not t.is_alive() and bool(programmes(app))

    pump(app, 15, until=check)
    t.join()
    taken = time.monotonic()
    rows = programmes(app)
    assert not seen_early
    assert len(rows) == 1
    assert rows[0].source_size == 8 * 64 * 1024
    assert taken - last_write[0] >= 1.0


def test_twenty_files_dropped_at_once_are_each_taken_exactly_once(
        make_app: Callable[..., App]) -> None:
    app = make_app()
    drop = app.settings.ingest.drop_dir
    (drop / NEXT).mkdir(parents=True)
    for i in range(20):
        (drop / NEXT / f"Chương trình {i:02d}.mp3").write_bytes(os.urandom(20_000 + i))
    pump(app, 20, until=lambda: len(programmes(app)) >= 20)
    pump(app, 2)  # and nothing more arrives later
    rows = programmes(app)
    assert len(rows) == 20
    assert len({r.source_sha256 for r in rows}) == 20
    assert {r.month for r in rows} == {NEXT}  # month from the folder name
    assert not list((drop / NEXT).iterdir())
    assert len(list((app.settings.spool_dir / "incoming").iterdir())) == 20


def test_nfd_and_nfc_names_are_the_same_title() -> None:
    from radiocast.core.naming import title_from, title_key

    nfc = f"{THIS} Chuyển đổi số.mp3"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    assert title_key(title_from(Path(nfd))) == title_key(title_from(Path(nfc)))
    assert title_from(Path(nfd)) == "Chuyển đổi số"


def run_once(cfg: Path, env: dict[str, str] | None = None,
             timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "radiocast", "--config", str(cfg), "run",
                           "--once"], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_daemon_started_after_the_drop_takes_the_files_and_dedupes(
        make_app: Callable[..., App], tmp_path: Path) -> None:
    app = make_app()
    drop = app.settings.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    src = SAMPLES / "an-toan-thong-tin.mp3"
    (drop / f"{THIS} An toàn thông tin.mp3").write_bytes(src.read_bytes())
    (drop / "bản sao.mp3").write_bytes(src.read_bytes())  # same bytes, another name
    res = run_once(tmp_path / "radiocast.toml")
    assert res.returncode == 0, res.stderr
    rows = programmes(app)
    assert len(rows) == 1 and rows[0].state == ProgrammeState.READY.value
    archive = app.settings.ingest.archive_dir
    assert (archive / f"{THIS} An toàn thông tin.mp3").exists()
    receipt = (archive / f"{THIS} An toàn thông tin.mp3.txt").read_text(encoding="utf-8")
    raw = (archive / f"{THIS} An toàn thông tin.mp3.txt").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw  # as Notepad needs it
    assert "BIÊN NHẬN" in receipt and "An toàn thông tin" in receipt
    assert f"{THIS[5:]}/{THIS[:4]}" in receipt
    dup = (archive / "bản sao.mp3.txt").read_text(encoding="utf-8")
    assert "TỆP TRÙNG" in dup and f"#{rows[0].id}" in dup
    assert (archive / "bản sao.mp3").read_bytes() == src.read_bytes()
    assert not [p for p in drop.iterdir() if p.is_file()]


def test_clutter_is_left_alone(make_app: Callable[..., App], tmp_path: Path) -> None:
    app = make_app()
    drop = app.settings.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    clutter = ["~$bai viet.docx", "Thumbs.db", ".DS_Store", "desktop.ini", "tai ve.mp3.part",
               "x.tmp", "Chuyen doi so.mp3.crdownload", ".an.mp3"]
    for name in clutter:
        (drop / name).write_bytes(b"x" * 100)
    res = run_once(tmp_path / "radiocast.toml")
    assert res.returncode == 0, res.stderr
    assert programmes(app) == []
    assert sorted(p.name for p in drop.iterdir() if p.is_file()) == sorted(clutter)
    assert not any(app.settings.ingest.quarantine_dir.glob("*"))


def _silent(p: Path) -> None:
    from radiocast.audio.ffmpeg import find_ffmpeg

    subprocess.run([find_ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "anullsrc=r=44100:cl=mono", "-t", "15", str(p)], check=True)


REJECTS: list[tuple[str, Callable[[Path], object], str]] = [
    ("rỗng.mp3", lambda p: p.write_bytes(b""), "Tệp rỗng"),
    ("văn bản.mp3", lambda p: p.write_text("không phải âm thanh\n" * 40), "không phải là tệp âm"),
    ("im lặng.wav", _silent, "chỉ có im lặng"),
    ("ngắn.wav", lambda p: make_tone(p, 4, -20.0), "quá ngắn"),
    ("dài.wav", lambda p: make_tone(p, 150, -20.0, codec="pcm_s16le"), "dài hơn khung giờ"),
    ("cắt cụt.mp3", lambda p: p.write_bytes(make_tone(p.with_name("full.mp3"), 60, -20.0)
                                            .read_bytes()[:150_000]), "bị cắt cụt"),
]


def test_each_rejection_reason_lands_in_quarantine_with_its_note(
        make_app: Callable[..., App], tmp_path: Path) -> None:
    app = make_app(extra='[schedule]\nslots = ["06:00-06:02"]')
    drop = app.settings.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    staging = tmp_path / "staging"
    staging.mkdir()
    for name, make, _ in REJECTS:
        make(staging / name)
        os.replace(staging / name, drop / name)
    good = drop / "Tốt.mp3"
    good.write_bytes((SAMPLES / "an-toan-thong-tin.mp3").read_bytes())
    (drop / "Tốt.mp3.toml").write_text('priority = "urgent"\n', encoding="utf-8")  # bad sidecar
    res = run_once(tmp_path / "radiocast.toml")
    assert res.returncode == 1  # items failed
    q = app.settings.ingest.quarantine_dir
    for name, _, words in [*REJECTS, ("Tốt.mp3", None, "tệp mô tả")]:
        assert (q / name).exists(), name
        note = (q / f"{name}.txt").read_text(encoding="utf-8")
        assert words.lower() in note.lower(), (name, note)
        assert "Cần làm:" in note and "REJECTED" in note
    assert (q / "Tốt.toml").exists()  # the sidecar travels with its file
    assert all(p.state == ProgrammeState.REJECTED.value for p in programmes(app))
    assert not [p for p in drop.iterdir() if p.is_file()]


def test_a_revision_supersedes_the_earlier_programme(make_app: Callable[..., App],
                                                      tmp_path: Path) -> None:
    app = make_app()
    drop = app.settings.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    make_tone(drop / f"{THIS} Chuyển đổi số.wav", 12, -20.0)
    assert run_once(tmp_path / "radiocast.toml").returncode == 0
    nfd = unicodedata.normalize("NFD", f"{THIS} chuyển đổi số.wav")
    make_tone(tmp_path / "v2.wav", 14, -25.0)
    os.replace(tmp_path / "v2.wav", drop / nfd)
    assert run_once(tmp_path / "radiocast.toml").returncode == 0
    old, new = programmes(app)
    assert old.state == ProgrammeState.SUPERSEDED.value
    assert new.state == ProgrammeState.READY.value
    assert (new.supersedes_id, new.revision) == (old.id, 2)
    assert new.slug == f"{THIS}-chuyen-doi-so-v2" and old.slug == f"{THIS}-chuyen-doi-so"


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize("step", ["after_hash", "after_record", "after_move"])
def test_sigkill_at_each_claim_step_loses_nothing_and_imports_once(
        make_app: Callable[..., App], tmp_path: Path, step: str) -> None:
    app = make_app()
    drop = app.settings.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    names = [f"{THIS} Một.mp3", f"{THIS} Hai.mp3"]
    for i, name in enumerate(names):
        make_tone(drop / name, 11 + i, -20.0)
    dropped = {_sha(drop / n) for n in names}
    crashed = run_once(tmp_path / "radiocast.toml", env={"RADIOCAST_CRASH_AT": step})
    assert crashed.returncode == -9  # SIGKILL
    res = run_once(tmp_path / "radiocast.toml")
    assert res.returncode == 0, res.stderr
    rows = programmes(app)
    assert sorted(r.source_sha256 for r in rows) == sorted(dropped)
    assert all(r.state == ProgrammeState.READY.value for r in rows)
    # every dropped byte-sequence exists exactly once across drop, spool, archive, quarantine
    places = [drop, app.settings.spool_dir / "incoming", app.settings.ingest.archive_dir,
              app.settings.ingest.quarantine_dir]
    found = [_sha(p) for d in places if d.exists() for p in d.iterdir()  # archive is in drop
             if p.is_file() and p.suffix == ".mp3" and _sha(p) in dropped]
    assert sorted(found) == sorted(dropped)


def test_notes_open_in_old_notepad_and_say_what_staff_expect() -> None:
    """BOM and CRLF (Notepad before Windows 10 1809 shows one long line otherwise); the first
    correction is called the first; the receipt names every kind of commune station."""
    from datetime import datetime

    from radiocast.core.fsutil import note_bytes
    from radiocast.core.receipts import acceptance_note, rejection_note

    at = datetime(2026, 11, 3, 8, 30)
    first = acceptance_note("a.mp3", "Chuyển đổi số", "2026-11", 600.0, at, 7, revision=2,
                            version="Tiếng Thái (Thái Đen)")
    assert "(bản sửa lần 1, thay tệp trước đó cùng ngôn ngữ)" in first
    assert "Bản ngôn ngữ: Tiếng Thái (Thái Đen)" in first
    assert "bản sửa" not in acceptance_note("a.mp3", "X", "2026-11", 600.0, at, 7, 1)
    assert "xã, phường, thị trấn" in first
    raw = note_bytes(first)
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")  # no bare LF left
    assert raw.decode("utf-8-sig").replace("\r\n", "\n") == first
    short = rejection_note("b.mp3", "too_short", "4.0 s", at)
    assert "10 giây" not in short and "4.0 s" in short  # the minimum is configurable
    assert all("bỏ vào" not in rejection_note("c.mp3", code, "", at)
               for code in ("empty", "undecodable", "truncated", "silent", "sidecar"))


@pytest.mark.parametrize(("sidecar", "code", "words"), [
    ("stations = []\n", "sidecar_no_stations", "xóa hẳn dòng «stations»"),
    ('title = "x"\n' + "# " + "x" * 70_000 + "\n", "sidecar_too_big", "quá lớn"),
])
def test_a_sidecar_that_sends_nowhere_or_is_too_big_is_refused_with_a_note_saying_why(
        make_app: Callable[..., App], sidecar: str, code: str, words: str) -> None:
    app = make_app()
    drop = app.settings.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    f = drop / "2026-12 Chuyển đổi số.mp3"
    f.write_bytes((SAMPLES / "an-toan-thong-tin.mp3").read_bytes())
    (drop / f"{f.name}.toml").write_text(sidecar, encoding="utf-8")
    claimed = ingest.claim_file(app, f)
    assert claimed is not None and claimed.rejected
    [p] = programmes(app)
    assert (p.state, p.reason_code) == (ProgrammeState.REJECTED.value, code)
    note = (app.settings.ingest.quarantine_dir / f"{f.name}.txt").read_text(encoding="utf-8")
    assert words in note and "Cần làm:" in note
