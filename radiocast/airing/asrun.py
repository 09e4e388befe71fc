"""Playbook stations' as-run records (`asrun.jsonl`): read defensively, line by line.

Everything a station writes is untrusted. A line that is not a JSON object with an integer
`airing_id`, ISO 8601 `started_at`/`finished_at` *with* a UTC offset (finished not before
started), and `status` "aired" or "failed" is skipped and reported (an event naming the station
and the line); it never stops the other lines, the other stations, or the scheduler.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from radiocast.airing.lines import parse_lines
from radiocast.app import App
from radiocast.config.settings import StationSettings
from radiocast.core.errors import DeliveryError
from radiocast.core.models import OUTCOME_WITHIN, AiringState
from radiocast.db import evidence, ops
from radiocast.db.schema import Airing
from radiocast.stations.outbox import OutboxLink
from radiocast.stations.transport import StationLink
from radiocast.stations.visit import Visit, link_for

log = logging.getLogger(__name__)
ASRUN_FILE = "asrun.jsonl"
ASRUN_LIMIT = 4 << 20
DETAIL_MAX = 300
MAX_NOTED = 20  # bad lines noted one by one; past them, one line says how many more


@dataclass(frozen=True)
class AsRun:
    airing_id: int
    started_at: datetime
    finished_at: datetime
    aired: bool
    detail: str


def _when(rec: dict[str, Any], key: str) -> datetime:
    value = rec.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a text time like 2026-11-03T17:30:00+07:00")
    dt = datetime.fromisoformat(value[:64])
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{key} has no UTC offset ({value[:40]!r})")
    if not 2000 <= dt.year <= 2200:
        raise ValueError(f"{key} is not a real date ({value[:40]!r})")
    return dt


def parse_line(line: str | bytes) -> AsRun:
    """One as-run line, or ValueError saying what is wrong with it."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if not isinstance(rec, dict):
        raise ValueError("not a JSON object")
    aid = rec.get("airing_id")
    if isinstance(aid, bool) or not isinstance(aid, int) or aid <= 0:
        raise ValueError("airing_id must be a positive whole number")
    started, finished = _when(rec, "started_at"), _when(rec, "finished_at")
    if finished < started:
        raise ValueError("finished_at is before started_at")
    status = rec.get("status")
    if status not in ("aired", "failed"):
        raise ValueError('status must be "aired" or "failed"')
    detail = rec.get("detail")
    text = detail if isinstance(detail, str) else status
    return AsRun(aid, started, finished, status == "aired", text[:DETAIL_MAX])


def parse(raw: bytes) -> tuple[dict[int, AsRun], list[tuple[int, str]]]:
    """Records by airing id (the last line for an id wins), and the bad lines (number, why):
    the first MAX_NOTED of them, then one saying how many more. Every line is read (a later
    good one still confirms its airing), one at a time."""
    parsed = parse_lines(raw, parse_line, MAX_NOTED, tail=True, stop=False)
    records = {rec.airing_id: rec for rec in parsed.good}
    bad = list(parsed.bad)
    if parsed.bad_total > len(bad):
        bad.append((bad[-1][0], f"and {parsed.bad_total - len(bad)} more unreadable line(s) "
                                "after it"))
    return records, bad


def waiting(app: App, station_id: str) -> list[int]:
    with app.db.read() as s:
        return list(s.scalars(select(Airing.id).where(
            Airing.station_id == station_id, Airing.state == AiringState.AIRING.value)))


def confirm_playbook_airings(app: App) -> int:
    """Every playbook station in turn; one that fails is logged and the others go on."""
    done = 0
    for st in app.settings.stations:
        if st.playout != "playbook":
            continue
        try:
            done += confirm_station(app, st)
        except Exception:
            log.exception("%s: as-run record not processed", st.id)
    return done


def confirm_station(app: App, st: StationSettings,
                    visit: Visit[StationLink | OutboxLink] | None = None) -> int:
    """Read one playbook station's as-run file and record what it says about the airings
    awaiting confirmation there. Returns how many airings reached a final state."""
    ids = waiting(app, st.id)
    if not ids:
        return 0
    try:
        with link_for(visit, lambda: StationLink(st, app.settings.delivery)) as link:
            raw = link.read_small(ASRUN_FILE, limit=ASRUN_LIMIT) or b""
    except DeliveryError as exc:
        log.warning("%s: as-run record not read: %s", st.id, exc.detail)
        raw = b""
    records, bad = parse(raw)
    _report_bad_lines(app, st.id, bad)
    return _apply(app, st.id, ids, records)


def _report_bad_lines(app: App, sid: str, bad: list[tuple[int, str]]) -> None:
    if not bad:
        return
    with app.db.write() as s:
        new = evidence.record_rejected_lines(
            s, sid, [f"{ASRUN_FILE} line {n}: {why}" for n, why in bad], app.clock())
    for detail in new:
        log.warning("%s: %s (skipped)", sid, detail)


def _apply(app: App, sid: str, ids: list[int], records: dict[int, AsRun]) -> int:
    now = app.clock()
    done = 0
    with app.db.write() as s:
        for aid in ids:
            a = s.get_one(Airing, aid)
            if a.station_id != sid or a.state != AiringState.AIRING.value:
                continue
            rec = records.get(aid)
            if rec is not None:
                ops.confirm_airing(s, a, AiringState.AIRED if rec.aired else AiringState.FAILED,
                                   rec.started_at, rec.finished_at, now, f"as-run: {rec.detail}")
                done += 1
            elif a.planned_at + OUTCOME_WITHIN < now:
                ops.finish_airing(s, a, AiringState.UNCONFIRMED, now,
                                  "no as-run confirmation from the station")
                done += 1
    return done
