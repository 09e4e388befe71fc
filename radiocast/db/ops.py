"""Every state change as one named function; each appends to the event log. No other module
assigns to a row's columns: services read rows, decide, and call these."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from radiocast.core.models import (
    AiringKind,
    AiringState,
    Claim,
    DeliveryState,
    Normalized,
    ProgrammeState,
    StationRecord,
)
from radiocast.db import numbering
from radiocast.db.schema import (
    Airing,
    Delivery,
    Event,
    Programme,
    Station,
    priority_rank,
)


def record_event(s: Session, at: datetime, entity: str, entity_id: object, action: str,
                 from_state: str | None = None, to_state: str | None = None,
                 detail: str | None = None) -> None:
    s.add(Event(at=at, entity=entity, entity_id=str(entity_id), action=action,
                from_state=from_state, to_state=to_state, detail=detail,
                epoch=s.info.get("epoch")))  # the leading hub's lease epoch, if any


# ---------------------------------------------------------------- stations


def sync_stations(s: Session, stations: Iterable[StationRecord], now: datetime) -> None:
    """Make the station table match the configuration (rows are never deleted: reports)."""
    existing = {st.id: st for st in s.scalars(select(Station))}
    for cfg in stations:
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


def set_programme_state(s: Session, p: Programme, to: ProgrammeState, now: datetime,
                        detail: str | None = None) -> None:
    record_event(s, now, "programme", p.id, "state", p.state, to.value, detail)
    p.state = to.value
    p.updated_at = now


def claim_programme(s: Session, claim: Claim, now: datetime,
                    resume: Programme | None = None) -> int:
    """Record a freshly hashed file before it moves: the claim the next start can finish.
    `resume`: the row of an interrupted claim, or of a rejected file dropped again."""
    p = resume or Programme(source_sha256=claim.source_sha256, revision=1)
    p.source_name, p.source_size = claim.source_name, claim.source_size
    p.drop_path, p.spool_path = claim.drop_path, claim.spool_path
    p.title, p.title_key, p.month = claim.title, claim.title_key, claim.month
    p.language, p.priority = claim.language, claim.priority
    p.stations = json.dumps(claim.stations) if claim.stations else None
    p.reason_code = p.reason_detail = None
    if resume is not None:
        set_programme_state(s, p, ProgrammeState.RECEIVED, now, "claimed again")
        return p.id
    p.state = ProgrammeState.RECEIVED.value
    p.received_at = now
    p.updated_at = now
    s.add(p)
    s.flush()
    record_event(s, now, "programme", p.id, "claimed", None, p.state, p.source_name)
    return p.id


def record_duplicate(s: Session, sha256: str, name: str, of_id: int, now: datetime) -> None:
    record_event(s, now, "file", sha256[:16], "duplicate", detail=f"{name} = #{of_id}")


def record_spooled(s: Session, p: Programme, spool: str, now: datetime) -> None:
    record_event(s, now, "programme", p.id, "spooled", detail=spool)


def reject_programme(s: Session, p: Programme, now: datetime, code: str, detail: str) -> None:
    """received/normalizing → rejected, with the reason's code and its technical detail."""
    p.reason_code, p.reason_detail = code, detail or None
    set_programme_state(s, p, ProgrammeState.REJECTED, now, f"{code}: {detail}" if detail
                        else code)


def start_normalizing(s: Session, p: Programme, slug: str, now: datetime) -> None:
    p.slug = slug
    set_programme_state(s, p, ProgrammeState.NORMALIZING, now)


def reset_normalizing(s: Session, now: datetime) -> int:
    """At start: a programme left `normalizing` by a dead process goes back to `received`."""
    rows = list(s.scalars(select(Programme).where(
        Programme.state == ProgrammeState.NORMALIZING.value)))
    for p in rows:
        set_programme_state(s, p, ProgrammeState.RECEIVED, now, "interrupted; again")
    return len(rows)


