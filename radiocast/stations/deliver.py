"""Fan-out delivery: leases, one connection per station, retries with backoff, inventory."""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from radiocast.app import App
from radiocast.config.settings import StationSettings
from radiocast.core.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from radiocast.core.models import AiringState, DeliveryState, ProgrammeState
from radiocast.core.months import local_month
from radiocast.db import approvals, evidence, ops, views
from radiocast.db.schema import Airing, Delivery, Programme
from radiocast.stations.outbox import OutboxLink
from radiocast.stations.transport import PART_RE, StationLink, part_name
from radiocast.stations.visit import Visit, Visits, link_for

Link = StationLink | OutboxLink

log = logging.getLogger(__name__)
# the bytes sent are written down at most this often during a transfer: a slow link's
# progress shows, a fast one's transfer is over before (its bytes go with its last commit)
PROGRESS_EVERY, PROGRESS_SECONDS = 1 << 20, 5.0
PLACED = (DeliveryState.DELIVERED.value, DeliveryState.PUBLISHED.value)


def recover(app: App) -> None:
    """At start, under the single-instance lock, no other sender can be alive: every lease
    is a dead process's. Its deliveries go back to the queue and resume at once."""
    now = app.clock()
    with app.db.write() as s:
        for d in s.scalars(select(Delivery).where(
                Delivery.state == DeliveryState.SENDING.value)):
            ops.mark_delivery_retry(s, d, now, "radiocast restarted during the transfer", now)


@dataclass
class Job:
    delivery_id: int
    programme_id: int
    slug: str
    path: Path
    sha256: str
    size: int


@dataclass
class StationOutcome:
    station_id: str
    delivered: int = 0
    failed: int = 0
    retrying: int = 0
    inventoried: bool = False

    @property
    def troubles(self) -> int:
        return self.failed + self.retrying


def backoff(app: App, attempts: int) -> timedelta:
    seq = app.settings.delivery.retry_backoff_seconds
    base = seq[min(max(attempts, 1), len(seq)) - 1]
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


def deliver_due(app: App, stop: threading.Event | None = None,
                progress: Callable[[str, int, int], None] | None = None) -> list[StationOutcome]:
    """Deliver everything due, up to `max_parallel` stations at once."""
    with app.db.read() as s:
        due = views.due_station_ids(s, app.clock())
    if not due:
        return []
    workers = min(app.settings.delivery.max_parallel, len(due))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="radiocast-deliver") as ex:
        futures = [ex.submit(deliver_station, app, app.settings.station(sid), stop, progress)
                   for sid in due if _configured(app, sid)]
        return [f.result() for f in futures]


def _configured(app: App, sid: str) -> bool:
    return any(st.id == sid for st in app.settings.stations)


def deliver_station(app: App, st: StationSettings, stop: threading.Event | None = None,
                    progress: Callable[[str, int, int], None] | None = None,
                    inventory: bool = False,
                    transfers: threading.Semaphore | None = None,
                    visit: Visit[Link] | None = None) -> StationOutcome:
    """One connection to one station: send what is due (emergencies first), then take its
    inventory (re-queue what is missing or wrong, prune radiocast's old files). With nothing
    due it connects only when `inventory` is asked for. With a `visit`, the round's shared
    connection is used (and left open for the round's other steps)."""
    outcome = StationOutcome(st.id)
    owner = f"{uuid.uuid4().hex[:12]}"
    lease = timedelta(seconds=app.settings.delivery.lease_seconds)
    with app.db.write() as s:
        jobs = [_job(s, d) for d in ops.claim_deliveries(s, owner, app.clock(), lease, st.id)]
    if not jobs and not inventory:
        return outcome
    contact = Contact(st.id)
    try:
        with link_for(visit, lambda: open_link(app, st)) as link:
            if not st.pull:  # a pull station's contact is its own word (status.json)
                contact.seen(app.clock(), link.free_bytes())
            sent_all = _send_all(app, link, jobs, owner, stop, progress, outcome, contact,
                                 transfers)
            contact.flush(app)
            if sent_all:
                sync_inventory(app, link)
                outcome.inventoried = True
    except DeliveryError as exc:
        contact.flush(app)
        pending = _still_sending(app, [j.delivery_id for j in jobs], owner)
        _failed(app, st.id, [j for j in jobs if j.delivery_id in pending], exc, outcome)
    return outcome


class Contact:
    """The station answered: recorded with the first delivery's commit, or on its own by
    `flush` (one commit per station instead of two: at a few hundred stations the write
    lock, not the wire, was where threads waited)."""

    def __init__(self, station_id: str) -> None:
        self.station_id = station_id
        self.pending: tuple[datetime, int | None] | None = None

    def seen(self, now: datetime, free_bytes: int | None) -> None:
        self.pending = (now, free_bytes)

    def write(self, s: Session) -> None:
        if self.pending is not None:
            ops.record_contact(s, self.station_id, *self.pending)
            self.pending = None

    def flush(self, app: App) -> None:
        if self.pending is not None:
            with app.db.write() as s:
                self.write(s)


