"""The agent's configuration (`/etc/radiocast/station.toml`), read once and validated."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from radiocast.config.validate import (
    Table,
    as_int_range,
    as_nonempty,
    as_num_range,
    as_path,
    as_play_command,
    as_slug,
    as_table,
    as_timezone,
)
from radiocast.core.errors import ConfigError, UsageError

CAPTURE_SOURCE = re.compile(r"^(pulse|alsa):[A-Za-z0-9_.,:@=/+-]{1,200}$")
SYSTEM_CONFIG = Path("/etc/radiocast/station.toml")
STARTER = """\
# radiocast station agent — the commune's side. See docs/station.md.
[station]
id = "na-meo"                       # the id the hub uses for this station
media_dir = "media"                 # the folder the hub writes to (its remote_dir)
state_dir = "state"                 # the agent's own records (never shared)
player = "mpg123 -q {file}"         # {file} is replaced by the programme's path, quoted
timezone = "Asia/Ho_Chi_Minh"
late_grace_minutes = 15             # an airing not started this long after its time is skipped
heartbeat_seconds = 60              # how often status.json is rewritten

# Only for a station behind NAT (transfer = "pull" at the hub): the agent dials the hub.
# [hub]
# host = "hub.quanson.invalid"
# user = "rcs-na-meo"               # printed by `radiocast stations provision na-meo`
# key_file = "keys/id_ed25519"      # made by `radiocast station keygen`
# known_hosts = "keys/known_hosts"  # pinned by `radiocast station enroll`
# poll_seconds = 30                 # how often the outbox is looked at (one stat)
# max_kbps = 0                      # 0: no limit on downloads

# Listen to what goes out while it plays (docs/station.md, "Proof of sound"): a PulseAudio or
# PipeWire monitor ("pulse:SINK.monitor") or an ALSA input wired from the amplifier's output.
# [capture]
# source = "pulse:alsa_output.platform-bcm2835_audio.analog-stereo.monitor"
# silence_lufs = -50                # a second quieter than this is a silent second
# channels = 1                      # as the hub's [audio] channels
"""


@dataclass(frozen=True)
class HubConfig:
    """Where a pull station fetches from (the hub's sshd, its own chrooted account)."""

    host: str
    user: str
    key_file: Path
    known_hosts: Path
    port: int = 22
    poll_seconds: int = 30
    status_seconds: int = 86400
    alive_seconds: int = 3600
    max_kbps: int = 0
    retry_min_seconds: float = 10.0
    retry_max_seconds: float = 900.0
    connect_timeout_seconds: float = 30.0
    stall_timeout_seconds: float = 60.0
    id: str = "hub"


@dataclass(frozen=True)
class CaptureConfig:
    """Where the agent listens while it plays (`[capture]`): "pulse:NAME" or "alsa:DEVICE"."""

    source: str
    silence_lufs: float = -50.0
    channels: int = 1


@dataclass(frozen=True)
class StationConfig:
    id: str
    media_dir: Path
    state_dir: Path
    player: str = "mpg123 -q {file}"
    timezone: str = "Asia/Ho_Chi_Minh"
    late_grace_minutes: int = 15
    heartbeat_seconds: int = 60
    hub: HubConfig | None = None
    capture: CaptureConfig | None = None
    path: Path | None = None


def find_station_config(explicit: str | os.PathLike[str] | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("RADIOCAST_STATION_CONFIG")
    return Path(env) if env else SYSTEM_CONFIG


def load_station_config(path: Path) -> StationConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("", f"{path} not found (use --config, or "
                          "`radiocast station init DIR`)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("", f"{path}: {exc}") from exc
    base = path.resolve().parent
    top = Table(data, "")
    t = Table(top.require("station", as_table), "station")
    cfg = StationConfig(
        id=t.require("id", as_slug),
        media_dir=t.require("media_dir", as_path(base)),
        state_dir=t.require("state_dir", as_path(base)),
        player=t.get("player", as_play_command, StationConfig.player),
        timezone=t.get("timezone", as_timezone, StationConfig.timezone),
        late_grace_minutes=t.get("late_grace_minutes", as_int_range(1, 240), 15),
        heartbeat_seconds=t.get("heartbeat_seconds", as_int_range(5, 3600), 60),
        hub=_hub(Table(top.require("hub", as_table), "hub"), base) if "hub" in data else None,
        capture=_capture(Table(top.require("capture", as_table), "capture"))
        if "capture" in data else None,
        path=path,
    )
    t.finish()
    top.finish()
    return cfg


def _hub(h: Table, base: Path) -> HubConfig:
    hub = HubConfig(
        host=h.require("host", as_nonempty),
        port=h.get("port", as_int_range(1, 65535), 22),
        user=h.require("user", as_nonempty),
        key_file=h.get("key_file", as_path(base), base / "keys/id_ed25519"),
        known_hosts=h.get("known_hosts", as_path(base), base / "keys/known_hosts"),
        poll_seconds=h.get("poll_seconds", as_int_range(5, 86400), 30),
        status_seconds=h.get("status_seconds", as_int_range(60, 7 * 86400), 86400),
        alive_seconds=h.get("alive_seconds", as_int_range(60, 86400), 3600),
        max_kbps=h.get("max_kbps", as_int_range(0, 1_000_000), 0),
        retry_min_seconds=h.get("retry_min_seconds", as_num_range(0.1, 3600.0), 10.0),
        retry_max_seconds=h.get("retry_max_seconds", as_num_range(1.0, 86400.0), 900.0),
        connect_timeout_seconds=h.get("connect_timeout_seconds", as_num_range(1.0, 300.0),
                                      30.0),
        stall_timeout_seconds=h.get("stall_timeout_seconds", as_num_range(1.0, 600.0), 60.0),
    )
    h.finish()
    return hub


def _capture(c: Table) -> CaptureConfig:
    cap = CaptureConfig(
        source=c.require("source", as_capture_source),
        silence_lufs=c.get("silence_lufs", as_num_range(-90.0, -10.0), -50.0),
        channels=c.get("channels", as_int_range(1, 2), 1),
    )
    c.finish()
    return cap


def as_capture_source(key: str, v: object) -> str:
    s = as_nonempty(key, v)
    if not CAPTURE_SOURCE.match(s):
        raise ConfigError(key, 'must be "pulse:NAME" (a PulseAudio or PipeWire source, such as '
                          'a sink\'s ".monitor") or "alsa:DEVICE" (such as "alsa:hw:1,0")')
    return s


def init_station_dir(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    cfg = directory / "station.toml"
    if cfg.exists():
        raise UsageError(f"{cfg} already exists; not overwritten")
    for sub in ("media", "state"):
        (directory / sub).mkdir(exist_ok=True)
    cfg.write_text(STARTER, encoding="utf-8")
    return cfg
