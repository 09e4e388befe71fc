"""Read-side views of the database as plain, JSON-ready dicts (CLI lists, status, demo)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from radiocast.db.schema import Airing, Delivery, Programme, Station


def iso(dt: datetime | None, tz: ZoneInfo) -> str | None:
    return dt.astimezone(tz).isoformat() if dt else None


def programme_dict(p: Programme, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": p.id, "title": p.title, "month": p.month, "state": p.state,
        "priority": p.priority, "language": p.language, "revision": p.revision,
        "supersedes_id": p.supersedes_id, "source_name": p.source_name,
        "source_sha256": p.source_sha256, "reason": p.reason, "reason_code": p.reason_code,
        "duration_s": p.duration_s, "input_lufs": p.input_lufs,
        "input_true_peak_dbtp": p.input_true_peak_dbtp, "output_lufs": p.output_lufs,
        "output_true_peak_dbtp": p.output_true_peak_dbtp, "sha256": p.sha256,
        "size": p.size, "slug": p.slug, "output_path": p.output_path,
        "received_at": iso(p.received_at, tz), "ready_at": iso(p.ready_at, tz),
    }


def list_programmes(s: Session, tz: ZoneInfo, month: str | None = None) -> list[dict[str, Any]]:
    q = select(Programme).order_by(Programme.id)
    if month:
        q = q.where(Programme.month == month)
    return [programme_dict(p, tz) for p in s.scalars(q)]


def list_deliveries(s: Session, tz: ZoneInfo, station: str | None = None) -> list[dict[str, Any]]:
    q = select(Delivery).order_by(Delivery.programme_id, Delivery.station_id)
    if station:
        q = q.where(Delivery.station_id == station)
    return [{
        "id": d.id, "programme_id": d.programme_id, "station_id": d.station_id,
        "state": d.state, "attempts": d.attempts, "last_error": d.last_error,
        "bytes_sent": d.bytes_sent, "delivered_at": iso(d.delivered_at, tz),
        "next_attempt_at": iso(d.next_attempt_at, tz),
    } for d in s.scalars(q)]


def airing_dict(a: Airing, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": a.id, "programme_id": a.programme_id, "station_id": a.station_id,
        "month": a.month, "kind": a.kind, "planned_at": iso(a.planned_at, tz),
        "state": a.state, "started_at": iso(a.started_at, tz),
        "finished_at": iso(a.finished_at, tz), "detail": a.detail,
        "replaces_id": a.replaces_id,
    }


def list_airings(s: Session, tz: ZoneInfo, station: str | None = None,
                 month: str | None = None) -> list[dict[str, Any]]:
    q = select(Airing).order_by(Airing.planned_at, Airing.station_id, Airing.id)
    if station:
        q = q.where(Airing.station_id == station)
    if month:
        q = q.where(Airing.month == month)
    return [airing_dict(a, tz) for a in s.scalars(q)]


def list_stations(s: Session, tz: ZoneInfo) -> list[dict[str, Any]]:
    return [{
        "id": st.id, "name": st.name, "valid_from": st.valid_from, "valid_to": st.valid_to,
        "reachable": st.unreachable_since is None and st.consecutive_failures == 0
        if st.last_contact_at or st.last_error else None,
        "last_contact_at": iso(st.last_contact_at, tz), "last_error": st.last_error,
        "consecutive_failures": st.consecutive_failures,
        "unreachable_since": iso(st.unreachable_since, tz), "free_bytes": st.free_bytes,
    } for st in s.scalars(select(Station).order_by(Station.id))]
