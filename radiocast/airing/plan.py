"""The airing planner: a pure function of programmes, stations, existing airings and "now".

For every station and every current programme of a month: one premiere and
`replays_per_month` replays, each at the start (or, several programmes back to back, inside)
one of the station's windows, no earlier than delivery + lead time, spaced `min_gap_days`
apart when the month allows, alternating morning and evening. Missed, failed and interrupted
airings get make-ups in the next free window. Past airings are never touched.

Language versions of one programme (same `group`) share its airings at a station that airs
several of its languages (`Rules.versions = "share"`): the premiere in the station's first
language (Vietnamese), the replays taking its languages in turn. A version that is not at the
station yet gives its turn to one that is; when it arrives, the future airings take it again.
With `"each"`, every version is a programme of its own.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from radiocast.airing.windows import (
    GAP_SECONDS,
    Instance,
    NewAiring,
    Occupancy,
    ProgrammeInfo,
    StationInfo,
    instances,
)
from radiocast.core.models import FELL_THROUGH, AiringKind, AiringState, Priority
from radiocast.core.months import month_days

__all__ = ["ExistingAiring", "NewAiring", "Plan", "ProgrammeInfo", "Rules", "Shortfall",
           "StationInfo", "month_days", "plan_month"]
PLAN_MARGIN_SECONDS = 10  # a new airing is never planned sooner than this


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
    revise: dict[int, int] = field(default_factory=dict)  # airing → the version it now airs
    shortfalls: list[Shortfall] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.add or self.cancel or self.move or self.revise)


@dataclass(frozen=True)
class Rules:
    replays_per_month: int = 3
    min_gap_days: int = 3
    versions: str = "share"  # or "each": every language version its own premiere + replays


# what stands in the plan: aired, airing, and unconfirmed (the station may well have played
# it; its record may come later: no make-up on a guess, so nothing airs twice)
COUNTING = {AiringState.AIRED, AiringState.AIRING, AiringState.UNCONFIRMED}
NEEDS_MAKEUP = FELL_THROUGH
_RANK = {Priority.EMERGENCY: 0, Priority.PRIORITY: 1, Priority.NORMAL: 2}


@dataclass(frozen=True)
class _Group:
    """One programme at one station: its versions there, and when each is there."""

    versions: tuple[ProgrammeInfo, ...]  # the station's languages' order
    when: dict[int, datetime]  # version id (and its earlier revisions' ids) → available at
    order: tuple[str, ...]  # the station's languages, the premiere's first

    @property
    def lead(self) -> ProgrammeInfo:
        return self.versions[0]

    def probe(self) -> ProgrammeInfo:
        """What windows are chosen for: the lead, as long as its longest version."""
        return dataclasses.replace(self.lead, duration_s=max(v.duration_s
                                                             for v in self.versions))

    def choose(self, position: int, at: datetime) -> ProgrammeInfo | None:
        """The version for the `position`-th airing (0 = premiere) at `at`: the languages
        whose versions are at the station by then take turns, in the station's order."""
        by_lang = {v.language: v for v in self.versions if self.when[v.id] <= at}
        have = [lang for lang in self.order if lang in by_lang]
        return by_lang[have[position % len(have)]] if have else None


def _group_key(p: ProgrammeInfo, versions: str) -> str:
    own = p.group or f"#{p.id}"
    # an emergency airs once in each of its languages; "each": every version on its own
    return f"{own}/{p.language}" if versions == "each" or p.priority == Priority.EMERGENCY \
        else own


def _groups(progs: list[ProgrammeInfo], versions: str) -> dict[str, list[ProgrammeInfo]]:
    out: dict[str, list[ProgrammeInfo]] = {}
    for p in progs:  # in priority and id order: a group sits where its first version does
        out.setdefault(_group_key(p, versions), []).append(p)
    return out


