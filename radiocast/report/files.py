"""The report as files people open: CSV (with a BOM, for Excel), JSON (keys in English, for
scripts), Markdown, XLSX (`report.xlsx`) and a one-page PDF (`report.pdf`), in Vietnamese or
English. Works on the report's data (`report.build.build_report`), never on the database."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from radiocast.core.errors import UsageError
from radiocast.core.i18n import t
from radiocast.report.words import (
    DETAIL_COLUMNS,
    approval_sentence,
    detail_rows,
    document_title,
    evidence_sentence,
    headers,
    language_sentence,
    period_title,
    progress_sentence,
    record_sentence,
    summary_sentence,
)

FORMATS = ("csv", "json", "md", "xlsx", "pdf")
BINARY = frozenset({"xlsx", "pdf"})


def render_report(data: dict[str, Any], fmt: str, lang: str) -> bytes:
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(headers(DETAIL_COLUMNS, lang))
        w.writerows(detail_rows(data, lang))
        return ("\ufeff" + buf.getvalue()).encode("utf-8")
    if fmt == "md":
        return _markdown(data, lang).encode("utf-8")
    if fmt == "xlsx":
        from radiocast.report.xlsx import workbook

        return workbook(data, lang)
    if fmt == "pdf":
        from radiocast.report.pdf import summary_pdf

        return summary_pdf(data, lang)
    raise UsageError(t("report.unknown_format", lang, fmt=repr(fmt)))


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _markdown(data: dict[str, Any], lang: str) -> str:
    cols = headers(DETAIL_COLUMNS, lang)
    head = [f"# {t('report.for_period', lang, period=period_title(data['period'], lang))}",
            "", f"**{document_title(data, lang)}**", "",
            t("report.sender", lang, sender=data["sender"]) + "  ",
            t("report.rule", lang, n=data["replays_required"]) + "  ",
            summary_sentence(data, lang), progress_sentence(data, lang),
            language_sentence(data, lang), "",
            "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    body = ["| " + " | ".join(_cell(v) for v in r) + " |"
            for r in detail_rows(data, lang, numbers=False)]
    tail = [s for s in (evidence_sentence(data, lang), approval_sentence(data, lang),
                        record_sentence(data, lang)) if s]
    return "\n".join(head + body + ["", "  \n".join(tail)]) + "\n"
