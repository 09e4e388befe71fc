"""Loads the TOML configuration once and validates it into typed, frozen settings."""

from __future__ import annotations

import itertools
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from radiocast.errors import ConfigError
from radiocast.models import Priority

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SLOT_RE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
BITRATE_RE = re.compile(r"^(\d{2,3})k$")
SYSTEM_CONFIG = Path("/etc/radiocast/radiocast.toml")


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
class GeneralSettings:
    timezone: str = "Asia/Ho_Chi_Minh"
    language: str = "vi"
    sender: str = "Trung tâm Văn hóa, Thông tin, Thể thao và Du lịch huyện Quan Sơn"
    data_dir: Path = Path("/var/lib/radiocast")
    database_url: str = ""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class IngestSettings:
    drop_dir: Path = Path("/srv/radiocast/drop")
    archive_dir: Path = Path("/srv/radiocast/drop/Đã nhận")
    quarantine_dir: Path = Path("/srv/radiocast/drop/Lỗi")
    settle_seconds: float = 5.0
    polling: bool = False
    rescan_seconds: float = 300.0
    waiting_alert_minutes: int = 30


@dataclass(frozen=True)
class AudioSettings:
    target_lufs: float = -16.0
    true_peak_dbtp: float = -1.5
    channels: int = 1
    sample_rate: int = 44100
    bitrate: str = "64k"
    min_seconds: float = 10.0


@dataclass(frozen=True)
class ScheduleSettings:
    slots: tuple[Slot, ...] = (Slot(time(6, 0), time(6, 45)), Slot(time(17, 30), time(18, 15)))
    replays_per_month: int = 3
    min_gap_days: int = 3
    lead_minutes: int = 60
    misfire_grace_minutes: int = 15
    programme_due_day: int = 5


@dataclass(frozen=True)
class DeliverySettings:
    max_parallel: int = 8
    connect_timeout_seconds: float = 20.0
    stall_timeout_seconds: float = 45.0
    retry_backoff_seconds: tuple[int, ...] = (30, 120, 600, 1800, 3600)
    lease_seconds: int = 900


@dataclass(frozen=True)
class StationSettings:
    id: str
    name: str
    host: str
    port: int = 22
    user: str = "radiocast"
    key_file: Path = Path("keys/id_ed25519")
    known_hosts: Path = Path("keys/known_hosts")
    remote_dir: str = "/srv/radio/radiocast"
    playout: str = "ssh-command"
    play_command: str = "mpg123 -q {file}"
    slots: tuple[Slot, ...] | None = None
    valid_from: date | None = None
    valid_to: date | None = None

    def valid_on(self, day: date) -> bool:
        if self.valid_from is not None and day < self.valid_from:
            return False
        return not (self.valid_to is not None and day > self.valid_to)