def defer_normalizing(s: Session, p: Programme, now: datetime, error: str,
                      retry_at: datetime) -> None:
    """normalizing → received, to be tried again at `retry_at`: the machine failed (disk full,
    I/O error), not the file."""
    p.attempts += 1
    p.last_error = error
    p.next_attempt_at = retry_at
    set_programme_state(s, p, ProgrammeState.RECEIVED, now, f"retry at {retry_at.isoformat()}: "
                        f"{error}")


def mark_ready(s: Session, p: Programme, made: Normalized, now: datetime) -> None:
    p.duration_s = made.duration_s
    p.input_lufs, p.input_lra = made.input_lufs, made.input_lra
    p.input_true_peak_dbtp = made.input_true_peak_dbtp
    p.output_lufs, p.output_true_peak_dbtp = made.output_lufs, made.output_true_peak_dbtp
    p.output_path, p.sha256, p.size = made.output_path, made.sha256, made.size
    p.ready_at = now
    p.last_error = p.next_attempt_at = None
    set_programme_state(s, p, ProgrammeState.READY, now, f"{made.output_lufs:.1f} LUFS")


def supersede(s: Session, old: Programme, new: Programme, now: datetime,
              at_once: bool = True) -> None:
    """The revision replaces the old programme: deliveries stop, future airings go (not
    `at_once`: it waits for approval, is only numbered, and the old one airs until then)."""
    new.supersedes_id = old.id
    new.revision = old.revision + 1
    if not at_once:
        record_event(s, now, "programme", new.id, "revises", detail=f"#{old.id}")
        return
    set_programme_state(s, old, ProgrammeState.SUPERSEDED, now, f"superseded by #{new.id}")
    for d in s.scalars(select(Delivery).where(
        Delivery.programme_id == old.id,
        Delivery.state.in_([DeliveryState.QUEUED.value, DeliveryState.SENDING.value,
                            DeliveryState.PUBLISHED.value, DeliveryState.FAILED.value]),
    )):
        set_delivery_state(s, d, DeliveryState.CANCELLED, now, f"superseded by #{new.id}")
    for a in s.scalars(select(Airing).where(
        Airing.programme_id == old.id,
        Airing.state == AiringState.PLANNED.value,
        Airing.planned_at > now,
    )):
        cancel_airing(s, a, now, f"superseded by #{new.id}")


def supersede_late(s: Session, late: Programme, newer: Programme, now: datetime) -> None:
    """`late` arrived before `newer` but finished normalizing after it: it is superseded at
    once, goes nowhere and airs nowhere."""
    late.revision = max(1, newer.revision - 1)
    set_programme_state(s, late, ProgrammeState.SUPERSEDED, now,
                        f"superseded by #{newer.id}, which arrived later")


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
    _release_lease(d)
    d.delivered_at = None
    set_delivery_state(s, d, DeliveryState.QUEUED, now, why)


def _release_lease(d: Delivery) -> None:
    d.lease_expires_at = None
    d.lease_owner = None


def claim_deliveries(s: Session, owner: str, now: datetime, lease: timedelta,
                     station_id: str) -> list[Delivery]:
    """Take every due delivery of one station under a lease (one connection, one batch)."""
    rows = list(s.scalars(select(Delivery).join(
        Programme, Programme.id == Delivery.programme_id).where(
        Delivery.station_id == station_id,
        or_(
            and_(Delivery.state == DeliveryState.QUEUED.value,
                 or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)),
            and_(Delivery.state == DeliveryState.SENDING.value,
                 Delivery.lease_expires_at < now),
        ),
    ).order_by(priority_rank(Programme.priority), Delivery.id)))
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


def record_progress(s: Session, delivery_id: int, bytes_sent: int) -> None:
    s.execute(update(Delivery).where(Delivery.id == delivery_id).values(bytes_sent=bytes_sent))


