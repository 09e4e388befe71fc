"""`[[publish]]`: where the approved programmes go besides the loudspeakers — a folder the
portal's own web server serves, or an SFTP destination — and how the series is presented
(docs/configuration.md, "Publishing")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radiocast.core.errors import ConfigError

TARGET_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KEYS = {"id", "dir", "host", "port", "user", "key_file", "known_hosts", "remote_dir",
        "base_url", "title", "author", "owner_email", "artwork", "language", "languages",
        "description"}
DOC_KEYS = tuple(f"publish.{k}" for k in sorted(KEYS))  # configuration.md


@dataclass(frozen=True)
class PublishTarget:
    id: str
    base_url: str  # where the site is seen, e.g. https://quanson.example.invalid/radio
    title: str
    author: str
    owner_email: str
    dir: Path | None = None  # a local folder, swapped in whole
    host: str = ""  # or an SFTP destination
    port: int = 22
    user: str = "radiocast"
    key_file: Path | None = None
    known_hosts: Path | None = None
    remote_dir: str = ""
    artwork: Path | None = None
    language: str = "vi"
    languages: tuple[str, ...] = ("vi",)
    description: str = ""

    @property
    def sftp(self) -> bool:
        return bool(self.host)


def parse_publish(tables: list[Mapping[str, Any]], base_dir: Path,
                  languages: tuple[str, ...]) -> tuple[PublishTarget, ...]:
    out = [_target(n, t, base_dir, languages) for n, t in enumerate(tables)]
    if len({t.id for t in out}) != len(out):
        raise ConfigError("publish", "two [[publish]] targets have the same id")
    return tuple(out)


def _check(where: str, tid: str, base_url: str, email: str) -> None:
    if not TARGET_ID.match(tid):
        raise ConfigError(f"{where}.id", "must be a short id: lower-case letters, digits, - _")
    if not re.match(r"^https?://[^\s/]+", base_url):
        raise ConfigError(f"{where}.base_url", "must be an http(s) address")
    if not re.match(r"^[^@\s]+@[^@\s]+$", email):
        raise ConfigError(f"{where}.owner_email", "must be an e-mail address")


def _target(n: int, t: Mapping[str, Any], base_dir: Path,
            languages: tuple[str, ...]) -> PublishTarget:
    where = f"publish[{n}]"
    extra = sorted(set(t) - KEYS)
    if extra:
        raise ConfigError(f"{where}.{extra[0]}", "unknown key")

    def text(key: str, default: str | None = None) -> str:
        v = t.get(key, default)
        if not isinstance(v, str) or (default is None and not v.strip()):
            raise ConfigError(f"{where}.{key}", "required text" if default is None else
                              "must be text")
        return v.strip()

    def path(key: str) -> Path | None:
        v = t.get(key)
        if v is None:
            return None
        if not isinstance(v, str) or not v:
            raise ConfigError(f"{where}.{key}", "must be a path")
        p = Path(v)
        return p if p.is_absolute() else base_dir / p

    tid, base_url, email = text("id"), text("base_url").rstrip("/"), text("owner_email")
    _check(where, tid, base_url, email)
    folder, host = path("dir"), text("host", "")
    if (folder is None) == (not host):
        raise ConfigError(where, "set either dir (a folder) or host (SFTP), not both")
    port = t.get("port", 22)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(f"{where}.port", "must be a port number")
    langs = t.get("languages", ["vi"])
    if not isinstance(langs, list) or not langs or not all(x in languages for x in langs):
        raise ConfigError(f"{where}.languages", f"must be a list of {list(languages)}")
    target = PublishTarget(
        tid, base_url, text("title"), text("author"), email, folder, host, port,
        text("user", "radiocast"), path("key_file"), path("known_hosts"),
        text("remote_dir", ""), path("artwork"), text("language", "vi"), tuple(langs),
        text("description", ""))
    if target.sftp and not (target.remote_dir.startswith("/") and target.key_file and
                            target.known_hosts):
        raise ConfigError(where, "an SFTP target needs remote_dir (absolute), key_file and "
                                 "known_hosts")
    return target
