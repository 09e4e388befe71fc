"""Every state transition as one named function; each appends to the event log."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from radiocast.config import Settings
from radiocast.db.schema import Airing, Delivery, Event, Programme, Station
from radiocast.models import AiringKind, AiringState, DeliveryState, ProgrammeState


def record_event(
    s: Session,
    at: datetime,
    entity: str,
    entity_id: object,
    action: str,
    from_state: str | None = None,
    to_state: str | None = None,
    detail: str | None = None,
) -> None:
    s.add(
        Event(
            at=at,
            entity=entity,
            entity_id=str(entity_id),
            action=action,
            from_state=from_state,
            to_state=to_state,
            detail=detail,
        )
    )


# ---------------------------------------------------------------- stations


def sync_stations(s: Session, settings: Settings, now: datetime) -> None:
    """Make the station table match the configuration (rows are never deleted: reports)."""
    existing = {st.id: st for st in s.scalars(select(Station))}
    for cfg in settings.stations:
        vf = cfg.valid_from.isoformat() if cfg.valid_from else None
        vt = cfg.valid_to.isoformat() if cfg.valid_to else None
        row = existing.get(cfg.id)
        if row is None:
            s.add(Station(id=cfg.id, name=cfg.name, valid_from=vf, valid_to=vt,
                          consecutive_failures=0))
            record_event(s, now, "station", cfg.id, "added", detail=cfg.name)
        elif (row.name, row.valid_from, row.valid_to) != (cfg.name, vf, vt):
            row.name, row.valid_from, row.valid_to = cfg.name, vf, vt
            record_event(s, now, "station", cfg.id, "updated", detail=cfg.name)


def record_contact(s: Session, station_id: str, now: datetime, free_bytes: int | None) -> None:
    st = s.get(Station, station_id)
    if st is None:
        return
    if st.unreachable_since is not None or st.consecutive_failures:
        record_event(s, now, "station", station_id, "reachable")
    st.last_contact_at = now
    st.consecutive_failures = 0
    st.unreachable_since = None
    if free_bytes is not None:
        st.free_bytes = free_bytes


def record_station_error(s: Session, station_id: str, now: datetime, error: str,
                         unreachable: bool) -> None:
    st = s.get(Station, station_id)
    if st is None:
        return
    st.last_error = error
    st.last_error_at = now
    st.consecutive_failures += 1
    if unreachable and st.unreachable_since is None:
        st.unreachable_since = now
        record_event(s, now, "station", station_id, "unreachable", detail=error)


# ---------------------------------------------------------------- programmes


def set_programme_state(
    s: Session, p: Programme, to: ProgrammeState, now: datetime, detail: str | None = None
) -> None:
    record_event(s, now, "programme", p.id, "state", p.state, to.value, detail)
    p.state = to.value
    p.updated_at = now


def claim_programme(s: Session, p: Programme, now: datetime) -> Programme:
    """Record a freshly hashed file before it moves: the claim the next start can finish."""
    p.state = ProgrammeState.RECEIVED.value
    p.received_at = now
    p.updated_at = now
    s.add(p)
    s.flush()
    record_event(s, now, "programme", p.id, "claimed", None, p.state, p.source_name)
    return p


def reject_programme(s: Session, p: Programme, now: datetime, code: str, reason: str) -> None:
    p.reason_code = code
    p.reason = reason
    set_programme_state(s, p, ProgrammeState.REJECTED, now, reason)


def current_programme_for(s: Session, month: str, title_key: str,
                          exclude_id: int) -> Programme | None:
    """The programme a new file of the same month and title would replace."""
    return s.scalars(
        select(Programme)
        .where(
            Programme.month == month,
            Programme.title_key == title_key,
            Programme.id != exclude_id,
            Programme.state.in_([ProgrammeState.READY.value]),
        )
        .order_by(Programme.id.desc())
    ).first()


def supersede(s: Session, old: Programme, new: Programme, now: datetime) -> None:
    """The revision replaces the old programme: deliveries stop, future airings go."""
    new.supersedes_id = old.id
    set_programme_state(s, old, ProgrammeState.SUPERSEDED, now, f"superseded by #{new.id}")
    for d in s.scalars(select(Delivery).where(
        Delivery.programme_id == old.id,
        Delivery.state.in_([DeliveryState.QUEUED.value, DeliveryState.SENDING.value,
                            DeliveryState.FAILED.value]),
    )):
        set_delivery_state(s, d, DeliveryState.CANCELLED, now, f"superseded by #{new.id}")
    for a in s.scalars(select(Airing).where(
        Airing.programme_id == old.id,
        Airing.state == AiringState.PLANNED.value,
        Airing.planned_at > now,
    )):
        cancel_airing(s, a, now, f"superseded by #{new.id}")


def programme_stations(p: Programme) -> list[str] | None:
    return json.loads(p.stations) if p.stations else None


# ---------------------------------------------------------------- deliveries


def set_delivery_state(
    s: Session, d: Delivery, to: DeliveryState, now: datetime, detail: str | None = None
) -> None:
    record_event(s, now, "delivery", d.id, "state", d.state, to.value, detail)
    d.state = to.value
    d.updated_at = now


def enqueue_deliveries(s: Session, programme: Programme, station_ids: Iterable[str],
                       now: datetime) -> int:
    have = set(s.scalars(select(Delivery.station_id).where(
        Delivery.programme_id == programme.id)))
    n = 0
    for sid in station_ids:
        if sid in have:
            continue
        d = Delivery(programme_id=programme.id, station_id=sid,
                     state=DeliveryState.QUEUED.value, attempts=0, bytes_sent=0,
                     next_attempt_at=now, created_at=now, updated_at=now)
        s.add(d)
        s.flush()
        record_event(s, now, "delivery", d.id, "queued", None, d.state, sid)
        n += 1
    return n


def requeue_delivery(s: Session, d: Delivery, now: datetime, why: str) -> None:
    """A delivered file is missing or wrong at the station: send it again."""
    d.next_attempt_at = now
    d.lease_expires_at = None
    d.lease_owner = None
    d.delivered_at = None
    set_delivery_state(s, d, DeliveryState.QUEUED, now, why)


def claim_deliveries(s: Session, owner: str, now: datetime, lease: timedelta,
                     station_id: str) -> list[Delivery]:
    """Take every due delivery of one station under a lease (one connection, one batch)."""
    rows = list(s.scalars(select(Delivery).where(
        Delivery.station_id == station_id,
        or_(
            and_(Delivery.state == DeliveryState.QUEUED.value,
                 or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)),
            and_(Delivery.state == DeliveryState.SENDING.value,
                 Delivery.lease_expires_at < now),
        ),
    ).order_by(Delivery.id)))
    for d in rows:
        if d.state == DeliveryState.SENDING.value:
            record_event(s, now, "delivery", d.id, "lease_expired", d.state, d.state,
                         d.lease_owner)
        else:
            set_delivery_state(s, d, DeliveryState.SENDING, now)
        d.attempts += 1
        d.lease_owner = owner
        d.lease_expires_at = now + lease
    return rows


def due_station_ids(s: Session, now: datetime) -> list[str]:
    return sorted(set(s.scalars(select(Delivery.station_id).where(or_(
        and_(Delivery.state == DeliveryState.QUEUED.value,
             or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)),
        and_(Delivery.state == DeliveryState.SENDING.value, Delivery.lease_expires_at < now),
    )))))


def record_progress(s: Session, delivery_id: int, bytes_sent: int) -> None:
    s.execute(update(Delivery).where(Delivery.id == delivery_id).values(bytes_sent=bytes_sent))


def mark_delivered(s: Session, d: Delivery, now: datetime) -> None:
    d.delivered_at = now
    d.lease_expires_at = None
    d.lease_owner = None
    d.last_error = None
    d.first_failed_at = None
    set_delivery_state(s, d, DeliveryState.DELIVERED, now)


def mark_delivery_retry(s: Session, d: Delivery, now: datetime, error: str,
                        next_at: datetime) -> None:
    d.last_error = error
    d.first_failed_at = d.first_failed_at or now
    d.next_attempt_at = next_at
    d.lease_expires_at = None
    d.lease_owner = None
    set_delivery_state(s, d, DeliveryState.QUEUED, now, error)


def mark_delivery_failed(s: Session, d: Delivery, now: datetime, error: str) -> None:
    d.last_error = error
    d.first_failed_at = d.first_failed_at or now
    d.lease_expires_at = None
    d.lease_owner = None
    set_delivery_state(s, d, DeliveryState.FAILED, now, error)


def retry_failed(s: Session, now: datetime, station_id: str | None) -> int:
    q = select(Delivery).where(Delivery.state == DeliveryState.FAILED.value)
    if station_id:
        q = q.where(Delivery.station_id == station_id)
    rows = list(s.scalars(q))
    for d in rows:
        d.next_attempt_at = now
        set_delivery_state(s, d, DeliveryState.QUEUED, now, "retry requested by operator")
    return len(rows)


# ---------------------------------------------------------------- airings


def add_airing(s: Session, programme_id: int, station_id: str, month: str, kind: AiringKind,
               planned_at: datetime, now: datetime, replaces_id: int | None = None) -> Airing:
    a = Airing(programme_id=programme_id, station_id=station_id, month=month, kind=kind.value,
               planned_at=planned_at, state=AiringState.PLANNED.value, created_at=now,
               replaces_id=replaces_id)
    s.add(a)
    s.flush()
    record_event(s, now, "airing", a.id, "planned", None, a.state,
                 f"{kind.value} {station_id} {planned_at.isoformat()}")
    return a


def set_airing_state(s: Session, a: Airing, to: AiringState, now: datetime,
                     detail: str | None = None) -> None:
    record_event(s, now, "airing", a.id, "state", a.state, to.value, detail)
    a.state = to.value
    if detail is not None:
        a.detail = detail


def cancel_airing(s: Session, a: Airing, now: datetime, why: str) -> None:
    set_airing_state(s, a, AiringState.CANCELLED, now, why)


def start_airing(s: Session, airing_id: int, now: datetime) -> bool:
    """planned → airing, at most once ever: a conditional update decides the race."""
    res = s.execute(update(Airing).where(
        Airing.id == airing_id, Airing.state == AiringState.PLANNED.value
    ).values(state=AiringState.AIRING.value, started_at=now))
    if res.rowcount != 1:  # type: ignore[attr-defined]
        return False
    record_event(s, now, "airing", airing_id, "state", AiringState.PLANNED.value,
                 AiringState.AIRING.value)
    return True


def finish_airing(s: Session, a: Airing, to: AiringState, now: datetime, detail: str) -> None:
    a.finished_at = now
    set_airing_state(s, a, to, now, detail)


def interrupted_airings(s: Session) -> Sequence[Airing]:
    return s.scalars(select(Airing).where(Airing.state == AiringState.AIRING.value)).all()
