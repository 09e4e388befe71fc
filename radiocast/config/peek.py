"""Finding the configuration file, and a glance at it: where the hub keeps its data, its
language and its station ids, read without checking the rest. That is all a command needs to
ask the running hub (`cli/ask.py`); everything else reads the file whole and checked
(`settings.load_settings`), which resolves these keys the same way: the defaults below are
`GeneralSettings`' own, and a relative `data_dir` is taken from the file's folder."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

SYSTEM_CONFIG = Path("/etc/radiocast/radiocast.toml")
DATA_DIR = Path("/var/lib/radiocast")
LANGUAGE = "vi"
SOCKET = "hub.sock"  # where a running hub answers the listings (status/answer, cli/ask)
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes: a longer data folder has no socket


def socket_path(data_dir: Path) -> Path | None:
    """The hub's socket in `data_dir`, or None when the path is too long for one."""
    path = data_dir / SOCKET
    return path if len(os.fsencode(path)) <= SOCKET_PATH_MAX else None


def find_config(explicit: str | os.PathLike[str] | None) -> Path:
    """--config, else $RADIOCAST_CONFIG, else ./config/radiocast.toml, else /etc."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get("RADIOCAST_CONFIG"):
        return Path(env)
    local = Path("config/radiocast.toml")
    return local if local.exists() else SYSTEM_CONFIG


@dataclass(frozen=True)
class Glance:
    data_dir: Path
    language: str
    stations: frozenset[str]


def glance(path: Path) -> Glance | None:
    """The three keys, or None when the file cannot be read as TOML or they are not text
    (the command then reads the file whole, and says what is wrong)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    general = data.get("radiocast", {})
    stations = data.get("stations", [])
    if not isinstance(general, dict) or not isinstance(stations, list):
        return None
    data_dir, language = general.get("data_dir"), general.get("language", LANGUAGE)
    if not isinstance(data_dir, str | None) or not isinstance(language, str):
        return None
    where = DATA_DIR if not data_dir else Path(data_dir).expanduser()
    if not where.is_absolute():
        where = path.resolve().parent / where
    ids = frozenset(st["id"] for st in stations if isinstance(st, dict)
                    and isinstance(st.get("id"), str))
    return Glance(where, language, ids)
