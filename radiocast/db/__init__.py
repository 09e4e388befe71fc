"""The database: schema, engine, migrations and every state transition (in `ops`)."""

from radiocast.db.engine import Database, open_database

__all__ = ["Database", "open_database"]
