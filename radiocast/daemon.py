"""The daemon loop: single-instance lock (or a hub's lease), recovery, signals, shutdown.

The loop thread only touches local files and the database; every station connection runs on
the station pool (`Contacts`), one task at a time per station, so a dead or slow link costs
its own station and nothing else, and the systemd watchdog ping never waits for a station."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from types import FrameType

from radiocast.airing import agents, asrun, planning, playbook, playout
from radiocast.airing.schedule import AiringJobs
from radiocast.app import App
from radiocast.config.settings import StationSettings
from radiocast.core.errors import DatabaseBusy, ExitCode
from radiocast.core.i18n import t
from radiocast.core.sysd import SdNotify, acquire_lock
from radiocast.db import views
from radiocast.intake import ingest, programmes
from radiocast.intake.watch import Watch
from radiocast.publish.run import Publisher
from radiocast.setup import ensure_folders
from radiocast.stations import deliver
from radiocast.stations.deliver import Link, open_link
from radiocast.stations.outbox import InboxWatch
from radiocast.stations.visit import Needs, Visit, Visits
from radiocast.status.problems import ProblemLog, find_problems

log = logging.getLogger(__name__)
TICK_SECONDS, REPLAN_SECONDS = 0.25, 60
PUBLISH_RETRY_SECONDS = 30  # an unreachable station's playbook is retried this often
CHECK_EVERY_SECONDS = 30  # outcome of started airings, at most this often per station
NEEDS_EVERY_SECONDS = 1.0  # how often the loop looks for station work
ORIGINALS_EVERY_SECONDS = 60
MAX_STATION_THREADS = 256


class StopNow(BaseException):
    """Raised by the second SIGTERM/SIGINT: abandon the current item (its lease expires)."""


class Daemon:
    def __init__(self, app: App, notify: SdNotify | None = None,
                 stop: threading.Event | None = None) -> None:
        self.app = app
        self.notify = notify or SdNotify()
        self.stop = stop or threading.Event()  # a hub's: set when its lease is lost
        self.signals = 0
        self.failures = 0
        self.drop = ingest.DropFolder(app)
        workers = max(1, (os.cpu_count() or 2) - 1)
        self.audio_pool = ThreadPoolExecutor(workers, thread_name_prefix="radiocast-audio")
        self.in_flight: dict[int, Future[bool]] = {}
        self.contacts = Contacts(app, self.stop)
        self.airing: AiringCycle | None = None
        self.last_originals, self.longest_tick = 0.0, 0.0
        self.publisher = Publisher(app)  # the public site, on a thread of its own
        self.longest_watchdog_gap = 0.0

    # ------------------------------------------------------------ lifecycle

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.signals += 1
        if self.signals == 1:
            log.info("signal %d: finishing the current item, then stopping", signum)
            self.stop.set()
        else:
            log.warning("second signal: stopping now")
            raise StopNow()

    def run(self, once: bool = False) -> int:
        lock = None if self.app.db.fence else acquire_lock(  # a hub's lease is its lock
            self.app.settings.general.data_dir / "radiocast.lock", self.app.lang)
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            ensure_folders(self.app)
            self.recover()
            if once:
                self.run_once()
            else:
                self.loop()
        except StopNow:
            log.warning("stopped before finishing; unfinished work resumes at next start")
        finally:
            self.notify.send("STOPPING=1")
            self.shutdown()
            for s, h in old.items():
                signal.signal(s, h)
            if lock is not None:
                lock.close()
        return ExitCode.PARTIAL if self.failures else ExitCode.OK

    def recover(self) -> None:
        """Everything derived from the database is rebuilt; half-done steps are finished.
        Each part on its own: one that fails is logged and the daemon still starts."""
        for part in (programmes.recover, deliver.recover, playout.recover):
            try:
                part(self.app)
            except Exception:
                log.exception("recovery step %s failed; continuing", part.__module__)
                self.failures += 1

    def shutdown(self) -> None:
        self.stop.set()
        self.drop.stop()
        if self.airing is not None:
            self.airing.shutdown()
        self.audio_pool.shutdown(wait=True, cancel_futures=True)
        self.contacts.shutdown()
        log.info("loop: longest tick %.3f s, longest gap between watchdog pings %.3f s",
                 self.longest_tick, self.longest_watchdog_gap)

    # ------------------------------------------------------------ the loop

    def loop(self) -> None:
        self.app.db.loop_thread = threading.get_ident()  # first in line, short waits
        self.drop.start()
        self.airing = AiringCycle(self.app, self.contacts)
        watch = Watch(self.app, ProblemLog(self.app), find_problems)
        steps = (self.step_ingest, self.step_normalize, self.step_originals,
                 self.airing.sync, self.contacts.step, watch.step, self.publisher.step)
        self.notify.send("READY=1")
        log.info("radiocast running; drop folder %s", self.app.settings.ingest.drop_dir)
        last_watchdog = time.monotonic()
        try:
            while not self.stop.is_set():
                began, ok = time.monotonic(), True
                for step in steps:
                    try:
                        step()
                    except DatabaseBusy as exc:  # the rest of the tick waits for the next one
                        log.warning("%s", exc)
                        ok = False
                        break
                    except Exception:  # a bug: log it with its traceback, keep the loop alive
                        log.exception("daemon step failed; continuing")
                        self.failures, ok = self.failures + 1, False
                mono = time.monotonic()
                watch.tick(ok, mono - began)  # the dead-man signal and the loop's histogram
                self.longest_tick = max(self.longest_tick, mono - began)
                if self.notify.watchdog_interval and mono - last_watchdog >= \
                        self.notify.watchdog_interval:
                    self.notify.send("WATCHDOG=1")
                    self.longest_watchdog_gap = max(self.longest_watchdog_gap,
                                                    mono - last_watchdog)
                    last_watchdog = mono
                self.stop.wait(TICK_SECONDS)
        finally:
            watch.shutdown()

    def run_once(self) -> None:
        """Drain: ingest what is there (waiting for it to settle), normalize, deliver, plan."""
        settle = self.app.settings.ingest.settle_seconds
        deadline = time.monotonic() + max(30.0, settle * 20)
        while not self.stop.is_set():
            mono = time.monotonic()
            self.step_ingest(mono)
            if not self.drop.seen or mono > deadline:
                break
            self.stop.wait(min(0.5, max(settle / 4, 0.05)))
        with deliver.visits(self.app) as visits:
            pending = programmes.pending_normalization(self.app)
            if pending:
                # the handshakes of the stations the round will visit, meanwhile
                visits.dial_ahead(self.stop, programmes.round_stations(self.app, pending))
            for pid in pending:
                if self.stop.is_set():
                    return
                self._normalize(pid)
            if not self.stop.is_set():
                self.failures += run_round(self.app, self.stop, visits)
        log.info(t("cli.run_once_done", self.app.lang))

    def step_ingest(self, mono: float | None = None) -> None:
        for path in self.drop.poll(time.monotonic() if mono is None else mono):
            if self.stop.is_set():
                return
            try:
                ingest.claim_file(self.app, path)
            except FileNotFoundError:
                pass  # gone between settling and claiming: nothing to do
            except DatabaseBusy:
                raise  # the file stays settled: taken at a next tick
            except Exception:
                log.exception("could not take %s; it stays in the drop folder", path)
                self.failures += 1
            self.drop.forget(path)

    def step_normalize(self) -> None:
        for pid, fut in list(self.in_flight.items()):
            if fut.done():
                del self.in_flight[pid]
        for pid in programmes.pending_normalization(self.app):
            if pid not in self.in_flight:
                self.in_flight[pid] = self.audio_pool.submit(self._normalize, pid)

    def _normalize(self, pid: int) -> bool:
        try:
            ok = programmes.normalize_programme(self.app, pid)
        except Exception:
            log.exception("normalizing programme #%d failed", pid)
            self.failures += 1
            return False
        if not ok:
            self.failures += 1
        return ok

    def step_originals(self) -> None:
        mono = time.monotonic()
        if mono - self.last_originals >= ORIGINALS_EVERY_SECONDS:
            self.last_originals = mono
            programmes.finish_originals(self.app)


class Contacts:
    """Every station connection, on a pool of worker threads: deliveries and inventory,
    playbooks, and reading back how airings went. One task at a time per station; stations
    with an emergency programme to receive go first."""

    def __init__(self, app: App, stop: threading.Event) -> None:
        self.app = app
        self.stop = stop
        # a connection waiting on a dead link costs a sleeping thread, not bandwidth: one
        # thread per station (capped), and `max_parallel` bounds the transfers themselves
        n = len(app.settings.stations)
        self.pool = ThreadPoolExecutor(max(1, min(MAX_STATION_THREADS, n)),
                                       thread_name_prefix="radiocast-station")
        self.transfers = threading.Semaphore(app.settings.delivery.max_parallel)
        self.busy: dict[str, Future[None]] = {}
        # playbook changes counted per station; a publish covers the count it started from,
        # so a change marked while a publish is on its way is published next round, not lost
        self.changes: dict[str, int] = {st.id: 1 for st in app.settings.stations}
        self.published: dict[str, int] = {}
        self.publish_after: dict[str, float] = {}
        self.last_inventory: dict[str, float] = {}
        self.last_outcome: dict[str, float] = {}
        self.segments: dict[str, dict[str, int]] = {}  # agent segments stored whole
        self.last_look = -1e9
        self.inventory_every = app.settings.delivery.inventory_minutes * 60.0
        self.pulled: set[str] = set()  # pull stations whose inbox changed
        self.inbox = InboxWatch.of(app.settings)

    def step(self) -> None:
        for sid, fut in list(self.busy.items()):
            if fut.done():
                del self.busy[sid]
        mono = time.monotonic()
        if mono - self.last_look < NEEDS_EVERY_SECONDS or self.stop.is_set():
            return
        self.last_look = mono
        if self.inbox is not None:
            self.pulled |= self.inbox.take()
        for sid, needs in self.needs(mono):
            if sid not in self.busy:
                self.busy[sid] = self.pool.submit(self.visit, sid, needs)

    def needs(self, mono: float) -> list[tuple[str, Needs]]:
        """What every station needs now, in the order to serve them (DB reads only)."""
        with self.app.db.read() as s:
            due = views.due_station_ids(s, self.app.clock())
            awaiting = set(views.stations_awaiting_outcome(s))
            planned = set(views.stations_with_planned_airings(s))
            prune = set(views.stations_to_prune(s))
        known = {st.id for st in self.app.settings.stations}
        out: dict[str, Needs] = {sid: Needs(deliver=True) for sid in due if sid in known}
        for sid in sorted(known):
            n = out.setdefault(sid, Needs())
            since = mono - self.last_inventory.get(sid, -1e9)  # a file to remove: sooner
            n.inventory = since >= self.inventory_every if sid in planned else \
                sid in prune and since >= CHECK_EVERY_SECONDS
            n.publish = self.changes.get(sid, 0) > self.published.get(sid, 0) and \
                mono >= self.publish_after.get(sid, 0.0)
            n.outcome = self.outcome_due(sid, sid in awaiting, mono)
        return [(sid, n) for sid, n in out.items() if n]

    def outcome_due(self, sid: str, awaiting: bool, mono: float) -> bool:
        """Is it time to read how airings went at this station?"""
        st = self.app.settings.station(sid)
        since = mono - self.last_outcome.get(sid, -1e9)
        if st.pull and sid in self.pulled:  # it wrote to its inbox: read it now (local)
            return True
        if st.playout == "agent":  # heartbeat and proof of play, whatever is pending
            return since >= self.app.settings.delivery.agent_poll_seconds
        if not awaiting or since < CHECK_EVERY_SECONDS:
            return False
        return st.playout == "playbook" or bool(playout.due_checks(self.app, sid))

    def visit(self, sid: str, needs: Needs) -> None:
        """Everything the station needs this round, over one connection (opened on first
        use: a round that finds nothing to send and nothing to read does not dial)."""
        st = self.app.settings.station(sid)
        try:
            with Visit(lambda: open_link(self.app, st, compress=not needs.deliver)) as v:
                if needs.deliver or needs.inventory:
                    if needs.inventory:
                        self.last_inventory[sid] = time.monotonic()
                    deliver.deliver_station(self.app, st, self.stop, inventory=needs.inventory,
                                            transfers=self.transfers, visit=v)
                if needs.publish and not self.stop.is_set():
                    change = self.changes.get(sid, 0)  # read before the playbook is built
                    self.unpublish(sid, change, playbook.publish_playbook(self.app, sid, v))
                if needs.outcome and not self.stop.is_set():
                    self.outcome(st, v)
        except Exception:
            log.exception("%s: station visit failed; the other stations go on", sid)

    def outcome(self, st: StationSettings, v: Visit[Link]) -> None:
        self.last_outcome[st.id] = time.monotonic()
        self.pulled.discard(st.id)
        if st.playout == "agent":
            got = agents.collect(self.app, st, self.segments.setdefault(st.id, {}), v)
            self.mark_changed({st.id} if got.moved else set())  # a restored hub caught up
        elif st.playout == "playbook":
            asrun.confirm_station(self.app, st, v)
        else:
            playout.check_station(self.app, st, v)

    def unpublish(self, sid: str, change: int, ok: bool) -> None:
        if ok:
            self.published[sid] = max(self.published.get(sid, 0), change)
        else:
            self.publish_after[sid] = time.monotonic() + PUBLISH_RETRY_SECONDS

    def mark_changed(self, station_ids: set[str]) -> None:
        for sid in station_ids:
            self.changes[sid] = self.changes.get(sid, 0) + 1
            self.publish_after.pop(sid, None)

    def shutdown(self) -> None:
        if self.inbox is not None:
            self.inbox.stop()
        self.pool.shutdown(wait=True, cancel_futures=True)


class AiringCycle:
    """The airing side of the loop, database only: overdue airings, the plan (stations whose
    plan changed get a new playbook through `Contacts`), and one timed job per airing."""

    def __init__(self, app: App, contacts: Contacts) -> None:
        self.app = app
        self.contacts = contacts
        self.jobs = AiringJobs(app, lambda aid: playout.air(app, aid))
        self.generation = -1
        self.last_plan = -1e9

    def sync(self) -> None:
        mono = time.monotonic()
        gen = self.jobs.generation()
        if gen == self.generation and mono - self.last_plan < REPLAN_SECONDS:
            return
        self.last_plan = mono
        playout.mark_overdue(self.app, self.jobs.grace)
        agents.mark_unconfirmed(self.app)
        self.contacts.mark_changed(planning.plan_all(self.app))
        self.jobs.sync()
        self.generation = self.jobs.generation()

    def shutdown(self) -> None:
        self.jobs.shutdown()


def run_round(app: App, stop: threading.Event, visits: Visits[Link] | None = None) -> int:
    """`run --once`: every station in parallel over one connection each (deliveries,
    inventory, then the playbook). Returns failures."""
    stations = {st.id: st for st in app.settings.stations}
    transfers = threading.Semaphore(app.settings.delivery.max_parallel)
    with contextlib.nullcontext(visits) if visits else deliver.visits(app) as v:
        with app.db.read() as s:
            due = [sid for sid in views.due_station_ids(s, app.clock()) if sid in stations]
            prune = {sid for sid in views.stations_to_prune(s) if sid in stations}
        failures = v.each(lambda sid: deliver.deliver_station(
            app, stations[sid], stop, inventory=sid in prune, transfers=transfers,
            visit=v[sid]).troubles, due + sorted(prune - set(due)))
        if stop.is_set():
            return failures
        changed = sorted(sid for sid in planning.plan_all(app) if sid in stations)
        if stop.is_set():
            return failures
        return failures + v.each(
            lambda sid: int(not playbook.publish_playbook(app, sid, v[sid])), changed)
