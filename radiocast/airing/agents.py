"""Agent stations at the hub (`playout = "agent"`): the agent plays by itself; at each contact
the hub reads its heartbeat (`status.json`: free disk, clock, files) and the proof-of-play
segments under `asrun/` it has not acknowledged, stores each event once, applies it, and writes
`asrun.ack` (the highest seq below which everything is stored). A station offline for weeks
delivers its whole backlog at the next contact; an airing it has not reported is
`unconfirmed`, never missed."""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from radiocast.airing.lines import parse_lines
from radiocast.app import App
from radiocast.config.settings import StationSettings
from radiocast.core.errors import DeliveryError
from radiocast.core.models import AiringState, DeliveryState
from radiocast.db import evidence, ops
from radiocast.db.schema import Airing, Delivery, Programme
from radiocast.stations.inbox import SEGMENT_MAX, STATUS_MAX, sweep_inbox
from radiocast.stations.outbox import OutboxLink
from radiocast.stations.transport import StationLink
from radiocast.stations.visit import Visit, link_for

Link = StationLink | OutboxLink

log = logging.getLogger(__name__)
STATUS_FILE = "status.json"
ACK_FILE = "asrun.ack"
ASRUN_DIR = "asrun"
SEGMENT_RE = re.compile(r"^[0-9A-Za-z._-]{1,64}\.jsonl$")
STATUS_LIMIT = STATUS_MAX
SEGMENT_LIMIT = SEGMENT_MAX
SKEW_SECONDS = 120
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HELD_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,150}\.mp3$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")
UNCONFIRMED_AFTER = timedelta(minutes=20)  # past the airing's end (the agent's grace is 15)
# what one contact may cost the hub, whatever the station wrote: the rest waits for the next
MAX_BAD_LINES = 5  # then the segment is noted once and not read further
MAX_REFUSED = 20  # events about airings not the station's, likewise
MAX_SEGMENTS = 16
CONTACT_BYTES = 32 << 20
BATCH = 200  # events per write transaction: the other writers never wait long


@dataclass
class Collected:
    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    bad: int = 0
    acked: int = 0
    moved: bool = False  # the hub caught up with the station's numbers: write its playbook


def collect(app: App, st: StationSettings, stored: dict[str, int] | None = None,
            visit: Visit[Link] | None = None) -> Collected:
    """One contact with an agent station: heartbeat, new events, acknowledgement.

    `stored` (segment name → size), kept by the caller between contacts, lets the hub skip
    segments it has already stored whole while the agent has not yet seen the ack."""
    try:
        with link_for(visit, lambda: OutboxLink.of(app.settings, st) if st.pull else
                      StationLink(st, app.settings.delivery, compress=True)) as link:
            return collect_on(app, link, stored)
    except DeliveryError as exc:
        with app.db.write() as s:
            ops.record_station_error(s, st.id, app.clock(), exc.detail, unreachable=True)
        log.warning("%s: as-run not collected: %s", st.id, exc.detail)
        return Collected()


def collect_on(app: App, link: Link,
               stored: dict[str, int] | None = None) -> Collected:
    """The same on a link already open (any contact can carry it). For a pull station the
    link is its inbox at the hub, and its contact is when it last wrote its status."""
    out = Collected()
    stored = {} if stored is None else stored
    sid = link.station.id
    now = app.clock()
    # a pull station's times are its own writes in its inbox (by the hub's clock)
    contact, wrote = (link.contact_time(), link.status_time()) \
        if isinstance(link, OutboxLink) else (now, now)
    if contact is not None:
        with app.db.write() as s:
            ops.record_contact(s, sid, min(contact, now), None)
    if isinstance(link, OutboxLink):
        _sweep(app, link)
    out.moved = _heartbeat(app, link.station, link.read_small(STATUS_FILE, STATUS_LIMIT),
                           min(wrote or now, now))
    present = sorted(link.list_names(ASRUN_DIR), key=lambda f: f.name)
    for name in set(stored) - {f.name for f in present}:
        del stored[name]  # the agent let it go
    todo = [f for f in present if SEGMENT_RE.match(f.name) and stored.get(f.name) != f.size]
    budget = CONTACT_BYTES
    for seg in todo[:MAX_SEGMENTS]:
        if budget <= 0:
            break
        raw = link.read_small(seg.name, SEGMENT_LIMIT, sub=ASRUN_DIR) or b""
        budget -= len(raw)
        _store(app, sid, seg.name, raw, out)
        stored[seg.name] = max(seg.size, len(raw))  # good or not: read again only if it changes
    with app.db.write() as s:
        out.acked = evidence.acknowledge(s, sid, app.clock())
    ack = f"{out.acked}\n".encode("ascii")
    if link.read_small(ACK_FILE, 64) != ack:  # an unchanged ack is never rewritten: a pull
        link.write_small(ACK_FILE, ack)  # agent would see its outbox change and pull again
    return out


