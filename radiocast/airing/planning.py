"""Applying the planner: read what it needs from the database, call it, write its answer
(new, moved and cancelled airings, and the shortfalls it found) through `ops`."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from radiocast.airing.plan import (
    ExistingAiring,
    Plan,
    ProgrammeInfo,
    Rules,
    StationInfo,
    plan_month,
)
from radiocast.app import App
from radiocast.core.models import (
    AiringKind,
    AiringState,
    ApprovalState,
    DeliveryState,
    Priority,
    ProgrammeState,
)
from radiocast.core.months import local_month
from radiocast.db import approvals, ops, shortfalls
from radiocast.db.schema import Airing, Delivery, Programme


def _months_to_plan(app: App, now: datetime) -> list[str]:
    current = local_month(now, app.settings.general.tz)
    with app.db.read() as s:
        months = set(s.scalars(select(Programme.month).where(
            Programme.state == ProgrammeState.READY.value, Programme.month >= current)))
    return sorted(months)


def build_plan(app: App, month: str) -> Plan:
    """Read what the planner needs for one month and call it (no writes)."""
    progs, lineage, rows, dels = _plan_inputs(app, month)
    cfg = app.settings
    lead = timedelta(minutes=cfg.schedule.lead_minutes)
    urgent = {p.id for p in progs if p.priority == Priority.EMERGENCY.value}
    # an emergency airs as soon as its file is there; the others keep the lead time
    # …and the plan counts from the approval, for a programme that waited for it
    approved = {p.id: p.approved_at for p in progs if p.approved_at is not None}
    available = {(d.programme_id, d.station_id): max(
        d.delivered_at + (timedelta(0) if d.programme_id in urgent else lead),
        approved.get(d.programme_id, d.delivered_at))
        for d in dels if d.delivered_at is not None}
    # the language versions of one programme: same month and title
    infos = [ProgrammeInfo(p.id, p.month, Priority(p.priority), p.duration_s or 0.0,
                           lineage[p.id], p.language, f"{p.month} {p.title_key}")
             for p in progs]
    stations = [StationInfo(st.id, cfg.slots_for(st), st.valid_from, st.valid_to,
                            st.languages) for st in cfg.stations]
    existing = [ExistingAiring(a.id, a.programme_id, a.station_id, AiringKind(a.kind),
                               a.planned_at, AiringState(a.state), a.replaces_id) for a in rows]
    return plan_month(month, infos, stations, existing, available, app.clock(), cfg.general.tz,
                      Rules(cfg.schedule.replays_per_month, cfg.schedule.min_gap_days,
                            cfg.schedule.versions))


def _plan_inputs(app: App, month: str) -> tuple[list[Programme], dict[int, tuple[int, ...]],
                                                list[Airing], list[Delivery]]:
    """The month's ready programmes, their earlier revisions, their airings and deliveries."""
    with app.db.read() as s:
        progs = [p for p in s.scalars(select(Programme).where(
            Programme.month == month, Programme.state == ProgrammeState.READY.value))
            if airable(app, p)]
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
    return progs, lineage, rows, dels


def airable(app: App, p: Programme) -> bool:
    """May this programme have airings? Approved, or no approval needed, or an emergency
    that airs first and is approved afterwards ([approval] emergency = "air-then-approve")."""
    return p.approval in approvals.AIRABLE or (
        p.approval == ApprovalState.AWAITING.value and app.settings.approval.airs_first(p.priority))


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
        for aid, pid in plan.revise.items():
            a = s.get_one(Airing, aid)
            if a.state == AiringState.PLANNED.value and a.planned_at > now:
                ops.revise_airing(s, a, pid, now)
                changed.add(a.station_id)
        for aid, at in plan.move.items():
            a = s.get_one(Airing, aid)
            if a.state == AiringState.PLANNED.value and a.planned_at > now:
                ops.move_airing(s, a, at, now)
                changed.add(a.station_id)
        ops.add_airings(s, [(n.programme_id, n.station_id, n.kind, n.planned_at, n.replaces_id)
                            for n in plan.add], month, now)
        changed.update(n.station_id for n in plan.add)
        # recorded when one starts, changes or clears, not at every re-plan
        shortfalls.record_shortfalls(s, month, {(sf.station_id, sf.programme_id): sf.missing
                                         for sf in plan.shortfalls}, now)
    return changed


def plan_all(app: App) -> set[str]:
    changed: set[str] = set()
    for month in _months_to_plan(app, app.clock()):
        plan = build_plan(app, month)
        changed |= apply_plan(app, month, plan)
    return changed
