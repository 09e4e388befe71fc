"""The report in words: period titles, column headers and rows in Vietnamese or English,
shared by every report file (CSV, Markdown, XLSX, PDF). Works on `report.build.build_report`'s data,
never on the database."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from radiocast.core.humane import month_label, num, percent, when
from radiocast.core.i18n import t, word

DETAIL_COLUMNS = ("station_id", "station", "month", "programme", "delivered", "premiere",
                  "replays", "makeups", "missed", "minutes", "by_language", "approved_by",
                  "compliant")  # the verdict stays the last column
AIRING_COLUMNS = ("airing_id", "station_id", "station", "month", "programme", "title",
                  "language", "kind",
                  "state", "evidence", "planned_at", "started_at", "finished_at", "detail")


def period_title(period: str, lang: str) -> str:
    """"2026-11" → "tháng 11/2026", "2026-H1" → "6 tháng đầu năm 2026", "2026" → "năm 2026";
    a date range "01/03/2026–15/04/2026" → "từ ngày 01/03/2026 đến ngày 15/04/2026"."""
    if re.fullmatch(r"\d{4}-\d\d", period):
        return t("report.period_month", lang, month=month_label(period))
    half = re.fullmatch(r"(\d{4})-H([12])", period)
    if half:
        return t(f"report.period_h{half.group(2)}", lang, year=half.group(1))
    if re.fullmatch(r"\d{4}", period):
        return t("report.period_year", lang, year=period)
    start, _, end = period.partition("–")
    return t("report.period_range", lang, start=start, end=end or start)


def headers(columns: tuple[str, ...], lang: str) -> list[str]:
    return [t(f"report.col.{c}", lang) for c in columns]


def yes_no(flag: bool, lang: str) -> str:
    return t("value.yes" if flag else "value.no", lang)


def met(flag: bool, lang: str) -> str:
    return t("value.met" if flag else "value.not_met", lang)


def verdict(cell: dict[str, Any], lang: str) -> str:
    """A station-month's result: met, not met (only once the month is over), in progress, or
    at risk."""
    word_ = t(f"value.{cell['status']}", lang)
    if cell["status"] in ("met", "in_progress"):
        return word_
    why = [t("report.why_waiting", lang, id=pid) for pid in cell.get("awaiting_approval", [])]
    why += [t("report.why_refused", lang, id=pid) for pid in cell.get("refused", [])]
    return f"{word_} ({'; '.join(why)})" if why else word_


def detail_rows(data: dict[str, Any], lang: str, numbers: bool = True) -> list[list[Any]]:
    """One row a station-month. `numbers`: counts stay numbers (for CSV and XLSX); otherwise
    minutes are written with the language's decimal mark."""
    rows = []
    for st in data["stations"]:
        for c in st["months"]:
            minutes = c["minutes_aired"] if numbers else num(c["minutes_aired"], lang)
            rows.append([st["station_id"], st["name"], month_label(c["month"]),
                         ", ".join(f"#{p}" for p in c["programme_ids"]),
                         yes_no(c["delivered"], lang), when(c["premiere_at"], year=True),
                         c["replays_aired"], c["makeups"], c["missed"], minutes,
                         by_language(data, c.get("aired_by_language", {}), lang),
                         approved_by(data, c["programme_ids"], st["station_id"], lang),
                         verdict(c, lang)])
    return rows


def approved_by(data: dict[str, Any], ids: list[int], station_id: str, lang: str) -> str:
    """"Duyệt bởi" for a station-month's programmes: who approved each (name, title, time),
    or that this commune refused it and why; "" where no approval was needed."""
    progs = {p["id"]: p for p in data.get("programmes", [])}
    parts = []
    for pid in ids:
        p = progs.get(pid, {})
        refused = [r for r in p.get("refused_for", []) if r["station_id"] == station_id]
        a = p.get("approval") or {}
        if refused:
            parts.append(t("report.refused_here", lang, id=pid, who=refused[0]["by_name"],
                           reason=refused[0]["reason"]))
        elif a.get("by_name"):
            parts.append(t("report.approved_by", lang, id=pid, who=a["by_name"],
                           role=a["by_title"] or "-", at=when(a["at"], year=True)))
        elif a.get("state") not in (None, "not_required"):
            parts.append(f"#{pid}: {word('approval_state', a['state'], lang)}")
    return "; ".join(parts)


