"""`[[alerts]]`, `[metrics]` and `[heartbeat]`: who is told about problems, and how the hub
is watched from outside (docs/operations.md, "Alerts and metrics")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time


@dataclass(frozen=True)
class AlertChannel:
    """One destination (an apprise URL: Telegram, e-mail, a JSON webhook, ntfy, …)."""

    name: str
    url: str
    min_severity: str = "warning"  # "warning" (everything) or "error"
    quiet_hours: tuple[time, time] | None = None  # (from, to) local; may wrap midnight
    language: str = ""  # blank: radiocast.language
    stations: tuple[str, ...] | None = None  # only problems of these stations (and none else)
    settle_minutes: int = 10  # a problem that clears sooner is never told
    remind_hours: int = 24  # told again while it lasts
    digest_at: time | None = None  # a daily digest at this local time

    def quiet_at(self, local: time) -> bool:
        if self.quiet_hours is None:
            return False
        start, end = self.quiet_hours
        return start <= local < end if start < end else (local >= start or local < end)


@dataclass(frozen=True)
class WatchSettings:
    metrics_listen: str = "127.0.0.1:9464"  # "" turns the endpoint off
    heartbeat_url: str = ""  # healthchecks.io style: /start, the URL itself, /fail
    heartbeat_seconds: int = 60  # at most one success ping this often
