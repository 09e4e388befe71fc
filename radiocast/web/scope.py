"""What an account may see: the same documents as the CLI's `--json`, cut to its stations. An
operator sees everything; an approver and a station account see only their stations, the
programmes that go to them, and the problems about them."""

from __future__ import annotations

from typing import Any

from radiocast.web.session import Account


def programme_ids(doc: dict[str, Any], who: Account) -> set[int] | None:
    """The programmes that go to the account's stations (None: every programme)."""
    if who.stations is None:
        return None
    return {d["programme_id"] for d in doc.get("deliveries", []) if who.sees(d["station_id"])}


def status(doc: dict[str, Any], who: Account) -> dict[str, Any]:
    if who.stations is None:
        return doc
    progs = programme_ids(doc, who) or set()
    return {**doc, "hub": None,
            "programmes": [p for p in doc["programmes"] if p["id"] in progs],
            "deliveries": [d for d in doc["deliveries"] if who.sees(d["station_id"])],
            "airings": [a for a in doc["airings"] if who.sees(a["station_id"])],
            "stations": [s for s in doc["stations"] if who.sees(s["id"])],
            "problems": [p for p in doc["problems"] if _problem_visible(p, who)]}


def _problem_visible(p: dict[str, Any], who: Account) -> bool:
    """A problem about one station is shown to those who see that station; one about no
    station in particular (a programme, the hub) only to an operator, since its words may
    name other stations."""
    station = p.get("params", {}).get("station")
    return station is not None and who.sees(str(station))


def rows(items: list[dict[str, Any]], who: Account,
         key: str = "station_id") -> list[dict[str, Any]]:
    return items if who.stations is None else [r for r in items if who.sees(r.get(key))]


def report(data: dict[str, Any], who: Account) -> dict[str, Any]:
    """A report cut to the account's stations (figures recomputed by the report's own code:
    `build_report(stations=…)`); here only the safety net for the detail rows."""
    if who.stations is None:
        return data
    return {**data, "stations": rows(data["stations"], who),
            "airings": rows(data["airings"], who)}
