"""Did sound come out? For each station, the latest airing its capture spoke about (the last
7 days), and how many it heard silent: `status.problems` makes them `played_silent` (an error:
the report does not count it) or `capture_failing` (a warning: the airing counts on the
player's word). Both clear when a later airing is heard."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from radiocast.core.models import AiringState
from radiocast.db.schema import Airing

WINDOW = timedelta(days=7)


def latest_heard(s: Session, now: datetime) -> list[tuple[Airing, int]]:
    """Per station, its latest airing with capture figures or a capture note, and the number
    of its airings heard silent, within WINDOW."""
    spoke = or_(Airing.heard_silent.is_not(None), Airing.heard_note.is_not(None))
    recent = (Airing.finished_at >= now - WINDOW) & spoke
    latest = select(Airing.station_id, func.max(Airing.finished_at).label("at")) \
        .where(recent).group_by(Airing.station_id).subquery()
    silent = dict(s.execute(select(Airing.station_id, func.count()).where(
        recent, Airing.state == AiringState.SILENT.value).group_by(Airing.station_id)).all())
    rows = s.scalars(select(Airing).join(latest, (Airing.station_id == latest.c.station_id)
                                         & (Airing.finished_at == latest.c.at))
                     .where(spoke).order_by(Airing.station_id, Airing.id.desc()))
    out: dict[str, tuple[Airing, int]] = {}
    for a in rows:
        out.setdefault(a.station_id, (a, silent.get(a.station_id, 0)))
    return list(out.values())
