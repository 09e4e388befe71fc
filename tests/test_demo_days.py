"""The demo shows a healthy month whatever the date and the hour: its windows let the premiere
and every replay fit even on a month's last day, and late in the evening it keeps time in a zone
west of Vietnam's, since airing windows do not cross midnight."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from radiocast.airing.planning import plan_all
from radiocast.app import App
from radiocast.db import ops, views
from radiocast.db.schema import Airing, Delivery
from radiocast.demo.run import DEMO_WINDOWS, LATEST_START, _windows, demo_zone

from .conftest import Clock, ready_programme, write_config

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ONE = '[[stations]]\nid = "na-meo"\nname = "Xã Na Mèo"\nhost = "na-meo.invalid"\n'


@pytest.mark.parametrize("day,hour,minute", [(3, 14, 7), (15, 0, 1), (27, 21, 44),
                                             (30, 14, 7), (30, 22, 30), (30, 23, 58)])
def test_the_rule_fits_on_any_day_of_the_month_at_any_hour(make_app: Callable[..., App],
                                                           tmp_path: Path, day: int, hour: int,
                                                           minute: int) -> None:
    now = datetime(2026, 11, day, hour, minute, tzinfo=TZ).astimezone(UTC)
    zone, _ = demo_zone(now)
    windows = _windows(now.astimezone(ZoneInfo(zone)), quick=True)
    assert len(windows) == DEMO_WINDOWS
    slots = ", ".join(f'"{w}"' for w in windows)
    write_config(tmp_path, f"[schedule]\nslots = [{slots}]\nlead_minutes = 0\n"
                 "min_gap_days = 3", ONE)
    cfg = tmp_path / "radiocast.toml"
    cfg.write_text(cfg.read_text().replace("[radiocast]\n", f'[radiocast]\ntimezone = "{zone}"\n'))
    clock = Clock(now)
    app = make_app(clock=clock, root=tmp_path)
    assert app.settings.general.timezone == zone
    f = tmp_path / "p.mp3"
    f.write_bytes(os.urandom(2000))
    ready_programme(app, f)
    with app.db.write() as s:
        ops.mark_delivered(s, s.scalars(select(Delivery)).one(), now)
    plan_all(app)
    with app.db.read() as s:
        assert not views.shortfalls(s, "2026-11")
        planned = s.scalars(select(Airing)).all()
    assert len(planned) == 1 + app.settings.schedule.replays_per_month
    assert all(a.planned_at.astimezone(app.settings.general.tz).month == 11 for a in planned)
    premiere = min(a.planned_at for a in planned)
    assert timedelta(0) < premiere - now < timedelta(minutes=4)  # the real clock: minutes away


def test_late_in_the_evening_the_demo_keeps_time_in_a_zone_west_of_vietnam() -> None:
    """Every minute of a month's last day: a whole 20-minute premiere window starting within
    minutes, and three more windows before midnight (airing windows do not cross it)."""
    day = datetime(2026, 11, 30, tzinfo=TZ)
    for minute in range(24 * 60):
        now = (day + timedelta(minutes=minute, seconds=37)).astimezone(UTC)
        zone, back = demo_zone(now)
        local = now.astimezone(ZoneInfo(zone))
        assert local.date() == day.date() and local.time() <= LATEST_START, local
        assert local.utcoffset() == timedelta(hours=7 - back)
        assert (back > 0) == (minute >= LATEST_START.hour * 60 + LATEST_START.minute), local
        assert (zone == "Asia/Ho_Chi_Minh") == (back == 0)
        windows = [w.split("-") for w in _windows(local, quick=minute % 2 == 0)]
        assert len(windows) == DEMO_WINDOWS, (local, windows)
        first = datetime.combine(local.date(), time.fromisoformat(windows[0][0]), local.tzinfo)
        assert timedelta(0) < first - local < timedelta(minutes=4), (local, windows)
        for a, b in windows:
            assert (datetime.combine(day, time.fromisoformat(b))
                    - datetime.combine(day, time.fromisoformat(a))) == timedelta(minutes=20)
    assert demo_zone(datetime(2026, 11, 30, 23, 58, tzinfo=TZ)) == ("Etc/GMT-4", 3)
