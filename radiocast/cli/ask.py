"""Asking the running hub for a listing (`status`, `programmes`, `schedule`) on its socket
(`radiocast.status.answer`): the document in a few milliseconds, without loading the database
layer. None whenever the hub cannot answer (not running, a socket left behind, a refusal, a
timeout): the command then opens the database itself. Imports nothing heavy, on purpose."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any

from radiocast.config.peek import socket_path

REPLY_MAX = 256 << 20
TIMEOUT = 10.0


def from_hub(data_dir: Path, request: dict[str, Any], timeout: float = TIMEOUT) -> Any | None:
    """The hub's document for `request`, or None (and the caller reads the database)."""
    if os.environ.get("RADIOCAST_NO_HUB_ANSWER"):
        return None
    path = socket_path(data_dir)
    if path is None:
        return None
    with contextlib.suppress(OSError, ValueError), \
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps(request).encode() + b"\n")
        chunks, size = [], 0
        while chunk := sock.recv(1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > REPLY_MAX:
                return None
        reply = json.loads(b"".join(chunks))
        if isinstance(reply, dict) and reply.get("ok") is True:
            return reply.get("data")
    return None
