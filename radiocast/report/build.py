"""Compliance reports from the as-run record (data), and their renderers (CSV, JSON, MD, XLSX).

"Planned", "delivered" and "aired" are kept apart: only airings recorded as aired count.
A make-up that replaces a premiere counts as the premiere; any other aired make-up counts
as a replay. Interrupted airings never count (they were not confirmed complete).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from radiocast.app import App
from radiocast.core.errors import NoDataError, UsageError
from radiocast.core.i18n import t
from radiocast.core.models import FELL_THROUGH_VALUES, AiringKind, AiringState, DeliveryState
from radiocast.core.months import local_month, month_span, period_months, range_months, valid_in
from radiocast.db import chain
from radiocast.db.schema import Airing, ApprovalDecision, Delivery, Event, Programme, Station
from radiocast.db.views import evidence_of


@dataclass
class _Cell:
    month: str
    programme_ids: list[int]
    premiere_at: datetime | None = None
    replays_aired: int = 0
    makeups: int = 0
    missed: int = 0
    unconfirmed: int = 0
    planned: int = 0
    minutes_aired: float = 0.0
    reasons: list[str] | None = None
    by_language: dict[str, int] = field(default_factory=dict)  # aired, per version


@dataclass
class _Data:
    """Everything a report reads, once."""

    airings: list[Airing]
    events: list[Event]
    progs: dict[int, Programme]
    stations: dict[str, Station]
    dels: list[Delivery]
    each_version: bool = False  # [schedule] versions = "each": a version is its own programme
    decisions: list[ApprovalDecision] = field(default_factory=list)
    head: chain.Head = field(default_factory=lambda: chain.Head(0, chain.GENESIS))
    by_id: dict[int, Airing] = field(default_factory=dict)
    by_cell: dict[tuple[str, str], list[Airing]] = field(default_factory=dict)
    successor: dict[int, int] = field(default_factory=dict)
    # per station, so a report over thousands of stations never scans everything per station
    dels_of: dict[str, list[Delivery]] = field(default_factory=dict)
    events_of: dict[str, list[Event]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {a.id: a for a in self.airings}
        for a in self.airings:
            self.by_cell.setdefault((a.station_id, a.month), []).append(a)
        for d in self.dels:
            self.dels_of.setdefault(d.station_id, []).append(d)
        for e in self.events:
            self.events_of.setdefault(e.entity_id, []).append(e)
        self.successor = {p.supersedes_id: p.id for p in self.progs.values() if p.supersedes_id}
        self.leads: dict[tuple[str, ...], int] = {}
        for p in sorted(self.progs.values(), key=lambda p: p.id):
            if p.id not in self.successor:  # the newest revision of each version
                self.leads.setdefault(self._key(p), p.id)

    def _key(self, p: Programme) -> tuple[str, ...]:
        own = (p.month, p.title_key)
        return (*own, p.language) if self.each_version or p.priority == "emergency" else own

    def current(self, pid: int) -> int:
        """A revision continues its predecessor's count: follow the chain to the newest."""
        while pid in self.successor:
            pid = self.successor[pid]
        return pid

    def programme(self, pid: int) -> int:
        """The programme an airing counts for: its language versions share one count (the
        first version's id names it)."""
        cur = self.current(pid)
        return self.leads.get(self._key(self.progs[cur]), cur) if cur in self.progs else cur


def build_report(app: App, period: str | None = None, start: date | None = None,
                 end: date | None = None, stations: set[str] | None = None) -> dict[str, Any]:
    """The report for a period (YYYY-MM, YYYY-H1, YYYY-H2, YYYY) or a date range; with
    `stations`, for those stations only (a commune's own report on the web page)."""
    tz = app.settings.general.tz
    period, months = _months(period, start, end, app.lang)
    data = _read(app, months, start, end, app.settings.schedule.versions == "each", stations)
    if not data.airings and not data.progs:
        raise NoDataError(t("cli.no_data", app.lang, period=period))
    need = app.settings.schedule.replays_per_month
    detail: list[dict[str, Any]] = []
    current = local_month(app.clock(), tz)  # a month from this one on has not ended
    out_stations = [_station_report(app, data, sid, months, need, detail, current)
                    for sid in _station_ids(data, months)]
    return {"period": period, "months": months, "sender": app.settings.general.sender,
            "document": _document(app),
            "generated_at": app.clock().astimezone(tz).isoformat(),
            "in_progress": months[-1] >= current,  # the period has not ended
            "replays_required": need, "stations": out_stations,
            "totals": _totals(out_stations, data.airings),
            "languages": {code: app.settings.languages.name(code)
                          for code in app.settings.languages.codes},
            "programmes": [{"id": p.id, "title": p.title, "month": p.month, "state": p.state,
                            "language": p.language,
                            "output_lufs": p.output_lufs,
                            "output_true_peak_dbtp": p.output_true_peak_dbtp,
                            "duration_s": p.duration_s, **_approval(data, p, tz)}
                           for p in data.progs.values()],
            # the tamper-evident record's head: a printed report can be matched with it later
            "record": {"entries": data.head.length, "head": data.head.digest},
            "airings": detail}


