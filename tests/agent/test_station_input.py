"""Everything a station writes is untrusted: one station's as-run, status or folders can change
nothing the hub believes about another station, and cost the hub no more than that station's
own share."""

from __future__ import annotations

import json
import os
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from radiocast.agent.journal import event_id
from radiocast.airing import agents
from radiocast.app import App
from radiocast.config.settings import StationSettings
from radiocast.core.errors import TransientDeliveryError
from radiocast.core.models import AiringState
from radiocast.db.schema import AsRunEvent, Event, Station
from radiocast.stations import inbox as inbox_mod
from radiocast.stations import provision
from radiocast.stations.outbox import InboxWatch, OutboxLink
from radiocast.status import problems
from radiocast.status.problems import find_problems

from ..conftest import Site, ready_programme
from ..faults.test_stations import add_airing, airing, payload

DAY = "2026-12-01.jsonl"


def two_agents(site: Callable[..., Site], tmp_path: Path) -> tuple[Site, list[int]]:
    """Two agent stations, one airing each (st0's first)."""
    s = site(2, station_extra='playout = "agent"')
    pid = ready_programme(s.app, payload(tmp_path / "p.mp3", 5000))
    return s, [add_airing(s, pid, "st0"), add_airing(s, pid, "st1")]


def inbox(tmp_path: Path, sid: str) -> Path:
    """A pull station's folders at the hub, as `stations provision` lays them out."""
    root = tmp_path / "pull" / sid
    for sub in ("outbox", "inbox/asrun"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def link(app: App, root: Path, sid: str) -> OutboxLink:
    st: StationSettings = app.settings.station(sid)
    return OutboxLink(st, root)


def event(station: str, airing_id: int, seq: int, id_of: tuple[str, int] | None = None,
          **over: Any) -> str:
    """One as-run line, its event id made as the agent makes it (from `id_of` when given)."""
    eid = event_id(*(id_of or (station, airing_id)))
    rec = {"event_id": eid, "seq": seq, "station_id": station,
           "airing_id": airing_id, "status": "aired", "detail": "exit 0",
           "started_at": "2026-12-01T06:00:00+07:00",
           "finished_at": "2026-12-01T06:10:00+07:00", **over}
    return json.dumps(rec) + "\n"


def write(root: Path, text: str, name: str = DAY) -> None:
    (root / "inbox" / "asrun" / name).write_text(text)


def events_of(app: App, sid: str) -> list[AsRunEvent]:
    with app.db.read() as s:
        return list(s.scalars(select(AsRunEvent).where(AsRunEvent.station_id == sid)))


def test_a_station_cannot_take_another_stations_proof_of_play(
        site: Callable[..., Site], tmp_path: Path) -> None:
    """st1 writes an event with st0's event id (a uuid5 of a public namespace and a sequential
    airing id), first for st0's airing, then for its own: neither displaces st0's real proof."""
    s, (a0, a1) = two_agents(site, tmp_path)
    r0, r1 = inbox(tmp_path, "st0"), inbox(tmp_path, "st1")
    write(r1, event("st1", a0, 1, id_of=("st0", a0)) + event("st1", a1, 2, id_of=("st0", a0)))
    got = agents.collect_on(s.app, link(s.app, r1, "st1"))
    assert airing(s, a0).state == AiringState.PLANNED.value  # st1 cannot speak for st0
    write(r0, event("st0", a0, 1))
    real = agents.collect_on(s.app, link(s.app, r0, "st0"))
    assert airing(s, a0).state == AiringState.AIRED.value  # st0's real proof is stored
    assert airing(s, a1).state == AiringState.AIRED.value  # its own airing, a borrowed id
    assert (real.stored, real.duplicates, real.refused) == (1, 0, 0)
    assert (got.stored, got.refused) == (1, 1)
    assert got.acked == 2  # the refused seq is handled: the agent's backlog drains
    assert [e.airing_id for e in events_of(s.app, "st1")] == [a1]
    with s.app.db.read() as sess:
        [refusal] = sess.scalars(select(Event.detail).where(
            Event.action == "asrun_rejected", Event.entity_id == "st1")).all()
    assert f"airing #{a0} is not this station's" in (refusal or "")
    again = agents.collect_on(s.app, link(s.app, r1, "st1"), {})  # read again: nothing new
    assert (again.stored, again.refused, again.duplicates) == (0, 0, 2)


def test_an_unknown_airing_is_refused_and_the_same_event_under_a_new_seq_counts_once(
        site: Callable[..., Site], tmp_path: Path) -> None:
    s, (a0, _) = two_agents(site, tmp_path)
    r0 = inbox(tmp_path, "st0")
    write(r0, event("st0", a0, 1) + event("st0", a0, 2) + event("st0", 99_999, 3))
    got = agents.collect_on(s.app, link(s.app, r0, "st0"))
    with s.app.db.read() as sess:  # every seq handled: the agent may let the segment go
        assert sess.get_one(Station, "st0").asrun_acked == 3
    assert (got.stored, got.duplicates, got.refused, got.acked) == (1, 1, 1, 3)


@pytest.mark.parametrize("target", ["other-station", "outside"])
def test_an_inbox_folder_replaced_by_a_link_is_refused(
        site: Callable[..., Site], tmp_path: Path, target: str) -> None:
    s, (a0, _) = two_agents(site, tmp_path)
    r0, r1 = inbox(tmp_path, "st0"), inbox(tmp_path, "st1")
    write(r0, event("st0", a0, 1))
    elsewhere = r0 / "inbox" / "asrun" if target == "other-station" else tmp_path / "outside"
    elsewhere.mkdir(exist_ok=True)
    (elsewhere / "x.jsonl").write_text(event("st0", a0, 2))
    (r1 / "inbox" / "asrun").rmdir()
    os.symlink(elsewhere, r1 / "inbox" / "asrun")
    got = agents.collect_on(s.app, link(s.app, r1, "st1"))  # the link goes, never followed
    assert got.stored == 0 and not (r1 / "inbox" / "asrun").is_symlink()
    assert sorted(p.name for p in elsewhere.iterdir())[-1] == "x.jsonl"  # nothing of it touched
    os.symlink(elsewhere, r1 / "inbox" / "asrun")  # put back after the sweep: reads refuse it
    with pytest.raises(TransientDeliveryError, match="link"):
        link(s.app, r1, "st1").list_names("asrun")
    with pytest.raises(TransientDeliveryError, match="link"):
        link(s.app, r1, "st1").read_small("x.jsonl", sub="asrun")
    assert events_of(s.app, "st1") == [] and events_of(s.app, "st0") == []
    real = agents.collect_on(s.app, link(s.app, r0, "st0"))  # st0 itself is unaffected
    assert real.stored == 1 and airing(s, a0).state == AiringState.AIRED.value


def test_a_junk_segment_costs_its_station_a_note_not_the_hub_its_time(
        site: Callable[..., Site], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """2 M garbage lines (4 MB) from one station: parsed outside any transaction, given up after
    a few bad lines with one note, not read again; other writers never wait; memory bounded."""
    s, (a0, a1) = two_agents(site, tmp_path)
    r0, r1 = inbox(tmp_path, "st0"), inbox(tmp_path, "st1")
    write(r1, event("st1", a1, 1) + "x\n" * 2_000_000)
    write(r0, event("st0", a0, 1))
    waits: list[float] = []
    done = threading.Event()

    def other_writer() -> None:  # the daemon's loop and the other stations' visits
        while not done.is_set():
            t0 = time.monotonic()
            with s.app.db.write() as sess:
                sess.get_one(Station, "st0").free_bytes = len(waits)
            waits.append(time.monotonic() - t0)
            time.sleep(0.02)

    writer = threading.Thread(target=other_writer)
    writer.start()
    tracemalloc.start()
    t0 = time.monotonic()
    cache: dict[str, int] = {}
    try:
        junk = agents.collect_on(s.app, link(s.app, r1, "st1"), cache)
        took = time.monotonic() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        done.set()
        writer.join()
    fine = agents.collect_on(s.app, link(s.app, r0, "st0"))
    with capsys.disabled():
        print(f"\n[2 M junk lines, 4 MB] collected in {took:.2f} s, Python peak "
              f"{peak / 2**20:.1f} MiB, longest wait of another writer {max(waits):.3f} s "
              f"over {len(waits)} writes")
    assert junk.stored == 1 and junk.bad == agents.MAX_BAD_LINES  # the good line before it
    assert fine.stored == 1 and airing(s, a0).state == AiringState.AIRED.value
    assert took < 5.0 and max(waits) < 1.0 and peak < 64 * 2**20
    with s.app.db.read() as sess:
        [note] = sess.scalars(select(Event.detail).where(
            Event.action == "asrun_rejected", Event.entity_id == "st1")).all()
    assert note is not None and "stopped reading after line 6" in note
    again = agents.collect_on(s.app, link(s.app, r1, "st1"), cache)
    assert (again.stored, again.duplicates, again.bad) == (0, 0, 0)  # remembered: not re-read
    forgetful = agents.collect_on(s.app, link(s.app, r1, "st1"), {})  # a restarted hub
    assert forgetful.bad == agents.MAX_BAD_LINES
    with s.app.db.read() as sess:
        assert len(sess.scalars(select(Event.id).where(
            Event.action == "asrun_rejected")).all()) == 1  # noted once


def test_one_contact_reads_a_bounded_number_of_segments_and_the_rest_next_time(
        site: Callable[..., Site], tmp_path: Path) -> None:
    s, _ = two_agents(site, tmp_path)
    r0 = inbox(tmp_path, "st0")
    n = agents.MAX_SEGMENTS * 2 + 3
    for i in range(n):
        write(r0, event("st0", 100_000 + i, i + 1), name=f"2026-11-{i:03d}.jsonl")
    cache: dict[str, int] = {}
    seen = [agents.collect_on(s.app, link(s.app, r0, "st0"), cache).refused for _ in range(4)]
    assert seen == [agents.MAX_SEGMENTS, agents.MAX_SEGMENTS, 3, 0]
    with s.app.db.read() as sess:
        assert sess.get_one(Station, "st0").asrun_acked == n


@pytest.mark.parametrize("status", [
    {"heartbeat_seconds": float("-inf")}, {"heartbeat_seconds": float("nan")},
    {"heartbeat_seconds": 1e308}, {"free_bytes": -5}, {"free_bytes": 2**70},
    {"playbook_version": 1.5}, {"time": "0001-01-01T00:00:00+14:00"},
    {"time": "2026-12-01T06:00:00"}, {"files": {"missing": "x" * 10}}, {"held": [1]},
    {"airing_id_max": 2**70}, {"acked_seq": -1}, {"airing_id_max": "7"}, {"reused": "1,2"},
])
def test_every_value_in_a_status_is_checked_and_status_still_answers(
        site: Callable[..., Site], tmp_path: Path, status: dict[str, Any]) -> None:
    s, _ = two_agents(site, tmp_path)
    r0 = inbox(tmp_path, "st0")
    doc = {"time": "2026-12-01T06:00:00+07:00", "heartbeat_seconds": 60, "free_bytes": 10**9,
           "playbook_version": 3, "agent_version": "0.1.0", **status}
    (r0 / "inbox" / "status.json").write_text(json.dumps(doc))
    agents.collect_on(s.app, OutboxLink(s.app.settings.station("st0"), r0))
    with s.app.db.read() as sess:
        st = sess.get_one(Station, "st0")
        assert st.clock_offset_s is None and st.free_bytes is None
        assert st.agent_error is not None and "status.json unreadable" in st.agent_error
    problems = find_problems(s.app, "en")  # answers, for every station
    assert not [p for p in problems if p.code == "check_failed"]


def test_a_station_ahead_of_the_hub_moves_only_numbers_never_another_stations_airings(
        site: Callable[..., Site], tmp_path: Path) -> None:
    """A station that reports numbers far ahead (a restored hub, or a lie) moves the hub's
    airing numbering past them, 64-bit on every database, and its acknowledgement; a `reused`
    list naming another station's airing changes nothing of that station's."""
    s, (a0, a1) = two_agents(site, tmp_path)
    a2 = add_airing(s, airing(s, a1).programme_id, "st1", minutes=30)  # st1's, ahead
    r1 = inbox(tmp_path, "st1")
    top = 2**62 - 10
    (r1 / "inbox" / "status.json").write_text(json.dumps({
        "time": "2026-12-01T06:00:00+07:00", "airing_id_max": top, "acked_seq": 40,
        "playbook_version": 2**40, "reused": [a0, a1, a2, True, -3, 2**63]}))
    got = agents.collect_on(s.app, OutboxLink(s.app.settings.station("st1"), r1))
    assert got.moved
    assert airing(s, a0).state == AiringState.PLANNED.value  # st0's: untouched
    assert airing(s, a1).state == AiringState.PLANNED.value  # due now, not ahead: kept
    assert airing(s, a2).state == AiringState.CANCELLED.value  # planned again, a new id
    again_at = top + 1
    assert (airing(s, again_at).station_id, airing(s, again_at).planned_at) == \
        ("st1", airing(s, a2).planned_at)
    new = add_airing(s, airing(s, a0).programme_id, "st0", minutes=60)
    assert new == top + 2 and airing(s, new).station_id == "st0"
    with s.app.db.read() as sess:
        st1 = sess.get_one(Station, "st1")
        assert (st1.asrun_acked, st1.airing_id_seen) == (40, top)
        assert sess.get_one(Station, "st0").airing_id_seen is None
    assert b"40" in (r1 / "outbox" / "asrun.ack").read_bytes()
    from radiocast.airing.playbook import playbook
    assert json.loads(playbook(s.app, "st1", s.app.clock()))["version"] == 2**40
    assert json.loads(playbook(s.app, "st0", s.app.clock()))["version"] < 2**40
    again = agents.collect_on(s.app, OutboxLink(s.app.settings.station("st1"), r1))
    assert not again.moved  # caught up once, not at every contact


def test_a_check_that_fails_costs_only_its_own_kind_of_problem(
        site: Callable[..., Site], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s, _ = two_agents(site, tmp_path)
    r0 = inbox(tmp_path, "st0")
    ahead = s.app.clock() + timedelta(minutes=10)  # a clock 10 minutes fast: a problem to show
    (r0 / "inbox" / "status.json").write_text(json.dumps({"time": ahead.isoformat()}))
    agents.collect_on(s.app, OutboxLink(s.app.settings.station("st0"), r0))
    before = {p.code for p in find_problems(s.app, "en")}
    assert "clock_skew" in before

    def broken(look: object) -> Iterator[problems.Problem]:
        raise OverflowError("cannot convert float infinity to integer")
        yield  # a generator, like the others

    monkeypatch.setattr(problems, "FINDERS", (broken, *problems.FINDERS))
    after = find_problems(s.app, "vi")
    [failed] = [p for p in after if p.code == "check_failed"]
    assert "broken" in failed.message and "OverflowError" in failed.message
    assert {p.code for p in after} - {"check_failed"} == before


def test_what_does_not_belong_in_an_inbox_is_removed_and_the_station_named(
        site: Callable[..., Site], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A station's account writes into a folder on the hub's disk: a 47 MiB file, a folder, a
    link out, a FIFO, an oversize segment, a stale upload all go; its real files stay."""
    s, (a0, a1) = two_agents(site, tmp_path)
    r0, r1 = inbox(tmp_path, "st0"), inbox(tmp_path, "st1")
    box, segs = r1 / "inbox", r1 / "inbox" / "asrun"
    with open(box / "junk.bin", "wb") as fh:
        fh.truncate(47 << 20)
    (box / "x").mkdir()
    (box / "x" / "more.bin").write_bytes(b"1" * 1000)
    os.symlink("/etc/passwd", box / "evil")
    os.mkfifo(box / "pipe")
    with open(segs / "2026-12-02.jsonl", "wb") as fh:
        fh.truncate(inbox_mod.SEGMENT_MAX + 1)
    (segs / "notes.txt").write_text("x")
    stale = segs / ".2026-12-03.jsonl.tmp"
    stale.write_text("{")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    (segs / ".2026-12-04.jsonl.tmp").write_text("{")  # an upload under way: kept
    (box / "status.json").write_text(json.dumps({"time": "2026-12-01T06:00:00+07:00"}))
    write(r1, event("st1", a1, 1))
    write(r0, event("st0", a0, 1))
    got = agents.collect_on(s.app, link(s.app, r1, "st1"))
    assert got.stored == 1 and airing(s, a1).state == AiringState.AIRED.value
    assert sorted(p.name for p in box.iterdir()) == ["asrun", "status.json"]
    assert sorted(p.name for p in segs.iterdir()) == [".2026-12-04.jsonl.tmp", DAY]
    assert Path("/etc/passwd").exists()
    [problem] = [p for p in find_problems(s.app, "en") if p.code == "inbox_swept"]
    assert problem.subject == "st1" and "inbox/junk.bin (49283072 bytes)" in problem.message
    assert agents.collect_on(s.app, link(s.app, r0, "st0")).stored == 1  # st0 unaffected
    monkeypatch.setattr(inbox_mod, "SEGMENTS_MAX", 2)  # a backlog past the cap: largest first
    for n, size in ((5, 10), (6, 3000), (7, 20)):
        (segs / f"2026-12-0{n}.jsonl").write_bytes(b"\n" * size)
    removed = inbox_mod.sweep_inbox(r1)
    assert [r.split(" ")[0] for r in removed] == ["inbox/asrun/2026-12-06.jsonl",
                                                   f"inbox/asrun/{DAY}"]


def test_the_hub_watches_its_own_free_space(
        site: Callable[..., Site], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s, _ = two_agents(site, tmp_path)
    assert not [p for p in find_problems(s.app, "en") if p.code == "hub_disk_low"]
    monkeypatch.setattr(problems, "HUB_DISK_LOW_BYTES", 1 << 62)  # more than any disk has
    low = [p for p in find_problems(s.app, "vi") if p.code == "hub_disk_low"]
    assert low and low[0].severity == "error"
    assert str(s.app.settings.general.data_dir) in low[0].message
    assert int(low[0].params["free_bytes"]) > 0


def test_provision_sets_a_quota_where_it_can_and_says_why_not_where_it_cannot(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = provision.Provision("st1", "rcs-st1", tmp_path, tmp_path / "sshd.conf",
                            tmp_path / "keys", "", "")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert "setquota is missing" in provision.set_quota(p)
    tools = tmp_path / "bin"  # a setquota that refuses, as on a file system without quotas
    tools.mkdir()
    for name, body in (("setquota", "echo 'setquota: Cannot find mountpoint' >&2; exit 1"),
                       ("findmnt", f"echo {tmp_path}")):
        (tools / name).write_text(f"#!/bin/sh\n{body}\n")
        (tools / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(tools))
    said = provision.set_quota(p)
    assert said.startswith("no disk quota for rcs-st1") and "user quotas" in said
    (tools / "setquota").write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/args\n")
    assert provision.set_quota(p).startswith("disk quota for rcs-st1: 256 MiB")
    assert (tmp_path / "args").read_text().split() == [
        "-u", "rcs-st1", "0", str(256 * 1024), "0", "2000", str(tmp_path)]


def test_a_hub_at_rest_with_100_pull_stations_collects_nothing(
        site: Callable[..., Site], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Its own reads of the inboxes and its unchanged acknowledgements wake nothing; a folder a
    station makes adds no watch; a station that writes is seen."""
    s, (a0, _) = two_agents(site, tmp_path)
    ids = [f"xa-{n:03d}" for n in range(100)]
    roots = {sid: inbox(tmp_path, sid) for sid in ids}
    status = json.dumps({"time": "2026-12-01T06:00:00+07:00"})
    for root in roots.values():
        (root / "inbox" / "status.json").write_text(status)
        write(root, event("st0", a0, 1))  # read, stored once, acknowledged
    st = s.app.settings.station("st0")
    watch = InboxWatch(tmp_path / "pull", set(ids))
    try:
        assert watch.watches == 2 * len(ids)
        for root in roots.values():
            agents.collect_on(s.app, OutboxLink(st, root))
        time.sleep(1.0)
        watch.take()  # what the first collection itself caused (the old watch: all 100 again)
        acks = {sid: (root / "outbox" / "asrun.ack").stat().st_mtime_ns
                for sid, root in roots.items()}
        for root in roots.values():  # the hub's timer reads every inbox again: nothing changed
            agents.collect_on(s.app, OutboxLink(st, root))
        time.sleep(1.5)
        reread = watch.take()  # the hub's own reads and unchanged acks: nothing to collect
        (roots["xa-007"] / "inbox" / "made-by-the-station").mkdir()
        time.sleep(1.5)
        at_rest = watch.take()
        assert {sid: (root / "outbox" / "asrun.ack").stat().st_mtime_ns
                for sid, root in roots.items()} == acks  # no ack rewritten
        (roots["xa-042"] / "inbox" / "asrun" / "2026-12-02.jsonl").write_text("\n")
        time.sleep(1.0)
        wrote = watch.take()
    finally:
        watch.stop()
    with capsys.disabled():
        print(f"\n[100 pull stations at rest] stations to collect after the hub read all 100 "
              f"inboxes again: {len(reread)}; after one station made a folder: "
              f"{sorted(at_rest)}; inotify watches: {watch.watches}")
    assert reread == set()
    assert at_rest == {"xa-007"}  # the folder it made (removed at its next contact)
    assert wrote == {"xa-042"}


HEARD_BAD: list[object] = [
    "loud",  # not an object
    {"source": "pulse:x", "lufs": "-20", "silent_fraction": 0.0, "seconds": 5},
    {"source": "pulse:x", "lufs": -20.0, "silent_fraction": 7, "seconds": 5},
    {"source": "pulse:x", "lufs": 1e308, "silent_fraction": 0.0, "seconds": 5},
    {"source": "pulse:x", "lufs": -20.0, "silent_fraction": True, "seconds": 5},
    {"source": "", "lufs": -20.0, "silent_fraction": 0.0, "seconds": 5},
    {"source": "p" * 10_000, "lufs": -20.0, "silent_fraction": 0.0, "seconds": 5},
    {"source": "pulse:x", "lufs": None},  # no figures and no reason
    {"source": "pulse:x", "lufs": None, "silent_fraction": 1.0, "seconds": 5, "error": 3},
]


def test_capture_figures_that_make_no_sense_keep_the_airing_and_say_there_is_no_level(
        site: Callable[..., Site], tmp_path: Path) -> None:
    """`heard` is the station's word like the rest of its event: checked value by value. Bad
    figures never silence an airing (nor lose its proof of play): it counts on the player's
    word, with a note; only well-formed figures at or over silent_max make it `silent`."""
    s = site(1, station_extra='playout = "agent"')
    pid = ready_programme(s.app, payload(tmp_path / "p.mp3", 5000))
    bad = [add_airing(s, pid, "st0") for _ in HEARD_BAD]
    quiet, loud, edge = (add_airing(s, pid, "st0") for _ in range(3))
    good = {"source": "alsa:hw:1,0", "lufs": None, "seconds": 1800.0}
    end = s.app.clock()
    times = {"started_at": (end - timedelta(minutes=30)).isoformat(),
             "finished_at": end.isoformat()}
    lines = [event("st0", aid, n + 1, heard=h, **times)
             for n, (aid, h) in enumerate(zip(bad, HEARD_BAD, strict=True))]
    lines += [event("st0", quiet, 90, heard={**good, "silent_fraction": 0.97}, **times),
              event("st0", loud, 91, heard={**good, "lufs": -16.2, "silent_fraction": 0.02},
                    **times),
              event("st0", edge, 92, heard={**good, "lufs": -40.0, "silent_fraction": 0.5},
                    **times)]
    r0 = inbox(tmp_path, "st0")
    write(r0, "".join(lines))
    got = agents.collect_on(s.app, link(s.app, r0, "st0"))
    assert (got.stored, got.bad, got.refused) == (len(lines), 0, 0)
    for aid in bad:
        a = airing(s, aid)
        assert a.state == AiringState.AIRED.value, aid
        assert (a.heard_note or "").startswith("?: the station's capture figures are unreadable")
        assert a.heard_lufs is None and a.heard_silent is None
    assert [airing(s, x).state for x in (quiet, loud, edge)] == [
        AiringState.SILENT.value, AiringState.AIRED.value, AiringState.SILENT.value]
    assert airing(s, loud).heard_lufs == -16.2
    # the station's latest airing the capture spoke of (all ended together: the last) was silent
    [p] = [p for p in find_problems(s.app, "en") if p.code in ("played_silent",
                                                                "capture_failing")]
    assert p.code == "played_silent" and p.params["n"] == 2 and p.params["id"] == edge