def _at_station(members: list[ProgrammeInfo], station: StationInfo,
                available_at: dict[tuple[int, str], datetime]) -> _Group | None:
    langs = station.languages
    primary = "vi" if "vi" in langs else langs[0]
    order = (primary, *(lang for lang in langs if lang != primary))
    here = sorted((p for p in members if p.language in langs
                   and (p.id, station.id) in available_at),
                  key=lambda p: (order.index(p.language), p.id))
    # a version longer than every window here would hold the others back: it is left out
    # (when none fits, the shortfall says so)
    longest = max((s.minutes * 60 for s in station.slots), default=0)
    here = [p for p in here if p.duration_s <= longest] or here
    if not here:
        return None
    when: dict[int, datetime] = {}
    for v in here:
        for pid in (v.id, *v.lineage):
            when[pid] = available_at[(v.id, station.id)]
    return _Group(tuple(here), when, order)


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
    """What to add, cancel, move and revise so every station meets the month's rule."""
    plan = Plan()
    progs = sorted((p for p in programmes if p.month == month),
                   key=lambda p: (_RANK[p.priority], p.id))
    by_id = {p.id: p for p in progs}
    groups = _groups(progs, rules.versions)
    group_of = {pid: key for key, ms in groups.items() for p in ms for pid in (p.id, *p.lineage)}
    windows: dict[tuple[object, ...], list[Instance]] = {}
    by_station: dict[str, list[ExistingAiring]] = defaultdict(list)
    for a in existing:
        if a.state != AiringState.CANCELLED:
            by_station[a.station_id].append(a)
    for station in sorted(stations, key=lambda s: s.id):
        here = by_station.get(station.id, [])
        first_new = len(plan.add)
        key = (station.slots, station.valid_from, station.valid_to)
        if key not in windows:  # stations that share windows and dates share the month's
            windows[key] = instances(station, month, tz)
        occupancy = Occupancy(windows[key], by_id, group_of)
        for a in here:
            if a.state in COUNTING or a.state == AiringState.PLANNED:
                occupancy.add(a.planned_at, a.programme_id)
        for gkey, members in groups.items():
            group = _at_station(members, station, available_at)
            if group is None:
                continue  # no version of it at the station yet: nothing can be planned
            mine = [a for a in here if group_of.get(a.programme_id) == gkey]
            if group.lead.priority == Priority.EMERGENCY:
                _plan_emergency(plan, group.lead, station, mine, group.when[group.lead.id],
                                max(now, _urgent_end(plan, here, by_id, station.id)))
            else:
                _plan_programme(plan, occupancy, group, station, mine, now, rules, month)
        _order_windows(plan, occupancy, here, now, first_new)
    return plan


def _keep_or_cancel(plan: Plan, occupancy: Occupancy, mine: list[ExistingAiring],
                    when: dict[int, datetime], now: datetime) -> list[ExistingAiring]:
    """The airings that stand: counted ones, and planned ones whose file is (still) there in
    time and whose window exists (`now` only limits where new airings go). Others cancelled."""
    kept: list[ExistingAiring] = []
    for a in mine:
        if a.state in COUNTING:
            kept.append(a)
        elif a.state == AiringState.PLANNED:
            avail = when.get(a.programme_id)
            if a.planned_at <= now or (avail is not None and a.planned_at >= avail
                                       and occupancy.valid(a.planned_at)):
                kept.append(a)
            else:
                plan.cancel.append(a.id)
                occupancy.remove(a.planned_at, a.programme_id)
    return kept


def _plan_programme(plan: Plan, occupancy: Occupancy, group: _Group, station: StationInfo,
                    mine: list[ExistingAiring], now: datetime, rules: Rules,
                    month: str) -> None:
    """One programme at one station: make-ups first, then the premiere and replays; then
    each airing's language version."""
    prog = group.probe()
    earliest = max(min(group.when[v.id] for v in group.versions),
                   now + timedelta(seconds=PLAN_MARGIN_SECONDS))
    kept = _keep_or_cancel(plan, occupancy, mine, group.when, now)
    first_new = len(plan.add)
    missing = 1 + rules.replays_per_month - len(kept)
    if missing > 0:
        replaced = {a.replaces_id for a in mine if a.replaces_id is not None
                    and a.id not in plan.cancel}
        unreplaced = sorted((a for a in mine if a.state in NEEDS_MAKEUP
                             and a.id not in replaced), key=lambda a: a.planned_at)
        for failed in unreplaced[:missing]:  # each make-up in the next free window
            inst = occupancy.first_free(prog, earliest)
            if inst is None:
                break
            plan.add.append(occupancy.place(inst, prog, station.id, AiringKind.MAKEUP,
                                            failed.id))
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
        plan.shortfalls.append(Shortfall(station.id, month, group.lead.id, missing))
    _assign_versions(plan, occupancy, group, kept, first_new, now)


