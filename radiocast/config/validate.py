"""Typed readers for configuration values: each names the exact key when a value is wrong.

`Table` reads one TOML table and remembers which keys were used, so an unknown key (a typo) is
an error. Every converter takes the dotted key and the raw value and raises ConfigError.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from datetime import date, time
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from radiocast.core.errors import ConfigError
from radiocast.core.models import Priority, Slot

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SLOT_RE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
BITRATE_RE = re.compile(r"^(\d{2,3})k$")
# ---------------------------------------------------------------- validation helpers

T = TypeVar("T")


class Table:
    """One TOML table being read: remembers which keys were used, so unknown keys are errors."""

    # all keys the parser knows, as "section.key" (for the docs test)
    every_key: ClassVar[set[str]] = set()

    def __init__(self, data: Mapping[str, Any], prefix: str) -> None:
        self.data = data
        self.prefix = prefix
        self.used: set[str] = set()
        self.section = re.sub(r"\[\d+\]", "", prefix)  # stations[12] -> stations

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def _note(self, name: str) -> None:
        self.used.add(name)
        Table.every_key.add(f"{self.section}.{name}" if self.section else name)

    def get(self, name: str, conv: Callable[[str, Any], T], default: T) -> T:
        self._note(name)
        if name not in self.data:
            return default
        return conv(self.key(name), self.data[name])

    def require(self, name: str, conv: Callable[[str, Any], T]) -> T:
        self._note(name)
        if name not in self.data:
            raise ConfigError(self.key(name), "is required")
        return conv(self.key(name), self.data[name])

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(self.key(unknown[0]), "unknown key (check the spelling)")


def as_str(key: str, v: Any) -> str:
    if not isinstance(v, str):
        raise ConfigError(key, f"must be a string, got {type(v).__name__}")
    return v


def as_nonempty(key: str, v: Any) -> str:
    s = as_str(key, v)
    if not s.strip():
        raise ConfigError(key, "must not be empty")
    return s


def as_bool(key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ConfigError(key, f"must be true or false, got {v!r}")
    return v


def as_num(key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ConfigError(key, f"must be a number, got {v!r}")
    return float(v)


def as_int_range(lo: int, hi: int) -> Callable[[str, Any], int]:
    def conv(key: str, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(key, f"must be a whole number, got {v!r}")
        if not lo <= v <= hi:
            raise ConfigError(key, f"must be {lo}–{hi}, got {v}")
        return v

    return conv


def as_num_range(lo: float, hi: float) -> Callable[[str, Any], float]:
    def conv(key: str, v: Any) -> float:
        f = as_num(key, v)
        if not lo <= f <= hi:
            raise ConfigError(key, f"must be between {lo:g} and {hi:g}, got {f:g}")
        return f

    return conv


def as_choice(*choices: str) -> Callable[[str, Any], str]:
    def conv(key: str, v: Any) -> str:
        s = as_str(key, v)
        if s not in choices:
            raise ConfigError(key, f"must be one of {', '.join(choices)}, got {s!r}")
        return s

    return conv


def as_path(base: Path) -> Callable[[str, Any], Path]:
    def conv(key: str, v: Any) -> Path:
        s = as_nonempty(key, v)
        p = Path(s).expanduser()
        return p if p.is_absolute() else (base / p)

    return conv


def as_timezone(key: str, v: Any) -> str:
    s = as_str(key, v)
    try:
        ZoneInfo(s)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(key, f"unknown time zone {s!r} (e.g. Asia/Ho_Chi_Minh)") from None
    return s


def as_slot(key: str, v: Any) -> Slot:
    s = as_str(key, v)
    m = SLOT_RE.match(s.strip())
    if not m:
        raise ConfigError(key, f"must look like 06:00-06:45, got {s!r}")
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ConfigError(key, f"not a valid time of day: {s!r}")
    slot = Slot(time(h1, m1), time(h2, m2))
    if slot.minutes <= 0:
        raise ConfigError(key, f"window must end after it starts (same day), got {s!r}")
    return slot


def as_slots(key: str, v: Any) -> tuple[Slot, ...]:
    if not isinstance(v, list) or not v:
        raise ConfigError(key, "must be a non-empty list of windows like \"06:00-06:45\"")
    slots = tuple(as_slot(f"{key}[{i}]", item) for i, item in enumerate(v))
    ordered = sorted(slots, key=lambda s: s.start)
    for a, b in itertools.pairwise(ordered):
        if b.start < a.end:
            raise ConfigError(key, f"windows {a} and {b} overlap")
    return tuple(ordered)


def as_date(key: str, v: Any) -> date:
    if isinstance(v, date) and not hasattr(v, "hour"):
        return v
    if isinstance(v, str):
        try:
            return date.fromisoformat(v)
        except ValueError:
            pass
    raise ConfigError(key, f"must be a date like 2025-06-30, got {v!r}")


def as_backoff(key: str, v: Any) -> tuple[int, ...]:
    if not isinstance(v, list) or not v:
        raise ConfigError(key, "must be a non-empty list of seconds")
    return tuple(as_int_range(1, 86400)(f"{key}[{i}]", x) for i, x in enumerate(v))


def as_bitrate(key: str, v: Any) -> str:
    s = as_str(key, v)
    m = BITRATE_RE.match(s)
    if not m or not 32 <= int(m.group(1)) <= 320:
        raise ConfigError(key, f"must be like \"64k\" (32k–320k), got {s!r}")
    return s


def as_slug(key: str, v: Any) -> str:
    s = as_str(key, v)
    if not SLUG_RE.match(s):
        raise ConfigError(key, f"must be a lowercase ASCII slug (a-z, 0-9, -), got {s!r}")
    return s


def as_account_prefix(key: str, v: Any) -> str:
    """The start of a system account or group name (lowercase, short, no shell metacharacters)."""
    s = as_str(key, v)
    if not re.match(r"^[a-z_][a-z0-9_-]{0,15}$", s):
        raise ConfigError(key, f"must be a short lowercase account name, got {s!r}")
    return s


def as_remote_dir(key: str, v: Any) -> str:
    s = as_str(key, v)
    if not s.startswith("/") or not re.match(r"^[A-Za-z0-9_./-]+$", s) or "/../" in s + "/":
        raise ConfigError(key, f"must be an absolute path of safe ASCII characters, got {s!r}")
    return s.rstrip("/") or "/"


def as_play_command(key: str, v: Any) -> str:
    s = as_nonempty(key, v)
    if "{file}" not in s:
        raise ConfigError(key, "must contain {file}, where the programme's path goes")
    return s


def as_table(key: str, v: Any) -> Mapping[str, Any]:
    if not isinstance(v, dict):
        raise ConfigError(key, "must be a table")
    return v


# ---------------------------------------------------------------- the parser


def priority_of(key: str, v: Any) -> Priority:
    s = as_choice(*(p.value for p in Priority))(key, v)
    return Priority(s)


def as_lines(key: str, v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ConfigError(key, 'must be a list of text lines, like ["Như trên;", "Lưu: VT."]')
    return tuple(v)


def as_clock(key: str, v: Any) -> time:
    """A time of day, "07:00"."""
    if not isinstance(v, str) or not re.fullmatch(r"\d\d:\d\d", v):
        raise ConfigError(key, f'must be a time of day like "07:00", got {v!r}')
    try:
        return time.fromisoformat(v)
    except ValueError:
        raise ConfigError(key, f"not a valid time of day: {v!r}") from None


def as_span(key: str, v: Any) -> tuple[time, time]:
    """Quiet hours, "21:00-06:00": may wrap midnight (unlike an airing window)."""
    if not isinstance(v, str) or "-" not in v:
        raise ConfigError(key, f'must look like "21:00-06:00", got {v!r}')
    start, end = v.split("-", 1)
    span = as_clock(key, start.strip()), as_clock(key, end.strip())
    if span[0] == span[1]:
        raise ConfigError(key, "must not start and end at the same time")
    return span


def as_listen(key: str, v: Any) -> str:
    """"host:port" for an HTTP endpoint, or "" (off)."""
    if v == "":
        return ""
    if not isinstance(v, str) or not re.fullmatch(r"[\w.\-:\[\]]+:\d{1,5}", v) \
            or not 0 < int(v.rsplit(":", 1)[1]) < 65536:
        raise ConfigError(key, f'must be "host:port" like "127.0.0.1:9464", or "", got {v!r}')
    return v


def as_list_of_tables(key: str, value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
        raise ConfigError(key, f"must be an array of tables ([[{key}]])")
    return value