def _approval(data: _Data, p: Programme, tz: ZoneInfo) -> dict[str, Any]:
    """Who approved the programme's file (and when), and the stations that refused it."""
    mine = [d for d in data.decisions if d.programme_id == p.id]
    whole = next((d for d in reversed(mine) if d.station_id is None), None)
    return {"approval": {"state": p.approval, "by": whole.approver_id if whole else None,
                         "by_name": whole.approver_name if whole else None,
                         "by_title": whole.approver_title if whole else None,
                         "at": whole.at.astimezone(tz).isoformat() if whole else None},
            "refused_for": [{"station_id": d.station_id, "by_name": d.approver_name,
                             "reason": d.comment} for d in mine if d.station_id is not None]}


def _months(period: str | None, start: date | None, end: date | None,
            lang: str) -> tuple[str, list[str]]:
    if start is not None or end is not None:
        if start is None or end is None:
            raise UsageError(t("cli.range_both", lang))
        return period or f"{start:%d/%m/%Y}–{end:%d/%m/%Y}", range_months(start, end, lang)
    if period is not None:
        return period, period_months(period, lang)
    raise UsageError(t("cli.period_needed", lang))


def _document(app: App) -> dict[str, Any]:
    """How the report is headed and signed ([report] in the configuration)."""
    r = app.settings.report
    return {"parent": r.parent, "sender": app.settings.general.sender, "number": r.number,
            "place": r.place, "title": r.title, "recipient": r.recipient,
            "copies_to": list(r.copies_to), "signer_title": r.signer_title,
            "signer_name": r.signer_name,
            "font_file": str(r.font_file) if r.font_file else None}


def _read(app: App, months: list[str], start: date | None, end: date | None,
          each_version: bool, only: set[str] | None = None) -> _Data:
    tz = app.settings.general.tz
    with app.db.read() as s:
        airings = [a for a in s.scalars(select(Airing).where(Airing.month.in_(months))
                                        .order_by(Airing.planned_at))
                   if (start is None or end is None
                       or start <= a.planned_at.astimezone(tz).date() <= end)
                   and (only is None or a.station_id in only)]
        events = list(s.scalars(select(Event).where(
            Event.entity == "station", Event.action.in_(["unreachable", "reachable"]))
            .order_by(Event.at, Event.id)))
        progs = {p.id: p for p in s.scalars(select(Programme).where(Programme.month.in_(months)))}
        stations = {st.id: st for st in s.scalars(select(Station))
                    if only is None or st.id in only}
        dels = [d for d in s.scalars(select(Delivery).where(
            Delivery.programme_id.in_(list(progs)))) if only is None or d.station_id in only]
        if only is not None:  # the programmes that went to these stations
            progs = {pid: p for pid, p in progs.items()
                     if pid in {d.programme_id for d in dels}
                     or pid in {a.programme_id for a in airings}}
        decisions = list(s.scalars(select(ApprovalDecision).where(
            ApprovalDecision.programme_id.in_(list(progs))).order_by(ApprovalDecision.id)))
        head = chain.head(s)
    return _Data(airings, events, progs, stations, dels, each_version, decisions, head)


def _station_ids(data: _Data, months: list[str]) -> list[str]:
    return sorted({a.station_id for a in data.airings} | {
        sid for sid, st in data.stations.items() if _valid_in(st, months)})


