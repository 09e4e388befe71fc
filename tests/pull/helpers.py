"""A hub whose own sshd serves chrooted SFTP accounts (made by `radiocast stations provision
--apply`), and agents that dial it. Needs root (CI runs as root): accounts, chroot."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from radiocast.agent.config import HubConfig, StationConfig
from radiocast.app import App, open_app
from radiocast.cli.main import cli
from radiocast.stations import provision
from radiocast.stations.outbox import account_name
from radiocast.stations.ssh import make_key

from ..conftest import Clock
from ..sshd import SSHD, Sshd, keygen

PREFIX = "rct-"  # test accounts: removed after each test

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not Path(SSHD).exists(),
    reason="pull tests need root (chrooted accounts for the hub's sshd) and openssh-server; "
           "CI runs them as root")


@dataclass
class PullWorld:
    base: Path  # root-owned, below /srv: sshd's chroot needs root-owned parents
    tmp: Path
    sshd: Sshd
    hub: App
    clock: Clock
    ids: list[str]
    keys: dict[str, Path] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.base / "pull"

    def account(self, sid: str) -> str:
        return account_name(PREFIX, sid)

    def agent_config(self, sid: str, port: int | None = None, **hub: Any) -> StationConfig:
        d = self.tmp / f"agent-{sid}"
        (d / "media").mkdir(parents=True, exist_ok=True)
        kh = d / "known_hosts"
        if not kh.exists():
            kh.write_text(self.sshd.known_hosts_line().replace(
                f"[127.0.0.1]:{self.sshd.port}", f"[127.0.0.1]:{port or self.sshd.port}"))
        return StationConfig(
            id=sid, media_dir=d / "media", state_dir=d / "state",
            player=f"echo {{file}} >> {d / 'played.log'}",
            hub=HubConfig(host="127.0.0.1", port=port or self.sshd.port,
                          user=self.account(sid), key_file=self.keys[sid], known_hosts=kh,
                          **{"poll_seconds": 5, "retry_min_seconds": 0.2,
                             "retry_max_seconds": 2.0, "stall_timeout_seconds": 10.0, **hub}))


def hub_toml(base: Path, sshd: Sshd, ids: list[str], extra: str = "") -> str:
    stations = "".join(f'[[stations]]\nid = "{sid}"\nname = "Xã {sid}"\ntransfer = "pull"\n'
                       'playout = "agent"\n' for sid in ids)
    return f"""
[radiocast]
data_dir = "data"
[ingest]
drop_dir = "drop"
[pull]
root = "{base / 'pull'}"
user_prefix = "{PREFIX}"
sshd_config_dir = "{base / 'sshd.d'}"
keys_dir = "{base / 'keys'}"
sshd = "{SSHD} -f {sshd.config}"
reload_command = "kill -HUP {{pid}}"
{extra}
{stations}"""


@contextlib.contextmanager
def pull_world(tmp_path: Path, ids: list[str], start: datetime, extra: str = "",
               max_startups: str = "100:30:200", log_level: str = "ERROR",
               bulk: bool = False) -> Iterator[PullWorld]:
    Path("/srv").mkdir(exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="radiocast-pull-", dir="/srv"))
    base.chmod(0o755)
    (base / "sshd.d").mkdir()
    client = tmp_path / "unused_key"
    keygen(client)
    sshd = Sshd(tmp_path / "hub-sshd", Path(f"{client}.pub"),
                extra=f"Include {base / 'sshd.d'}/*.conf\n", max_startups=max_startups,
                log_level=log_level)
    sshd.start()
    assert sshd.proc is not None
    cfg = tmp_path / "radiocast.toml"
    cfg.write_text(hub_toml(base, sshd, ids, extra).replace("{pid}", str(sshd.proc.pid)),
                   encoding="utf-8")
    clock = Clock(start)
    hub = open_app(cfg, clock=clock)
    world = PullWorld(base, tmp_path, sshd, hub, clock, ids)
    try:
        for sid in ids:
            world.keys[sid] = tmp_path / "station-keys" / sid
            make_key(world.keys[sid])
        if bulk:  # hundreds of stations: one sshd check and reload for all of them
            plans = [provision.plan(hub.settings, hub.settings.station(sid),
                                    Path(f"{world.keys[sid]}.pub").read_text())
                     for sid in ids]
            provision.apply(hub.settings, plans)
        else:
            for sid in ids:
                res = CliRunner().invoke(cli, ["--config", str(cfg), "stations", "provision",
                                               sid, "--key", f"{world.keys[sid]}.pub",
                                               "--apply"])
                assert res.exit_code == 0, res.output
        _wait_accepting(sshd.port)  # the reload re-executes sshd: its socket is briefly shut
        yield world
    finally:
        hub.close()
        sshd.stop()
        for sid in ids:
            subprocess.run(["userdel", world.account(sid)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


class ConnectAudit:
    """Every socket connect this process makes while `watching` (sys.addaudithook)."""

    installed: ConnectAudit | None = None

    def __init__(self) -> None:
        self.watching = threading.Event()
        self.seen: list[Any] = []

    @classmethod
    def get(cls) -> ConnectAudit:
        if cls.installed is None:
            cls.installed = cls()
            sys.addaudithook(cls.installed._hook)
        cls.installed.seen = []
        return cls.installed

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "socket.connect" and self.watching.is_set():
            self.seen.append(args[1])


def _wait_accepting(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
