"""`[hub]`: leadership among hubs that share one PostgreSQL database (docs/operations.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HubSettings:
    name: str = ""  # how this hub is known in the lease and in `status`; "" = the host name
    lease_seconds: int = 15  # a standby takes over at most about this long after a leader dies
