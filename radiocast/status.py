"""`status`: is everything all right, and if not, what to do. Problems are data, with an age."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from radiocast.app import App
from radiocast.db.schema import Airing, Delivery, Programme, Station
from radiocast.models import AiringState, DeliveryState, ProgrammeState
from radiocast.naming import is_clutter, month_of
from radiocast.query import iso, list_airings, list_deliveries, list_programmes, list_stations

log = logging.getLogger(__name__)
DELIVERY_FAILING_AFTER = timedelta(hours=1)
LOW_DISK_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class Problem:
    severity: str  # "error" | "warning"
    code: str
    message: str
    since: str | None
    action: str
    subject: str = ""

    @property
    def key(self) -> str:
        return f"{self.code}:{self.subject}"


def _drop_waiting(app: App) -> list[tuple[Path, datetime]]:
    from radiocast.ingest import DropFolder

    out = []
    for p in DropFolder(app).walk():
        if p.suffix.lower() == ".toml" or is_clutter(p.name):
            continue
        try:
            out.append((p, datetime.fromtimestamp(p.stat().st_mtime, UTC)))
        except FileNotFoundError:
            continue
    return out


def find_problems(app: App) -> list[Problem]:
    now = app.clock()
    cfg = app.settings
    tz = cfg.general.tz
    local = now.astimezone(tz)
    month = month_of(local)
    out: list[Problem] = []
    with app.db.read() as s:
        ready = s.scalars(select(Programme).where(
            Programme.month == month, Programme.state == ProgrammeState.READY.value)).first()
        if ready is None and local.day >= cfg.schedule.programme_due_day:
            due = local.replace(day=cfg.schedule.programme_due_day, hour=0, minute=0, second=0,
                                microsecond=0)
            out.append(Problem("error", "programme_late",
                               f"no programme for {month} yet", due.isoformat(),
                               "remind the culture centre to drop this month's programme",
                               month))
        for d, p in s.execute(select(Delivery, Programme).join(
                Programme, Programme.id == Delivery.programme_id).where(
                Delivery.state.in_([DeliveryState.QUEUED.value, DeliveryState.SENDING.value,
                                    DeliveryState.FAILED.value]),
                Delivery.first_failed_at.is_not(None))):
            failing_for = now - (d.first_failed_at or now)
            if d.state == DeliveryState.FAILED.value or failing_for >= DELIVERY_FAILING_AFTER:
                out.append(Problem(
                    "error", "delivery_failing",
                    f"programme #{p.id} to {d.station_id}: {d.last_error}",
                    iso(d.first_failed_at, tz),
                    f"fix the cause, then `radiocast retry --station {d.station_id}`"
                    if d.state == DeliveryState.FAILED.value else
                    "radiocast keeps retrying; check the station's link and power",
                    f"{p.id}:{d.station_id}"))
        for st in s.scalars(select(Station)):
            if st.unreachable_since is not None:
                out.append(Problem("warning", "station_unreachable",
                                   f"{st.id} unreachable: {st.last_error}",
                                   iso(st.unreachable_since, tz),
                                   "check the station's power and network link", st.id))
            if st.free_bytes is not None and st.free_bytes < LOW_DISK_BYTES:
                out.append(Problem("warning", "low_disk",
                                   f"{st.id} has {st.free_bytes // (1024 * 1024)} MiB free",
                                   iso(st.last_contact_at, tz),
                                   "free space on the station's disk", st.id))
        lead = timedelta(minutes=cfg.schedule.lead_minutes)
        for a in s.scalars(select(Airing).where(
                Airing.state == AiringState.PLANNED.value, Airing.planned_at > now,
                Airing.planned_at <= now + lead)):
            dl = s.scalars(select(Delivery).where(Delivery.programme_id == a.programme_id,
                                                  Delivery.station_id == a.station_id)).first()
            if dl is None or dl.state != DeliveryState.DELIVERED.value:
                out.append(Problem("error", "file_not_at_station",
                                   f"airing #{a.id} at {a.station_id} starts "
                                   f"{a.planned_at.astimezone(tz):%d/%m %H:%M} but the file is "
                                   "not delivered", iso(now, tz),
                                   "check the station link; the airing will be made up",
                                   str(a.id)))
        for a in s.scalars(select(Airing).where(
                Airing.month == month,
                Airing.state.in_([AiringState.MISSED.value, AiringState.FAILED.value,
                                  AiringState.INTERRUPTED.value]))):
            replaced = s.scalars(select(Airing.state).where(
                Airing.replaces_id == a.id, Airing.state != AiringState.CANCELLED.value)).first()
            if replaced == AiringState.AIRED.value:
                continue  # made up: nothing left to do
            out.append(Problem("warning" if replaced else "error", "airing_missed",
                               f"airing #{a.id} at {a.station_id} {a.state}: {a.detail}",
                               iso(a.finished_at or a.planned_at, tz),
                               "a make-up is planned" if replaced else
                               "no free window left for a make-up; air it by hand and note it",
                               str(a.id)))
    if ready is not None:
        from radiocast.schedule import shortfalls

        for sid, pid, missing in shortfalls(app, month):
            out.append(Problem("error", "quota_at_risk",
                               f"{sid} cannot meet {month}: {missing} airing(s) of "
                               f"programme #{pid} do not fit", iso(now, tz),
                               "widen the station's windows or air the rest by hand",
                               f"{sid}:{pid}"))
    wait = timedelta(minutes=cfg.ingest.waiting_alert_minutes)
    for path, mtime in _drop_waiting(app):
        if now - mtime >= wait:
            out.append(Problem("warning", "file_waiting",
                               f"{path.name} has waited in the drop folder since "
                               f"{mtime.astimezone(tz):%d/%m %H:%M}", iso(mtime, tz),
                               "is radiocast running? is the file still being copied?",
                               str(path)))
    return out


def build_status(app: App) -> dict[str, Any]:
    tz = app.settings.general.tz
    now = app.clock()
    with app.db.read() as s:
        programmes = list_programmes(s, tz)
        deliveries = list_deliveries(s, tz)
        upcoming = [a for a in list_airings(s, tz)
                    if a["state"] == AiringState.PLANNED.value and a["planned_at"]
                    and datetime.fromisoformat(a["planned_at"]) >= now][:20]
        stations = list_stations(s, tz)
    return {"generated_at": now.astimezone(tz).isoformat(),
            "month": month_of(now.astimezone(tz)),
            "programmes": programmes, "deliveries": deliveries, "airings": upcoming,
            "stations": stations, "problems": [asdict(p) for p in find_problems(app)]}


def render_status(doc: dict[str, Any], lang: str) -> str:
    from radiocast.i18n import t

    lines = [f"radiocast — {doc['generated_at']}", "", f"== {t('h_programmes', lang)}"]
    for p in doc["programmes"][-10:]:
        lines.append(f"  #{p['id']:<4} {p['month']}  {p['state']:<11} {p['title']}"
                     + (f"  ({p['reason']})" if p["reason"] else ""))
    if not doc["programmes"]:
        lines.append("  " + t("no_programmes", lang))
    lines += ["", f"== {t('h_deliveries', lang)}"]
    progs = sorted({d["programme_id"] for d in doc["deliveries"]})[-4:]
    if progs:
        lines.append("  " + "station".ljust(16) + "".join(f"#{p}".ljust(12) for p in progs))
        cell = {(d["programme_id"], d["station_id"]): d["state"] for d in doc["deliveries"]}
        for st in doc["stations"]:
            lines.append("  " + st["id"].ljust(16) + "".join(
                cell.get((p, st["id"]), "-").ljust(12) for p in progs))
    else:
        lines.append("  " + t("no_deliveries", lang))
    lines += ["", f"== {t('h_airings', lang)}"]
    for a in doc["airings"][:10]:
        lines.append(f"  {a['planned_at'][:16]}  {a['station_id']:<16} #{a['programme_id']} "
                     f"{a['kind']}")
    if not doc["airings"]:
        lines.append("  " + t("no_airings", lang))
    lines += ["", f"== {t('h_problems', lang)}"]
    for p in doc["problems"]:
        lines.append(f"  [{p['severity']}] {p['code']}: {p['message']} (since {p['since']})")
        lines.append(f"      → {p['action']}")
    if not doc["problems"]:
        lines.append("  " + t("no_problems", lang))
    return "\n".join(lines)


class ProblemLog:
    """Logs each problem once when it starts and once when it clears."""

    def __init__(self, app: App, every_seconds: float = 30.0) -> None:
        self.app = app
        self.active: dict[str, Problem] = {}
        self.every = timedelta(seconds=every_seconds)
        self.last: datetime | None = None

    def update(self, force: bool = False) -> list[str]:
        now = self.app.clock()
        if not force and self.last is not None and now - self.last < self.every:
            return []
        self.last = now
        current = {p.key: p for p in find_problems(self.app)}
        lines = []
        for key, p in current.items():
            if key not in self.active:
                lines.append(f"problem started: {p.code}: {p.message}")
        for key, p in self.active.items():
            if key not in current:
                lines.append(f"problem cleared: {p.code}: {p.message}")
        for line in lines:
            log.warning("%s", line)
        self.active = current
        return lines
