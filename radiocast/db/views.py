"""Read-side queries: JSON-ready dicts for the CLI, status and demo, and the lookups services
need before they call `ops`. Nothing here writes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from radiocast.core.languages import Languages
from radiocast.core.models import AiringKind, AiringState, DeliveryState, Priority, ProgrammeState
from radiocast.core.receipts import reason_text
from radiocast.db.schema import (
    Airing,
    ApprovalDecision,
    Delivery,
    Event,
    Programme,
    Shortfall,
    Station,
    priority_rank,
)


def iso(dt: datetime | None, tz: ZoneInfo) -> str | None:
    return dt.astimezone(tz).isoformat() if dt else None


def render_reason(code: str | None, detail: str | None, lang: str = "vi") -> str | None:
    """The one line shown for a rejection: what is wrong, in `lang`, and the detail."""
    if code is None:
        return None
    text = reason_text(code, lang)
    return f"{text} ({detail})" if detail else text


def programme_dict(p: Programme, tz: ZoneInfo, lang: str = "vi",
                   languages: Languages | None = None) -> dict[str, Any]:
    """`language` is the code; `language_name` the name staff know it by."""
    return {
        "id": p.id, "title": p.title, "month": p.month, "state": p.state,
        "priority": p.priority, "language": p.language,
        "language_name": (languages or Languages()).name(p.language), "revision": p.revision,
        "supersedes_id": p.supersedes_id, "source_name": p.source_name,
        "source_sha256": p.source_sha256,
        "reason": render_reason(p.reason_code, p.reason_detail, lang),
        "reason_code": p.reason_code, "reason_detail": p.reason_detail,
        "duration_s": p.duration_s, "input_lufs": p.input_lufs,
        "input_true_peak_dbtp": p.input_true_peak_dbtp, "output_lufs": p.output_lufs,
        "output_true_peak_dbtp": p.output_true_peak_dbtp, "sha256": p.sha256,
        "size": p.size, "slug": p.slug, "output_path": p.output_path,
        "received_at": iso(p.received_at, tz), "ready_at": iso(p.ready_at, tz),
    }


def list_programmes(s: Session, tz: ZoneInfo, month: str | None = None, lang: str = "vi",
                    languages: Languages | None = None,
                    since: str | None = None) -> list[dict[str, Any]]:
    """`month`: that month's; `since`: that month's and later (what `status` shows)."""
    q = select(Programme).order_by(Programme.id)
    if month:
        q = q.where(Programme.month == month)
    if since:
        q = q.where(Programme.month >= since)
    progs = list(s.scalars(q))
    decisions: dict[int, ApprovalDecision] = {}  # each programme's latest (not per station)
    for d in s.scalars(select(ApprovalDecision).where(
            ApprovalDecision.station_id.is_(None)).order_by(ApprovalDecision.id)):
        decisions[d.programme_id] = d
    return [{**programme_dict(p, tz, lang, languages),
             "approval": approval_dict(p, decisions.get(p.id), tz)} for p in progs]


def approval_dict(p: Programme, d: ApprovalDecision | None, tz: ZoneInfo) -> dict[str, Any]:
    """Where the programme stands with its approvers, and the decision it rests on."""
    return {"state": p.approval, "by": d.approver_id if d else None,
            "by_name": d.approver_name if d else None,
            "by_title": d.approver_title if d else None, "at": iso(d.at, tz) if d else None,
            "comment": d.comment if d else None, "sha256": d.sha256 if d else None}


def list_deliveries(s: Session, tz: ZoneInfo, station: str | None = None,
                    since: str | None = None) -> list[dict[str, Any]]:
    """`since`: only those of programmes of that month and later."""
    # columns, not ORM objects: a nation's month is tens of thousands of rows
    q = select(Delivery.id, Delivery.programme_id, Delivery.station_id, Delivery.state,
               Delivery.attempts, Delivery.last_error, Delivery.bytes_sent,
               Delivery.delivered_at, Delivery.next_attempt_at).order_by(
        Delivery.programme_id, Delivery.station_id)
    if station:
        q = q.where(Delivery.station_id == station)
    if since:
        q = q.where(Delivery.programme_id.in_(select(Programme.id).where(
            Programme.month >= since)))
    return [{
        "id": d.id, "programme_id": d.programme_id, "station_id": d.station_id,
        "state": d.state, "attempts": d.attempts, "last_error": d.last_error,
        "bytes_sent": d.bytes_sent, "delivered_at": iso(d.delivered_at, tz),
        "next_attempt_at": iso(d.next_attempt_at, tz),
    } for d in s.execute(q)]


def evidence_of(a: Airing) -> str:
    """What an airing's outcome rests on: the sound the station's capture heard at its output,
    the station agent's own event, the player's exit status read back from the station, the
    station's as-run file — or nothing yet."""
    detail = a.detail or ""
    if a.state in (AiringState.PLANNED.value, AiringState.CANCELLED.value):
        return "none"
    if a.state == AiringState.UNCONFIRMED.value:
        return "unconfirmed"
    if a.state == AiringState.SILENT.value:
        return "output silent"  # the station's capture heard silence while it played
    if a.state == AiringState.AIRED.value and a.heard_silent is not None and not a.heard_note:
        return "heard"  # the station's capture heard it at the output
    if detail.startswith("station: "):
        return "station-confirmed"
    if detail.startswith("as-run: "):
        return "as-run file"
    if detail.startswith("exit ") or a.state == AiringState.INTERRUPTED.value:
        return "exit status"
    return "hub"


