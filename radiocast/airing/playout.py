"""Airing drivers and their outcome.

`ssh-command` stations: at the window radiocast connects, checks the file, and starts the
station's player *detached* (it survives the SSH session, a 3G drop and a radiocast restart),
with its start time, exit status and error output written to hidden files beside the
programme. After the programme's expected end radiocast reads them back: exit 0 is `aired`,
another status `failed`; a start without an end after OUTCOME_WITHIN is `interrupted` (power
cut), no start at all `interrupted` (never began), and no answer from the station within
OUTCOME_WITHIN `unconfirmed`. An airing starts at most once: `planned → airing` is one
conditional update, and nothing ever launches the same airing again.

`playbook` stations play by themselves; their as-run file is read by `asrun`.
"""

from __future__ import annotations

import logging
import shlex
from datetime import datetime, timedelta

from sqlalchemy import select

from radiocast.app import App
from radiocast.config.settings import StationSettings
from radiocast.core.errors import DeliveryError
from radiocast.core.faults import crash_point
from radiocast.core.models import OUTCOME_WITHIN, AiringState, DeliveryState
from radiocast.db import ops
from radiocast.db.schema import Airing, Delivery, Programme
from radiocast.stations.outbox import OutboxLink
from radiocast.stations.transport import StationLink
from radiocast.stations.visit import Visit, link_for

log = logging.getLogger(__name__)
CHECK_MARGIN = timedelta(seconds=10)  # after the expected end, before reading the exit status
EARLY_CHECK = timedelta(seconds=10)
EARLY_CHECK_UNTIL = timedelta(seconds=60)
STDERR_TAIL = 500
AWAITING = "file in place; awaiting the station's as-run confirmation (asrun.jsonl)"
PLAYING = "started at the station; its exit status is read after the programme ends"


def marker(airing_id: int, what: str) -> str:
    """The hidden files a detached airing leaves at the station: started, exit, err."""
    return f".radiocast-airing-{airing_id}.{what}"


def launch_command(st: StationSettings, airing_id: int, remote_file: str) -> str:
    """A shell command that starts the player in the background, immune to the SSH session's
    end, and returns at once. The play command travels as an argument, never re-parsed."""
    play = st.play_command.replace("{file}", shlex.quote(remote_file))
    started, exit_, err = (marker(airing_id, w) for w in ("started", "exit", "err"))
    script = (f"date +%s > {started}; sh -c \"$0\" 2> {err}; "
              f"echo $? > {exit_}.tmp && mv {exit_}.tmp {exit_}")
    return (f"cd {shlex.quote(st.remote_dir)} && "
            f"( trap '' HUP; sh -c {shlex.quote(script)} {shlex.quote(play)} "
            "</dev/null >/dev/null 2>&1 & ) && echo launched")


def air(app: App, airing_id: int) -> AiringState | None:
    """Air one planned airing now. Starts it at most once, ever (a conditional update).

    The station is dialled and its file checked *before* the airing is claimed, so the
    claim sits right before the launch: a hub that dies (or loses its lease) in between
    leaves next to no airing claimed but never started (each would be `interrupted`)."""
    with app.db.read() as s:
        a = s.get(Airing, airing_id)
        if a is None or a.state != AiringState.PLANNED.value:
            return None
        p = s.get_one(Programme, a.programme_id)
        name, size, sid = f"{p.slug}.mp3", p.size, a.station_id
    st = app.settings.station(sid)
    link = StationLink(st, app.settings.delivery)
    try:
        try:
            link.connect()
            files = {f.name: f.size for f in link.list_files()}
        except DeliveryError as exc:
            return _unreachable(app, airing_id, sid, exc)
        with app.db.write() as s:
            if not ops.start_airing(s, airing_id, app.clock()):
                return None
            ops.record_contact(s, st.id, app.clock(), None)
        crash_point("after_start_airing")
        if files.get(name) != size:
            _requeue_file(app, airing_id)
            return _finish(app, airing_id, AiringState.MISSED,
                           f"{name} is not at the station (or has the wrong size); sent again")
        return _launch(app, link, st, airing_id, name)
    finally:
        link.close()


def _unreachable(app: App, airing_id: int, sid: str, exc: DeliveryError) -> AiringState | None:
    with app.db.write() as s:
        if not ops.start_airing(s, airing_id, app.clock()):
            return None
        ops.record_station_error(s, sid, app.clock(), exc.detail, unreachable=True)
    return _finish(app, airing_id, AiringState.MISSED, f"station unreachable: {exc.detail}")


def _launch(app: App, link: StationLink, st: StationSettings, airing_id: int,
            name: str) -> AiringState:
    if st.playout == "playbook":
        # the station plays from playbook.json by itself; only its as-run record says it aired
        with app.db.write() as s:
            ops.await_confirmation(s, s.get_one(Airing, airing_id), app.clock(), AWAITING)
        return AiringState.AIRING
    try:
        res = link.run(launch_command(st, airing_id, link.remote_path(name)), timeout=60)
        crash_point("after_launch")
    except DeliveryError as exc:  # it may or may not have started: the check will tell
        detail = f"link lost while starting the player ({exc.detail}); checked later"
    else:
        if res.status != 0 or "launched" not in res.stdout:
            tail = res.stderr.strip()[-STDERR_TAIL:]
            return _finish(app, airing_id, AiringState.FAILED,
                           f"could not start the player: exit {res.status}: {tail}")
        detail = PLAYING
    with app.db.write() as s:
        ops.await_confirmation(s, s.get_one(Airing, airing_id), app.clock(), detail)
    return AiringState.AIRING