def _sweep(app: App, link: OutboxLink) -> None:
    """What does not belong in a pull station's inbox goes, noted against that station: its
    account can write there, and the hub's disk is everyone's."""
    removed = sweep_inbox(link.root)
    if removed:
        detail = "; ".join(removed)
        with app.db.write() as s:
            ops.record_event(s, app.clock(), "station", link.station.id, "inbox_swept",
                             detail=detail[:1000])
        log.warning("%s: removed from its inbox: %s", link.station.id, detail[:500])


def _store(app: App, sid: str, segment: str, raw: bytes, out: Collected) -> None:
    """Store a segment's events, a batch per transaction; parsed before any transaction, and
    given up after a few bad lines or refusals, with one note for the segment."""
    parsed = parse_lines(raw, _parse, MAX_BAD_LINES, tail=False)
    refused = 0
    for first in range(0, len(parsed.good), BATCH):
        now = app.clock()
        with app.db.write() as s:
            for ev in parsed.good[first:first + BATCH]:
                result = evidence.store_event(s, sid, ev, now,
                                              app.settings.schedule.silent_max)
                out.stored += result == "stored"
                out.duplicates += result == "duplicate"
                refused += result == "refused"
                if refused >= MAX_REFUSED:
                    break
        if refused >= MAX_REFUSED:
            break
    out.refused += refused
    out.bad += len(parsed.bad)
    notes = [parsed.note(f"{ASRUN_DIR}/{segment}")] if parsed.bad else []
    if refused >= MAX_REFUSED:
        notes.append(f"{ASRUN_DIR}/{segment}: {refused} events about airings that are not "
                     "this station's; stopped reading the segment")
    if notes:
        with app.db.write() as s:
            evidence.record_rejected_lines(s, sid, notes, app.clock())


def _parse(line: bytes) -> evidence.AgentEvent:
    return _event(json.loads(line))


def _when(v: Any, key: str) -> datetime | None:
    if v is None:
        return None
    if not isinstance(v, str):
        raise ValueError(f"{key} must be a time or null")
    dt = datetime.fromisoformat(v[:64])
    if dt.utcoffset() is None:
        raise ValueError(f"{key} has no UTC offset")
    if not 2000 <= dt.year <= 2200:
        raise ValueError(f"{key} is not a real date")
    return dt


def _event(rec: Any) -> evidence.AgentEvent:
    if not isinstance(rec, dict):
        raise ValueError("not a JSON object")
    eid, seq, aid, status = rec["event_id"], rec["seq"], rec["airing_id"], rec["status"]
    if not isinstance(eid, str) or not UUID_RE.match(eid):
        raise ValueError("event_id must be a UUID")
    for key, v in (("seq", seq), ("airing_id", aid)):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 2**62:
            raise ValueError(f"{key} must be a positive whole number below 2**62")
    if status not in evidence.OUTCOME:
        raise ValueError(f"unknown status {str(status)[:20]!r}")
    detail = rec.get("detail")
    return evidence.AgentEvent(eid, seq, aid, status, _when(rec.get("started_at"), "started_at"),
                               _when(rec.get("finished_at"), "finished_at"),
                               detail[:300] if isinstance(detail, str) else status, rec,
                               _heard(rec.get("heard")) if "heard" in rec else None)


def _heard(v: Any) -> evidence.Heard:
    """The capture's figures, every value checked; figures that do not make sense keep the
    event (the airing's outcome stands on its own) with a note that there is no level."""
    try:
        if not isinstance(v, dict):
            raise ValueError("not a JSON object")
        source = v.get("source")
        if not isinstance(source, str) or not 0 < len(source) <= 200:
            raise ValueError("source must be a short text")
        lufs = _number(v, "lufs", -120.0, 20.0)
        share = _number(v, "silent_fraction", 0.0, 1.0)
        seconds = _number(v, "seconds", 0.0, 86400.0)
        error = v.get("error", "")
        if not isinstance(error, str):
            raise ValueError("error must be a text")
        if not error and (share is None or seconds is None):
            raise ValueError("silent_fraction and seconds are needed without an error")
    except ValueError as exc:
        return evidence.Heard("?", None, None, 0.0,
                              f"the station's capture figures are unreadable ({exc})")
    return evidence.Heard(" ".join(source.split())[:200], lufs, share, seconds or 0.0,
                          " ".join(error.split())[:300])


@dataclass(frozen=True)
class Heartbeat:
    """What a station's `status.json` says, every value checked: finite, in range, bounded."""

    station_time: datetime
    interval: float
    free: int | None
    playbook_version: int | None
    agent_version: str
    error: str
    bad_files: list[str]
    held: dict[str, str]
    airing_id_max: int | None = None  # the station's own numbers, which a restored hub
    acked_seq: int | None = None  # moves past
    reused: tuple[int, ...] = ()


def _number(doc: dict[str, Any], key: str, lo: float, hi: float, default: float | None = None,
            whole: bool = False) -> float | None:
    """doc[key] as a finite number in [lo, hi] (a whole one if `whole`), or ValueError."""
    v = doc.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or (whole and not isinstance(v, int)):
        raise ValueError(f"{key} must be a {'whole ' if whole else ''}number")
    if not math.isfinite(v) or not lo <= v <= hi:
        raise ValueError(f"{key} out of range ({str(v)[:20]})")
    return v


