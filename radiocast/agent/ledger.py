"""The agent's own durable record (SQLite, synchronous=FULL, in `state_dir`): which airings it
has started — written before the player starts, so an airing id never plays twice, across
restarts, power cuts and a clock stepped backwards — the outcome of each, decided here first
with its proof-of-play event `pending` until the journal holds it (a full media disk delays the
event, never loses it), and what the hub has acknowledged."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS played (
    airing_id INTEGER PRIMARY KEY,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    scheduled_at TEXT NOT NULL,
    started_at TEXT NOT NULL,
    boot_id TEXT NOT NULL,
    monotonic_s REAL NOT NULL,
    outcome TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


REUSED_MAX = 500


def _moment(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Started:
    airing_id: int
    file: str
    sha256: str
    scheduled_at: str
    started_at: str
    boot_id: str
    monotonic_s: float


class Ledger:
    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(state_dir / "agent.db", isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        if "pending" not in {row[1] for row in self.db.execute("PRAGMA table_info(played)")}:
            self.db.execute("ALTER TABLE played ADD COLUMN pending TEXT")  # older agents' ledgers

    def close(self) -> None:
        self.db.close()

    def known(self) -> set[int]:
        """Every airing id this station ever started or decided about."""
        return {r[0] for r in self.db.execute("SELECT airing_id FROM played")}

    def highest(self) -> int:
        """The highest airing id this station ever started or decided about: a hub restored
        from an older backup moves its own numbering past it."""
        row = self.db.execute("SELECT MAX(airing_id) FROM played").fetchone()
        return int(row[0] or 0)

    def reused(self, items: dict[int, datetime], limit: int = REUSED_MAX) -> list[int]:
        """Of the playbook's airings (id → start), those whose id this station already used
        for an airing at another time: a hub restored from a backup numbered them again. They
        are never played; the hub plans them again under new ids."""
        out = []
        for aid, scheduled in self.db.execute("SELECT airing_id, scheduled_at FROM played"):
            start = items.get(int(aid))
            if start is not None and _moment(str(scheduled)) != start:
                out.append(int(aid))
                if len(out) >= limit:
                    break
        return sorted(out)

    def start(self, s: Started) -> bool:
        """Record the start (durably) before the player runs. False: it was started before."""
        try:
            self.db.execute("INSERT INTO played (airing_id, file, sha256, scheduled_at, "
                            "started_at, boot_id, monotonic_s) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (s.airing_id, s.file, s.sha256, s.scheduled_at, s.started_at,
                             s.boot_id, s.monotonic_s))
        except sqlite3.IntegrityError:
            return False
        return True

    def decide(self, airing_id: int, outcome: str, file: str = "", sha256: str = "",
               scheduled_at: str = "", now: datetime | None = None,
               pending: str | None = None) -> None:
        """An outcome for an airing (also one that never started: skipped), with its event
        (JSON) to write to the journal."""
        self.db.execute(
            "INSERT INTO played (airing_id, file, sha256, scheduled_at, started_at, boot_id, "
            "monotonic_s, outcome, pending) VALUES (?, ?, ?, ?, ?, '', 0, ?, ?) "
            "ON CONFLICT(airing_id) DO UPDATE SET outcome = excluded.outcome, "
            "pending = excluded.pending",
            (airing_id, file, sha256, scheduled_at, now.isoformat() if now else "", outcome,
             pending))

    def pending(self) -> list[tuple[int, str]]:
        """Events decided and not yet in the journal: (airing id, the event's JSON)."""
        return [(int(r[0]), str(r[1])) for r in self.db.execute(
            "SELECT airing_id, pending FROM played WHERE pending IS NOT NULL ORDER BY rowid")]

    def written(self, airing_id: int) -> None:
        self.db.execute("UPDATE played SET pending = NULL WHERE airing_id = ?", (airing_id,))

    def unfinished(self) -> list[Started]:
        """Airings started and never given an outcome: the agent died while they played."""
        return [Started(*row) for row in self.db.execute(
            "SELECT airing_id, file, sha256, scheduled_at, started_at, boot_id, monotonic_s "
            "FROM played WHERE outcome IS NULL ORDER BY airing_id")]

    def get(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def put(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                        "SET value = excluded.value", (key, value))
