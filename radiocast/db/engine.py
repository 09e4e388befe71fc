"""Engine and sessions: SQLite in WAL with BEGIN IMMEDIATE for writers; Alembic at start."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from radiocast.core.errors import DatabaseBusy, DatabaseError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_MS = 30_000
LOOP_WAIT_SECONDS = 4.0  # the loop thread's longest wait for the write lock, each of two
WRITE_LOCK = 0x72616469  # "radi": PostgreSQL advisory lock key of radiocast's writers
EMPTY_DATABASE = "sqlite://"  # in memory: what read-only commands see before any database


class WriteFence(Protocol):
    """A leading hub's lease (`db/lease.Fence`): checked in each write transaction."""

    epoch: int

    def check(self, s: Session) -> None: ...


class Database:
    """Owns the engine. `read()` for queries, `write()` for every change (BEGIN IMMEDIATE).

    `readonly`: for the listing commands. It never migrates, never creates a file (not even
    SQLite's -wal/-shm, which `sudo radiocast status` would leave owned by root), and fails
    with the command to run when the schema is not the one this radiocast expects."""

    def __init__(self, url: str, readonly: bool = False) -> None:
        self.url = url
        self.readonly = readonly
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[1] if "///" in url else ""
            if readonly:
                url = _readonly_sqlite_url(path)
            elif path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "isolation_level": None,
                                   "check_same_thread": False},
                poolclass=StaticPool if url == EMPTY_DATABASE else None,
            )
            event.listen(self.engine, "connect",
                         _sqlite_on_connect_ro if readonly else _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        else:  # a hub's threads share the pool; a dropped connection is replaced on checkout
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=10,
                                        max_overflow=60, pool_timeout=60)
        # writers of this process queue here before taking the database's write lock
        self._local_writers = WriterGate()
        self.loop_thread: int | None = None  # the daemon's loop: first in line, short waits
        self.fence: WriteFence | None = None  # set while this process leads (db/lease.py)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(
            self.engine.execution_options(radiocast_write=True), expire_on_commit=False
        )
        self._urgent_writer = sessionmaker(  # the loop thread: a short wait for SQLite's lock
            self.engine.execution_options(radiocast_write=True, radiocast_urgent=True),
            expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with _translate(), self._reader() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction; commits on success. On SQLite it takes the write lock first:
        this process's own writers queue on a lock of their own (woken the moment it is
        free) rather than in SQLite's busy handler, which sleeps in steps of up to 100 ms and
        turned a hundred station threads into a convoy (issue #15's fan-out profile).

        On PostgreSQL the same discipline: one writer at a time across every process on the
        database (a transaction-level advisory lock, released by commit or rollback, so a
        pooler or a recycled connection cannot leave it held), then READ COMMITTED reads see
        every earlier commit. A leading hub's fence is checked inside the transaction.

        The daemon's loop thread (`loop_thread`) goes first in that queue and waits at most
        LOOP_WAIT_SECONDS there and as long again for SQLite's lock held by another program,
        then gets DatabaseBusy: however many stations write, the watchdog is pinged in time."""
        urgent = threading.get_ident() == self.loop_thread
        if not self._local_writers.acquire(urgent, LOOP_WAIT_SECONDS if urgent else None):
            raise DatabaseBusy(f"the database stayed busy for {LOOP_WAIT_SECONDS:.0f} s (this "
                               "hub's own writers); the step waits for the next tick")
        try:
            with self._in_transaction(urgent) as session:
                yield session
        except DatabaseError as exc:
            if urgent and self.is_sqlite and "database is locked" in str(exc):
                raise DatabaseBusy(f"the database stayed locked for {LOOP_WAIT_SECONDS:.0f} s "
                                   "(another program writes); the step waits for the next "
                                   "tick") from exc
            raise
        finally:
            self._local_writers.release()

    @contextmanager
    def _in_transaction(self, urgent: bool) -> Iterator[Session]:
        maker = self._urgent_writer if urgent else self._writer
        with _translate(), maker() as session, session.begin():
            if not self.is_sqlite:
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITE_LOCK})
            if self.fence is not None:
                self.fence.check(session)
                session.info["epoch"] = self.fence.epoch
            yield session

    @contextmanager
    def lease_write(self) -> Iterator[Session]:
        """The lease's own transactions (db/lease.py): never queued behind this process's
        writers, or a renewal stuck behind a burst of airings would let the lease lapse. The
        lease row's own locks keep them atomic against fenced writes."""
        with _translate(), self._writer() as session, session.begin():
            yield session

    # ------------------------------------------------------------ migrations

    # Alembic (~0.1 s to import) is loaded only to migrate: the listing commands read the
    # revision with one query and find the head from the migration files themselves.

    def current_revision(self) -> str | None:
        with _translate(), self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def head_revision(self) -> str | None:
        return head_of(MIGRATIONS / "versions")

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to `revision`; cheap when it is already there."""
        if revision == "head" and self.current_revision() == self.head_revision():
            return
        from alembic import command
        from alembic.config import Config as AlembicConfig

        log.info("migrating database schema to %s", revision)
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["engine"] = self.engine
        with _translate():
            command.upgrade(cfg, revision)

    def require_head(self) -> None:
        """The schema must be the one this radiocast knows, or say what to run."""
        have, want = self.current_revision(), self.head_revision()
        if have != want:
            raise DatabaseError(
                f"the database schema is at {have or 'nothing'}, this radiocast needs {want}: "
                "run `radiocast migrate` (as the service user), or start the service")

    def dispose(self) -> None:
        self.engine.dispose()


class WriterGate:
    """This process's writers, one at a time, re-entrant, in arrival order; an urgent writer
    (the daemon's loop) goes before every waiting one and may give up after a timeout."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._urgent = threading.Condition(self._lock)
        self._normal = threading.Condition(self._lock)
        self._owner: int | None = None
        self._depth = 0
        self._urgent_waiting = 0

    def acquire(self, urgent: bool = False, timeout: float | None = None) -> bool:
        me = threading.get_ident()
        with self._lock:
            if self._owner == me:
                self._depth += 1
                return True
            if urgent:
                self._urgent_waiting += 1
                try:
                    got = self._urgent.wait_for(lambda: self._owner is None, timeout)
                finally:
                    self._urgent_waiting -= 1
                if not got:
                    self._wake()  # the gate may be free for a normal writer
                    return False
            else:
                self._normal.wait_for(lambda: self._owner is None and not self._urgent_waiting)
            self._owner, self._depth = me, 1
            return True

    def release(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._wake()

    def _wake(self) -> None:
        if self._owner is None:
            (self._urgent if self._urgent_waiting else self._normal).notify()


_REVISION = re.compile(r"""^(down_revision|revision)\s*=\s*(?:"([^"]*)"|None)""", re.M)


def head_of(versions: Path) -> str | None:
    """The revision no other migration revises (the same answer as Alembic's, for a single
    line of migrations)."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in versions.glob("*.py"):
        for key, value in _REVISION.findall(path.read_text(encoding="utf-8")):
            (revisions if key == "revision" else downs).add(value)
    heads = revisions - downs
    if len(heads) > 1:
        raise DatabaseError(f"migrations have several heads: {sorted(heads)}")
    return next(iter(heads), None)


def nothing_recorded(url: str) -> bool:
    """No database yet: no SQLite file, or a PostgreSQL database never migrated (the
    commands that only look then show an empty state instead of an error)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1] if url.startswith("sqlite:///") else ""
        return bool(path) and path != ":memory:" and not Path(path).exists()
    db = Database(url)
    try:
        return db.current_revision() is None
    finally:
        db.dispose()


def _readonly_sqlite_url(path: str) -> str:
    db = Path(path)
    if not db.exists():
        raise DatabaseError(f"no database at {db} yet: start radiocast (`radiocast run`) or "
                            "create it with `radiocast migrate`")
    wal = db.with_name(db.name + "-wal")
    # with no writer open (no -wal file), nothing can change under us: `immutable` reads the
    # file as it is and creates nothing; with a writer open, read through its -shm
    mode = "mode=ro" if wal.exists() else "immutable=1"
    return f"sqlite:///file:{quote(str(db.resolve()))}?{mode}&uri=true"


def _sqlite_on_connect_ro(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_on_begin(conn: Any) -> None:
    # pysqlite's own transaction handling is off (isolation_level=None); we say BEGIN ourselves,
    # IMMEDIATE for writers so read-then-write transactions never fail on lock upgrade.
    options = conn.get_execution_options()
    if options.get("radiocast_write"):
        wait = LOOP_WAIT_SECONDS * 1000 if options.get("radiocast_urgent") else BUSY_TIMEOUT_MS
        conn.exec_driver_sql(f"PRAGMA busy_timeout={int(wait)}")  # pooled: set every time
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


@contextmanager
def _translate() -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        raise DatabaseError(f"database error: {exc.__class__.__name__}: {exc}") from exc


def open_database(url: str, migrate: bool = True, readonly: bool = False) -> Database:
    db = Database(url, readonly=readonly)
    if migrate and not readonly:
        db.migrate()
    elif readonly:
        db.require_head()
    return db
