"""The error tree: every user-facing failure, each with the exit code the CLI returns."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    PARTIAL = 1
    USAGE = 2
    CONFIG = 3
    LOCKED = 4
    DATABASE = 5


class RadiocastError(Exception):
    """Base of every error radiocast reports to a user."""

    exit_code: ExitCode = ExitCode.PARTIAL


class ConfigError(RadiocastError):
    """The configuration file is missing or invalid; the message names the key."""

    exit_code = ExitCode.CONFIG

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}" if key else problem)


class LockHeldError(RadiocastError):
    exit_code = ExitCode.LOCKED


class DatabaseError(RadiocastError):
    exit_code = ExitCode.DATABASE


class DatabaseBusy(DatabaseError):
    """The daemon's loop thread did not get the write lock within its short wait (another
    program, or a long transaction, holds it): the step waits for the next tick, and the
    watchdog is pinged meanwhile."""


class LeaseLost(DatabaseError):
    """This hub is no longer the leader (its lease expired or another hub took it): it must
    not act. Raised before any write or station contact of a hub that lost its lease."""


class UsageError(RadiocastError):
    exit_code = ExitCode.USAGE


class NoDataError(RadiocastError):
    """A query or report found nothing for what was asked."""

    exit_code = ExitCode.PARTIAL


class AudioError(RadiocastError):
    """A file cannot become a programme. `code` selects the Vietnamese explanation."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


class DeliveryError(RadiocastError):
    def __init__(self, station_id: str, detail: str) -> None:
        self.station_id = station_id
        self.detail = detail
        super().__init__(f"{station_id}: {detail}")


class TransientDeliveryError(DeliveryError):
    """Worth retrying later: timeouts, resets, refused connections, stalls."""


class PermanentDeliveryError(DeliveryError):
    """Retrying will not help until a person acts: host key, auth, permissions, disk full."""
