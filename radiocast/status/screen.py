"""The `status` screen as text, in Vietnamese or English: renders the document that
`status.problems.build_status` makes (the same one `status --json` prints). Pure: no database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from radiocast.core.humane import age, month_label, when
from radiocast.core.i18n import t, word
from radiocast.core.models import DeliveryState

MATRIX_PROGRAMMES = 4
MATRIX_ALL_UP_TO = 30  # beyond this many stations, only those not yet served are listed


def _grid(rows: list[list[str]]) -> list[str]:
    """Rows of cells as aligned text columns (the last column is not padded)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=False))
            + ("  " if len(r) > 1 else "") + r[-1] for r in rows]


def _programmes(doc: dict[str, Any], lang: str) -> list[str]:
    rows = [[f"#{p['id']}", month_label(p["month"]), word("programme", p["state"], lang),
             p["title"] + (f" [{p.get('language_name') or p['language']}]"
                           if p.get("language", "vi") != "vi" else "")
             + (f" ({p['reason']})" if p["reason"] else "")]
            for p in doc["programmes"][-10:]]
    return _grid(rows) if rows else ["  " + t("cli.no_programmes", lang)]


def _matrix(doc: dict[str, Any], lang: str) -> list[str]:
    progs = sorted({d["programme_id"] for d in doc["deliveries"]})[-MATRIX_PROGRAMMES:]
    if not progs:
        return ["  " + t("cli.no_deliveries", lang)]
    cell = {(d["programme_id"], d["station_id"]): d["state"] for d in doc["deliveries"]}
    stations = doc["stations"]
    if len(stations) > MATRIX_ALL_UP_TO:  # a province: only the stations that need a look
        stations = [st for st in stations if any(
            cell.get((p, st["id"])) not in (None, DeliveryState.DELIVERED.value,
                                            DeliveryState.CANCELLED.value) for p in progs)]
    rows = [[t("status.station", lang)] + [f"#{p}" for p in progs]]
    rows += [[st["id"]] + [word("delivery", cell.get((p, st["id"])), lang) or "-"
                           for p in progs] for st in stations]
    hidden = len(doc["stations"]) - len(stations)
    more = [t("status.more", lang, n=hidden, command="deliveries")] if hidden else []
    return _grid(rows) + ["  " + m for m in more]


def _airings(doc: dict[str, Any], lang: str) -> list[str]:
    rows = [[when(a["planned_at"]), a["station_id"], f"#{a['programme_id']}",
             word("kind", a["kind"], lang)] for a in doc["airings"][:10]]
    return _grid(rows) if rows else ["  " + t("cli.no_airings", lang)]


def _problems(doc: dict[str, Any], lang: str) -> list[str]:
    now = datetime.fromisoformat(doc["generated_at"])
    lines = []
    for p in doc["problems"]:
        since = f" ({t('age.since', lang, age=age(p['since'], now, lang))})" \
            if p["since"] else ""
        lines.append(f"  [{word('severity', p['severity'], lang)}] {p['message']}{since}")
        lines.append(f"      → {p['action']}")
    return lines or ["  " + t("cli.no_problems", lang)]


def render_status(doc: dict[str, Any], lang: str) -> str:
    lines = [t("status.title", lang, time=when(doc["generated_at"], year=True),
               month=month_label(doc["month"]))]
    if hub := doc.get("hub"):  # hubs sharing PostgreSQL: which one leads
        left = hub["expires_in_s"]
        lines.append(t("status.hub_leads", lang, holder=hub["holder"], epoch=hub["epoch"],
                       left=f"{left:.0f}") if left > 0 else
                     t("status.hub_none", lang, holder=hub["holder"], ago=f"{-left:.0f}"))
    for heading, part in (("h_programmes", _programmes), ("h_deliveries", _matrix),
                          ("h_airings", _airings), ("h_problems", _problems)):
        lines += ["", f"== {t('cli.' + heading, lang)}", *part(doc, lang)]
    return "\n".join(lines)
