"""The agent's configuration (`/etc/radiocast/station.toml`), read once and validated."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from radiocast.errors import ConfigError, UsageError
from radiocast.validate import (
    Table,
    as_int_range,
    as_path,
    as_play_command,
    as_slug,
    as_table,
    as_timezone,
)

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
"""


@dataclass(frozen=True)
class StationConfig:
    id: str
    media_dir: Path
    state_dir: Path
    player: str = "mpg123 -q {file}"
    timezone: str = "Asia/Ho_Chi_Minh"
    late_grace_minutes: int = 15
    heartbeat_seconds: int = 60
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
        path=path,
    )
    t.finish()
    top.finish()
    return cfg


def init_station_dir(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    cfg = directory / "station.toml"
    if cfg.exists():
        raise UsageError(f"{cfg} already exists; not overwritten")
    for sub in ("media", "state"):
        (directory / sub).mkdir(exist_ok=True)
    cfg.write_text(STARTER, encoding="utf-8")
    return cfg
