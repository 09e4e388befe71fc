"""SQLAlchemy table models: programme, station, delivery, airing, shortfall, event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    case,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# a 64-bit id on PostgreSQL, SQLite's own rowid (64-bit already) there: numbers a station
# reports (airing ids, seqs, playbook versions) may be large, and the hub moves past them
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: one rule for SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


def priority_rank(column: Any) -> Any:
    """Emergency first, then priority, then normal: the order of every queue (SQL)."""
    return case((column == "emergency", 0), (column == "priority", 1), else_=2)


class Base(DeclarativeBase):
    pass


class Programme(Base):
    __tablename__ = "programme"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    title_key: Mapped[str] = mapped_column(String(300), index=True)
    month: Mapped[str] = mapped_column(String(7), index=True)
    language: Mapped[str] = mapped_column(String(8), default="vi")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    stations: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list or NULL = all
    source_name: Mapped[str] = mapped_column(String(500))
    source_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source_size: Mapped[int] = mapped_column(BigInteger, default=0)
    drop_path: Mapped[str] = mapped_column(Text)
    spool_path: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    reason_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reason_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    input_lufs: Mapped[float | None] = mapped_column(Float, nullable=True)
    input_lra: Mapped[float | None] = mapped_column(Float, nullable=True)
    input_true_peak_dbtp: Mapped[float | None] = mapped_column(Float, nullable=True)
    output_lufs: Mapped[float | None] = mapped_column(Float, nullable=True)
    output_true_peak_dbtp: Mapped[float | None] = mapped_column(Float, nullable=True)
    output_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    slug: Mapped[str | None] = mapped_column(String(120), nullable=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    supersedes_id: Mapped[int | None] = mapped_column(
        ForeignKey("programme.id"), nullable=True
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # the approvers' word on this file (core.models.ApprovalState) and when it was given
    approval: Mapped[str] = mapped_column(String(24), default="not_required",
                                          server_default="not_required")
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Station(Base):
    __tablename__ = "station"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[str | None] = mapped_column(String(10), nullable=True)
    valid_to: Mapped[str | None] = mapped_column(String(10), nullable=True)
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    unreachable_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    free_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    clock_offset_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    agent_version: Mapped[str | None] = mapped_column(String(40), nullable=True)
    playbook_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    asrun_acked: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # the highest airing id its agent reports having used: new airings are numbered past it
    airing_id_seen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    agent_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class Delivery(Base):
    __tablename__ = "delivery"
    __table_args__ = (UniqueConstraint("programme_id", "station_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"), index=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("station.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(80), nullable=True)
    bytes_sent: Mapped[int] = mapped_column(BigInteger, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    first_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Airing(Base):
    __tablename__ = "airing"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"), index=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("station.id"), index=True)
    month: Mapped[str] = mapped_column(String(7), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    replaces_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("airing.id"),
                                                    nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # what the station's capture heard at its output (None: no capture, or not yet)
    heard_lufs: Mapped[float | None] = mapped_column(Float, nullable=True)
    heard_silent: Mapped[float | None] = mapped_column(Float, nullable=True)  # share of seconds
    heard_note: Mapped[str | None] = mapped_column(String(300), nullable=True)  # no level: why


class Shortfall(Base):
    """Airings the planner cannot fit in a month at a station, as it last planned."""

    __tablename__ = "shortfall"

    station_id: Mapped[str] = mapped_column(ForeignKey("station.id"), primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), index=True)
    missing: Mapped[int] = mapped_column(Integer)
    since: Mapped[datetime] = mapped_column(UTCDateTime())


class AsRunEvent(Base):
    """A station agent's proof-of-play event, stored exactly once per station (unique station
    and event_id: one station's ids never displace another's)."""

    __tablename__ = "asrun_event"
    __table_args__ = (UniqueConstraint("station_id", "event_id",
                                       name="uq_asrun_event_station_event"),
                      Index("ix_asrun_event_station_seq", "station_id", "seq"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36))
    station_id: Mapped[str] = mapped_column(ForeignKey("station.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    airing_id: Mapped[int] = mapped_column(BigInteger, index=True)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    raw: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AsRunSkip(Base):
    """A seq a station wrote that the hub handled without storing an event: refused (an
    airing that is not the station's) or the same event again under a new seq. Counted by the
    acknowledgement like a stored one, so the agent's backlog drains."""

    __tablename__ = "asrun_skip"

    station_id: Mapped[str] = mapped_column(ForeignKey("station.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36))
    reason: Mapped[str] = mapped_column(String(300))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Incident(Base):
    """A problem from when it is first seen until it clears: what alerts are about."""

    __tablename__ = "incident"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), index=True)  # code:subject
    code: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(16))
    station_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    emergency: Mapped[int] = mapped_column(Integer, default=0)
    texts: Mapped[str] = mapped_column(Text)  # JSON {lang: [message, action]}
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)


class Notice(Base):
    """One message to one alert channel, kept until it is sent (or given up): the outbox."""

    __tablename__ = "notice"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), nullable=True,
                                                    index=True)
    kind: Mapped[str] = mapped_column(String(16))  # start | remind | clear | digest | test
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())  # after quiet hours
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    given_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class Event(Base):
    """Append-only log of every transition; never purged by default."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    entity: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(24), nullable=True)
    to_state: Mapped[str | None] = mapped_column(String(24), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    epoch: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # hub lease epoch


class HubLease(Base):
    """Leadership among hubs sharing one database: one row, renewed with the database's own
    clock (`expires_at` in seconds since 1970 by that clock); `epoch` grows at each taking."""

    __tablename__ = "hub_lease"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    epoch: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[float] = mapped_column(Float)
    acquired_at: Mapped[float] = mapped_column(Float)


class ApprovalDecision(Base):
    """One approver's decision on one file (its sha256): approved, declined, or refused for
    one commune's station only. Never changed; chained (`chain_entry`)."""

    __tablename__ = "approval_decision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))  # approved | declined | refused
    station_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approver_id: Mapped[str] = mapped_column(String(64))
    approver_name: Mapped[str] = mapped_column(String(200))
    approver_title: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChainEntry(Base):
    """The tamper-evident record: every approval decision and every proof-of-play event, in
    the order stored, each entry's digest covering the one before (`db/chain.py`)."""

    __tablename__ = "chain_entry"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                     primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))  # approval | asrun
    ref_id: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))


class WebUser(Base):
    """A person who signs in to the web page (`radiocast users`). Only an Argon2 hash of the
    password is kept; `epoch` grows when the password changes or the account is disabled, which
    ends every session signed before."""

    __tablename__ = "web_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # operator | approver | station
    approver_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    stations: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list (role station)
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    epoch: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebKey(Base):
    """The key that signs web sessions, made once; in the database, so that every hub on one
    PostgreSQL database accepts the same sessions."""

    __tablename__ = "web_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))
