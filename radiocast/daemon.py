"""The daemon loop: single-instance lock, startup recovery, signals, sd_notify, shutdown."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import IO

from radiocast import ingest, programmes
from radiocast.airing import planning, playbook, playout
from radiocast.airing.schedule import AiringJobs
from radiocast.app import App
from radiocast.errors import ExitCode, LockHeldError
from radiocast.i18n import t
from radiocast.setup import ensure_folders
from radiocast.stations import deliver
from radiocast.status import ProblemLog

log = logging.getLogger(__name__)
TICK_SECONDS = 0.25
REPLAN_SECONDS = 60
PUBLISH_RETRY_SECONDS = 30  # an unreachable station's playbook is retried this often


class StopNow(BaseException):
    """Raised by the second SIGTERM/SIGINT: abandon the current item (its lease expires)."""


class SdNotify:
    """sd_notify(3) without libsystemd: a datagram to $NOTIFY_SOCKET, if systemd gave one."""

    def __init__(self) -> None:
        addr = os.environ.get("NOTIFY_SOCKET")
        self.addr = ("\0" + addr[1:]) if addr and addr.startswith("@") else addr
        usec = os.environ.get("WATCHDOG_USEC")
        self.watchdog_interval = int(usec) / 2e6 if usec and usec.isdigit() else None

    def send(self, msg: str) -> None:
        if not self.addr:
            return
        with contextlib.suppress(OSError), \
                socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(self.addr)
            sock.sendall(msg.encode())


def acquire_lock(path: Path) -> IO[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the daemon's life
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise LockHeldError(t("locked", "vi", path=path)) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


class Daemon:
    def __init__(self, app: App, notify: SdNotify | None = None) -> None:
        self.app = app
        self.notify = notify or SdNotify()
        self.stop = threading.Event()
        self.signals = 0
        self.failures = 0
        self.drop = ingest.DropFolder(app)
        workers = max(1, (os.cpu_count() or 2) - 1)
        self.audio_pool = ThreadPoolExecutor(workers, thread_name_prefix="radiocast-audio")
        self.in_flight: dict[int, Future[bool]] = {}
        self.delivery: Future[list[deliver.StationOutcome]] | None = None
        self.io_pool = ThreadPoolExecutor(1, thread_name_prefix="radiocast-delivery")
        self.airing: AiringCycle | None = None

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
        lock = acquire_lock(self.app.settings.general.data_dir / "radiocast.lock")
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
            lock.close()
        return ExitCode.PARTIAL if self.failures else ExitCode.OK

    def recover(self) -> None:
        """Everything derived from the database is rebuilt; half-done steps are finished."""
        programmes.recover(self.app)
        deliver.recover(self.app)
        playout.recover(self.app)

    def shutdown(self) -> None:
        self.stop.set()
        self.drop.stop()
        if self.airing is not None:
            self.airing.shutdown()
        self.audio_pool.shutdown(wait=True, cancel_futures=True)
        self.io_pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------ the loop

    def loop(self) -> None:
        self.drop.start()
        airing = AiringCycle(self.app, self.stop)
        self.airing = airing
        problems = ProblemLog(self.app)
        self.notify.send("READY=1")
        log.info("radiocast running; drop folder %s", self.app.settings.ingest.drop_dir)
        last_watchdog = 0.0
        while not self.stop.is_set():
            for step in (self.step_ingest, self.step_normalize, self.step_deliver,
                         airing.sync, problems.update):
                try:
                    step()
                except Exception:  # a bug: log it with its traceback, keep the loop alive
                    log.exception("daemon step failed; continuing")
                    self.failures += 1
            mono = time.monotonic()
            if self.notify.watchdog_interval and mono - last_watchdog >= \
                    self.notify.watchdog_interval:
                self.notify.send("WATCHDOG=1")
                last_watchdog = mono
            self.stop.wait(TICK_SECONDS)

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
        for pid in programmes.pending_normalization(self.app):
            if self.stop.is_set():
                return
            self._normalize(pid)
        if not self.stop.is_set():
            for outcome in deliver.deliver_due(self.app, self.stop):
                self.failures += outcome.failed + outcome.retrying
        if not self.stop.is_set():
            for sid in sorted(planning.plan_all(self.app)):
                if self.stop.is_set():
                    break
                playbook.publish_playbook(self.app, sid)
        log.info(t("run_once_done", "en"))

    def step_ingest(self, mono: float | None = None) -> None:
        for path in self.drop.poll(time.monotonic() if mono is None else mono):
            if self.stop.is_set():
                return
            try:
                ingest.claim_file(self.app, path)
            except FileNotFoundError:
                pass  # gone between settling and claiming: nothing to do
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

    def step_deliver(self) -> None:
        if self.delivery is not None and not self.delivery.done():
            return
        if self.delivery is not None:
            try:
                self.delivery.result()
            except Exception:
                log.exception("delivery round failed")
        self.delivery = self.io_pool.submit(deliver.deliver_due, self.app, self.stop)


class AiringCycle:
    """The airing side of the loop: overdue airings, as-run records, the plan, the playbooks
    of stations whose plan changed, and one timed job per planned airing."""

    def __init__(self, app: App, stop: threading.Event) -> None:
        self.app = app
        self.stop = stop
        self.jobs = AiringJobs(app, lambda aid: playout.air(app, aid))
        self.generation = -1
        self.last_plan = 0.0
        self.unpublished: set[str] = {st.id for st in app.settings.stations}
        self.unpublished_failed = False
        self.last_publish = 0.0

    def sync(self) -> None:
        mono = time.monotonic()
        gen = self.jobs.generation()
        if gen == self.generation and mono - self.last_plan < REPLAN_SECONDS:
            return
        self.last_plan = mono
        playout.mark_overdue(self.app, self.jobs.grace)
        playout.confirm_playbook_airings(self.app)
        self.unpublished |= planning.plan_all(self.app)
        if mono - self.last_publish >= PUBLISH_RETRY_SECONDS or not self.unpublished_failed:
            self.last_publish = mono
            self.unpublished_failed = False
            for sid in sorted(self.unpublished):
                if self.stop.is_set():
                    return
                if playbook.publish_playbook(self.app, sid):
                    self.unpublished.discard(sid)
                else:
                    self.unpublished_failed = True
        self.jobs.sync()
        self.generation = self.jobs.generation()

    def shutdown(self) -> None:
        self.jobs.shutdown()