def parse_heartbeat(raw: bytes, pull: bool) -> Heartbeat:
    """A station's status.json, untrusted: ValueError (or TypeError, KeyError) saying what is
    wrong. Times need a UTC offset and a year 2000–2200; numbers are finite and in range."""
    doc = json.loads(raw)
    if not isinstance(doc, dict):
        raise ValueError("not an object")
    station_time = datetime.fromisoformat(str(doc["time"])[:64])
    if station_time.utcoffset() is None or not 2000 <= station_time.year <= 2200:
        raise ValueError("time needs a UTC offset and a real date")
    files = doc.get("files") or {}
    if not isinstance(files, dict):
        raise ValueError("files must be an object")
    lists = [files.get(k) or [] for k in ("missing", "corrupt")]
    if not all(isinstance(v, list) for v in lists):
        raise ValueError("files.missing and files.corrupt must be lists")
    bad_files = [f for v in lists for f in v[:2000] if isinstance(f, str) and HELD_NAME.match(f)]
    held = _held(doc.get("held"))
    free = _number(doc, "free_bytes", 0, 2**62, whole=True)
    version, top, acked = (_whole(doc, k) for k in ("playbook_version", "airing_id_max",
                                                     "acked_seq"))
    reused = doc.get("reused") or []
    if not isinstance(reused, list):
        raise ValueError("reused must be a list")
    return Heartbeat(station_time, float(_number(doc, "heartbeat_seconds", 1, 86400, 60) or 60),
                     None if free is None else int(free), version,
                     str(doc.get("agent_version", ""))[:40], str(doc.get("last_error") or "")[:500],
                     bad_files, held if pull else {}, top, acked,
                     tuple(i for i in reused[:evidence.REUSED_MAX]
                           if isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**62))


def _whole(doc: dict[str, Any], key: str) -> int | None:
    v = _number(doc, key, 0, 2**62, whole=True)
    return None if v is None else int(v)


def _heartbeat(app: App, st: StationSettings, raw: bytes | None, now: datetime) -> bool:
    """`now`: when the station wrote it (a pull station's upload) or the hub read it. True
    when the hub caught up with the station's numbers (restored from a backup)."""
    if raw is None:
        return False
    try:
        hb = parse_heartbeat(raw, st.pull)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        with app.db.write() as s:
            evidence.record_heartbeat(s, st.id, now, None, None, "", None,
                                      f"status.json unreadable: {str(exc)[:200]}")
        return False
    # written up to `interval` seconds ago: the true offset lies in [early, early + interval]
    early = (hb.station_time - now).total_seconds()
    offset = early if early > 0 else min(0.0, early + hb.interval)
    with app.db.write() as s:
        moved = evidence.catch_up(s, st.id, hb.airing_id_max, hb.acked_seq,
                                  hb.playbook_version, now)
        evidence.record_heartbeat(s, st.id, now, hb.free, round(offset, 1), hb.agent_version,
                                  hb.playbook_version, hb.error)
        _resend(s, st.id, hb.bad_files, now)
        if hb.held:
            evidence.confirm_pulled(s, st.id, hb.held, now)
        replanned = evidence.replan_reused(s, st.id, list(hb.reused), now) if hb.reused else 0
    if moved or replanned:
        log.warning("%s: caught up with the station's numbers (the hub restored from a "
                    "backup?); %d airing(s) planned again", st.id, replanned)
    return moved or replanned > 0


def _held(v: Any) -> dict[str, str]:
    """The station's `held` map (file name → sha256), untrusted: only safe names, real
    hashes, at most 2000 entries."""
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ValueError("held must be an object")
    return {k: h for k, h in list(v.items())[:2000]
            if isinstance(k, str) and HELD_NAME.match(k) and isinstance(h, str)
            and SHA_RE.match(h)}


def _resend(s: Any, sid: str, names: list[str], now: datetime) -> None:
    """Files the agent finds missing or damaged go again, before their airing."""
    for name in names:
        slug = name.removesuffix(".mp3")
        d = s.scalars(select(Delivery).join(Programme, Programme.id == Delivery.programme_id)
                      .where(Delivery.station_id == sid, Programme.slug == slug)).first()
        if d is not None and d.state == DeliveryState.DELIVERED.value:
            ops.requeue_delivery(s, d, now, f"the station reports {name} missing or damaged")


def mark_unconfirmed(app: App) -> int:
    """Agent airings well past their end with no event yet: unconfirmed (an event may come)."""
    agents = [st.id for st in app.settings.stations if st.playout == "agent"]
    if not agents:
        return 0
    now = app.clock()
    n = 0
    with app.db.write() as s:
        for a, duration in s.execute(select(Airing, Programme.duration_s).join(
                Programme, Programme.id == Airing.programme_id).where(
                Airing.station_id.in_(agents), Airing.state == AiringState.PLANNED.value,
                Airing.planned_at < now - UNCONFIRMED_AFTER)):
            if a.planned_at + timedelta(seconds=duration or 0) + UNCONFIRMED_AFTER < now:
                evidence.mark_unconfirmed(s, a, now)
                n += 1
    return n
