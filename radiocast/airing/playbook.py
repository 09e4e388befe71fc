"""`playbook.json`: every planned airing of a station, for stations that play by themselves
and for people who look; written at the station through a temporary name and a rename."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select

from radiocast.app import App
from radiocast.core.errors import DeliveryError
from radiocast.core.models import AiringState
from radiocast.db.schema import Airing, Event, Programme, Station
from radiocast.stations.outbox import OutboxLink
from radiocast.stations.transport import StationLink
from radiocast.stations.visit import Visit, link_for

log = logging.getLogger(__name__)


def playbook(app: App, station_id: str, now: datetime) -> bytes:
    """Every planned airing of one station, for playbook-driven stations and for people."""
    tz = app.settings.general.tz
    with app.db.read() as s:
        rows = s.execute(select(Airing, Programme).join(
            Programme, Programme.id == Airing.programme_id).where(
            Airing.station_id == station_id, Airing.state == AiringState.PLANNED.value,
            Airing.planned_at >= now - timedelta(hours=1)).order_by(Airing.planned_at))
        items = [{
            "airing_id": a.id, "start": a.planned_at.astimezone(tz).isoformat(),
            "file": f"{p.slug}.mp3", "sha256": p.sha256,
            "duration_s": round(p.duration_s or 0, 1), "kind": a.kind,
            "priority": p.priority, "title": p.title, "programme": f"{p.month}/{p.title_key}",
        } for a, p in rows]
        # only ever grows; never below the version the station holds (a hub restored from an
        # older backup would otherwise write versions its agent refuses as older)
        held = s.scalar(select(Station.playbook_version).where(Station.id == station_id))
        version = max(int(s.scalar(select(func.max(Event.id))) or 0), held or 0)
    doc = {"format": 1, "station_id": station_id, "version": version,
           "generated_at": now.astimezone(tz).isoformat(),
           "timezone": app.settings.general.timezone,
           # the hub's grace, which the agent keeps: an airing starts this late at the most
           "late_grace_minutes": app.settings.schedule.misfire_grace_minutes, "airings": items}
    return json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")


def publish_playbook(app: App, station_id: str,
                     visit: Visit[StationLink | OutboxLink] | None = None) -> bool:
    st = app.settings.station(station_id)
    data = playbook(app, station_id, app.clock())
    try:
        with link_for(visit, lambda: OutboxLink.of(app.settings, st) if st.pull else
                      StationLink(st, app.settings.delivery)) as link:
            link.write_small("playbook.json", data)
    except DeliveryError as exc:
        log.warning("%s: playbook not written: %s", station_id, exc.detail)
        return False
    return True