def _send_all(app: App, link: Link, jobs: list[Job], owner: str,
              stop: threading.Event | None, progress: Callable[[str, int, int], None] | None,
              outcome: StationOutcome, contact: Contact,
              transfers: threading.Semaphore | None) -> bool:
    """Send the jobs in turn. False when the link failed (the rest wait for the next round)."""
    sid = link.station.id
    for n, job in enumerate(jobs):
        if stop is not None and stop.is_set():
            _release(app, jobs[n:], "shutdown")
            return False
        try:
            try:
                _send(app, link, job, owner, progress, contact, transfers)
            except OSError as exc:  # local side: the spooled file is unreadable
                raise PermanentDeliveryError(
                    sid, f"local file {job.path}: {exc.strerror or exc}") from exc
        except DeliveryError as exc:
            _failed(app, sid, [job], exc, outcome)
            if isinstance(exc, TransientDeliveryError):
                _failed(app, sid, jobs[n + 1:], exc, outcome)
                return False
        else:
            outcome.delivered += 1
    return True


def open_link(app: App, st: StationSettings, compress: bool = False) -> Link:
    """A station's link, not yet connected: SFTP, or the outbox of a station behind NAT.
    `compress`: zlib on the wire, for contacts that move only text."""
    if st.pull:
        return OutboxLink.of(app.settings, st)
    return StationLink(st, app.settings.delivery, compress=compress)


def visits(app: App) -> Visits[Link]:
    """A round's visits to every configured station (none dialled yet)."""
    return Visits({st.id: functools.partial(open_link, app, st) for st in app.settings.stations})


def _job(s: Session, d: Delivery) -> Job:
    p = s.get_one(Programme, d.programme_id)
    assert p.output_path and p.sha256 and p.slug and p.size is not None
    return Job(d.id, p.id, p.slug, Path(p.output_path), p.sha256, p.size)


def _send(app: App, link: Link, job: Job, owner: str,
          progress: Callable[[str, int, int], None] | None, contact: Contact,
          transfers: threading.Semaphore | None = None) -> None:
    counted = 0
    done = 0
    noted: float | None = None  # the first bytes (not the wait for a transfer slot)

    def on_bytes(n: int) -> None:
        nonlocal counted, done, noted
        counted += n
        done += n
        noted = time.monotonic() if noted is None else noted
        if counted >= PROGRESS_EVERY and time.monotonic() - noted >= PROGRESS_SECONDS:
            with app.db.write() as s:
                d = s.get_one(Delivery, job.delivery_id)
                ops.record_progress(s, job.delivery_id, d.bytes_sent + counted)
            counted = 0
            noted = time.monotonic()
        if progress:
            progress(link.station.id, done, job.size)

    try:
        link.upload(job.path, f"{job.slug}.mp3", job.sha256, on_bytes,
                    can_exec=link.station.playout == "ssh-command", gate=transfers)
    except BaseException:
        if counted:
            with app.db.write() as s:
                d = s.get_one(Delivery, job.delivery_id)
                ops.record_progress(s, job.delivery_id, d.bytes_sent + counted)
        raise
    pull = link.station.pull  # published in the outbox: delivered when the station says so
    with app.db.write() as s:  # the bytes, the contact and the new state: one commit
        contact.write(s)
        d = s.get_one(Delivery, job.delivery_id)
        if counted:
            d.bytes_sent += counted
        if not (evidence.mark_published if pull else ops.mark_delivered)(
                s, d, app.clock(), owner):
            log.warning("%s: %s.mp3 arrived, but delivery #%d is no longer ours (%s); "
                        "left as it is", link.station.id, job.slug, d.id, d.state)
            return
    log.info("%s: %s %s.mp3", link.station.id, "published" if pull else "delivered", job.slug)


def _still_sending(app: App, ids: list[int], owner: str) -> set[int]:
    with app.db.read() as s:
        return set(s.scalars(select(Delivery.id).where(
            Delivery.id.in_(ids), Delivery.state == DeliveryState.SENDING.value,
            Delivery.lease_owner == owner)))


def _failed(app: App, sid: str, jobs: list[Job], exc: DeliveryError,
            outcome: StationOutcome) -> None:
    now = app.clock()
    permanent = isinstance(exc, PermanentDeliveryError)
    with app.db.write() as s:
        ops.record_station_error(s, sid, now, exc.detail, unreachable=not permanent)
        for job in jobs:
            d = s.get_one(Delivery, job.delivery_id)
            if d.state != DeliveryState.SENDING.value:
                continue
            p = s.get_one(Programme, job.programme_id)
            if permanent or _month_over(app, p.month, now):
                ops.mark_delivery_failed(s, d, now, exc.detail)
                outcome.failed += 1
            else:
                ops.mark_delivery_retry(s, d, now, exc.detail, now + backoff(app, d.attempts))
                outcome.retrying += 1
    log.warning("%s: %s", sid, exc.detail)


