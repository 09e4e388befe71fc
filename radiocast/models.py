"""Value types shared by every layer: lifecycle states as StrEnums, the clock seam."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum


class ProgrammeState(StrEnum):
    RECEIVED = "received"
    NORMALIZING = "normalizing"
    READY = "ready"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


class Priority(StrEnum):
    NORMAL = "normal"
    PRIORITY = "priority"
    EMERGENCY = "emergency"


class DeliveryState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


class AiringKind(StrEnum):
    PREMIERE = "premiere"
    REPLAY = "replay"
    MAKEUP = "makeup"
    EMERGENCY = "emergency"


class AiringState(StrEnum):
    PLANNED = "planned"
    AIRING = "airing"
    AIRED = "aired"
    MISSED = "missed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"


Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware. Injected so tests can travel in time."""


def utc_now() -> datetime:
    return datetime.now(UTC)
