"""What a problem is, and what every finder of `status.problems` looks with: the app (a
`radiocast.app.App`, not imported here: this module sits low in the house), a read session,
now, the zone, this month and the language."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from radiocast.core.humane import when
from radiocast.core.i18n import t
from radiocast.db.views import iso


@dataclass(frozen=True)
class Problem:
    """One thing that needs a person. `message` and `action` are in the language asked for;
    `params` are the figures they were made from (for scripts and alerts)."""

    severity: str  # "error" | "warning"
    code: str
    message: str
    since: str | None
    action: str
    subject: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.code}:{self.subject}"


@dataclass(frozen=True)
class Look:
    """What every finder needs: the app, a read session, now, the zone and this month."""

    app: Any
    s: Session
    now: datetime
    tz: ZoneInfo
    month: str
    lang: str

    def problem(self, severity: str, code: str, since: datetime | str | None, subject: str,
                variant: tuple[str, str] = ("message", "action"), **params: Any) -> Problem:
        """A problem whose words come from the catalogue (`problem.<code>.<variant>`)."""
        return Problem(severity, code, t(f"problem.{code}.{variant[0]}", self.lang, **params),
                       since if isinstance(since, str | None) else iso(since, self.tz),
                       t(f"problem.{code}.{variant[1]}", self.lang, **params), subject,
                       dict(params))

    def at(self, dt: datetime) -> str:
        return when(dt, self.tz)
