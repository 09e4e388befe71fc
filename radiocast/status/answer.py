"""The running hub answers the listing commands (`status`, `programmes`, `schedule`) on a unix
socket in its data folder, so that a command typed at the hub gets its document without
loading SQLAlchemy and the schema itself (about half a second on a 2-core hub).

The answer is computed at the request, by the same functions the command would call, from the
same database: it is never a cached copy. Only these read-only views are served; a request is
one JSON line (at most 4 KiB), checked value by value, and one that is not understood gets an
error, never a traceback. The socket is the hub user's and its group's (0660), like the
database file. No hub running (or a socket left by one that died): the command opens the
database itself, as before."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

from radiocast.app import App
from radiocast.config.peek import socket_path
from radiocast.core.errors import RadiocastError
from radiocast.db import views
from radiocast.status.problems import build_status

log = logging.getLogger(__name__)
REQUEST_MAX = 4096
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
STATION = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LANGS = ("vi", "en")


def answer(app: App, request: Any) -> Any:
    """The document the command would print with --json; ValueError for a request that is not
    one of the served views with valid values."""
    if not isinstance(request, dict):
        raise ValueError("the request is not a JSON object")
    view, lang = request.get("view"), request.get("lang") or app.lang
    month, station = request.get("month"), request.get("station")
    if lang not in LANGS:
        raise ValueError("unknown language")
    if month is not None and not (isinstance(month, str) and MONTH.match(month)):
        raise ValueError("month must be YYYY-MM")
    if station is not None and not (isinstance(station, str) and STATION.match(station)):
        raise ValueError("station must be a station id")
    tz = app.settings.general.tz
    if view == "status":
        return build_status(app, lang)
    with app.db.read() as s:
        if view == "programmes":
            return views.list_programmes(s, tz, month, lang, app.settings.languages)
        if view == "schedule":
            return views.list_airings(s, tz, station, month)
    raise ValueError("unknown view")


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.connection.settimeout(10)
        try:
            line = self.rfile.readline(REQUEST_MAX + 1)
            if len(line) > REQUEST_MAX:
                raise ValueError("the request is too long")
            reply: dict[str, Any] = {"ok": True,
                                     "data": answer(self.server.app, json.loads(line))}
        except (ValueError, RadiocastError) as exc:
            reply = {"ok": False, "error": str(exc)[:300]}
        except Exception as exc:  # a bug costs this one request, never the hub
            log.exception("answer: request failed")
            reply = {"ok": False, "error": type(exc).__name__}
        with contextlib.suppress(OSError):
            self.wfile.write(json.dumps(reply, ensure_ascii=False, default=str).encode()
                             + b"\n")


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    app: App


class Answerer:
    """The socket, served on a thread of its own (never the daemon's loop thread)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.server: _Server | None = None
        self.thread: threading.Thread | None = None
        self.path = socket_path(app.settings.general.data_dir)

    def start(self) -> bool:
        if self.path is None:
            log.info("answer: the data folder's path is too long for a socket; commands "
                     "read the database themselves")
            return False
        try:  # on PostgreSQL nothing else may have made the data folder yet
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                if self.path.is_socket():
                    self.path.unlink()  # left by a hub that died (the hub's lock is held)
            old = os.umask(0o117)
            try:
                server = _Server(str(self.path), _Handler)
            finally:
                os.umask(old)
        except OSError as exc:
            log.warning("answer: no socket at %s (%s); commands read the database", self.path,
                        exc)
            return False
        server.app = self.app
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, name="radiocast-answer",
                                       daemon=True)
        self.thread.start()
        return True

    @contextlib.contextmanager
    def serving(self, on: bool = True) -> Iterator[Answerer]:
        """Answer while the block runs (`on`: a one-off run answers nobody)."""
        if on:
            self.start()
        try:
            yield self
        finally:
            self.stop()

    def stop(self) -> None:
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
        self.server = None

