"""Migrations, the event log, and a daemon writer with a CLI reader on one SQLite file."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from radiocast.app import App
from radiocast.core.models import Claim, DeliveryState, ProgrammeState
from radiocast.db import ops
from radiocast.db.engine import Database, open_database
from radiocast.db.schema import Delivery, Event, Programme, Station

NOW = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)
HEAD = "0014"  # the newest migration


def test_migrates_an_empty_database_to_head(db_url: str) -> None:
    db = open_database(db_url)
    assert db.current_revision() == db.head_revision() == HEAD
    tables = set(inspect(db.engine).get_table_names())
    assert {"programme", "station", "delivery", "airing", "shortfall", "event",
            "hub_lease"} <= tables
    if not db.is_sqlite:
        return
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_upgrades_a_database_of_the_previous_revision_keeping_its_rows(db_url: str) -> None:
    url = db_url
    old = Database(url)
    old.migrate("0001")
    assert "airing" not in inspect(old.engine).get_table_names()
    with old.engine.begin() as conn:
        conn.execute(text("INSERT INTO station (id, name, consecutive_failures) "
                          "VALUES ('son-lu', 'Thị trấn Sơn Lư', 2)"))
    old.dispose()
    db = open_database(url)
    assert db.current_revision() == HEAD
    with db.read() as s:
        st = s.get_one(Station, "son-lu")
        assert (st.name, st.consecutive_failures, st.free_bytes) == ("Thị trấn Sơn Lư", 2, None)


def test_0003_keeps_a_rejection_detail_apart_from_its_rendered_text(db_url: str) -> None:
    url = db_url
    old = Database(url)
    old.migrate("0002")
    with old.engine.begin() as conn:
        for n, (code, reason) in enumerate([
                ("silent", "Tệp chỉ có im lặng, không nghe thấy nội dung. (integrated -71.0 LUFS)"),
                ("empty", "Tệp rỗng (0 byte), không có nội dung.")]):
            conn.execute(text(
                "INSERT INTO programme (title, title_key, month, language, priority, "
                "source_name, source_sha256, source_size, drop_path, spool_path, state, "
                "reason, reason_code, revision, received_at, updated_at) VALUES ('t', 't', "
                "'2026-11', 'vi', 'normal', 'x', :sha, 1, '/d', '/s', 'rejected', :reason, "
                ":code, 1, '2026-11-01', '2026-11-01')"),
                {"sha": str(n) * 64, "reason": reason, "code": code})
    old.dispose()
    db = open_database(url)
    with db.read() as s:
        rows = {p.reason_code: p.reason_detail for p in s.scalars(select(Programme))}
    assert rows == {"silent": "integrated -71.0 LUFS", "empty": None}
    assert "reason" not in {c["name"] for c in inspect(db.engine).get_columns("programme")}


def _programme(s: Session, sha: str = "a" * 64) -> Programme:
    pid = ops.claim_programme(s, Claim(
        source_sha256=sha, source_name="x.mp3", source_size=1, drop_path="/d/x.mp3",
        spool_path="/s/x.mp3", title="Chuyển đổi số", title_key="chuyển đổi số",
        month="2026-11", language="vi", priority="normal", stations=None), NOW)
    return s.get_one(Programme, pid)


def test_every_transition_appends_an_event(make_app: Callable[..., App]) -> None:
    app = make_app()
    with app.db.write() as s:
        p = _programme(s)
        ops.set_programme_state(s, p, ProgrammeState.NORMALIZING, NOW)
        ops.reject_programme(s, p, NOW, "silent", "im lặng")
    with app.db.read() as s:
        events = s.scalars(select(Event).where(Event.entity == "programme")).all()
    assert [(e.action, e.from_state, e.to_state) for e in events] == [
        ("claimed", None, "received"), ("state", "received", "normalizing"),
        ("state", "normalizing", "rejected")]


def _writer(url: str, n: int, started: mp.synchronize.Event) -> None:  # type: ignore[name-defined]
    db = Database(url)
    started.set()
    for i in range(n):
        with db.write() as s:  # read-then-write, like the daemon's claim
            d = s.scalars(select(Delivery)).first()
            assert d is not None
            d.bytes_sent = d.bytes_sent + 1
            ops.record_event(s, NOW, "delivery", d.id, "progress", detail=str(i))


def test_daemon_writer_and_cli_reader_never_see_database_locked(
        make_app: Callable[..., App]) -> None:
    app = make_app(stations='[[stations]]\nid = "a"\nname = "A"\nhost = "a.invalid"\n')
    with app.db.write() as s:
        p = _programme(s)
        ops.enqueue_deliveries(s, p, ["a"], NOW)
    url = app.settings.database_url
    ctx = mp.get_context("spawn")
    started = ctx.Event()
    writers = [ctx.Process(target=_writer, args=(url, 150, started)) for _ in range(2)]
    for w in writers:
        w.start()
    started.wait(30)
    reads = 0
    while any(w.is_alive() for w in writers):
        with app.db.read() as s:  # the CLI: plain reads while the daemon writes
            s.scalars(select(Delivery)).all()
            reads += 1
        with app.db.write() as s:  # and an operator's `retry`, writing too
            ops.retry_failed(s, NOW, None)
    for w in writers:
        w.join()
        assert w.exitcode == 0
    with app.db.read() as s:
        d = s.scalars(select(Delivery)).one()
        assert d.bytes_sent == 300  # no lost update
        assert d.state == DeliveryState.QUEUED.value
    assert reads > 0


def test_0009_keeps_stored_events_and_makes_them_unique_per_station(db_url: str) -> None:
    old = Database(db_url)
    old.migrate("0008")
    with old.engine.begin() as conn:
        for sid in ("a", "b"):
            conn.execute(text("INSERT INTO station (id, name, consecutive_failures) "
                              "VALUES (:sid, :sid, 0)"), {"sid": sid})
        conn.execute(text(
            "INSERT INTO asrun_event (event_id, station_id, seq, airing_id, status, raw, "
            "received_at) VALUES ('e1', 'a', 1, 7, 'aired', '{}', '2026-11-01')"))
    old.dispose()
    db = open_database(db_url)
    assert db.current_revision() == HEAD
    insert = text("INSERT INTO asrun_event (event_id, station_id, seq, airing_id, status, raw, "
                  "received_at) VALUES ('e1', :sid, 2, 7, 'aired', '{}', '2026-11-02')")
    with db.engine.begin() as conn:
        conn.execute(insert, {"sid": "b"})  # another station's id: its own row
        ids = conn.execute(text("SELECT station_id, id FROM asrun_event ORDER BY id")).all()
    assert [r[0] for r in ids] == ["a", "b"] and ids[1][1] > ids[0][1]
    with pytest.raises(IntegrityError), db.engine.begin() as conn:
        conn.execute(insert, {"sid": "a"})  # the same station twice: refused
    assert "asrun_skip" in inspect(db.engine).get_table_names()


def test_the_loop_thread_writes_first_whatever_the_number_of_station_threads(
        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """64 station threads write back to back; the daemon's loop thread goes before all the
    waiting ones, so its wait is one transaction at most, not the queue's length."""
    import threading
    import time

    db = open_database(db_url)
    now = datetime.now(UTC)
    with db.write() as s:
        s.add(Station(id="st0", name="x", consecutive_failures=0))
    stop = threading.Event()
    waits: dict[str, list[float]] = {"loop": [], "station": []}

    def write(kind: str) -> None:
        began = time.monotonic()
        with db.write() as s:
            waits[kind].append(time.monotonic() - began)
            ops.record_event(s, now, "station", "st0", "test")
            time.sleep(0.005)  # a station's write: a few milliseconds

    def station() -> None:
        while not stop.is_set():
            write("station")

    def loop() -> None:
        db.loop_thread = threading.get_ident()
        for _ in range(30):
            write("loop")
            time.sleep(0.02)

    threads = [threading.Thread(target=station) for _ in range(64)]
    for th in threads:
        th.start()
    time.sleep(0.3)  # every station thread queued
    main = threading.Thread(target=loop)
    main.start()
    main.join()
    stop.set()
    for th in threads:
        th.join()
    db.dispose()
    loop_max, station_max = max(waits["loop"]), max(waits["station"])
    with capsys.disabled():
        print(f"\n[64 station threads writing] the loop thread's longest wait "
              f"{loop_max * 1000:.0f} ms over {len(waits['loop'])} writes; a station thread's "
              f"longest {station_max * 1000:.0f} ms")
    # one transaction at most (under load a few hundredths), never the queue's length
    assert loop_max < 0.5 and loop_max < station_max / 5