def approval_sentence(data: dict[str, Any], lang: str) -> str:
    """What was approved by whom, for the summary; "" when nothing needed approval."""
    done = [t("report.approved_by", lang, id=p["id"], who=p["approval"]["by_name"],
              role=p["approval"]["by_title"] or "-", at=when(p["approval"]["at"], year=True))
            for p in data.get("programmes", []) if (p.get("approval") or {}).get("by_name")]
    return t("report.approvals", lang, parts="; ".join(done)) if done else ""


def record_sentence(data: dict[str, Any], lang: str) -> str:
    """The record's head, printed so that the signed paper can be matched with it later."""
    rec = data.get("record") or {}
    if not rec.get("entries"):
        return ""
    return t("report.record", lang, n=rec["entries"], head=str(rec["head"])[:16])


def airing_rows(data: dict[str, Any], lang: str) -> list[list[Any]]:
    return [[a["airing_id"], a["station_id"], a["station_name"], month_label(a["month"]),
             f"#{a['programme_id']}", a["title"], data["languages"].get(a["language"],
                                                                    a["language"]),
             word("kind", a["kind"], lang),
             word("airing", a["state"], lang), word("evidence", a["evidence"], lang),
             when(a["planned_at"], year=True), when(a["started_at"], year=True),
             when(a["finished_at"], year=True), a["detail"] or ""]
            for a in data["airings"]]


def by_language(data: dict[str, Any], counts: dict[str, int], lang: str) -> str:
    """Airings aired per language version: "Tiếng Việt 2; Tiếng Thái (Thái Đen) 2"."""
    names = data.get("languages", {})
    return "; ".join(f"{names.get(code, code)} {num(n, lang, 0)}" for code, n in counts.items())


def language_sentence(data: dict[str, Any], lang: str) -> str:
    """Airings aired per language over the period; "" when all were in one language."""
    counts = data["totals"].get("aired_by_language", {})
    if len(counts) < 2:
        return ""
    return t("report.by_language", lang, parts=by_language(data, counts, lang))


def summary_sentence(data: dict[str, Any], lang: str) -> str:
    tot = data["totals"]
    def count(key: str) -> str:
        return num(tot[key], lang, 0)

    return t("report.summary", lang, period=period_title(data["period"], lang),
             compliant=count("compliant"), total=count("station_months"),
             rate=percent(tot["compliance_rate"], lang), aired=count("airings_aired"),
             missed=count("airings_missed"), unconfirmed=count("airings_unconfirmed"))


def progress_sentence(data: dict[str, Any], lang: str) -> str:
    """For a period that has not ended: what is still under way; "" otherwise."""
    if not data.get("in_progress"):
        return ""
    tot = data["totals"]
    return t("report.in_progress", lang, date=when(data["generated_at"], year=True),
             in_progress=num(tot["in_progress"], lang, 0), at_risk=num(tot["at_risk"], lang, 0),
             not_met=num(tot["not_met"], lang, 0))


def evidence_sentence(data: dict[str, Any], lang: str) -> str:
    """What the airings' outcomes rest on, counted."""
    counts: dict[str, int] = {}
    for a in data["airings"]:
        if a["evidence"] != "none":
            counts[a["evidence"]] = counts.get(a["evidence"], 0) + 1
    parts = ", ".join(f"{n} {word('evidence', k, lang)}" for k, n in sorted(counts.items()))
    return t("report.evidence", lang, parts=parts or "-")


def document_title(data: dict[str, Any], lang: str) -> str:
    """The report's title line: the configured title (or the catalogue's) and the period."""
    title = data["document"]["title"] or t("report.title", lang)
    return f"{title} {period_title(data['period'], lang)}"


def place_date(data: dict[str, Any], lang: str) -> str:
    made = datetime.fromisoformat(data["generated_at"])
    return t("report.place_date", lang, place=data["document"]["place"], day=f"{made:%d}",
             month=f"{made:%m}", year=made.year)


def month_totals(data: dict[str, Any]) -> list[tuple[str, int, int, int]]:
    """(month, stations counted, stations that met the rule, stations whose month is still
    running without having met it yet) for each month of the period."""
    out = []
    for m in data["months"]:
        cells = [c for st in data["stations"] for c in st["months"] if c["month"] == m]
        out.append((m, len(cells), sum(1 for c in cells if c["compliant"]),
                    sum(1 for c in cells if c["status"] in ("in_progress", "at_risk"))))
    return out
