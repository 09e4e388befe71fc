"""The airing planner: a pure function of programmes, stations, existing airings and "now".

For every station and every current programme of a month: one premiere and
`replays_per_month` replays, each at the start (or, several programmes back to back, inside)
one of the station's windows, no earlier than delivery + lead time, spaced `min_gap_days`
apart when the month allows, alternating morning and evening. Missed, failed and interrupted
airings get make-ups in the next free window. Past airings are never touched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from radiocast.models import AiringKind, AiringState, Priority, Slot
from radiocast.months import month_days

GAP_SECONDS = 5  # silence between two programmes in one window
PLAN_MARGIN_SECONDS = 10  # a new airing is never planned sooner than this
NOON = 12


@dataclass(frozen=True)
class ProgrammeInfo:
    id: int
    month: str
    priority: Priority
    duration_s: float
    lineage: tuple[int, ...] = ()  # earlier revisions this programme replaces


@dataclass(frozen=True)
class StationInfo:
    id: str
    slots: tuple[Slot, ...]
    valid_from: date | None = None
    valid_to: date | None = None

    def valid_on(self, day: date) -> bool:
        return (self.valid_from is None or day >= self.valid_from) and (
            self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True)
class ExistingAiring:
    id: int
    programme_id: int
    station_id: str
    kind: AiringKind
    planned_at: datetime
    state: AiringState
    replaces_id: int | None = None


@dataclass(frozen=True)
class NewAiring:
    programme_id: int
    station_id: str
    kind: AiringKind
    planned_at: datetime
    replaces_id: int | None = None


@dataclass(frozen=True)
class Shortfall:
    station_id: str
    month: str
    programme_id: int
    missing: int


@dataclass
class Plan:
    add: list[NewAiring] = field(default_factory=list)
    cancel: list[int] = field(default_factory=list)
    move: dict[int, datetime] = field(default_factory=dict)
    shortfalls: list[Shortfall] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.add or self.cancel or self.move)


@dataclass(frozen=True)
class Rules:
    replays_per_month: int = 3
    min_gap_days: int = 3


# what stands in the plan: aired, airing, and unconfirmed (the station may well have played
# it; its record may come later: no make-up on a guess, so nothing airs twice)
COUNTING = {AiringState.AIRED, AiringState.AIRING, AiringState.UNCONFIRMED}
NEEDS_MAKEUP = {AiringState.MISSED, AiringState.FAILED, AiringState.INTERRUPTED}
_RANK = {Priority.EMERGENCY: 0, Priority.PRIORITY: 1, Priority.NORMAL: 2}


@dataclass(frozen=True, order=True)
class _Instance:
    """One occurrence of a window: a station's slot on a given day."""

    start: datetime  # UTC
    end: datetime
    day: date
    evening: bool


def _instances(station: StationInfo, month: str, tz: ZoneInfo) -> list[_Instance]:
    out = []
    for day in month_days(month):
        if not station.valid_on(day):
            continue
        for slot in station.slots:
            start = datetime.combine(day, slot.start, tz)
            end = datetime.combine(day, slot.end, tz)
            out.append(_Instance(start.astimezone(ZoneInfo("UTC")),
                                 end.astimezone(ZoneInfo("UTC")), day,
                                 slot.start.hour >= NOON))
    return sorted(out)


def plan_month(
    month: str,
    programmes: Sequence[ProgrammeInfo],
    stations: Sequence[StationInfo],
    existing: Iterable[ExistingAiring],
    available_at: dict[tuple[int, str], datetime],
    now: datetime,
    tz: ZoneInfo,
    rules: Rules,
) -> Plan:
    """What to add, cancel and move so every station meets the month's rule."""
    plan = Plan()
    progs = sorted((p for p in programmes if p.month == month),
                   key=lambda p: (_RANK[p.priority], p.id))
    by_id = {p.id: p for p in progs}
    alias = {old: p.id for p in progs for old in p.lineage}
    windows: dict[tuple[object, ...], list[_Instance]] = {}
    by_station: dict[str, list[ExistingAiring]] = defaultdict(list)
    for a in existing:
        if a.state != AiringState.CANCELLED:
            by_station[a.station_id].append(a)
    for station in sorted(stations, key=lambda s: s.id):
        here = by_station.get(station.id, [])
        first_new = len(plan.add)
        key = (station.slots, station.valid_from, station.valid_to)
        if key not in windows:  # stations that share windows and dates share the month's
            windows[key] = _instances(station, month, tz)
        occupancy = _Occupancy(windows[key], by_id)
        for a in here:
            if a.state in COUNTING or a.state == AiringState.PLANNED:
                occupancy.add(a.planned_at, a.programme_id)
        for prog in progs:
            avail = available_at.get((prog.id, station.id))
            if avail is None:
                continue  # not at the station yet: nothing can be planned
            mine = [a for a in here if alias.get(a.programme_id, a.programme_id) == prog.id]
            if prog.priority == Priority.EMERGENCY:
                _plan_emergency(plan, prog, station, mine, avail, now)
            else:
                _plan_programme(plan, occupancy, prog, station, mine, avail, now, rules, month)
        _order_windows(plan, occupancy, here, now, first_new)
    return plan


