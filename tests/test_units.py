"""The systemd units that ship: as tight as systemd allows (exposure ≤ 2.0 by systemd's own
`systemd-analyze security`), and valid units (`systemd-analyze verify`, with ExecStart pointed
at this checkout's radiocast, since /opt/radiocast is not installed here)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNITS = sorted((REPO / "systemd").glob("*.service"))
RADIOCAST = Path(sys.executable).with_name("radiocast")


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing: scripts/test installs systemd")
        pytest.skip("systemd-analyze is not installed (package systemd)")
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=120,
                          check=False)


def test_every_unit_that_ships_is_checked() -> None:
    assert {u.name for u in UNITS} >= {"radiocast.service", "radiocast-station.service",
                                       "radiocast-web.service"}


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_each_unit_is_exposed_at_most_2_0(unit: Path) -> None:
    res = _analyze("security", "--offline=true", str(unit))
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", res.stdout + res.stderr)
    assert found, res.stdout + res.stderr
    assert float(found.group(1)) <= 2.0, res.stdout
    for setting in ("SystemCallFilter=@system-service", "ProtectProc=invisible",
                    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "CapabilityBoundingSet=",
                    "NoNewPrivileges=yes"):
        assert setting in unit.read_text(), (unit.name, setting)


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_each_unit_verifies(unit: Path, tmp_path: Path) -> None:
    here = tmp_path / unit.name
    here.write_text(unit.read_text().replace("/opt/radiocast/bin/radiocast", str(RADIOCAST)))
    res = _analyze("verify", str(here))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Unknown" not in res.stderr and "Failed" not in res.stderr, res.stderr
