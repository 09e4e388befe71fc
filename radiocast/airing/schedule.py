"""Timed airings: one APScheduler job per planned airing, in step with the airing table.

Jobs are derived from the airing table (their only argument is the airing id) and rebuilt at
every start and every plan change. The misfire grace is explicit: APScheduler's default of one
second would silently drop airings that fell due while the daemon was busy or down.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from radiocast.app import App
from radiocast.core.models import AiringState
from radiocast.db.schema import Airing, Event

MAX_THREADS = 256


class AiringJobs:
    """Keeps one APScheduler job per planned airing; each job calls `air(airing_id)`."""

    def __init__(self, app: App, air: Callable[[int], object]) -> None:
        self.app = app
        self.air = air
        self.grace = timedelta(minutes=app.settings.schedule.misfire_grace_minutes)
        # an airing job only connects and starts the player (seconds), but every station may
        # share one window: a thread each, so the last starts as early as the first
        threads = max(10, min(MAX_THREADS, len(app.settings.stations) + 2))
        self.scheduler = BackgroundScheduler(
            timezone=app.settings.general.tz,
            executors={"default": ThreadPoolExecutor(threads)},
            job_defaults={"misfire_grace_time": int(self.grace.total_seconds()),
                          "coalesce": False, "max_instances": 1})
        self.scheduler.start()

    def generation(self) -> int:
        """Changes whenever anything was recorded: the cue to look at the plan again."""
        with self.app.db.read() as s:
            return int(s.scalar(select(func.max(Event.id))) or 0)

    def sync(self) -> None:
        now = self.app.clock()
        # agent stations play by themselves: no job at the hub
        agents = [st.id for st in self.app.settings.stations if st.playout == "agent"]
        with self.app.db.read() as s:
            due = {a.id: a.planned_at for a in s.scalars(select(Airing).where(
                Airing.state == AiringState.PLANNED.value,
                Airing.station_id.not_in(agents),
                Airing.planned_at >= now - self.grace))}
        jobs = {j.id: j for j in self.scheduler.get_jobs()}
        for jid, job in jobs.items():
            aid = int(jid.split("-")[1])
            if aid not in due:
                job.remove()
            elif job.trigger.run_date != due[aid]:
                job.reschedule("date", run_date=due[aid])
        for aid, at in due.items():
            jid = f"airing-{aid}"
            if jid not in jobs:
                self.scheduler.add_job(self.air, "date", run_date=at, id=jid, args=[aid])

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=True)
