"""The planner, a pure function: properties over random months and windows, and calendar cases."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from radiocast.airing.plan import (
    ExistingAiring,
    NewAiring,
    Plan,
    ProgrammeInfo,
    Rules,
    StationInfo,
    month_days,
    plan_month,
)
from radiocast.core.models import AiringKind, AiringState, Priority, Slot

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
RULES = Rules(3, 3)
WINDOWS = (Slot(time(6, 0), time(6, 45)), Slot(time(17, 30), time(18, 15)))


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=TZ)


def apply(plan: Plan, existing: list[ExistingAiring], now: datetime) -> list[ExistingAiring]:
    """What the database would hold after the plan is written (versions revised too)."""
    out = [ExistingAiring(a.id, plan.revise.get(a.id, a.programme_id), a.station_id, a.kind,
                          plan.move.get(a.id, a.planned_at), a.state, a.replaces_id)
           for a in existing if a.id not in plan.cancel]
    nid = max((a.id for a in existing), default=0)
    for n in plan.add:
        nid += 1
        out.append(ExistingAiring(nid, n.programme_id, n.station_id, n.kind, n.planned_at,
                                  AiringState.PLANNED, n.replaces_id))
    return out


def in_window(at: datetime, slots: tuple[Slot, ...], duration: float) -> bool:
    loc = at.astimezone(TZ)
    for s in slots:
        start = datetime.combine(loc.date(), s.start, TZ)
        end = datetime.combine(loc.date(), s.end, TZ)
        if start <= loc and loc + timedelta(seconds=duration) <= end:
            return True
    return False


slot_strategy = st.lists(
    # odd hours only, so that windows (≤ 60 min from h:30 at most) never overlap
    st.tuples(st.integers(2, 10).map(lambda x: 2 * x + 1), st.sampled_from([0, 15, 30]),
              st.integers(15, 60)),
    min_size=1, max_size=3, unique_by=lambda t: t[0],
).map(lambda xs: tuple(sorted((Slot(time(h, m), (datetime(2000, 1, 1, h, m)
                                                     + timedelta(minutes=d)).time())
                               for h, m, d in xs), key=lambda s: s.start)))


@settings(max_examples=150, deadline=None)
@given(year=st.integers(2024, 2028), month=st.integers(1, 12), arrival_day=st.integers(1, 31),
       hour=st.integers(0, 23), slots=slot_strategy,
       durations=st.lists(st.integers(60, 20 * 60), min_size=1, max_size=3))
def test_planner_properties(year: int, month: int, arrival_day: int, hour: int,
                            slots: tuple[Slot, ...], durations: list[int]) -> None:
    m = f"{year}-{month:02d}"
    days = month_days(m)
    day = days[min(arrival_day, len(days)) - 1]
    now = datetime.combine(day, time(hour, 7), TZ).astimezone(UTC)
    progs = [ProgrammeInfo(i + 1, m, Priority.NORMAL, float(d)) for i, d in enumerate(durations)]
    stations = [StationInfo("a", slots), StationInfo("b", slots[:1])]
    avail = {(p.id, s.id): now for p in progs for s in stations}
    plan = plan_month(m, progs, stations, [], avail, now, TZ, RULES)
    # determinism
    assert plan_month(m, progs, stations, [], avail, now, TZ, RULES) == plan
    rows = apply(plan, [], now)
    for s in stations:
        mine = sorted((a for a in rows if a.station_id == s.id), key=lambda a: a.planned_at)
        dur = {p.id: p.duration_s for p in progs}
        # inside the month, inside a window, after availability
        for a in mine:
            assert a.planned_at.astimezone(TZ).strftime("%Y-%m") == m
            assert in_window(a.planned_at, s.slots, dur[a.programme_id])
            assert a.planned_at > now
        # no overlap at a station
        for x, y in itertools.pairwise(mine):
            assert x.planned_at + timedelta(seconds=dur[x.programme_id]) <= y.planned_at
        for p in progs:
            got = [a for a in mine if a.programme_id == p.id]
            short = [f for f in plan.shortfalls if f.station_id == s.id and f.programme_id == p.id]
            # a shortfall exactly when the airings do not all fit, naming the shortfall
            assert (len(got) < 4) == bool(short)
            if short:
                assert short[0].missing == 4 - len(got) and short[0].month == m
            assert [a.kind for a in got][:1] == ([AiringKind.PREMIERE] if got else [])
            assert all(a.kind == AiringKind.REPLAY for a in got[1:])
            # spacing: min_gap_days whenever the rest of the month clearly allows it
            if len(progs) == 1 and got:
                first = got[0].planned_at.astimezone(TZ).date()
                if (days[-1] - first).days >= 3 * RULES.min_gap_days + 3:
                    gaps = [(b.planned_at - a.planned_at).days for a, b in itertools.pairwise(got)]
                    assert all(g >= RULES.min_gap_days - 1 for g in gaps)
                    dates = [a.planned_at.astimezone(TZ).date() for a in got]
                    assert all((b - a).days >= RULES.min_gap_days
                               for a, b in itertools.pairwise(dates))
    # re-planning with nothing changed changes nothing
    assert plan_month(m, progs, stations, rows, avail, now, TZ, RULES).empty


@settings(max_examples=60, deadline=None)
@given(later_days=st.integers(1, 20), missed=st.integers(0, 2))
def test_replanning_never_touches_the_past(later_days: int, missed: int) -> None:
    m = "2026-03"
    now = local(2026, 3, 2, 8).astimezone(UTC)
    progs = [ProgrammeInfo(1, m, Priority.NORMAL, 900.0)]
    stations = [StationInfo("a", WINDOWS)]
    avail = {(1, "a"): now}
    rows = apply(plan_month(m, progs, stations, [], avail, now, TZ, RULES), [], now)
    later = now + timedelta(days=later_days)
    # the executor ran: past airings became aired (or missed)
    done = []
    for i, a in enumerate(sorted(rows, key=lambda a: a.planned_at)):
        if a.planned_at < later:
            state = AiringState.MISSED if i < missed else AiringState.AIRED
            done.append(ExistingAiring(a.id, a.programme_id, a.station_id, a.kind,
                                       a.planned_at, state))
        else:
            done.append(a)
    plan = plan_month(m, progs, stations, done, avail, later, TZ, RULES)
    past = {a.id for a in done if a.planned_at < later}
    assert not past & set(plan.cancel) and not past & set(plan.move)
    assert all(n.planned_at > later for n in plan.add)
    # every missed airing gets a make-up that names it, if the month still allows
    for a in done:
        if a.state == AiringState.MISSED:
            made = [n for n in plan.add if n.replaces_id == a.id]
            if not plan.shortfalls:
                assert len(made) == 1 and made[0].kind == AiringKind.MAKEUP


def plan_one(month: str, now: datetime, avail: datetime | None = None,
             duration: float = 900.0, slots: tuple[Slot, ...] = WINDOWS) -> Plan:
    progs = [ProgrammeInfo(1, month, Priority.NORMAL, duration)]
    stations = [StationInfo("a", slots)]
    return plan_month(month, progs, stations, [], {(1, "a"): avail or now}, now, TZ, RULES)


def dates(plan: Plan) -> list[date]:
    return [a.planned_at.astimezone(TZ).date() for a in sorted(plan.add,
                                                               key=lambda a: a.planned_at)]


def test_premiere_is_prompt_and_replays_alternate_and_spread() -> None:
    now = local(2026, 11, 3, 9)
    plan = plan_one("2026-11", now.astimezone(UTC))
    add = sorted(plan.add, key=lambda a: a.planned_at)
    assert add[0].kind == AiringKind.PREMIERE
    assert add[0].planned_at.astimezone(TZ) == local(2026, 11, 3, 17, 30)  # first window
    hours = [a.planned_at.astimezone(TZ).hour for a in add]
    assert hours == [17, 6, 17, 6]  # evening, morning, evening, morning
    ds = dates(plan)
    assert all((b - a).days >= 3 for a, b in itertools.pairwise(ds))


def test_month_end_compresses_spacing() -> None:
    now = local(2026, 11, 28, 7).astimezone(UTC)  # dropped on the 28th of a 30-day month
    plan = plan_one("2026-11", now)
    assert len(plan.add) == 4 and not plan.shortfalls
    assert dates(plan) == [date(2026, 11, 28), date(2026, 11, 29), date(2026, 11, 29),
                           date(2026, 11, 30)]


def test_dropped_on_the_29th_fits_what_it_can_and_names_the_shortfall() -> None:
    plan = plan_one("2026-11", local(2026, 11, 29, 7).astimezone(UTC))
    assert len(plan.add) == 3  # 29 evening, 30 morning, 30 evening
    assert [(f.station_id, f.month, f.missing) for f in plan.shortfalls] == [("a", "2026-11", 1)]


def test_last_evening_of_the_month_is_a_shortfall_of_three() -> None:
    now = local(2026, 11, 30, 12).astimezone(UTC)
    plan = plan_one("2026-11", now)
    assert len(plan.add) == 1
    [sf] = plan.shortfalls
    assert (sf.station_id, sf.month, sf.missing) == ("a", "2026-11", 3)


def test_new_year_programme_dropped_on_31_december_airs_in_january() -> None:
    now = local(2026, 12, 31, 20).astimezone(UTC)
    plan = plan_one("2027-01", now)
    ds = dates(plan)
    assert ds[0] == date(2027, 1, 1) and all(d.year == 2027 and d.month == 1 for d in ds)


def test_leap_february_has_29_days() -> None:
    plan = plan_one("2028-02", local(2028, 2, 27, 19).astimezone(UTC))
    ds = dates(plan)
    assert date(2028, 2, 29) in ds and len(ds) == 4
    assert plan_one("2027-02", local(2027, 2, 28, 19).astimezone(UTC)).shortfalls


def test_station_offline_for_a_week_starts_after_delivery_plus_lead() -> None:
    now = local(2026, 11, 2, 8).astimezone(UTC)
    delivered = local(2026, 11, 9, 17, 45).astimezone(UTC) + timedelta(minutes=60)
    plan = plan_one("2026-11", now, avail=delivered)
    assert min(a.planned_at for a in plan.add) >= delivered
    assert dates(plan)[0] == date(2026, 11, 10)


def test_programmes_share_a_window_back_to_back_priority_first() -> None:
    now = local(2026, 11, 3, 9).astimezone(UTC)
    progs = [ProgrammeInfo(1, "2026-11", Priority.NORMAL, 600.0),
             ProgrammeInfo(2, "2026-11", Priority.PRIORITY, 300.0)]
    stations = [StationInfo("a", WINDOWS)]
    avail = {(1, "a"): now, (2, "a"): now}
    plan = plan_month("2026-11", progs, stations, [], avail, now, TZ, RULES)
    first = sorted((a for a in plan.add), key=lambda a: a.planned_at)[:2]
    assert [a.programme_id for a in first] == [2, 1]
    assert first[1].planned_at - first[0].planned_at == timedelta(seconds=305)


def test_a_programme_longer_than_the_window_is_not_planned() -> None:
    plan = plan_one("2026-11", local(2026, 11, 3, 9).astimezone(UTC), duration=50 * 60)
    assert not plan.add and plan.shortfalls[0].missing == 4


def test_emergency_airs_at_once_outside_the_quota() -> None:
    now = local(2026, 11, 3, 9, 12).astimezone(UTC)
    progs = [ProgrammeInfo(7, "2026-11", Priority.EMERGENCY, 120.0)]
    plan = plan_month("2026-11", progs, [StationInfo("a", WINDOWS)], [], {(7, "a"): now}, now,
                      TZ, RULES)
    assert plan.add == [NewAiring(7, "a", AiringKind.EMERGENCY, now + timedelta(seconds=10))]
    assert not plan.shortfalls


def test_a_revision_inherits_what_already_aired() -> None:
    now = local(2026, 11, 12, 9).astimezone(UTC)
    aired = [ExistingAiring(1, 1, "a", AiringKind.PREMIERE, local(2026, 11, 3, 17, 30),
                            AiringState.AIRED),
             ExistingAiring(2, 1, "a", AiringKind.REPLAY, local(2026, 11, 7, 6),
                            AiringState.AIRED)]
    progs = [ProgrammeInfo(2, "2026-11", Priority.NORMAL, 900.0, lineage=(1,))]
    plan = plan_month("2026-11", progs, [StationInfo("a", WINDOWS)], aired, {(2, "a"): now},
                      now, TZ, RULES)
    assert [a.kind for a in plan.add] == [AiringKind.REPLAY, AiringKind.REPLAY]
    assert all(a.programme_id == 2 for a in plan.add)
