"""The hub's `playbook.json`, read as untrusted input, and the last good copy the agent keeps
(so a broken or missing playbook never stops the month)."""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from radiocast.core.fsutil import atomic_write

PLAYBOOK = "playbook.json"
GOOD_COPY = "playbook.good.json"
SAFE_FILE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,150}\.mp3$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Item:
    airing_id: int
    start: datetime
    file: str
    sha256: str
    duration_s: float
    kind: str
    priority: str
    title: str
    programme: str = ""  # month/title: a programme's language versions share it

    @property
    def urgent(self) -> bool:
        return self.priority == "emergency" or self.kind == "emergency"


@dataclass(frozen=True)
class Playbook:
    version: int
    generated_at: str
    items: tuple[Item, ...]
    late_grace: timedelta | None = None  # the hub's: how late an airing may still start


class PlaybookError(ValueError):
    pass


def parse(raw: bytes, station_id: str) -> Playbook:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PlaybookError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise PlaybookError("not a JSON object")
    if doc.get("station_id") != station_id:
        raise PlaybookError(f"written for station {doc.get('station_id')!r}, not {station_id!r}")
    version = doc.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise PlaybookError("version must be a whole number")
    raw_items = doc.get("airings")
    if not isinstance(raw_items, list):
        raise PlaybookError("airings must be a list")
    return Playbook(version, str(doc.get("generated_at", "")),
                    tuple(sorted((_item(x) for x in raw_items), key=lambda i: i.start)),
                    _minutes(doc, "late_grace_minutes", 1, 240))


def _minutes(doc: dict[str, Any], key: str, lo: int, hi: int) -> timedelta | None:
    v = doc.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise PlaybookError(f"{key} must be a whole number from {lo} to {hi}")
    return timedelta(minutes=v)


def _item(x: Any) -> Item:
    if not isinstance(x, dict):
        raise PlaybookError("an airing is not an object")
    aid, start, file, sha = x.get("airing_id"), x.get("start"), x.get("file"), x.get("sha256")
    if isinstance(aid, bool) or not isinstance(aid, int) or aid <= 0:
        raise PlaybookError("airing_id must be a positive whole number")
    if not isinstance(start, str):
        raise PlaybookError(f"airing {aid}: start must be a time")
    try:
        when = datetime.fromisoformat(start)
    except ValueError:
        raise PlaybookError(f"airing {aid}: start {start[:40]!r} is not a time") from None
    if when.utcoffset() is None:
        raise PlaybookError(f"airing {aid}: start has no UTC offset")
    if not 2000 <= when.year <= 2200:
        raise PlaybookError(f"airing {aid}: start {start[:40]!r} is not a real date")
    if not isinstance(file, str) or not SAFE_FILE.match(file):
        raise PlaybookError(f"airing {aid}: unsafe file name")
    if not isinstance(sha, str) or not SHA_RE.match(sha):
        raise PlaybookError(f"airing {aid}: sha256 must be 64 hex digits")
    duration = x.get("duration_s", 0)
    if isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0:
        raise PlaybookError(f"airing {aid}: duration_s must be a number")
    return Item(aid, when, file, sha, float(duration), str(x.get("kind", "")),
                str(x.get("priority", "normal")), str(x.get("title", ""))[:300],
                str(x.get("programme") or file)[:200])


class Keeper:
    """Holds the playbook in use: the newest valid one, never an older version."""

    def __init__(self, media_dir: Path, state_dir: Path, station_id: str) -> None:
        self.source = media_dir / PLAYBOOK
        self.copy = state_dir / GOOD_COPY
        self.station_id = station_id
        self.seen: tuple[int, int] | None = None
        self.error = ""
        self.current = Playbook(0, "", ())
        if self.copy.exists():
            with contextlib.suppress(PlaybookError):
                self.current = parse(self.copy.read_bytes(), station_id)

    def refresh(self) -> bool:
        """Take a new playbook if one landed. True when the one in use changed."""
        try:
            st = self.source.stat()
        except FileNotFoundError:
            return False
        mark = (st.st_mtime_ns, st.st_size)
        if mark == self.seen:
            return False
        self.seen = mark
        raw = self.source.read_bytes()
        try:
            new = parse(raw, self.station_id)
        except PlaybookError as exc:
            self.error = f"{PLAYBOOK}: {exc}; still using version {self.current.version}"
            return False
        if new.version < self.current.version:
            self.error = f"{PLAYBOOK} version {new.version} is older than {self.current.version}"
            return False
        self.error = ""
        atomic_write(self.copy, raw)
        changed = new != self.current
        self.current = new
        return changed