def airing_dict(a: Airing, tz: ZoneInfo) -> dict[str, Any]:
    return {"evidence": evidence_of(a),
        "id": a.id, "programme_id": a.programme_id, "station_id": a.station_id,
        "month": a.month, "kind": a.kind, "planned_at": iso(a.planned_at, tz),
        "state": a.state, "started_at": iso(a.started_at, tz),
        "finished_at": iso(a.finished_at, tz), "detail": a.detail,
        "replaces_id": a.replaces_id,
        "heard": None if a.heard_silent is None and a.heard_note is None else {
            "lufs": a.heard_lufs, "silent_fraction": a.heard_silent, "note": a.heard_note},
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
        "heartbeat_at": iso(st.heartbeat_at, tz), "clock_offset_s": st.clock_offset_s,
        "agent_version": st.agent_version, "playbook_version": st.playbook_version,
    } for st in s.scalars(select(Station).order_by(Station.id))]


def programme_stations(p: Programme) -> list[str] | None:
    return json.loads(p.stations) if p.stations else None


def due_station_ids(s: Session, now: datetime) -> list[str]:
    """Stations with deliveries due now; those waiting for an emergency programme first."""
    rank = func.min(priority_rank(Programme.priority))
    return list(s.scalars(select(Delivery.station_id).join(
        Programme, Programme.id == Delivery.programme_id).where(or_(
            and_(Delivery.state == DeliveryState.QUEUED.value,
                 or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)),
            and_(Delivery.state == DeliveryState.SENDING.value,
                 Delivery.lease_expires_at < now),
        )).group_by(Delivery.station_id).order_by(rank, Delivery.station_id)))


def stations_awaiting_outcome(s: Session) -> list[str]:
    """Stations with airings started and not yet confirmed."""
    return list(s.scalars(select(Airing.station_id).where(
        Airing.state == AiringState.AIRING.value).distinct()))


def awaiting_approval(s: Session) -> list[tuple[Programme, datetime]]:
    """Programmes waiting for approval, and since when, the longest-waiting first."""
    out = []
    for p in s.scalars(select(Programme).where(
            Programme.approval == "awaiting", Programme.state == ProgrammeState.READY.value)):
        since = s.scalar(select(func.max(Event.at)).where(
            Event.entity == "programme", Event.entity_id == str(p.id),
            Event.action == "approval", Event.to_state == "awaiting"))
        out.append((p, since or p.ready_at or p.updated_at))
    return sorted(out, key=lambda x: x[1])