def _station_report(app: App, data: _Data, sid: str, months: list[str], need: int,
                    detail: list[dict[str, Any]], current: str) -> dict[str, Any]:
    tz = app.settings.general.tz
    st = data.stations.get(sid)
    cells = [_month_cell(data, sid, st, month, need, detail, tz) for month in months
             if st is None or _valid_in(st, [month])]
    for cell in cells:
        cell["status"] = _status(cell, need, cell["month"] >= current)
    return {"station_id": sid, "name": st.name if st else sid, "months": cells,
            "delivery": _delivery_figures(sid, data.dels_of.get(sid, []), data.progs),
            "unreachable_hours": _unreachable_hours(sid, data.events_of.get(sid, []), months,
                                                    tz, app.clock())}


def _month_cell(data: _Data, sid: str, st: Station | None, month: str, need: int,
                detail: list[dict[str, Any]], tz: ZoneInfo) -> dict[str, Any]:
    per_prog: dict[int, _Cell] = {}
    for a in data.by_cell.get((sid, month), []):
        key = data.programme(a.programme_id)
        cell = per_prog.setdefault(key, _Cell(month, [key], reasons=[]))
        _count(cell, a, data.by_id)
        if a.state == AiringState.AIRED.value and a.programme_id in data.progs:
            lang = data.progs[a.programme_id].language
            cell.by_language[lang] = cell.by_language.get(lang, 0) + 1
        detail.append(_detail_row(a, sid, st, month, data.progs, tz))
    # the month's programme is the one that went furthest (a month may hold several)
    cell = max(per_prog.values(), default=_Cell(month, [], reasons=[]),
               key=lambda c: (c.premiere_at is not None, c.replays_aired, c.makeups))
    best_id = next((pid for pid, c in per_prog.items() if c is cell), None)
    delivered = any(data.progs[d.programme_id].month == month
                    and d.state == DeliveryState.DELIVERED.value
                    for d in data.dels_of.get(sid, []))
    return {
        "month": month, "programme_id": best_id, "programme_ids": sorted(per_prog),
        "delivered": delivered,
        "premiere_at": cell.premiere_at.astimezone(tz).isoformat() if cell.premiere_at else None,
        "replays_aired": cell.replays_aired, "makeups": cell.makeups,
        "missed": sum(c.missed for c in per_prog.values()),
        "unconfirmed": sum(c.unconfirmed for c in per_prog.values()),
        "planned": sum(c.planned for c in per_prog.values()),
        "minutes_aired": round(sum(c.minutes_aired for c in per_prog.values()), 1),
        "aired_by_language": _by_language(per_prog.values()),
        "compliant": cell.premiere_at is not None and cell.replays_aired >= need,
        "reasons": [r for c in per_prog.values() for r in (c.reasons or [])],
        **_held_back(data, sid, month),
    }


def _held_back(data: _Data, sid: str, month: str) -> dict[str, list[int]]:
    """Why a station-month may fall short that no airing shows: the month's programme still
    waits for approval, or this commune refused it."""
    mine = {d.programme_id for d in data.dels_of.get(sid, [])}
    waiting = sorted(pid for pid, p in data.progs.items() if p.month == month
                     and p.approval == "awaiting" and pid in mine)
    refused = sorted({d.programme_id for d in data.decisions if d.station_id == sid
                      and data.progs[d.programme_id].month == month})
    return {"awaiting_approval": waiting, "refused": refused}


def _status(cell: dict[str, Any], need: int, open_month: bool) -> str:
    """"met"; for a month that has ended and did not meet the rule "not_met"; for one still
    running "in_progress" while what aired and what is planned (or not yet confirmed) can
    still make 1 premiere + `need` replays, else "at_risk"."""
    if cell["compliant"]:
        return "met"
    if not open_month:
        return "not_met"
    have = (cell["premiere_at"] is not None) + cell["replays_aired"]
    return "in_progress" if have + cell["planned"] + cell["unconfirmed"] >= 1 + need \
        else "at_risk"


