"""SSH below the station link: TCP with stall detection, radiocast's key, the host-key check
against known_hosts (never accepting an unknown key), and enrolment of a station's host key.
One of the two modules that touch paramiko (with `transport`).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

import paramiko
from paramiko.compress import ZlibDecompressor

from radiocast.core.errors import PermanentDeliveryError, TransientDeliveryError


@dataclass(frozen=True)
class RemoteFile:
    """A file at the other end: its name and size."""

    name: str
    size: int


class Target(Protocol):
    """The station as SSH sees it (config.StationSettings is one)."""

    @property
    def id(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def user(self) -> str: ...
    @property
    def known_hosts(self) -> Path: ...


class Timeouts(Protocol):
    """How long to wait (config.DeliverySettings is one)."""

    @property
    def connect_timeout_seconds(self) -> float: ...
    @property
    def stall_timeout_seconds(self) -> float: ...


class StallWatchdog:
    """Closes the transport when no bytes have moved for `limit` seconds.

    With `while_busy`, only while an operation is under way (`busy()`): a hub's link kept
    open between the steps of a round (the deliveries, then the plan, then the playbook)
    waits on the hub, not on the station, and is not a stalled link."""

    def __init__(self, transport: paramiko.Transport, limit: float,
                 while_busy: bool = False) -> None:
        self.transport = transport
        self.limit = limit
        self.last = time.monotonic()
        self.fired = False
        self.active = 0 if while_busy else 1
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="radiocast-stall", daemon=True)
        self._thread.start()

    def tick(self) -> None:
        self.last = time.monotonic()

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        with self._lock:
            self.active += 1
            self.last = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self.active -= 1

    def _run(self) -> None:
        while not self._stop.wait(min(1.0, self.limit / 4)):
            with self._lock:
                stalled = self.active > 0 and time.monotonic() - self.last > self.limit
            if stalled:
                self.fired = True
                self.transport.close()
                return

    def stop(self) -> None:
        self._stop.set()


def tcp_socket(host: str, port: int, timeout: float, stall: float) -> socket.socket:
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError as exc:
        raise TransientDeliveryError(host, f"connection to {host}:{port} timed out") from exc
    except OSError as exc:
        raise TransientDeliveryError(host, f"cannot connect to {host}:{port}: "
                                     f"{exc.strerror or exc}") from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for opt, val in (("TCP_KEEPIDLE", 15), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3),
                     ("TCP_USER_TIMEOUT", int(stall * 1000))):
        if hasattr(socket, opt):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), val)
    return sock


def load_key(path: Path) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(path)
    except FileNotFoundError as exc:
        raise PermanentDeliveryError("-", f"private key {path} not found") from exc
    except (paramiko.SSHException, ValueError, OSError) as exc:
        raise PermanentDeliveryError("-", f"cannot read private key {path}: {exc}") from exc


def _known_hosts_name(st: Target) -> str:
    return st.host if st.port == 22 else f"[{st.host}]:{st.port}"


class _StreamCompressor:
    """zlib that keeps its dictionary from one packet to the next (Z_SYNC_FLUSH, as OpenSSH
    does; paramiko's own resets it at every packet), so a small request that repeats (a
    poll) costs a few bytes, not the whole request again."""

    def __init__(self) -> None:
        self.z = zlib.compressobj(9)

    def __call__(self, data: bytes) -> bytes:
        return self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH)


class GcmTransport(paramiko.Transport):
    """AES-GCM first: one pass of AES with a 16-byte tag, no separate MAC to compute, in one
    call into OpenSSL per packet; measured on a file upload, about a fifth of paramiko's CPU
    against its default AES-CTR with HMAC-SHA2 (benchmarks/round.py). A server without GCM
    gets paramiko's usual order."""

    _preferred_ciphers = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
                          *(c for c in paramiko.Transport._preferred_ciphers  # type: ignore[attr-defined]
                            if "gcm" not in c))


class LeanTransport(GcmTransport):
    """For slow, metered links: compression that remembers. Used for connections that carry
    small, repeated messages (as-run collection, a pull station's polls)."""

    _compression_info: ClassVar[dict[str, tuple[object, object]]] = {
        **paramiko.Transport._compression_info,  # type: ignore[attr-defined]
        "zlib@openssh.com": (_StreamCompressor, ZlibDecompressor),
        "zlib": (_StreamCompressor, ZlibDecompressor),
    }


def ssh_login(st: Target, cfg: Timeouts, pkey: paramiko.PKey,
              compress: bool = False) -> paramiko.SSHClient:
    """Connect, check the host key against known_hosts (never accept a new one), log in with
    radiocast's key; paramiko's failures become delivery errors that say what to do."""
    sock = tcp_socket(st.host, st.port, cfg.connect_timeout_seconds, cfg.stall_timeout_seconds)
    client = paramiko.SSHClient()
    client.load_host_keys(str(st.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            st.host, port=st.port, username=st.user, pkey=pkey, sock=sock,
            timeout=cfg.connect_timeout_seconds, banner_timeout=cfg.connect_timeout_seconds,
            auth_timeout=cfg.connect_timeout_seconds,
            channel_timeout=cfg.connect_timeout_seconds,
            look_for_keys=False, allow_agent=False, compress=compress,
            transport_factory=LeanTransport if compress else GcmTransport,  # type: ignore[arg-type]
        )
    except paramiko.BadHostKeyException as exc:
        sock.close()
        raise PermanentDeliveryError(st.id, "host key does not match known_hosts "
                                     "(possible impostor, or the station was reinstalled; "
                                     "verify, then enroll again)") from exc
    except paramiko.AuthenticationException as exc:
        sock.close()
        raise PermanentDeliveryError(st.id, f"login as {st.user} refused "
                                     "(key not authorized at the station)") from exc
    except paramiko.SSHException as exc:
        sock.close()
        if "not found in known_hosts" in str(exc):
            raise PermanentDeliveryError(
                st.id, f"unknown host key; run `radiocast stations enroll {st.id}` "
                "and compare the fingerprint with the station") from exc
        raise TransientDeliveryError(st.id, f"SSH failed: {exc}") from exc
    except (OSError, EOFError) as exc:
        sock.close()
        raise TransientDeliveryError(st.id, f"connection lost: {exc}") from exc
    return client


def fetch_host_key(st: Target, timeout: float) -> paramiko.PKey:
    """The key the station presents now (for the operator to confirm; not trusted yet)."""
    sock = tcp_socket(st.host, st.port, timeout, timeout)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise TransientDeliveryError(st.id, f"SSH handshake failed: {exc}") from exc
    finally:
        transport.close()


def record_host_key(st: Target, key: paramiko.PKey) -> None:
    keys = paramiko.HostKeys()
    if st.known_hosts.exists():
        keys.load(str(st.known_hosts))
    keys.add(_known_hosts_name(st), key.get_name(), key)
    st.known_hosts.parent.mkdir(parents=True, exist_ok=True)
    keys.save(str(st.known_hosts))


def make_key(path: Path) -> str:
    """A new ed25519 key at `path` (never over an existing one); returns the public line."""
    if path.exists():
        raise PermanentDeliveryError("-", f"{path} exists; not overwritten")
    path.parent.mkdir(parents=True, exist_ok=True)
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        raise PermanentDeliveryError("-", "ssh-keygen not found (apt install openssh-client)")
    proc = subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "radiocast-station",
                           "-f", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise PermanentDeliveryError("-", f"ssh-keygen failed: {proc.stderr.strip()}")
    return Path(f"{path}.pub").read_text(encoding="ascii").strip()
