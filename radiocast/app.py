"""The application context the CLI and the daemon share: settings, database, clock, language."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from radiocast.config import Settings, find_config, load_settings
from radiocast.db import ops
from radiocast.db.engine import Database, open_database
from radiocast.models import Clock, StationRecord, utc_now


@dataclass
class App:
    settings: Settings
    db: Database
    lang: str
    clock: Clock = field(default=utc_now)

    def close(self) -> None:
        self.db.dispose()


def open_app(config: str | Path | None, lang: str | None = None, clock: Clock = utc_now,
             migrate: bool = True) -> App:
    settings = load_settings(find_config(config))
    db = open_database(settings.database_url, migrate=migrate)
    if migrate:
        with db.write() as s:
            ops.sync_stations(s, [StationRecord(st.id, st.name, st.valid_from, st.valid_to)
                                  for st in settings.stations], clock())
    return App(settings=settings, db=db, lang=lang or settings.general.language, clock=clock)
