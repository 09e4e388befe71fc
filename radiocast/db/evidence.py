"""State changes that come from station agents: their proof-of-play events (each stored
exactly once per station, by event_id, then applied to its airing; an event about another
station's airing refused) and their heartbeats. Like `ops`, every
change is a named function that records an event."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from radiocast.core.models import AiringState, DeliveryState
from radiocast.db import ops
from radiocast.db.schema import (
    Airing,
    AsRunEvent,
    AsRunSkip,
    Delivery,
    Event,
    Programme,
    Station,
)

# what an agent's status means for the airing at the hub
OUTCOME = {"aired": AiringState.AIRED, "failed": AiringState.FAILED,
           "interrupted": AiringState.INTERRUPTED, "skipped": AiringState.MISSED}
OPEN = {AiringState.PLANNED.value, AiringState.AIRING.value, AiringState.UNCONFIRMED.value}


@dataclass(frozen=True)
class AgentEvent:
    event_id: str
    seq: int
    airing_id: int
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    detail: str
    raw: dict[str, Any]


def store_event(s: Session, station_id: str, ev: AgentEvent, now: datetime) -> str:
    """Store one event of `station_id` and apply it to its airing: "stored". "duplicate" when
    this station's event is already stored (an event counts once however often it is read, also
    when written again under a new seq); "refused" when its airing is not this station's (a
    station never speaks for another), recorded and never stored."""
    if s.get(AsRunSkip, (station_id, ev.seq)) is not None:
        return "duplicate"  # this very line was handled at an earlier contact
    seq = s.scalar(select(AsRunEvent.seq).where(AsRunEvent.station_id == station_id,
                                                AsRunEvent.event_id == ev.event_id))
    if seq is not None:
        if seq != ev.seq:
            _skip(s, station_id, ev, "the same event again under a new seq", now)
        return "duplicate"
    a = s.get(Airing, ev.airing_id)
    if a is None or a.station_id != station_id:
        why = f"airing #{ev.airing_id} is not this station's; refused"
        _skip(s, station_id, ev, why, now)
        ops.record_event(s, now, "station", station_id, "asrun_rejected",
                         detail=f"event {ev.event_id} (seq {ev.seq}): {why}")
        return "refused"
    s.add(AsRunEvent(event_id=ev.event_id, station_id=station_id, seq=ev.seq,
                     airing_id=ev.airing_id, status=ev.status, started_at=ev.started_at,
                     finished_at=ev.finished_at, detail=ev.detail,
                     raw=json.dumps(ev.raw, ensure_ascii=False), received_at=now))
    if a.state in OPEN:
        to = OUTCOME[ev.status]
        detail = f"station: {ev.detail}"
        if ev.started_at is not None and ev.finished_at is not None:
            ops.confirm_airing(s, a, to, ev.started_at, ev.finished_at, now, detail)
        else:
            ops.finish_airing(s, a, to, now, detail)
    else:
        ops.record_event(s, now, "airing", a.id, "asrun_late", a.state, a.state,
                         f"station said {ev.status} after the airing was {a.state}")
    return "stored"


def _skip(s: Session, station_id: str, ev: AgentEvent, reason: str, now: datetime) -> None:
    s.add(AsRunSkip(station_id=station_id, seq=ev.seq, event_id=ev.event_id,
                    reason=reason[:300], received_at=now))
    s.flush()


def record_rejected_lines(s: Session, station_id: str, details: list[str],
                          now: datetime) -> list[str]:
    """Notes on unreadable lines a station wrote, each recorded once however often it is read
    again. Returns the ones new this time."""
    new = []
    for detail in dict.fromkeys(details):
        if s.scalar(select(Event.id).where(
                Event.entity == "station", Event.entity_id == station_id,
                Event.action == "asrun_rejected", Event.detail == detail).limit(1)) is None:
            ops.record_event(s, now, "station", station_id, "asrun_rejected", detail=detail)
            new.append(detail)
    return new


def acknowledge(s: Session, station_id: str, now: datetime) -> int:
    """The highest seq such that every seq up to it is handled (stored, or skipped as a
    duplicate or a refusal): what the agent may delete."""
    st = s.get_one(Station, station_id)
    acked = st.asrun_acked or 0
    seqs = set(s.scalars(select(AsRunEvent.seq).where(AsRunEvent.station_id == station_id,
                                                      AsRunEvent.seq > acked)))
    seqs |= set(s.scalars(select(AsRunSkip.seq).where(AsRunSkip.station_id == station_id,
                                                      AsRunSkip.seq > acked)))
    while acked + 1 in seqs:
        acked += 1
    if acked != (st.asrun_acked or 0):
        st.asrun_acked = acked
        ops.record_event(s, now, "station", station_id, "asrun_acked", detail=str(acked))
    return acked


def record_heartbeat(s: Session, station_id: str, now: datetime, free_bytes: int | None,
                     clock_offset_s: float | None, agent_version: str,
                     playbook_version: int | None, error: str) -> None:
    st = s.get_one(Station, station_id)
    skewed_before = st.clock_offset_s is not None and abs(st.clock_offset_s) > 120
    skewed_now = clock_offset_s is not None and abs(clock_offset_s) > 120
    if skewed_before != skewed_now:
        ops.record_event(s, now, "station", station_id,
                         "clock_skew" if skewed_now else "clock_ok", detail=f"{clock_offset_s}")
    st.heartbeat_at = now
    st.clock_offset_s = clock_offset_s
    st.agent_version = agent_version[:40]
    st.playbook_version = playbook_version
    st.agent_error = error[:500] or None
    if free_bytes is not None:
        st.free_bytes = free_bytes


def mark_unconfirmed(s: Session, airing: Airing, now: datetime) -> None:
    """An agent station's airing whose time is past and about which the station has said
    nothing yet: unconfirmed, never missed — its event may still come."""
    ops.set_airing_state(s, airing, AiringState.UNCONFIRMED, now,
                         "no word from the station yet")


def stored_count(s: Session, station_id: str) -> int:
    return int(s.scalar(select(func.count()).select_from(AsRunEvent).where(
        AsRunEvent.station_id == station_id)) or 0)


def mark_published(s: Session, d: Delivery, now: datetime, owner: str | None = None) -> bool:
    """sending → published: the file is in a pull station's outbox (by the lease holder)."""
    if owner is not None and (d.state != DeliveryState.SENDING.value
                              or d.lease_owner != owner):
        return False
    d.lease_expires_at = None
    d.lease_owner = None
    d.last_error = d.first_failed_at = None
    ops.set_delivery_state(s, d, DeliveryState.PUBLISHED, now)
    return True


def confirm_pulled(s: Session, station_id: str, held: dict[str, str], seen_at: datetime) -> int:
    """published → delivered for every file the station reports holding with the right
    sha256 (its status.json). Returns how many."""
    n = 0
    for d, slug, sha in s.execute(select(Delivery, Programme.slug, Programme.sha256).join(
            Programme, Programme.id == Delivery.programme_id).where(
            Delivery.station_id == station_id,
            Delivery.state == DeliveryState.PUBLISHED.value)):
        if sha and held.get(f"{slug}.mp3") == sha:
            d.delivered_at = seen_at
            ops.set_delivery_state(s, d, DeliveryState.DELIVERED, seen_at,
                                   "the station holds it (its status.json)")
            n += 1
    return n
