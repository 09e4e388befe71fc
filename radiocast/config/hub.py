"""The hub's own services: `[hub]` (leadership among hubs that share one PostgreSQL database),
`[pull]` (the hub side of stations behind NAT) and `[web]` (the web page), docs/operations.md."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HubSettings:
    name: str = ""  # how this hub is known in the lease and in `status`; "" = the host name
    lease_seconds: int = 15  # a standby takes over at most about this long after a leader dies


@dataclass(frozen=True)
class PullSettings:
    """The hub side of `transfer = "pull"` stations (see docs/operations.md, "Pull")."""

    root: Path = Path("/srv/radiocast/pull")  # every part owned by root (ChrootDirectory)
    user_prefix: str = "rcs-"
    sshd_config_dir: Path = Path("/etc/ssh/sshd_config.d")
    keys_dir: Path = Path("/etc/radiocast/pull-keys")
    sshd: str = "/usr/sbin/sshd"  # a command line; `-t` and `-T -C …` are added to it
    reload_command: str = "systemctl reload ssh"


@dataclass(frozen=True)
class WebSettings:
    """`radiocast web`: where it listens, and whether its cookies need TLS (behind nginx)."""

    listen: str = "127.0.0.1:8080"
    secure_cookies: bool = False
