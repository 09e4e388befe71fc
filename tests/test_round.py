"""One connection per station per round, and handshake slots that dead links cannot hold."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from radiocast.app import open_app
from radiocast.core.models import DeliveryState
from radiocast.daemon import run_round
from radiocast.db.schema import Delivery
from radiocast.stations.transport import StationLink
from radiocast.stations.visit import Handshakes

from .conftest import Site, ready_programme
from .test_deliver import deliveries


def test_run_once_serves_each_station_over_one_connection(
        site: Callable[..., Site], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = site(3, station_extra='playout = "playbook"\n')
    f = tmp_path / "p.mp3"
    f.write_bytes(os.urandom(300_000))
    ready_programme(s.app, f)
    connects: Counter[str] = Counter()
    real = StationLink.connect

    def counted(self: StationLink) -> None:
        connects[self.station.id] += 1
        real(self)

    monkeypatch.setattr(StationLink, "connect", counted)
    assert run_round(s.app, threading.Event()) == 0
    assert all(d.state == DeliveryState.DELIVERED.value for d in deliveries(s))
    for remote in s.remotes:  # delivered, checked, and the playbook written: all on one link
        names = {p.name for p in remote.iterdir()}
        assert "playbook.json" in names
        assert any(n.endswith(".mp3") for n in names)
        assert any(n.endswith(".mp3.sha256") for n in names)
    assert connects == Counter({"st0": 1, "st1": 1, "st2": 1})


def test_a_slot_held_by_a_dead_link_delays_a_newcomer_by_at_most_stuck_after() -> None:
    slots = Handshakes(2, stuck_after=0.3)
    assert slots.acquire() and slots.acquire()  # two dead links hold both slots
    t = time.monotonic()
    assert slots.acquire() is False  # nothing moved: go ahead without a slot
    assert 0.25 <= time.monotonic() - t < 1.0


def test_slots_that_keep_moving_are_waited_for() -> None:
    slots = Handshakes(1, stuck_after=0.3)
    assert slots.acquire()
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(slots.acquire()))
    waiter.start()
    time.sleep(0.1)
    slots.release()  # a healthy handshake finished: the waiter takes its slot
    waiter.join(2)
    assert got == [True]
    slots.release()
    assert slots.free == 1


def test_a_bug_at_one_station_stops_only_that_station(
        site: Callable[..., Site], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from radiocast.stations import deliver

    s = site(3)
    f = tmp_path / "p.mp3"
    f.write_bytes(os.urandom(100_000))
    ready_programme(s.app, f)
    real = deliver.deliver_station

    def broken_at_st1(app: object, st: object, *a: object, **k: object) -> object:
        if getattr(st, "id", "") == "st1":
            raise RuntimeError("a bug that only st1 meets")
        return real(app, st, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(deliver, "deliver_station", broken_at_st1)
    assert run_round(s.app, threading.Event()) == 1  # counted, not raised
    states = {d.station_id: d.state for d in deliveries(s)}
    assert states == {"st0": DeliveryState.DELIVERED.value, "st1": DeliveryState.QUEUED.value,
                      "st2": DeliveryState.DELIVERED.value}


def test_a_plan_change_during_a_playbook_write_is_published_next_round(
        site: Callable[..., Site], monkeypatch: pytest.MonkeyPatch) -> None:
    """The premieres of three programmes are planned one after another; a change marked while
    the station's playbook is on its way must not be erased when that write succeeds (the
    demo's agent station once got only the first premiere)."""
    from radiocast.airing import playbook as pb
    from radiocast.daemon import Contacts
    s = site(1, station_extra='playout = "playbook"\n')
    contacts = Contacts(s.app, threading.Event())
    try:
        real = pb.playbook
        built: list[bytes] = []

        def racing(*args: object) -> bytes:
            data = real(*args)  # type: ignore[arg-type]
            built.append(data)
            if len(built) == 1:  # the loop plans another programme meanwhile
                contacts.mark_changed({"st0"})
            return data

        monkeypatch.setattr(pb, "playbook", racing)
        needs = dict(contacts.needs(time.monotonic()))
        assert needs["st0"].publish
        contacts.visit("st0", needs["st0"])
        assert len(built) == 1 and (s.remotes[0] / "playbook.json").exists()
        again = dict(contacts.needs(time.monotonic()))
        assert "st0" in again and again["st0"].publish  # the change is still to publish
        contacts.visit("st0", again["st0"])
        assert len(built) == 2
        assert "st0" not in dict(contacts.needs(time.monotonic())) or \
            not dict(contacts.needs(time.monotonic()))["st0"].publish
    finally:
        contacts.shutdown()


def test_a_cold_round_dials_the_stations_while_it_normalizes_once_each(
        site: Callable[..., Site], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Staff drop a programme, `run --once` starts: the links of the stations it goes to open
    during the normalization, each once; a dead station fails once, as it would without; a
    station the programme is not for (it airs Thái only) is not dialled at all."""
    from radiocast.daemon import Daemon
    from radiocast.intake import programmes

    from .conftest import make_tone
    from .sshd import free_port

    s = site(4, station_extra='playout = "playbook"\n', ports=[None, None, free_port(), None])
    cfg = s.app.settings.path
    assert cfg is not None
    text = cfg.read_text()
    cut = text.index('id = "st3"')
    cfg.write_text(text[:cut] + 'languages = ["blt"]\n' + text[cut:])
    app = open_app(cfg)
    events: list[tuple[float, str]] = []
    real_connect, real_normalize = StationLink.connect, programmes.normalize_programme

    def counted(self: StationLink) -> None:
        events.append((time.monotonic(), f"dial {self.station.id}"))
        real_connect(self)

    def normalize(app: object, pid: int) -> bool:
        ok = real_normalize(app, pid)  # type: ignore[arg-type]
        events.append((time.monotonic(), "normalized"))
        return ok

    monkeypatch.setattr(StationLink, "connect", counted)
    monkeypatch.setattr(programmes, "normalize_programme", normalize)
    tone = make_tone(tmp_path / "tone.mp3", seconds=20)
    drop = app.settings.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    tone.rename(drop / "2026-12 Chuyen doi so.mp3")
    daemon = Daemon(app)
    daemon.run_once()
    kinds = Counter(what for _, what in events)
    assert kinds == Counter({"dial st0": 1, "dial st1": 1, "dial st2": 1, "normalized": 1})
    normalized_at = next(at for at, what in events if what == "normalized")
    assert min(at for at, what in events if what.startswith("dial")) < normalized_at
    with app.db.read() as ses:
        states = {d.station_id: d.state for d in ses.scalars(select(Delivery))}
    assert states == {"st0": DeliveryState.DELIVERED.value, "st1": DeliveryState.DELIVERED.value,
                      "st2": DeliveryState.QUEUED.value}  # the dead one: retried later
    assert daemon.failures == 1
    app.close()
    for remote in s.remotes[:2]:
        assert "playbook.json" in {p.name for p in remote.iterdir()}
