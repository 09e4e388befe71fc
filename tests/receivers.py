"""Real local receivers for alerts: an HTTP server (apprise's json:// posts to it, the
dead-man pings it) and an SMTP server (aiosmtpd). Both on 127.0.0.1, ports from the OS."""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HttpReceiver:
    """Records every request: (method, path, JSON body or None)."""

    def __init__(self, port: int | None = None) -> None:
        self.got: list[tuple[str, str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _take(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                owner.got.append((self.command, self.path, json.loads(raw) if raw else None))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = do_POST = _take

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [body for method, _, body in self.got if method == "POST" and body]

    def url(self, path: str = "/alerts", auth: str = "") -> str:
        return f"json://{auth}127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1: keeps (subject, body) of every mail."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.mails: list[tuple[str, str]] = []
        owner = self

        class Handler:
            async def handle_DATA(self, _server: Any, _session: Any,
                                  envelope: Any) -> str:
                msg = message_from_bytes(envelope.original_content)
                subject = str(make_header(decode_header(msg["Subject"] or "")))
                part = next((p for p in msg.walk() if p.get_content_type() == "text/plain"),
                            msg)
                body = part.get_payload(decode=True) or b""
                owner.mails.append((subject, body.decode(part.get_content_charset() or "utf-8")))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def url(self) -> str:
        return (f"mailto://127.0.0.1:{self.port}?from=hub@radiocast.invalid"
                "&to=tech@radiocast.invalid&mode=insecure")

    def close(self) -> None:
        self.controller.stop()
