"""The report as files people open: CSV (with a BOM, for Excel), JSON, Markdown and XLSX, in
Vietnamese or English. Works on the report's data (`report.build_report`), never on the
database."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from radiocast.errors import UsageError

HEADERS = {
    "vi": ["Mã đài", "Tên đài", "Tháng", "Chương trình", "Đã nhận file", "Phát lần đầu",
           "Số lần phát lại", "Phát bù", "Bị lỡ", "Số phút đã phát", "Đạt yêu cầu"],
    "en": ["Station id", "Station", "Month", "Programme", "Delivered", "Premiere",
           "Replays aired", "Make-ups", "Missed", "Minutes aired", "Compliant"],
}
YES = {"vi": ("Có", "Không"), "en": ("Yes", "No")}


def _ddmmyyyy(iso_text: str | None) -> str:
    if not iso_text:
        return ""
    dt = datetime.fromisoformat(iso_text)
    return f"{dt:%d/%m/%Y %H:%M}"


def _rows(data: dict[str, Any], lang: str) -> list[list[Any]]:
    yes, no = YES[lang]
    rows = []
    for st in data["stations"]:
        for c in st["months"]:
            rows.append([st["station_id"], st["name"], f"{c['month'][5:]}/{c['month'][:4]}",
                         ", ".join(f"#{p}" for p in c["programme_ids"]),
                         yes if c["delivered"] else no, _ddmmyyyy(c["premiere_at"]),
                         c["replays_aired"], c["makeups"], c["missed"], c["minutes_aired"],
                         yes if c["compliant"] else no])
    return rows


def render_report(data: dict[str, Any], fmt: str, lang: str) -> bytes:
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(HEADERS[lang])
        w.writerows(_rows(data, lang))
        return ("\ufeff" + buf.getvalue()).encode("utf-8")
    if fmt == "md":
        return _markdown(data, lang).encode("utf-8")
    if fmt == "xlsx":
        return _xlsx(data, lang)
    raise UsageError(f"unknown format {fmt!r}")


def _markdown(data: dict[str, Any], lang: str) -> str:
    tot = data["totals"]
    vi = lang == "vi"
    head = [
        f"# {'Báo cáo kết quả phát thanh chuyển đổi số' if vi else 'Airing compliance report'}"
        f" — {data['period']}", "",
        f"{'Đơn vị gửi' if vi else 'Sender'}: {data['sender']}  ",
        (f"Yêu cầu: 1 chương trình/tháng, phát lại ít nhất {data['replays_required']} lần  "
         if vi else
         f"Rule: 1 programme a month, replayed at least {data['replays_required']} times  "),
        f"{'Tỷ lệ đạt' if vi else 'Compliance'}: {tot['compliant']}/{tot['station_months']}"
        f" ({tot['compliance_rate'] * 100:.0f}%)", "",
        "| " + " | ".join(HEADERS[lang]) + " |",
        "|" + "---|" * len(HEADERS[lang]),
    ]
    body = ["| " + " | ".join(str(v) for v in r) + " |" for r in _rows(data, lang)]
    return "\n".join(head + body + ["", _evidence_line(data, lang)]) + "\n"


EVIDENCE = {"vi": {"station-confirmed": "do phần mềm tại đài xác nhận",
                   "exit status": "theo kết quả của trình phát tại đài",
                   "as-run file": "theo tệp ghi phát của đài", "unconfirmed": "chưa xác nhận"},
            "en": {"station-confirmed": "confirmed by the station agent",
                   "exit status": "by the player's exit status",
                   "as-run file": "by the station's as-run file",
                   "unconfirmed": "not confirmed yet"}}


def _evidence_line(data: dict[str, Any], lang: str) -> str:
    """What the airings' outcomes rest on, counted."""
    counts: dict[str, int] = {}
    for a in data["airings"]:
        counts[a["evidence"]] = counts.get(a["evidence"], 0) + 1
    parts = [f"{counts[k]} {label}" for k, label in EVIDENCE[lang].items() if counts.get(k)]
    lead = "Bằng chứng các lượt phát" if lang == "vi" else "Evidence for the airings"
    return f"{lead}: {', '.join(parts) if parts else '-'}"


def _xlsx(data: dict[str, Any], lang: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    green = PatternFill("solid", fgColor="C6EFCE")
    red = PatternFill("solid", fgColor="FFC7CE")
    wb = Workbook()
    ws = wb.active
    ws.title = "Tổng hợp" if lang == "vi" else "Summary"
    ws.append([("Báo cáo kỳ " if lang == "vi" else "Report for ") + data["period"]])
    ws.append([data["sender"]])
    ws.append([])
    months = data["months"]
    ws.append(["Đài" if lang == "vi" else "Station"] + [f"{m[5:]}/{m[:4]}" for m in months])
    for cell in ws[4]:
        cell.font = Font(bold=True)
    yes, no = YES[lang]
    for st in data["stations"]:
        by_month = {c["month"]: c for c in st["months"]}
        row = [st["name"]]
        for m in months:
            c = by_month.get(m)
            row.append("" if c is None else (yes if c["compliant"] else no))
        ws.append(row)
        for col, m in enumerate(months, start=2):
            c = by_month.get(m)
            if c is not None:
                ws.cell(ws.max_row, col).fill = green if c["compliant"] else red
    ws.append([])
    tot = data["totals"]
    ws.append(["Tỷ lệ đạt" if lang == "vi" else "Compliance rate", tot["compliance_rate"]])
    ws.column_dimensions["A"].width = 28
    detail = wb.create_sheet("Chi tiết" if lang == "vi" else "Detail")
    detail.append(HEADERS[lang])
    for r in _rows(data, lang):
        detail.append(r)
    airings = wb.create_sheet("Lượt phát" if lang == "vi" else "Airings")
    keys = ["airing_id", "station_id", "station_name", "month", "programme_id", "title", "kind",
            "state", "evidence", "planned_at", "started_at", "finished_at", "detail"]
    airings.append(keys)
    for a in data["airings"]:
        airings.append([a[k] for k in keys])
    _never_formulas(wb)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _never_formulas(wb: Any) -> None:
    """A title or a station's text starting with "=" stays text: openpyxl would store it as a
    formula, which Excel and LibreOffice would then run."""
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"