def mark_delivered(s: Session, d: Delivery, now: datetime, owner: str | None = None) -> bool:
    """sending → delivered, only by the lease holder `owner` (None: the caller vouches)."""
    if owner is not None and (d.state != DeliveryState.SENDING.value
                              or d.lease_owner != owner):
        return False
    d.delivered_at = now
    _release_lease(d)
    d.last_error = d.first_failed_at = None
    set_delivery_state(s, d, DeliveryState.DELIVERED, now)
    return True


def mark_delivery_retry(s: Session, d: Delivery, now: datetime, error: str,
                        next_at: datetime) -> None:
    d.next_attempt_at = next_at
    _failed_attempt(s, d, now, error, DeliveryState.QUEUED)


def mark_delivery_failed(s: Session, d: Delivery, now: datetime, error: str) -> None:
    _failed_attempt(s, d, now, error, DeliveryState.FAILED)


def _failed_attempt(s: Session, d: Delivery, now: datetime, error: str,
                    to: DeliveryState) -> None:
    d.last_error = error
    d.first_failed_at = d.first_failed_at or now
    _release_lease(d)
    set_delivery_state(s, d, to, now, error)


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
    aid = add_airings(s, [(programme_id, station_id, kind, planned_at, replaces_id)], month,
                      now)[0]
    return s.get_one(Airing, aid)


def add_airings(s: Session, rows: Sequence[tuple[int, str, AiringKind, datetime, int | None]],
                month: str, now: datetime) -> list[int]:
    """New planned airings (programme, station, kind, time, replaces) and their events, each
    inserted as one batch: a nation's month is thousands of rows. Returns the new ids."""
    if not rows:
        return []
    values: list[dict[str, object]] = [
        {"programme_id": pid, "station_id": sid, "month": month, "kind": kind.value,
         "planned_at": at, "state": AiringState.PLANNED.value, "created_at": now,
         "replaces_id": replaces} for pid, sid, kind, at, replaces in rows]
    floor = numbering.number_past_stations(s, values)
    ids = list(s.scalars(insert(Airing).returning(Airing.id, sort_by_parameter_order=True),
                         values))
    if floor:
        numbering.follow(s, max(ids))
    s.execute(insert(Event), [
        {"at": now, "entity": "airing", "entity_id": str(aid), "action": "planned",
         "from_state": None, "to_state": AiringState.PLANNED.value,
         "detail": f"{kind.value} {sid} {at.isoformat()}"}
        for aid, (_pid, sid, kind, at, _r) in zip(ids, rows, strict=True)])
    return ids


def set_airing_state(s: Session, a: Airing, to: AiringState, now: datetime,
                     detail: str | None = None) -> None:
    record_event(s, now, "airing", a.id, "state", a.state, to.value, detail)
    a.state = to.value
    if detail is not None:
        a.detail = detail


def move_airing(s: Session, a: Airing, at: datetime, now: datetime) -> None:
    record_event(s, now, "airing", a.id, "moved", a.state, a.state,
                 f"{a.planned_at.isoformat()} -> {at.isoformat()}")
    a.planned_at = at


def revise_airing(s: Session, a: Airing, programme_id: int, now: datetime) -> None:
    """A planned airing airs another language version of its programme (same window)."""
    record_event(s, now, "airing", a.id, "version", a.state, a.state,
                 f"#{a.programme_id} -> #{programme_id}")
    a.programme_id = programme_id


def await_confirmation(s: Session, a: Airing, now: datetime, detail: str) -> None:
    """An airing the station plays by itself: `airing` until its as-run record says more."""
    record_event(s, now, "airing", a.id, "awaiting", a.state, a.state, detail)
    a.detail = detail


def confirm_airing(s: Session, a: Airing, to: AiringState, started: datetime,
                   finished: datetime, now: datetime, detail: str) -> None:
    """The station's as-run record says how the airing went, and when."""
    a.started_at = started
    a.finished_at = finished
    set_airing_state(s, a, to, now, detail)


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
