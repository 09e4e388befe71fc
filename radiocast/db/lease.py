"""Leadership among hubs sharing one database: a lease row renewed with the database's own
clock, and an epoch that grows each time a hub takes it.

A leading hub's `Fence` is checked at the start of every write transaction (the epoch it
holds must still be the lease's, unexpired by the database clock; the row stays locked until
that transaction ends, so a hub taking the lease waits for it) and before every station
contact (by the monotonic clock: 90 % of the period since the last renewal was *asked*,
which a paused process cannot outlive unnoticed, and which ends before the database lets
another hub take the lease)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from radiocast.core.errors import LeaseLost

ROW = "hub"
MARGIN_SHARE = 0.1  # local validity ends this share of the period before the database's


def db_now(s: Session) -> str:
    """The database clock in seconds since 1970, as SQL (never the hub's own clock)."""
    if s.get_bind().dialect.name == "sqlite":
        return "((julianday('now') - 2440587.5) * 86400.0)"
    return "extract(epoch from clock_timestamp())::float8"


@dataclass(frozen=True)
class LeaseRow:
    holder: str
    epoch: int
    expires_in: float  # seconds, by the database clock; negative once expired


def current(s: Session) -> LeaseRow | None:
    row = s.execute(text(f"SELECT holder, epoch, expires_at - {db_now(s)} FROM hub_lease "
                         "WHERE name = :n"), {"n": ROW}).first()
    return None if row is None else LeaseRow(row[0], int(row[1]), float(row[2]))


def acquire(s: Session, holder: str, seconds: float) -> int | None:
    """Take the lease if it is free or expired: the new epoch, else None."""
    now = db_now(s)
    row = current(s)
    if row is None:
        s.execute(text(f"INSERT INTO hub_lease (name, holder, epoch, expires_at, acquired_at) "
                       f"VALUES (:n, :h, 1, {now} + :s, {now})"),
                  {"n": ROW, "h": holder, "s": seconds})
        return 1
    if row.expires_in > 0:
        return None
    done = s.execute(text(f"UPDATE hub_lease SET holder = :h, epoch = epoch + 1, "
                          f"expires_at = {now} + :s, acquired_at = {now} "
                          "WHERE name = :n AND epoch = :e"),
                     {"n": ROW, "h": holder, "s": seconds, "e": row.epoch})
    return row.epoch + 1 if done.rowcount == 1 else None  # type: ignore[attr-defined]


def renew(s: Session, holder: str, epoch: int, seconds: float) -> bool:
    """Extend a lease still held (by holder and epoch, unexpired); False once it is lost."""
    now = db_now(s)
    done = s.execute(text(f"UPDATE hub_lease SET expires_at = {now} + :s WHERE name = :n "
                          f"AND holder = :h AND epoch = :e AND expires_at > {now}"),
                     {"n": ROW, "h": holder, "e": epoch, "s": seconds})
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def release(s: Session, holder: str, epoch: int) -> None:
    """Give the lease up at once (a clean stop): a standby need not wait for it to expire."""
    s.execute(text(f"UPDATE hub_lease SET expires_at = {db_now(s)} - 1 WHERE name = :n "
                   "AND holder = :h AND epoch = :e"), {"n": ROW, "h": holder, "e": epoch})


def holds(s: Session, holder: str, epoch: int) -> bool:
    """The fence, inside a write transaction. On PostgreSQL the row is locked FOR SHARE until
    that transaction ends: another hub's taking (an UPDATE of the row) waits for it, and a
    taking that committed first is seen (the row is re-read), so the check cannot pass for
    a lease already taken. On SQLite the database's single write lock does the same."""
    lock = "" if s.get_bind().dialect.name == "sqlite" else " FOR SHARE"
    return s.execute(text(f"SELECT 1 FROM hub_lease WHERE name = :n AND holder = :h AND "
                          f"epoch = :e AND expires_at > {db_now(s)}{lock}"),
                     {"n": ROW, "h": holder, "e": epoch}).first() is not None


@dataclass
class Fence:
    """What a leading hub holds. `check_local` costs nothing (the monotonic clock);
    `check` also asks the database, inside the caller's write transaction."""

    holder: str
    epoch: int
    seconds: float
    valid_until: float = 0.0
    lost: threading.Event = field(default_factory=threading.Event)

    def renewed(self, asked_at: float) -> None:
        self.valid_until = asked_at + self.seconds * (1 - MARGIN_SHARE)

    def check_local(self) -> None:
        if self.lost.is_set() or time.monotonic() > self.valid_until:
            self.lost.set()
            raise LeaseLost(f"this hub's lease (epoch {self.epoch}) has run out: it is no "
                            "longer the leader and does nothing more")

    def check(self, s: Session) -> None:
        self.check_local()
        if not holds(s, self.holder, self.epoch):
            self.lost.set()
            raise LeaseLost(f"another hub leads now (this hub held epoch {self.epoch})")


_ACTIVE: list[Fence] = []


def install(fence: Fence | None) -> None:
    """The fence every station contact of this process checks (None: not a fenced hub)."""
    _ACTIVE[:] = [fence] if fence is not None else []


def guard() -> None:
    """Before a station contact: refuse if this process leads no more."""
    for fence in _ACTIVE:
        fence.check_local()
