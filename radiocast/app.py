"""The application context the CLI and the daemon share: settings, database, clock, language."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from radiocast.config.peek import find_config
from radiocast.config.settings import Settings, load_settings
from radiocast.core.models import Clock, StationRecord, utc_now
from radiocast.db import ops
from radiocast.db.engine import EMPTY_DATABASE, Database, nothing_recorded, open_database


@dataclass
class App:
    settings: Settings
    db: Database
    lang: str
    clock: Clock = field(default=utc_now)

    def close(self) -> None:
        self.db.dispose()


def open_app(config: str | Path | None, lang: str | None = None, clock: Clock = utc_now,
             migrate: bool = True, readonly: bool = False,
             settings: Settings | None = None) -> App:
    """`readonly` for commands that only look: no migration, no write, no file created.
    `settings`: already read from `config` (a file is parsed once per command)."""
    settings = settings or load_settings(find_config(config))
    if readonly and nothing_recorded(settings.database_url):
        # nothing recorded yet: look at an empty state (in memory, nothing written to disk)
        readonly, migrate = False, True
        db = open_database(EMPTY_DATABASE)
    else:
        db = open_database(settings.database_url, migrate=migrate, readonly=readonly)
    if migrate and not readonly:
        with db.write() as s:
            ops.sync_stations(s, [StationRecord(st.id, st.name, st.valid_from, st.valid_to)
                                  for st in settings.stations], clock())
    return App(settings=settings, db=db, lang=lang or settings.general.language, clock=clock)