@dataclass(frozen=True)
class Settings:
    general: GeneralSettings = field(default_factory=GeneralSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    stations: tuple[StationSettings, ...] = ()
    path: Path | None = None

    @property
    def database_url(self) -> str:
        if self.general.database_url:
            return self.general.database_url
        return f"sqlite:///{self.general.data_dir / 'radiocast.db'}"

    @property
    def spool_dir(self) -> Path:
        return self.general.data_dir / "spool"

    def station(self, station_id: str) -> StationSettings:
        for st in self.stations:
            if st.id == station_id:
                return st
        raise ConfigError("stations", f"no station with id {station_id!r}")

    def slots_for(self, station: StationSettings) -> tuple[Slot, ...]:
        return station.slots if station.slots is not None else self.schedule.slots


# ---------------------------------------------------------------- locating the file


def find_config(explicit: str | os.PathLike[str] | None) -> Path:
    """--config, else $RADIOCAST_CONFIG, else ./config/radiocast.toml, else /etc."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("RADIOCAST_CONFIG")
    if env:
        return Path(env)
    local = Path("config/radiocast.toml")
    if local.exists():
        return local
    return SYSTEM_CONFIG


def load_settings(path: Path) -> Settings:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            "", f"configuration file {path} not found (use --config or `radiocast init DIR`)"
        ) from None
    except OSError as exc:
        raise ConfigError("", f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"{path} is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{path} is not valid TOML: {exc}") from exc
    return parse_settings(data, base_dir=path.resolve().parent, path=path)


# ---------------------------------------------------------------- validation helpers

T = TypeVar("T")


class _Table:
    """One TOML table being read: remembers which keys were used, so unknown keys are errors."""

    # all keys the parser knows, as "section.key" (for the docs test)
    every_key: ClassVar[set[str]] = set()

    def __init__(self, data: Mapping[str, Any], prefix: str) -> None:
        self.data = data
        self.prefix = prefix
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def _note(self, name: str) -> None:
        self.used.add(name)
        section = re.sub(r"\[\d+\]", "", self.prefix)
        _Table.every_key.add(f"{section}.{name}" if section else name)

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


def _str(key: str, v: Any) -> str:
    if not isinstance(v, str):
        raise ConfigError(key, f"must be a string, got {type(v).__name__}")
    return v


def _nonempty(key: str, v: Any) -> str:
    s = _str(key, v)
    if not s.strip():
        raise ConfigError(key, "must not be empty")
    return s


def _bool(key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ConfigError(key, f"must be true or false, got {v!r}")
    return v


def _num(key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ConfigError(key, f"must be a number, got {v!r}")
    return float(v)


def _int_range(lo: int, hi: int) -> Callable[[str, Any], int]:
    def conv(key: str, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(key, f"must be a whole number, got {v!r}")
        if not lo <= v <= hi:
            raise ConfigError(key, f"must be {lo}–{hi}, got {v}")
        return v

    return conv


def _num_range(lo: float, hi: float) -> Callable[[str, Any], float]:
    def conv(key: str, v: Any) -> float:
        f = _num(key, v)
        if not lo <= f <= hi:
            raise ConfigError(key, f"must be between {lo:g} and {hi:g}, got {f:g}")
        return f

    return conv


def _choice(*choices: str) -> Callable[[str, Any], str]:
    def conv(key: str, v: Any) -> str:
        s = _str(key, v)
        if s not in choices:
            raise ConfigError(key, f"must be one of {', '.join(choices)}, got {s!r}")
        return s

    return conv


def _path(base: Path) -> Callable[[str, Any], Path]:
    def conv(key: str, v: Any) -> Path:
        s = _nonempty(key, v)
        p = Path(s).expanduser()
        return p if p.is_absolute() else (base / p)

    return conv


def _timezone(key: str, v: Any) -> str:
    s = _str(key, v)
    try:
        ZoneInfo(s)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(key, f"unknown time zone {s!r} (e.g. Asia/Ho_Chi_Minh)") from None
    return s


def _slot(key: str, v: Any) -> Slot:
    s = _str(key, v)
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


def _slots(key: str, v: Any) -> tuple[Slot, ...]:
    if not isinstance(v, list) or not v:
        raise ConfigError(key, "must be a non-empty list of windows like \"06:00-06:45\"")
    slots = tuple(_slot(f"{key}[{i}]", item) for i, item in enumerate(v))
    ordered = sorted(slots, key=lambda s: s.start)
    for a, b in itertools.pairwise(ordered):
        if b.start < a.end:
            raise ConfigError(key, f"windows {a} and {b} overlap")
    return tuple(ordered)


def _date(key: str, v: Any) -> date:
    if isinstance(v, date) and not hasattr(v, "hour"):
        return v
    if isinstance(v, str):
        try:
            return date.fromisoformat(v)
        except ValueError:
            pass
    raise ConfigError(key, f"must be a date like 2025-06-30, got {v!r}")


def _backoff(key: str, v: Any) -> tuple[int, ...]:
    if not isinstance(v, list) or not v:
        raise ConfigError(key, "must be a non-empty list of seconds")
    return tuple(_int_range(1, 86400)(f"{key}[{i}]", x) for i, x in enumerate(v))


def _bitrate(key: str, v: Any) -> str:
    s = _str(key, v)
    m = BITRATE_RE.match(s)
    if not m or not 32 <= int(m.group(1)) <= 320:
        raise ConfigError(key, f"must be like \"64k\" (32k–320k), got {s!r}")
    return s


def _slug(key: str, v: Any) -> str:
    s = _str(key, v)
    if not SLUG_RE.match(s):
        raise ConfigError(key, f"must be a lowercase ASCII slug (a-z, 0-9, -), got {s!r}")
    return s


def _remote_dir(key: str, v: Any) -> str:
    s = _str(key, v)
    if not s.startswith("/") or not re.match(r"^[A-Za-z0-9_./-]+$", s) or "/../" in s + "/":
        raise ConfigError(key, f"must be an absolute path of safe ASCII characters, got {s!r}")
    return s.rstrip("/") or "/"


def _play_command(key: str, v: Any) -> str:
    s = _nonempty(key, v)
    if "{file}" not in s:
        raise ConfigError(key, "must contain {file}, where the programme's path goes")
    return s


def _table(key: str, v: Any) -> Mapping[str, Any]:
    if not isinstance(v, dict):
        raise ConfigError(key, "must be a table")
    return v


# ---------------------------------------------------------------- the parser


def parse_settings(data: Mapping[str, Any], base_dir: Path, path: Path | None = None) -> Settings:
    top = _Table(data, "")
    g = _Table(top.get("radiocast", _table, {}), "radiocast")
    data_dir = g.get("data_dir", _path(base_dir), GeneralSettings.data_dir)
    general = GeneralSettings(
        timezone=g.get("timezone", _timezone, GeneralSettings.timezone),
        language=g.get("language", _choice("vi", "en"), GeneralSettings.language),
        sender=g.get("sender", _nonempty, GeneralSettings.sender),
        data_dir=data_dir,
        database_url=g.get("database_url", _str, ""),
    )
    g.finish()

    i = _Table(top.get("ingest", _table, {}), "ingest")
    drop = i.get("drop_dir", _path(base_dir), IngestSettings.drop_dir)
    archive = i.get("archive_dir", _str, "")
    quarantine = i.get("quarantine_dir", _str, "")
    ingest = IngestSettings(
        drop_dir=drop,
        archive_dir=_path(base_dir)("ingest.archive_dir", archive) if archive else drop / "Đã nhận",
        quarantine_dir=(
            _path(base_dir)("ingest.quarantine_dir", quarantine) if quarantine else drop / "Lỗi"
        ),
        settle_seconds=i.get("settle_seconds", _num_range(0.0, 3600.0), 5.0),
        polling=i.get("polling", _bool, False),
        rescan_seconds=i.get("rescan_seconds", _num_range(1.0, 86400.0), 300.0),
        waiting_alert_minutes=i.get("waiting_alert_minutes", _int_range(1, 10080), 30),
    )
    i.finish()

    a = _Table(top.get("audio", _table, {}), "audio")
    audio = AudioSettings(
        target_lufs=a.get("target_lufs", _num_range(-40.0, -5.0), -16.0),
        true_peak_dbtp=a.get("true_peak_dbtp", _num_range(-12.0, 0.0), -1.5),
        channels=a.get("channels", _int_range(1, 2), 1),
        sample_rate=a.get("sample_rate", _int_range(8000, 48000), 44100),
        bitrate=a.get("bitrate", _bitrate, "64k"),
        min_seconds=a.get("min_seconds", _num_range(1.0, 600.0), 10.0),
    )
    a.finish()

    s = _Table(top.get("schedule", _table, {}), "schedule")
    schedule = ScheduleSettings(
        slots=s.get("slots", _slots, ScheduleSettings.slots),
        replays_per_month=s.get("replays_per_month", _int_range(3, 31), 3),
        min_gap_days=s.get("min_gap_days", _int_range(0, 10), 3),
        lead_minutes=s.get("lead_minutes", _int_range(0, 1440), 60),
        misfire_grace_minutes=s.get("misfire_grace_minutes", _int_range(1, 120), 15),
        programme_due_day=s.get("programme_due_day", _int_range(1, 28), 5),
    )
    s.finish()

    d = _Table(top.get("delivery", _table, {}), "delivery")
    delivery = DeliverySettings(
        max_parallel=d.get("max_parallel", _int_range(1, 64), 8),
        connect_timeout_seconds=d.get("connect_timeout_seconds", _num_range(1.0, 300.0), 20.0),
        stall_timeout_seconds=d.get("stall_timeout_seconds", _num_range(1.0, 600.0), 45.0),
        retry_backoff_seconds=d.get("retry_backoff_seconds", _backoff, (30, 120, 600, 1800, 3600)),
        lease_seconds=d.get("lease_seconds", _int_range(30, 86400), 900),
    )
    d.finish()

    raw_stations: list[Mapping[str, Any]] = top.get("stations", _list_of_tables, [])
    stations = tuple(
        _station(f"stations[{n}]", st, base_dir) for n, st in enumerate(raw_stations)
    )
    seen: set[str] = set()
    for n, st in enumerate(stations):
        if st.id in seen:
            raise ConfigError(f"stations[{n}].id", f"duplicate station id {st.id!r}")
        seen.add(st.id)
    top.finish()
    return Settings(general, ingest, audio, schedule, delivery, stations, path)


def _list_of_tables(key: str, v: Any) -> list[Mapping[str, Any]]:
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        raise ConfigError(key, "must be an array of tables ([[stations]])")
    return v


def _station(prefix: str, data: Mapping[str, Any], base_dir: Path) -> StationSettings:
    t = _Table(data, prefix)
    st = StationSettings(
        id=t.require("id", _slug),
        name=t.require("name", _nonempty),
        host=t.require("host", _nonempty),
        port=t.get("port", _int_range(1, 65535), 22),
        user=t.get("user", _nonempty, "radiocast"),
        key_file=t.get("key_file", _path(base_dir), base_dir / "keys/id_ed25519"),
        known_hosts=t.get("known_hosts", _path(base_dir), base_dir / "keys/known_hosts"),
        remote_dir=t.get("remote_dir", _remote_dir, "/srv/radio/radiocast"),
        playout=t.get("playout", _choice("ssh-command", "playbook"), "ssh-command"),
        play_command=t.get("play_command", _play_command, "mpg123 -q {file}"),
        slots=t.get("slots", _slots, None),
        valid_from=t.get("valid_from", _date, None),
        valid_to=t.get("valid_to", _date, None),
    )
    if st.valid_from and st.valid_to and st.valid_to < st.valid_from:
        raise ConfigError(f"{prefix}.valid_to", "must not be before valid_from")
    t.finish()
    return st


def known_keys() -> set[str]:
    """Every configuration key, as "section.key" (parses a full example to learn them)."""
    parse_settings({"stations": [{"id": "x", "name": "x", "host": "x.invalid"}]}, Path("/"))
    return {k for k in _Table.every_key if "." in k}


def priority_of(key: str, v: Any) -> Priority:
    s = _choice(*(p.value for p in Priority))(key, v)
    return Priority(s)
