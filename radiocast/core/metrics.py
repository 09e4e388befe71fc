"""The in-process instruments (timings); the database-backed metrics are read at each scrape
by `alerting.exporter`. Their own registry: a process may run several apps (tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

INSTRUMENTS = CollectorRegistry(auto_describe=True)
NORMALIZE_SECONDS = Histogram(
    "radiocast_normalize_seconds", "Time to normalize one programme (decode, measure, "
    "limit, encode, verify).", buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
    registry=INSTRUMENTS)
LOOP_TICK_SECONDS = Histogram(
    "radiocast_loop_tick_seconds", "Time of one pass of the daemon loop (every step).",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=INSTRUMENTS)
