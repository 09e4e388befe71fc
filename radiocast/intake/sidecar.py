"""A dropped file's description: month and title from its name, or from `<name>.toml`."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radiocast.config.validate import priority_of
from radiocast.core.errors import ConfigError
from radiocast.core.fsutil import is_regular
from radiocast.core.languages import VIETNAMESE, Languages, other_tags, split_tag
from radiocast.core.models import Priority
from radiocast.core.months import is_month
from radiocast.core.naming import month_from, nfc, title_from, without_month

SIDECAR_KEYS = {"title", "month", "language", "priority", "stations"}
SIDECAR_MAX = 64 << 10


@dataclass
class Meta:
    title: str
    month: str
    language: str
    priority: Priority
    stations: list[str] | None
    sidecar: Path | None


class SidecarError(Exception):
    code = "sidecar"  # the rejection's reason


class NoStationsError(SidecarError):
    """`stations = []`: sending to no station is never what staff mean."""

    code = "sidecar_no_stations"


class SidecarTooBig(SidecarError):
    code = "sidecar_too_big"


class LanguageError(SidecarError):
    """A language tag (file name or sidecar) that names no known language."""

    code = "language"


def sidecar_for(path: Path) -> Path | None:
    for cand in (path.with_name(path.name + ".toml"), path.with_suffix(".toml")):
        if cand != path and is_regular(cand):  # a link is never read
            return cand
    return None


def read_metadata(path: Path, root: Path, arrival_month: str, known_stations: set[str],
                  languages: Languages | None = None) -> Meta:
    """What the file's name (and sidecar, if any) say. Raises SidecarError naming the key.
    A trailing "[tag]" on the name is the version's language; the title is without it."""
    languages = languages or Languages()
    stem, tag = split_tag(without_month(path.stem).strip(), languages)
    month = month_from(path, root) or arrival_month
    title = title_from(stem) or \
        f"Chương trình tháng {month[5:]}/{month[:4]}"
    language = VIETNAMESE if tag is None else languages.resolve(tag)
    if language is None:
        raise LanguageError(f"[{tag}] — {languages.tags()}")
    if tag is not None and (more := other_tags(stem, languages)):
        raise LanguageError(f"two language tags: [{tag}] and [{more[0]}]")
    meta = Meta(title, month, language, Priority.NORMAL, None, sidecar_for(path))
    if meta.sidecar is None:
        return meta
    try:
        data: dict[str, Any] = tomllib.loads(_read_small(meta.sidecar).decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SidecarError(f"{meta.sidecar.name}: {exc}") from exc
    unknown = sorted(set(data) - SIDECAR_KEYS)
    if unknown:
        raise SidecarError(f"{meta.sidecar.name}: unknown key {unknown[0]!r}")
    try:
        _apply(meta, data, known_stations)
        if "language" in data:
            _language(meta, data["language"], tag, languages)
    except ConfigError as exc:
        raise SidecarError(str(exc)) from exc
    return meta


def _read_small(path: Path) -> bytes:
    """A sidecar's bytes; one over SIDECAR_MAX is refused unread (it is a note of a few lines,
    and it is read on the daemon's loop)."""
    with open(path, "rb") as fh:
        data = fh.read(SIDECAR_MAX + 1)
    if len(data) > SIDECAR_MAX:
        raise SidecarTooBig(f"{path.name}: over {SIDECAR_MAX // 1024} KiB")
    return data


def _apply(meta: Meta, data: dict[str, Any], known_stations: set[str]) -> None:
    if "title" in data:
        if not isinstance(data["title"], str) or not data["title"].strip():
            raise SidecarError("title: must be a non-empty string")
        meta.title = nfc(data["title"].strip())
    if "month" in data:
        m = str(data["month"])
        if not is_month(m):
            raise SidecarError(f"month: must look like 2026-11, got {m!r}")
        meta.month = m
    if "priority" in data:
        meta.priority = priority_of("priority", data["priority"])
    if "stations" in data:
        ids = data["stations"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise SidecarError("stations: must be a list of station ids")
        if not ids:
            raise NoStationsError("stations = []: leave the key out to send to every station")
        bad = [i for i in ids if i not in known_stations]
        if bad:
            raise SidecarError(f"stations: unknown station {bad[0]!r}")
        meta.stations = ids


def _language(meta: Meta, value: Any, tag: str | None, languages: Languages) -> None:
    code = languages.resolve(value) if isinstance(value, str) else None
    if code is None:
        raise LanguageError(f"language = {value!r} — {languages.tags()}")
    if tag is not None and code != meta.language:
        raise SidecarError(f"language: {value!r} in the .toml, but [{tag}] in the file name")
    meta.language = code
