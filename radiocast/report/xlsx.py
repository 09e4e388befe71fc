"""The report as an XLSX workbook that prints well: a summary sheet headed with the report's
title, period, sender and totals above the station × month matrix; a detail sheet and an
airings sheet. Headers bold and frozen, columns as wide as their content, A4 fit to width
with the header rows repeated on every printed page."""

from __future__ import annotations

import io
import unicodedata
from typing import Any

from radiocast.core.humane import month_label
from radiocast.core.i18n import t
from radiocast.report.words import (
    AIRING_COLUMNS,
    DETAIL_COLUMNS,
    airing_rows,
    approval_sentence,
    detail_rows,
    document_title,
    headers,
    month_totals,
    period_title,
    progress_sentence,
    record_sentence,
    summary_sentence,
    verdict,
)

GREEN, RED, AMBER = "C6EFCE", "FFC7CE", "FFEB9C"  # Excel's own good, bad and neutral
MAX_WIDTH = 60  # a longer text wraps instead of widening its column past a page


def workbook(data: dict[str, Any], lang: str) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    _summary(wb.active, data, lang)
    detail = wb.create_sheet(t("report.sheet_detail", lang))
    _table(detail, headers(DETAIL_COLUMNS, lang), detail_rows(data, lang), lang, 1)
    airings = wb.create_sheet(t("report.sheet_airings", lang))
    _table(airings, headers(AIRING_COLUMNS, lang), airing_rows(data, lang), lang, 1)
    _never_formulas(wb)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _summary(ws: Any, data: dict[str, Any], lang: str) -> None:
    from openpyxl.styles import Alignment, Font

    ws.title = t("report.sheet_summary", lang)
    doc = data["document"]
    tot = data["totals"]
    top = [(doc["parent"].upper(), False), (doc["sender"].upper(), True), ("", False),
           (t("report.for_period", lang, period=period_title(data["period"], lang)), True),
           (document_title(data, lang), True),
           (t("report.rule", lang, n=data["replays_required"]), False),
           (summary_sentence(data, lang), False), (progress_sentence(data, lang), False),
           *[(s, False) for s in (approval_sentence(data, lang), record_sentence(data, lang))
             if s], ("", False)]
    width = len(data["months"]) + 3
    for r, (text, bold) in enumerate(top, start=1):
        ws.cell(r, 1, text).font = Font(bold=bold, size=13 if r in (4, 5) else 11)
        if text:
            ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=width)
            ws.cell(r, 1).alignment = Alignment(horizontal="center" if r in (4, 5) else "left",
                                                wrap_text=True, vertical="center")
            ws.row_dimensions[r].height = 15 * max(1, len(text) // (width * 9) + 1)
    head = [t("report.col.station_id", lang), t("report.col.station", lang)] + [
        month_label(m) for m in data["months"]] + [t("report.col.months_met", lang)]
    rows = []
    for st in data["stations"]:
        by_month = {c["month"]: c for c in st["months"]}
        cells = [verdict(by_month[m], lang) if m in by_month else ""
                 for m in data["months"]]
        rows.append([st["station_id"], st["name"], *cells,
                     sum(1 for c in st["months"] if c["compliant"])])
    rows.append([t("report.total", lang), "", *[f"{ok}/{n}" for _, n, ok, _ in month_totals(data)],
                 f"{tot['compliant']}/{tot['station_months']}"])
    _table(ws, head, rows, lang, len(top) + 1)
    _colour(ws, len(top) + 2, len(rows) - 1, data, lang)


def _colour(ws: Any, first: int, n: int, data: dict[str, Any], lang: str) -> None:
    from openpyxl.styles import PatternFill

    fills = {t(f"value.{k}", lang): colour for k, colour in (
        ("met", GREEN), ("not_met", RED), ("at_risk", AMBER))}  # in progress: no colour yet
    for r in range(first, first + n):
        for c in range(3, 3 + len(data["months"])):
            colour = fills.get(ws.cell(r, c).value)
            if colour:
                ws.cell(r, c).fill = PatternFill("solid", fgColor=colour)


def _table(ws: Any, head: list[str], rows: list[list[Any]], lang: str, at: int) -> None:
    """A header row at row `at` (bold, frozen, repeated on each printed page) and the rows
    under it, with widths from the content and A4 fit-to-width printing."""
    from openpyxl.styles import Alignment, Border, Font, Side

    thin = Side(style="thin")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    bold, middle = Font(bold=True), Alignment(wrap_text=True, vertical="center")
    wrap = Alignment(wrap_text=True, vertical="top")  # one style object, shared: fast
    for c, text in enumerate(head, start=1):
        cell = ws.cell(at, c, text)
        cell.font, cell.alignment, cell.border = bold, middle, box
    for r, row in enumerate(rows, start=at + 1):
        for c, value in enumerate(row, start=1):
            cell = ws.cell(r, c, value)
            cell.border = box
            if isinstance(value, str) and len(value) > MAX_WIDTH:
                cell.alignment = wrap  # only what is wider than its column wraps
    ws.freeze_panes = ws.cell(at + 1, 1)
    ws.print_title_rows = f"{at}:{at}"
    _fit_columns(ws, [head, *rows])
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if len(head) > 8 else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.oddFooter.center.text = t("report.page", lang, n="&P", total="&N")


def _text_width(value: Any) -> int:
    """Characters as a spreadsheet counts them (combining marks take no room)."""
    text = unicodedata.normalize("NFC", str(value if value is not None else ""))
    return max((sum(1 for ch in line if not unicodedata.combining(ch))
                for line in text.splitlines()), default=0)


def _fit_columns(ws: Any, rows: list[list[Any]]) -> None:
    from openpyxl.utils import get_column_letter

    n = max(len(r) for r in rows)
    for c in range(n):
        longest = max(_text_width(r[c]) for r in rows if c < len(r))
        ws.column_dimensions[get_column_letter(c + 1)].width = min(MAX_WIDTH, longest + 3)


def _never_formulas(wb: Any) -> None:
    """A title or a station's text starting with "=" stays text: openpyxl would store it as a
    formula, which Excel and LibreOffice would then run."""
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"