def _release(app: App, jobs: list[Job], why: str) -> None:
    now = app.clock()
    with app.db.write() as s:
        for job in jobs:
            d = s.get_one(Delivery, job.delivery_id)
            if d.state == DeliveryState.SENDING.value:
                ops.mark_delivery_retry(s, d, now, why, now)


def _month_over(app: App, month: str, now: datetime) -> bool:
    return local_month(now, app.settings.general.tz) > month


# ---------------------------------------------------------------- inventory


def sync_inventory(app: App, link: Link) -> None:
    """Compare what the station should hold with what it holds; repair; prune our old files."""
    sid = link.station.id
    now = app.clock()
    with app.db.read() as s:
        delivered = list(s.execute(select(Delivery.id, Programme.slug, Programme.size,
                                          Programme.sha256)
                                   .join(Programme, Programme.id == Delivery.programme_id)
                                   .where(Delivery.station_id == sid,
                                          Delivery.state.in_(PLACED))))
        needed = set(s.scalars(select(Programme.slug).join(
            Airing, Airing.programme_id == Programme.id).where(
            Airing.station_id == sid, Airing.state.in_([AiringState.PLANNED.value,
                                                        AiringState.AIRING.value]))))
        current = set(s.scalars(select(Programme.slug).join(
            Delivery, Delivery.programme_id == Programme.id).where(
            Delivery.station_id == sid, Programme.state == ProgrammeState.READY.value,
            Programme.month >= local_month(now, app.settings.general.tz),
            Delivery.state != DeliveryState.CANCELLED.value)))
        ours = set(s.scalars(select(Programme.slug).join(
            Delivery, Delivery.programme_id == Programme.id).where(
            Delivery.station_id == sid)))
    files = {f.name: f.size for f in link.list_files()}
    keep = {f"{slug}.mp3" for slug in needed | current if slug}
    for did, slug, size, sha in delivered:
        name = f"{slug}.mp3"
        if name not in keep:
            continue  # no longer needed there: not re-pushed, pruned below
        why = None
        if name not in files:
            why = "missing at the station"
        elif files[name] != size:
            why = f"wrong size at the station ({files[name]} != {size})"
        else:
            side = link.read_small(f"{name}.sha256")
            if side is None or not sha or not side.decode("ascii", "replace").startswith(sha):
                why = "checksum file missing or wrong at the station"
        if why:
            with app.db.write() as s:
                ops.requeue_delivery(s, s.get_one(Delivery, did), now, why)
            log.warning("%s: %s %s; sending again", sid, name, why)
    mine = {f"{slug}.mp3" for slug in ours if slug}
    for name in files:
        base = name.removesuffix(".sha256")
        if base in mine and base not in keep:  # only files radiocast put there itself
            link.remove(name)
            log.info("%s: removed %s (no airing needs it)", sid, name)
    _note_removed(app, sid, keep)
    _prune_parts(app, link, files, mine)


def _note_removed(app: App, sid: str, keep: set[str]) -> None:
    """Cancelled deliveries (declined, refused) whose file is gone now: noted, so the station
    is not visited for them again."""
    def gone(s: Session) -> list[Delivery]:
        return [d for d, slug in s.execute(select(Delivery, Programme.slug).join(
                Programme, Programme.id == Delivery.programme_id).where(
                Delivery.station_id == sid, Delivery.state == DeliveryState.CANCELLED.value,
                Delivery.delivered_at.is_not(None))) if f"{slug}.mp3" not in keep]

    with app.db.read() as s:  # mostly none: a read costs no turn at the write lock
        if not gone(s):
            return
    now = app.clock()
    with app.db.write() as s:
        for d in gone(s):
            approvals.mark_removed(s, d, now)


def _prune_parts(app: App, link: Link, files: dict[str, int], mine: set[str]) -> None:
    """Remove temporary uploads radiocast left at the station that no transfer needs now."""
    sid = link.station.id
    with app.db.read() as s:
        wanted = {part_name(f"{slug}.mp3", sha) for slug, sha in s.execute(
            select(Programme.slug, Programme.sha256).join(
                Delivery, Delivery.programme_id == Programme.id).where(
                Delivery.station_id == sid,
                Delivery.state.in_([DeliveryState.QUEUED.value, DeliveryState.SENDING.value])))
            if slug and sha}
    for name in files:
        m = PART_RE.match(name)
        if m is None or name in wanted:
            continue
        base = m.group("base") or m.group("old")
        if base in mine:
            link.remove(name)
            log.info("%s: removed %s (a transfer nobody needs any more)", sid, name)