def _keep_or_cancel(plan: Plan, occupancy: _Occupancy, mine: list[ExistingAiring],
                    avail: datetime, now: datetime) -> list[ExistingAiring]:
    """The airings that stand: counted ones, and planned ones whose file is (still) there in
    time and whose window exists (`now` only limits where new airings go). Others cancelled."""
    kept: list[ExistingAiring] = []
    for a in mine:
        if a.state in COUNTING:
            kept.append(a)
        elif a.state == AiringState.PLANNED:
            if a.planned_at <= now or (a.planned_at >= avail and occupancy.valid(a.planned_at)):
                kept.append(a)
            else:
                plan.cancel.append(a.id)
                occupancy.remove(a.planned_at, a.programme_id)
    return kept


def _plan_programme(plan: Plan, occupancy: _Occupancy, prog: ProgrammeInfo,
                    station: StationInfo, mine: list[ExistingAiring], avail: datetime,
                    now: datetime, rules: Rules, month: str) -> None:
    """One programme at one station: make-ups first, then the premiere and replays."""
    earliest = max(avail, now + timedelta(seconds=PLAN_MARGIN_SECONDS))
    kept = _keep_or_cancel(plan, occupancy, mine, avail, now)
    missing = 1 + rules.replays_per_month - len(kept)
    if missing <= 0:
        return
    replaced = {a.replaces_id for a in mine if a.replaces_id is not None
                and a.id not in plan.cancel}
    unreplaced = sorted((a for a in mine if a.state in NEEDS_MAKEUP and a.id not in replaced),
                        key=lambda a: a.planned_at)
    for failed in unreplaced[:missing]:  # each make-up in the next free window
        inst = occupancy.first_free(prog, earliest)
        if inst is None:
            break
        plan.add.append(occupancy.place(inst, prog, station.id, AiringKind.MAKEUP, failed.id))
        missing -= 1
    if missing > 0:
        has_premiere = any(a.kind == AiringKind.PREMIERE for a in mine
                           if a.id not in plan.cancel)
        last = max((a.planned_at for a in kept), default=None)
        kinds = ([AiringKind.PREMIERE] if not has_premiere else []) + \
            [AiringKind.REPLAY] * missing
        chosen = _spread(occupancy, prog, earliest, last, missing, rules.min_gap_days)
        for inst, kind in zip(chosen, kinds, strict=False):
            plan.add.append(occupancy.place(inst, prog, station.id, kind, None))
        missing -= len(chosen)
    if missing > 0:
        plan.shortfalls.append(Shortfall(station.id, month, prog.id, missing))


def _plan_emergency(plan: Plan, prog: ProgrammeInfo, station: StationInfo,
                    mine: list[ExistingAiring], avail: datetime, now: datetime) -> None:
    if mine:
        return  # one airing, outside the quota; whatever happened to it is final
    plan.add.append(NewAiring(prog.id, station.id, AiringKind.EMERGENCY,
                              max(avail, now) + timedelta(seconds=PLAN_MARGIN_SECONDS)))


