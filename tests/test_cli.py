"""The CLI frame: help, init, check, status --json, exit codes, lock, signals."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from radiocast.app import App
from radiocast.cli.main import cli, main
from radiocast.core.errors import ExitCode
from radiocast.core.months import local_month
from radiocast.core.sysd import JournalFormatter, acquire_lock, syslog_priority

from .conftest import ready_programme

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "radiocast", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def test_help_lists_every_command() -> None:
    res = CliRunner().invoke(cli, ["--help"])
    assert res.exit_code == 0
    for name in ("init", "check", "run", "status", "programmes", "deliveries", "schedule",
                 "stations", "retry", "report", "demo"):
        assert name in res.output


def test_init_then_check_then_status_json(tmp_path: Path) -> None:
    res = run_cli("init", str(tmp_path / "site"))
    assert res.returncode == 0, res.stderr
    cfg = tmp_path / "site" / "radiocast.toml"
    assert cfg.exists() and (tmp_path / "site" / "drop").is_dir()
    again = run_cli("init", str(tmp_path / "site"))
    assert again.returncode == ExitCode.USAGE  # never overwrites
    chk = run_cli("--config", str(cfg), "--lang", "en", "check", "--no-stations")
    assert chk.returncode == 0, chk.stdout + chk.stderr
    assert "ffmpeg found" in chk.stdout and "All checks passed" in chk.stdout
    st = run_cli("--config", str(cfg), "status", "--json")
    assert st.returncode == 0, st.stderr
    doc = json.loads(st.stdout)
    assert {"programmes", "deliveries", "airings", "stations", "problems"} <= set(doc)
    assert doc["stations"][0]["id"] == "trung-ha"


def test_check_reports_unreachable_station_and_exits_1(tmp_path: Path) -> None:
    run_cli("init", str(tmp_path))
    res = run_cli("--config", str(tmp_path / "radiocast.toml"), "--lang", "en", "check")
    assert res.returncode == ExitCode.PARTIAL
    assert "Station trung-ha" in res.stdout


def test_example_config_status_json_in_vietnamese(tmp_path: Path) -> None:
    text = (REPO / "config" / "quan-son-2025.toml").read_text(encoding="utf-8")
    text = text.replace('"/var/lib/radiocast"', f'"{tmp_path / "data"}"').replace(
        '"/srv/radiocast/drop"', f'"{tmp_path / "drop"}"')
    cfg = tmp_path / "c.toml"
    cfg.write_text(text, encoding="utf-8")
    res = run_cli("--config", str(cfg), "status", "--json")
    doc = json.loads(res.stdout)
    assert [s["name"] for s in doc["stations"]][:2] == ["Xã Mường Mìn", "Xã Na Mèo"]
    human = run_cli("--config", str(cfg), "status")
    assert "Chưa có chương trình nào" in human.stdout


def test_config_error_exit_code_3(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[audio]\nbitrate = 64\n", encoding="utf-8")
    res = run_cli("--config", str(cfg), "status")
    assert res.returncode == ExitCode.CONFIG
    assert "audio.bitrate" in res.stderr


def test_usage_error_exit_code_2(tmp_path: Path) -> None:
    run_cli("init", str(tmp_path))
    res = run_cli("--config", str(tmp_path / "radiocast.toml"), "retry")
    assert res.returncode == ExitCode.USAGE
    res = run_cli("--config", str(tmp_path / "radiocast.toml"), "report", "--period", "2026-13")
    assert res.returncode == ExitCode.USAGE


def test_report_with_no_data_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    run_cli("init", str(tmp_path))
    out = tmp_path / "r.csv"
    res = run_cli("--config", str(tmp_path / "radiocast.toml"), "report", "--period", "2026-H1",
                  "--format", "csv", "-o", str(out))
    assert res.returncode == ExitCode.PARTIAL
    assert "Không có dữ liệu" in res.stderr
    assert not out.exists()


@pytest.mark.sqlite_only  # on PostgreSQL a second hub stands by (tests/test_hubs.py)
def test_second_daemon_exits_4(tmp_path: Path) -> None:
    run_cli("init", str(tmp_path))
    lock = acquire_lock(tmp_path / "data" / "radiocast.lock")
    try:
        res = run_cli("--config", str(tmp_path / "radiocast.toml"), "run", "--once")
        assert res.returncode == ExitCode.LOCKED
        assert "radiocast.lock" in res.stderr
    finally:
        lock.close()


def test_sigterm_stops_the_daemon_cleanly(tmp_path: Path) -> None:
    run_cli("init", str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "radiocast", "--config",
                             str(tmp_path / "radiocast.toml"), "-v", "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    log = tmp_path / "data" / "radiocast.lock"
    while time.monotonic() < deadline and not (log.exists() and log.read_text().strip()):
        time.sleep(0.1)
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "finishing the current item" in err
    # the lock is free again: another daemon could start
    acquire_lock(log).close()


def test_main_turns_errors_into_exit_codes(tmp_path: Path) -> None:
    try:
        main(["--config", str(tmp_path / "missing.toml"), "status"])
    except SystemExit as exc:
        assert exc.code == ExitCode.CONFIG
    else:
        raise AssertionError("main() must exit")


def test_sd_notify_ready_watchdog_stopping(tmp_path: Path) -> None:
    import socket as socketlib

    run_cli("init", str(tmp_path))
    sock_path = tmp_path / "notify.sock"
    sock = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(30)
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "1000000"}
    proc = subprocess.Popen([sys.executable, "-m", "radiocast", "--config",
                             str(tmp_path / "radiocast.toml"), "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        got = [sock.recv(100).decode()]
        assert got == ["READY=1"]
        got += [sock.recv(100).decode(), sock.recv(100).decode()]
        assert got[1:] == ["WATCHDOG=1", "WATCHDOG=1"]
        proc.send_signal(signal.SIGTERM)
        while (msg := sock.recv(100).decode()) == "WATCHDOG=1":
            pass
        assert msg == "STOPPING=1"
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        sock.close()


def test_report_range_needs_both_ends(tmp_path: Path) -> None:
    run_cli("init", str(tmp_path))
    cfg = str(tmp_path / "radiocast.toml")
    res = run_cli("--config", cfg, "report", "--from", "2026-05-01")
    assert res.returncode == ExitCode.USAGE and "--to" in res.stderr
    res = run_cli("--config", cfg, "report", "--from", "2026-05-01", "--to", "2026-05-31")
    assert res.returncode == ExitCode.PARTIAL and "01/05/2026–31/05/2026" in res.stderr


def test_under_systemd_every_log_line_carries_its_syslog_priority(
        make_app: Callable[..., App]) -> None:
    app = make_app()
    assert app.settings.path is not None
    res = run_cli("--config", str(app.settings.path), "-v", "run", "--once",
                  env={"JOURNAL_STREAM": "8:12345", "NOTIFY_SOCKET": ""})
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln]
    assert lines and all(re.match(r"<[0-7]>", ln) for ln in lines), lines
    assert any(ln.startswith("<6>radiocast.daemon: ") for ln in lines)  # info is 6, not 20
    fmt = JournalFormatter()
    try:
        raise ValueError("hỏng")
    except ValueError:
        rec = logging.LogRecord("radiocast.x", logging.ERROR, __file__, 1, "lỗi %s", ("a",),
                                sys.exc_info())
    out = fmt.format(rec).splitlines()
    assert out[0] == "<3>radiocast.x: lỗi a" and len(out) > 2
    assert all(ln.startswith("<3>") for ln in out)  # the traceback too: journald reads lines
    warn = logging.LogRecord("radiocast.x", logging.WARNING, __file__, 1, "w", None, None)
    assert fmt.format(warn) == "<4>radiocast.x: w"


def test_an_unknown_station_or_month_is_a_usage_error_that_says_what_exists(
        make_app: Callable[..., App]) -> None:
    app = make_app(stations='[[stations]]\nid = "son-lu"\nname = "Sơn Lư"\n'
                   'host = "son-lu.invalid"\n')
    cfg = str(app.settings.path)
    for args in (["deliveries", "--station", "son-lo"], ["schedule", "--station", "son-lo"],
                 ["retry", "--station", "son-lo"], ["stations", "enroll", "son-lo"]):
        res = run_cli("--config", cfg, "--lang", "en", *args)
        assert res.returncode == ExitCode.USAGE, (args, res.stderr)
        assert "No station son-lo" in res.stderr and "son-lu" in res.stderr, args
    vi = run_cli("--config", cfg, "deliveries", "--station", "son-lo")
    assert "Không có đài nào mã son-lo" in vi.stderr
    for month in ("2026-13", "11/2026", "2026-1"):
        res = run_cli("--config", cfg, "schedule", "--month", month)
        assert res.returncode == ExitCode.USAGE and "2026-11" in res.stderr, month
    ok = run_cli("--config", cfg, "schedule", "--month", "2026-11", "--station", "son-lu")
    assert ok.returncode == 0, ok.stderr
    # -v as click reads it: a traceback only when asked for
    quiet = run_cli("--config", cfg, "retry", "--station", "son-lo")
    loud = run_cli("--config", cfg, "-v", "retry", "--station", "son-lo")
    assert "Traceback" not in quiet.stderr and "Traceback" in loud.stderr


def test_check_lines_align_and_check_json(tmp_path: Path) -> None:
    run_cli("init", str(tmp_path))
    cfg = str(tmp_path / "radiocast.toml")
    vi = run_cli("--config", cfg, "check")
    lines = vi.stdout.splitlines()[:-1]
    assert vi.returncode == ExitCode.PARTIAL and len(lines) >= 5
    assert {ln[:5] for ln in lines} <= {"ĐẠT  ", "LỖI  "} and all(ln[5] != " " for ln in lines)
    assert "Đài trung-ha" in vi.stdout and vi.stdout.splitlines()[-1].startswith("Có 1 vấn đề")
    res = run_cli("--config", cfg, "--lang", "en", "check", "--json")
    doc = json.loads(res.stdout)
    assert res.returncode == ExitCode.PARTIAL and doc["ok"] is False and doc["failed"] == 1
    assert [c["ok"] for c in doc["checks"]].count(False) == 1
    assert any(c["message"].startswith("ffmpeg found") for c in doc["checks"])
    en = run_cli("--config", cfg, "--lang", "en", "check", "--no-stations")
    assert en.returncode == 0 and all(ln.startswith(("OK    ", "FAIL  "))
                                      for ln in en.stdout.splitlines()[:-1])


def test_listings_speak_the_language_and_json_keys_do_not(make_app: Callable[..., App],
                                                         tmp_path: Path) -> None:
    app = make_app(stations='[[stations]]\nid = "son-lu"\nname = "Sơn Lư"\n'
                   'host = "son-lu.invalid"\n')
    audio = tmp_path / "p.mp3"
    audio.write_bytes(b"\xff" * 3_500_000)
    ready_programme(app, audio, "Chuyển đổi số")
    cfg = str(app.settings.path)
    vi = run_cli("--config", cfg, "deliveries").stdout
    assert vi.splitlines()[0].split()[:2] == ["Chương", "trình"] and "chờ gửi" in vi
    en = run_cli("--config", cfg, "--lang", "en", "programmes").stdout
    assert en.splitlines()[0].startswith("Id") and " ready " in en
    month = local_month(app.clock(), app.settings.general.tz)
    assert " 0:20 " in en and " -16.0 " in en and f" {month[5:]}/{month[:4]} " in en
    vi_progs = run_cli("--config", cfg, "programmes").stdout
    assert " sẵn sàng " in vi_progs and " -16,0 " in vi_progs
    doc = json.loads(run_cli("--config", cfg, "deliveries", "--json").stdout)
    assert doc[0]["state"] == "queued" and "station_id" in doc[0]  # codes and keys: English
    stations = run_cli("--config", cfg, "stations").stdout
    assert stations.splitlines()[0].startswith("Mã") and "Dung lượng trống" in stations
    assert not re.search(r"\d\d:\d\d:\d\d|T\d\d:|\+07:00", vi + en + stations)


def test_the_journald_mapping_for_every_level() -> None:
    assert [syslog_priority(level) for level in (logging.DEBUG, logging.INFO, logging.WARNING,
                                                 logging.ERROR, logging.CRITICAL)] == \
        [7, 6, 4, 3, 2]
    if not Path("/run/systemd/journal/socket").exists() or shutil.which("systemd-cat") is None:
        return  # no journald here (a container): the documented mapping above is the test
    tag = f"radiocast-test-{os.getpid()}"
    fmt = JournalFormatter()
    lines = [fmt.format(logging.LogRecord("radiocast.t", level, __file__, 1, f"m{level}", None,
                                          None)) for level in (logging.INFO, logging.WARNING,
                                                               logging.ERROR)]
    subprocess.run(["systemd-cat", "--level-prefix=true", "-t", tag], input="\n".join(lines),
                   text=True, check=True, timeout=30)
    time.sleep(1)
    out = subprocess.run(["journalctl", "-t", tag, "-p", "warning", "-o", "cat", "--no-pager"],
                         capture_output=True, text=True, timeout=30).stdout
    assert "m30" in out and "m40" in out and "m20" not in out


def test_check_finds_the_normalized_files_a_hub_would_send(
        make_app: Callable[..., App], tmp_path: Path) -> None:
    """A standby whose data_dir is not the shared one has none of them: check says so."""
    from radiocast.setup import run_checks

    from .conftest import ready_programme

    app = make_app()
    media = tmp_path / "data" / "p.mp3"
    media.parent.mkdir(parents=True, exist_ok=True)
    media.write_bytes(b"\xff\xfb" * 500)
    ready_programme(app, media)
    ok = [r for r in run_checks(app, stations=False) if "chuẩn hóa" in r[1]]
    assert ok == [(True, "Có đủ tệp đã chuẩn hóa của 1 chương trình đang phát")]
    media.unlink()
    bad = [r for r in run_checks(app, stations=False) if "chuẩn hóa" in r[1]]
    assert len(bad) == 1 and bad[0][0] is False and str(media) in bad[0][1]
    assert "data_dir" in bad[0][1]
