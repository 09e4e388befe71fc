"""Each problem kind appears when its condition holds and clears when it ends."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from radiocast.airing.planning import plan_all
from radiocast.app import App
from radiocast.core.i18n import t
from radiocast.core.models import AiringKind, AiringState
from radiocast.db import ops
from radiocast.db.schema import Airing, Delivery, Programme
from radiocast.status.problems import ProblemLog, build_status, find_problems

from .conftest import Clock, ready_programme

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ONE = '[[stations]]\nid = "na-meo"\nname = "Xã Na Mèo"\nhost = "na-meo.quanson.invalid"\n'


def codes(app: App) -> set[str]:
    return {p.code for p in find_problems(app, "en")}


@pytest.fixture
def world(make_app: Callable[..., App], tmp_path: Path) -> tuple[App, Clock]:
    clock = Clock(datetime(2026, 11, 10, 1, 0, tzinfo=UTC))  # 08:00 on the 10th, local
    return make_app(stations=ONE, clock=clock), clock


def add_ready(app: App, tmp_path: Path, name: str = "p.mp3") -> int:
    f = tmp_path / name
    f.write_bytes(os.urandom(1000))
    return ready_programme(app, f)


def test_programme_late_appears_after_the_due_day_and_clears(world: tuple[App, Clock],
                                                             tmp_path: Path) -> None:
    app, clock = world
    clock.now = datetime(2026, 11, 2, 1, tzinfo=UTC)
    assert "programme_late" not in codes(app)  # before the 5th
    clock.now = datetime(2026, 11, 10, 1, tzinfo=UTC)
    assert "programme_late" in codes(app)
    add_ready(app, tmp_path)
    assert "programme_late" not in codes(app)


def test_file_waiting_in_the_drop_folder(world: tuple[App, Clock]) -> None:
    app, clock = world
    drop = app.settings.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    f = drop / "Chương trình.mp3"
    f.write_bytes(b"x")
    old = clock.now.timestamp() - 2 * 3600
    os.utime(f, (old, old))
    assert "file_waiting" in codes(app)
    f.unlink()
    assert "file_waiting" not in codes(app)


def test_delivery_failing_for_hours_and_station_unreachable(world: tuple[App, Clock],
                                                           tmp_path: Path) -> None:
    app, clock = world
    pid = add_ready(app, tmp_path)
    with app.db.write() as s:
        d = s.scalars(select(Delivery)).one()
        ops.mark_delivery_retry(s, d, clock.now, "Connection refused", clock.now)
        ops.record_station_error(s, "na-meo", clock.now, "Connection refused", True)
    assert "station_unreachable" in codes(app) and "delivery_failing" not in codes(app)
    clock.now += timedelta(hours=2)
    found = {p.code: p for p in find_problems(app, "en")}
    assert "delivery_failing" in found and "retry" in found["delivery_failing"].action
    with app.db.write() as s:
        ops.mark_delivered(s, s.scalars(select(Delivery)).one(), clock.now)
        ops.record_contact(s, "na-meo", clock.now, 10 << 30)
    assert not {"delivery_failing", "station_unreachable"} & codes(app)
    assert pid


def test_low_disk_at_a_station(world: tuple[App, Clock]) -> None:
    app, clock = world
    with app.db.write() as s:
        ops.record_contact(s, "na-meo", clock.now, 50 << 20)
    assert "low_disk" in codes(app)
    with app.db.write() as s:
        ops.record_contact(s, "na-meo", clock.now, 5 << 30)
    assert "low_disk" not in codes(app)


def _airing(app: App, pid: int, at: datetime, state: AiringState = AiringState.PLANNED,
            replaces: int | None = None) -> int:
    with app.db.write() as s:
        a = ops.add_airing(s, pid, "na-meo", "2026-11",
                           AiringKind.MAKEUP if replaces else AiringKind.PREMIERE, at,
                           app.clock(), replaces)
        if state != AiringState.PLANNED:
            ops.finish_airing(s, a, state, app.clock(), "simulated")
        return a.id


def test_file_not_at_station_before_its_airing(world: tuple[App, Clock], tmp_path: Path) -> None:
    app, clock = world
    pid = add_ready(app, tmp_path)
    _airing(app, pid, clock.now + timedelta(minutes=30))  # within the 60 min lead
    assert "file_not_at_station" in codes(app)
    with app.db.write() as s:
        ops.mark_delivered(s, s.scalars(select(Delivery)).one(), clock.now)
    assert "file_not_at_station" not in codes(app)


def test_missed_airing_until_its_make_up_airs(world: tuple[App, Clock], tmp_path: Path) -> None:
    app, clock = world
    pid = add_ready(app, tmp_path)
    missed = _airing(app, pid, clock.now - timedelta(hours=1), AiringState.MISSED)
    [p] = [p for p in find_problems(app, "en") if p.code == "airing_missed"]
    assert p.severity == "error"
    makeup = _airing(app, pid, clock.now + timedelta(days=1), replaces=missed)
    [p] = [p for p in find_problems(app, "en") if p.code == "airing_missed"]
    assert p.severity == "warning" and "make-up is planned" in p.action
    with app.db.write() as s:
        a = s.get_one(Airing, makeup)
        assert ops.start_airing(s, makeup, clock.now)
        ops.finish_airing(s, a, AiringState.AIRED, clock.now, "exit 0")
    assert "airing_missed" not in codes(app)


def test_quota_at_risk_when_the_month_cannot_fit(make_app: Callable[..., App],
                                                 tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 30, 5, tzinfo=UTC))  # 12:00 on the 30th
    app = make_app(stations=ONE, clock=clock)
    pid = add_ready(app, tmp_path)
    with app.db.write() as s:
        ops.mark_delivered(s, s.scalars(select(Delivery)).one(), clock.now)
        s.get_one(Programme, pid).duration_s = 600
    plan_all(app)  # the daemon plans; status only reads the shortfalls the planner recorded
    found = [p for p in find_problems(app, "en") if p.code == "quota_at_risk"]
    assert found and "na-meo" in found[0].message and "11/2026" in found[0].message
    # the operator widens the station's windows: evening and night sessions fit the month
    cfg = app.settings.path
    assert cfg is not None
    cfg.write_text(cfg.read_text().replace(
        'host = "na-meo.quanson.invalid"\n',
        'host = "na-meo.quanson.invalid"\nslots = ["17:30-18:15", "19:00-19:45", '
        '"20:00-20:45", "21:00-21:45"]\n'))
    from radiocast.app import open_app

    wider = open_app(cfg, clock=clock)
    plan_all(wider)
    assert "quota_at_risk" not in codes(wider)
    wider.close()


def test_problems_are_logged_once_when_they_start_and_when_they_clear(
        world: tuple[App, Clock], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app, _ = world
    log = ProblemLog(app, every_seconds=0)
    with caplog.at_level(logging.WARNING, logger="radiocast.status.problems"):
        [late] = [p for p in find_problems(app) if p.code == "programme_late"]
        assert t("log.problem_started", app.lang, code=late.code, message=late.message) \
            in log.update(force=True)
        assert log.update(force=True) == []  # still there: not logged again
        add_ready(app, tmp_path)
        assert t("log.problem_cleared", app.lang, code=late.code, message=late.message) \
            in log.update(force=True)
    assert sum("programme_late" in r.message for r in caplog.records) == 2


def test_status_document_has_the_contract_keys(world: tuple[App, Clock]) -> None:
    app, _ = world
    doc = build_status(app)
    assert {"programmes", "deliveries", "airings", "stations", "problems"} <= set(doc)
    assert {"severity", "code", "message", "since"} <= set(doc["problems"][0])


def test_a_province_matrix_lists_only_the_stations_that_need_a_look() -> None:
    from radiocast.status.screen import render_status

    stations = [{"id": f"xa-{i:03d}"} for i in range(300)]
    deliveries = [{"programme_id": 7, "station_id": st["id"],
                   "state": "failed" if st["id"] in ("xa-004", "xa-250") else "delivered"}
                  for st in stations]
    doc = {"generated_at": "2026-11-10T08:00:00+07:00", "month": "2026-11", "programmes": [],
           "deliveries": deliveries, "airings": [], "stations": stations, "problems": []}
    text = render_status(doc, "vi")
    matrix = text[text.index("== Gửi tới các đài"):text.index("== Lịch phát")].splitlines()
    assert [ln.split()[0] for ln in matrix[2:4]] == ["xa-004", "xa-250"]
    assert "gửi lỗi" in matrix[2] and "298 mục khác" in matrix[4] and len(matrix) == 6
    small = render_status({**doc, "stations": stations[:5], "deliveries": deliveries[:5]}, "en")
    assert small.count("delivered") == 4 and "failed" in small  # every station when few
