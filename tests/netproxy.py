"""A TCP proxy on loopback that can throttle, cut, or silently stop forwarding (no FIN/RST)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class Proxy:
    def __init__(self, target_port: int, rate_bps: float | None = None) -> None:
        self.target_port = target_port
        self.rate_bps = rate_bps  # per connection, client → server
        self.blackhole = threading.Event()
        self.cut_after: int | None = None  # close both ends after this many upstream bytes
        self.cut_down_after: int | None = None  # … or after this many downstream bytes
        self.upstream_bytes = 0
        self.downstream_bytes = 0
        self.lock = threading.Lock()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            self.conns += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False),
                             daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        chunk = 16 * 1024
        start = time.monotonic()
        sent = 0
        try:
            while True:
                data = src.recv(chunk)
                if not data:
                    break
                while self.blackhole.is_set():  # hold everything, close nothing
                    time.sleep(0.05)
                    if self.closed:
                        return
                if not upstream:
                    with self.lock:
                        self.downstream_bytes += len(data)
                        cut = self.cut_down_after is not None and \
                            self.downstream_bytes >= self.cut_down_after
                    if cut:
                        self.cut_down_after = None
                        self.drop_all()
                        return
                if upstream:
                    with self.lock:
                        self.upstream_bytes += len(data)
                        cut = self.cut_after is not None and self.upstream_bytes >= self.cut_after
                    if cut:
                        self.cut_after = None
                        self.drop_all()
                        return
                    if self.rate_bps:
                        sent += len(data)
                        ahead = sent * 8 / self.rate_bps - (time.monotonic() - start)
                        if ahead > 0:
                            time.sleep(ahead)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            if not self.blackhole.is_set():
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)

    def drop_all(self) -> None:
        for c in self.conns:
            with contextlib.suppress(OSError):
                c.close()
        self.conns = []

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        self.drop_all()