def test_the_loop_thread_gives_up_after_a_short_wait_and_the_others_go_on(
        db_url: str) -> None:
    import threading
    import time

    from radiocast.core.errors import DatabaseBusy
    from radiocast.db import engine

    db = open_database(db_url)
    now = datetime.now(UTC)
    with db.write() as s:
        s.add(Station(id="st0", name="x", consecutive_failures=0))
    held, release = threading.Event(), threading.Event()

    def long_writer() -> None:  # a transaction that lasts (this process's own writer)
        with db.write():
            held.set()
            release.wait(30)

    th = threading.Thread(target=long_writer)
    th.start()
    held.wait(5)
    db.loop_thread = threading.get_ident()
    began = time.monotonic()
    with pytest.raises(DatabaseBusy), db.write() as s:
        ops.record_event(s, now, "station", "st0", "never")
    waited = time.monotonic() - began
    assert engine.LOOP_WAIT_SECONDS - 0.1 < waited < engine.LOOP_WAIT_SECONDS + 1.0
    other = threading.Thread(target=lambda: _one_event(db, now))
    other.start()  # a station thread queues behind the long writer and goes when it ends
    release.set()
    th.join()
    other.join(10)
    with db.write() as s:  # the loop thread writes again as soon as the lock is free
        ops.record_event(s, now, "station", "st0", "after")
    with db.read() as s:
        actions = list(s.scalars(select(Event.action).where(Event.entity_id == "st0")))
    db.dispose()
    assert "never" not in actions and {"other", "after"} <= set(actions)


def _one_event(db: Database, now: datetime) -> None:
    with db.write() as s:
        ops.record_event(s, now, "station", "st0", "other")
