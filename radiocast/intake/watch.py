"""What watches the hub while the daemon runs: the problem log, alerts (incidents →
notices, sent on their own thread), the metrics endpoint and the dead-man signal. The loop
calls `step` (database only) and `tick` after each pass; nothing here waits on the network
on the loop's thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from radiocast.alerting.exporter import DatabaseCollector, registry_for, serve
from radiocast.alerting.notices import Alerts
from radiocast.alerting.send import DeadMan, Sender
from radiocast.app import App
from radiocast.core import metrics

log = logging.getLogger(__name__)
EVERY_SECONDS = 30.0  # problems are looked for this often


class Watch:
    def __init__(self, app: App, problem_log: Any,
                 find: Callable[[App, str], Sequence[Any]],
                 every_seconds: float = EVERY_SECONDS) -> None:
        self.app, self.problem_log, self.find, self.every = app, problem_log, find, every_seconds
        self.alerts = Alerts(app.settings, app.db, app.clock)
        self.stop = threading.Event()
        self.sender = Sender(app.settings, app.db, app.clock, self.stop)
        self.current: Sequence[Any] = ()
        self.last = float("-inf")
        w = app.settings.watch
        self.deadman = DeadMan(w.heartbeat_url, w.heartbeat_seconds) \
            if w.heartbeat_url else None
        self.server = serve(w.metrics_listen, registry_for(DatabaseCollector(
            app.settings, app.db, app.clock, lambda: self.current))) \
            if w.metrics_listen else None
        if app.settings.alerts:
            self.sender.start()
        if self.deadman:
            self.deadman.start()

    def step(self) -> None:
        mono = time.monotonic()
        if mono - self.last < self.every:
            return
        self.last = mono
        found = {lang: self.find(self.app, lang) for lang in self.alerts.languages()}
        self.current = found[self.app.lang] if self.app.lang in found else \
            self.find(self.app, self.app.lang)
        self.problem_log.update(force=True, current=self.current)
        if self.app.settings.alerts:
            self.alerts.update(found)

    def tick(self, ok: bool, seconds: float) -> None:
        metrics.LOOP_TICK_SECONDS.observe(seconds)
        if self.deadman:
            self.deadman.tick(ok)

    def shutdown(self) -> None:
        self.stop.set()
        if self.deadman:
            self.deadman.stop()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()  # the port is free for the next start at once
