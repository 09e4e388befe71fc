"""The planner's findings kept as state: a station where a programme's airings cannot all fit
this month (a shortfall), from when it starts until it clears. Like `ops`, every change is a
named function that records an event; `status` reads these rows instead of re-planning."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from radiocast.db.ops import record_event
from radiocast.db.schema import Shortfall


def record_shortfalls(s: Session, month: str, found: dict[tuple[str, int], int],
                      now: datetime) -> None:
    """Keep the month's shortfall rows equal to what the planner found ((station, programme)
    → airings that do not fit); an event when one starts, changes or clears."""
    rows = {(r.station_id, r.programme_id): r
            for r in s.scalars(select(Shortfall).where(Shortfall.month == month))}
    for (sid, pid), missing in found.items():
        row = rows.get((sid, pid))
        if row is not None and row.missing == missing:
            continue
        detail = f"{month} programme #{pid}: {missing} airing(s) cannot fit"
        record_event(s, now, "station", sid, "shortfall", detail=detail)
        if row is None:
            s.add(Shortfall(station_id=sid, programme_id=pid, month=month, missing=missing,
                            since=now))
        else:
            row.missing = missing
    for (sid, pid), row in rows.items():
        if (sid, pid) not in found:
            record_event(s, now, "station", sid, "shortfall_cleared",
                         detail=f"{month} programme #{pid}")
            s.delete(row)
