"""Turning planned airings into timed jobs (APScheduler), and applying the planner's output.

Jobs are derived from the airing table (their only argument is the airing id) and rebuilt at
every start and every plan change. The misfire grace is explicit: APScheduler's default of one
second would silently drop airings that fell due while the daemon was busy or down.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from radiocast import playout
from radiocast.app import App
from radiocast.db import ops
from radiocast.db.schema import Airing, Delivery, Event, Programme
from radiocast.models import AiringKind, AiringState, DeliveryState, Priority, ProgrammeState
from radiocast.naming import month_of
from radiocast.plan import (
    ExistingAiring,
    Plan,
    ProgrammeInfo,
    Rules,
    StationInfo,
    plan_month,
)

log = logging.getLogger(__name__)
REPLAN_SECONDS = 60
PUBLISH_RETRY_SECONDS = 30  # an unreachable station's playbook is retried this often


def _months_to_plan(app: App, now: datetime) -> list[str]:
    current = month_of(now.astimezone(app.settings.general.tz))
    with app.db.read() as s:
        months = set(s.scalars(select(Programme.month).where(
            Programme.state == ProgrammeState.READY.value, Programme.month >= current)))
    return sorted(months)


def build_plan(app: App, month: str) -> Plan:
    """Read what the planner needs for one month and call it (no writes)."""
    now = app.clock()
    cfg = app.settings
    with app.db.read() as s:
        progs = list(s.scalars(select(Programme).where(
            Programme.month == month, Programme.state == ProgrammeState.READY.value)))
        lineage: dict[int, tuple[int, ...]] = {}
        for p in progs:
            chain, cur = [], p.supersedes_id
            while cur is not None:
                chain.append(cur)
                cur = s.get_one(Programme, cur).supersedes_id
            lineage[p.id] = tuple(chain)
        ids = [p.id for p in progs] + [i for c in lineage.values() for i in c]
        rows = list(s.scalars(select(Airing).where(Airing.programme_id.in_(ids))))
        dels = list(s.scalars(select(Delivery).where(
            Delivery.programme_id.in_([p.id for p in progs]),
            Delivery.state == DeliveryState.DELIVERED.value)))
    lead = timedelta(minutes=cfg.schedule.lead_minutes)
    available = {(d.programme_id, d.station_id): d.delivered_at + lead
                 for d in dels if d.delivered_at is not None}
    infos = [ProgrammeInfo(p.id, p.month, Priority(p.priority), p.duration_s or 0.0,
                           lineage[p.id]) for p in progs]
    stations = [StationInfo(st.id, cfg.slots_for(st), st.valid_from, st.valid_to)
                for st in cfg.stations]
    existing = [ExistingAiring(a.id, a.programme_id, a.station_id, AiringKind(a.kind),
                               a.planned_at, AiringState(a.state), a.replaces_id) for a in rows]
    return plan_month(month, infos, stations, existing, available, now, cfg.general.tz,
                      Rules(cfg.schedule.replays_per_month, cfg.schedule.min_gap_days))


def apply_plan(app: App, month: str, plan: Plan) -> set[str]:
    """Write the plan; returns the stations whose playbook changed."""
    now = app.clock()
    changed: set[str] = set()
    with app.db.write() as s:
        for aid in plan.cancel:
            a = s.get_one(Airing, aid)
            if a.state == AiringState.PLANNED.value and a.planned_at > now:
                ops.cancel_airing(s, a, now, "re-planned")
                changed.add(a.station_id)
        for aid, at in plan.move.items():
            a = s.get_one(Airing, aid)
            if a.state == AiringState.PLANNED.value and a.planned_at > now:
                ops.record_event(s, now, "airing", aid, "moved", a.state, a.state,
                                 f"{a.planned_at.isoformat()} -> {at.isoformat()}")
                a.planned_at = at
                changed.add(a.station_id)
        for n in plan.add:
            ops.add_airing(s, n.programme_id, n.station_id, month, n.kind, n.planned_at, now,
                           n.replaces_id)
            changed.add(n.station_id)
        for sf in plan.shortfalls:
            detail = (f"{sf.month} programme #{sf.programme_id}: "
                      f"{sf.missing} airing(s) cannot fit")
            last = s.scalars(select(Event.detail).where(
                Event.entity == "station", Event.entity_id == sf.station_id,
                Event.action == "shortfall",
                Event.detail.like(f"{sf.month} programme #{sf.programme_id}:%"))
                .order_by(Event.id.desc())).first()
            if last != detail:  # recorded when it starts or changes, not at every re-plan
                ops.record_event(s, now, "station", sf.station_id, "shortfall", detail=detail)
    return changed


def plan_all(app: App) -> set[str]:
    changed: set[str] = set()
    for month in _months_to_plan(app, app.clock()):
        plan = build_plan(app, month)
        if not plan.empty or plan.shortfalls:
            changed |= apply_plan(app, month, plan)
    return changed


def plan_and_publish(app: App, stop: threading.Event | None = None) -> set[str]:
    changed = plan_all(app)
    for sid in sorted(changed):
        if stop is not None and stop.is_set():
            break
        playout.publish_playbook(app, sid)
    return changed


def shortfalls(app: App, month: str) -> list[tuple[str, int, int]]:
    """(station, programme, missing) for a month, as the planner sees it now."""
    return [(sf.station_id, sf.programme_id, sf.missing)
            for sf in build_plan(app, month).shortfalls]


class AiringScheduler:
    """Keeps one APScheduler job per planned airing, in step with the airing table."""

    def __init__(self, app: App, stop: threading.Event) -> None:
        self.app = app
        self.stop = stop
        self.grace = timedelta(minutes=app.settings.schedule.misfire_grace_minutes)
        self.scheduler = BackgroundScheduler(timezone=app.settings.general.tz, job_defaults={
            "misfire_grace_time": int(self.grace.total_seconds()),
            "coalesce": False, "max_instances": 1})
        self.scheduler.start()
        self.generation = -1
        self.last_plan = 0.0
        self.unpublished: set[str] = {st.id for st in app.settings.stations}
        self.unpublished_failed = False
        self.last_publish = 0.0

    def _generation(self) -> int:
        with self.app.db.read() as s:
            return int(s.scalar(select(func.max(Event.id))) or 0)

    def sync(self) -> None:
        mono = time.monotonic()
        gen = self._generation()
        if gen == self.generation and mono - self.last_plan < REPLAN_SECONDS:
            return
        self.last_plan = mono
        playout.mark_overdue(self.app, self.grace)
        playout.confirm_playbook_airings(self.app)
        self.unpublished |= plan_all(self.app)
        if mono - self.last_publish >= PUBLISH_RETRY_SECONDS or not self.unpublished_failed:
            self.last_publish = mono
            self.unpublished_failed = False
            for sid in sorted(self.unpublished):
                if self.stop.is_set():
                    return
                if playout.publish_playbook(self.app, sid):
                    self.unpublished.discard(sid)
                else:
                    self.unpublished_failed = True
        self._jobs()
        self.generation = self._generation()

    def _jobs(self) -> None:
        now = self.app.clock()
        with self.app.db.read() as s:
            due = {a.id: a.planned_at for a in s.scalars(select(Airing).where(
                Airing.state == AiringState.PLANNED.value,
                Airing.planned_at >= now - self.grace))}
        jobs = {j.id: j for j in self.scheduler.get_jobs()}
        for jid, job in jobs.items():
            aid = int(jid.split("-")[1])
            if aid not in due:
                job.remove()
            elif job.trigger.run_date != due[aid]:
                job.reschedule("date", run_date=due[aid])
        for aid, at in due.items():
            jid = f"airing-{aid}"
            if jid not in jobs:
                self.scheduler.add_job(playout.air, "date", run_date=at, id=jid,
                                       args=[self.app, aid])

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=True)


