"""The README's demo command, shortened with --quick, so the README cannot silently rot."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_demo_command_runs_the_whole_job(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "./scripts/demo" in readme and "./scripts/test" in readme
    out = tmp_path / "demo"
    res = subprocess.run([str(REPO / "scripts" / "demo"), "--quick", "--stations", "3", "--dir",
                          str(out)], capture_output=True, text=True, timeout=420)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "Báo cáo:" in res.stdout
    stations = sorted((out / "stations").iterdir())
    assert len(stations) == 3
    thai = "son-thuy"  # the last of the three communes airs Thái too
    assert "tiếng Thái" in res.stdout
    for st in stations:
        mp3 = sorted(p.name for p in (st / "radio").glob("*.mp3"))
        # every good sample programme reached every station; the Thái version only the
        # station that airs Thái
        assert len(mp3) == (4 if st.name == thai else 3), (st.name, mp3)
        assert sum(name.endswith("-blt.mp3") for name in mp3) == (st.name == thai)
        assert (st / "radio" / "playbook.json").exists()
        assert len((st / "asrun.log").read_text().splitlines()) == 3  # three premieres aired
    quarantine = out / "drop" / "Lỗi"
    assert any(p.name.endswith(".txt") for p in quarantine.iterdir())
    report = next(out.glob("bao-cao-*.md")).read_text(encoding="utf-8")
    assert report.startswith("# Báo cáo tháng ") and "Xã Trung Hạ" in report
    status = res.stdout[res.stdout.rindex("== Vấn đề"):]
    assert "[LỖI]" not in status, status  # a healthy month, whatever the date
    # the screen is the newcomer's progress in Vietnamese; the daemon's log is in a file
    assert not re.search(r"(WARNING|ERROR) radiocast", res.stdout + res.stderr)
    log = out / "demo.log"
    assert f"Nhật ký chi tiết:     {log}" in res.stdout and log.stat().st_size > 0
    # the closing hint runs as typed, from another folder and without .venv/bin on PATH
    hint = next(line for line in res.stdout.splitlines() if line.startswith("Xem thêm: "))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    again = subprocess.run(hint.removeprefix("Xem thêm: "), shell=True, cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode in (0, 1) and "== Vấn đề" in again.stdout, again.stderr
