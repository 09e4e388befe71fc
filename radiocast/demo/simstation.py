"""Simulated commune stations for the demo: real SSH/SFTP servers (asyncssh) on 127.0.0.1.

Each station has its own folder, host key and port; commands sent to it (the play command,
`sha256sum`) run in a local shell, so playing a programme appends a line to its as-run log.
Only ever listens on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

LOOPBACK = "127.0.0.1"


@dataclass
class SimStation:
    id: str
    folder: Path
    host_key: Any
    port: int = 0
    server: Any = None
    remote_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.remote_dir = self.folder / "radio"


async def _run_command(process: Any) -> None:
    proc = await asyncio.create_subprocess_shell(
        process.command or "true", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    process.stdout.write(out.decode("utf-8", "replace"))
    process.stderr.write(err.decode("utf-8", "replace"))
    process.exit(proc.returncode or 0)


class SimStations:
    """Runs N stations on an event loop in a background thread."""

    def __init__(self, root: Path, ids: list[str], client_public_key: str) -> None:
        self.root = root
        self.client_key = _asyncssh().import_authorized_keys(client_public_key)
        self.stations = {sid: SimStation(sid, root / sid,
                                         _asyncssh().generate_private_key("ssh-ed25519"))
                         for sid in ids}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="simstations",
                                       daemon=True)

    def start(self) -> None:
        self.thread.start()
        for st in self.stations.values():
            st.remote_dir.mkdir(parents=True, exist_ok=True)
            self.call(self._listen(st))

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    async def _listen(self, st: SimStation) -> None:
        st.server = await _asyncssh().listen(
            LOOPBACK, st.port, server_host_keys=[st.host_key],
            authorized_client_keys=self.client_key, sftp_factory=True,
            process_factory=_run_command, allow_scp=False, reuse_address=True)
        st.port = st.server.sockets[0].getsockname()[1]

    async def _close(self, st: SimStation) -> None:
        if st.server is not None:
            st.server.close()
            await st.server.wait_closed()
            st.server = None

    def offline(self, sid: str) -> None:
        self.call(self._close(self.stations[sid]))

    def online(self, sid: str) -> None:
        self.call(self._listen(self.stations[sid]))

    def known_hosts_lines(self) -> str:
        return "".join(
            f"[{LOOPBACK}]:{st.port} "
            f"{st.host_key.export_public_key('openssh').decode().strip()}\n"
            for st in self.stations.values())

    def stop(self) -> None:
        for st in self.stations.values():
            with contextlib.suppress(Exception):
                self.call(self._close(st))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def _asyncssh() -> ModuleType:
    """asyncssh, loaded when the demo runs (not by every CLI command that imports it)."""
    import asyncssh

    return asyncssh


def make_client_key(path: Path) -> str:
    """Write an ed25519 private key (OpenSSH format) and return its public line."""
    key = _asyncssh().generate_private_key("ssh-ed25519", comment="radiocast-demo")
    path.parent.mkdir(parents=True, exist_ok=True)
    key.write_private_key(str(path))
    path.chmod(0o600)
    return str(key.export_public_key("openssh").decode())
