"""The planner with language versions of one programme (issue #19): properties over random
months, windows, station languages and versions, and the late version that joins."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from radiocast.airing.plan import (
    ExistingAiring,
    Plan,
    ProgrammeInfo,
    Rules,
    StationInfo,
    month_days,
    plan_month,
)
from radiocast.core.models import AiringKind, AiringState, Priority, Slot
from tests.test_plan import TZ, WINDOWS, in_window, slot_strategy
from tests.test_plan import apply as applied

LANGS = ("vi", "blt", "mtq")


def apply(plan: Plan, existing: list[ExistingAiring]) -> list[ExistingAiring]:
    return applied(plan, existing, datetime.now(UTC))
GROUP = "2026-12 chuyển đổi số"


def order_of(langs: tuple[str, ...]) -> tuple[str, ...]:
    primary = "vi" if "vi" in langs else langs[0]
    return (primary, *(x for x in langs if x != primary))


station_langs = st.lists(st.sampled_from(LANGS), min_size=1, max_size=3, unique=True).map(tuple)


@settings(max_examples=150, deadline=None)
@given(year=st.integers(2025, 2028), month=st.integers(1, 12), arrival_day=st.integers(1, 31),
       hour=st.integers(0, 23), slots=slot_strategy,
       versions=st.lists(st.tuples(st.sampled_from(LANGS), st.integers(60, 15 * 60)),
                         min_size=1, max_size=3, unique_by=lambda v: v[0]),
       langs=st.lists(station_langs, min_size=1, max_size=3),
       mode=st.sampled_from(["share", "each"]))
def test_versions_share_the_quota_each_station_only_its_languages_in_turn(
        year: int, month: int, arrival_day: int, hour: int, slots: tuple[Slot, ...],
        versions: list[tuple[str, int]], langs: list[tuple[str, ...]], mode: str) -> None:
    m = f"{year}-{month:02d}"
    days = month_days(m)
    now = datetime.combine(days[min(arrival_day, len(days)) - 1], time(hour, 7),
                           TZ).astimezone(UTC)
    progs = [ProgrammeInfo(i + 1, m, Priority.NORMAL, float(d), (), lang, GROUP)
             for i, (lang, d) in enumerate(versions)]
    lang_of = {p.id: p.language for p in progs}
    dur = {p.id: p.duration_s for p in progs}
    stations = [StationInfo(f"s{n}", slots, languages=ls) for n, ls in enumerate(langs)]
    avail = {(p.id, s.id): now for p in progs for s in stations if p.language in s.languages}
    rules = Rules(3, 3, mode)
    plan = plan_month(m, progs, stations, [], avail, now, TZ, rules)
    assert plan_month(m, progs, stations, [], avail, now, TZ, rules) == plan  # deterministic
    rows = apply(plan, [])
    for s in stations:
        mine = sorted((a for a in rows if a.station_id == s.id), key=lambda a: a.planned_at)
        # only the station's languages; inside a window; never two at once
        assert all(lang_of[a.programme_id] in s.languages for a in mine)
        assert all(in_window(a.planned_at, s.slots, dur[a.programme_id]) for a in mine)
        for x, y in itertools.pairwise(mine):
            assert x.planned_at + timedelta(seconds=dur[x.programme_id]) <= y.planned_at
        here = [p for p in progs if p.language in s.languages]
        short = {f.programme_id: f.missing for f in plan.shortfalls if f.station_id == s.id}
        quotas = [here] if mode == "share" else [[p] for p in here]
        for q in quotas if here else []:
            ids = {p.id for p in q}
            got = [a for a in mine if a.programme_id in ids]
            missing = sum(short.get(i, 0) for i in ids)
            # the rule per programme: 1 premiere + 3 replays, or a shortfall naming the rest
            assert len(got) + missing == 4
            assert [a.kind for a in got][:1] == ([AiringKind.PREMIERE] if got else [])
            if mode == "share":  # the premiere in the first language, then each in turn
                # (a version longer than every window here is left out, unless all are)
                longest = max(sl.minutes * 60 for sl in s.slots)
                fit = [p for p in q if p.duration_s <= longest] or q
                have = [x for x in order_of(s.languages) if x in {p.language for p in fit}]
                assert [lang_of[a.programme_id] for a in got] == \
                    [have[k % len(have)] for k in range(len(got))]
        if not here:
            assert not mine
    assert plan_month(m, progs, stations, rows, avail, now, TZ, rules).empty


@settings(max_examples=120, deadline=None)
@given(late_days=st.integers(0, 25), aired_share=st.integers(0, 4),
       station_langs=st.sampled_from([("vi",), ("vi", "blt"), ("blt", "vi"), ("blt",)]),
       blt_seconds=st.integers(60, 40 * 60))
def test_a_late_version_joins_only_the_future_airings(
        late_days: int, aired_share: int, station_langs: tuple[str, ...],
        blt_seconds: int) -> None:
    m = "2026-12"
    start = datetime(2026, 12, 1, 8, 0, tzinfo=TZ).astimezone(UTC)
    vi = ProgrammeInfo(1, m, Priority.NORMAL, 900.0, (), "vi", GROUP)
    blt = ProgrammeInfo(2, m, Priority.NORMAL, float(blt_seconds), (), "blt", GROUP)
    station = StationInfo("a", WINDOWS, languages=station_langs)
    first = {(1, "a"): start} if "vi" in station_langs else {}
    rows = apply(plan_month(m, [vi], [station], [], first, start, TZ, Rules()), [])
    later = start + timedelta(days=late_days, hours=3)
    # the station aired what was due; the Thái version is delivered now
    done = [ExistingAiring(a.id, a.programme_id, a.station_id, a.kind, a.planned_at,
                           AiringState.AIRED if a.planned_at < later else a.state)
            for a in rows]
    avail = {**first, (2, "a"): later} if "blt" in station_langs else first
    plan = plan_month(m, [vi, blt], [station], done, avail, later, TZ, Rules())
    past = {a.id for a in done if a.planned_at <= later}
    assert not past & (set(plan.cancel) | set(plan.move) | set(plan.revise))
    assert all(n.planned_at > later for n in plan.add)
    after = sorted(apply(plan, done), key=lambda a: a.planned_at)
    langs = {1: "vi", 2: "blt"}
    assert all(langs[a.programme_id] in station_langs for a in after)
    short = sum(f.missing for f in plan.shortfalls)
    assert len(after) + short == 4 or (not first and not after)  # the quota, not per version
    if station_langs == ("vi",):
        assert plan.empty  # a Vietnamese-only station never hears of the Thái version
    order = order_of(station_langs)
    for k, a in enumerate(after):
        if a.planned_at > later and blt_seconds <= 900:  # fits wherever vi did
            assert langs[a.programme_id] == order[k % len(order)]
    assert plan_month(m, [vi, blt], [station], after, avail, later, TZ, Rules()).empty


def test_the_thai_version_arriving_on_the_5th_takes_the_last_replay() -> None:
    m = "2026-12"
    start = datetime(2026, 12, 1, 8, 0, tzinfo=TZ).astimezone(UTC)
    vi = ProgrammeInfo(1, m, Priority.NORMAL, 900.0, (), "vi", GROUP)
    blt = ProgrammeInfo(2, m, Priority.NORMAL, 1200.0, (), "blt", GROUP)
    both, only_vi = (StationInfo("a", WINDOWS, languages=("vi", "blt")),
                     StationInfo("b", WINDOWS))
    first = {(1, "a"): start, (1, "b"): start}
    rows = apply(plan_month(m, [vi], [both, only_vi], [], first, start, TZ, Rules()), [])
    assert [a.programme_id for a in rows] == [1] * 8  # until then, Vietnamese everywhere
    later = start + timedelta(days=5)
    done = [ExistingAiring(a.id, a.programme_id, a.station_id, a.kind, a.planned_at,
                           AiringState.AIRED if a.planned_at < later else a.state) for a in rows]
    plan = plan_month(m, [vi, blt], [both, only_vi], done, {**first, (2, "a"): later}, later,
                      TZ, Rules())
    last = max((a for a in done if a.station_id == "a"), key=lambda a: a.planned_at)
    # the 4th airing (premiere vi, replays blt, vi, blt) is the first left for the Thái turn
    assert plan.revise == {last.id: 2} and not plan.add and not plan.cancel


def test_each_version_its_own_premiere_and_replays() -> None:
    m = "2026-12"
    now = datetime(2026, 12, 1, 8, 0, tzinfo=TZ).astimezone(UTC)
    progs = [ProgrammeInfo(1, m, Priority.NORMAL, 900.0, (), "vi", GROUP),
             ProgrammeInfo(2, m, Priority.NORMAL, 900.0, (), "blt", GROUP)]
    station = StationInfo("a", WINDOWS, languages=("vi", "blt"))
    avail = {(1, "a"): now, (2, "a"): now}
    share = plan_month(m, progs, [station], [], avail, now, TZ, Rules())
    each = plan_month(m, progs, [station], [], avail, now, TZ, Rules(versions="each"))
    assert [(n.programme_id, n.kind.value) for n in share.add] == [
        (1, "premiere"), (2, "replay"), (1, "replay"), (2, "replay")]
    assert sorted((n.programme_id, n.kind.value) for n in each.add) == sorted(
        [(1, "premiere"), (1, "replay"), (1, "replay"), (1, "replay"),
         (2, "premiere"), (2, "replay"), (2, "replay"), (2, "replay")])


def test_an_emergency_in_two_languages_airs_each_once_one_after_the_other() -> None:
    m = "2026-12"
    now = datetime(2026, 12, 9, 14, 0, tzinfo=TZ).astimezone(UTC)
    urgent = [ProgrammeInfo(1, m, Priority.EMERGENCY, 120.0, (), "vi", "khẩn"),
              ProgrammeInfo(2, m, Priority.EMERGENCY, 150.0, (), "blt", "khẩn")]
    both, vi_only = (StationInfo("a", WINDOWS, languages=("vi", "blt")),
                     StationInfo("b", WINDOWS))
    avail = {(1, "a"): now, (2, "a"): now, (1, "b"): now}
    plan = plan_month(m, urgent, [both, vi_only], [], avail, now, TZ, Rules())
    a = sorted((n for n in plan.add if n.station_id == "a"), key=lambda n: n.planned_at)
    assert [(n.programme_id, n.kind) for n in a] == [(1, AiringKind.EMERGENCY),
                                                     (2, AiringKind.EMERGENCY)]
    assert a[0].planned_at <= now + timedelta(seconds=15)  # at once
    assert a[1].planned_at >= a[0].planned_at + timedelta(seconds=120)  # after the first
    assert [n.programme_id for n in plan.add if n.station_id == "b"] == [1]
    rows = apply(plan, [])
    assert plan_month(m, urgent, [both, vi_only], rows, avail, now, TZ, Rules()).empty


def test_a_version_too_long_for_the_station_windows_does_not_hold_the_others_back() -> None:
    m = "2026-12"
    now = datetime(2026, 12, 1, 8, 0, tzinfo=TZ).astimezone(UTC)
    progs = [ProgrammeInfo(1, m, Priority.NORMAL, 900.0, (), "vi", GROUP),
             ProgrammeInfo(2, m, Priority.NORMAL, 50 * 60.0, (), "blt", GROUP)]  # > 45 min
    station = StationInfo("a", WINDOWS, languages=("vi", "blt"))
    plan = plan_month(m, progs, [station], [], {(1, "a"): now, (2, "a"): now}, now, TZ,
                      Rules())
    assert [n.programme_id for n in plan.add] == [1, 1, 1, 1] and not plan.shortfalls