def _assign_versions(plan: Plan, occupancy: Occupancy, group: _Group,
                     kept: list[ExistingAiring], first_new: int, now: datetime) -> None:
    """The n-th airing of the programme here (in time order) takes the n-th language's
    version; past and counted airings keep theirs and hold their turn."""
    new = list(range(first_new, len(plan.add)))
    items: list[tuple[datetime, ExistingAiring | int]] = sorted(
        [(a.planned_at, a) for a in kept] + [(plan.add[i].planned_at, i) for i in new],
        key=lambda x: x[0])
    for position, (at, item) in enumerate(items):
        v = group.choose(position, at)
        if v is None:
            continue
        if isinstance(item, int):  # a new airing: planned as the lead, now its version
            if plan.add[item].programme_id != v.id:
                plan.add[item] = occupancy.swap(plan.add[item], v.id)
        elif item.state == AiringState.PLANNED and item.planned_at > now \
                and item.programme_id != v.id \
                and occupancy.revise(item.planned_at, item.programme_id, v.id):
            plan.revise[item.id] = v.id


def _plan_emergency(plan: Plan, prog: ProgrammeInfo, station: StationInfo,
                    mine: list[ExistingAiring], avail: datetime, after: datetime) -> None:
    """One airing, at once (`after`: now, or the end of the station's emergencies already
    planned: the versions of an emergency in two languages play one after the other)."""
    if mine:
        return  # one airing, outside the quota; whatever happened to it is final
    plan.add.append(NewAiring(prog.id, station.id, AiringKind.EMERGENCY,
                              max(avail, after) + timedelta(seconds=PLAN_MARGIN_SECONDS)))


def _urgent_end(plan: Plan, here: list[ExistingAiring], progs: dict[int, ProgrammeInfo],
                sid: str) -> datetime:
    """When the station's planned or playing emergencies (old and new) end."""
    spans = [(a.planned_at, a.programme_id) for a in here if a.kind == AiringKind.EMERGENCY
             and a.state in (AiringState.PLANNED, AiringState.AIRING)]
    spans += [(n.planned_at, n.programme_id) for n in plan.add
              if n.station_id == sid and n.kind == AiringKind.EMERGENCY]
    return max((at + timedelta(seconds=(progs[pid].duration_s if pid in progs else 0)
                               + GAP_SECONDS) for at, pid in spans), default=datetime.min
               .replace(tzinfo=UTC))


def _spread(occ: Occupancy, prog: ProgrammeInfo, earliest: datetime, last: datetime | None,
            n: int, min_gap_days: int) -> list[Instance]:
    """Pick n window occurrences: widest spacing up to min_gap_days that still fits them all."""
    cands = occ.candidates(prog, earliest)
    last_day = last.date() if last else None
    last_evening = None if last is None else (occ.find(last) or _NO).evening
    best: list[Instance] = []
    for gap in range(min_gap_days, -1, -1):
        picked: list[Instance] = []
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


_NO = Instance(datetime.min, datetime.min, date.min, False)


def _order_windows(plan: Plan, occ: Occupancy, here: list[ExistingAiring],
                   now: datetime, first_new: int) -> None:
    """Within a window, programmes play back to back: priority first, then by id.
    `plan.add[first_new:]` are this station's new airings (the others are not looked at)."""
    touched = {inst for items in occ.new.values() for inst, _ in items} | occ.retimed
    if not touched:
        return
    new_by_inst: dict[Instance, list[NewAiring]] = defaultdict(list)
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
            pid = plan.revise.get(old.id, old.programme_id)  # a version it now airs
            p = occ.progs.get(pid)
            entries.append((_RANK[p.priority] if p else 2, pid, old))
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
