"""The Prometheus endpoint: figures read from the database at each scrape (so they are what
the database says), the current problems as the daemon last found them, whether this hub
leads, and the in-process timings (`radiocast.core.metrics`). Labels are bounded: stations are
the configured ones, codes, kinds and states are fixed sets, and every series of those sets is
exported from the first scrape on (at 0), so a rate or an alert rule never meets a gap."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from radiocast.config.settings import Settings
from radiocast.core import metrics
from radiocast.core.i18n import catalogue
from radiocast.core.models import AiringKind, AiringState, DeliveryState
from radiocast.core.months import local_month
from radiocast.db import views
from radiocast.db.engine import Database
from radiocast.db.schema import Airing, Delivery, Station

log = logging.getLogger(__name__)
OUTCOMES = [s.value for s in AiringState if s not in (AiringState.PLANNED, AiringState.AIRING,
                                                        AiringState.CANCELLED)]
SEVERITIES = ("warning", "error")


def problem_codes() -> list[str]:
    """Every problem code radiocast knows (those with words in the catalogue)."""
    return sorted({k.split(".")[1] for k in catalogue("en") if k.startswith("problem.")})


class DatabaseCollector(Collector):
    def __init__(self, settings: Settings, db: Database, clock: Callable[[], datetime],
                 problems: Callable[[], Sequence[Any]], leader: bool = True) -> None:
        self.settings, self.db, self.clock, self.problems = settings, db, clock, problems
        self.leader = leader

    def collect(self) -> Iterator[Metric]:
        configured = {st.id for st in self.settings.stations}
        month = local_month(self.clock(), self.settings.general.tz)
        with self.db.read() as s:  # one read: every figure from the same snapshot
            airings = s.execute(select(Airing.station_id, Airing.kind, Airing.state,
                                       func.count()).group_by(
                Airing.station_id, Airing.kind, Airing.state)).all()
            deliveries = s.execute(select(Delivery.state, func.count()).group_by(
                Delivery.state)).all()
            stations = [st for st in s.scalars(select(Station)) if st.id in configured]
            progress = views.month_progress(
                s, month, self.settings.stations_for(month),
                self.settings.schedule.replays_per_month,
                self.settings.schedule.versions == "each")
        yield GaugeMetricFamily("radiocast_leader", "1 while this hub leads (holds the lease "
                                "on PostgreSQL; a single hub always), 0 while it stands by.",
                                value=1 if self.leader else 0)
        yield self._airings(airings, sorted(configured))
        done = CounterMetricFamily("radiocast_deliveries", "Deliveries by outcome "
                                   "(queued, sending, published, delivered, failed, cancelled).",
                                   labels=["outcome"])
        counts = {s.value: 0 for s in DeliveryState} | {state: n for state, n in deliveries}
        for state, n in counts.items():
            done.add_metric([state], n)
        yield done
        yield from self._stations(stations)
        yield self._compliance(progress)
        yield self._problems()

    @staticmethod
    def _airings(rows: Sequence[Any], stations: list[str]) -> Metric:
        fam = CounterMetricFamily("radiocast_airings", "Airings that ended, by station, kind "
                                  "and outcome.", labels=["station", "kind", "outcome"])
        counts = {(sid, kind.value, state): 0 for sid in stations for kind in AiringKind
                  for state in OUTCOMES}
        for sid, kind, state, n in rows:
            if state in OUTCOMES and sid in stations:
                counts[(sid, kind, state)] = n
        for labels, n in counts.items():
            fam.add_metric(list(labels), n)
        return fam

    def _stations(self, stations: Sequence[Station]) -> Iterator[Metric]:
        contact = GaugeMetricFamily("radiocast_station_last_contact_timestamp_seconds",
                                    "When the hub last reached the station (Unix time).",
                                    labels=["station"])
        free = GaugeMetricFamily("radiocast_station_free_bytes",
                                 "Free disk space the station last reported.",
                                 labels=["station"])
        for st in stations:
            if st.last_contact_at is not None:
                contact.add_metric([st.id], st.last_contact_at.timestamp())
            if st.free_bytes is not None:
                free.add_metric([st.id], st.free_bytes)
        yield contact
        yield free

    @staticmethod
    def _compliance(progress: dict[str, tuple[int, int]]) -> Metric:
        """This month so far: airings aired out of the premiere and the replays needed."""
        fam = GaugeMetricFamily("radiocast_month_compliance_ratio", "This month so far: "
                                "airings aired / (1 premiere + the replays required, per "
                                "version when versions = \"each\"), at most 1.",
                                labels=["station"])
        for sid, (done, need) in progress.items():
            fam.add_metric([sid], min(1.0, done / need))
        return fam

    def _problems(self) -> Metric:
        fam = GaugeMetricFamily("radiocast_problems", "Current problems, by code and severity.",
                                labels=["code", "severity"])
        counts = {(code, severity): 0 for code in problem_codes() for severity in SEVERITIES}
        for p in self.problems():
            counts[(p.code, p.severity)] = counts.get((p.code, p.severity), 0) + 1
        for (code, severity), n in sorted(counts.items()):
            fam.add_metric([code, severity], n)
        return fam


def registry_for(collector: Collector) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(collector)
    reg.register(metrics.NORMALIZE_SECONDS)
    reg.register(metrics.LOOP_TICK_SECONDS)
    return reg


def serve(listen: str, registry: CollectorRegistry) -> Any | None:
    """Start the HTTP endpoint on `listen` ("127.0.0.1:9464"); None (and a log line) when it
    cannot bind — the hub goes on without it."""
    from prometheus_client import start_http_server

    host, _, port = listen.rpartition(":")
    try:
        server, _thread = start_http_server(int(port), addr=host.strip("[]"),
                                            registry=registry)
    except OSError as exc:
        log.warning("metrics endpoint %s not started: %s", listen, exc)
        return None
    log.info("metrics on http://%s/metrics", listen)
    return server
