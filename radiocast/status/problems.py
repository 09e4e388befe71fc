"""Is everything all right, and if not, what to do: problems are data, with an age; and the
status document that carries them with this month's programmes, deliveries and airings.

Each kind of problem has its own finder; status only reads what the other parts recorded (the
planner's shortfalls included) and never plans, sends or changes anything.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from radiocast.app import App
from radiocast.core.fsutil import walk_files
from radiocast.core.humane import month_label, size
from radiocast.core.i18n import t, word
from radiocast.core.models import FELL_THROUGH_VALUES, AiringState, DeliveryState, ProgrammeState
from radiocast.core.months import local_month, previous_month
from radiocast.db import lease, views
from radiocast.db.schema import Airing, Delivery, Event, Programme, Station
from radiocast.status.look import Look, Problem
from radiocast.status.sound import latest_heard

log = logging.getLogger(__name__)
DELIVERY_FAILING_AFTER = timedelta(hours=1)
LOW_DISK_BYTES = 200 * 1024 * 1024
ORIGINAL_GRACE = timedelta(minutes=2)
CLOCK_SKEW_SECONDS = 120
ASRUN_PROBLEM_DAYS = timedelta(days=7)
PULL_SILENT_AFTER = timedelta(hours=2)  # a pull agent writes its status at least hourly
HUB_DISK_LOW_BYTES = 1 << 30  # below this the hub's own folders are a problem


def find_problems(app: App, lang: str | None = None) -> list[Problem]:
    """Every current problem, worded in `lang` (the app's language by default)."""
    now = app.clock()
    tz = app.settings.general.tz
    out: list[Problem] = []
    with app.db.read() as s:
        look = Look(app, s, now, tz, local_month(now, tz), lang or app.lang)
        for finder in FINDERS:
            out.extend(_each(finder, look))
    return out


def _each(finder: Callable[[Look], Iterator[Problem]], look: Look) -> list[Problem]:
    """One finder's problems; a finder that fails (a bug, a value it did not expect) costs only
    its own kind of problem, shown as a problem itself, never the status of everything."""
    try:
        return list(finder(look))
    except Exception as exc:
        log.exception("status: the check %s failed", finder.__name__)
        return [look.problem("error", "check_failed", look.now, finder.__name__.strip("_"),
                             check=finder.__name__.strip("_"),
                             error=f"{type(exc).__name__}: {exc}"[:200])]


def _programme_late(look: Look) -> Iterator[Problem]:
    if _month_has_ready(look):
        return
    local = look.now.astimezone(look.tz)
    due_day = look.app.settings.schedule.programme_due_day
    if local.day >= due_day:
        due = local.replace(day=due_day, hour=0, minute=0, second=0, microsecond=0)
        yield look.problem("error", "programme_late", due, look.month,
                           month=month_label(look.month))


def _month_has_ready(look: Look) -> bool:
    return look.s.scalars(select(Programme.id).where(
        Programme.month == look.month,
        Programme.state == ProgrammeState.READY.value)).first() is not None


def _delivery_failing(look: Look) -> Iterator[Problem]:
    for d, p in look.s.execute(select(Delivery, Programme).join(
            Programme, Programme.id == Delivery.programme_id).where(
            Delivery.state.in_([DeliveryState.QUEUED.value, DeliveryState.SENDING.value,
                                DeliveryState.FAILED.value]),
            Delivery.first_failed_at.is_not(None))):
        failed = d.state == DeliveryState.FAILED.value
        if failed or look.now - (d.first_failed_at or look.now) >= DELIVERY_FAILING_AFTER:
            yield look.problem("error", "delivery_failing", d.first_failed_at,
                               f"{p.id}:{d.station_id}",
                               ("message", "action_failed" if failed else "action"),
                               id=p.id, station=d.station_id, err=d.last_error or "",
                               programme=p.id)


def _station_health(look: Look) -> Iterator[Problem]:
    pull = {st.id for st in look.app.settings.stations if st.pull}
    for st in look.s.scalars(select(Station)):
        if st.id in pull and (st.last_contact_at is None
                              or look.now - st.last_contact_at > PULL_SILENT_AFTER):
            yield look.problem("warning", "station_silent", st.last_contact_at, st.id, (
                "message_never" if st.last_contact_at is None else "message", "action"),
                station=st.id)
        if st.unreachable_since is not None:
            yield look.problem("warning", "station_unreachable", st.unreachable_since, st.id,
                               station=st.id, err=st.last_error or "")
        if st.free_bytes is not None and st.free_bytes < LOW_DISK_BYTES:
            yield look.problem("warning", "low_disk", st.last_contact_at, st.id,
                               station=st.id, free=size(st.free_bytes, look.lang),
                               free_bytes=st.free_bytes)


def _file_not_at_station(look: Look) -> Iterator[Problem]:
    lead = timedelta(minutes=look.app.settings.schedule.lead_minutes)
    rows = look.s.execute(select(Airing, Delivery.state).outerjoin(Delivery, (
        Delivery.programme_id == Airing.programme_id) & (
        Delivery.station_id == Airing.station_id)).where(
        Airing.state == AiringState.PLANNED.value, Airing.planned_at > look.now,
        Airing.planned_at <= look.now + lead))
    for a, delivery_state in rows:
        if delivery_state != DeliveryState.DELIVERED.value:
            yield look.problem("error", "file_not_at_station", look.now, str(a.id),
                               id=a.id, station=a.station_id, at=look.at(a.planned_at),
                               programme=a.programme_id)


def _airing_missed(look: Look) -> Iterator[Problem]:
    missed = list(look.s.scalars(select(Airing).where(
        Airing.month == look.month,
        Airing.state.in_(FELL_THROUGH_VALUES))))
    makeups = dict(look.s.execute(select(Airing.replaces_id, Airing.state).where(  # one query
        Airing.replaces_id.in_([a.id for a in missed]),
        Airing.state != AiringState.CANCELLED.value).order_by(Airing.id.desc())).all())
    for a in missed:
        replaced = makeups.get(a.id)
        if replaced == AiringState.AIRED.value:
            continue  # made up: nothing left to do
        yield look.problem("warning" if replaced else "error", "airing_missed",
                           a.finished_at or a.planned_at, str(a.id),
                           ("message", "action_makeup" if replaced else "action"),
                           id=a.id, station=a.station_id, programme=a.programme_id,
                           state=word("airing", a.state, look.lang), detail=a.detail or "-")


def _quota_at_risk(look: Look) -> Iterator[Problem]:
    if not _month_has_ready(look):
        return
    for sf in views.shortfalls(look.s, look.month):
        yield look.problem("error", "quota_at_risk", sf.since,
                           f"{sf.station_id}:{sf.programme_id}", station=sf.station_id,
                           month=month_label(look.month), missing=sf.missing,
                           id=sf.programme_id, programme=sf.programme_id)


def _file_waiting(look: Look) -> Iterator[Problem]:
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
            yield look.problem("warning", "file_waiting", mtime, str(path), name=path.name,
                               at=look.at(mtime))


def _normalize_retrying(look: Look) -> Iterator[Problem]:
    for p in look.s.scalars(select(Programme).where(
            Programme.state == ProgrammeState.RECEIVED.value,
            Programme.last_error.is_not(None))):
        disk = "disk full" in (p.last_error or "")
        yield look.problem(
            "error", "normalize_retrying", p.updated_at, str(p.id),
            ("message_next" if p.next_attempt_at else "message",
             "action_disk" if disk else "action"),
            id=p.id, name=p.source_name, err=p.last_error or "", attempt=p.attempts + 1,
            at=look.at(p.next_attempt_at) if p.next_attempt_at else "",
            dir=str(look.app.settings.general.data_dir))


def _original_stuck(look: Look) -> Iterator[Problem]:
    ing = look.app.settings.ingest
    for p in look.s.scalars(select(Programme).where(
            Programme.state.in_([ProgrammeState.READY.value, ProgrammeState.REJECTED.value,
                                 ProgrammeState.SUPERSEDED.value]),
            Programme.updated_at < look.now - ORIGINAL_GRACE)):
        if Path(p.spool_path).exists():
            yield look.problem("error", "original_stuck", p.updated_at, str(p.id), id=p.id,
                               name=p.source_name, archive=str(ing.archive_dir),
                               quarantine=str(ing.quarantine_dir))


def _station_notes(look: Look, action: str) -> Iterator[Problem]:
    """A problem per station that recorded `action` in the last days: how often, since when,
    and the latest detail (the problem's code is the action)."""
    rows = look.s.execute(select(Event.entity_id, func.min(Event.at), func.count(),
                                 func.max(Event.id)).where(
        Event.entity == "station", Event.action == action,
        Event.at >= look.now - ASRUN_PROBLEM_DAYS).group_by(Event.entity_id))
    for sid, since, n, last_id in rows:
        last = look.s.get_one(Event, last_id)
        yield look.problem("warning", action, since, sid, station=sid, n=n,
                           detail=(last.detail or "")[:300])


def _asrun_rejected(look: Look) -> Iterator[Problem]:
    return _station_notes(look, "asrun_rejected")


def _inbox_swept(look: Look) -> Iterator[Problem]:
    """A pull station that put in its inbox at the hub what does not belong there."""
    return _station_notes(look, "inbox_swept")


def _hub_disk_low(look: Look) -> Iterator[Problem]:
    """The hub's own folders: a full disk stops every station's database writes and every
    file staff drop. One problem per file system, naming the folder and the free bytes."""
    cfg = look.app.settings
    paths = [cfg.general.data_dir, cfg.ingest.drop_dir]
    if any(st.pull for st in cfg.stations):
        paths.append(cfg.pull.root)
    seen: set[int] = set()
    for path in paths:
        there = next((p for p in (path, *path.parents) if p.exists()), None)
        if there is None:
            continue
        try:  # a folder not made yet will be on its nearest existing parent's file system
            dev, free = there.stat().st_dev, shutil.disk_usage(there).free
        except OSError:
            continue
        if dev in seen:
            continue
        seen.add(dev)
        if free < HUB_DISK_LOW_BYTES:
            yield look.problem("error", "hub_disk_low", look.now, str(path), path=str(path),
                               free=size(free, look.lang), free_bytes=free)


def _clock_skew(look: Look) -> Iterator[Problem]:
    for st in look.s.scalars(select(Station).where(Station.clock_offset_s.is_not(None))):
        off = st.clock_offset_s or 0.0
        if abs(off) > CLOCK_SKEW_SECONDS:
            yield look.problem("error", "clock_skew", st.heartbeat_at, st.id, (
                "message" if off > 0 else "message_behind", "action"),
                station=st.id, minutes=round(abs(off) / 60))


def _airing_unconfirmed(look: Look) -> Iterator[Problem]:
    for a in look.s.scalars(select(Airing).where(
            Airing.month == look.month, Airing.state == AiringState.UNCONFIRMED.value)):
        yield look.problem("warning", "airing_unconfirmed", a.planned_at, str(a.id), id=a.id,
                           station=a.station_id, at=look.at(a.planned_at),
                           detail=a.detail or "", programme=a.programme_id)


def _output_heard(look: Look) -> Iterator[Problem]:
    """A station whose latest airing its capture heard silent, or could not measure."""
    for a, silent in latest_heard(look.s, look.now):
        at = look.at(a.finished_at or a.planned_at)
        if a.state == AiringState.SILENT.value:
            yield look.problem("error", "played_silent", a.finished_at, a.station_id,
                               station=a.station_id, id=a.id, n=max(silent, 1), at=at,
                               share=round(100 * (a.heard_silent or 0.0)))
        elif a.heard_note:
            yield look.problem("warning", "capture_failing", a.finished_at, a.station_id,
                               station=a.station_id, id=a.id, note=a.heard_note, at=at)


def _version_missing(look: Look) -> Iterator[Problem]:
    """A programme of this month without a version in a language some of its stations air:
    one problem per programme and language, naming the stations (they air another version
    meanwhile, so the rule is kept, but not in their people's language)."""
    cfg = look.app.settings
    groups: dict[str, list[Programme]] = {}
    for p in look.s.scalars(select(Programme).where(
            Programme.month == look.month, Programme.state == ProgrammeState.READY.value,
            Programme.priority != "emergency").order_by(Programme.id)):
        groups.setdefault(p.title_key, []).append(p)
    for versions in groups.values():
        lead, have = versions[0], {p.language for p in versions}
        since = min(p.ready_at or p.received_at for p in versions)
        for lang in sorted({x for st in cfg.stations for x in st.languages} - have):
            ids = cfg.stations_for(look.month, views.programme_stations(lead), lang)
            # a station with no version in any of its languages airs nothing of it
            silent = [i for i in ids if not have & set(cfg.station(i).languages)]
            for group, sev, variant in ((silent, "error", "message_none"),
                                        ([i for i in ids if i not in silent], "warning",
                                         "message")):
                if group:
                    yield look.problem(
                        sev, "version_missing", since, f"{lead.id}:{lang}:{sev}",
                        (variant, "action"), id=lead.id, title=lead.title, n=len(group),
                        language=cfg.languages.name(lang), month=month_label(look.month),
                        stations=", ".join(group[:5]) + (" …" if len(group) > 5 else ""),
                        example=f"{look.month} {lead.title} [{cfg.languages.tag(lang)}].mp3",
                        programme=lead.id)


def _awaiting_approval(look: Look) -> Iterator[Problem]:
    """A programme waiting for its approver: a warning at once; past [approval] remind_hours
    an error of its own, so every channel is reminded."""
    rules = look.app.settings.approval
    for p, since in views.awaiting_approval(look.s):
        stations = look.app.settings.stations_for(p.month, views.programme_stations(p),
                                                  p.language)
        late = look.now - since >= timedelta(hours=rules.remind_hours)
        who = ", ".join(f"{a.name} ({a.id})" for a in rules.approvers_for(stations)) or "-"
        yield look.problem("error" if late else "warning",
                           "approval_overdue" if late else "awaiting_approval", since, str(p.id),
                           id=p.id, title=p.title, month=month_label(p.month), who=who,
                           hours=int((look.now - since) / timedelta(hours=1)))


def _publish_failing(look: Look) -> Iterator[Problem]:
    """A [[publish]] target whose last attempt failed (its server down, its disk full)."""
    for target in look.app.settings.publish:
        last = look.s.scalars(select(Event).where(
            Event.entity == "publish", Event.entity_id == target.id).order_by(
            Event.id.desc()).limit(1)).first()
        if last is not None and last.action == "failed":
            yield look.problem("error", "publish_failing", last.at, target.id,
                               target=target.id, detail=(last.detail or "")[:300])


FINDERS: tuple[Callable[[Look], Iterator[Problem]], ...] = (
    _programme_late, _delivery_failing, _station_health, _file_not_at_station, _airing_missed,
    _quota_at_risk, _file_waiting, _normalize_retrying, _original_stuck, _asrun_rejected,
    _inbox_swept, _hub_disk_low, _clock_skew, _airing_unconfirmed, _version_missing, _output_heard,
    _awaiting_approval, _publish_failing)


def build_status(app: App, lang: str | None = None) -> dict[str, Any]:
    """JSON keys stay English and stable; `message` and `action` are in `lang`."""
    tz = app.settings.general.tz
    now = app.clock()
    with app.db.read() as s:
        since = previous_month(local_month(now, tz))  # a month just ended, and those after
        programmes = views.list_programmes(s, tz, lang=lang or app.lang,
                                           languages=app.settings.languages, since=since)
        deliveries = views.list_deliveries(s, tz, since=since)
        upcoming = views.upcoming_airings(s, tz, now, limit=20)
        stations = views.list_stations(s, tz)
        row = None if app.db.is_sqlite else lease.current(s)  # hubs on PostgreSQL only
    hub = None if row is None else {"holder": row.holder, "epoch": row.epoch,
                                    "expires_in_s": round(row.expires_in, 1)}
    return {"generated_at": now.astimezone(tz).isoformat(), "month": local_month(now, tz),
            "hub": hub, "programmes": programmes, "deliveries": deliveries,
            "airings": upcoming, "stations": stations,
            "problems": [asdict(p) for p in find_problems(app, lang or app.lang)]}


class ProblemLog:
    """Logs each problem once when it starts and once when it clears."""

    def __init__(self, app: App, every_seconds: float = 30.0) -> None:
        self.app = app
        self.active: dict[str, Problem] = {}
        self.every = timedelta(seconds=every_seconds)
        self.last: datetime | None = None

    def update(self, force: bool = False, current: list[Problem] | None = None) -> list[str]:
        """Log what started and cleared since the last call (`current`: problems already
        found, in the app's language)."""
        now = self.app.clock()
        if not force and self.last is not None and now - self.last < self.every:
            return []
        self.last = now
        found = {p.key: p for p in (find_problems(self.app) if current is None else current)}
        lang = self.app.lang
        lines = [t("log.problem_started", lang, code=p.code, message=p.message)
                 for key, p in found.items() if key not in self.active]
        lines += [t("log.problem_cleared", lang, code=p.code, message=p.message)
                  for key, p in self.active.items() if key not in found]
        for line in lines:
            log.warning("%s", line)
        self.active = found
        return lines