class _Occupancy:
    """Which programmes fill which window occurrences, and how much time is left in each."""

    def __init__(self, instances: list[_Instance], progs: dict[int, ProgrammeInfo]) -> None:
        self.instances = instances
        self.progs = progs
        self.members: dict[_Instance, list[int]] = defaultdict(list)
        self.new: dict[int, list[tuple[_Instance, NewAiring]]] = defaultdict(list)

    def find(self, at: datetime) -> _Instance | None:
        for inst in self.instances:
            if inst.start <= at < inst.end:
                return inst
        return None

    def valid(self, at: datetime) -> bool:
        return self.find(at) is not None

    def add(self, at: datetime, pid: int) -> None:
        inst = self.find(at)
        if inst is not None:
            self.members[inst].append(pid)

    def remove(self, at: datetime, pid: int) -> None:
        inst = self.find(at)
        if inst is not None and pid in self.members[inst]:
            self.members[inst].remove(pid)

    def used(self, inst: _Instance) -> float:
        return sum(self.progs[p].duration_s + GAP_SECONDS if p in self.progs else 0
                   for p in self.members[inst])

    def fits(self, inst: _Instance, prog: ProgrammeInfo) -> bool:
        if prog.id in self.members[inst]:
            return False
        cap = (inst.end - inst.start).total_seconds()
        return self.used(inst) + prog.duration_s <= cap

    def candidates(self, prog: ProgrammeInfo, earliest: datetime) -> list[_Instance]:
        return [i for i in self.instances if i.start >= earliest and self.fits(i, prog)]

    def first_free(self, prog: ProgrammeInfo, earliest: datetime) -> _Instance | None:
        c = self.candidates(prog, earliest)
        return c[0] if c else None

    def place(self, inst: _Instance, prog: ProgrammeInfo, sid: str, kind: AiringKind,
              replaces: int | None) -> NewAiring:
        self.members[inst].append(prog.id)
        a = NewAiring(prog.id, sid, kind, inst.start, replaces)
        self.new[prog.id].append((inst, a))
        return a


def _spread(occ: _Occupancy, prog: ProgrammeInfo, earliest: datetime, last: datetime | None,
            n: int, min_gap_days: int) -> list[_Instance]:
    """Pick n window occurrences: widest spacing up to min_gap_days that still fits them all."""
    cands = occ.candidates(prog, earliest)
    last_day = last.date() if last else None
    last_evening = None if last is None else (occ.find(last) or _NO).evening
    best: list[_Instance] = []
    for gap in range(min_gap_days, -1, -1):
        picked: list[_Instance] = []
        prev_day, prev_evening = last_day, last_evening
        pool = list(cands)
        while len(picked) < n:
            ok = [c for c in pool if prev_day is None or (c.day - prev_day).days >= gap]
            if not ok:
                break
            choice = ok[0]
            if prev_evening is not None:
                alt = [c for c in ok if c.evening != prev_evening
                       and (c.day - ok[0].day).days <= 1]
                if alt and (alt[0].day == ok[0].day or gap > 0):
                    choice = alt[0]
            picked.append(choice)
            pool = [c for c in pool if c.start > choice.start]
            prev_day, prev_evening = choice.day, choice.evening
        if len(picked) > len(best):
            best = picked
        if len(picked) == n:
            return picked
    # not all fit even back to back: the earliest free windows, as many as there are (the
    # alternation above may skip one, and a shortfall must be as small as the month allows)
    return cands[:n] if len(cands[:n]) > len(best) else best


_NO = _Instance(datetime.min, datetime.min, date.min, False)


def _order_windows(plan: Plan, occ: _Occupancy, here: list[ExistingAiring],
                   now: datetime, first_new: int) -> None:
    """Within a window, programmes play back to back: priority first, then by id.
    `plan.add[first_new:]` are this station's new airings (the others are not looked at)."""
    touched = {inst for items in occ.new.values() for inst, _ in items}
    if not touched:
        return
    new_by_inst: dict[_Instance, list[NewAiring]] = defaultdict(list)
    for items in occ.new.values():
        for inst, a in items:
            new_by_inst[inst].append(a)
    final: dict[int, NewAiring] = {}
    for inst in sorted(touched):
        olds = [a for a in here if a.state == AiringState.PLANNED and a.id not in plan.cancel
                and inst.start <= a.planned_at < inst.end]
        if any(a.planned_at <= now for a in olds):
            continue  # the window has begun: leave it as it is
        entries: list[tuple[int, int, object]] = []
        for old in olds:
            p = occ.progs.get(old.programme_id)
            entries.append((_RANK[p.priority] if p else 2, old.programme_id, old))
        for n in new_by_inst[inst]:
            entries.append((_RANK[occ.progs[n.programme_id].priority], n.programme_id, n))
        at = inst.start
        for _rank, pid, item in sorted(entries, key=lambda e: (e[0], e[1])):
            if isinstance(item, ExistingAiring):
                if item.planned_at != at:
                    plan.move[item.id] = at
            else:
                assert isinstance(item, NewAiring)
                final[id(item)] = NewAiring(item.programme_id, item.station_id, item.kind, at,
                                            item.replaces_id)
            prog = occ.progs.get(pid)
            at += timedelta(seconds=(prog.duration_s if prog else 0) + GAP_SECONDS)
    plan.add[first_new:] = [final.get(id(a), a) for a in plan.add[first_new:]]
