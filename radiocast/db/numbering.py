"""Airing numbers a hub never gives twice: a hub restored from an older backup would number
new airings again from where the backup stopped, with ids its stations' agents have already
played (and so never play again). Each agent reports the highest id it has used
(`station.airing_id_seen`); new airings are numbered past it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

# plain SQL over two columns: this module sits below the table models (one import floor less)
SEEN = text("SELECT MAX(airing_id_seen) FROM station")
HIGHEST = text("SELECT MAX(id) FROM airing")


def number_past_stations(s: Session, rows: list[dict[str, Any]]) -> bool:
    """Give `rows` (new airings) explicit ids past every id a station reports having used,
    when the hub's own numbering has not passed it yet. True when it did."""
    seen = s.scalar(SEEN)
    if seen is None or seen <= (s.scalar(HIGHEST) or 0):
        return False
    for n, row in enumerate(rows, start=int(seen) + 1):
        row["id"] = n
    return True


def follow(s: Session, highest: int) -> None:
    """After explicit ids: PostgreSQL's sequence goes on from them (SQLite's rowid does by
    itself)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT setval(pg_get_serial_sequence('airing', 'id'), :n)"),
                  {"n": highest})
