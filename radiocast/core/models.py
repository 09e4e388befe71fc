"""Value types shared by every layer: lifecycle states as StrEnums, the clock seam."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum


class ProgrammeState(StrEnum):
    RECEIVED = "received"
    NORMALIZING = "normalizing"
    READY = "ready"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


class ApprovalState(StrEnum):
    """Where a programme stands with its approvers ([approval] in the configuration)."""

    NOT_REQUIRED = "not_required"
    AWAITING = "awaiting"
    APPROVED = "approved"
    DECLINED = "declined"
    APPROVED_AFTER_AIR = "approved_after_air"  # an emergency that aired first


# the approval states a programme may air in
AIRABLE = frozenset({ApprovalState.NOT_REQUIRED.value, ApprovalState.APPROVED.value,
                     ApprovalState.APPROVED_AFTER_AIR.value})


class Priority(StrEnum):
    NORMAL = "normal"
    PRIORITY = "priority"
    EMERGENCY = "emergency"


class DeliveryState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    PUBLISHED = "published"  # in a pull station's outbox; delivered once the station says so
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
    UNCONFIRMED = "unconfirmed"  # the station never said how it went: not counted
    SILENT = "silent"  # the player ran, but the station's capture heard silence: not counted
    CANCELLED = "cancelled"


# airings that did not reach the listeners: each gets a make-up while the month has windows
FELL_THROUGH = frozenset({AiringState.MISSED, AiringState.FAILED, AiringState.INTERRUPTED,
                          AiringState.SILENT})
FELL_THROUGH_VALUES = tuple(sorted(a.value for a in FELL_THROUGH))


@dataclass(frozen=True)
class Slot:
    """A daily airing window in local time."""

    start: time
    end: time

    @property
    def minutes(self) -> int:
        return (self.end.hour * 60 + self.end.minute) - (self.start.hour * 60 + self.start.minute)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class StationRecord:
    """What the station table keeps of a configured station."""

    id: str
    name: str
    valid_from: date | None
    valid_to: date | None


@dataclass(frozen=True)
class Claim:
    """A dropped file, hashed and described, about to become (or resume being) a programme."""

    source_sha256: str
    source_name: str
    source_size: int
    drop_path: str
    spool_path: str
    title: str
    title_key: str
    month: str
    language: str
    priority: str
    stations: list[str] | None


@dataclass(frozen=True)
class Normalized:
    """What normalization measured and made."""

    duration_s: float
    input_lufs: float
    input_lra: float
    input_true_peak_dbtp: float
    output_lufs: float
    output_true_peak_dbtp: float
    output_path: str
    sha256: str
    size: int


OUTCOME_WITHIN = timedelta(hours=6)
"""A started airing with no word from the station this long after its start is unconfirmed."""


Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware. Injected so tests can travel in time."""


def utc_now() -> datetime:
    return datetime.now(UTC)
