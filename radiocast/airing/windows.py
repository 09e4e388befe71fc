"""What the planner plans with: programmes (and their language versions), stations, and the
occurrences of a station's windows in a month with what already fills each (pure data)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from radiocast.core.models import AiringKind, Priority, Slot
from radiocast.core.months import month_days

GAP_SECONDS = 5  # silence between two programmes in one window
NOON = 12


@dataclass(frozen=True)
class ProgrammeInfo:
    id: int
    month: str
    priority: Priority
    duration_s: float
    lineage: tuple[int, ...] = ()  # earlier revisions this programme replaces
    language: str = "vi"
    group: str = ""  # versions of one programme share it ("" = a programme on its own)


@dataclass(frozen=True)
class StationInfo:
    id: str
    slots: tuple[Slot, ...]
    valid_from: date | None = None
    valid_to: date | None = None
    languages: tuple[str, ...] = ("vi",)  # the versions it airs, the first one's premiere

    def valid_on(self, day: date) -> bool:
        return (self.valid_from is None or day >= self.valid_from) and (
            self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True)
class NewAiring:
    programme_id: int
    station_id: str
    kind: AiringKind
    planned_at: datetime
    replaces_id: int | None = None


@dataclass(frozen=True, order=True)
class Instance:
    """One occurrence of a window: a station's slot on a given day."""

    start: datetime  # UTC
    end: datetime
    day: date
    evening: bool


def instances(station: StationInfo, month: str, tz: ZoneInfo) -> list[Instance]:
    out = []
    for day in month_days(month):
        if not station.valid_on(day):
            continue
        for slot in station.slots:
            start = datetime.combine(day, slot.start, tz)
            end = datetime.combine(day, slot.end, tz)
            out.append(Instance(start.astimezone(ZoneInfo("UTC")),
                                end.astimezone(ZoneInfo("UTC")), day,
                                slot.start.hour >= NOON))
    return sorted(out)


class Occupancy:
    """Which programmes fill which window occurrences, and how much time is left in each.
    Two versions of one programme never share a window (`group_of`)."""

    def __init__(self, instances: list[Instance], progs: dict[int, ProgrammeInfo],
                 group_of: dict[int, str]) -> None:
        self.instances = instances
        self.progs = progs
        self.group_of = group_of
        self.members: dict[Instance, list[int]] = defaultdict(list)
        self.new: dict[int, list[tuple[Instance, NewAiring]]] = defaultdict(list)
        self.retimed: set[Instance] = set()  # windows whose durations changed (a new version)

    def find(self, at: datetime) -> Instance | None:
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

    def used(self, inst: Instance) -> float:
        return sum(self.progs[p].duration_s + GAP_SECONDS if p in self.progs else 0
                   for p in self.members[inst])

    def _group(self, pid: int) -> str:
        return self.group_of.get(pid, f"#{pid}")

    def fits(self, inst: Instance, prog: ProgrammeInfo) -> bool:
        mine = self._group(prog.id)
        if any(self._group(p) == mine for p in self.members[inst]):
            return False
        cap = (inst.end - inst.start).total_seconds()
        return self.used(inst) + prog.duration_s <= cap

    def candidates(self, prog: ProgrammeInfo, earliest: datetime) -> list[Instance]:
        return [i for i in self.instances if i.start >= earliest and self.fits(i, prog)]

    def first_free(self, prog: ProgrammeInfo, earliest: datetime) -> Instance | None:
        c = self.candidates(prog, earliest)
        return c[0] if c else None

    def place(self, inst: Instance, prog: ProgrammeInfo, sid: str, kind: AiringKind,
              replaces: int | None) -> NewAiring:
        self.members[inst].append(prog.id)
        a = NewAiring(prog.id, sid, kind, inst.start, replaces)
        self.new[prog.id].append((inst, a))
        return a

    def swap(self, item: NewAiring, pid: int) -> NewAiring:
        """A new airing takes another version of its programme (same window)."""
        for n, (inst, a) in enumerate(self.new[item.programme_id]):
            if a is item:
                del self.new[item.programme_id][n]
                self.members[inst].remove(item.programme_id)
                self.members[inst].append(pid)
                out = NewAiring(pid, a.station_id, a.kind, a.planned_at, a.replaces_id)
                self.new[pid].append((inst, out))
                self.retimed.add(inst)
                return out
        raise KeyError(item)

    def revise(self, at: datetime, old: int, new: int) -> bool:
        """A planned airing takes another version, if that one fits its window."""
        inst = self.find(at)
        if inst is None or old not in self.members[inst] or old not in self.progs:
            return False
        cap = (inst.end - inst.start).total_seconds()
        if self.used(inst) - self.progs[old].duration_s + self.progs[new].duration_s > cap:
            return False
        self.members[inst].remove(old)
        self.members[inst].append(new)
        self.retimed.add(inst)
        return True
