"""Loads the TOML configuration once and validates it into typed, frozen settings."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from radiocast.config import validate as v
from radiocast.config.alerts import AlertChannel, WatchSettings
from radiocast.config.approval import ApprovalSettings, parse_approval
from radiocast.config.hub import HubSettings, PullSettings, WebSettings
from radiocast.config.peek import DATA_DIR, LANGUAGE, find_config
from radiocast.config.publish import PublishTarget, parse_publish
from radiocast.config.report import ReportSettings
from radiocast.config.validate import Table
from radiocast.core.errors import ConfigError
from radiocast.core.languages import Languages, as_station_languages, parse_languages
from radiocast.core.models import Slot
from radiocast.core.months import valid_in

S = TypeVar("S")
Conv = Callable[[str, Any], Any]
__all__ = ["Settings", "Slot", "StationSettings", "find_config", "load_settings"]


@dataclass(frozen=True)
class GeneralSettings:
    timezone: str = "Asia/Ho_Chi_Minh"
    language: str = LANGUAGE
    sender: str = "Trung tâm Văn hóa, Thông tin, Thể thao và Du lịch huyện Quan Sơn"
    data_dir: Path = DATA_DIR
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
    versions: str = "share"  # language versions share the month's airings, or "each" its own
    silent_max: float = 0.5  # an airing whose capture heard this share of silent seconds: silent


@dataclass(frozen=True)
class DeliverySettings:
    max_parallel: int = 8
    connect_timeout_seconds: float = 20.0
    stall_timeout_seconds: float = 45.0
    retry_backoff_seconds: tuple[int, ...] = (30, 120, 600, 1800, 3600)
    lease_seconds: int = 900
    inventory_minutes: int = 30
    agent_poll_seconds: int = 300


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
    transfer: str = "push"
    languages: tuple[str, ...] = ("vi",)  # the language versions it airs

    @property
    def pull(self) -> bool:
        """The station dials the hub; the hub never connects to it."""
        return self.transfer == "pull"

    def valid_on(self, day: date) -> bool:
        return (self.valid_from is None or day >= self.valid_from) and (
            self.valid_to is None or day <= self.valid_to)

    def valid_in(self, *months: str) -> bool:
        """Does the station exist at some time in these (consecutive) months?"""
        return valid_in(self.valid_from, self.valid_to, list(months))


@dataclass(frozen=True)
class Settings:
    general: GeneralSettings = field(default_factory=GeneralSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    pull: PullSettings = field(default_factory=PullSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    alerts: tuple[AlertChannel, ...] = ()
    watch: WatchSettings = field(default_factory=WatchSettings)
    hub: HubSettings = field(default_factory=HubSettings)
    web: WebSettings = field(default_factory=WebSettings)
    approval: ApprovalSettings = field(default_factory=ApprovalSettings)
    publish: tuple[PublishTarget, ...] = ()
    stations: tuple[StationSettings, ...] = ()
    path: Path | None = None
    languages: Languages = field(default_factory=Languages)

    @property
    def database_url(self) -> str:
        """`RADIOCAST_DATABASE_URL` (kept out of the file: it may hold a password), else
        `database_url`, else SQLite in `data_dir`."""
        if url := os.environ.get("RADIOCAST_DATABASE_URL") or self.general.database_url:
            return url
        return f"sqlite:///{self.general.data_dir / 'radiocast.db'}"

    @property
    def spool_dir(self) -> Path:
        return self.general.data_dir / "spool"

    @cached_property
    def _by_id(self) -> dict[str, StationSettings]:
        return {st.id: st for st in self.stations}

    def station(self, station_id: str) -> StationSettings:
        """By id, in constant time (the loop asks for every station every second)."""
        st = self._by_id.get(station_id)
        if st is None:
            raise ConfigError("stations", f"no station with id {station_id!r}")
        return st

    def slots_for(self, station: StationSettings) -> tuple[Slot, ...]:
        return station.slots if station.slots is not None else self.schedule.slots

    def stations_for(self, month: str, chosen: list[str] | None = None,
                     language: str | None = None) -> list[str]:
        """The stations a programme of `month` in `language` goes to: a sidecar's list, or
        every station that exists in that month; only those that air the language."""
        wanted = None if chosen is None else set(chosen)
        return [st.id for st in self.stations if (wanted is None or st.id in wanted)
                and st.valid_in(month) and (language is None or language in st.languages)]

    def longest_window_seconds(self) -> float:
        slots = list(self.schedule.slots)
        for st in self.stations:
            slots.extend(st.slots or ())
        return max(s.minutes for s in slots) * 60.0


# ---------------------------------------------------------------- locating the file


def load_settings(path: Path) -> Settings:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("", f"configuration file {path} not found (use --config or "
                          "`radiocast init DIR`)") from None
    except OSError as exc:
        raise ConfigError("", f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"{path} is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{path} is not valid TOML: {exc}") from exc
    return parse_settings(data, base_dir=path.resolve().parent, path=path)


# ---------------------------------------------------------------- the parser
def parse_settings(data: Mapping[str, Any], base_dir: Path, path: Path | None = None) -> Settings:
    top = Table(data, "")
    langs = parse_languages("languages", top.get("languages", v.as_table, {}))
    stations = _stations(top, base_dir, langs)
    settings = Settings(
        general=_general(Table(top.get("radiocast", v.as_table, {}), "radiocast"), base_dir),
        ingest=_ingest(Table(top.get("ingest", v.as_table, {}), "ingest"), base_dir),
        audio=_audio(Table(top.get("audio", v.as_table, {}), "audio")),
        schedule=_schedule(Table(top.get("schedule", v.as_table, {}), "schedule")),
        delivery=_delivery(Table(top.get("delivery", v.as_table, {}), "delivery")),
        pull=_pull(Table(top.get("pull", v.as_table, {}), "pull"), base_dir),
        report=_report(Table(top.get("report", v.as_table, {}), "report"), base_dir),
        alerts=_alerts(top), watch=_watch(top), hub=_section(
            Table(top.get("hub", v.as_table, {}), "hub"), HubSettings,
            {"name": v.as_str, "lease_seconds": v.as_int_range(3, 600)}),
        web=_section(Table(top.get("web", v.as_table, {}), "web"), WebSettings,
                     {"listen": v.as_listen, "secure_cookies": v.as_bool}),
        approval=parse_approval(top.get("approval", v.as_table, {}), top.get(
            "approvers", v.as_list_of_tables, []), {st.id for st in stations}),
        publish=parse_publish(top.get("publish", v.as_list_of_tables, []), base_dir,
                              langs.codes),
        stations=stations, path=path, languages=langs)
    top.finish()
    return settings


def _general(g: Table, base_dir: Path) -> GeneralSettings:
    return _section(g, GeneralSettings, {
        "timezone": v.as_timezone, "language": v.as_choice("vi", "en"),
        "sender": v.as_nonempty, "data_dir": v.as_path(base_dir), "database_url": v.as_str})


def _ingest(i: Table, base_dir: Path) -> IngestSettings:
    drop = i.get("drop_dir", v.as_path(base_dir), IngestSettings.drop_dir)
    archive = i.get("archive_dir", v.as_str, "")
    quarantine = i.get("quarantine_dir", v.as_str, "")
    ingest = IngestSettings(
        drop_dir=drop,
        archive_dir=(v.as_path(base_dir)("ingest.archive_dir", archive) if archive
                     else drop / "Đã nhận"),
        quarantine_dir=(v.as_path(base_dir)("ingest.quarantine_dir", quarantine) if quarantine
                        else drop / "Lỗi"),
        settle_seconds=i.get("settle_seconds", v.as_num_range(0.0, 3600.0), 5.0),
        polling=i.get("polling", v.as_bool, False),
        rescan_seconds=i.get("rescan_seconds", v.as_num_range(1.0, 86400.0), 300.0),
        waiting_alert_minutes=i.get("waiting_alert_minutes", v.as_int_range(1, 10080), 30),
    )
    i.finish()
    return ingest


def _section(t: Table, cls: type[S], spec: dict[str, Conv]) -> S:
    """A section whose keys each have one converter; defaults come from the dataclass."""
    d = cls()
    out = cls(**{k: t.get(k, conv, getattr(d, k)) for k, conv in spec.items()})
    t.finish()
    return out


def _audio(a: Table) -> AudioSettings:
    return _section(a, AudioSettings, {
        "target_lufs": v.as_num_range(-40.0, -5.0), "true_peak_dbtp": v.as_num_range(-12.0, 0.0),
        "channels": v.as_int_range(1, 2), "sample_rate": v.as_int_range(8000, 48000),
        "bitrate": v.as_bitrate, "min_seconds": v.as_num_range(1.0, 600.0)})


def _schedule(s: Table) -> ScheduleSettings:
    return _section(s, ScheduleSettings, {
        "slots": v.as_slots, "replays_per_month": v.as_int_range(3, 31),
        "min_gap_days": v.as_int_range(0, 10), "lead_minutes": v.as_int_range(0, 1440),
        "misfire_grace_minutes": v.as_int_range(1, 120),
        "programme_due_day": v.as_int_range(1, 28), "versions": v.as_choice("share", "each"),
        "silent_max": v.as_num_range(0.05, 1.0)})


def _delivery(d: Table) -> DeliverySettings:
    return _section(d, DeliverySettings, {
        "max_parallel": v.as_int_range(1, 64),
        "connect_timeout_seconds": v.as_num_range(1.0, 300.0),
        "stall_timeout_seconds": v.as_num_range(1.0, 600.0),
        "retry_backoff_seconds": v.as_backoff, "lease_seconds": v.as_int_range(30, 86400),
        "inventory_minutes": v.as_int_range(1, 1440),
        "agent_poll_seconds": v.as_int_range(5, 86400)})


def _alerts(top: Table) -> tuple[AlertChannel, ...]:
    out: list[AlertChannel] = []
    empty: list[Mapping[str, Any]] = []
    for n, data in enumerate(top.get("alerts", v.as_list_of_tables, empty)):
        a = Table(data, f"alerts[{n}]")
        out.append(AlertChannel(name=a.get("name", v.as_slug, f"alert-{n + 1}"),
                                url=a.require("url", v.as_nonempty), **{
            k: a.get(k, conv, getattr(AlertChannel, k)) for k, conv in (
                ("min_severity", v.as_choice("warning", "error")),
                ("quiet_hours", v.as_span), ("language", v.as_choice("vi", "en")),
                ("stations", v.as_lines), ("settle_minutes", v.as_int_range(0, 1440)),
                ("remind_hours", v.as_int_range(1, 720)), ("digest_at", v.as_clock))}))
        a.finish()
    if len({c.name for c in out}) != len(out):
        raise ConfigError("alerts", "two [[alerts]] tables have the same name")
    return tuple(out)


def _watch(top: Table) -> WatchSettings:
    m = Table(top.get("metrics", v.as_table, {}), "metrics")
    h = Table(top.get("heartbeat", v.as_table, {}), "heartbeat")
    out = WatchSettings(m.get("listen", v.as_listen, WatchSettings.metrics_listen),
                        h.get("url", v.as_str, ""),
                        h.get("every_seconds", v.as_int_range(0, 86400), 60))
    m.finish()
    h.finish()
    return out


def _pull(p: Table, base_dir: Path) -> PullSettings:
    path = v.as_path(base_dir)
    return _section(p, PullSettings, {
        "root": path, "user_prefix": v.as_account_prefix, "sshd_config_dir": path,
        "keys_dir": path, "sshd": v.as_nonempty, "reload_command": v.as_nonempty})


PER_STATION_KEYS = ("id", "name")  # never shared: [station_defaults] refuses them


def _report(r: Table, base_dir: Path) -> ReportSettings:
    d = ReportSettings()
    font = r.get("font_file", v.as_path(base_dir), None)
    if font is not None and not font.is_file():
        raise ConfigError(r.key("font_file"), f"{font} is not a font file")
    fields = {k: r.get(k, v.as_lines if k == "copies_to" else v.as_str, getattr(d, k))
              for k in ("parent", "number", "place", "title", "recipient", "copies_to",
                        "signer_title", "signer_name")}
    r.finish()
    return ReportSettings(**fields, font_file=font)


def _stations(top: Table, base_dir: Path, langs: Languages) -> tuple[StationSettings, ...]:
    """`[[stations]]`, each over the keys of `[station_defaults]` (its own keys win)."""
    defaults: Mapping[str, Any] = top.get("station_defaults", v.as_table, {})
    if shared := [k for k in PER_STATION_KEYS if k in defaults]:
        raise ConfigError(f"station_defaults.{shared[0]}", "is set per station, not as a default")
    if defaults:  # checked once, with errors that name [station_defaults]
        _station("station_defaults", {"id": "defaults", "name": "defaults",
                                      "host": "defaults.invalid", **defaults}, base_dir, langs)
    raw: list[Mapping[str, Any]] = top.get("stations", v.as_list_of_tables, [])
    stations = tuple(_station(f"stations[{n}]", {**defaults, **st}, base_dir, langs)
                     for n, st in enumerate(raw))
    seen: dict[str, int] = {}
    for n, st in enumerate(stations):
        if seen.setdefault(st.id, n) != n:
            raise ConfigError(f"stations[{n}].id", f"duplicate station id {st.id!r}")
    return stations


def _station(prefix: str, data: Mapping[str, Any], base_dir: Path,
             langs: Languages) -> StationSettings:
    t = Table(data, prefix)
    transfer = t.get("transfer", v.as_choice("push", "pull"), "push")
    st = StationSettings(
        id=t.require("id", v.as_slug),
        name=t.require("name", v.as_nonempty),
        # a pull station dials the hub: the hub needs no address for it
        host=t.get("host", v.as_nonempty, "") if transfer == "pull" else
        t.require("host", v.as_nonempty),
        port=t.get("port", v.as_int_range(1, 65535), 22),
        user=t.get("user", v.as_nonempty, "radiocast"),
        key_file=t.get("key_file", v.as_path(base_dir), base_dir / "keys/id_ed25519"),
        known_hosts=t.get("known_hosts", v.as_path(base_dir), base_dir / "keys/known_hosts"),
        remote_dir=t.get("remote_dir", v.as_remote_dir, "/srv/radio/radiocast"),
        playout=t.get("playout", v.as_choice("ssh-command", "playbook", "agent"), "ssh-command"),
        play_command=t.get("play_command", v.as_play_command, "mpg123 -q {file}"),
        slots=t.get("slots", v.as_slots, None),
        valid_from=t.get("valid_from", v.as_date, None),
        valid_to=t.get("valid_to", v.as_date, None),
        transfer=transfer, languages=t.get("languages", as_station_languages(langs), ("vi",)))
    if st.pull and st.playout != "agent":
        raise ConfigError(f"{prefix}.playout", 'a pull station plays by itself: set '
                          'playout = "agent" (with transfer = "pull")')
    if st.valid_from and st.valid_to and st.valid_to < st.valid_from:
        raise ConfigError(f"{prefix}.valid_to", "must not be before valid_from")
    t.finish()
    return st

