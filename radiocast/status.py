"""`status`: is everything all right, and if not, what to do. Problems are data, with an age.

Each kind of problem has its own finder; status only reads what the other parts recorded (the
planner's shortfalls included) and never plans, sends or changes anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from radiocast.app import App
from radiocast.db import views
from radiocast.db.schema import Airing, Delivery, Event, Programme, Station
from radiocast.db.views import iso
from radiocast.fsutil import walk_files
from radiocast.i18n import t
from radiocast.models import AiringState, DeliveryState, ProgrammeState
from radiocast.months import local_month

log = logging.getLogger(__name__)
DELIVERY_FAILING_AFTER = timedelta(hours=1)
LOW_DISK_BYTES = 200 * 1024 * 1024
ORIGINAL_GRACE = timedelta(minutes=2)
CLOCK_SKEW_SECONDS = 120
ASRUN_PROBLEM_DAYS = timedelta(days=7)
PULL_SILENT_AFTER = timedelta(hours=2)  # a pull agent writes its status at least hourly


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


@dataclass(frozen=True)
class _Look:
    """What every finder needs: the app, a read session, now, the zone and this month."""

    app: App
    s: Session
    now: datetime
    tz: ZoneInfo
    month: str


def find_problems(app: App) -> list[Problem]:
    now = app.clock()
    tz = app.settings.general.tz
    out: list[Problem] = []
    with app.db.read() as s:
        look = _Look(app, s, now, tz, local_month(now, tz))
        for finder in FINDERS:
            out.extend(finder(look))
    return out


def _programme_late(look: _Look) -> Iterator[Problem]:
    if _month_has_ready(look):
        return
    local = look.now.astimezone(look.tz)
    due_day = look.app.settings.schedule.programme_due_day
    if local.day >= due_day:
        due = local.replace(day=due_day, hour=0, minute=0, second=0, microsecond=0)
        yield Problem("error", "programme_late", f"no programme for {look.month} yet",
                      due.isoformat(),
                      "remind the culture centre to drop this month's programme", look.month)


def _month_has_ready(look: _Look) -> bool:
    return look.s.scalars(select(Programme.id).where(
        Programme.month == look.month,
        Programme.state == ProgrammeState.READY.value)).first() is not None


def _delivery_failing(look: _Look) -> Iterator[Problem]:
    for d, p in look.s.execute(select(Delivery, Programme).join(
            Programme, Programme.id == Delivery.programme_id).where(
            Delivery.state.in_([DeliveryState.QUEUED.value, DeliveryState.SENDING.value,
                                DeliveryState.FAILED.value]),
            Delivery.first_failed_at.is_not(None))):
        failed = d.state == DeliveryState.FAILED.value
        if failed or look.now - (d.first_failed_at or look.now) >= DELIVERY_FAILING_AFTER:
            yield Problem(
                "error", "delivery_failing", f"programme #{p.id} to {d.station_id}: "
                f"{d.last_error}", iso(d.first_failed_at, look.tz),
                f"fix the cause, then `radiocast retry --station {d.station_id}`" if failed
                else "radiocast keeps retrying; check the station's link and power",
                f"{p.id}:{d.station_id}")


def _station_health(look: _Look) -> Iterator[Problem]:
    pull = {st.id for st in look.app.settings.stations if st.pull}
    for st in look.s.scalars(select(Station)):
        if st.id in pull and (st.last_contact_at is None
                              or look.now - st.last_contact_at > PULL_SILENT_AFTER):
            yield Problem("warning", "station_silent",
                          f"{st.id} has not called the hub"
                          + (" yet" if st.last_contact_at is None else " since then"),
                          iso(st.last_contact_at, look.tz),
                          "check the station's power, its 3G link and `radiocast station "
                          "status` there; it keeps airing from what it has", st.id)
        if st.unreachable_since is not None:
            yield Problem("warning", "station_unreachable",
                          f"{st.id} unreachable: {st.last_error}",
                          iso(st.unreachable_since, look.tz),
                          "check the station's power and network link", st.id)
        if st.free_bytes is not None and st.free_bytes < LOW_DISK_BYTES:
            yield Problem("warning", "low_disk",
                          f"{st.id} has {st.free_bytes // (1024 * 1024)} MiB free",
                          iso(st.last_contact_at, look.tz),
                          "free space on the station's disk", st.id)


def _file_not_at_station(look: _Look) -> Iterator[Problem]:
    lead = timedelta(minutes=look.app.settings.schedule.lead_minutes)
    rows = look.s.execute(select(Airing, Delivery.state).outerjoin(Delivery, (
        Delivery.programme_id == Airing.programme_id) & (
        Delivery.station_id == Airing.station_id)).where(
        Airing.state == AiringState.PLANNED.value, Airing.planned_at > look.now,
        Airing.planned_at <= look.now + lead))
    for a, delivery_state in rows:
        if delivery_state != DeliveryState.DELIVERED.value:
            yield Problem("error", "file_not_at_station",
                          f"airing #{a.id} at {a.station_id} starts "
                          f"{a.planned_at.astimezone(look.tz):%d/%m %H:%M} but the file is "
                          "not delivered", iso(look.now, look.tz),
                          "check the station link; the airing will be made up", str(a.id))


def _airing_missed(look: _Look) -> Iterator[Problem]:
    for a in look.s.scalars(select(Airing).where(
            Airing.month == look.month,
            Airing.state.in_([AiringState.MISSED.value, AiringState.FAILED.value,
                              AiringState.INTERRUPTED.value]))):
        replaced = look.s.scalars(select(Airing.state).where(
            Airing.replaces_id == a.id, Airing.state != AiringState.CANCELLED.value)).first()
        if replaced == AiringState.AIRED.value:
            continue  # made up: nothing left to do
        yield Problem("warning" if replaced else "error", "airing_missed",
                      f"airing #{a.id} at {a.station_id} {a.state}: {a.detail}",
                      iso(a.finished_at or a.planned_at, look.tz),
                      "a make-up is planned" if replaced else
                      "no free window left for a make-up; air it by hand and note it", str(a.id))


def _quota_at_risk(look: _Look) -> Iterator[Problem]:
    if not _month_has_ready(look):
        return
    for sf in views.shortfalls(look.s, look.month):
        yield Problem("error", "quota_at_risk",
                      f"{sf.station_id} cannot meet {look.month}: {sf.missing} airing(s) of "
                      f"programme #{sf.programme_id} do not fit", iso(sf.since, look.tz),
                      "widen the station's windows or air the rest by hand",
                      f"{sf.station_id}:{sf.programme_id}")


def _file_waiting(look: _Look) -> Iterator[Problem]:
    cfg = look.app.settings.ingest
    wait = timedelta(minutes=cfg.waiting_alert_minutes)
    for path in walk_files(cfg.drop_dir, [cfg.archive_dir, cfg.quarantine_dir]):
        if path.suffix.lower() == ".toml":
            continue
        try:
            mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except FileNotFoundError:
            continue
        if look.now - mtime >= wait:
            yield Problem("warning", "file_waiting",
                          f"{path.name} has waited in the drop folder since "
                          f"{mtime.astimezone(look.tz):%d/%m %H:%M}", iso(mtime, look.tz),
                          "is radiocast running? is the file still being copied?", str(path))


def _normalize_retrying(look: _Look) -> Iterator[Problem]:
    for p in look.s.scalars(select(Programme).where(
            Programme.state == ProgrammeState.RECEIVED.value,
            Programme.last_error.is_not(None))):
        disk = "disk full" in (p.last_error or "")
        yield Problem("error", "normalize_retrying",
                      f"programme #{p.id} ({p.source_name}) could not be normalized: "
                      f"{p.last_error}; try {p.attempts + 1} at "
                      f"{p.next_attempt_at.astimezone(look.tz):%d/%m %H:%M}"
                      if p.next_attempt_at else f"programme #{p.id}: {p.last_error}",
                      iso(p.updated_at, look.tz),
                      f"free space in {look.app.settings.general.data_dir}" if disk else
                      "check the spool folder and the disk; radiocast keeps retrying", str(p.id))


def _original_stuck(look: _Look) -> Iterator[Problem]:
    ing = look.app.settings.ingest
    for p in look.s.scalars(select(Programme).where(
            Programme.state.in_([ProgrammeState.READY.value, ProgrammeState.REJECTED.value,
                                 ProgrammeState.SUPERSEDED.value]),
            Programme.updated_at < look.now - ORIGINAL_GRACE)):
        if Path(p.spool_path).exists():
            yield Problem("error", "original_stuck",
                          f"the original of programme #{p.id} ({p.source_name}) could not be "
                          "moved out of the spool", iso(p.updated_at, look.tz),
                          f"check that {ing.archive_dir} and {ing.quarantine_dir} are writable "
                          "and have space; radiocast keeps trying", str(p.id))


def _asrun_rejected(look: _Look) -> Iterator[Problem]:
    rows = look.s.execute(select(Event.entity_id, func.min(Event.at), func.count(),
                                 func.max(Event.id)).where(
        Event.entity == "station", Event.action == "asrun_rejected",
        Event.at >= look.now - ASRUN_PROBLEM_DAYS).group_by(Event.entity_id))
    for sid, since, n, last_id in rows:
        last = look.s.get_one(Event, last_id)
        yield Problem("warning", "asrun_rejected",
                      f"{sid} wrote {n} unreadable as-run line(s), skipped; last: {last.detail}",
                      iso(since, look.tz), "check the station's player software and clock",
                      sid)


def _clock_skew(look: _Look) -> Iterator[Problem]:
    for st in look.s.scalars(select(Station).where(Station.clock_offset_s.is_not(None))):
        off = st.clock_offset_s or 0.0
        if abs(off) > CLOCK_SKEW_SECONDS:
            yield Problem("error", "clock_skew",
                          f"{st.id}'s clock is {abs(off) / 60:.0f} min "
                          f"{'ahead' if off > 0 else 'behind'}", iso(st.heartbeat_at, look.tz),
                          "set the station's clock (timedatectl set-ntp true); it airs by it",
                          st.id)


def _airing_unconfirmed(look: _Look) -> Iterator[Problem]:
    for a in look.s.scalars(select(Airing).where(
            Airing.month == look.month, Airing.state == AiringState.UNCONFIRMED.value)):
        yield Problem("warning", "airing_unconfirmed",
                      f"airing #{a.id} at {a.station_id} "
                      f"{a.planned_at.astimezone(look.tz):%d/%m %H:%M}: {a.detail}",
                      iso(a.planned_at, look.tz),
                      "no make-up is planned on a guess; it is settled when the station's "
                      "record arrives — check the station's link", str(a.id))


FINDERS: tuple[Callable[[_Look], Iterator[Problem]], ...] = (
    _programme_late, _delivery_failing, _station_health, _file_not_at_station, _airing_missed,
    _quota_at_risk, _file_waiting, _normalize_retrying, _original_stuck, _asrun_rejected,
    _clock_skew, _airing_unconfirmed)


def build_status(app: App) -> dict[str, Any]:
    tz = app.settings.general.tz
    now = app.clock()
    with app.db.read() as s:
        programmes = views.list_programmes(s, tz)
        deliveries = views.list_deliveries(s, tz)
        upcoming = views.upcoming_airings(s, tz, now, limit=20)
        stations = views.list_stations(s, tz)
    return {"generated_at": now.astimezone(tz).isoformat(), "month": local_month(now, tz),
            "programmes": programmes, "deliveries": deliveries, "airings": upcoming,
            "stations": stations, "problems": [asdict(p) for p in find_problems(app)]}


def render_status(doc: dict[str, Any], lang: str) -> str:
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
