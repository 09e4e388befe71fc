"""Airing drivers (ssh-command; playbook) and the as-run record."""

from __future__ import annotations

import json
import logging
import shlex
from datetime import datetime, timedelta

from sqlalchemy import select

from radiocast.app import App
from radiocast.config import StationSettings
from radiocast.db import ops, views
from radiocast.db.schema import Airing, Programme
from radiocast.errors import DeliveryError
from radiocast.models import AiringState
from radiocast.stations.transport import StationLink

log = logging.getLogger(__name__)
PLAY_MARGIN_SECONDS = 120
STDERR_TAIL = 500
AWAITING = "file in place; awaiting the station's as-run confirmation (asrun.jsonl)"
CONFIRM_WITHIN = timedelta(hours=6)  # after its end, an unconfirmed playbook airing is missed
ASRUN_FILE = "asrun.jsonl"


def air(app: App, airing_id: int) -> AiringState | None:
    """Air one planned airing now. Starts it at most once, ever (a conditional update)."""
    with app.db.write() as s:
        if not ops.start_airing(s, airing_id, app.clock()):
            return None
        a = s.get_one(Airing, airing_id)
        p = s.get_one(Programme, a.programme_id)
        slug, size, duration = p.slug, p.size, p.duration_s or 0.0
        sid = a.station_id
    st = app.settings.station(sid)
    name = f"{slug}.mp3"
    try:
        with StationLink(st, app.settings.delivery) as link:
            with app.db.write() as s:
                ops.record_contact(s, sid, app.clock(), None)
            files = {f.name: f.size for f in link.list_files()}
            if files.get(name) != size:
                return _finish(app, airing_id, AiringState.MISSED,
                               f"{name} is not at the station (or has the wrong size)")
            if st.playout == "playbook":
                # the station plays from playbook.json by itself; only its as-run record
                # (asrun.jsonl) can say it aired: until then the airing stays `airing`
                with app.db.write() as s:
                    ops.await_confirmation(s, s.get_one(Airing, airing_id), app.clock(),
                                           AWAITING)
                return AiringState.AIRING
            cmd = st.play_command.replace("{file}", shlex.quote(link.remote_path(name)))
            res = link.run(cmd, timeout=duration + PLAY_MARGIN_SECONDS)
    except DeliveryError as exc:
        with app.db.write() as s:
            ops.record_station_error(s, sid, app.clock(), exc.detail, unreachable=True)
        return _finish(app, airing_id, AiringState.MISSED, f"station unreachable: {exc.detail}")
    if res.status == 0:
        return _finish(app, airing_id, AiringState.AIRED, "exit 0")
    tail = res.stderr.strip()[-STDERR_TAIL:]
    return _finish(app, airing_id, AiringState.FAILED, f"exit {res.status}: {tail}")


def _finish(app: App, airing_id: int, state: AiringState, detail: str) -> AiringState:
    with app.db.write() as s:
        a = s.get_one(Airing, airing_id)
        ops.finish_airing(s, a, state, app.clock(), detail)
    log.log(logging.INFO if state == AiringState.AIRED else logging.WARNING,
            "airing #%d at %s: %s (%s)", airing_id, a.station_id, state.value, detail)
    return state


def recover(app: App) -> None:
    """An airing the daemon was running when it died is `interrupted`: it never restarts.
    (Playbook stations air by themselves: their airings wait for the as-run record.)"""
    now = app.clock()
    playbook_ids = {st.id for st in app.settings.stations if st.playout == "playbook"}
    with app.db.write() as s:
        for a in views.interrupted_airings(s):
            if a.station_id in playbook_ids:
                continue
            ops.finish_airing(s, a, AiringState.INTERRUPTED, now,
                              "radiocast stopped while airing; not counted, make-up planned")


def confirm_playbook_airings(app: App) -> int:
    """Read `asrun.jsonl` at playbook stations with airings awaiting confirmation.

    One JSON object a line: {"airing_id": 12, "started_at": "...+07:00",
    "finished_at": "...+07:00", "status": "aired" | "failed", "detail": "..."}."""
    done = 0
    for st in app.settings.stations:
        if st.playout != "playbook":
            continue
        with app.db.read() as s:
            waiting = list(s.scalars(select(Airing.id).where(
                Airing.station_id == st.id, Airing.state == AiringState.AIRING.value)))
        if waiting:
            done += _apply_asrun(app, waiting, _read_asrun(app, st))
    return done


def _read_asrun(app: App, st: StationSettings) -> dict[int, dict[str, str]]:
    """The station's as-run records by airing id (unreadable lines are skipped)."""
    try:
        with StationLink(st, app.settings.delivery) as link:
            raw = link.read_small(ASRUN_FILE, limit=4 << 20) or b""
    except DeliveryError as exc:
        log.warning("%s: as-run record not read: %s", st.id, exc.detail)
        raw = b""
    records: dict[int, dict[str, str]] = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            rec = json.loads(line)
            records[int(rec["airing_id"])] = rec
        except (ValueError, KeyError, TypeError):
            continue
    return records


def _apply_asrun(app: App, waiting: list[int], records: dict[int, dict[str, str]]) -> int:
    now = app.clock()
    done = 0
    with app.db.write() as s:
        for aid in waiting:
            a = s.get_one(Airing, aid)
            rec = records.get(aid)
            if rec is not None:
                try:
                    started = datetime.fromisoformat(rec["started_at"])
                    end = datetime.fromisoformat(rec["finished_at"])
                except (KeyError, ValueError):
                    continue
                state = (AiringState.AIRED if rec.get("status") == "aired"
                         else AiringState.FAILED)
                ops.confirm_airing(s, a, state, started, end, now,
                                   f"as-run: {rec.get('detail') or rec.get('status')}")
                done += 1
            elif a.planned_at + CONFIRM_WITHIN < now:
                ops.finish_airing(s, a, AiringState.MISSED, now,
                                  "no as-run confirmation from the station")
                done += 1
    return done


def mark_overdue(app: App, grace: timedelta) -> int:
    """Planned airings whose time passed beyond the grace are missed (daemon was down)."""
    now = app.clock()
    n = 0
    with app.db.write() as s:
        for a in s.scalars(select(Airing).where(Airing.state == AiringState.PLANNED.value,
                                                Airing.planned_at < now - grace)):
            ops.finish_airing(s, a, AiringState.MISSED,
                              now, "not started within the misfire grace (radiocast not running)")
            n += 1
    return n
