"""The metrics endpoint scraped over HTTP and parsed with prometheus_client's own parser, the
dead-man signal from a running daemon, and `radiocast alerts test`."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from radiocast.airing.planning import plan_all
from radiocast.alerting.exporter import DatabaseCollector, registry_for, serve
from radiocast.app import App
from radiocast.core.models import AiringKind, AiringState
from radiocast.daemon import Daemon
from radiocast.db import ops
from radiocast.db.schema import Airing, Delivery
from radiocast.hub import standby_metrics
from radiocast.status.problems import find_problems

from .conftest import Clock, ready_programme
from .receivers import HttpReceiver, free_port
from .test_cli import run_cli

STATIONS = "".join(f'[[stations]]\nid = "{sid}"\nname = "{sid}"\nhost = "{sid}.invalid"\n'
                   for sid in ("na-meo", "tam-lu"))
DOCUMENTED = ["radiocast_airings", "radiocast_deliveries",
              "radiocast_station_last_contact_timestamp_seconds", "radiocast_station_free_bytes",
              "radiocast_problems", "radiocast_month_compliance_ratio",
              "radiocast_normalize_seconds", "radiocast_loop_tick_seconds"]


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    r = HttpReceiver()
    yield r
    r.close()


def test_the_metrics_endpoint_says_what_the_database_says(make_app: Callable[..., App],
                                                          tmp_path: object) -> None:
    clock = Clock(datetime(2026, 11, 10, 1, tzinfo=UTC))
    app = make_app("", STATIONS, clock=clock)
    f = tmp_path / "p.mp3"  # type: ignore[operator]
    f.write_bytes(b"\xff" * 4000)
    ready_programme(app, f)
    with app.db.write() as s:
        for d in s.scalars(select(Delivery)):
            if d.station_id == "na-meo":
                ops.mark_delivered(s, d, clock.now)
            else:
                ops.mark_delivery_failed(s, d, clock.now, "Permission denied")
        ops.record_contact(s, "na-meo", clock.now, 123_000_000)
    plan_all(app)
    with app.db.write() as s:
        first = s.scalars(select(Airing).where(Airing.station_id == "na-meo",
                                               Airing.kind == AiringKind.PREMIERE.value)).one()
        ops.finish_airing(s, first, AiringState.AIRED, clock.now, "exit 0")
    problems = find_problems(app, "en")
    port = free_port()
    server = serve(f"127.0.0.1:{port}", registry_for(DatabaseCollector(
        app.settings, app.db, app.clock, lambda: problems)))
    assert server is not None
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    finally:
        server.shutdown()
    families = {f.name: f for f in text_string_to_metric_families(text.decode())}
    assert set(DOCUMENTED) <= set(families), set(DOCUMENTED) - set(families)

    def value(name: str, suffix: str = "", **labels: str) -> float:
        return next(s.value for s in families[name].samples
                    if s.name == name + suffix and all(s.labels.get(k) == v
                                                       for k, v in labels.items()))

    assert value("radiocast_airings", "_total", station="na-meo", kind="premiere",
                 outcome="aired") == 1
    with app.db.read() as s:
        for state, n in s.execute(select(Delivery.state, func.count()).group_by(
                Delivery.state)):
            assert value("radiocast_deliveries", "_total", outcome=state) == n
    assert value("radiocast_station_last_contact_timestamp_seconds", station="na-meo") == \
        clock.now.timestamp()
    assert value("radiocast_station_free_bytes", station="na-meo") == 123_000_000
    assert value("radiocast_month_compliance_ratio", station="na-meo") == 0.25  # 1 of 4
    assert value("radiocast_month_compliance_ratio", station="tam-lu") == 0
    assert value("radiocast_problems", code="delivery_failing", severity="error") == 1
    assert {s.labels["station"] for s in families["radiocast_airings"].samples} <= {
        "na-meo", "tam-lu"}  # bounded labels


def test_the_dead_man_hears_every_pass_and_a_failed_step(make_app: Callable[..., App],
                                                         http: HttpReceiver) -> None:
    app = make_app(f'[heartbeat]\nurl = "http://127.0.0.1:{http.port}/ping/abc"\n'
                   'every_seconds = 0\n[metrics]\nlisten = ""\n')
    daemon = Daemon(app)
    calls = {"n": 0}
    real = daemon.step_originals

    def flaky() -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("a step that fails once")
        real()

    daemon.step_originals = flaky  # type: ignore[method-assign]

    def stop_when_heard() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
                any(p.endswith("/fail") for _, p, _ in http.got)
                and sum(p == "/ping/abc" for _, p, _ in http.got) >= 3):
            time.sleep(0.1)
        daemon.stop.set()

    threading.Thread(target=stop_when_heard, daemon=True).start()
    daemon.run()  # signal handlers: the main thread
    paths = [p for _, p, _ in http.got]
    assert paths[0] == "/ping/abc/start"
    assert paths.count("/ping/abc/fail") == 1 and paths.count("/ping/abc") >= 3


def test_alerts_test_reports_each_channel_and_hides_secrets(make_app: Callable[..., App],
                                                            http: HttpReceiver) -> None:
    dead = f"json://bot:secretpw@127.0.0.1:{free_port()}/x"
    app = make_app(f'[[alerts]]\nname = "tech"\nurl = "{http.url()}"\n'
                   f'[[alerts]]\nname = "boss"\nurl = "{dead}"\n')
    res = run_cli("--config", str(app.settings.path), "alerts", "test")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "ĐẠT  tech (json)" in res.stdout and "LỖI  boss (json)" in res.stdout
    assert "secretpw" not in res.stdout + res.stderr
    [msg] = http.messages
    assert msg["title"] == "[radiocast] Thử thông báo" and "tech" in msg["message"]


def test_check_vets_each_alert_url_and_a_config_that_shows_its_secrets(
        make_app: Callable[..., App], http: HttpReceiver) -> None:
    app = make_app(f'[[alerts]]\nname = "tech"\nurl = "{http.url()}"\n'
                   '[[alerts]]\nname = "sai"\nurl = "khong-ro://abc"\n')
    cfg = app.settings.path
    assert cfg is not None
    cfg.chmod(0o644)
    res = run_cli("--config", str(cfg), "check", "--no-stations")
    assert res.returncode == 1
    assert "ĐẠT  Kênh thông báo tech (json): địa chỉ dùng được" in res.stdout
    assert "LỖI  Kênh thông báo sai (khong-ro)" in res.stdout
    assert f"ai trên máy cũng đọc được: chmod 640 {cfg}" in res.stdout
    cfg.chmod(0o640)
    again = run_cli("--config", str(cfg), "check", "--no-stations")
    assert "chmod 640" not in again.stdout and again.stdout.count("LỖI") == 1
    assert http.messages == []  # check sends nothing


def test_a_long_subject_is_one_incident_with_a_bounded_key(make_app: Callable[..., App]) -> None:
    from dataclasses import dataclass, field

    from radiocast.alerting.notices import Alerts
    from radiocast.db.schema import Incident

    @dataclass
    class P:
        subject: str
        severity: str = "warning"
        code: str = "file_waiting"
        message: str = "Tệp nằm chờ"
        action: str = "Kiểm tra"
        params: dict[str, Any] = field(default_factory=dict)

    app = make_app('[[alerts]]\nurl = "json://127.0.0.1:9/x"\n')
    alerts = Alerts(app.settings, app.db, app.clock)
    long = P("/srv/radiocast/drop/" + "Chương trình rất dài " * 30 + ".mp3")
    for _ in range(3):
        alerts.update({"vi": [long]})
    with app.db.read() as s:
        [inc] = s.scalars(select(Incident)).all()
        assert len(inc.key) <= 200 and inc.closed_at is None


def scrape(port: int) -> dict[str, object]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    return {f.name: f for f in text_string_to_metric_families(text.decode())}


def scrape_once(server: Any, port: int) -> dict[str, Any]:
    """One scrape of a server started on `port`, which is then closed (the port freed)."""
    assert server is not None
    try:
        return scrape(port)
    finally:
        server.shutdown()
        server.server_close()


def test_every_series_is_there_from_the_first_scrape_and_a_standby_serves_too(
        make_app: Callable[..., App], tmp_path: Path) -> None:
    """An empty hub: every station × kind × outcome, every delivery state and every problem
    code are at 0 (a rate or an alert rule never meets a gap); a standby says leader 0."""
    app = make_app("", STATIONS)
    port = free_port()
    server = serve(f"127.0.0.1:{port}", registry_for(DatabaseCollector(
        app.settings, app.db, app.clock, lambda: ())))
    families = scrape_once(server, port)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in families.values() for s in f.samples}
    assert samples[("radiocast_leader", ())] == 1
    for station in ("na-meo", "tam-lu"):
        for kind in AiringKind:
            assert samples[("radiocast_airings_total", (
                ("kind", kind.value), ("outcome", "aired"), ("station", station)))] == 0
    assert samples[("radiocast_deliveries_total", (("outcome", "failed"),))] == 0
    for code in ("delivery_failing", "hub_disk_low", "inbox_swept", "asrun_rejected"):
        assert samples[("radiocast_problems", (("code", code), ("severity", "error")))] == 0
    (tmp_path / "standby").mkdir()  # the standby hub: its own configuration, same stations
    standby_app = make_app(f'[metrics]\nlisten = "127.0.0.1:{port}"\n', STATIONS,
                           root=tmp_path / "standby")
    families = scrape_once(standby_metrics(standby_app), port)
    assert [s.value for s in families["radiocast_leader"].samples] == [0]
    assert "radiocast_airings" in families  # what the database says, from the standby too
