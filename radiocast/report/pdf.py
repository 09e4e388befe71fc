"""The report's summary as a one-page A4 PDF, laid out like the administrative documents the
culture centre already sends (the directive in docs/ is the model): governing body and
sender top left, national motto top right, number, place and date, title, addressee; the
rule, the figures and a table of the months; the stations that fell short; `Nơi nhận` and
the signing block. Rendered by fpdf2 with a font that has the Vietnamese glyphs: the
configured `[report] font_file`, else Noto Serif (shipped as a Python package)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from radiocast.core.humane import month_label, num, percent, when
from radiocast.core.i18n import t
from radiocast.report.words import (
    approval_sentence,
    document_title,
    evidence_sentence,
    language_sentence,
    month_totals,
    period_title,
    place_date,
    progress_sentence,
    record_sentence,
    summary_sentence,
)

FONT = "body"
SHORT_LIST = 12  # stations named as falling short; the rest are counted (all are in the XLSX)


def font_paths(configured: str | None) -> tuple[Path, Path]:
    """(upright, italic) font files: the configured one for both, else Noto Serif's two
    variable fonts (its weights are picked with the `wght` axis)."""
    if configured:
        return Path(configured), Path(configured)
    from importlib import resources

    files = resources.files("fontpkg_noto_serif").joinpath("files")
    return (Path(str(files.joinpath("NotoSerif[wdth,wght].ttf"))),
            Path(str(files.joinpath("NotoSerif-Italic[wdth,wght].ttf"))))


def static_font(path: Path, weight: int) -> Path:
    """A variable font (its name has "[wght]") pinned at `weight`, made once and kept in the
    user's cache: fontTools takes seconds to instance one, fpdf2 milliseconds to embed it.
    A static font is used as it is."""
    if "[" not in path.name:
        return path
    st = path.stat()
    key = hashlib.sha256(f"{path}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
    name = f"{path.name.split('[')[0]}-{weight}-{key}.ttf"
    failure = OSError(name)
    for cache in (Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"),
                  Path(tempfile.gettempdir())):
        out = cache / "radiocast" / "fonts" / name
        if out.is_file():
            return out
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(f".{os.getpid()}.tmp")
            _instance(path, weight).save(str(tmp))
            os.replace(tmp, out)
            return out
        except OSError as exc:  # a read-only home: the temporary folder
            failure = exc
    raise failure


def _instance(path: Path, weight: int) -> Any:
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
    from fontTools.varLib import instancer  # type: ignore[import-untyped]

    font = TTFont(str(path))
    axes = {a.axisTag: a for a in font["fvar"].axes}
    pins = {"wght": max(axes["wght"].minValue, min(axes["wght"].maxValue, weight))}
    if "wdth" in axes:
        pins["wdth"] = 100
    return instancer.instantiateVariableFont(font, pins)


def summary_pdf(data: dict[str, Any], lang: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_margins(25, 15, 15)  # the left margin of Vietnamese official papers
    pdf.set_auto_page_break(False)
    upright, italic = font_paths(data["document"]["font_file"])
    for style, weight in (("", 400), ("B", 700), ("I", 400), ("BI", 700)):
        path = italic if "I" in style else upright
        pdf.add_font(FONT, style, str(static_font(path, weight)))
    pdf.set_title(document_title(data, lang))
    pdf.set_creator("radiocast")
    pdf.add_page()
    _heading(pdf, data, lang)
    _body(pdf, data, lang)
    _months_table(pdf, data, lang)
    _short(pdf, data, lang)
    _signing(pdf, data, lang)
    return bytes(pdf.output())


def _text(pdf: Any, text: str, style: str = "", size: float = 12, width: float = 0,
          x: float | None = None, height: float = 6, align: str = "J") -> None:
    """A paragraph at `x` (the left margin by default), the cursor left on the next line."""
    pdf.set_x(pdf.l_margin if x is None else x)
    pdf.set_font(FONT, style, size)
    pdf.multi_cell(width, height, text, align=align, new_x="LMARGIN", new_y="NEXT")


def _heading(pdf: Any, data: dict[str, Any], lang: str) -> None:
    doc = data["document"]
    left, right, top = 70.0, 100.0, pdf.get_y()
    _text(pdf, doc["parent"].upper(), "", 11, left, height=5, align="C")
    _text(pdf, doc["sender"].upper(), "B", 11, left, height=5, align="C")
    _text(pdf, t("report.number", lang, number=doc["number"]), "", 11, left, align="C")
    bottom = pdf.get_y()
    pdf.set_y(top)
    x = pdf.l_margin + left
    _text(pdf, t("report.nation", lang), "B", 11, right, x, height=5, align="C")
    _text(pdf, t("report.motto", lang), "B", 12, right, x, align="C")
    _text(pdf, place_date(data, lang), "I", 11, right, x, height=8, align="C")
    pdf.set_y(max(bottom, pdf.get_y()) + 4)
    _text(pdf, t("report.heading", lang), "B", 14, height=7, align="C")
    _text(pdf, document_title(data, lang), "B", 12, align="C")
    pdf.ln(2)
    _text(pdf, t("report.to", lang, recipient=doc["recipient"]), align="C")
    pdf.ln(3)


def _body(pdf: Any, data: dict[str, Any], lang: str) -> None:
    for text in (t("report.sender", lang, sender=data["sender"]),
                 t("report.rule", lang, n=data["replays_required"]),
                 summary_sentence(data, lang), progress_sentence(data, lang),
                 language_sentence(data, lang),
                 evidence_sentence(data, lang), approval_sentence(data, lang),
                 record_sentence(data, lang)):
        if text:
            _text(pdf, text)
    pdf.ln(2)


def _months_table(pdf: Any, data: dict[str, Any], lang: str) -> None:
    """Met and not met per month; while the period runs, a column for the months that have
    not ended (not met yet is not "not met")."""
    running = bool(data.get("in_progress"))
    head = (t("report.col.month", lang), t("report.col.stations", lang), t("value.met", lang),
            t("value.not_met", lang), *([t("value.in_progress", lang)] if running else []),
            t("report.compliance", lang))

    def row(label: str, n: int, ok: int, still: int, rate: float) -> tuple[str, ...]:
        return (label, num(n, lang, 0), num(ok, lang, 0), num(n - ok - still, lang, 0),
                *([num(still, lang, 0)] if running else []), percent(rate, lang))

    rows = [row(month_label(m), n, ok, still, ok / n if n else 0)
            for m, n, ok, still in month_totals(data)]
    tot = data["totals"]
    rows.append(row(t("report.total", lang), tot["station_months"], tot["compliant"],
                    tot["in_progress"] + tot["at_risk"], tot["compliance_rate"]))
    pdf.set_font(FONT, "", 10.5)
    widths = (28, 26, 26, 26, 30, 34) if running else (30, 30, 30, 30, 50)
    with pdf.table(col_widths=widths, text_align="CENTER", line_height=5.5,
                   headings_style=_bold(), first_row_as_headings=True) as table:
        for cells in (head, *rows):
            table.row(cells)
    pdf.ln(3)


def _bold() -> Any:
    from fpdf.fonts import FontFace

    return FontFace(emphasis="BOLD")


def _short(pdf: Any, data: dict[str, Any], lang: str) -> None:
    """The stations that missed the rule in some month, worst first."""
    short = sorted(((sum(1 for c in st["months"] if c["status"] == "not_met"), st["name"])
                    for st in data["stations"]), reverse=True)
    short = [(n, name) for n, name in short if n]
    if not short:
        return
    named = "; ".join(f"{name} ({n})" for n, name in short[:SHORT_LIST])
    more = t("status.more", lang, n=len(short) - SHORT_LIST, command="report --format xlsx") \
        if len(short) > SHORT_LIST else ""
    head = t("report.short", lang, period=period_title(data["period"], lang))
    _text(pdf, f"{head} {named}{' ' + more if more else ''}", size=11, height=5.5)


def _signing(pdf: Any, data: dict[str, Any], lang: str) -> None:
    doc = data["document"]
    top = max(pdf.get_y() + 6, 225.0)
    pdf.set_xy(pdf.l_margin, top)
    pdf.set_font(FONT, "BI", 11)
    pdf.cell(80, 6, t("report.copies_to", lang), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 10)
    for line in doc["copies_to"]:
        pdf.cell(80, 5, f"- {line}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(top)
    _text(pdf, doc["signer_title"].upper(), "B", 12, 85, pdf.l_margin + 85, align="C")
    if doc["signer_name"]:
        pdf.set_y(top + 30)
        _text(pdf, doc["signer_name"], "B", 12, 85, pdf.l_margin + 85, align="C")
    pdf.set_xy(pdf.l_margin, 287 - 8)
    pdf.set_font(FONT, "I", 8)
    pdf.cell(0, 4, t("report.generated", lang, time=when(data["generated_at"], year=True)),
             align="C")
