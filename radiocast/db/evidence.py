"""State changes that come from station agents: their proof-of-play events (each stored
exactly once per station, by event_id, then applied to its airing; an event about another
station's airing refused) and their heartbeats. Like `ops`, every
change is a named function that records an event."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from radiocast.core.models import AiringKind, AiringState, DeliveryState
from radiocast.db import chain, ops
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
EARLY_MARGIN = timedelta(minutes=10)
REUSED_MAX = 500
OPEN = {AiringState.PLANNED.value, AiringState.AIRING.value, AiringState.UNCONFIRMED.value}


@dataclass(frozen=True)
class Heard:
    """What a station's capture heard while the airing played, as checked at the hub; `error`
    says why there is no level (the device failed, or the figures were unreadable)."""

    source: str
    lufs: float | None
    silent_fraction: float | None
    seconds: float
    error: str = ""

    def silent(self, silent_max: float) -> bool:
        return not self.error and self.silent_fraction is not None and \
            self.silent_fraction >= silent_max

    def words(self) -> str:
        """For the airing's detail (English, like the station's own)."""
        if self.error:
            return f"no level from {self.source}: {self.error}"
        level = "silence" if self.lufs is None else f"{self.lufs:.1f} LUFS"
        return (f"heard {level} at {self.source}, {100 * (self.silent_fraction or 0):.0f}% of "
                f"{self.seconds:.0f} s silent")


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
    heard: Heard | None = None


def store_event(s: Session, station_id: str, ev: AgentEvent, now: datetime,
                silent_max: float = 0.5) -> str:
    """Store one event of `station_id` and apply it to its airing: "stored". "duplicate" when
    this station's event is already stored (an event counts once however often it is read, also
    when written again under a new seq); "refused" when its airing is not this station's (a
    station never speaks for another), recorded and never stored. An airing the station says
    aired but its capture heard silent (`silent_max` of the seconds) is `silent`."""
    if s.get(AsRunSkip, (station_id, ev.seq)) is not None:
        return "duplicate"  # this very line was handled at an earlier contact
    seq = s.scalar(select(AsRunEvent.seq).where(AsRunEvent.station_id == station_id,
                                                AsRunEvent.event_id == ev.event_id))
    if seq is not None:
        if seq != ev.seq:
            _skip(s, station_id, ev, "the same event again under a new seq", now)
        return "duplicate"
    a = s.get(Airing, ev.airing_id)
    why = _not_its(s, station_id, a, ev)
    if a is None or why:
        _skip(s, station_id, ev, why, now)
        ops.record_event(s, now, "station", station_id, "asrun_rejected",
                         detail=f"event {ev.event_id} (seq {ev.seq}): {why}")
        return "refused"
    row = AsRunEvent(event_id=ev.event_id, station_id=station_id, seq=ev.seq,
                     airing_id=ev.airing_id, status=ev.status, started_at=ev.started_at,
                     finished_at=ev.finished_at, detail=ev.detail,
                     raw=json.dumps(ev.raw, ensure_ascii=False), received_at=now)
    s.add(row)
    s.flush()
    chain.append(s, row)  # the record the report rests on: tamper-evident
    if a.state in OPEN:
        to = OUTCOME[ev.status]
        detail = f"station: {ev.detail}"
        if ev.heard is not None:
            to = _heard(s, a, ev.heard, to, silent_max, now)
            detail = f"{detail}; {ev.heard.words()}"
        if ev.started_at is not None and ev.finished_at is not None:
            ops.confirm_airing(s, a, to, ev.started_at, ev.finished_at, now, detail)
        else:
            ops.finish_airing(s, a, to, now, detail)
    else:
        ops.record_event(s, now, "airing", a.id, "asrun_late", a.state, a.state,
                         f"station said {ev.status} after the airing was {a.state}")
    return "stored"


def _heard(s: Session, a: Airing, heard: Heard, to: AiringState, silent_max: float,
           now: datetime) -> AiringState:
    """Keep what the capture heard on the airing; an aired one heard silent is `silent`
    (not counted, made up), a capture without a level is noted against the station."""
    a.heard_lufs, a.heard_silent = heard.lufs, heard.silent_fraction
    a.heard_note = f"{heard.source}: {heard.error}"[:300] if heard.error else None
    if heard.error:
        ops.record_event(s, now, "station", a.station_id, "capture_failed",
                         detail=f"airing #{a.id}: {heard.words()}"[:1000])
    if to == AiringState.AIRED and heard.silent(silent_max):
        ops.record_event(s, now, "station", a.station_id, "played_silent",
                         detail=f"airing #{a.id}: {heard.words()}"[:1000])
        return AiringState.SILENT
    return to


def _not_its(s: Session, station_id: str, a: Airing | None, ev: AgentEvent) -> str:
    """Why this event cannot be about airing `a` of this station, or ""."""
    if a is None or a.station_id != station_id:
        return f"airing #{ev.airing_id} is not this station's; refused"
    if a.id <= (s.get_one(Station, station_id).airing_id_seen or 0) and \
            _before_planned(s, station_id, a, ev):
        return (f"airing #{ev.airing_id} was planned at the hub after this event happened: an "
                "earlier airing of that number (the hub restored from a backup?); refused")
    return ""


def _before_planned(s: Session, station_id: str, a: Airing, ev: AgentEvent) -> bool:
    """Did the event happen before its airing existed at the hub (by the station's clock, with
    its known offset and a margin)? Then it is about another airing that had the same number
    before the hub was restored from a backup. Asked only of a number the station had used
    when the hub found itself behind it."""
    when = ev.started_at or _scheduled(ev.raw)
    if when is None:
        return False
    offset = s.get_one(Station, station_id).clock_offset_s or 0.0
    return when - timedelta(seconds=offset) < a.created_at - EARLY_MARGIN


def _scheduled(raw: dict[str, Any]) -> datetime | None:
    try:
        at = datetime.fromisoformat(str(raw.get("scheduled_at"))[:64])
    except ValueError:
        return None
    return at if at.utcoffset() is not None else None


def catch_up(s: Session, station_id: str, airing_id_max: int | None, acked_seq: int | None,
             version: int | None, now: datetime) -> bool:
    """A station reports numbers the hub has not reached (its acknowledgement, its playbook's
    version, an airing id): the hub was restored from an older backup. New airings are
    numbered past the ids its agent has used, and its acknowledgement moves to what the hub
    had acknowledged before (those events are gone from the station). True when something
    moved (its playbook is written again). Asked before the heartbeat is recorded."""
    st = s.get_one(Station, station_id)
    highest = int(s.scalar(select(func.max(Airing.id))) or 0)
    behind = [what for what, ahead in (
        (f"acknowledged seq {acked_seq} (the hub's: {st.asrun_acked or 0})",
         acked_seq is not None and acked_seq > (st.asrun_acked or 0)),
        (f"airing id {airing_id_max} (the hub's highest: {highest})",
         airing_id_max is not None and airing_id_max > max(highest, st.airing_id_seen or 0)),
        (f"playbook version {version}", version is not None and version > max(
            int(s.scalar(select(func.max(Event.id))) or 0), st.playbook_version or 0)))
        if ahead]
    if not behind:
        return False
    ops.record_event(s, now, "station", station_id, "hub_behind",
                     detail="the station has seen " + "; ".join(behind) + ": the hub was "
                            "restored from an older backup; numbering moved past the station's")
    if airing_id_max is not None and airing_id_max > (st.airing_id_seen or 0):
        st.airing_id_seen = airing_id_max
    if acked_seq is not None and acked_seq > (st.asrun_acked or 0):
        st.asrun_acked = acked_seq
    return True


def replan_reused(s: Session, station_id: str, airing_ids: list[int], now: datetime) -> int:
    """Planned airings of this station whose ids its agent has already used for another
    airing (it will never play them): cancelled and planned again, same time, new ids."""
    redo = [a for a in s.scalars(select(Airing).where(
        Airing.id.in_(airing_ids[:REUSED_MAX]), Airing.station_id == station_id,
        Airing.state == AiringState.PLANNED.value, Airing.planned_at > now))]
    for a in redo:
        ops.cancel_airing(s, a, now, "the station had used this airing's number already "
                                     "(the hub restored from a backup); planned again")
    for month in sorted({a.month for a in redo}):
        ops.add_airings(s, [(a.programme_id, a.station_id, AiringKind(a.kind), a.planned_at,
                             a.replaces_id) for a in redo if a.month == month], month, now)
    return len(redo)


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