def _by_language(cells: Iterable[_Cell | dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in cells:
        counts = c["aired_by_language"] if isinstance(c, dict) else c.by_language
        for lang, n in counts.items():
            out[lang] = out.get(lang, 0) + n
    return dict(sorted(out.items(), key=lambda x: (x[0] != "vi", x[0])))


def _totals(stations: list[dict[str, Any]], airings: list[Airing]) -> dict[str, Any]:
    cells = [c for s in stations for c in s["months"]]
    compliant = sum(1 for c in cells if c["compliant"])
    return {
        "station_months": len(cells), "compliant": compliant,
        **{key: sum(1 for c in cells if c["status"] == key)
           for key in ("not_met", "in_progress", "at_risk")},
        "compliance_rate": round(compliant / len(cells), 4) if cells else 0.0,
        "airings_aired": sum(1 for a in airings if a.state == AiringState.AIRED.value),
        "airings_missed": sum(1 for a in airings if a.state in FELL_THROUGH_VALUES),
        "airings_unconfirmed": sum(1 for a in airings
                                   if a.state == AiringState.UNCONFIRMED.value),
        "airings_planned": len(airings),
        "aired_by_language": _by_language(c for s in stations for c in s["months"]),
    }


def _count(cell: _Cell, a: Airing, by_id: dict[int, Airing]) -> None:
    counts_as_premiere = a.kind == AiringKind.PREMIERE.value or (
        a.kind == AiringKind.MAKEUP.value and a.replaces_id in by_id
        and by_id[a.replaces_id].kind == AiringKind.PREMIERE.value)
    if a.state == AiringState.PLANNED.value:
        cell.planned += 1
    elif a.state == AiringState.AIRED.value:
        if a.started_at and a.finished_at:
            cell.minutes_aired += (a.finished_at - a.started_at).total_seconds() / 60
        if a.kind == AiringKind.MAKEUP.value:
            cell.makeups += 1
        if counts_as_premiere and cell.premiere_at is None:
            cell.premiere_at = a.started_at or a.planned_at
        elif a.kind != AiringKind.EMERGENCY.value:
            cell.replays_aired += 1
    elif a.state == AiringState.UNCONFIRMED.value:
        cell.unconfirmed += 1
    elif a.state in FELL_THROUGH_VALUES:
        cell.missed += 1
        assert cell.reasons is not None
        cell.reasons.append(f"#{a.id} {a.state}: {a.detail or ''}".strip())


def _detail_row(a: Airing, sid: str, st: Station | None, month: str,
                progs: dict[int, Programme], tz: ZoneInfo) -> dict[str, Any]:
    return {
        "airing_id": a.id, "station_id": sid, "station_name": st.name if st else sid,
        "month": month, "programme_id": a.programme_id,
        "title": progs[a.programme_id].title if a.programme_id in progs else "",
        "language": progs[a.programme_id].language if a.programme_id in progs else "",
        "kind": a.kind, "state": a.state, "evidence": evidence_of(a),
        "planned_at": a.planned_at.astimezone(tz).isoformat(),
        "started_at": a.started_at.astimezone(tz).isoformat() if a.started_at else None,
        "finished_at": a.finished_at.astimezone(tz).isoformat() if a.finished_at else None,
        "detail": a.detail}


def _unreachable_hours(sid: str, events: list[Event], months: list[str], tz: ZoneInfo,
                       now: datetime) -> float:
    """Hours the station was unreachable within the period (from its health events, in
    order; `events` may hold other stations' too)."""
    lo, hi = month_span(months[0], months[-1], tz)
    hi = min(hi, now)
    total = 0.0
    down: datetime | None = None
    for e in events:
        if e.entity_id != sid:
            continue
        if e.action == "unreachable" and down is None:
            down = e.at
        elif e.action == "reachable" and down is not None:
            total += _overlap(down, e.at, lo, hi)
            down = None
    if down is not None:
        total += _overlap(down, hi, lo, hi)
    return round(total / 3600, 2)


def _overlap(a: datetime, b: datetime, lo: datetime, hi: datetime) -> float:
    return max(0.0, (min(b, hi) - max(a, lo)).total_seconds())


def _valid_in(st: Station, months: list[str]) -> bool:
    return valid_in(date.fromisoformat(st.valid_from) if st.valid_from else None,
                    date.fromisoformat(st.valid_to) if st.valid_to else None, months)


def _delivery_figures(sid: str, dels: list[Delivery],
                      progs: dict[int, Programme]) -> dict[str, Any]:
    hours = []
    for d in dels:
        p = progs[d.programme_id]
        if d.station_id == sid and d.delivered_at and p.ready_at:
            hours.append((d.delivered_at - p.ready_at) / timedelta(hours=1))
    retries = sum(max(0, d.attempts - 1) for d in dels if d.station_id == sid)
    return {"median_hours": round(statistics.median(hours), 2) if hours else None,
            "worst_hours": round(max(hours), 2) if hours else None, "retries": retries}
