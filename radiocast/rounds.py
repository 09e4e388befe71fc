"""`radiocast run --once`: every station served in one round, in parallel, each over one
connection that carries its deliveries, its inventory and, after planning, its playbook.

The daemon's loop does the same per station as work appears (`daemon.Contacts`); this is the
drain for a run from the command line or a timer.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from radiocast.airing import planning, playbook
from radiocast.app import App
from radiocast.db import views
from radiocast.stations import deliver
from radiocast.stations.links import Visit

# connections open at once: a station waiting on a slow link costs a sleeping thread, so this
# follows the number of stations; `delivery.max_parallel` bounds the uploads themselves
MAX_CONNECTIONS = 64


def run_round(app: App, stop: threading.Event) -> int:
    """Deliver what is due, plan, publish changed playbooks. Returns failures + retries."""
    stations = {st.id: st for st in app.settings.stations}
    if not stations:
        return 0
    visits = {sid: Visit(app.settings, st) for sid, st in stations.items()}
    transfers = threading.Semaphore(app.settings.delivery.max_parallel)
    failures = 0
    workers = max(1, min(MAX_CONNECTIONS, len(stations)))
    with ThreadPoolExecutor(workers, thread_name_prefix="radiocast-round") as pool:
        try:
            with app.db.read() as s:
                due = [sid for sid in views.due_station_ids(s, app.clock()) if sid in stations]
            for out in pool.map(lambda sid: deliver.deliver_station(
                    app, stations[sid], stop, transfers=transfers, visit=visits[sid]), due):
                failures += out.failed + out.retrying
            if stop.is_set():
                return failures
            changed = sorted(sid for sid in planning.plan_all(app) if sid in stations)
            if not stop.is_set():
                failures += sum(not ok for ok in pool.map(
                    lambda sid: playbook.publish_playbook(app, sid, visits[sid]), changed))
        finally:
            list(pool.map(Visit.close, visits.values()))
    return failures