def _requeue_file(app: App, airing_id: int) -> None:
    """The file an airing needs is gone from the station: deliver it again (for the make-up)."""
    with app.db.write() as s:
        a = s.get_one(Airing, airing_id)
        d = s.scalars(select(Delivery).where(Delivery.programme_id == a.programme_id,
                                             Delivery.station_id == a.station_id)).first()
        if d is not None and d.state == DeliveryState.DELIVERED.value:
            ops.requeue_delivery(s, d, app.clock(), "missing at the station at airing time")


def _finish(app: App, airing_id: int, state: AiringState, detail: str,
            started: datetime | None = None, finished: datetime | None = None) -> AiringState:
    with app.db.write() as s:
        a = s.get_one(Airing, airing_id)
        if started is not None and finished is not None:
            ops.confirm_airing(s, a, state, started, finished, app.clock(), detail)
        else:
            ops.finish_airing(s, a, state, app.clock(), detail)
    log.log(logging.INFO if state == AiringState.AIRED else logging.WARNING,
            "airing #%d at %s: %s (%s)", airing_id, a.station_id, state.value, detail)
    return state


# ---------------------------------------------------------------- reading the outcome back


def due_checks(app: App, station_id: str) -> list[tuple[int, datetime, float]]:
    """ssh-command airings at a station worth checking now: in the first minute after the
    start (a player that cannot start fails at once), then from the programme's expected end
    on. (airing id, started at, duration)."""
    now = app.clock()
    with app.db.read() as s:
        rows = s.execute(select(Airing.id, Airing.started_at, Airing.planned_at,
                                Programme.duration_s)
                         .join(Programme, Programme.id == Airing.programme_id)
                         .where(Airing.station_id == station_id,
                                Airing.state == AiringState.AIRING.value))
        out = []
        for aid, started, planned, duration in rows:
            begin = started or planned
            early = begin + EARLY_CHECK <= now <= begin + EARLY_CHECK_UNTIL
            if early or begin + timedelta(seconds=duration or 0) + CHECK_MARGIN <= now:
                out.append((aid, begin, duration or 0.0))
    return out


def check_station(app: App, st: StationSettings,
                  visit: Visit[StationLink | OutboxLink] | None = None) -> int:
    """Read the exit status of every airing at `st` that should have ended; record it.
    Returns how many airings reached a final state."""
    due = due_checks(app, st.id)
    if not due:
        return 0
    try:
        with link_for(visit, lambda: StationLink(st, app.settings.delivery)) as link:
            assert isinstance(link, StationLink)  # ssh-command stations are pushed to
            return sum(_check_one(app, link, aid, begin) for aid, begin, _ in due)
    except DeliveryError as exc:
        log.warning("%s: exit status not read: %s", st.id, exc.detail)
        now = app.clock()
        return sum(_finish(app, aid, AiringState.UNCONFIRMED, "no exit status from the "
                           f"station within {OUTCOME_WITHIN} ({exc.detail})") is not None
                   for aid, begin, _ in due if begin + OUTCOME_WITHIN < now)


def _check_one(app: App, link: StationLink, aid: int, begin: datetime) -> bool:
    files = link.stat_files([marker(aid, w) for w in ("started", "exit")])
    started, exit_ = files.get(marker(aid, "started")), files.get(marker(aid, "exit"))
    now = app.clock()
    if exit_ is not None:
        status_text = (link.read_small(marker(aid, "exit"), limit=32) or b"").decode(
            "ascii", "replace").strip()
        played = (exit_ - started) if started is not None else 0.0
        finished = begin + timedelta(seconds=max(0.0, played))
        if status_text == "0":
            _finish(app, aid, AiringState.AIRED, "exit 0", begin, finished)
        else:
            err = (link.read_small(marker(aid, "err"), limit=4096) or b"").decode(
                "utf-8", "replace").strip()[-STDERR_TAIL:]
            _finish(app, aid, AiringState.FAILED, f"exit {status_text}: {err}", begin, finished)
    elif started is None:
        _finish(app, aid, AiringState.INTERRUPTED,
                "the player never started at the station; not counted, make-up planned")
    elif begin + OUTCOME_WITHIN < now:
        _finish(app, aid, AiringState.INTERRUPTED, "started at the station but never finished "
                "(power cut or restart?); not counted, make-up planned")
    else:
        return False  # still playing
    for what in ("started", "exit", "err"):
        link.remove(marker(aid, what))
    return True


def recover(app: App) -> int:
    """At start nothing is relaunched and nothing is declared lost: airings left `airing` wait
    for their exit status (ssh-command) or as-run record (playbook) like any other."""
    with app.db.read() as s:
        n = len(list(s.scalars(select(Airing.id).where(
            Airing.state == AiringState.AIRING.value))))
    if n:
        log.info("%d airing(s) started before the restart; their outcome is read back", n)
    return n


def mark_overdue(app: App, grace: timedelta) -> int:
    """Planned airings whose time passed beyond the grace are missed (daemon was down)."""
    now = app.clock()
    n = 0
    agents = [st.id for st in app.settings.stations if st.playout == "agent"]
    with app.db.write() as s:  # (agent stations play by themselves: see airing.agents)
        for a in s.scalars(select(Airing).where(Airing.state == AiringState.PLANNED.value,
                                                Airing.station_id.not_in(agents),
                                                Airing.planned_at < now - grace)):
            ops.finish_airing(s, a, AiringState.MISSED,
                              now, "not started within the misfire grace (radiocast not running)")
            n += 1
    return n
