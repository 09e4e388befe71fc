"""Active and standby hubs on one database. A hub leads while it holds the lease row
(db/lease.py); only the leader runs the daemon (ingest, delivery, planning, airings, alerts).
A standby waits, polling the lease, and takes over when it expires: within
`lease_seconds * 1.25` of the leader's last renewal, so within two lease periods. A leader
that cannot renew (database gone, process paused) stops acting by its own monotonic clock
before any other hub may take the lease, and every write it still tries is refused inside
the transaction (the fence), so two hubs never act at once."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from radiocast.alerting.exporter import DatabaseCollector, registry_for, serve
from radiocast.app import App
from radiocast.core.errors import DatabaseError, ExitCode, LeaseLost, LockHeldError
from radiocast.core.i18n import t
from radiocast.core.sysd import SdNotify
from radiocast.db import lease

log = logging.getLogger(__name__)
RENEW_SHARE = 4  # renewals per lease period
POLL_SHARE = 4  # a standby looks this many times per lease period

# lead(fence, stop) runs the daemon until `stop` is set; returns (exit code, stopped by a signal)
Lead = Callable[[lease.Fence, threading.Event], tuple[int, bool]]


def holder_name(app: App) -> str:
    """Unique per process: the configured or host name, the pid, and a random tag (a hub
    that restarts is a new holder and takes a new epoch)."""
    base = app.settings.hub.name or socket.gethostname()
    return f"{base}:{os.getpid()}:{secrets.token_hex(3)}"


def standby_metrics(app: App) -> Any | None:
    """A standby serves /metrics too: what the database says, and `radiocast_leader 0`."""
    listen = app.settings.watch.metrics_listen
    if not listen:
        return None
    return serve(listen, registry_for(DatabaseCollector(app.settings, app.db, app.clock,
                                                        lambda: (), leader=False)))


class Hub:
    def __init__(self, app: App, lead: Lead, notify: SdNotify | None = None) -> None:
        self.app = app
        self.lead = lead
        self.notify = notify or SdNotify()
        self.holder = holder_name(app)
        self.seconds = float(app.settings.hub.lease_seconds)
        self.stop = threading.Event()
        self.metrics: Any | None = None  # the standby's /metrics server

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d while standing by: stopping", signum)
        self.stop.set()

    def acquire(self) -> lease.Fence | None:
        asked = time.monotonic()
        try:
            with self.app.db.lease_write() as s:
                epoch = lease.acquire(s, self.holder, self.seconds)
        except DatabaseError as exc:
            log.warning("database unreachable (looking at the lease): %s", exc)
            return None
        if epoch is None:
            return None
        fence = lease.Fence(self.holder, epoch, self.seconds)
        fence.renewed(asked)
        return fence

    def run(self, once: bool = False) -> int:
        """Stand by, lead, and stand by again if leadership is lost, until stopped."""
        if once:
            return self.run_once()
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            waiting_said = False
            while not self.stop.is_set():
                fence = self.acquire()
                if fence is None:
                    if not waiting_said:
                        self._say_standby()
                        waiting_said = True
                        self.metrics = self.metrics or standby_metrics(self.app)
                    self.notify.send("WATCHDOG=1")
                    self.stop.wait(min(self.seconds / POLL_SHARE,
                                       self.notify.watchdog_interval or 3600.0))
                    continue
                self._stop_metrics()  # the leading daemon serves the port itself
                for s, h in old.items():  # the daemon handles signals while it leads
                    signal.signal(s, h)
                try:
                    code, signalled = self._lead(fence)
                except DatabaseError as exc:  # an outage, not an exit: stand by until it ends
                    self._say_unreachable(exc)
                    code, signalled = ExitCode.DATABASE, False
                    self.stop.wait(self.seconds / POLL_SHARE)
                old = {s: signal.signal(s, self._on_signal) for s in old}
                if signalled or not fence.lost.is_set():
                    return code
                waiting_said = False
            return ExitCode.OK
        finally:
            self._stop_metrics()
            for s, h in old.items():
                signal.signal(s, h)

    def _stop_metrics(self) -> None:
        if self.metrics is not None:
            self.metrics.shutdown()
            self.metrics.server_close()  # free for the daemon's endpoint at once
            self.metrics = None

    def run_once(self) -> int:
        """Lead for one round. A lease left by a hub that died is waited out (at most 1.25
        periods); one that a live hub keeps renewing is not: exit 4, as with the lock file."""
        deadline = time.monotonic() + self.seconds * 1.25 + 1
        while (fence := self.acquire()) is None:
            if time.monotonic() > deadline:
                with self.app.db.read() as s:
                    row = lease.current(s)
                raise LockHeldError(t("cli.hub_leads", self.app.lang,
                                      holder=row.holder if row else "?"))
            time.sleep(self.seconds / POLL_SHARE)
        return self._lead(fence)[0]

    def _say_standby(self) -> None:
        try:
            with self.app.db.read() as s:
                row = lease.current(s)
        except DatabaseError as exc:
            self._say_unreachable(exc)
            row = None
        log.info("standing by: %s leads (epoch %s); taking over if its lease lapses",
                 row.holder if row else "?", row.epoch if row else "?")
        self.notify.send("READY=1")  # started (systemd), as a standby

    def _say_unreachable(self, exc: DatabaseError) -> None:
        """Logged, and shown by `systemctl status`; the hub goes on waiting for it."""
        log.error("database unreachable: %s; standing by until it answers", exc)
        self.notify.send("STATUS=database unreachable; standing by until it answers")

    def _lead(self, fence: lease.Fence) -> tuple[int, bool]:
        log.warning("this hub leads now (%s, epoch %d)", self.holder, fence.epoch)
        stop = threading.Event()
        keeper = threading.Thread(target=self._keep, args=(fence, stop), daemon=True,
                                  name="radiocast-lease")
        self.app.db.fence = fence
        lease.install(fence)
        keeper.start()
        try:
            return self.lead(fence, stop)
        except LeaseLost:  # a step the daemon was finishing when the lease went: refused
            if not fence.lost.is_set():
                raise
            return ExitCode.PARTIAL, False
        finally:
            done = fence.lost.is_set()
            fence.lost.set()  # the keeper ends; nothing of this leadership acts any more
            keeper.join(timeout=self.seconds)
            self.app.db.fence = None
            lease.install(None)
            if not done:
                self._release(fence)
            else:
                log.error("leadership lost (epoch %d): stopped acting; standing by", fence.epoch)

    def _keep(self, fence: lease.Fence, stop: threading.Event) -> None:
        """Renew every third of the period; when the lease is lost, stop the daemon."""
        while not fence.lost.wait(self.seconds / RENEW_SHARE):
            asked = time.monotonic()
            try:
                with self.app.db.lease_write() as s:
                    ok = lease.renew(s, self.holder, fence.epoch, self.seconds)
            except DatabaseError as exc:
                log.warning("lease not renewed (database unreachable: %s); %.0f s left",
                            exc, fence.valid_until - time.monotonic())
                ok = None
            if ok:
                fence.renewed(asked)
            elif ok is False or time.monotonic() > fence.valid_until:
                fence.lost.set()
        stop.set()

    def _release(self, fence: lease.Fence) -> None:
        try:
            with self.app.db.lease_write() as s:
                lease.release(s, self.holder, fence.epoch)
        except DatabaseError as exc:
            log.warning("lease not released (%s); it expires by itself", exc)
