"""Faults at the stations, against real OpenSSH sshd on 127.0.0.1: what a station writes is
untrusted, files vanish from station disks, transfers break and leave parts behind, links
drop in the middle of an airing. Each fault affects its own station and item only."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from radiocast.airing import asrun, playout
from radiocast.app import open_app
from radiocast.core.models import AiringKind, AiringState, DeliveryState
from radiocast.core.months import local_month
from radiocast.db import ops
from radiocast.db.schema import Airing, Delivery, Event, Programme
from radiocast.stations import deliver
from radiocast.stations.transport import part_name
from radiocast.status.problems import find_problems

from ..conftest import Site, ready_programme
from ..netproxy import Proxy
from ..test_deliver import through_proxy


def payload(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def add_airing(s: Site, pid: int, sid: str, minutes: float = 0.0) -> int:
    now = s.app.clock()
    with s.app.db.write() as sess:
        a = ops.add_airing(sess, pid, sid, local_month(now, s.app.settings.general.tz),
                           AiringKind.PREMIERE, now + timedelta(minutes=minutes), now)
        return a.id


def airing(s: Site, aid: int) -> Airing:
    with s.app.db.read() as sess:
        return sess.get_one(Airing, aid)


def test_bad_as_run_lines_are_skipped_reported_and_stop_nothing(
        site: Callable[..., Site], tmp_path: Path) -> None:
    s = site(2, station_extra='playout = "playbook"')
    pid = ready_programme(s.app, payload(tmp_path / "p.mp3", 5000))
    deliver.deliver_due(s.app)
    ids = [add_airing(s, pid, sid) for sid in ("st0", "st0", "st1")]
    for aid in ids:
        assert playout.air(s.app, aid) == AiringState.AIRING
    now = s.app.clock()
    good = {"airing_id": ids[0], "started_at": now.isoformat(),
            "finished_at": (now + timedelta(minutes=2)).isoformat(), "status": "aired"}
    lines = [
        json.dumps({**good, "airing_id": ids[1], "started_at": "2026-11-03T17:30:00"}),  # naive
        json.dumps({**good, "airing_id": ids[1], "started_at": 1764000000}),  # a number
        "[1, 2, 3]", "{not json", json.dumps({**good, "airing_id": True}),
        json.dumps({**good, "airing_id": ids[1], "status": "maybe"}),
        json.dumps({**good, "airing_id": ids[1], "finished_at": "2020-01-01T00:00:00+07:00"}),
        json.dumps(good),
    ]
    (s.remotes[0] / "asrun.jsonl").write_text("\n".join(lines) + "\n")
    (s.remotes[1] / "asrun.jsonl").write_text(json.dumps({**good, "airing_id": ids[2]}) + "\n")
    assert asrun.confirm_playbook_airings(s.app) == 2  # one at each station
    assert airing(s, ids[0]).state == AiringState.AIRED.value
    assert airing(s, ids[1]).state == AiringState.AIRING.value  # nothing valid said about it
    assert airing(s, ids[2]).state == AiringState.AIRED.value  # the other station unaffected
    with s.app.db.read() as sess:
        rejected = list(sess.scalars(select(Event.detail).where(
            Event.action == "asrun_rejected", Event.entity_id == "st0")))
    assert len(rejected) == 7 and "line 1: started_at has no UTC offset" in rejected[0]
    assert asrun.confirm_playbook_airings(s.app) == 0  # read again: not reported twice
    with s.app.db.read() as sess:
        assert sess.scalars(select(Event).where(Event.action == "asrun_rejected")).all() \
            .__len__() == 7
    [problem] = [p for p in find_problems(s.app, "en") if p.code == "asrun_rejected"]
    assert problem.subject == "st0" and "7 unreadable" in problem.message


def test_a_file_deleted_at_the_station_is_sent_again_before_its_window(
        site: Callable[..., Site], tmp_path: Path) -> None:
    s = site(1)
    pid = ready_programme(s.app, payload(tmp_path / "p.mp3", 200_000))
    deliver.deliver_due(s.app)
    add_airing(s, pid, "st0", minutes=180)
    with s.app.db.read() as sess:
        slug = sess.get_one(Programme, pid).slug
    (s.remotes[0] / f"{slug}.mp3").unlink()  # a cleaned disk, a replaced SD card
    st = s.app.settings.station("st0")
    # nothing is due for delivery: only the inventory, which runs on every contact, sees it
    first = deliver.deliver_station(s.app, st, inventory=True)
    assert first.inventoried and first.delivered == 0
    second = deliver.deliver_station(s.app, st, inventory=True)
    assert second.delivered == 1
    assert (s.remotes[0] / f"{slug}.mp3").read_bytes() == (tmp_path / "p.mp3").read_bytes()


def test_a_file_missing_at_airing_time_is_sent_again_for_the_make_up(
        site: Callable[..., Site], tmp_path: Path) -> None:
    s = site(1)
    pid = ready_programme(s.app, payload(tmp_path / "p.mp3", 50_000))
    deliver.deliver_due(s.app)
    with s.app.db.read() as sess:
        slug = sess.get_one(Programme, pid).slug
    (s.remotes[0] / f"{slug}.mp3").unlink()
    aid = add_airing(s, pid, "st0")
    assert playout.air(s.app, aid) == AiringState.MISSED
    with s.app.db.read() as sess:
        d = sess.scalars(select(Delivery)).one()
    assert d.state == DeliveryState.QUEUED.value
    [outcome] = deliver.deliver_due(s.app)
    assert outcome.delivered == 1 and (s.remotes[0] / f"{slug}.mp3").exists()


def test_a_part_of_other_content_is_never_resumed_and_is_removed(
        site: Callable[..., Site], tmp_path: Path) -> None:
    s = site(1)
    f = payload(tmp_path / "p.mp3", 3_000_000)
    pid = ready_programme(s.app, f)
    with s.app.db.read() as sess:
        slug = sess.get_one(Programme, pid).slug
    # what an earlier revision of the same slug left behind: other bytes, nearly full size
    (s.remotes[0] / f".{slug}.mp3.part").write_bytes(os.urandom(2_900_000))
    (s.remotes[0] / part_name(f"{slug}.mp3", "0" * 64)).write_bytes(os.urandom(2_900_000))
    [outcome] = deliver.deliver_due(s.app)
    assert outcome.delivered == 1
    got = (s.remotes[0] / f"{slug}.mp3").read_bytes()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(f.read_bytes()).hexdigest()
    assert sorted(p.name for p in s.remotes[0].iterdir() if p.name.endswith(".part")) == []


def test_a_resumed_part_that_differs_is_caught_where_the_station_runs_no_commands(
        site: Callable[..., Site], tmp_path: Path) -> None:
    s = site(1, station_extra='playout = "playbook"',
             extra="[delivery]\nretry_backoff_seconds = [1]\n")
    f = payload(tmp_path / "p.mp3", 3_000_000)
    pid = ready_programme(s.app, f)
    with s.app.db.read() as sess:
        p = sess.get_one(Programme, pid)
        slug, sha = p.slug, p.sha256
    assert sha is not None
    # a part with the right name whose first bytes were damaged on the station's disk
    damaged = bytearray(f.read_bytes()[:2_500_000])
    damaged[1000:1010] = b"\xff" * 10
    part = s.remotes[0] / part_name(f"{slug}.mp3", sha)
    part.write_bytes(bytes(damaged))
    shutil.chown(part, user=s.servers[0].user)  # the station account wrote it
    [first] = deliver.deliver_due(s.app)
    assert first.delivered == 0 and first.retrying == 1
    assert not (s.remotes[0] / f"{slug}.mp3").exists()  # never under its final name
    time.sleep(1.3)
    [second] = deliver.deliver_due(s.app)
    assert second.delivered == 1
    assert (s.remotes[0] / f"{slug}.mp3").read_bytes() == f.read_bytes()


def test_an_airing_survives_a_link_that_drops_while_it_plays(
        site: Callable[..., Site], tmp_path: Path) -> None:
    s = site(1)
    proxy = Proxy(s.servers[0].port)
    log = s.remotes[0] / "asrun.log"
    cfg = through_proxy(s, proxy)
    play = f"echo start {{file}} >> {log}; sleep 4; echo end >> {log}"
    cfg.write_text(cfg.read_text().rstrip() + f'\nplay_command = "{play}"\n')
    app = open_app(cfg)
    s.app = app
    pid = ready_programme(app, payload(tmp_path / "p.mp3", 20_000))
    deliver.deliver_due(app)
    with app.db.write() as sess:
        sess.get_one(Programme, pid).duration_s = 4.0  # test data: how long the player runs
    aid = add_airing(s, pid, "st0")
    assert playout.air(app, aid) == AiringState.AIRING  # started, detached
    proxy.blackhole.set()
    proxy.drop_all()  # the 3G link drops while the programme plays
    st = app.settings.station("st0")
    time.sleep(1)
    assert airing(s, aid).state == AiringState.AIRING.value
    time.sleep(14)  # the player ends at the station; the hub cannot reach it yet
    proxy.blackhole.clear()
    assert playout.check_station(app, st) == 1  # the link is back: read the outcome
    a = airing(s, aid)
    assert a.state == AiringState.AIRED.value and a.detail == "exit 0"
    played = log.read_text().splitlines()
    assert len(played) == 2 and played[0].startswith("start /") and played[1] == "end"
    assert not [p for p in s.remotes[0].iterdir() if p.name.startswith(".radiocast-airing")]
    proxy.close()
    app.close()
