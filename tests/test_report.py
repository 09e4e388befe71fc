"""Reports from a year simulated with the real planner and state transitions (injected clock)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from radiocast.airing.planning import plan_all
from radiocast.app import App
from radiocast.core.models import AiringState
from radiocast.db import ops
from radiocast.db.schema import Airing, Delivery, Programme
from radiocast.report.build import build_report
from radiocast.report.files import render_report

from .conftest import Clock, ready_programme

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
STATIONS = """
[[stations]]
id = "son-lu-2022"
name = "Thị trấn Sơn Lư"
host = "son-lu.quanson.invalid"
valid_to = 2025-06-30
[[stations]]
id = "trung-xuan-2022"
name = "Xã Trung Xuân"
host = "trung-xuan.quanson.invalid"
valid_to = 2025-06-30
[[stations]]
id = "quan-son"
name = "Xã Quan Sơn"
host = "quan-son.quanson.invalid"
valid_from = 2025-07-01
[[stations]]
id = "son-dien"
name = "Xã Sơn Điện"
host = "son-dien.quanson.invalid"
valid_from = 2025-07-01
"""


def local(y: int, m: int, d: int, h: int = 8) -> datetime:
    return datetime(y, m, d, h, tzinfo=TZ).astimezone(UTC)


def deliver_all(app: App, pid: int, at: Callable[[str], datetime | None]) -> None:
    with app.db.write() as s:
        for d in s.scalars(select(Delivery).where(Delivery.programme_id == pid)):
            when = at(d.station_id)
            if when is not None and when <= app.clock():
                ops.mark_delivered(s, d, when)


def run_airings(app: App, clock: Clock, until: datetime,
                outcome: Callable[[Airing], AiringState]) -> None:
    """Advance the clock airing by airing, recording what happened, re-planning as we go."""
    while True:
        plan_all(app)
        with app.db.read() as s:
            nxt = s.scalars(select(Airing).where(
                Airing.state == AiringState.PLANNED.value, Airing.planned_at <= until)
                .order_by(Airing.planned_at, Airing.id)).first()
        if nxt is None:
            return
        clock.now = nxt.planned_at
        with app.db.write() as s:
            assert ops.start_airing(s, nxt.id, clock.now)
            a = s.get_one(Airing, nxt.id)
            result = outcome(a)
            ops.finish_airing(s, a, result, clock.now + timedelta(minutes=15), "simulated")
        clock.now += timedelta(minutes=16)


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> App:
    """2025: a merger in July, a station offline most of September, a failed airing made up in
    October, a revision in March."""
    from radiocast.app import open_app

    from .conftest import write_config

    root = tmp_path_factory.mktemp("year")
    write_config(root, "[schedule]\nlead_minutes = 60", STATIONS)
    clock = Clock(local(2025, 1, 1))
    app = open_app(root / "radiocast.toml", clock=clock)
    for month in range(1, 13):
        m = f"2025-{month:02d}"
        audio = root / f"p{month}.mp3"  # each month's programme has its own content
        audio.write_bytes(b"\xff\xfb" * 50_000 + bytes([month]))
        clock.now = local(2025, month, 3)
        pid = ready_programme(app, audio, f"Chuyển đổi số tháng {month}", m)
        with app.db.write() as s:  # 15 min programmes
            s.get_one(Programme, pid).duration_s = 900.0

        def delivered_at(sid: str, month: int = month) -> datetime | None:
            if sid == "son-dien" and month == 9:
                return local(2025, 9, 30, 12)  # offline until the last afternoon
            return local(2025, month, 3, 9)


        def outcome(a: Airing) -> AiringState:
            local_day = a.planned_at.astimezone(TZ)
            if a.station_id == "quan-son" and (local_day.month, local_day.day) == (10, 3):
                return AiringState.FAILED
            return AiringState.AIRED

        if month == 3:  # a revision on the 12th
            clock.now = local(2025, 3, 3, 10)
            deliver_all(app, pid, delivered_at)
            run_airings(app, clock, local(2025, 3, 12), outcome)
            clock.now = local(2025, 3, 12)
            fixed = root / "p3-revised.mp3"
            fixed.write_bytes(b"\xff\xfb" * 50_000 + b"revised")
            new = ready_programme(app, fixed, "Chuyển đổi số tháng 3", m)
            with app.db.write() as s:
                old = s.get_one(Programme, pid)
                p = s.get_one(Programme, new)
                p.duration_s = 900.0
                p.revision = 2
                ops.supersede(s, old, p, clock.now)
            pid = new
            clock.now = local(2025, 3, 12, 10)
        else:
            clock.now = local(2025, month, 3, 10)
        # walk the month in steps, delivering when the station is back
        stop = local(2025, month + 1, 1, 0) if month < 12 else local(2026, 1, 1, 0)
        while clock.now < stop:
            deliver_all(app, pid, delivered_at)
            run_airings(app, clock, min(clock.now + timedelta(days=2), stop), outcome)
            clock.now = min(clock.now + timedelta(days=2), stop)
    return app


def test_year_report_counts_what_aired_and_matches_the_airing_table(year: App) -> None:
    data = build_report(year, "2025")
    with year.db.read() as s:
        rows = list(s.scalars(select(Airing)))
    aired = sum(1 for a in rows if a.state == AiringState.AIRED.value)
    assert data["totals"]["airings_aired"] == aired
    assert data["totals"]["airings_missed"] == sum(
        1 for a in rows if a.state in ("missed", "failed", "interrupted"))
    cells = {(st["station_id"], c["month"]): c for st in data["stations"] for c in st["months"]}
    # names valid in their period: old units before July, merged communes after
    names = {st["station_id"]: st["name"] for st in data["stations"]}
    assert names["son-lu-2022"] == "Thị trấn Sơn Lư" and names["quan-son"] == "Xã Quan Sơn"
    assert ("son-lu-2022", "2025-07") not in cells and ("quan-son", "2025-06") not in cells
    assert ("son-lu-2022", "2025-06") in cells and ("quan-son", "2025-07") in cells
    assert len(cells) == 2 * 6 + 2 * 6
    # ordinary months are compliant: a premiere and 3 replays confirmed aired
    assert cells[("son-lu-2022", "2025-01")]["compliant"]
    assert cells[("son-lu-2022", "2025-01")]["replays_aired"] == 3
    # the station offline until the last afternoon of September could not comply
    sep = cells[("son-dien", "2025-09")]
    assert not sep["compliant"] and sep["replays_aired"] < 3
    # the failed airing in October was made up, and the make-up counts
    octo = cells[("quan-son", "2025-10")]
    assert octo["makeups"] == 1 and octo["missed"] == 1 and octo["compliant"]
    # the March revision continued the count of the programme it replaced
    mar = cells[("trung-xuan-2022", "2025-03")]
    with year.db.read() as s:
        rev = s.scalars(select(Programme).where(Programme.month == "2025-03",
                                                Programme.revision == 2)).one()
    assert mar["compliant"] and mar["programme_ids"] == [rev.id]
    assert mar["premiere_at"] < "2025-03-12"  # aired with the first version, counted for both
    rate = data["totals"]["compliance_rate"]
    assert data["totals"]["compliant"] == sum(1 for c in cells.values() if c["compliant"])
    assert rate == pytest.approx(data["totals"]["compliant"] / len(cells), abs=1e-4)


def test_half_year_reports_cover_their_months(year: App) -> None:
    h1 = build_report(year, "2025-H1")
    h2 = build_report(year, "2025-H2")
    assert h1["months"] == [f"2025-{m:02d}" for m in range(1, 7)]
    assert {s["station_id"] for s in h1["stations"]} == {"son-lu-2022", "trung-xuan-2022"}
    assert {s["station_id"] for s in h2["stations"]} == {"quan-son", "son-dien"}
    assert h1["totals"]["station_months"] + h2["totals"]["station_months"] == \
        build_report(year, "2025")["totals"]["station_months"]
    assert h2["stations"][0]["delivery"]["median_hours"] is not None


def test_csv_is_excel_friendly_and_round_trips_vietnamese(year: App) -> None:
    raw = render_report(build_report(year, "2025-H1"), "csv", "vi")
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Mã đài", "Tên đài", "Tháng"]
    assert rows[1][1] == "Thị trấn Sơn Lư" and rows[1][2] == "01/2025"
    assert rows[1][5].endswith("/01/2025 " + rows[1][5][-5:])  # dd/mm/yyyy HH:MM
    assert rows[1][-1] == "Đạt" and rows[1][4] == "Có"
    en = render_report(build_report(year, "2025-H1"), "csv", "en").decode("utf-8-sig")
    assert en.startswith("Station id,Station,Month")


def test_xlsx_has_a_coloured_matrix_and_every_airing(year: App, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    data = build_report(year, "2025-H2")
    path = tmp_path / "r.xlsx"
    path.write_bytes(render_report(data, "xlsx", "vi"))
    wb = load_workbook(path)
    assert wb.sheetnames == ["Tổng hợp", "Chi tiết", "Lượt phát"]
    ws = wb["Tổng hợp"]
    head = next(r for r in range(1, 20) if ws.cell(r, 1).value == "Mã đài")
    top = [ws.cell(r, 1).value for r in range(1, head)]
    # the title, period, sender and totals stand above the matrix
    assert "Báo cáo 6 tháng cuối năm 2025" in top and any(
        "6 tháng cuối năm 2025" in (v or "") and "đạt yêu cầu (tỷ lệ" in (v or "") for v in top)
    assert data["sender"].upper() in top
    assert [ws.cell(head, c).value for c in (2, 3, 9)] == ["Tên đài", "07/2025", "Số tháng đạt"]
    row = {ws.cell(r, 2).value: r for r in range(head + 1, head + 3)}
    sep = ws.cell(row["Xã Sơn Điện"], 5)  # September column
    assert sep.value == "Không đạt" and sep.fill.fgColor.rgb.endswith("FFC7CE")
    ok = ws.cell(row["Xã Quan Sơn"], 3)
    assert ok.value == "Đạt" and ok.fill.fgColor.rgb.endswith("C6EFCE")
    assert ws.cell(head + 3, 1).value == "Tổng" and ws.cell(head + 3, 5).value == "1/2"
    airings = wb["Lượt phát"]
    assert airings.max_row - 1 == len(data["airings"])
    assert {airings.cell(r, 7).value for r in range(2, airings.max_row + 1)} == {"Tiếng Việt"}
    assert {airings.cell(r, 8).value for r in range(2, airings.max_row + 1)} <= {
        "phát lần đầu", "phát lại", "phát bù"}
    assert airings.cell(2, 9).value in ("đã phát", "phát lỗi", "bị lỡ")
    # it prints: bold frozen headers repeated on each page, A4 fitted to the width, and
    # every column as wide as its longest text (titles are not cut mid-word)
    for sheet in wb.worksheets:
        assert sheet.freeze_panes is not None and sheet.print_title_rows
        assert int(sheet.page_setup.paperSize) == int(sheet.PAPERSIZE_A4)
        assert sheet.page_setup.fitToWidth == 1 and sheet.sheet_properties.pageSetUpPr.fitToPage
    titles = [airings.cell(r, 6).value for r in range(2, airings.max_row + 1)]
    assert airings.column_dimensions["F"].width >= max(map(len, titles))
    assert airings.cell(1, 6).font.bold


def test_json_and_markdown(year: App) -> None:
    doc = json.loads(render_report(build_report(year, "2025-10"), "json", "vi"))
    assert {"period", "sender", "stations", "totals"} <= set(doc)
    month = doc["stations"][0]["months"][0]
    assert {"month", "programme_id", "premiere_at", "replays_aired", "makeups", "missed",
            "compliant"} <= set(month)
    md = render_report(build_report(year, "2025-10"), "md", "vi").decode()
    assert md.startswith("# Báo cáo tháng 10/2025") and "(tỷ lệ 100%)" in md
    assert "| quan-son | Xã Quan Sơn | 10/2025 |" in md and "0.8" not in md


def test_no_data_is_an_error_not_an_empty_file(year: App) -> None:
    from radiocast.core.errors import NoDataError

    with pytest.raises(NoDataError):
        build_report(year, "2024-H2")


def test_date_range_and_station_unreachable_hours(make_app: Callable[..., App],
                                                  tmp_path: Path) -> None:
    clock = Clock(local(2026, 5, 4, 8))
    app = make_app(stations=STATIONS.replace("valid_from = 2025-07-01", ""), clock=clock)
    audio = tmp_path / "p.mp3"
    audio.write_bytes(b"\xff\xfb" * 1000)
    pid = ready_programme(app, audio, "Tháng 5", "2026-05")
    deliver_all(app, pid, lambda sid: local(2026, 5, 4, 8))
    with app.db.write() as s:
        ops.record_station_error(s, "quan-son", local(2026, 5, 6, 10), "timed out", True)
        ops.record_contact(s, "quan-son", local(2026, 5, 6, 15), None)
    run_airings(app, clock, local(2026, 5, 31, 23), lambda a: AiringState.AIRED)
    clock.now = local(2026, 6, 1, 8)
    whole = build_report(app, "2026-05")
    st = {x["station_id"]: x for x in whole["stations"]}
    assert st["quan-son"]["unreachable_hours"] == 5.0
    assert st["son-dien"]["unreachable_hours"] == 0.0
    assert st["quan-son"]["months"][0]["compliant"]
    first_week = build_report(app, start=local(2026, 5, 1).date(),
                              end=local(2026, 5, 7).date())
    cell = {x["station_id"]: x for x in first_week["stations"]}["quan-son"]["months"][0]
    assert cell["premiere_at"] is not None and not cell["compliant"]
    assert cell["replays_aired"] < 3
    assert first_week["period"] == "01/05/2026–07/05/2026"


def test_a_month_in_progress_reads_as_in_progress_not_as_failure(
        make_app: Callable[..., App], tmp_path: Path) -> None:
    """On the 7th, with the premiere aired and the replays planned from the 10th: "in
    progress", never "Không đạt"; a station whose remaining airings cannot make it: "at risk";
    "Không đạt" only for a month that has ended."""
    clock = Clock(local(2026, 12, 1, 1))
    app = make_app("", STATIONS, clock=clock)
    f = tmp_path / "p.mp3"
    f.write_bytes(b"\xff" * 4000)
    pid = ready_programme(app, f, month="2026-12")
    deliver_all(app, pid, lambda _sid: clock.now)
    plan_all(app)
    clock.now = local(2026, 12, 7)
    with app.db.write() as s:
        for a in s.scalars(select(Airing).order_by(Airing.planned_at)):
            if a.planned_at > clock.now:
                if a.station_id == "son-dien":  # its remaining airings are lost
                    ops.cancel_airing(s, a, clock.now, "the station was closed")
            elif a.state == AiringState.PLANNED.value:
                ops.confirm_airing(s, a, AiringState.AIRED, a.planned_at,
                                   a.planned_at + timedelta(minutes=15), clock.now, "exit 0")
    data = build_report(app, "2026-12")
    status = {st["station_id"]: st["months"][0]["status"] for st in data["stations"]}
    assert status == {"quan-son": "in_progress", "son-dien": "at_risk"}
    assert data["in_progress"] and data["totals"]["not_met"] == 0
    assert (data["totals"]["in_progress"], data["totals"]["at_risk"]) == (1, 1)
    text = render_report(data, "csv", "vi").decode("utf-8-sig")
    assert "Đang thực hiện" in text and "Có nguy cơ không đạt" in text
    assert "Không đạt" not in text.replace("Có nguy cơ không đạt", "")
    md = render_report(data, "md", "vi").decode()
    assert "Kỳ báo cáo chưa kết thúc, số liệu tính đến" in md
    clock.now = local(2027, 1, 2)  # the month is over: what was not reached is "not met"
    after = build_report(app, "2026-12")
    assert {st["months"][0]["status"] for st in after["stations"]} == {"not_met"}
    assert not after["in_progress"]
    assert "Kỳ báo cáo chưa kết thúc" not in render_report(after, "md", "vi").decode()
