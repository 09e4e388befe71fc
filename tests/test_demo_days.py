"""The demo shows a healthy month whatever the date: its windows let the premiere and every
replay fit even on a month's last day; late on that day it says why they cannot."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from radiocast.airing.planning import plan_all
from radiocast.app import App
from radiocast.db import ops, views
from radiocast.db.schema import Airing, Delivery
from radiocast.demo.run import DEMO_WINDOWS, _warn_if_month_too_short, _windows

from .conftest import Clock, ready_programme

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ONE = '[[stations]]\nid = "na-meo"\nname = "Xã Na Mèo"\nhost = "na-meo.invalid"\n'


@pytest.mark.parametrize("day", [3, 15, 27, 30])
def test_the_rule_fits_on_any_day_of_the_month(make_app: Callable[..., App], tmp_path: Path,
                                               day: int) -> None:
    now_local = datetime(2026, 11, day, 14, 7, tzinfo=TZ)
    windows = _windows(now_local, quick=True)
    assert len(windows) == DEMO_WINDOWS
    slots = ", ".join(f'"{w}"' for w in windows)
    clock = Clock(now_local.astimezone(UTC))
    app = make_app(f"[schedule]\nslots = [{slots}]\nlead_minutes = 0\nmin_gap_days = 3",
                   ONE, clock=clock)
    f = tmp_path / "p.mp3"
    f.write_bytes(os.urandom(2000))
    ready_programme(app, f)
    with app.db.write() as s:
        ops.mark_delivered(s, s.scalars(select(Delivery)).one(), clock.now)
    plan_all(app)
    with app.db.read() as s:
        assert not views.shortfalls(s, "2026-11")
        planned = s.scalars(select(Airing)).all()
    assert len(planned) == 1 + app.settings.schedule.replays_per_month
    assert all(a.planned_at.astimezone(TZ).month == 11 for a in planned)


def test_late_on_the_last_day_the_demo_says_why(make_app: Callable[..., App],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    now_local = datetime(2026, 11, 30, 23, 20, tzinfo=TZ)
    windows = _windows(now_local, quick=True)
    assert len(windows) < DEMO_WINDOWS and windows[-1].endswith("23:59")
    slots = ", ".join(f'"{w}"' for w in windows)
    app = make_app(f"[schedule]\nslots = [{slots}]", ONE,
                   clock=Clock(now_local.astimezone(UTC)))
    _warn_if_month_too_short(app, "2026-11")
    out = capsys.readouterr().out
    assert f"tháng 11/2026 chỉ còn {len(windows)} lượt khung giờ" in out
    assert "3 lần phát lại" in out
    app.clock = Clock(datetime(2026, 11, 10, 3, tzinfo=UTC))  # the 10th: nothing to say
    _warn_if_month_too_short(app, "2026-11")
    assert capsys.readouterr().out == ""