def stations_to_prune(s: Session) -> list[str]:
    """Stations that may still hold a file nothing needs any more (its delivery cancelled:
    a declined or refused programme): their inventory removes it."""
    return list(s.scalars(select(Delivery.station_id).where(
        Delivery.state == DeliveryState.CANCELLED.value,
        Delivery.delivered_at.is_not(None)).distinct()))


def stations_with_planned_airings(s: Session) -> list[str]:
    return list(s.scalars(select(Airing.station_id).where(
        Airing.state == AiringState.PLANNED.value).distinct()))


def current_programme_for(s: Session, month: str, title_key: str, exclude_id: int,
                          language: str = "vi") -> Programme | None:
    """The ready programme of this month, title and language that arrived before
    `exclude_id`: the one a newly ready file replaces (a version replaces only its own
    language's earlier file)."""
    return s.scalars(
        select(Programme)
        .where(
            Programme.month == month,
            Programme.title_key == title_key,
            Programme.language == language,
            Programme.id < exclude_id,
            Programme.state == ProgrammeState.READY.value,
        )
        .order_by(Programme.id.desc())
    ).first()


def newer_revision(s: Session, p: Programme) -> Programme | None:
    """A file of the same month and title that arrived after `p` and is already ready (it
    finished normalizing first): `p` is out of date the moment it is ready."""
    return s.scalars(select(Programme).where(
        Programme.month == p.month, Programme.title_key == p.title_key,
        Programme.language == p.language, Programme.id > p.id,
        Programme.state.in_([ProgrammeState.READY.value, ProgrammeState.SUPERSEDED.value]))
        .order_by(Programme.id.desc())).first()



def month_progress(s: Session, month: str, stations: list[str], replays: int,
                   each_version: bool) -> dict[str, tuple[int, int]]:
    """This month so far, per station: (airings that count, airings the rule needs).

    The rule is 1 premiere + `replays` per station, counted over a programme's versions; with
    `each_version` ([schedule] versions = "each") every language version the station was sent
    needs its own, and a version's airings beyond its own count do not make up for another's.
    Emergencies never count."""
    need = replays + 1
    aired: dict[tuple[str, str], int] = {}
    for sid, language, n in s.execute(
            select(Airing.station_id, Programme.language, func.count())
            .join(Programme, Programme.id == Airing.programme_id)
            .where(Airing.month == month, Airing.state == AiringState.AIRED.value,
                   Airing.kind != AiringKind.EMERGENCY.value)
            .group_by(Airing.station_id, Programme.language)):
        aired[(sid, language if each_version else "")] = \
            aired.get((sid, language if each_version else ""), 0) + n
    sent: dict[str, set[str]] = {}
    if each_version:
        for sid, language in s.execute(
                select(Delivery.station_id, Programme.language).distinct()
                .join(Programme, Programme.id == Delivery.programme_id)
                .where(Programme.month == month,
                       Programme.priority != Priority.EMERGENCY.value,
                       Delivery.state != DeliveryState.CANCELLED.value)):
            sent.setdefault(sid, set()).add(language)
    out: dict[str, tuple[int, int]] = {}
    for sid in stations:
        versions = (sent.get(sid, set()) | {lang for (st, lang) in aired if st == sid}) \
            if each_version else {""}
        versions = versions or {""}
        out[sid] = (sum(min(aired.get((sid, v), 0), need) for v in versions),
                    need * len(versions))
    return out


def upcoming_airings(s: Session, tz: ZoneInfo, now: datetime,
                     limit: int = 20) -> list[dict[str, Any]]:
    """The next planned airings, soonest first (filtered and limited in SQL)."""
    q = (select(Airing).where(Airing.state == AiringState.PLANNED.value,
                              Airing.planned_at >= now)
         .order_by(Airing.planned_at, Airing.station_id, Airing.id).limit(limit))
    return [airing_dict(a, tz) for a in s.scalars(q)]


def shortfalls(s: Session, month: str) -> list[Shortfall]:
    """What the planner last recorded it cannot fit in `month`."""
    return list(s.scalars(select(Shortfall).where(Shortfall.month == month)
                          .order_by(Shortfall.station_id, Shortfall.programme_id)))
